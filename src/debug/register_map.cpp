// Every register of stub/registers.hpp's layouts, by name, onto KVM's structures.
// Narrow registers (the 32-bit layouts, selectors) replace only their low bytes on a
// write, so a g -> G -> g or p -> P -> p round trip is exact in every mode.
#include "debug/register_map.hpp"

#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "x86/cpu_mode.hpp"
#include "x86/real_mode.hpp"

namespace kvmgdb::debug {

namespace {

using stub::RegisterInfo;

// An integer register: how to get and set its full 64-bit backing field.
struct IntAccess {
    std::function<std::uint64_t(const CpuState&)> get;
    std::function<void(CpuState&, std::uint64_t)> set;
};

// x87 tag of one 80-bit register (SDM Vol. 1 8.1.7): 00 valid, 01 zero, 10 special.
unsigned classify_x87(const std::uint8_t* r) {
    std::uint64_t mant;
    std::memcpy(&mant, r, 8);
    unsigned exp = (unsigned(r[8]) | unsigned(r[9]) << 8) & 0x7fff;
    if (exp == 0x7fff) return 2;
    if (exp == 0) return mant == 0 ? 1 : 2;
    return (mant >> 63) ? 0 : 2;
}

// The full 16-bit tag word from FXSAVE's abridged one (bit j: physical register j is
// not empty). The ST area is in stack order: physical register j is ST((j - TOP) mod 8).
std::uint16_t full_tag(const XsaveArea& f) {
    unsigned top = (fx::get<std::uint16_t>(f, fx::FSW) >> 11) & 7;
    unsigned abridged = f.bytes[fx::FTW];
    std::uint16_t tag = 0;
    for (unsigned j = 0; j < 8; ++j) {
        unsigned t = 3;
        if (abridged & (1u << j)) t = classify_x87(fx::st(f, (j - top) & 7));
        tag = static_cast<std::uint16_t>(tag | (t << (2 * j)));
    }
    return tag;
}

std::uint8_t abridged_tag(std::uint16_t full) {
    std::uint8_t a = 0;
    for (unsigned j = 0; j < 8; ++j)
        if (((full >> (2 * j)) & 3) != 3) a = static_cast<std::uint8_t>(a | (1u << j));
    return a;
}

const kvm_segment& segment(const kvm_sregs& s, char which) {
    switch (which) {
    case 'c': return s.cs;
    case 's': return s.ss;
    case 'd': return s.ds;
    case 'e': return s.es;
    case 'f': return s.fs;
    default: return s.gs;
    }
}

kvm_segment& segment(kvm_sregs& s, char which) {
    return const_cast<kvm_segment&>(segment(static_cast<const kvm_sregs&>(s), which));
}

// In real mode gdb's pc is linear, CS.base + IP, like every address gdb uses
// (docs/modes.md); elsewhere it is rip itself.
bool real_mode(const CpuState& c) { return !(c.sregs.cr0 & bits::CR0_PE); }
bool is_pc(std::string_view name) { return name == "rip" || name == "eip"; }

// XCR0 is the kvm_xcrs entry with xcr == 0 (KVM_GET_XCRS lists the XCRs it has).
std::uint64_t xcr0(const kvm_xcrs& x) {
    for (std::uint32_t i = 0; i < x.nr_xcrs && i < KVM_MAX_XCRS; ++i)
        if (x.xcrs[i].xcr == 0) return x.xcrs[i].value;
    return 0;
}

void set_xcr0(kvm_xcrs& x, std::uint64_t v) {
    for (std::uint32_t i = 0; i < x.nr_xcrs && i < KVM_MAX_XCRS; ++i) {
        if (x.xcrs[i].xcr == 0) {
            x.xcrs[i].value = v;
            return;
        }
    }
    if (x.nr_xcrs >= KVM_MAX_XCRS) return;
    x.xcrs[x.nr_xcrs] = kvm_xcr{0, 0, v};
    ++x.nr_xcrs;
}

const std::unordered_map<std::string, IntAccess>& int_registers() {
    static const std::unordered_map<std::string, IntAccess> table = [] {
        std::unordered_map<std::string, IntAccess> t;
        auto gpr = [&](const char* n64, const char* n32, __u64 kvm_regs::*field) {
            IntAccess a{[field](const CpuState& c) { return std::uint64_t(c.regs.*field); },
                        [field](CpuState& c, std::uint64_t v) { c.regs.*field = v; }};
            t[n64] = a;
            if (n32) t[n32] = a;
        };
        gpr("rax", "eax", &kvm_regs::rax);
        gpr("rbx", "ebx", &kvm_regs::rbx);
        gpr("rcx", "ecx", &kvm_regs::rcx);
        gpr("rdx", "edx", &kvm_regs::rdx);
        gpr("rsi", "esi", &kvm_regs::rsi);
        gpr("rdi", "edi", &kvm_regs::rdi);
        gpr("rbp", "ebp", &kvm_regs::rbp);
        gpr("rsp", "esp", &kvm_regs::rsp);
        gpr("r8", nullptr, &kvm_regs::r8);
        gpr("r9", nullptr, &kvm_regs::r9);
        gpr("r10", nullptr, &kvm_regs::r10);
        gpr("r11", nullptr, &kvm_regs::r11);
        gpr("r12", nullptr, &kvm_regs::r12);
        gpr("r13", nullptr, &kvm_regs::r13);
        gpr("r14", nullptr, &kvm_regs::r14);
        gpr("r15", nullptr, &kvm_regs::r15);
        // The pc: linear in real mode (decode_one refuses one outside CS first).
        IntAccess pc{[](const CpuState& c) {
                         return real_mode(c) ? segment_linear(c.sregs.cs.base, c.regs.rip) : std::uint64_t(c.regs.rip);
                     },
                     [](CpuState& c, std::uint64_t v) {
                         c.regs.rip = real_mode(c) ? offset_in_segment(c.sregs.cs.base, v).value_or(0) : v;
                     }};
        t["rip"] = pc;
        t["eip"] = pc;
        gpr("eflags", nullptr, &kvm_regs::rflags);
        for (char which : {'c', 's', 'd', 'e', 'f', 'g'}) {
            std::string sel = std::string(1, which) + "s";
            t[sel] = {[which](const CpuState& c) { return std::uint64_t(segment(c.sregs, which).selector); },
                      [which](CpuState& c, std::uint64_t v) {
                          kvm_segment& s = segment(c.sregs, which);
                          auto sel16 = static_cast<std::uint16_t>(v);
                          // Real mode: a new selector means base = selector * 16, as a
                          // `mov` would load it. The same selector leaves the base alone
                          // (round trips stay exact, unreal mode survives).
                          if (sel16 != s.selector && !(c.sregs.cr0 & bits::CR0_PE)) s.base = std::uint64_t(sel16) << 4;
                          s.selector = sel16;
                      }};
            t[sel + "_base"] = {[which](const CpuState& c) { return std::uint64_t(segment(c.sregs, which).base); },
                                [which](CpuState& c, std::uint64_t v) { segment(c.sregs, which).base = v; }};
        }
        auto sreg = [&](const char* n, __u64 kvm_sregs::*field) {
            t[n] = {[field](const CpuState& c) { return std::uint64_t(c.sregs.*field); },
                    [field](CpuState& c, std::uint64_t v) { c.sregs.*field = v; }};
        };
        sreg("cr0", &kvm_sregs::cr0);
        sreg("cr2", &kvm_sregs::cr2);
        sreg("cr3", &kvm_sregs::cr3);
        sreg("cr4", &kvm_sregs::cr4);
        sreg("cr8", &kvm_sregs::cr8);
        sreg("efer", &kvm_sregs::efer);
        // Debug registers (KVM_GET_DEBUGREGS: the guest's own, not kvmgdb's).
        for (unsigned i = 0; i < 4; ++i) {
            t["dr" + std::to_string(i)] = {[i](const CpuState& c) { return std::uint64_t(c.debugregs.db[i]); },
                                           [i](CpuState& c, std::uint64_t v) { c.debugregs.db[i] = v; }};
        }
        t["dr6"] = {[](const CpuState& c) { return std::uint64_t(c.debugregs.dr6); },
                    [](CpuState& c, std::uint64_t v) { c.debugregs.dr6 = v; }};
        t["dr7"] = {[](const CpuState& c) { return std::uint64_t(c.debugregs.dr7); },
                    [](CpuState& c, std::uint64_t v) { c.debugregs.dr7 = v; }};
        t["xcr0"] = {[](const CpuState& c) { return xcr0(c.xcrs); }, [](CpuState& c, std::uint64_t v) { set_xcr0(c.xcrs, v); }};
        // The x87/SSE registers live in the XSAVE legacy region at fixed offsets.
        auto fx_reg = [&](const char* n, std::size_t offset, auto width) {
            using T = decltype(width);
            t[n] = {[offset](const CpuState& c) { return std::uint64_t(fx::get<T>(c.fpu, offset)); },
                    [offset](CpuState& c, std::uint64_t v) { fx::put<T>(c.fpu, offset, static_cast<T>(v)); }};
        };
        fx_reg("fctrl", fx::FCW, std::uint16_t{});
        fx_reg("fstat", fx::FSW, std::uint16_t{});
        fx_reg("fop", fx::FOP, std::uint16_t{});
        fx_reg("mxcsr", fx::MXCSR, std::uint32_t{});
        t["ftag"] = {[](const CpuState& c) { return std::uint64_t(full_tag(c.fpu)); },
                     [](CpuState& c, std::uint64_t v) { c.fpu.bytes[fx::FTW] = abridged_tag(static_cast<std::uint16_t>(v)); }};
        // FXSAVE keeps FIP/FDP as 64 bits; in the 32-bit format the upper half holds
        // FCS/FDS. gdb's fiseg/foseg are that upper half either way (amd64-tdep.c).
        auto half = [&](const char* n, std::size_t offset, unsigned shift) {
            t[n] = {[offset, shift](const CpuState& c) {
                        return (fx::get<std::uint64_t>(c.fpu, offset) >> shift) & 0xffffffffu;
                    },
                    [offset, shift](CpuState& c, std::uint64_t v) {
                        std::uint64_t mask = 0xffffffffull << shift;
                        std::uint64_t old = fx::get<std::uint64_t>(c.fpu, offset);
                        fx::put<std::uint64_t>(c.fpu, offset, (old & ~mask) | ((v << shift) & mask));
                    }};
        };
        half("fioff", fx::FIP, 0);
        half("fiseg", fx::FIP, 32);
        half("fooff", fx::FDP, 0);
        half("foseg", fx::FDP, 32);
        return t;
    }();
    return table;
}

// The bytes backing a wide (80/128-bit) register, or nullptr.
std::uint8_t* wide_storage(const RegisterInfo& r, CpuState& c) {
    std::string_view n = r.name;
    if (n.size() == 3 && n.substr(0, 2) == "st") return fx::st(c.fpu, static_cast<unsigned>(n[2] - '0'));
    if (n.substr(0, 3) == "xmm") {
        unsigned i = static_cast<unsigned>(std::stoul(std::string(n.substr(3))));
        if (i < 16) return fx::xmm(c.fpu, i);
    }
    return nullptr;
}

// Where an AVX/AVX-512 register lives in the XSAVE area: its bytes and the state
// component that holds them (SDM Vol. 1 13.5.3, 13.5.4-13.5.6).
struct XsaveSlot {
    std::size_t offset;
    std::uint64_t bit;            // the component's XSTATE_BV bit
    fx::XsaveComponent component; // all of it, to clear when it leaves its initial state
};

// The index of `name` = prefix + decimal + suffix, or nullopt.
std::optional<unsigned> numbered(std::string_view name, std::string_view prefix, std::string_view suffix = {}) {
    if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) || !name.ends_with(suffix))
        return std::nullopt;
    std::string_view digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    unsigned v = 0;
    for (char ch : digits) {
        if (ch < '0' || ch > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(ch - '0');
    }
    return v;
}

std::optional<XsaveSlot> xsave_slot(std::string_view name, const fx::XsaveLayout& l) {
    // Hi16_ZMM holds zmm16-31 whole, 64 bytes each: xmm (0-15), ymm upper (16-31),
    // zmm upper (32-63).
    auto hi16 = [&l](unsigned i, std::size_t within) {
        return XsaveSlot{l.hi16_zmm.offset + 64 * (i - 16) + within, fx::XFEATURE_HI16_ZMM, l.hi16_zmm};
    };
    if (auto i = numbered(name, "ymm", "h")) {
        if (*i < 16) return XsaveSlot{l.avx.offset + 16 * *i, fx::XFEATURE_AVX, l.avx};
        if (*i < 32) return hi16(*i, 16);
    }
    if (auto i = numbered(name, "zmm", "h")) {
        if (*i < 16) return XsaveSlot{l.zmm_hi256.offset + 32 * *i, fx::XFEATURE_ZMM_HI256, l.zmm_hi256};
        if (*i < 32) return hi16(*i, 32);
    }
    if (auto i = numbered(name, "xmm"); i && *i >= 16 && *i < 32) return hi16(*i, 0);
    if (auto i = numbered(name, "k"); i && *i < 8) return XsaveSlot{l.opmask.offset + 8 * *i, fx::XFEATURE_OPMASK, l.opmask};
    return std::nullopt;
}

bool component_present(const XsaveArea& a, std::uint64_t bit) { return (fx::get<std::uint64_t>(a, fx::XSTATE_BV) & bit) != 0; }

void encode_one(const RegisterInfo& r, const CpuState& cpu, std::uint8_t* out) {
    std::size_t size = stub::reg_size(r);
    auto& table = int_registers();
    auto it = table.find(std::string(r.name));
    if (it != table.end()) {
        std::uint64_t v = it->second.get(cpu);
        for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>(i < 8 ? v >> (8 * i) : 0);
        return;
    }
    if (auto slot = xsave_slot(r.name, cpu.xsave.layout)) {
        // XSTATE_BV clear: the component is in its initial state, all zeros, whatever
        // the area's bytes say.
        if (component_present(cpu.fpu, slot->bit)) std::memcpy(out, cpu.fpu.bytes.data() + slot->offset, size);
        else std::memset(out, 0, size);
        return;
    }
    if (const std::uint8_t* p = wide_storage(r, const_cast<CpuState&>(cpu))) {
        std::memcpy(out, p, size);
        return;
    }
    std::memset(out, 0, size);  // a register we do not know: zeros (never happens with registers.cpp's table)
}

// False (and `cpu` unchanged) for a value the CPU cannot hold: a real-mode pc
// outside the CS segment.
bool decode_one(const RegisterInfo& r, const std::uint8_t* in, CpuState& cpu) {
    std::size_t size = stub::reg_size(r);
    auto& table = int_registers();
    auto it = table.find(std::string(r.name));
    if (it != table.end()) {
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < size && i < 8; ++i) v |= std::uint64_t(in[i]) << (8 * i);
        if (size < 8) {
            std::uint64_t mask = (std::uint64_t{1} << (8 * size)) - 1;
            v = (it->second.get(cpu) & ~mask) | (v & mask);
        }
        if (is_pc(r.name) && real_mode(cpu) && !offset_in_segment(cpu.sregs.cs.base, v)) return false;
        it->second.set(cpu, v);
        return true;
    }
    if (auto slot = xsave_slot(r.name, cpu.xsave.layout)) {
        std::vector<std::uint8_t> now(size);
        encode_one(r, cpu, now.data());
        if (std::memcmp(now.data(), in, size) == 0) return true;  // unchanged: XSTATE_BV stays as it is
        if (!component_present(cpu.fpu, slot->bit)) {
            // Leaving the initial state: the rest of the component is zeros, explicitly.
            std::memset(cpu.fpu.bytes.data() + slot->component.offset, 0, slot->component.size);
            fx::put<std::uint64_t>(cpu.fpu, fx::XSTATE_BV, fx::get<std::uint64_t>(cpu.fpu, fx::XSTATE_BV) | slot->bit);
        }
        std::memcpy(cpu.fpu.bytes.data() + slot->offset, in, size);
        return true;
    }
    if (std::uint8_t* p = wide_storage(r, cpu)) std::memcpy(p, in, size);
    return true;
}

}  // namespace

XsaveSupport xsave_support(std::span<const kvm_cpuid_entry2> cpuid) {
    auto entry = [&cpuid](std::uint32_t function, std::uint32_t index) -> const kvm_cpuid_entry2* {
        for (const kvm_cpuid_entry2& e : cpuid)
            if (e.function == function && e.index == index) return &e;
        return nullptr;
    };
    XsaveSupport out;
    const kvm_cpuid_entry2* leaf1 = entry(1, 0);
    const kvm_cpuid_entry2* xsave = entry(0xd, 0);
    if (!leaf1 || !xsave) return out;
    const std::uint32_t xcr0_bits = xsave->eax;  // the low half of the supported XCR0
    bool avx = (leaf1->ecx & (1u << 26)) && (leaf1->ecx & (1u << 28)) && (xcr0_bits & fx::XFEATURE_AVX);
    constexpr std::uint32_t kAvx512Bits = fx::XFEATURE_OPMASK | fx::XFEATURE_ZMM_HI256 | fx::XFEATURE_HI16_ZMM;
    bool avx512 = avx && (xcr0_bits & kAvx512Bits) == kAvx512Bits;
    // Sub-leaf i: EAX the size, EBX the offset in the standard format (SDM Vol. 1 13.2).
    auto place = [&entry](unsigned component, fx::XsaveComponent& c) {
        if (const kvm_cpuid_entry2* e = entry(0xd, component); e && e->ebx != 0) {
            if (e->eax != c.size) return false;
            c.offset = e->ebx;
        }
        return c.offset + c.size <= sizeof(XsaveArea);
    };
    avx = avx && place(fx::COMPONENT_AVX, out.layout.avx);
    avx512 = avx && avx512 && place(fx::COMPONENT_OPMASK, out.layout.opmask) &&
             place(fx::COMPONENT_ZMM_HI256, out.layout.zmm_hi256) && place(fx::COMPONENT_HI16_ZMM, out.layout.hi16_zmm);
    out.features = {avx, avx512};
    return out;
}

stub::Arch arch_of(const kvm_sregs& s) {
    // Compatibility mode (LMA with a 32-bit CS) keeps the 64-bit register file:
    // r8-r15 and the upper halves live on and the next 64-bit code sees them, so it
    // is shown in the 64-bit layout, where nothing is lost (the i386 one would
    // show the low halves and drop writes to the rest).
    if (s.efer & bits::EFER_LMA) return stub::Arch::X86_64;
    if (s.cr0 & bits::CR0_PE) return stub::Arch::I386;
    return stub::Arch::I8086;
}

std::vector<std::uint8_t> encode_registers(stub::Arch arch, const CpuState& cpu) {
    const auto& layout = stub::register_layout(arch, cpu.xsave.features);
    std::vector<std::uint8_t> g(layout.g_size());
    for (const auto& r : layout) encode_one(r, cpu, g.data() + r.offset);
    return g;
}

bool decode_registers(stub::Arch arch, std::span<const std::uint8_t> g, CpuState& cpu) {
    const auto& layout = stub::register_layout(arch, cpu.xsave.features);
    if (g.size() < layout.g_size()) return false;
    // The pc last: a real-mode one is relative to the CS this packet sets, so that
    // the block says "CS is this and the CPU executes at that linear address".
    CpuState next = cpu;
    for (const auto& r : layout)
        if (!is_pc(r.name) && !decode_one(r, g.data() + r.offset, next)) return false;
    for (const auto& r : layout)
        if (is_pc(r.name) && !decode_one(r, g.data() + r.offset, next)) return false;
    cpu = next;
    return true;
}

std::optional<std::vector<std::uint8_t>> encode_register(stub::Arch arch, unsigned regnum, const CpuState& cpu) {
    const RegisterInfo* r = stub::register_layout(arch, cpu.xsave.features).find(regnum);
    if (!r) return std::nullopt;
    std::vector<std::uint8_t> v(stub::reg_size(*r));
    encode_one(*r, cpu, v.data());
    return v;
}

bool decode_register(stub::Arch arch, unsigned regnum, std::span<const std::uint8_t> value, CpuState& cpu) {
    const RegisterInfo* r = stub::register_layout(arch, cpu.xsave.features).find(regnum);
    if (!r || value.size() != stub::reg_size(*r)) return false;
    return decode_one(*r, value.data(), cpu);
}

}  // namespace kvmgdb::debug
