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
// segment descriptor caches). Register-width in each mode, except EFER, an MSR
// and so always 64 bits. CR8 (the TPR) is architecturally visible only in
// 64-bit mode but KVM holds it in every mode, so every layout carries it and
// the layouts differ only in width.
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
}

RegisterLayout build(Arch arch) {
    const bool wide = arch == Arch::X86_64;
    Regs regs;
    add_core(regs, wide);
    add_sse(regs, wide);
    add_segments(regs, wide);
    add_system(regs, wide);
    return RegisterLayout(arch, std::move(regs));
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

RegisterLayout::RegisterLayout(Arch arch, std::vector<RegisterInfo> registers)
    : arch_(arch), registers_(std::move(registers)) {
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

const RegisterLayout& register_layout(Arch arch) {
    // Function-local statics: built on first use, thread-safe since C++11.
    static const RegisterLayout i8086 = build(Arch::I8086);
    static const RegisterLayout i386 = build(Arch::I386);
    static const RegisterLayout x86_64 = build(Arch::X86_64);
    switch (arch) {
        case Arch::I8086: return i8086;
        case Arch::I386: return i386;
        case Arch::X86_64: return x86_64;
    }
    return x86_64;
}

}  // namespace kvmgdb::stub
