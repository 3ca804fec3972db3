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
    EXPECT_EQ(wide.start, 0xffff800000000000u);
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

}  // namespace
}  // namespace kvmgdb::debug
