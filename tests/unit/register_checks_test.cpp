// debug/register_checks: the values VcpuRegisters::store refuses before any ioctl
// (XCR0 as XSETBV takes it, DR6/DR7 high halves, MXCSR reserved bits), without KVM.
#include <gtest/gtest.h>

#include <vector>

#include "debug/register_checks.hpp"
#include "x86/fxsave.hpp"

using namespace kvmgdb;
using namespace kvmgdb::debug;

namespace {

// What a host with x87, SSE, AVX, MPX and AVX-512 offers (CPUID 0xD.0 EAX = 0xff).
constexpr std::uint64_t kAll = 0xff;

CpuState with_xcr0(std::uint64_t v) {
    CpuState c;
    c.xcrs.nr_xcrs = 1;
    c.xcrs.xcrs[0] = kvm_xcr{0, 0, v};
    return c;
}

}  // namespace

TEST(RegisterChecks, SupportedXcr0IsLeafDSubleaf0EdxEax) {
    std::vector<kvm_cpuid_entry2> cpuid(3);
    cpuid[0].function = 1;
    cpuid[0].eax = 0xffffffff;  // not leaf 0xD
    cpuid[1].function = 0xd;
    cpuid[1].index = 1;  // sub-leaf 1: XSAVEOPT & co, not XCR0 bits
    cpuid[1].eax = 0xf;
    cpuid[2].function = 0xd;
    cpuid[2].index = 0;
    cpuid[2].eax = 0x7;
    cpuid[2].edx = 0x1;
    EXPECT_EQ(supported_xcr0(cpuid), 0x100000007u);
    EXPECT_EQ(supported_xcr0(std::span(cpuid).first(2)), 0u);
    EXPECT_EQ(supported_xcr0({}), 0u);
}

TEST(RegisterChecks, Xcr0ValuesXsetbvTakes) {
    for (std::uint64_t v : {0x1ull, 0x3ull, 0x7ull, 0x1full, 0xe7ull, 0xffull}) {
        EXPECT_EQ(xcr0_problem(v, kAll), std::nullopt) << v;
    }
    // x87 alone is always there, even where the leaf's EAX misses it.
    EXPECT_EQ(xcr0_problem(0x1, 0x6), std::nullopt);
    EXPECT_EQ(xcr0_problem(0x3, 0x3), std::nullopt);
    // AMX's pair where the host offers it.
    EXPECT_EQ(xcr0_problem(0x60003, 0x600e7), std::nullopt);
}

TEST(RegisterChecks, Xcr0ValuesXsetbvRefusesAndWhy) {
    auto why = [](std::uint64_t v, std::uint64_t supported) {
        auto p = xcr0_problem(v, supported);
        EXPECT_TRUE(p.has_value()) << std::hex << v;
        return p.value_or("");
    };
    EXPECT_NE(why(0x0, kAll).find("bit 0"), std::string::npos);
    EXPECT_NE(why(0x6, kAll).find("bit 0"), std::string::npos);
    EXPECT_NE(why(0x5, kAll).find("AVX (bit 2) needs SSE"), std::string::npos);
    EXPECT_NE(why(0xb, kAll).find("BNDREGS"), std::string::npos);
    EXPECT_NE(why(0x13, kAll).find("BNDREGS"), std::string::npos);
    for (std::uint64_t partial : {0x20ull, 0x40ull, 0x80ull, 0x60ull, 0xa0ull, 0xc0ull})
        EXPECT_NE(why(0x7 | partial, kAll).find("bits 5-7 go together"), std::string::npos) << partial;
    EXPECT_NE(why(0xe3, kAll).find("needs AVX"), std::string::npos);
    EXPECT_NE(why(0x20003, 0x60003).find("XTILECFG"), std::string::npos);
    EXPECT_NE(why(0x40003, 0x60003).find("XTILECFG"), std::string::npos);
    // Valid in shape, but more than the host's CPUID offers: named bit by bit.
    EXPECT_NE(why(0x7, 0x3).find("bits 0x4 are not offered by the host (CPUID leaf 0xD: 0x3)"), std::string::npos);
    EXPECT_NE(why(0xe7, 0x7).find("0xe0 are not offered"), std::string::npos);
    EXPECT_NE(why(0x1ull << 63 | 0x3, kAll).find("0x8000000000000000"), std::string::npos);
    // No leaf 0xD at all: no XSAVE, nothing to set.
    EXPECT_NE(why(0x1, 0).find("no XSAVE"), std::string::npos);
}

TEST(RegisterChecks, StoreProblemLooksOnlyAtWhatChanged) {
    // KVM's own state goes back unchanged even where a check would refuse it
    // (an XCRS without XCR0, read where the host has no XSAVE, reads 0).
    CpuState odd = with_xcr0(0);
    odd.debugregs.dr7 = 0x100000000;
    fx::put<std::uint32_t>(odd.fpu, fx::MXCSR, 0x80000000);
    EXPECT_EQ(store_problem(odd, odd, kAll), std::nullopt);
    EXPECT_EQ(store_problem(CpuState{}, CpuState{}, 0), std::nullopt);

    CpuState before = with_xcr0(0x7);
    CpuState after = before;
    after.xcrs.xcrs[0].value = 0x3;
    EXPECT_EQ(store_problem(before, after, kAll), std::nullopt);
    after.xcrs.xcrs[0].value = 0x5;
    auto p = store_problem(before, after, kAll);
    ASSERT_TRUE(p);
    EXPECT_NE(p->find("XCR0 0x5"), std::string::npos) << *p;
    // A write that adds the XCR0 entry is checked too.
    CpuState none;
    CpuState added = with_xcr0(0x2);
    EXPECT_TRUE(store_problem(none, added, kAll));
    added.xcrs.xcrs[0].value = 0x3;
    EXPECT_EQ(store_problem(none, added, kAll), std::nullopt);
}

TEST(RegisterChecks, DebugRegisterHighHalves) {
    CpuState before;
    before.debugregs.dr6 = 0xffff0ff0;
    before.debugregs.dr7 = 0x400;
    CpuState after = before;
    for (unsigned i = 0; i < 4; ++i) after.debugregs.db[i] = 0xffffffff'fffff000ull;  // any linear address
    after.debugregs.dr7 = 0xffffffff;
    after.debugregs.dr6 = 0xffffffff;
    EXPECT_EQ(store_problem(before, after, kAll), std::nullopt);
    after.debugregs.dr7 = 0x1'00000400;
    auto p = store_problem(before, after, kAll);
    ASSERT_TRUE(p);
    EXPECT_NE(p->find("DR7 0x100000400: bits 63:32 must be 0"), std::string::npos) << *p;
    after.debugregs.dr7 = 0x400;
    after.debugregs.dr6 = 0x80000000'ffff0ff0ull;
    p = store_problem(before, after, kAll);
    ASSERT_TRUE(p);
    EXPECT_NE(p->find("DR6"), std::string::npos) << *p;
}

TEST(RegisterChecks, MxcsrReservedBitsAgainstTheMask) {
    CpuState before;
    fx::put<std::uint32_t>(before.fpu, fx::MXCSR, 0x1f80);
    fx::put<std::uint32_t>(before.fpu, fx::MXCSR_MASK, 0xffff);
    CpuState after = before;
    fx::put<std::uint32_t>(after.fpu, fx::MXCSR, 0x1fc0);  // DAZ (bit 6): in a 0xffff mask
    EXPECT_EQ(store_problem(before, after, kAll), std::nullopt);
    fx::put<std::uint32_t>(after.fpu, fx::MXCSR, 0x11f80);
    auto p = store_problem(before, after, kAll);
    ASSERT_TRUE(p);
    EXPECT_NE(p->find("MXCSR_MASK 0xffff"), std::string::npos) << *p;
    // A mask of 0 means 0xffbf: DAZ (bit 6) is reserved then.
    fx::put<std::uint32_t>(after.fpu, fx::MXCSR_MASK, 0);
    fx::put<std::uint32_t>(after.fpu, fx::MXCSR, 0x1fc0);
    p = store_problem(before, after, kAll);
    ASSERT_TRUE(p);
    EXPECT_NE(p->find("MXCSR_MASK 0xffbf"), std::string::npos) << *p;
}
