// gdb's x86 register tables (gdb/features/i386/*.xml) plus kvmgdb's system
// registers. Order matters twice: gdb's i386_validate_tdesc_p checks the core
// and sse registers by name in exactly gdb's order, and the `g` packet carries
// registers in remote-number order.
#include "stub/registers.hpp"

#include <stdexcept>
#include <string>

namespace kvmgdb::stub {

namespace {

using Regs = std::vector<RegisterInfo>;

void add(Regs& regs, std::string_view feature, std::string_view name, unsigned bitsize, std::string_view type,
         std::string_view group = {}) {
    regs.push_back(RegisterInfo{name, bitsize, type, group, feature, 0, 0});
}

// org.gnu.gdb.i386.core: general registers, eip/rip, eflags, the six selectors
// (32 bits each even in long mode), then the x87 state as FXSAVE holds it.
void add_core(Regs& regs, bool wide) {
    const auto f = kFeatureCore;
    if (wide) {
        // 64bit-core.xml: the amd64 (SysV DWARF) order rax rbx rcx rdx rsi rdi rbp rsp.
        for (std::string_view n : {"rax", "rbx", "rcx", "rdx", "rsi", "rdi"}) add(regs, f, n, 64, "int64");
        add(regs, f, "rbp", 64, "data_ptr");
        add(regs, f, "rsp", 64, "data_ptr");
        for (std::string_view n : {"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}) add(regs, f, n, 64, "int64");
        add(regs, f, "rip", 64, "code_ptr");
    } else {
        // 32bit-core.xml: the instruction-encoding order eax ecx edx ebx esp ebp esi edi.
        for (std::string_view n : {"eax", "ecx", "edx", "ebx"}) add(regs, f, n, 32, "int32");
        add(regs, f, "esp", 32, "data_ptr");
        add(regs, f, "ebp", 32, "data_ptr");
        for (std::string_view n : {"esi", "edi"}) add(regs, f, n, 32, "int32");
        add(regs, f, "eip", 32, "code_ptr");
    }
    add(regs, f, "eflags", 32, "i386_eflags");
    for (std::string_view n : {"cs", "ss", "ds", "es", "fs", "gs"}) add(regs, f, n, 32, "int32");
    for (std::string_view n : {"st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7"}) {
        add(regs, f, n, 80, "i387_ext");
    }
    for (std::string_view n : {"fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"}) {
        add(regs, f, n, 32, "int", "float");
    }
}

// org.gnu.gdb.i386.sse: xmm0-15 (xmm0-7 outside long mode), then mxcsr.
void add_sse(Regs& regs, bool wide) {
    static constexpr std::string_view kXmm[] = {"xmm0", "xmm1", "xmm2",  "xmm3",  "xmm4",  "xmm5",  "xmm6",  "xmm7",
                                                "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"};
    for (unsigned i = 0; i < (wide ? 16u : 8u); ++i) add(regs, kFeatureSse, kXmm[i], 128, "vec128");
    add(regs, kFeatureSse, "mxcsr", 32, "i386_mxcsr", "vector");
}

// org.gnu.gdb.i386.segments ({32,64}bit-segments.xml): the FS and GS bases,
// which gdb uses for TLS. The other four bases go in the system feature.
void add_segments(Regs& regs, bool wide) {
    add(regs, kFeatureSegments, "fs_base", wide ? 64 : 32, "int");
    add(regs, kFeatureSegments, "gs_base", wide ? 64 : 32, "int");
}

// kvmgdb's own feature: what a bare-metal debugger wants to see beyond gdb's
// user-mode view (Intel SDM Vol. 3A 2.5 control registers, 2.2.1 EFER, 3.4.3
// segment descriptor caches, 18.2 debug registers; Vol. 1 13.3 XCR0).
// Register-width in each mode, except EFER (an MSR) and XCR0 (XSETBV takes
// EDX:EAX), always 64 bits. CR8 (the TPR) is architecturally visible only in
// 64-bit mode but KVM holds it in every mode, so every layout carries it and
// the layouts differ only in width. DR4/DR5 are aliases of DR6/DR7 (with
// CR4.DE clear) and are left out.
void add_system(Regs& regs, bool wide) {
    const auto f = kFeatureSystem;
    const unsigned w = wide ? 64 : 32;
    add(regs, f, "cr0", w, "kvmgdb_cr0", "system");
    add(regs, f, "cr2", w, "data_ptr", "system");  // the last page-fault address
    add(regs, f, "cr3", w, "int", "system");
    add(regs, f, "cr4", w, "kvmgdb_cr4", "system");
    add(regs, f, "cr8", w, "int", "system");
    add(regs, f, "efer", 64, "kvmgdb_efer", "system");
    for (std::string_view n : {"cs_base", "ss_base", "ds_base", "es_base"}) add(regs, f, n, w, "int", "system");
    for (std::string_view n : {"dr0", "dr1", "dr2", "dr3"}) add(regs, f, n, w, "data_ptr", "system");
    add(regs, f, "dr6", w, "kvmgdb_dr6", "system");
    add(regs, f, "dr7", w, "kvmgdb_dr7", "system");
    add(regs, f, "xcr0", 64, "kvmgdb_xcr0", "system");
}

// org.gnu.gdb.i386.avx ({32,64}bit-avx.xml): the upper halves of ymm0-15 (ymm0-7
// outside long mode); gdb builds $ymmN from xmmN and ymmNh.
void add_avx(Regs& regs, bool wide) {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (unsigned i = 0; i < 32; ++i) v.push_back("ymm" + std::to_string(i) + "h");
        return v;
    }();
    for (unsigned i = 0; i < (wide ? 16u : 8u); ++i) add(regs, kFeatureAvx, names[i], 128, "uint128");
}

// org.gnu.gdb.i386.avx512 ({32,64}bit-avx512.xml), in gdb's order: xmm16-31 and
// the upper halves ymm16h-31h (long mode only), the opmask registers k0-k7, then
// the upper 256 bits of zmm0-31 (zmm0-7 outside long mode). gdb builds $zmmN.
void add_avx512(Regs& regs, bool wide) {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (unsigned i = 0; i < 32; ++i) v.push_back("xmm" + std::to_string(i));
        for (unsigned i = 0; i < 32; ++i) v.push_back("ymm" + std::to_string(i) + "h");
        for (unsigned i = 0; i < 8; ++i) v.push_back("k" + std::to_string(i));
        for (unsigned i = 0; i < 32; ++i) v.push_back("zmm" + std::to_string(i) + "h");
        return v;
    }();
    const auto f = kFeatureAvx512;
    if (wide) {
        for (unsigned i = 16; i < 32; ++i) add(regs, f, names[i], 128, "vec128");
        for (unsigned i = 16; i < 32; ++i) add(regs, f, names[32 + i], 128, "uint128");
    }
    for (unsigned i = 0; i < 8; ++i) add(regs, f, names[64 + i], 64, "uint64");
    for (unsigned i = 0; i < (wide ? 32u : 8u); ++i) add(regs, f, names[72 + i], 256, "v2ui128");
}

RegisterLayout build(Arch arch, RegisterFeatures features) {
    const bool wide = arch == Arch::X86_64;
    Regs regs;
    add_core(regs, wide);
    add_sse(regs, wide);
    add_segments(regs, wide);
    add_system(regs, wide);
    // After everything else, so that the numbers above do not depend on the host.
    // gdb finds features by name, so their order in target.xml does not matter to it.
    if (features.avx) add_avx(regs, wide);
    if (features.avx512) add_avx512(regs, wide);
    return RegisterLayout(arch, std::move(regs), features);
}

}  // namespace

std::string_view architecture_name(Arch arch) {
    switch (arch) {
        case Arch::I8086: return "i8086";
        case Arch::I386: return "i386";
        case Arch::X86_64: return "i386:x86-64";
    }
    return "i386";
}

RegisterLayout::RegisterLayout(Arch arch, std::vector<RegisterInfo> registers, RegisterFeatures features)
    : arch_(arch), features_(features), registers_(std::move(registers)) {
    unsigned regnum = 0;
    for (RegisterInfo& r : registers_) {
        if (r.bitsize == 0 || r.bitsize % 8 != 0) {
            throw std::invalid_argument("register " + std::string(r.name) + " is not a whole number of bytes");
        }
        r.regnum = regnum++;
        r.offset = g_size_;
        g_size_ += reg_size(r);
    }
}

const RegisterInfo* RegisterLayout::find(std::string_view name) const {
    for (const RegisterInfo& r : registers_) {
        if (r.name == name) return &r;
    }
    return nullptr;
}

const RegisterInfo* RegisterLayout::find(unsigned regnum) const {
    return regnum < registers_.size() ? &registers_[regnum] : nullptr;
}

const RegisterInfo& RegisterLayout::at(unsigned regnum) const {
    if (const RegisterInfo* r = find(regnum)) return *r;
    throw std::out_of_range("no register number " + std::to_string(regnum) + " in the " +
                            std::string(architecture_name(arch_)) + " layout");
}

const RegisterLayout& register_layout(Arch arch, RegisterFeatures features) {
    features = features.normalized();
    // Every (arch, features) combination, built once on first use (a function-local
    // static is thread-safe since C++11): 3 archs x {none, avx, avx+avx512}.
    static const auto layouts = [] {
        std::vector<RegisterLayout> all;
        for (Arch a : {Arch::I8086, Arch::I386, Arch::X86_64}) {
            for (RegisterFeatures f : {RegisterFeatures{}, RegisterFeatures{true, false}, RegisterFeatures{true, true}}) {
                all.push_back(build(a, f));
            }
        }
        return all;
    }();
    for (const RegisterLayout& l : layouts) {
        if (l.arch() == arch && l.features() == features) return l;
    }
    throw std::logic_error("no register layout for that architecture");  // unreachable: every Arch is built
}

}  // namespace kvmgdb::stub
