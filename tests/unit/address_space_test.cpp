// AddressSpace and the pc gdb sees, over hand-built 32-bit page tables in a small
// GuestMemory (SDM Vol. 3A 4.3); expected addresses are worked out by hand.
#include "debug/address_space.hpp"

#include <gtest/gtest.h>

#include <tuple>
#include <vector>

namespace kvmgdb::debug {
namespace {

constexpr std::uint64_t P = 1, RW = 2;
constexpr std::uint64_t CR0_PE = 1, CR0_PG = 1u << 31;
constexpr std::uint64_t EFER_LME = 1u << 8, EFER_LMA = 1u << 10;

TEST(LinearPc, RealModeAddsCsBase) {
    kvm_regs r{};
    kvm_sregs s{};
    r.rip = 0x0005;
    s.cs.base = 0x8000;  // CS = 0x0800
    EXPECT_EQ(linear_pc(r, s), 0x8005u);
}

TEST(LinearPc, ThirtyTwoBitWrapsAtFourGiB) {
    kvm_regs r{};
    kvm_sregs s{};
    s.cr0 = CR0_PE;
    s.cs.base = 0xffff'f000;
    r.rip = 0x2000;
    EXPECT_EQ(linear_pc(r, s), 0x1000u);
}

TEST(LinearPc, SixtyFourBitCodeIgnoresCsBase) {
    kvm_regs r{};
    kvm_sregs s{};
    s.efer = EFER_LME | EFER_LMA;
    s.cs.l = 1;
    s.cs.base = 0x1000;
    r.rip = 0xffff'8000'0000'1234;
    EXPECT_EQ(linear_pc(r, s), 0xffff'8000'0000'1234u);
    s.cs.l = 0;  // compatibility mode: the base counts again
    r.rip = 0x10;
    EXPECT_EQ(linear_pc(r, s), 0x1010u);
}

TEST(PagingOf, TakesTheFourPagingRegisters) {
    kvm_sregs s{};
    s.cr0 = 0x8000'0011;
    s.cr3 = 0x5000;
    s.cr4 = 0x20;
    s.efer = 0x500;
    PagingState p = paging_of(s);
    EXPECT_EQ(p.cr0, 0x8000'0011u);
    EXPECT_EQ(p.cr3, 0x5000u);
    EXPECT_EQ(p.cr4, 0x20u);
    EXPECT_EQ(p.efer, 0x500u);
}

class AddressSpaceTest : public ::testing::Test {
protected:
    GuestMemory mem{64 * 1024};  // 16 pages
    AddressSpace space{mem};
    PagingState flat{CR0_PE, 0, 0, 0};
    // 32-bit paging rooted at 0x1000: linear 0x400000 -> frame 0x3000, 0x401000 -> 0x5000,
    // 0x402000 not present.
    PagingState paged{CR0_PE | CR0_PG, 0x1000, 0, 0};
    void SetUp() override {
        mem.write32(0x1000 + 1 * 4, 0x2000 | P | RW);  // PDE[1] -> page table at 0x2000
        mem.write32(0x2000 + 0 * 4, 0x3000 | P | RW);
        mem.write32(0x2000 + 1 * 4, 0x5000 | P | RW);
    }
};

TEST_F(AddressSpaceTest, WithoutPagingIsIdentityUpToThePageEnd) {
    auto t = space.to_phys(flat, 0x1ff0);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->first, 0x1ff0u);
    EXPECT_EQ(t->second, 0x10u);
}

TEST_F(AddressSpaceTest, AddressesOutsideRamAreNotMapped) {
    EXPECT_FALSE(space.to_phys(flat, 0x10000));
    auto last = space.to_phys(flat, 0xffff);
    ASSERT_TRUE(last);
    EXPECT_EQ(last->second, 1u);
}

TEST_F(AddressSpaceTest, PagedAddressesWalkTheTables) {
    auto t = space.to_phys(paged, 0x401234);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->first, 0x5234u);
    EXPECT_EQ(t->second, 0x1000u - 0x234u);
    EXPECT_FALSE(space.to_phys(paged, 0x402000));
}

TEST_F(AddressSpaceTest, PhysicalModeIgnoresPaging) {
    space.set_physical(true);
    EXPECT_TRUE(space.physical());
    auto t = space.to_phys(paged, 0x5234);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->first, 0x5234u);
    EXPECT_FALSE(space.to_phys(paged, 0x401234));  // beyond RAM as a physical address
}

TEST_F(AddressSpaceTest, RunsSplitAtPagesAndStopAtTheFirstUnmappedByte) {
    std::vector<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>> runs;
    std::uint64_t covered = space.for_each_phys_run(paged, 0x400ff0, 0x2000, [&](auto phys, auto at, auto n) {
        runs.emplace_back(phys, at, n);
    });
    // 0x400ff0..0x401000 -> 0x3ff0, 0x401000..0x402000 -> 0x5000, then 0x402000 is not present.
    EXPECT_EQ(covered, 0x1010u);
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_EQ(runs[0], std::make_tuple(0x3ff0ull, 0ull, 0x10ull));
    EXPECT_EQ(runs[1], std::make_tuple(0x5000ull, 0x10ull, 0x1000ull));
}

}  // namespace
}  // namespace kvmgdb::debug
