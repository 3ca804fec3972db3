// Page walks over hand-built page tables in an 8 MiB GuestMemory, one fixture per
// paging mode (Intel SDM Vol. 3A 4.3-4.5). Every expected physical address is
// computed by hand from the table contents, not by the code under test.
#include "x86/page_walk.hpp"

#include <gtest/gtest.h>

namespace kvmgdb {
namespace {

constexpr std::uint64_t P = 1, RW = 2, US = 4, PS = 0x80, XD = std::uint64_t{1} << 63;
constexpr std::uint64_t CR0_PE = 1, CR0_WP = 1u << 16, CR0_PG = 1u << 31;
constexpr std::uint64_t CR4_PSE = 1u << 4, CR4_PAE = 1u << 5, CR4_LA57 = 1u << 12, CR4_SMEP = 1u << 20;
constexpr std::uint64_t EFER_LME = 1u << 8, EFER_LMA = 1u << 10, EFER_NXE = 1u << 11;

class PageWalk : public ::testing::Test {
protected:
    GuestMemory mem{8 << 20};
};

// --- no paging ----------------------------------------------------------------

TEST_F(PageWalk, NoPagingIsIdentity) {
    PagingState s{CR0_PE, 0, 0, 0};
    WalkResult r = walk(mem, s, 0x12345);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.mode, PagingMode::None);
    EXPECT_EQ(r.phys, 0x12345u);
    EXPECT_EQ(r.page_size, 4096u);
    EXPECT_TRUE(r.steps.empty());
    // Identity holds beyond RAM too: reading it is GuestMemory's business.
    EXPECT_EQ(translate(mem, s, 0xfee00000), 0xfee00000u);
    EXPECT_EQ(walk(mem, s, 0x1'0000'0000).failure, WalkFailure::AddressTooWide);
}

// --- 32-bit paging (SDM 4.3) ----------------------------------------------------

class Paging32 : public PageWalk {
protected:
    PagingState s{CR0_PE | CR0_PG, 0x10000, 0, 0};
};

TEST_F(Paging32, FourKiBPage) {
    mem.write32(0x10000 + 1 * 4, 0x11000 | P | RW | US);  // PDE[1] -> PT at 0x11000
    mem.write32(0x11000 + 0x23 * 4, 0x200000 | P | US);   // PTE[0x23] -> frame 0x200000, read-only
    std::uint64_t linear = (1u << 22) | (0x23u << 12) | 0x456;
    WalkResult r = walk(mem, s, linear);
    ASSERT_TRUE(r.ok()) << format_walk(r);
    EXPECT_EQ(r.mode, PagingMode::Bits32);
    EXPECT_EQ(r.phys, 0x200456u);
    EXPECT_EQ(r.page_size, 4096u);
    EXPECT_FALSE(r.writable);
    EXPECT_TRUE(r.user);
    ASSERT_EQ(r.steps.size(), 2u);
    EXPECT_EQ(r.steps[0].level, "PDE");
    EXPECT_EQ(r.steps[0].index, 1u);
    EXPECT_EQ(r.steps[0].entry_addr, 0x10004u);
    EXPECT_EQ(r.steps[0].entry, 0x11000u | P | RW | US);
    EXPECT_TRUE(r.steps[0].present);
    EXPECT_FALSE(r.steps[0].large);
    EXPECT_EQ(r.steps[1].level, "PTE");
    EXPECT_EQ(r.steps[1].entry_addr, 0x11000u + 0x23 * 4);
    EXPECT_EQ(r.steps[1].entry, 0x200000u | P | US);
    EXPECT_FALSE(r.steps[1].writable);
    // translate() gives the walked address, not the linear one.
    EXPECT_EQ(translate(mem, s, linear), 0x200456u);
}

TEST_F(Paging32, ReadOnlyPdeMakesTheWholePageReadOnly) {
    // SDM 4.6: R/W is the AND over the levels. Here the PDE says read-only and the
    // PTE says writable: the page is read-only (not the last level's word alone).
    mem.write32(0x10000 + 1 * 4, 0x11000 | P | US);
    mem.write32(0x11000 + 0x23 * 4, 0x200000 | P | RW | US);
    s.cr0 |= CR0_WP;
    WalkResult r = walk(mem, s, (1u << 22) | (0x23u << 12), Access::Write);
    ASSERT_TRUE(r.ok()) << format_walk(r);
    EXPECT_TRUE(r.steps[1].writable);
    EXPECT_FALSE(r.writable);
    EXPECT_FALSE(r.permitted);
}

TEST_F(Paging32, FourMiBPageNeedsCr4Pse) {
    // PDE[2] maps 4 MiB at 0x400000; bits 20:13 (PSE-36 high bits) are ignored.
    mem.write32(0x10000 + 2 * 4, 0x400000 | (0xffu << 13) | P | RW | PS);
    s.cr4 = CR4_PSE;
    WalkResult r = walk(mem, s, 0x812345);
    ASSERT_TRUE(r.ok()) << format_walk(r);
    EXPECT_EQ(r.phys, 0x412345u);
    EXPECT_EQ(r.page_size, 4u << 20);
    ASSERT_EQ(r.steps.size(), 1u);
    EXPECT_TRUE(r.steps[0].large);

    // Without CR4.PSE the PS bit is ignored and the PDE points at a page table
    // (SDM 4.3): the walk goes on to a PTE at 0x400000 + 0x12 * 4, which is zero.
    s.cr4 = 0;
    r = walk(mem, s, 0x812345);
    EXPECT_EQ(r.failure, WalkFailure::NotPresent);
    ASSERT_EQ(r.steps.size(), 2u);
    EXPECT_FALSE(r.steps[0].large);
    EXPECT_EQ(r.steps[1].entry_addr, 0x5fe000u + 0x12 * 4);  // PT address is bits 31:12 of the PDE
}

TEST_F(Paging32, NotPresentAtEachLevel) {
    WalkResult r = walk(mem, s, 0x1000);
    EXPECT_EQ(r.failure, WalkFailure::NotPresent);
    EXPECT_EQ(r.failed_level(), "PDE");
    mem.write32(0x10000, 0x11000 | P);
    r = walk(mem, s, 0x1000);
    EXPECT_EQ(r.failure, WalkFailure::NotPresent);
    EXPECT_EQ(r.failed_level(), "PTE");
    EXPECT_EQ(walk(mem, s, 0x1'0000'0000).failure, WalkFailure::AddressTooWide);
}

// --- PAE paging (SDM 4.4) --------------------------------------------------------

class PagingPae : public PageWalk {
protected:
    // CR3 bits 31:5: the PDPT is only 32-byte aligned.
    PagingState s{CR0_PE | CR0_PG, 0x10020, CR4_PAE, 0};
    void SetUp() override {
        mem.write64(0x10020 + 1 * 8, 0x12000 | P);  // PDPTE[1] -> PD 0x12000 (no R/W, U/S here)
    }
};

TEST_F(PagingPae, FourKiBPage) {
    mem.write64(0x12000 + 3 * 8, 0x13000 | P | RW);  // PDE[3] -> PT
    mem.write64(0x13000 + 5 * 8, 0x7000 | P | RW);   // PTE[5] -> frame 0x7000
    std::uint64_t linear = (1u << 30) | (3u << 21) | (5u << 12) | 0x10;
    WalkResult r = walk(mem, s, linear);
    ASSERT_TRUE(r.ok()) << format_walk(r);
    EXPECT_EQ(r.mode, PagingMode::Pae);
    EXPECT_EQ(r.phys, 0x7010u);
    EXPECT_EQ(r.page_size, 4096u);
    EXPECT_TRUE(r.writable);   // the PDPTE's missing R/W bit does not count
    EXPECT_FALSE(r.user);
    ASSERT_EQ(r.steps.size(), 3u);
    EXPECT_EQ(r.steps[0].level, "PDPTE");
    EXPECT_EQ(r.steps[0].entry_addr, 0x10028u);
    EXPECT_EQ(r.steps[1].level, "PDE");
    EXPECT_EQ(r.steps[1].entry_addr, 0x12018u);
    EXPECT_EQ(r.steps[2].level, "PTE");
    EXPECT_EQ(r.steps[2].entry_addr, 0x13028u);
}

TEST_F(PagingPae, TwoMiBPageAndNoExecute) {
    mem.write64(0x12000 + 4 * 8, 0x600000 | P | PS | XD);
    std::uint64_t linear = (1u << 30) | (4u << 21) | 0x1234;
    WalkResult r = walk(mem, s, linear, Access::Fetch);
    ASSERT_TRUE(r.ok()) << format_walk(r);
    EXPECT_EQ(r.phys, 0x601234u);
    EXPECT_EQ(r.page_size, 2u << 20);
    EXPECT_FALSE(r.no_execute);  // XD only counts with EFER.NXE
    EXPECT_TRUE(r.permitted);
    s.efer = EFER_NXE;
    r = walk(mem, s, linear, Access::Fetch);
    EXPECT_TRUE(r.no_execute);
    EXPECT_FALSE(r.permitted);
}

TEST_F(PagingPae, NotPresentPdpte) {
    WalkResult r = walk(mem, s, 0x0);  // PDPTE[0] is empty
    EXPECT_EQ(r.failure, WalkFailure::NotPresent);
    EXPECT_EQ(r.failed_level(), "PDPTE");
}

TEST_F(PagingPae, AddressAbove4GiBIsTooWide) {
    // Outside IA-32e mode linear addresses have 32 bits (SDM 3.3.6). The tables map
    // the low 32 bits of this address, so only the width check can refuse it.
    mem.write64(0x12000 + 3 * 8, 0x13000 | P | RW);
    mem.write64(0x13000 + 5 * 8, 0x7000 | P | RW);
    std::uint64_t low = (1u << 30) | (3u << 21) | (5u << 12);
    ASSERT_EQ(translate(mem, s, low), 0x7000u);
    for (std::uint64_t high : {std::uint64_t{1} << 32, std::uint64_t{1} << 47, std::uint64_t{0xffff'ffff'0000'0000}}) {
        WalkResult r = walk(mem, s, high | low);
        EXPECT_EQ(r.failure, WalkFailure::AddressTooWide) << std::hex << (high | low);
        EXPECT_TRUE(r.steps.empty());
        EXPECT_EQ(translate(mem, s, high | low), std::nullopt);
    }
}

TEST_F(PagingPae, PsInAPdpteIsNotAPageSize) {
    // SDM 4.4.1, Table 4-8: a PAE PDPTE always references a page directory; bit 7
    // is reserved (the CPU would refuse to load it at MOV CR3). The walker does
    // not model reserved-bit faults: it ignores the bit and walks on to the PDE.
    mem.write64(0x10020 + 1 * 8, 0x12000 | P | PS);
    mem.write64(0x12000 + 3 * 8, 0x13000 | P | RW);
    mem.write64(0x13000 + 5 * 8, 0x7000 | P | RW);
    std::uint64_t linear = (1u << 30) | (3u << 21) | (5u << 12) | 0x10;
    WalkResult r = walk(mem, s, linear);
    ASSERT_TRUE(r.ok()) << format_walk(r);
    EXPECT_EQ(r.phys, 0x7010u);  // a 1-GiB page at 0x12000 & ~(1 GiB - 1) would give 0x3010
    EXPECT_EQ(r.page_size, 4096u);
    ASSERT_EQ(r.steps.size(), 3u);
    EXPECT_FALSE(r.steps[0].large);
}

TEST_F(PagingPae, PhysicalAddressBits51To12) {
    // SDM 4.4.2: PAE entries hold physical-address bits M-1:12 with M up to 52.
    // Bits 51:48 are address bits; bits 62:52 (reserved, not modelled) and 63 (XD) are not.
    const std::uint64_t frame = (std::uint64_t{0xf} << 48) | (std::uint64_t{0xabc} << 36) | 0x7000;
    mem.write64(0x12000 + 3 * 8, 0x13000 | P | RW | (std::uint64_t{0x7ff} << 52));
    mem.write64(0x13000 + 5 * 8, frame | P | RW | (std::uint64_t{0x7ff} << 52) | XD);
    WalkResult r = walk(mem, s, (1u << 30) | (3u << 21) | (5u << 12) | 0x10);
    ASSERT_TRUE(r.ok()) << format_walk(r);
    EXPECT_EQ(r.phys, frame | 0x10);
    ASSERT_EQ(r.steps.size(), 3u);
    EXPECT_EQ(r.steps[2].entry_addr, 0x13000u + 5 * 8);  // bits 62:52 of the PDE are not address bits
}

TEST_F(PagingPae, NoExecuteInTheLowerLevelsOfA4KiBPage) {
    // XD counts at any level, not only in a large page's entry (SDM 4.6).
    mem.write64(0x12000 + 3 * 8, 0x13000 | P | RW | XD);  // XD in the PDE of a 4-KiB page
    mem.write64(0x13000 + 5 * 8, 0x7000 | P | RW);
    mem.write64(0x12000 + 6 * 8, 0x14000 | P | RW);
    mem.write64(0x14000 + 5 * 8, 0x8000 | P | RW | XD);   // XD in the PTE only
    s.efer = EFER_NXE;
    for (unsigned pd : {3u, 6u}) {
        WalkResult r = walk(mem, s, (1u << 30) | (pd << 21) | (5u << 12), Access::Fetch);
        ASSERT_TRUE(r.ok()) << format_walk(r);
        EXPECT_EQ(r.page_size, 4096u);
        EXPECT_TRUE(r.no_execute) << "PDE " << pd;
        EXPECT_FALSE(r.permitted) << "PDE " << pd;
        EXPECT_TRUE(walk(mem, s, (1u << 30) | (pd << 21) | (5u << 12), Access::Read).permitted);
    }
}

// --- 4-level paging (SDM 4.5) ----------------------------------------------------

class Paging64 : public PageWalk {
protected:
    PagingState s{CR0_PE | CR0_PG, 0x20000, CR4_PAE, EFER_LME | EFER_LMA};
    static constexpr std::uint64_t kPml4 = 0x20000, kPdpt = 0x21000, kPd = 0x22000, kPt = 0x23000;
    void SetUp() override {
        mem.write64(kPml4 + 1 * 8, kPdpt | P | RW | US);  // PML4E[1]
        mem.write64(kPdpt + 2 * 8, kPd | P | RW | US);    // PDPTE[2]
        mem.write64(kPd + 3 * 8, kPt | P | RW);           // PDE[3], supervisor
        mem.write64(kPt + 4 * 8, 0x345000 | P | RW | US); // PTE[4]
    }
    static std::uint64_t la(std::uint64_t pml4, std::uint64_t pdpt, std::uint64_t pd, std::uint64_t pt,
                            std::uint64_t off) {
        return pml4 << 39 | pdpt << 30 | pd << 21 | pt << 12 | off;
    }
};

TEST_F(Paging64, FourKiBPageAndTrace) {
    WalkResult r = walk(mem, s, la(1, 2, 3, 4, 0x678));
    ASSERT_TRUE(r.ok()) << format_walk(r);
    EXPECT_EQ(r.mode, PagingMode::FourLevel);
    EXPECT_EQ(r.phys, 0x345678u);
    EXPECT_EQ(r.page_size, 4096u);
    EXPECT_TRUE(r.writable);
    EXPECT_FALSE(r.user);  // the PDE is supervisor-only
    ASSERT_EQ(r.steps.size(), 4u);
    const char* names[] = {"PML4E", "PDPTE", "PDE", "PTE"};
    const std::uint64_t addrs[] = {kPml4 + 8, kPdpt + 16, kPd + 24, kPt + 32};
    const std::uint64_t entries[] = {kPdpt | P | RW | US, kPd | P | RW | US, kPt | P | RW, 0x345000 | P | RW | US};
    for (std::size_t i = 0; i < 4; ++i) {
        SCOPED_TRACE(names[i]);
        EXPECT_EQ(r.steps[i].level, names[i]);
        EXPECT_EQ(r.steps[i].index, i + 1);
        EXPECT_EQ(r.steps[i].entry_addr, addrs[i]);
        EXPECT_EQ(r.steps[i].entry, entries[i]);
        EXPECT_TRUE(r.steps[i].readable);
        EXPECT_TRUE(r.steps[i].present);
        EXPECT_FALSE(r.steps[i].large);
    }
    EXPECT_EQ(bytes_to_page_end(r.linear, r.page_size), 0x1000u - 0x678);
}

TEST_F(Paging64, TwoMiBPage) {
    mem.write64(kPd + 5 * 8, 0x600000 | P | PS | (1u << 12));  // bit 12 is PAT, not address
    WalkResult r = walk(mem, s, la(1, 2, 5, 0x1a, 0x2bc));
    ASSERT_TRUE(r.ok()) << format_walk(r);
    EXPECT_EQ(r.phys, 0x600000u + (0x1au << 12) + 0x2bc);
    EXPECT_EQ(r.page_size, 2u << 20);
    ASSERT_EQ(r.steps.size(), 3u);
    EXPECT_TRUE(r.steps[2].large);
    EXPECT_FALSE(r.writable);
}

TEST_F(Paging64, OneGiBPageOutsideRam) {
    // The page lies far beyond the 8 MiB of RAM: translation is arithmetic only.
    mem.write64(kPdpt + 7 * 8, (std::uint64_t{5} << 30) | P | RW | PS | (1u << 12));
    WalkResult r = walk(mem, s, la(1, 7, 0x1ff, 0x1ff, 0xfff));
    ASSERT_TRUE(r.ok()) << format_walk(r);
    EXPECT_EQ(r.phys, (std::uint64_t{5} << 30) + 0x3fff'ffff);
    EXPECT_EQ(r.page_size, std::uint64_t{1} << 30);
    ASSERT_EQ(r.steps.size(), 2u);
    EXPECT_TRUE(r.steps[1].large);
    EXPECT_EQ(bytes_to_page_end(r.linear, r.page_size), 1u);
}

TEST_F(Paging64, HigherHalfCanonicalAddress) {
    mem.write64(kPml4 + 511 * 8, kPdpt | P | RW);
    mem.write64(kPdpt + 511 * 8, (std::uint64_t{1} << 30) | P | RW | PS);
    WalkResult r = walk(mem, s, 0xffff'ffff'c000'1234);
    ASSERT_TRUE(r.ok()) << format_walk(r);
    EXPECT_EQ(r.phys, (std::uint64_t{1} << 30) + 0x1234);
}

TEST_F(Paging64, NonCanonicalAddressFailsBeforeAnyRead) {
    for (std::uint64_t a : {std::uint64_t{0x0000'8000'0000'0000}, std::uint64_t{0xffff'7fff'ffff'ffff},
                            std::uint64_t{0x0001'0000'0000'0000}}) {
        WalkResult r = walk(mem, s, a);
        EXPECT_EQ(r.failure, WalkFailure::NonCanonical) << std::hex << a;
        EXPECT_TRUE(r.steps.empty());
        EXPECT_EQ(r.failed_level(), "");
    }
}

TEST_F(Paging64, NotPresentAtEachLevel) {
    struct Case {
        std::uint64_t linear;
        const char* level;
        std::size_t steps;
    };
    for (const Case& c : {Case{la(0, 0, 0, 0, 0), "PML4E", 1}, Case{la(1, 0, 0, 0, 0), "PDPTE", 2},
                          Case{la(1, 2, 0, 0, 0), "PDE", 3}, Case{la(1, 2, 3, 0, 0), "PTE", 4}}) {
        WalkResult r = walk(mem, s, c.linear);
        EXPECT_EQ(r.failure, WalkFailure::NotPresent) << c.level;
        EXPECT_EQ(r.failed_level(), c.level);
        ASSERT_EQ(r.steps.size(), c.steps);
        EXPECT_FALSE(r.steps.back().present);
        EXPECT_EQ(translate(mem, s, c.linear), std::nullopt);
    }
}

TEST_F(Paging64, TablesOutsideRam) {
    // CR3 itself beyond RAM: the first entry cannot be read.
    PagingState far = s;
    far.cr3 = 0x1000'0000;
    WalkResult r = walk(mem, far, la(1, 2, 3, 4, 0));
    EXPECT_EQ(r.failure, WalkFailure::TableOutsideRam);
    EXPECT_EQ(r.failed_level(), "PML4E");
    ASSERT_EQ(r.steps.size(), 1u);
    EXPECT_FALSE(r.steps[0].readable);
    EXPECT_EQ(r.steps[0].entry_addr, 0x1000'0000u + 8);

    // A PDE pointing at a page table past the end of RAM: the walk stops at the PTE.
    mem.write64(kPd + 6 * 8, (std::uint64_t{1} << 40) | P | RW);
    r = walk(mem, s, la(1, 2, 6, 0, 0));
    EXPECT_EQ(r.failure, WalkFailure::TableOutsideRam);
    EXPECT_EQ(r.failed_level(), "PTE");
    EXPECT_EQ(r.steps.back().entry_addr, std::uint64_t{1} << 40);
}

TEST_F(Paging64, WritePermissionFollowsCr0Wp) {
    mem.write64(kPt + 9 * 8, 0x9000 | P);  // read-only page
    EXPECT_TRUE(walk(mem, s, la(1, 2, 3, 9, 0), Access::Read).permitted);
    EXPECT_TRUE(walk(mem, s, la(1, 2, 3, 9, 0), Access::Write).permitted);  // WP=0: supervisor may write
    s.cr0 |= CR0_WP;
    WalkResult r = walk(mem, s, la(1, 2, 3, 9, 0), Access::Write);
    EXPECT_TRUE(r.ok());  // permissions never fail a walk
    EXPECT_FALSE(r.permitted);
}

TEST_F(Paging64, TranslateGivesTheWalkedAddress) {
    // Non-identity mappings at every page size: translate() must return the
    // physical address the tables give, never the linear one.
    mem.write64(kPd + 5 * 8, 0x600000 | P | RW | PS);
    mem.write64(kPdpt + 7 * 8, (std::uint64_t{5} << 30) | P | RW | PS);
    EXPECT_EQ(translate(mem, s, la(1, 2, 3, 4, 0x678)), 0x345678u);
    EXPECT_EQ(translate(mem, s, la(1, 2, 5, 0x1a, 0x2bc)), 0x600000u + (0x1au << 12) + 0x2bc);
    EXPECT_EQ(translate(mem, s, la(1, 7, 0x12, 0x34, 0x56)), (std::uint64_t{5} << 30) + (0x12u << 21) + (0x34u << 12) + 0x56);
}

TEST_F(Paging64, ReadOnlyInAnyLevelMakesThePageReadOnly) {
    // SDM 4.6: a page is writable only if R/W is set in every entry of the walk.
    // The PTE says writable each time; one upper level says read-only.
    s.cr0 |= CR0_WP;
    ASSERT_TRUE(walk(mem, s, la(1, 2, 3, 4, 0), Access::Write).writable);
    struct Case {
        const char* level;
        std::uint64_t addr, value;
    };
    for (const Case& c : {Case{"PML4E", kPml4 + 1 * 8, kPdpt | P | US}, Case{"PDPTE", kPdpt + 2 * 8, kPd | P | US},
                          Case{"PDE", kPd + 3 * 8, kPt | P}}) {
        SCOPED_TRACE(c.level);
        const std::uint64_t saved = mem.read64(c.addr);
        mem.write64(c.addr, c.value);
        WalkResult r = walk(mem, s, la(1, 2, 3, 4, 0), Access::Write);
        ASSERT_TRUE(r.ok()) << format_walk(r);
        EXPECT_TRUE(r.steps.back().writable);
        EXPECT_FALSE(r.writable);
        EXPECT_FALSE(r.permitted);
        mem.write64(c.addr, saved);
    }
}

TEST_F(Paging64, NoExecuteAtAnyLevel) {
    // SDM 4.6: with EFER.NXE, XD in any entry of the walk forbids fetches, for a
    // 4-KiB page as for a large one; without NXE bit 63 means nothing.
    struct Case {
        const char* level;
        std::uint64_t addr;
    };
    for (const Case& c : {Case{"PML4E", kPml4 + 1 * 8}, Case{"PDPTE", kPdpt + 2 * 8}, Case{"PDE", kPd + 3 * 8},
                          Case{"PTE", kPt + 4 * 8}}) {
        SCOPED_TRACE(c.level);
        const std::uint64_t saved = mem.read64(c.addr);
        mem.write64(c.addr, saved | XD);
        s.efer = EFER_LME | EFER_LMA;
        WalkResult r = walk(mem, s, la(1, 2, 3, 4, 0), Access::Fetch);
        ASSERT_TRUE(r.ok()) << format_walk(r);
        EXPECT_FALSE(r.no_execute);
        EXPECT_TRUE(r.permitted);
        s.efer |= EFER_NXE;
        r = walk(mem, s, la(1, 2, 3, 4, 0), Access::Fetch);
        ASSERT_TRUE(r.ok()) << format_walk(r);
        EXPECT_EQ(r.page_size, 4096u);
        EXPECT_EQ(r.phys, 0x345000u);  // XD is not an address bit
        EXPECT_TRUE(r.no_execute);
        EXPECT_FALSE(r.permitted);
        EXPECT_TRUE(walk(mem, s, la(1, 2, 3, 4, 0), Access::Read).permitted);
        mem.write64(c.addr, saved);
    }
}

TEST_F(Paging64, PsInAPml4eIsNotAPageSize) {
    // SDM 4.5.4, Table 4-15: bit 7 of a PML4E is reserved (a 512-GiB page does not
    // exist). The walker models no reserved-bit faults: it ignores the bit and
    // walks on through the PDPT it points to.
    mem.write64(kPml4 + 1 * 8, kPdpt | P | RW | US | PS);
    WalkResult r = walk(mem, s, la(1, 2, 3, 4, 0x678));
    ASSERT_TRUE(r.ok()) << format_walk(r);
    EXPECT_EQ(r.phys, 0x345678u);
    EXPECT_EQ(r.page_size, 4096u);
    ASSERT_EQ(r.steps.size(), 4u);
    EXPECT_FALSE(r.steps[0].large);
}

TEST_F(Paging64, PhysicalAddressBits51To12) {
    // SDM 4.5.4: entries hold physical-address bits M-1:12, M up to 52 (MAXPHYADDR).
    // Bits 51:48 are address bits, in table pointers and in page frames; bits 62:52
    // (ignored, or protection keys) and 63 (XD) are not.
    const std::uint64_t high = std::uint64_t{0xf} << 48, ignored = std::uint64_t{0x7ff} << 52;
    mem.write64(kPt + 9 * 8, high | 0x345000 | P | RW | ignored | XD);
    WalkResult r = walk(mem, s, la(1, 2, 3, 9, 0x678));
    ASSERT_TRUE(r.ok()) << format_walk(r);
    EXPECT_EQ(r.phys, high | 0x345678);
    // A 1-GiB page at 2^51: only bit 51 and bit 30 set in the address field.
    mem.write64(kPdpt + 7 * 8, (std::uint64_t{1} << 51) | (std::uint64_t{1} << 30) | P | RW | PS | ignored);
    r = walk(mem, s, la(1, 7, 0, 0, 0x10));
    ASSERT_TRUE(r.ok()) << format_walk(r);
    EXPECT_EQ(r.phys, (std::uint64_t{1} << 51) | (std::uint64_t{1} << 30) | 0x10);
    // A table pointer with bit 48 set: the next entry is read from above 2^48,
    // outside RAM, rather than from the low address a 48-bit mask would give.
    mem.write64(kPd + 6 * 8, (std::uint64_t{1} << 48) | kPt | P | RW);
    r = walk(mem, s, la(1, 2, 6, 4, 0));
    EXPECT_EQ(r.failure, WalkFailure::TableOutsideRam);
    EXPECT_EQ(r.steps.back().entry_addr, (std::uint64_t{1} << 48) | (kPt + 4 * 8));
}

TEST_F(Paging64, SmepForbidsFetchingFromUserPages) {
    // SDM 4.6.1: with CR4.SMEP, a supervisor-mode fetch from a user-mode page is
    // not allowed (whatever XD says); supervisor pages and data reads are fine.
    mem.write64(kPd + 3 * 8, kPt | P | RW | US);  // the whole path user-accessible
    ASSERT_TRUE(walk(mem, s, la(1, 2, 3, 4, 0)).user);
    EXPECT_TRUE(walk(mem, s, la(1, 2, 3, 4, 0), Access::Fetch).permitted);  // SMEP off
    s.cr4 |= CR4_SMEP;
    WalkResult r = walk(mem, s, la(1, 2, 3, 4, 0), Access::Fetch);
    ASSERT_TRUE(r.ok()) << format_walk(r);
    EXPECT_TRUE(r.user);
    EXPECT_FALSE(r.permitted);
    EXPECT_TRUE(walk(mem, s, la(1, 2, 3, 4, 0), Access::Read).permitted);
    // A supervisor page (U/S clear in the PDE) may be fetched from under SMEP.
    mem.write64(kPd + 3 * 8, kPt | P | RW);
    r = walk(mem, s, la(1, 2, 3, 4, 0), Access::Fetch);
    EXPECT_FALSE(r.user);
    EXPECT_TRUE(r.permitted);
}

TEST_F(Paging64, FiveLevelIsReportedUnsupported) {
    s.cr4 |= CR4_LA57;
    WalkResult r = walk(mem, s, 0x1000);
    EXPECT_EQ(r.mode, PagingMode::FiveLevel);
    EXPECT_EQ(r.failure, WalkFailure::Unsupported);
}

TEST_F(Paging64, FormatWalkShowsEveryLevel) {
    std::string ok = format_walk(walk(mem, s, la(1, 2, 3, 4, 0x678)));
    for (const char* part : {"4-level paging", "PML4E[  1] @ 0x0000000000020008 = 0x0000000000021007",
                             "PDPTE[  2]", "PDE  [  3]", "PTE  [  4]", "=> phys 0x0000000000345678",
                             "4 KiB page", "supervisor"}) {
        EXPECT_NE(ok.find(part), std::string::npos) << part << "\n" << ok;
    }
    std::string bad = format_walk(walk(mem, s, la(1, 2, 3, 0, 0)));
    EXPECT_NE(bad.find("not present"), std::string::npos) << bad;
    EXPECT_NE(bad.find("no translation: PTE not present"), std::string::npos) << bad;
    std::string noncanon = format_walk(walk(mem, s, 0x0000'8000'0000'0000));
    EXPECT_NE(noncanon.find("non-canonical"), std::string::npos) << noncanon;
}

TEST(BytesToPageEnd, Arithmetic) {
    EXPECT_EQ(bytes_to_page_end(0x1000, 4096), 4096u);
    EXPECT_EQ(bytes_to_page_end(0x1fff, 4096), 1u);
    EXPECT_EQ(bytes_to_page_end(0x200001, 2u << 20), (2u << 20) - 1);
    EXPECT_EQ(bytes_to_page_end(0xffff'ffff'ffff'f000, 4096), 4096u);
}

}  // namespace
}  // namespace kvmgdb
