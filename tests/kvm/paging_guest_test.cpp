// The debug target through a guest's own page tables: every other guest runs on
// kvmgdb's identity tables, where a linear address taken for a physical one goes
// unnoticed. Two guests map code and data away from identity (docs/guests.md):
//   higher-half-long.elf  linear 0xffffffff80000000 + n*4K -> physical 0x100000 + n*4K
//   paged-scatter32.elf   linear 0x400000 + i*4K -> physical 0x200000 + (7-i)*8K
// Memory, breakpoints (HLT patch, as in CI), page-protection watchpoints, `monitor
// translate` and `monitor phys` are checked against the physical bytes and the
// table entries the guest wrote. Run through scripts/with-kvm; never skips.
#include <elf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>

#include "debug/kvm_target.hpp"
#include "kvm_test_support.hpp"
#include "loader/elf_loader.hpp"

using namespace kvmgdb;
using debug::KvmTarget;
using stub::BreakpointKind;
using stub::ResumeKind;
using stub::StopEvent;
using namespace kvmgdb::kvm_test;

namespace {

constexpr std::uint64_t kHighOffset = 0xffffffff7ff00000;  // higher-half.ld: linear - physical

std::vector<std::uint8_t> linear_bytes(KvmTarget& t, std::uint64_t addr, std::size_t n) {
    std::vector<std::uint8_t> b(n);
    EXPECT_EQ(t.read_memory(addr, b), n) << std::hex << addr;
    return b;
}

std::vector<std::uint8_t> phys_bytes(KvmTarget& t, std::uint64_t phys, std::size_t n) {
    std::vector<std::uint8_t> b(n);
    t.machine().memory().read(phys, b);
    return b;
}

std::uint64_t le(const std::vector<std::uint8_t>& b) {
    std::uint64_t v = 0;
    for (std::size_t i = b.size(); i-- > 0;) v = v << 8 | b[i];
    return v;
}

std::string monitor(KvmTarget& t, const std::string& command) {
    std::string out;
    EXPECT_TRUE(t.monitor(command, out).is_ok()) << command << ": " << out;
    return out;
}

std::string hex0(std::uint64_t v, int width) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%0*llx", width, static_cast<unsigned long long>(v));
    return buf;
}

// One line of format_walk for a present entry.
std::string step_line(const char* level, unsigned index, std::uint64_t at, std::uint64_t entry, int width,
                      const char* flags) {
    char head[32];
    std::snprintf(head, sizeof head, "  %-5s[%3u] @ ", level, index);
    return head + hex0(at, 16) + " = " + hex0(entry, width) + "  " + flags + "\n";
}

// Runs the guest to `paging_on`, the first instruction on its own tables.
void run_to_own_tables(Guest& g) {
    KvmTarget& t = *g.target;
    const std::uint64_t paging_on = g.at("paging_on");
    ASSERT_TRUE(t.insert_breakpoint(BreakpointKind::Software, paging_on, 1).is_ok());
    StopEvent ev = run(t);
    ASSERT_EQ(ev.kind, StopEvent::Kind::SoftwareBreak) << ev.message;
    ASSERT_EQ(rip(t), paging_on);
    ASSERT_TRUE(t.remove_breakpoint(BreakpointKind::Software, paging_on, 1).is_ok());
}

// ---------------------------------------------------------------------------
// higher-half-long.elf

class HigherHalf : public testing::Test {
protected:
    Guest g = start("higher-half-long.elf", std::nullopt, hlt_forced());
    KvmTarget& t = *g.target;
};

}  // namespace

TEST_F(HigherHalf, TheHigherHalfIsMappedOnlyOnceTheGuestLoadsItsCr3) {
    const std::uint64_t main_addr = g.at("higher_half_main");
    std::uint8_t b[1];
    EXPECT_EQ(t.read_memory(main_addr, b), 0u);
    EXPECT_FALSE(t.insert_breakpoint(BreakpointKind::Software, main_addr, 1).is_ok());
    run_to_own_tables(g);
    EXPECT_EQ(t.machine().vcpu().get_sregs().cr3, g.at("pml4"));
    EXPECT_EQ(t.read_memory(main_addr, b), 1u);
}

TEST_F(HigherHalf, MemoryAtHigherHalfAddressesIsItsPhysicalFrame) {
    run_to_own_tables(g);
    const std::uint64_t value = g.at("hh_value"), value_phys = value - kHighOffset;
    ASSERT_EQ(value_phys, 0x109000u);  // the layout the other checks assume
    EXPECT_EQ(le(linear_bytes(t, value, 8)), 1u);
    EXPECT_EQ(linear_bytes(t, value, 8), phys_bytes(t, value_phys, 8));
    // Code: the whole of higher_half_main's first page run, and across the
    // .text/.rodata page boundary (two translations).
    const std::uint64_t code = g.at("higher_half_main");
    EXPECT_EQ(linear_bytes(t, code, 0x80), phys_bytes(t, code - kHighOffset, 0x80));
    EXPECT_EQ(linear_bytes(t, 0xffffffff80007ff0, 0x20), phys_bytes(t, 0x107ff0, 0x20));
    // A write lands on the frame, not at the linear address's number.
    const std::vector<std::uint8_t> pattern{0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
    ASSERT_EQ(t.write_memory(value, pattern), 8u);
    EXPECT_EQ(t.machine().memory().read64(value_phys), 0x1122334455667788u);
    EXPECT_EQ(le(linear_bytes(t, value, 8)), 0x1122334455667788u);
    // Back to 1, and the guest's own check (both views agree) still passes.
    ASSERT_EQ(t.write_memory(value, std::vector<std::uint8_t>{1, 0, 0, 0, 0, 0, 0, 0}), 8u);
    StopEvent ev = run(t);
    EXPECT_EQ(ev.kind, StopEvent::Kind::Exited) << ev.message;
    EXPECT_EQ(t.machine().memory().read64(0x400), 42u);
    EXPECT_EQ(*g.console, "higher half: hh_value = 40\nhigher half done\n");
}

TEST_F(HigherHalf, TranslateShowsTheGuestsFourLevelsAndTheFrame) {
    run_to_own_tables(g);
    const std::uint64_t value = g.at("hh_value");  // PML4E 511, PDPTE 510, PDE 0, PTE 9
    const std::uint64_t pml4 = g.at("pml4"), pdpt = g.at("pdpt_hi"), pd = g.at("pd_hi"), pt = g.at("pt_hi");
    const std::string expected =
        "linear 0xffffffff80009000: 4-level paging\n" +
        step_line("PML4E", 511, pml4 + 511 * 8, pdpt | 0x23, 16, "P RW S") +
        step_line("PDPTE", 510, pdpt + 510 * 8, pd | 0x23, 16, "P RW S") +
        step_line("PDE", 0, pd, pt | 0x23, 16, "P RW S") +
        step_line("PTE", 9, pt + 9 * 8, 0x109063, 16, "P RW S") +
        "  => phys 0x0000000000109000 (4 KiB page, writable, supervisor)\n";
    EXPECT_EQ(monitor(t, "translate " + hex0(value, 0)), expected);
    // An offset inside the page keeps its low bits.
    EXPECT_NE(monitor(t, "translate 0xffffffff80009abc").find("  => phys 0x0000000000109abc (4 KiB page"),
              std::string::npos);
    // The low identity map: two levels of the guest's tables, then a 2 MiB page.
    const std::uint64_t lo_pdpt = g.at("pdpt_lo"), lo_pd = g.at("pd_lo");
    EXPECT_EQ(monitor(t, "translate 0x200400"),
              "linear 0x0000000000200400: 4-level paging\n" +
                  step_line("PML4E", 0, pml4, lo_pdpt | 0x23, 16, "P RW S") +
                  step_line("PDPTE", 0, lo_pdpt, lo_pd | 0x23, 16, "P RW S") +
                  step_line("PDE", 1, lo_pd + 8, 0x2000e3, 16, "P RW S PS") +
                  "  => phys 0x0000000000200400 (2 MiB page, writable, supervisor)\n");
    // Past the page table's 512 entries: not present at the PTE.
    const std::string unmapped = monitor(t, "translate 0xffffffff80200000");
    EXPECT_NE(unmapped.find("  PDE  [  1] @ " + hex0(pd + 8, 16) + " = 0x0000000000000000  not present\n"),
              std::string::npos)
        << unmapped;
    EXPECT_NE(unmapped.find("  => no translation: PDE not present"), std::string::npos) << unmapped;
}

TEST_F(HigherHalf, PhysOnMakesAddressesPhysical) {
    run_to_own_tables(g);
    const std::uint64_t value = g.at("hh_value"), value_phys = value - kHighOffset;
    ASSERT_TRUE(t.write_memory(value, std::vector<std::uint8_t>{0x5a, 0xa5}) == 2);
    const std::vector<std::uint8_t> through_linear = linear_bytes(t, value, 16);
    ASSERT_EQ(monitor(t, "phys on"), "gdb addresses are now physical\n");
    EXPECT_EQ(linear_bytes(t, value_phys, 16), through_linear);
    std::uint8_t b[1];
    EXPECT_EQ(t.read_memory(value, b), 0u);  // 0xffffffff80009000 is no physical address
    ASSERT_TRUE(t.write_memory(value_phys + 2, std::vector<std::uint8_t>{0xc3}) == 1);
    ASSERT_EQ(monitor(t, "phys off"), "gdb addresses are now linear\n");
    EXPECT_EQ(linear_bytes(t, value, 3), (std::vector<std::uint8_t>{0x5a, 0xa5, 0xc3}));
}

TEST_F(HigherHalf, BreakpointsInTheHigherHalfHit) {
    run_to_own_tables(g);
    const std::uint64_t main_addr = g.at("higher_half_main"), step = g.at("hh_step");
    const std::uint8_t main_byte = phys_bytes(t, main_addr - kHighOffset, 1)[0];
    ASSERT_TRUE(t.insert_breakpoint(BreakpointKind::Software, main_addr, 1).is_ok());
    ASSERT_TRUE(t.insert_breakpoint(BreakpointKind::Hardware, step, 1).is_ok());
    // The patch is in the frame; reads through the linear address show the guest's byte.
    EXPECT_EQ(t.machine().memory().read8(main_addr - kHighOffset), 0xf4);
    EXPECT_EQ(linear_bytes(t, main_addr, 1)[0], main_byte);
    StopEvent ev = run(t);
    ASSERT_EQ(ev.kind, StopEvent::Kind::SoftwareBreak) << ev.message;
    EXPECT_EQ(rip(t), main_addr);
    ASSERT_TRUE(t.remove_breakpoint(BreakpointKind::Software, main_addr, 1).is_ok());
    EXPECT_EQ(t.machine().memory().read8(main_addr - kHighOffset), main_byte);
    for (int hit = 0; hit < 3; ++hit) {
        ev = run(t);
        ASSERT_EQ(ev.kind, StopEvent::Kind::HardwareBreak) << "hit " << hit << ": " << ev.message;
        EXPECT_EQ(rip(t), step);
        // gdb's step-over of the breakpoint at the pc.
        ASSERT_TRUE(t.remove_breakpoint(BreakpointKind::Hardware, step, 1).is_ok());
        EXPECT_EQ(run(t, ResumeKind::Step).kind, StopEvent::Kind::Signal);
        ASSERT_TRUE(t.insert_breakpoint(BreakpointKind::Hardware, step, 1).is_ok());
    }
    ASSERT_TRUE(t.remove_breakpoint(BreakpointKind::Hardware, step, 1).is_ok());
    ev = run(t);
    EXPECT_EQ(ev.kind, StopEvent::Kind::Exited) << ev.message;
    EXPECT_EQ(t.machine().memory().read64(0x400), 42u);
}

TEST_F(HigherHalf, AWriteWatchpointOnAHigherHalfVariableFires) {
    run_to_own_tables(g);
    const std::uint64_t value = g.at("hh_value");
    ASSERT_TRUE(t.insert_breakpoint(BreakpointKind::WriteWatch, value, 8).is_ok());
    for (std::uint64_t expected : {4u, 13u, 40u}) {
        StopEvent ev = run(t);
        ASSERT_EQ(ev.kind, StopEvent::Kind::Watch) << ev.message;
        EXPECT_EQ(ev.address, value);
        EXPECT_EQ(le(linear_bytes(t, value, 8)), expected);
        EXPECT_EQ(t.machine().memory().read64(value - kHighOffset), expected);
        // The pc is in higher_half_main, a higher-half address.
        EXPECT_GT(rip(t), g.at("higher_half_main"));
        EXPECT_LT(rip(t), g.at("console_write"));
    }
    ASSERT_TRUE(t.remove_breakpoint(BreakpointKind::WriteWatch, value, 8).is_ok());
    StopEvent ev = run(t);
    EXPECT_EQ(ev.kind, StopEvent::Kind::Exited) << ev.message;
    EXPECT_EQ(t.machine().memory().read64(0x400), 42u);
}

// ---------------------------------------------------------------------------
// paged-scatter32.elf

namespace {

constexpr std::uint64_t scatter_frame(unsigned i) { return 0x200000 + (7 - i) * 0x2000; }

class Scatter32 : public testing::Test {
protected:
    Guest g = start("paged-scatter32.elf", CpuMode::Protected, hlt_forced());
    KvmTarget& t = *g.target;
};

}  // namespace

TEST_F(Scatter32, EachLinearPageReadsItsOwnFrame) {
    run_to_own_tables(g);
    for (unsigned i = 0; i < 8; ++i) {
        const std::uint64_t linear = 0x400000 + i * 0x1000;
        EXPECT_EQ(linear_bytes(t, linear, 0x1000), phys_bytes(t, scatter_frame(i), 0x1000)) << "page " << i;
    }
    // The pattern word k of page i is 0x5c000000 | i << 16 | k.
    EXPECT_EQ(le(linear_bytes(t, 0x405000 + 4 * 0x123, 4)), 0x5c050123u);
    // One read across three pages: 3 -> 4 -> 5 are frames 0x208000, 0x206000, 0x204000.
    std::vector<std::uint8_t> across = linear_bytes(t, 0x403ffc, 0x1008);
    EXPECT_EQ(std::vector<std::uint8_t>(across.begin(), across.begin() + 4), phys_bytes(t, 0x208ffc, 4));
    EXPECT_EQ(std::vector<std::uint8_t>(across.begin() + 4, across.begin() + 0x1004), phys_bytes(t, 0x206000, 0x1000));
    EXPECT_EQ(std::vector<std::uint8_t>(across.begin() + 0x1004, across.end()), phys_bytes(t, 0x204000, 4));
    // Writes across a boundary go to both frames.
    ASSERT_EQ(t.write_memory(0x402ffe, std::vector<std::uint8_t>{0xa1, 0xa2, 0xa3, 0xa4}), 4u);
    EXPECT_EQ(phys_bytes(t, 0x20affe, 2), (std::vector<std::uint8_t>{0xa1, 0xa2}));
    EXPECT_EQ(phys_bytes(t, 0x208000, 2), (std::vector<std::uint8_t>{0xa3, 0xa4}));
    // Past the eight pages: PTE 8 is not present.
    std::uint8_t b[1];
    EXPECT_EQ(t.read_memory(0x408000, b), 0u);
}

TEST_F(Scatter32, TranslateShowsThePdeThePteAndTheFrame) {
    run_to_own_tables(g);
    const std::uint64_t pd = g.at("pd"), pt1 = g.at("pt1");
    EXPECT_EQ(monitor(t, "translate 0x401004"),
              "linear 0x0000000000401004: 32-bit paging\n" + step_line("PDE", 1, pd + 4, pt1 | 0x23, 8, "P RW S") +
                  step_line("PTE", 1, pt1 + 4, 0x20c063, 8, "P RW S") +
                  "  => phys 0x000000000020c004 (4 KiB page, writable, supervisor)\n");
    EXPECT_EQ(monitor(t, "translate 0x407000"),
              "linear 0x0000000000407000: 32-bit paging\n" + step_line("PDE", 1, pd + 4, pt1 | 0x23, 8, "P RW S") +
                  step_line("PTE", 7, pt1 + 7 * 4, 0x200063, 8, "P RW S") +
                  "  => phys 0x0000000000200000 (4 KiB page, writable, supervisor)\n");
    EXPECT_EQ(monitor(t, "translate 0x408000"),
              "linear 0x0000000000408000: 32-bit paging\n" + step_line("PDE", 1, pd + 4, pt1 | 0x23, 8, "P RW S") +
                  "  PTE  [  8] @ " + hex0(pt1 + 8 * 4, 16) + " = 0x00000000  not present\n" +
                  "  => no translation: PTE not present\n");
}

TEST_F(Scatter32, PhysOnReadsTheFrameAndLinearZeroIsNotTheFrame) {
    run_to_own_tables(g);
    const std::vector<std::uint8_t> value = linear_bytes(t, g.at("scatter_value"), 8);
    EXPECT_EQ(le(value), 1u);  // scatter_value 1, scatter_counter 0
    ASSERT_EQ(monitor(t, "phys on"), "gdb addresses are now physical\n");
    EXPECT_EQ(linear_bytes(t, 0x20c000, 8), value);
    // Physical 0x401000 is not where the variable lives (nothing was loaded there).
    EXPECT_EQ(le(linear_bytes(t, 0x401000, 8)), 0u);
    ASSERT_EQ(monitor(t, "phys off"), "gdb addresses are now linear\n");
}

TEST_F(Scatter32, BreakpointAndWatchpointOnRemappedPages) {
    run_to_own_tables(g);
    const std::uint64_t store = g.at("scatter_store"), value = g.at("scatter_value");
    ASSERT_EQ(store, 0x40000eu);
    const std::uint8_t original = phys_bytes(t, scatter_frame(0) + 0xe, 1)[0];
    ASSERT_TRUE(t.insert_breakpoint(BreakpointKind::Software, store, 1).is_ok());
    EXPECT_EQ(t.machine().memory().read8(scatter_frame(0) + 0xe), 0xf4);
    EXPECT_EQ(t.machine().memory().read8(store), 0u);  // not at the linear address's number
    StopEvent ev = run(t);
    ASSERT_EQ(ev.kind, StopEvent::Kind::SoftwareBreak) << ev.message;
    EXPECT_EQ(rip(t), store);
    EXPECT_EQ(t.machine().vcpu().get_regs().rax, 4u);  // about to store 3*1+1
    ASSERT_TRUE(t.remove_breakpoint(BreakpointKind::Software, store, 1).is_ok());
    EXPECT_EQ(t.machine().memory().read8(scatter_frame(0) + 0xe), original);

    ASSERT_TRUE(t.insert_breakpoint(BreakpointKind::WriteWatch, value, 4).is_ok());
    for (std::uint64_t expected : {4u, 13u, 40u}) {
        ev = run(t);
        ASSERT_EQ(ev.kind, StopEvent::Kind::Watch) << ev.message;
        EXPECT_EQ(ev.address, value);
        EXPECT_EQ(t.machine().memory().read32(0x20c000), expected);
        EXPECT_EQ(rip(t), store + 5);  // after the 5-byte movl %eax, scatter_value
    }
    ASSERT_TRUE(t.remove_breakpoint(BreakpointKind::WriteWatch, value, 4).is_ok());
    ev = run(t);
    EXPECT_EQ(ev.kind, StopEvent::Kind::Exited) << ev.message;
    EXPECT_EQ(t.machine().memory().read32(0x400), 42u);
    EXPECT_EQ(*g.console, "scattered pages ok\n");
}
