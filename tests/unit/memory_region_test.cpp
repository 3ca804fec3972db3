// region_at (src/debug/memory_region.cpp): what LLDB's qMemoryRegionInfo and the
// error text of a failed read say, over hand-built page tables in an 8 MiB RAM.
#include "debug/memory_region.hpp"

#include <gtest/gtest.h>

namespace kvmgdb::debug {
namespace {

constexpr std::uint64_t P = 1, RW = 2, PS = 0x80, XD = std::uint64_t{1} << 63;
constexpr std::uint64_t CR0_PE = 1, CR0_PG = 1u << 31, CR4_PAE = 1u << 5;
constexpr std::uint64_t EFER_LME = 1u << 8, EFER_LMA = 1u << 10, EFER_NXE = 1u << 11;

class Region : public ::testing::Test {
protected:
    GuestMemory mem{8 << 20};
};

TEST_F(Region, WithoutPagingAllOfRamIsOneRegion) {
    PagingState flat{CR0_PE, 0, 0, 0};
    stub::MemoryRegion r = region_at(mem, flat, false, 0x123456);
    EXPECT_TRUE(r.mapped && r.readable && r.writable && r.executable);
    EXPECT_EQ(r.start, 0u);
    EXPECT_EQ(r.size, 8u << 20);
    stub::MemoryRegion above = region_at(mem, flat, false, 0x900000);
    EXPECT_FALSE(above.mapped);
    EXPECT_EQ(above.start, 8u << 20);
    // Up to the end of a 32-bit mode's address space (LLDB walks regions up to it).
    EXPECT_EQ(above.start + above.size, std::uint64_t{1} << 32);
    EXPECT_EQ(above.why_unmapped, "address 0x900000 is above the guest's RAM (8 MiB, no paging)");
    stub::MemoryRegion wide = region_at(mem, flat, false, 0xffff800000000000);
    EXPECT_FALSE(wide.mapped);
    // Everything from 4 GiB is one region, to the last address (LLDB stops there).
    EXPECT_EQ(wide.start, std::uint64_t{1} << 32);
    EXPECT_EQ(wide.start + wide.size, ~std::uint64_t{0});
    EXPECT_EQ(region_at(mem, flat, false, std::uint64_t{1} << 32).start, std::uint64_t{1} << 32);
    EXPECT_EQ(wide.why_unmapped,
              "address 0xffff800000000000 is above 4 GiB, which a 32-bit mode cannot address");
}

TEST_F(Region, InLongModeTheLastRegionEndsAtTheLastAddress) {
    PagingState identity{CR0_PE | CR0_PG, 0x10000, CR4_PAE, EFER_LME | EFER_LMA};
    stub::MemoryRegion r = region_at(mem, identity, true, 0x900000);  // physical: the same RAM
    EXPECT_FALSE(r.mapped);
    EXPECT_EQ(r.start + r.size, ~std::uint64_t{0});  // no wrap to 0
}

TEST_F(Region, PhysicalAddressesIgnoreThePageTables) {
    PagingState paged{CR0_PE | CR0_PG, 0x10000, 0, 0};  // nothing mapped in its tables
    EXPECT_TRUE(region_at(mem, paged, true, 0x1000).mapped);
    stub::MemoryRegion r = region_at(mem, paged, true, 0x800000);
    EXPECT_FALSE(r.mapped);
    EXPECT_EQ(r.why_unmapped, "guest-physical address 0x800000 is above the guest's RAM (8 MiB; monitor phys is on)");
    // Above RAM to the last address, whatever the address asked about (no region
    // that only grows to hold it).
    EXPECT_EQ(r.start, 8u << 20);
    EXPECT_EQ(r.start + r.size, ~std::uint64_t{0});
    stub::MemoryRegion high = region_at(mem, paged, true, 0x123456789);
    EXPECT_EQ(high.start, r.start);
    EXPECT_EQ(high.size, r.size);
}

// LLDB's walk over every region (GetMemoryRegions, `memory region --all`,
// save-core): qMemoryRegionInfo at 0, then at each region's end, until a region
// ends at the last address. Returns the number of regions, or 0 if they did not
// follow on from each other or it took more than `limit`.
std::size_t lldb_region_walk(const GuestMemory& mem, const PagingState& s, bool physical, std::size_t limit) {
    std::uint64_t addr = 0;
    for (std::size_t n = 1; n <= limit; ++n) {
        stub::MemoryRegion r = region_at(mem, s, physical, addr);
        if (r.start != addr || r.size == 0 || r.size > ~std::uint64_t{0} - r.start) return 0;
        addr = r.start + r.size;
        if (addr == ~std::uint64_t{0}) return n;
    }
    return 0;
}

TEST_F(Region, LldbWalksEveryRegionInAFewSteps) {
    EXPECT_EQ(lldb_region_walk(mem, {CR0_PE, 0, 0, 0}, false, 100), 3u);  // RAM, to 4 GiB, the rest
    EXPECT_EQ(lldb_region_walk(mem, {CR0_PE, 0, 0, 0}, true, 100), 2u);
    // 32-bit paging with an empty page directory: one step per PDE (4 MiB each).
    EXPECT_EQ(lldb_region_walk(mem, {CR0_PE | CR0_PG, 0x10000, 0, 0}, false, 2000), 1024u + 1);
}

class LongModeRegion : public Region {
protected:
    // PML4 at 0x10000, PDPT at 0x11000, PD at 0x12000; PT at 0x13000 for PD[1].
    PagingState s{CR0_PE | CR0_PG, 0x10000, CR4_PAE, EFER_LME | EFER_LMA | EFER_NXE};
    void SetUp() override {
        mem.write64(0x10000, 0x11000 | P | RW);
        mem.write64(0x11000, 0x12000 | P | RW);
        mem.write64(0x12000, 0x000000 | P | RW | PS);       // PD[0]: 2 MiB at 0, writable, executable
        mem.write64(0x12000 + 8, 0x13000 | P | RW);        // PD[1] -> PT
        mem.write64(0x13000 + 5 * 8, 0x300000 | P | XD);    // PT[5]: 4 KiB, read-only, no-execute
        mem.write64(0x13000 + 6 * 8, 0x40000000 | P | RW);  // PT[6]: a frame past RAM
    }
};

TEST_F(LongModeRegion, APageAndItsPermissions) {
    stub::MemoryRegion big = region_at(mem, s, false, 0x1234);
    EXPECT_TRUE(big.mapped);
    EXPECT_EQ(big.start, 0u);
    EXPECT_EQ(big.size, 2u << 20);
    EXPECT_TRUE(big.readable && big.writable && big.executable);
    stub::MemoryRegion small = region_at(mem, s, false, 0x205abc);
    EXPECT_TRUE(small.mapped);
    EXPECT_EQ(small.start, 0x205000u);
    EXPECT_EQ(small.size, 0x1000u);
    EXPECT_TRUE(small.readable);
    EXPECT_FALSE(small.writable);
    EXPECT_FALSE(small.executable);
}

TEST_F(LongModeRegion, UnmappedSaysWhy) {
    stub::MemoryRegion hole = region_at(mem, s, false, 0x207010);
    EXPECT_FALSE(hole.mapped);
    EXPECT_EQ(hole.start, 0x207000u);
    EXPECT_EQ(hole.size, 0x1000u);
    EXPECT_EQ(hole.why_unmapped, "address 0x207010 is not mapped in the guest's page tables (PTE not present)");
    EXPECT_EQ(region_at(mem, s, false, 0x400000).why_unmapped,
              "address 0x400000 is not mapped in the guest's page tables (PDE not present)");
    EXPECT_EQ(region_at(mem, s, false, 0x206000).why_unmapped,
              "address 0x206000 maps to guest-physical 0x40000000, above the guest's RAM (8 MiB)");
    EXPECT_EQ(region_at(mem, s, false, 0x800000000000).why_unmapped,
              "address 0x800000000000 is not mapped in the guest's page tables (non-canonical address)");
}

// An entry that is not present leaves unmapped all it would map.
TEST_F(LongModeRegion, UnmappedSpansTheEntryThatIsMissing) {
    auto span = [&](std::uint64_t addr) {
        stub::MemoryRegion r = region_at(mem, s, false, addr);
        EXPECT_FALSE(r.mapped) << std::hex << addr;
        return std::make_pair(r.start, r.size);
    };
    EXPECT_EQ(span(0x400010), std::make_pair(std::uint64_t{0x400000}, std::uint64_t{2} << 20));  // PDE
    EXPECT_EQ(span(0x40001000), std::make_pair(std::uint64_t{1} << 30, std::uint64_t{1} << 30));  // PDPTE
    EXPECT_EQ(span(0x8000001000), std::make_pair(std::uint64_t{1} << 39, std::uint64_t{1} << 39));  // PML4E
    // The non-canonical hole is one region, and the top PML4E's ends at the last address.
    EXPECT_EQ(span(0x123400000000000), std::make_pair(std::uint64_t{1} << 47, 0xffff000000000000u));
    EXPECT_EQ(span(0xffffffff80001000), std::make_pair(0xffffff8000000000u, 0x7fffffffffu));
    // A PML4E whose PDPT lies past RAM: all 512 GiB it covers, in one region.
    mem.write64(0x10000 + 2 * 8, 0x40000000 | P | RW);
    EXPECT_EQ(span(0x10000001000), std::make_pair(std::uint64_t{2} << 39, std::uint64_t{1} << 39));
    // A PTE whose frame is past RAM: that page.
    EXPECT_EQ(span(0x206800), std::make_pair(std::uint64_t{0x206000}, std::uint64_t{0x1000}));
}

// A page larger than what RAM holds of it is mapped only as far as RAM goes.
TEST_F(LongModeRegion, APageIsCutWhereRamEnds) {
    mem.write64(0x11000 + 2 * 8, 0x0 | P | RW | PS);  // PDPT[2]: 1 GiB at 2 GiB onto physical 0
    stub::MemoryRegion r = region_at(mem, s, false, 0x80001234);
    EXPECT_TRUE(r.mapped);
    EXPECT_EQ(r.start, 0x80000000u);
    EXPECT_EQ(r.size, 8u << 20);
    stub::MemoryRegion past = region_at(mem, s, false, 0x80900000);
    EXPECT_FALSE(past.mapped);
    EXPECT_EQ(past.start, 0x80800000u);
    EXPECT_EQ(past.start + past.size, 0xc0000000u);
    EXPECT_EQ(past.why_unmapped, "address 0x80900000 maps to guest-physical 0x900000, above the guest's RAM (8 MiB)");
}

TEST_F(LongModeRegion, LldbWalksEveryRegionInAFewSteps) {
    // 2 MiB, PT's 512 pages, 510 PDEs, 511 PDPTEs, 255 PML4Es, the hole, 256 PML4Es.
    EXPECT_EQ(lldb_region_walk(mem, s, false, 5000), 1u + 512 + 510 + 511 + 255 + 1 + 256);
}

}  // namespace
}  // namespace kvmgdb::debug
