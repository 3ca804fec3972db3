// debug/register_map: every register of every layout onto kvm_regs, kvm_sregs and
// the XSAVE legacy region, byte for byte, without KVM.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>

#include "debug/register_map.hpp"
#include "x86/cpu_mode.hpp"

using namespace kvmgdb;
using namespace kvmgdb::debug;
using stub::Arch;

namespace {

// A state in which every field has bytes of its own (no two registers alike).
CpuState distinct_state() {
    CpuState c;
    std::uint64_t v = 0x0102030405060708;
    auto next = [&] { return v += 0x1111111111111111; };
    for (__u64* r : {&c.regs.rax, &c.regs.rbx, &c.regs.rcx, &c.regs.rdx, &c.regs.rsi, &c.regs.rdi, &c.regs.rsp,
                     &c.regs.rbp, &c.regs.r8, &c.regs.r9, &c.regs.r10, &c.regs.r11, &c.regs.r12, &c.regs.r13,
                     &c.regs.r14, &c.regs.r15, &c.regs.rip, &c.regs.rflags})
        *r = next();
    std::uint16_t sel = 0x10;
    for (kvm_segment* s : {&c.sregs.cs, &c.sregs.ss, &c.sregs.ds, &c.sregs.es, &c.sregs.fs, &c.sregs.gs}) {
        s->selector = sel;
        sel = static_cast<std::uint16_t>(sel + 8);
        s->base = next();
    }
    c.sregs.cr0 = bits::CR0_PE | 0x80000011;
    c.sregs.cr2 = next();
    c.sregs.cr3 = next();
    c.sregs.cr4 = next();
    c.sregs.cr8 = 0xf;
    c.sregs.efer = 0xd01;
    for (std::size_t i = 0; i < fx::XSTATE_BV; ++i) c.fpu.bytes[i] = static_cast<std::uint8_t>(i * 7 + 3);
    // The AVX and AVX-512 components (standard offsets 576-2687), all present.
    for (std::size_t i = 576; i < 2688; ++i) c.fpu.bytes[i] = static_cast<std::uint8_t>(i * 13 + 5);
    fx::put<std::uint64_t>(c.fpu, fx::XSTATE_BV, 0xe7);
    for (auto& dr : c.debugregs.db) dr = next();
    c.debugregs.dr6 = 0xffff4ff1;
    c.debugregs.dr7 = 0x00000403;
    c.xcrs.nr_xcrs = 1;
    c.xcrs.xcrs[0] = kvm_xcr{0, 0, 0xe7};
    return c;
}

// distinct_state() as a real-mode CPU could hold it: CR0.PE clear, CS.base =
// CS * 16 and IP inside the segment (the pc gdb sees is linear, CS.base + IP).
CpuState real_mode_state() {
    CpuState c = distinct_state();
    c.sregs.cr0 = 0;
    c.sregs.cs.selector = 0x0800;
    c.sregs.cs.base = 0x8000;
    c.regs.rip = 0x1234;
    return c;
}

std::vector<std::uint8_t> le(std::uint64_t v, std::size_t n) {
    std::vector<std::uint8_t> b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i < 8 ? v >> (8 * i) : 0);
    return b;
}

std::vector<std::uint8_t> get(Arch a, const char* name, const CpuState& c) {
    const auto* r = stub::register_layout(a).find(name);
    EXPECT_NE(r, nullptr) << name;
    auto v = encode_register(a, r->regnum, c);
    EXPECT_TRUE(v.has_value()) << name;
    return v.value_or(std::vector<std::uint8_t>{});
}

void set(Arch a, const char* name, std::vector<std::uint8_t> bytes, CpuState& c) {
    const auto* r = stub::register_layout(a).find(name);
    ASSERT_NE(r, nullptr) << name;
    ASSERT_TRUE(decode_register(a, r->regnum, bytes, c)) << name;
}

// An arch with the AVX/AVX-512 register sets the host would offer.
struct LayoutCase {
    Arch arch;
    stub::RegisterFeatures features;
};

// The state for a case: real mode for i8086, the case's register sets served.
CpuState state_for(const LayoutCase& l) {
    CpuState c = l.arch == Arch::I8086 ? real_mode_state() : distinct_state();
    c.xsave.features = l.features;
    return c;
}

std::string case_name(const testing::TestParamInfo<LayoutCase>& i) {
    std::string arch = i.param.arch == Arch::X86_64 ? "x86_64" : i.param.arch == Arch::I386 ? "i386" : "i8086";
    return arch + (i.param.features.avx512 ? "_avx512" : i.param.features.avx ? "_avx" : "");
}

class EveryLayout : public testing::TestWithParam<LayoutCase> {};

}  // namespace

// The 64-bit layout: the fields themselves, little-endian, at their offsets.
TEST(RegisterMap, X86_64ReadsTheKvmFieldsByteForByte) {
    CpuState c = distinct_state();
    EXPECT_EQ(get(Arch::X86_64, "rax", c), le(c.regs.rax, 8));
    EXPECT_EQ(get(Arch::X86_64, "r15", c), le(c.regs.r15, 8));
    EXPECT_EQ(get(Arch::X86_64, "rip", c), le(c.regs.rip, 8));
    EXPECT_EQ(get(Arch::X86_64, "eflags", c), le(c.regs.rflags, 4));
    EXPECT_EQ(get(Arch::X86_64, "ss", c), le(c.sregs.ss.selector, 4));
    EXPECT_EQ(get(Arch::X86_64, "fs_base", c), le(c.sregs.fs.base, 8));
    EXPECT_EQ(get(Arch::X86_64, "ds_base", c), le(c.sregs.ds.base, 8));
    EXPECT_EQ(get(Arch::X86_64, "cr3", c), le(c.sregs.cr3, 8));
    EXPECT_EQ(get(Arch::X86_64, "cr8", c), le(c.sregs.cr8, 8));
    EXPECT_EQ(get(Arch::X86_64, "efer", c), le(c.sregs.efer, 8));
    EXPECT_EQ(get(Arch::X86_64, "fctrl", c), le(fx::get<std::uint16_t>(c.fpu, fx::FCW), 4));
    EXPECT_EQ(get(Arch::X86_64, "fop", c), le(fx::get<std::uint16_t>(c.fpu, fx::FOP), 4));
    EXPECT_EQ(get(Arch::X86_64, "mxcsr", c), le(fx::get<std::uint32_t>(c.fpu, fx::MXCSR), 4));
    // FIP/FDP: offset in the low half, selector in the high half (amd64-tdep.c).
    EXPECT_EQ(get(Arch::X86_64, "fioff", c), le(fx::get<std::uint32_t>(c.fpu, fx::FIP), 4));
    EXPECT_EQ(get(Arch::X86_64, "fiseg", c), le(fx::get<std::uint32_t>(c.fpu, fx::FIP + 4), 4));
    EXPECT_EQ(get(Arch::X86_64, "fooff", c), le(fx::get<std::uint32_t>(c.fpu, fx::FDP), 4));
    EXPECT_EQ(get(Arch::X86_64, "foseg", c), le(fx::get<std::uint32_t>(c.fpu, fx::FDP + 4), 4));
    EXPECT_EQ(get(Arch::X86_64, "st3", c), std::vector<std::uint8_t>(fx::st(c.fpu, 3), fx::st(c.fpu, 3) + 10));
    EXPECT_EQ(get(Arch::X86_64, "xmm15", c), std::vector<std::uint8_t>(fx::xmm(c.fpu, 15), fx::xmm(c.fpu, 15) + 16));
}

// The 32-bit layouts show the low halves; a write replaces only those.
TEST(RegisterMap, NarrowRegistersReplaceOnlyTheirLowBytes) {
    CpuState c = distinct_state();
    const std::uint64_t rax = c.regs.rax, cr3 = c.sregs.cr3, fs_base = c.sregs.fs.base;
    EXPECT_EQ(get(Arch::I386, "eax", c), le(rax, 4));
    set(Arch::I386, "eax", {0x44, 0x33, 0x22, 0x11}, c);
    EXPECT_EQ(c.regs.rax, (rax & ~0xffffffffull) | 0x11223344);
    set(Arch::I386, "cr3", {0x00, 0x30, 0x00, 0x00}, c);
    EXPECT_EQ(c.sregs.cr3, (cr3 & ~0xffffffffull) | 0x3000);
    set(Arch::I386, "fs_base", {0x00, 0x10, 0x00, 0x00}, c);
    EXPECT_EQ(c.sregs.fs.base, (fs_base & ~0xffffffffull) | 0x1000);
    // eflags is 32 bits wide in every layout: bits 63:32 of rflags stay.
    c.regs.rflags = 0xabcd000000000202;
    set(Arch::X86_64, "eflags", {0x46, 0x02, 0x00, 0x00}, c);
    EXPECT_EQ(c.regs.rflags, 0xabcd000000000246);
    // A selector is 16 bits in a 32-bit slot.
    set(Arch::X86_64, "gs", {0x2b, 0x00, 0xff, 0xff}, c);
    EXPECT_EQ(c.sregs.gs.selector, 0x2b);
}

// Real mode: a new selector loads base = selector * 16, as `mov %ax, %ds` would;
// the same selector again leaves the base alone (unreal mode survives a G).
TEST(RegisterMap, RealModeSelectorWritesSetTheBase) {
    CpuState c = distinct_state();
    c.sregs.cr0 = 0;  // real mode
    c.sregs.ds.selector = 0x100;
    c.sregs.ds.base = 0xdead0000;  // unreal: not 0x1000
    set(Arch::I8086, "ds", {0x00, 0x01, 0, 0}, c);
    EXPECT_EQ(c.sregs.ds.base, 0xdead0000u);
    set(Arch::I8086, "ds", {0x34, 0x12, 0, 0}, c);
    EXPECT_EQ(c.sregs.ds.selector, 0x1234);
    EXPECT_EQ(c.sregs.ds.base, 0x12340u);
    set(Arch::I8086, "cs", {0x00, 0xf0, 0, 0}, c);
    EXPECT_EQ(c.sregs.cs.base, 0xf0000u);
    // In protected mode a selector write is only the selector (the base comes from
    // a descriptor kvmgdb does not load).
    c.sregs.cr0 = bits::CR0_PE;
    const std::uint64_t base = c.sregs.es.base;
    set(Arch::I386, "es", {0x18, 0, 0, 0}, c);
    EXPECT_EQ(c.sregs.es.selector, 0x18);
    EXPECT_EQ(c.sregs.es.base, base);
}

// Real mode: the pc gdb sees is linear, CS.base + IP; writing it sets IP
// relative to the current CS, and a pc outside the segment is refused with the
// state unchanged, by P and by G alike (a G is applied whole or not at all).
TEST(RegisterMap, RealModePcIsLinearAndWritesStayInsideCs) {
    CpuState c = real_mode_state();
    EXPECT_EQ(get(Arch::I8086, "eip", c), le(0x9234, 4));
    set(Arch::I8086, "eip", le(0x8010, 4), c);
    EXPECT_EQ(c.regs.rip, 0x10u);
    set(Arch::I8086, "eip", le(0x17fff, 4), c);
    EXPECT_EQ(c.regs.rip, 0xffffu);
    const auto* eip = stub::register_layout(Arch::I8086).find("eip");
    ASSERT_NE(eip, nullptr);
    EXPECT_FALSE(decode_register(Arch::I8086, eip->regnum, le(0x18000, 4), c));  // IP 0x10000
    EXPECT_FALSE(decode_register(Arch::I8086, eip->regnum, le(0x7fff, 4), c));   // below CS.base
    EXPECT_EQ(c.regs.rip, 0xffffu);
    // A G whose pc is outside CS changes nothing, not even the registers before it.
    std::vector<std::uint8_t> g = encode_registers(Arch::I8086, c);
    const auto* eax = stub::register_layout(Arch::I8086).find("eax");
    ASSERT_NE(eax, nullptr);
    g[eax->offset] ^= 0xff;
    std::copy_n(le(0x100000, 4).begin(), 4, g.begin() + static_cast<std::ptrdiff_t>(eip->offset));
    const CpuState before = c;
    EXPECT_FALSE(decode_registers(Arch::I8086, g, c));
    EXPECT_EQ(encode_registers(Arch::I8086, c), encode_registers(Arch::I8086, before));
    // A G that sets CS too: the pc is relative to the new CS (base = CS * 16).
    const auto* cs = stub::register_layout(Arch::I8086).find("cs");
    ASSERT_NE(cs, nullptr);
    g = encode_registers(Arch::I8086, c);
    std::copy_n(le(0x0700, 4).begin(), 4, g.begin() + static_cast<std::ptrdiff_t>(cs->offset));
    const auto* cs_base = stub::register_layout(Arch::I8086).find("cs_base");
    ASSERT_NE(cs_base, nullptr);
    auto base = le(0x7000, stub::reg_size(*cs_base));
    std::copy(base.begin(), base.end(), g.begin() + static_cast<std::ptrdiff_t>(cs_base->offset));
    std::copy_n(le(0x7100, 4).begin(), 4, g.begin() + static_cast<std::ptrdiff_t>(eip->offset));
    ASSERT_TRUE(decode_registers(Arch::I8086, g, c));
    EXPECT_EQ(c.sregs.cs.base, 0x7000u);
    EXPECT_EQ(c.regs.rip, 0x100u);
    // Outside real mode eip is the register itself (flat segments: the same thing).
    c.sregs.cr0 = bits::CR0_PE;
    EXPECT_EQ(get(Arch::I386, "eip", c), le(0x100, 4));
    set(Arch::I386, "eip", le(0x7fff, 4), c);
    EXPECT_EQ(c.regs.rip, 0x7fffu);
}

// ftag is the full tag word (SDM Vol. 1 8.1.7) made from FXSAVE's abridged one:
// physical register j is ST((j - TOP) mod 8), classified by its contents.
TEST(RegisterMap, FullTagWordMapsPhysicalRegistersThroughTop) {
    CpuState c;
    fx::put<std::uint16_t>(c.fpu, fx::FSW, 3 << 11);  // TOP = 3
    // Physical 3 = ST0: valid (1.0); physical 4 = ST1: zero; physical 6 = ST3:
    // special (infinity); all others empty.
    std::uint8_t one[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f};
    std::uint8_t inf[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x7f};
    std::memcpy(fx::st(c.fpu, 0), one, 10);
    std::memcpy(fx::st(c.fpu, 3), inf, 10);
    c.fpu.bytes[fx::FTW] = (1 << 3) | (1 << 4) | (1 << 6);
    // tag(j) at bits 2j+1:2j: 11 empty, 00 valid, 01 zero, 10 special.
    const std::uint16_t want = static_cast<std::uint16_t>((0xffffu & ~(3u << 6) & ~(3u << 8) & ~(3u << 12)) | (1u << 8) | (2u << 12));
    EXPECT_EQ(get(Arch::X86_64, "ftag", c), le(want, 4));
    // Writing it back gives the abridged tag again (bit j: not empty).
    c.fpu.bytes[fx::FTW] = 0;
    set(Arch::X86_64, "ftag", le(want, 4), c);
    EXPECT_EQ(c.fpu.bytes[fx::FTW], (1 << 3) | (1 << 4) | (1 << 6));
}

// Every register of every layout: `p` shows the bytes that `P` wrote, `g` holds
// them at the register's offset, and no other register changed.
TEST_P(EveryLayout, EachRegisterWritesAndReadsBackAloneAndExactly) {
    const Arch arch = GetParam().arch;
    const auto& layout = stub::register_layout(arch, GetParam().features);
    for (const auto& r : layout) {
        if (r.name == "ftag") continue;  // derived from the contents (test above)
        CpuState c = state_for(GetParam());
        const std::vector<std::uint8_t> before = encode_registers(arch, c);
        std::vector<std::uint8_t> value(stub::reg_size(r));
        for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<std::uint8_t>(0xa0 + i);
        const bool selector = r.name.size() == 2 && r.name[1] == 's';
        // Selectors and the x87 control, status and opcode registers are 16 bits
        // in a 32-bit slot.
        if (selector || r.name == "fctrl" || r.name == "fstat" || r.name == "fop") value.assign({0xa8, 0x01, 0x00, 0x00});
        if (arch == Arch::I8086 && r.name == "eip") value.assign({0xa0, 0xa1, 0x00, 0x00});  // linear 0xa1a0, in CS
        ASSERT_TRUE(decode_register(arch, r.regnum, value, c)) << r.name;
        auto back = encode_register(arch, r.regnum, c);
        ASSERT_TRUE(back) << r.name;
        EXPECT_EQ(*back, value) << r.name;
        const std::vector<std::uint8_t> after = encode_registers(arch, c);
        EXPECT_TRUE(std::equal(value.begin(), value.end(), after.begin() + static_cast<std::ptrdiff_t>(r.offset)))
            << r.name;
        for (const auto& other : layout) {
            if (other.regnum == r.regnum) continue;
            // TOP and the registers' contents decide the full tags.
            if ((r.name == "fstat" || r.name.substr(0, 2) == "st") && other.name == "ftag") continue;
            if (selector && arch == Arch::I8086 && other.name == std::string(r.name) + "_base") continue;
            // Real mode: the pc is linear (CS.base + IP), so a new CS base moves it.
            if (arch == Arch::I8086 && (r.name == "cs" || r.name == "cs_base") && other.name == "eip") continue;
            // CR0.PE decides whether the pc is linear or rip itself.
            if (r.name == "cr0" && (other.name == "eip" || other.name == "rip")) continue;
            auto at = [&](const std::vector<std::uint8_t>& g) {
                return std::vector<std::uint8_t>(g.begin() + static_cast<std::ptrdiff_t>(other.offset),
                                                 g.begin() + static_cast<std::ptrdiff_t>(other.offset + stub::reg_size(other)));
            };
            EXPECT_EQ(at(after), at(before)) << "writing " << r.name << " changed " << other.name;
        }
    }
}

// `G` of a whole `g` block is exact, and a short one changes nothing.
TEST_P(EveryLayout, GOfAgBlockIsExactAndAShortOneIsRefused) {
    const Arch arch = GetParam().arch;
    CpuState c = state_for(GetParam());
    std::vector<std::uint8_t> g = encode_registers(arch, c);
    ASSERT_EQ(g.size(), stub::register_layout(arch, GetParam().features).g_size());
    CpuState blank;  // XSTATE_BV 0: the G takes every component out of its initial state
    blank.xsave = c.xsave;
    if (arch != Arch::I8086) blank.sregs.cr0 = bits::CR0_PE;
    ASSERT_TRUE(decode_registers(arch, g, blank));
    EXPECT_EQ(encode_registers(arch, blank), g);
    CpuState untouched = state_for(GetParam());
    std::vector<std::uint8_t> short_g(g.begin(), g.end() - 1);
    EXPECT_FALSE(decode_registers(arch, short_g, untouched));
    EXPECT_EQ(encode_registers(arch, untouched), encode_registers(arch, state_for(GetParam())));
    // Unknown register numbers and wrong sizes are refused.
    EXPECT_FALSE(encode_register(arch, 9999, c).has_value());
    EXPECT_FALSE(decode_register(arch, 0, std::vector<std::uint8_t>(3), c));
}

constexpr stub::RegisterFeatures kAvx{true, false}, kAvx512{true, true};
INSTANTIATE_TEST_SUITE_P(Layouts, EveryLayout,
                         testing::Values(LayoutCase{Arch::I8086, {}}, LayoutCase{Arch::I386, {}},
                                         LayoutCase{Arch::X86_64, {}}, LayoutCase{Arch::I8086, kAvx},
                                         LayoutCase{Arch::I386, kAvx}, LayoutCase{Arch::X86_64, kAvx},
                                         LayoutCase{Arch::I8086, kAvx512}, LayoutCase{Arch::I386, kAvx512},
                                         LayoutCase{Arch::X86_64, kAvx512}),
                         case_name);

// The layout follows the CPU: long mode is x86-64, compatibility mode (EFER.LMA
// with a 32-bit CS) included, whose registers are still the 64-bit ones;
// protected mode is i386, else i8086.
TEST(RegisterMap, ArchOfTheCpuMode) {
    kvm_sregs s{};
    EXPECT_EQ(arch_of(s), Arch::I8086);
    s.cr0 = bits::CR0_PE;
    EXPECT_EQ(arch_of(s), Arch::I386);
    s.cr0 |= bits::CR0_PG;
    s.efer = bits::EFER_LME | bits::EFER_LMA;
    s.cs.l = 0;
    EXPECT_EQ(arch_of(s), Arch::X86_64);  // compatibility mode: r8-r15 still there
    s.cs.l = 1;
    EXPECT_EQ(arch_of(s), Arch::X86_64);
    s.efer = bits::EFER_LME;  // LME without LMA (paging off): not long mode yet
    EXPECT_EQ(arch_of(s), Arch::I386);
}

namespace {

constexpr stub::RegisterFeatures kAll{true, true};

std::vector<std::uint8_t> get_with(Arch a, stub::RegisterFeatures f, const char* name, const CpuState& c) {
    const auto* r = stub::register_layout(a, f).find(name);
    EXPECT_NE(r, nullptr) << name;
    if (!r) return {};
    return encode_register(a, r->regnum, c).value_or(std::vector<std::uint8_t>{});
}

bool set_with(Arch a, stub::RegisterFeatures f, const char* name, const std::vector<std::uint8_t>& bytes, CpuState& c) {
    const auto* r = stub::register_layout(a, f).find(name);
    return r && decode_register(a, r->regnum, bytes, c);
}

std::vector<std::uint8_t> area(const CpuState& c, std::size_t offset, std::size_t n) {
    return {c.fpu.bytes.begin() + static_cast<std::ptrdiff_t>(offset),
            c.fpu.bytes.begin() + static_cast<std::ptrdiff_t>(offset + n)};
}

kvm_cpuid_entry2 cpuid_entry(std::uint32_t function, std::uint32_t index, std::uint32_t eax, std::uint32_t ebx,
                             std::uint32_t ecx) {
    kvm_cpuid_entry2 e{};
    e.function = function;
    e.index = index;
    e.eax = eax;
    e.ebx = ebx;
    e.ecx = ecx;
    return e;
}

}  // namespace

// The AVX and AVX-512 registers at their standard XSAVE offsets (SDM Vol. 1 13.5):
// AVX 576 + 16i, opmask 1088 + 8i, ZMM_Hi256 1152 + 32i, Hi16_ZMM 1664 + 64(i-16)
// holding xmm, ymm upper and zmm upper of zmm16-31 in turn.
TEST(RegisterMap, AvxAndAvx512RegistersAreTheirXsaveBytes) {
    CpuState c = distinct_state();
    c.xsave.features = kAll;
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "ymm0h", c), area(c, 576, 16));
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "ymm15h", c), area(c, 576 + 240, 16));
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "k0", c), area(c, 1088, 8));
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "k7", c), area(c, 1088 + 56, 8));
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "zmm0h", c), area(c, 1152, 32));
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "zmm15h", c), area(c, 1152 + 480, 32));
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "xmm16", c), area(c, 1664, 16));
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "ymm16h", c), area(c, 1664 + 16, 16));
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "zmm16h", c), area(c, 1664 + 32, 32));
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "xmm31", c), area(c, 1664 + 960, 16));
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "zmm31h", c), area(c, 1664 + 960 + 32, 32));
    // The 32-bit layouts: the same bytes for the registers they have.
    EXPECT_EQ(get_with(Arch::I386, kAll, "ymm7h", c), area(c, 576 + 112, 16));
    EXPECT_EQ(get_with(Arch::I386, kAll, "zmm7h", c), area(c, 1152 + 224, 32));
    EXPECT_EQ(get_with(Arch::I386, kAll, "k3", c), area(c, 1088 + 24, 8));
    // Offsets taken from the host's CPUID move them.
    c.xsave.layout.avx.offset = 832;
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "ymm1h", c), area(c, 832 + 16, 16));
}

// A component whose XSTATE_BV bit is clear is in its initial state: it reads as
// zeros whatever the bytes; writing zeros leaves it so; writing anything else sets
// the bit, zeroes the rest of the component and stores the value (else XRSTOR in
// KVM_SET_XSAVE would drop it). Other components are untouched.
TEST(RegisterMap, InitialComponentsReadAsZeroAndAWriteMakesThemPresent) {
    CpuState c = distinct_state();
    c.xsave.features = kAll;
    fx::put<std::uint64_t>(c.fpu, fx::XSTATE_BV, fx::XFEATURE_X87 | fx::XFEATURE_SSE | fx::XFEATURE_ZMM_HI256);
    const std::vector<std::uint8_t> zeros16(16, 0), zeros8(8, 0);
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "ymm3h", c), zeros16);
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "k2", c), zeros8);
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "xmm20", c), zeros16);
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "zmm2h", c), area(c, 1152 + 64, 32));  // present
    const CpuState before = c;
    ASSERT_TRUE(set_with(Arch::X86_64, kAll, "ymm3h", zeros16, c));
    EXPECT_EQ(c.fpu.bytes, before.fpu.bytes);  // no change at all, XSTATE_BV included
    std::vector<std::uint8_t> v(16);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint8_t>(0xc0 + i);
    ASSERT_TRUE(set_with(Arch::X86_64, kAll, "ymm3h", v, c));
    EXPECT_EQ(fx::get<std::uint64_t>(c.fpu, fx::XSTATE_BV),
              fx::XFEATURE_X87 | fx::XFEATURE_SSE | fx::XFEATURE_AVX | fx::XFEATURE_ZMM_HI256);
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "ymm3h", c), v);
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "ymm2h", c), zeros16);
    EXPECT_EQ(area(c, 576, 48), std::vector<std::uint8_t>(48, 0));  // ymm0h-2h: were initial, now explicit zeros
    EXPECT_EQ(area(c, 0, 576 - 64), area(before, 0, 576 - 64));      // legacy region untouched
    EXPECT_EQ(area(c, 1088, 4096 - 1088), area(before, 1088, 4096 - 1088));  // other components untouched
    ASSERT_TRUE(set_with(Arch::X86_64, kAll, "k2", le(0xff00ff, 8), c));
    EXPECT_NE(fx::get<std::uint64_t>(c.fpu, fx::XSTATE_BV) & fx::XFEATURE_OPMASK, 0u);
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "k2", c), le(0xff00ff, 8));
    EXPECT_EQ(get_with(Arch::X86_64, kAll, "k1", c), zeros8);
    EXPECT_EQ(fx::get<std::uint64_t>(c.fpu, fx::XSTATE_BV) & fx::XFEATURE_HI16_ZMM, 0u);
}

// DR0-3, DR6, DR7 onto kvm_debugregs, XCR0 onto its kvm_xcrs entry.
TEST(RegisterMap, DebugRegistersAndXcr0) {
    CpuState c = distinct_state();
    for (unsigned i = 0; i < 4; ++i) {
        std::string name = "dr" + std::to_string(i);
        EXPECT_EQ(get(Arch::X86_64, name.c_str(), c), le(c.debugregs.db[i], 8)) << name;
        EXPECT_EQ(get(Arch::I386, name.c_str(), c), le(c.debugregs.db[i], 4)) << name;
    }
    EXPECT_EQ(get(Arch::X86_64, "dr6", c), le(0xffff4ff1, 8));
    EXPECT_EQ(get(Arch::I386, "dr7", c), le(0x403, 4));
    EXPECT_EQ(get(Arch::I386, "xcr0", c), le(0xe7, 8));
    const std::uint64_t dr1 = c.debugregs.db[1];
    set(Arch::I386, "dr1", le(0x1000, 4), c);
    EXPECT_EQ(c.debugregs.db[1], (dr1 & ~0xffffffffull) | 0x1000);
    set(Arch::X86_64, "dr7", le(0x30402, 8), c);
    EXPECT_EQ(c.debugregs.dr7, 0x30402u);
    set(Arch::X86_64, "xcr0", le(0x7, 8), c);
    EXPECT_EQ(c.xcrs.nr_xcrs, 1u);
    EXPECT_EQ(c.xcrs.xcrs[0].value, 0x7u);
    // XCR0 found among other XCRs; absent, it reads 0 and a write adds it.
    c.xcrs.nr_xcrs = 2;
    c.xcrs.xcrs[0] = kvm_xcr{1, 0, 0x55};
    c.xcrs.xcrs[1] = kvm_xcr{0, 0, 0x3};
    EXPECT_EQ(get(Arch::X86_64, "xcr0", c), le(0x3, 8));
    CpuState none;
    EXPECT_EQ(get(Arch::X86_64, "xcr0", none), le(0, 8));
    set(Arch::X86_64, "xcr0", le(0x3, 8), none);
    ASSERT_EQ(none.xcrs.nr_xcrs, 1u);
    EXPECT_EQ(none.xcrs.xcrs[0].xcr, 0u);
    EXPECT_EQ(none.xcrs.xcrs[0].value, 0x3u);
}

// What the host offers, from KVM_GET_SUPPORTED_CPUID.
TEST(RegisterMap, XsaveSupportFromTheSupportedCpuid) {
    constexpr std::uint32_t kXsave = 1u << 26, kAvxBit = 1u << 28;
    std::vector<kvm_cpuid_entry2> cpuid = {cpuid_entry(1, 0, 0, 0, kXsave | kAvxBit), cpuid_entry(0xd, 0, 0xe7, 0, 0)};
    XsaveSupport s = xsave_support(cpuid);
    EXPECT_EQ(s.features, kAll);
    EXPECT_EQ(s.layout.hi16_zmm.offset, 1664u);  // no sub-leaves: the standard offsets
    // AVX without AVX-512 (XCR0 bits 5-7 missing, or only some of them).
    cpuid[1].eax = 0x07;
    EXPECT_EQ(xsave_support(cpuid).features, (stub::RegisterFeatures{true, false}));
    cpuid[1].eax = 0x67;
    EXPECT_EQ(xsave_support(cpuid).features, (stub::RegisterFeatures{true, false}));
    // No AVX bit in leaf 1, or no XSAVE, or no leaf 0xD: nothing beyond SSE.
    cpuid[1].eax = 0xe7;
    cpuid[0].ecx = kXsave;
    EXPECT_EQ(xsave_support(cpuid).features, stub::RegisterFeatures{});
    cpuid[0].ecx = kAvxBit;
    EXPECT_EQ(xsave_support(cpuid).features, stub::RegisterFeatures{});
    cpuid[0].ecx = kXsave | kAvxBit;
    EXPECT_EQ(xsave_support(std::span(cpuid).first(1)).features, stub::RegisterFeatures{});
    EXPECT_EQ(xsave_support({}).features, stub::RegisterFeatures{});
    // Sub-leaves give the offsets (EBX) with the architectural sizes (EAX).
    cpuid.push_back(cpuid_entry(0xd, 2, 256, 832, 0));
    cpuid.push_back(cpuid_entry(0xd, 7, 1024, 1700, 0));
    s = xsave_support(cpuid);
    EXPECT_EQ(s.features, kAll);
    EXPECT_EQ(s.layout.avx.offset, 832u);
    EXPECT_EQ(s.layout.hi16_zmm.offset, 1700u);
    EXPECT_EQ(s.layout.opmask.offset, 1088u);
    // A component past the 4096 bytes of KVM_GET_XSAVE, or of an unexpected size,
    // drops its feature (and AVX-512 with AVX).
    cpuid.back().ebx = 3100;
    EXPECT_EQ(xsave_support(cpuid).features, (stub::RegisterFeatures{true, false}));
    cpuid.back().ebx = 1664;
    cpuid[2].eax = 512;
    EXPECT_EQ(xsave_support(cpuid).features, stub::RegisterFeatures{});
}
