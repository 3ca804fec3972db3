// BreakpointManager without KVM: a 64 KiB GuestMemory and a fake memslot sink that
// records every KVM_SET_USER_MEMORY_REGION it would have made (and can refuse one).
// Expected layouts are worked out by hand from the pages each test protects.
#include "debug/breakpoints.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <elf.h>
#include <linux/kvm.h>
#include <memory>
#include <string>
#include <vector>

#include "kvm/kvm_error.hpp"

namespace kvmgdb::debug {
namespace {

using stub::BreakpointKind;

constexpr std::uint32_t RO = KVM_MEM_READONLY;
constexpr std::uint64_t kRam = 0x10000;

struct SlotCall {
    std::uint32_t slot, flags;
    std::uint64_t phys, size;
    bool operator==(const SlotCall&) const = default;
};

std::ostream& operator<<(std::ostream& o, const SlotCall& c) {
    return o << "{slot " << c.slot << " flags " << c.flags << " phys 0x" << std::hex << c.phys << " size 0x"
             << c.size << std::dec << "}";
}

SlotCall del(std::uint32_t slot) { return {slot, 0, 0, 0}; }

class Breakpoints : public ::testing::Test {
protected:
    GuestMemory mem{kRam};
    AddressSpace space{mem};
    GuestImage image;
    SystemArea area;
    Mechanisms mech;  // HLT patches and page protection, as in the nested KVM
    std::vector<SlotCall> calls;
    std::function<bool(const SlotCall&)> refuse;  // true: the fake KVM refuses that call
    std::string diag;
    std::vector<std::uint64_t> pcs;
    PagingState paging{1, 0, 0, 0};  // CR0.PE, no paging
    std::unique_ptr<BreakpointManager> bps;

    void make() {
        bps = std::make_unique<BreakpointManager>(
            mem, space, mech,
            [this](std::uint32_t slot, std::uint32_t flags, std::uint64_t phys, std::uint64_t size) {
                SlotCall c{slot, flags, phys, size};
                if (refuse && refuse(c)) throw KvmError("KVM_SET_USER_MEMORY_REGION", ENOSPC);
                calls.push_back(c);
            },
            image, area, [this](std::string_view s) { diag += s; });
    }
    void SetUp() override { make(); }

    InsertContext ctx() const { return {paging, [this] { return pcs; }}; }
    stub::TargetStatus insert(BreakpointKind k, std::uint64_t addr, std::uint64_t len = 1) {
        return bps->insert(k, addr, len, ctx());
    }
    std::uint8_t shown(std::uint64_t addr) const {
        std::uint8_t b = 0;
        EXPECT_EQ(bps->read_memory(paging, addr, std::span<std::uint8_t>(&b, 1)), 1u);
        return b;
    }
};

TEST_F(Breakpoints, SoftwareBreakpointPatchesHidesAndRestoresTheByte) {
    mem.write8(0x2345, 0x90);
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2345).is_ok());
    EXPECT_EQ(mem.read8(0x2345), kHlt);
    EXPECT_EQ(shown(0x2345), 0x90);
    ASSERT_NE(bps->patch_at(0x2345), nullptr);
    EXPECT_TRUE(bps->patch_at(0x2345)->software);
    EXPECT_EQ(bps->patch_at(0x2346), nullptr);
    // Its page becomes read-only, so that a guest write over the patch exits.
    std::vector<SlotCall> want{del(0), {0, 0, 0, 0x2000}, {1, RO, 0x2000, 0x1000}, {2, 0, 0x3000, 0xd000}};
    EXPECT_EQ(calls, want);
    EXPECT_TRUE(bps->is_protected(0x2fff));
    EXPECT_FALSE(bps->is_protected(0x3000));

    calls.clear();
    ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x2345, 1).is_ok());
    EXPECT_EQ(mem.read8(0x2345), 0x90);
    // The page stays read-only until the next continue (gdb may be stepping over it).
    EXPECT_TRUE(calls.empty());
    EXPECT_TRUE(bps->has_spare_pages());
    bps->release_spare_pages();
    std::vector<SlotCall> plain{del(0), del(1), del(2), {0, 0, 0, kRam}};
    EXPECT_EQ(calls, plain);
    EXPECT_FALSE(bps->any_protected());
    EXPECT_FALSE(bps->has_spare_pages());
    EXPECT_EQ(bps->remove(BreakpointKind::Software, 0x2345, 1).errno_value, ENOENT);
}

// gdb's step over a breakpoint (z0, s, Z0, c) and a false condition's (the same, by
// the session) must not re-lay out the memslots: under nested KVM two layouts a hit
// were most of a hit's cost (docs/performance.md).
TEST_F(Breakpoints, SteppingOverABreakpointLeavesTheMemslotsAlone) {
    mem.write8(0x2345, 0x90);
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2345).is_ok());
    calls.clear();
    for (int hit = 0; hit < 3; ++hit) {
        ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x2345, 1).is_ok());
        EXPECT_EQ(mem.read8(0x2345), 0x90);   // the step runs the guest's byte
        EXPECT_TRUE(bps->is_protected(0x2345));
        ASSERT_TRUE(insert(BreakpointKind::Software, 0x2345).is_ok());
        EXPECT_EQ(mem.read8(0x2345), kHlt);
        bps->release_spare_pages();          // the continue
    }
    EXPECT_TRUE(calls.empty());
    EXPECT_FALSE(bps->has_spare_pages());
    // A spare page is not kept across remove_all (detach): plain RAM at once.
    ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x2345, 1).is_ok());
    bps->remove_all();
    EXPECT_FALSE(bps->any_protected());
    EXPECT_EQ(calls.back(), (SlotCall{0, 0, 0, kRam}));
}

TEST_F(Breakpoints, Int3MechanismPatchesCcAndAsksForSwBp) {
    mech.software = BreakMechanism::Int3;
    make();
    EXPECT_FALSE(bps->guest_debug(false).int3_patches);
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x1000).is_ok());
    EXPECT_EQ(mem.read8(0x1000), kInt3);
    GuestDebugRequest r = bps->guest_debug(true);
    EXPECT_TRUE(r.int3_patches);
    EXPECT_TRUE(r.single_step);
}

TEST_F(Breakpoints, GdbWritingOverAPatchChangesTheByteToRestore) {
    mem.write8(0x2345, 0x90);
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2345).is_ok());
    const std::uint8_t in[] = {0xaa, 0xbb, 0xcc};
    EXPECT_EQ(bps->write_memory(paging, 0x2344, in), 3u);
    EXPECT_EQ(mem.read8(0x2344), 0xaa);
    EXPECT_EQ(mem.read8(0x2345), kHlt);  // the patch stays
    EXPECT_EQ(shown(0x2345), 0xbb);
    ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x2345, 1).is_ok());
    EXPECT_EQ(mem.read8(0x2345), 0xbb);
}

TEST_F(Breakpoints, ReinsertingOnTheSamePagesLeavesTheMemslotsAlone) {
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2345).is_ok());
    calls.clear();
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2346).is_ok());
    ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x2346, 1).is_ok());
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2345).is_ok());  // again: idempotent
    EXPECT_TRUE(calls.empty());
    EXPECT_EQ(bps->patch_count(), 1u);
}

TEST_F(Breakpoints, WatchpointsAreIdempotent) {
    for (BreakpointKind k : {BreakpointKind::WriteWatch, BreakpointKind::AccessWatch}) {
        SCOPED_TRACE(static_cast<int>(k));
        ASSERT_TRUE(insert(k, 0x4000, 4).is_ok());
        const auto after_first = calls.size();
        ASSERT_TRUE(insert(k, 0x4000, 4).is_ok());
        EXPECT_EQ(calls.size(), after_first);
        EXPECT_EQ(bps->page_watch_count(), 1u);
        EXPECT_TRUE(bps->remove(k, 0x4000, 4).is_ok());
        EXPECT_EQ(bps->page_watch_count(), 0u);
        EXPECT_EQ(bps->remove(k, 0x4000, 4).errno_value, ENOENT);
        EXPECT_FALSE(bps->any_protected());
    }
}

TEST_F(Breakpoints, BadWatchpointsAreRefused) {
    EXPECT_EQ(insert(BreakpointKind::WriteWatch, 0x4000, 0).errno_value, EINVAL);
    EXPECT_EQ(insert(BreakpointKind::WriteWatch, 0, kRam + 1).errno_value, EINVAL);
    EXPECT_EQ(insert(BreakpointKind::WriteWatch, 0xfff0, 0x20).errno_value, EFAULT);  // runs past RAM
    EXPECT_EQ(insert(BreakpointKind::ReadWatch, 0x4000, 4).code, stub::TargetStatus::Code::Unsupported);
    EXPECT_EQ(insert(BreakpointKind::Software, kRam).errno_value, EFAULT);
    EXPECT_EQ(bps->page_watch_count(), 0u);
    EXPECT_TRUE(calls.empty());
}

TEST_F(Breakpoints, ReadOnlyRunsAndHolesAreLaidOutInOrder) {
    ASSERT_TRUE(insert(BreakpointKind::WriteWatch, 0x3000, 0x2000).is_ok());  // pages 3, 4: read-only
    ASSERT_TRUE(insert(BreakpointKind::AccessWatch, 0x5008, 0x10).is_ok());   // page 5: a hole
    calls.clear();
    ASSERT_TRUE(insert(BreakpointKind::WriteWatch, 0x8ffc, 2).is_ok());  // page 8: read-only
    std::vector<SlotCall> want{del(0),
                               del(1),
                               del(2),
                               {0, 0, 0, 0x3000},
                               {1, RO, 0x3000, 0x2000},
                               {2, 0, 0x6000, 0x2000},
                               {3, RO, 0x8000, 0x1000},
                               {4, 0, 0x9000, 0x7000}};
    EXPECT_EQ(calls, want);
    EXPECT_EQ(bps->protected_page_count(), 4u);
    EXPECT_TRUE(bps->is_protected(0x5fff));
    EXPECT_FALSE(bps->is_protected(0x6000));

    // Around an instruction run natively: first only the read-only pages are lifted,
    // then the holes too, then all comes back.
    calls.clear();
    bps->set_protection(Protection::HolesOnly);
    std::vector<SlotCall> holes{del(0), del(1), del(2), del(3), del(4), {0, 0, 0, 0x5000}, {1, 0, 0x6000, 0xa000}};
    EXPECT_EQ(calls, holes);
    calls.clear();
    bps->set_protection(Protection::None);
    std::vector<SlotCall> none{del(0), del(1), {0, 0, 0, kRam}};
    EXPECT_EQ(calls, none);
    bps->set_protection(Protection::Full);
    EXPECT_EQ(bps->protected_page_count(), 4u);
    EXPECT_EQ(calls.back(), (SlotCall{4, 0, 0x9000, 0x7000}));
}

TEST_F(Breakpoints, APatchOnAWatchedPageKeepsItReadOnly) {
    ASSERT_TRUE(insert(BreakpointKind::AccessWatch, 0x3000, 4).is_ok());  // a hole
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x3010).is_ok());       // same page: still a hole
    EXPECT_EQ(calls.back(), (SlotCall{1, 0, 0x4000, 0xc000}));
    ASSERT_TRUE(bps->remove(BreakpointKind::AccessWatch, 0x3000, 4).is_ok());
    // Now only the patch protects it: read-only.
    std::vector<SlotCall> tail{{0, 0, 0, 0x3000}, {1, RO, 0x3000, 0x1000}, {2, 0, 0x4000, 0xc000}};
    ASSERT_GE(calls.size(), 3u);
    EXPECT_EQ(std::vector<SlotCall>(calls.end() - 3, calls.end()), tail);
}

// 32-bit paging with two linear pages on one frame: linear 0x400000 and 0x401000 ->
// physical 0x5000 (SDM 4.3).
class AliasedBreakpoints : public Breakpoints {
protected:
    void SetUp() override {
        paging = {1 | (1u << 31), 0x1000, 0, 0};
        mem.write32(0x1000 + 1 * 4, 0x2000 | 3);
        mem.write32(0x2000 + 0 * 4, 0x5000 | 3);
        mem.write32(0x2000 + 1 * 4, 0x5000 | 3);
        mem.write8(0x5010, 0x55);
        make();
    }
};

TEST_F(AliasedBreakpoints, AliasesKeepTheGuestByte) {
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x400010).is_ok());
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x401010).is_ok());
    EXPECT_EQ(bps->patch_count(), 2u);
    EXPECT_EQ(bps->original_byte(0x5010), 0x55);  // not the first patch's byte
    EXPECT_EQ(shown(0x401010), 0x55);
    ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x400010, 1).is_ok());
    EXPECT_EQ(mem.read8(0x5010), kHlt);  // the alias still patches it
    ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x401010, 1).is_ok());
    EXPECT_EQ(mem.read8(0x5010), 0x55);
}

TEST_F(AliasedBreakpoints, AHardwareFallbackSharesTheSoftwarePatch) {
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x400010).is_ok());
    ASSERT_TRUE(insert(BreakpointKind::Hardware, 0x400010).is_ok());
    EXPECT_EQ(bps->patch_count(), 1u);
    EXPECT_TRUE(bps->patch_at(0x400010)->hardware);
    ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x400010, 1).is_ok());
    EXPECT_EQ(mem.read8(0x5010), kHlt);  // the Z1 still holds it
    EXPECT_EQ(bps->remove(BreakpointKind::Software, 0x400010, 1).errno_value, ENOENT);
    ASSERT_TRUE(bps->remove(BreakpointKind::Hardware, 0x400010, 1).is_ok());
    EXPECT_EQ(mem.read8(0x5010), 0x55);
}

TEST_F(Breakpoints, ARefusedMemslotUndoesTheBreakpointAndLeavesPlainRam) {
    mem.write8(0x2345, 0x90);
    refuse = [](const SlotCall& c) { return c.flags == RO; };
    auto st = insert(BreakpointKind::Software, 0x2345);
    EXPECT_EQ(st.errno_value, ENOSPC);
    EXPECT_EQ(mem.read8(0x2345), 0x90);
    EXPECT_EQ(bps->patch_count(), 0u);
    EXPECT_FALSE(bps->any_protected());
    // Slot 0 was relaid before the refusal; the fallback deletes it and maps all RAM.
    std::vector<SlotCall> want{del(0), {0, 0, 0, 0x2000}, del(0), {0, 0, 0, kRam}};
    EXPECT_EQ(calls, want);

    EXPECT_EQ(insert(BreakpointKind::WriteWatch, 0x4000, 4).errno_value, ENOSPC);
    EXPECT_EQ(bps->page_watch_count(), 0u);
    EXPECT_EQ(calls.back(), (SlotCall{0, 0, 0, kRam}));

    refuse = nullptr;  // KVM takes it again
    EXPECT_TRUE(insert(BreakpointKind::Software, 0x2345).is_ok());
    EXPECT_EQ(mem.read8(0x2345), kHlt);
    EXPECT_EQ(shown(0x2345), 0x90);
}

TEST_F(Breakpoints, GuestAccessesToProtectedPagesAreAppliedAndReported) {
    mem.write8(0x2345, 0x90);
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2345).is_ok());
    ASSERT_TRUE(insert(BreakpointKind::WriteWatch, 0x4000, 4).is_ok());
    ASSERT_TRUE(insert(BreakpointKind::AccessWatch, 0x6000, 4).is_ok());

    std::uint8_t data[8] = {1, 2, 3, 4};
    // A guest write over the patch: the byte to restore changes, the patch stays.
    EXPECT_FALSE(bps->protected_access(exit::Mmio{0x2344, 4, true, data}));
    EXPECT_EQ(mem.read8(0x2344), 1);
    EXPECT_EQ(mem.read8(0x2345), kHlt);
    EXPECT_EQ(mem.read8(0x2346), 3);
    EXPECT_EQ(shown(0x2345), 2);

    auto hit = bps->protected_access(exit::Mmio{0x4002, 2, true, data});
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->kind, BreakpointKind::WriteWatch);
    EXPECT_EQ(hit->addr, 0x4000u);
    EXPECT_EQ(mem.read16(0x4002), 0x0201);

    mem.write32(0x4000, 0xdeadbeef);
    EXPECT_FALSE(bps->protected_access(exit::Mmio{0x4000, 4, false, data}));  // a read: not a Z2 hit
    EXPECT_EQ(data[0], 0xef);
    hit = bps->protected_access(exit::Mmio{0x6000, 1, false, data});
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->kind, BreakpointKind::AccessWatch);
    EXPECT_FALSE(bps->protected_access(exit::Mmio{kRam, 4, true, data}));  // not RAM
}

TEST_F(Breakpoints, AccessWatchesMayNotTakeCodePages) {
    LoadSegment code;
    code.paddr = 0x7000;
    code.memsz = 0x100;
    code.flags = PF_R | PF_X;
    image.segments.push_back(code);
    area.base = 0xa000;
    area.size = 0x2000;
    pcs = {0x9004};
    make();
    auto st = insert(BreakpointKind::AccessWatch, 0x7ff0, 4);
    EXPECT_EQ(st.errno_value, EPERM);
    EXPECT_NE(st.message.find("executable segment at 0x7000"), std::string::npos) << st.message;
    EXPECT_NE(diag.find("cannot watch accesses to 0x7ff0"), std::string::npos) << diag;
    EXPECT_NE(insert(BreakpointKind::AccessWatch, 0x9100, 4).message.find("running now"), std::string::npos);
    EXPECT_NE(insert(BreakpointKind::AccessWatch, 0xb000, 4).message.find("GDT"), std::string::npos);
    EXPECT_EQ(bps->page_watch_count(), 0u);
    // A write watchpoint leaves the page mapped, so code may share it.
    EXPECT_TRUE(insert(BreakpointKind::WriteWatch, 0x7ff0, 4).is_ok());
    EXPECT_TRUE(insert(BreakpointKind::AccessWatch, 0x8000, 4).is_ok());
}

TEST_F(Breakpoints, DebugRegistersTakeAlignedWatchesWhenThatIsTheMechanism) {
    mech.watch = WatchMechanism::DebugRegisters;
    mech.hardware = BreakMechanism::DebugRegisters;
    make();
    ASSERT_TRUE(insert(BreakpointKind::WriteWatch, 0x4000, 4).is_ok());
    ASSERT_TRUE(insert(BreakpointKind::Hardware, 0x1234).is_ok());
    EXPECT_TRUE(calls.empty());
    EXPECT_EQ(bps->debug_registers().used(), 2);
    EXPECT_EQ(bps->patch_count(), 0u);
    GuestDebugRequest r = bps->guest_debug(false);
    EXPECT_EQ(r.slots[0].addr, 0x4000u);
    EXPECT_EQ(r.slots[1].addr, 0x1234u);
    // Three bytes fit no debug register: page protection instead.
    ASSERT_TRUE(insert(BreakpointKind::WriteWatch, 0x5001, 3).is_ok());
    EXPECT_EQ(bps->page_watch_count(), 1u);
    EXPECT_TRUE(bps->remove(BreakpointKind::WriteWatch, 0x4000, 4).is_ok());
    EXPECT_TRUE(bps->remove(BreakpointKind::Hardware, 0x1234, 1).is_ok());
    EXPECT_EQ(bps->debug_registers().used(), 0);
}

TEST_F(Breakpoints, AfterANativeInstructionPatchesComeBackAndChangedWatchesReport) {
    mem.write8(0x2345, 0x90);
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2345).is_ok());
    ASSERT_TRUE(insert(BreakpointKind::WriteWatch, 0x4000, 4).is_ok());
    ASSERT_TRUE(insert(BreakpointKind::AccessWatch, 0x6000, 4).is_ok());
    const auto before = bps->watched_bytes();
    EXPECT_FALSE(bps->changed_watch(before));
    mem.write8(0x2345, 0x77);  // the instruction wrote over the patch
    mem.write8(0x4001, 9);     // and into the watched bytes
    bps->repatch();
    EXPECT_EQ(mem.read8(0x2345), kHlt);
    EXPECT_EQ(shown(0x2345), 0x77);
    auto hit = bps->changed_watch(before);
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->kind, BreakpointKind::WriteWatch);
    auto access = bps->first_access_watch();
    ASSERT_TRUE(access);
    EXPECT_EQ(access->addr, 0x6000u);
}

TEST_F(Breakpoints, RemoveAllRestoresEveryByteAndPlainRam) {
    mem.write8(0x2345, 0x90);
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2345).is_ok());
    ASSERT_TRUE(insert(BreakpointKind::WriteWatch, 0x4000, 4).is_ok());
    bps->remove_all();
    EXPECT_EQ(mem.read8(0x2345), 0x90);
    EXPECT_EQ(bps->patch_count(), 0u);
    EXPECT_EQ(bps->page_watch_count(), 0u);
    EXPECT_FALSE(bps->any_protected());
    EXPECT_EQ(calls.back(), (SlotCall{0, 0, 0, kRam}));
}

// The pc platform's patch (breakpoints.hpp, kOutImm8): `out 0xe5, al` over an
// instruction of two bytes or more, HLT over a one-byte one.
class OutPatches : public Breakpoints {
protected:
    void SetUp() override {
        mech.io_patch = true;
        make();
    }
    std::vector<std::uint8_t> ram(std::uint64_t phys, std::size_t n) const {
        std::vector<std::uint8_t> v(n);
        mem.read(phys, v);
        return v;
    }
    using Bytes = std::vector<std::uint8_t>;
};

TEST_F(OutPatches, ATwoByteInstructionGetsTheOutAndShowsItsOwnBytes) {
    const Bytes add{0x83, 0x45, 0x08, 0x03};  // addl $3, 8(%ebp)
    mem.write(0x2345, add);
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2345).is_ok());
    EXPECT_EQ(ram(0x2345, 4), (Bytes{kOutImm8, kBreakPort, 0x08, 0x03}));
    EXPECT_EQ(bps->patch_at(0x2345)->len, 2u);
    EXPECT_EQ(bps->hlt_patch_count(), 0u);
    Bytes shown(4);
    ASSERT_EQ(bps->read_memory(paging, 0x2345, shown), 4u);
    EXPECT_EQ(shown, add);
    ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x2345, 1).is_ok());
    EXPECT_EQ(ram(0x2345, 4), add);
}

TEST_F(OutPatches, OneByteInstructionsAndThePagesLastByteKeepHlt) {
    mem.write8(0x2345, 0x55);  // push %ebp
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2345).is_ok());
    EXPECT_EQ(ram(0x2345, 2), (Bytes{kHlt, 0x00}));
    mem.write(0x2fff, Bytes{0x83, 0xc0});  // addl $imm8, %eax, split over two pages
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2fff).is_ok());
    EXPECT_EQ(mem.read8(0x2fff), kHlt);
    EXPECT_EQ(mem.read8(0x3000), 0xc0);
    EXPECT_EQ(bps->hlt_patch_count(), 2u);
}

TEST_F(OutPatches, Rex48IsAPrefixOnlyIn64BitCode) {
    mem.write(0x2000, Bytes{0x48, 0x89, 0xe5});  // mov %rsp,%rbp, or dec %eax; ...
    mem.write(0x2100, Bytes{0x48, 0x89, 0xe5});
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2000).is_ok());  // a 32-bit vCPU: DEC EAX
    EXPECT_EQ(mem.read8(0x2000), kHlt);
    InsertContext c = ctx();
    c.code64 = true;
    ASSERT_TRUE(bps->insert(BreakpointKind::Software, 0x2100, 1, c).is_ok());
    EXPECT_EQ(ram(0x2100, 3), (Bytes{kOutImm8, kBreakPort, 0xe5}));
}

TEST_F(OutPatches, WritesOverBothBytesAreTheGuestsAndThePatchStays) {
    mem.write(0x2345, Bytes{0xb0, 0x20});  // movb $0x20, %al
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2345).is_ok());
    ASSERT_EQ(bps->write_memory(paging, 0x2344, Bytes{0x90, 0xb0, 0x21}), 3u);  // gdb's write
    EXPECT_EQ(ram(0x2344, 3), (Bytes{0x90, kOutImm8, kBreakPort}));
    // The guest's own write through the read-only page (an MMIO exit).
    std::array<std::uint8_t, 8> data{0x22};
    exit::Mmio m{0x2346, 1, true, std::span<std::uint8_t>(data)};
    mem.write8(0x2346, 0);
    EXPECT_FALSE(bps->protected_access(m).has_value());
    EXPECT_EQ(bps->original_byte(0x2346), 0x22);
    EXPECT_EQ(mem.read8(0x2346), kBreakPort);
    ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x2345, 1).is_ok());
    EXPECT_EQ(ram(0x2344, 3), (Bytes{0x90, 0xb0, 0x22}));
}

TEST_F(OutPatches, ABreakpointInsideAnOutPatchTakesNoBytes) {
    mem.write(0x2345, Bytes{0xb0, 0x20, 0x90});
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2345).is_ok());
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2346).is_ok());  // inside movb's immediate
    EXPECT_EQ(bps->patch_at(0x2346)->len, 0u);
    PagingState flat = paging;
    EXPECT_EQ(bps->patch_hit(flat, 0x2346), nullptr);
    // The next instruction's breakpoint still gets its own byte.
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2347).is_ok());
    EXPECT_EQ(ram(0x2345, 3), (Bytes{kOutImm8, kBreakPort, kHlt}));
    ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x2346, 1).is_ok());
    EXPECT_EQ(ram(0x2345, 3), (Bytes{kOutImm8, kBreakPort, kHlt}));
    ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x2345, 1).is_ok());
    ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x2347, 1).is_ok());
    EXPECT_EQ(ram(0x2345, 3), (Bytes{0xb0, 0x20, 0x90}));
}

TEST_F(OutPatches, TheBreakpointInsideGetsItsOwnBytesWhenTheOuterOneGoes) {
    mem.write(0x2345, Bytes{0xb0, 0x20, 0x90});
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2345).is_ok());
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2346).is_ok());
    ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x2345, 1).is_ok());
    EXPECT_EQ(bps->patch_at(0x2346)->len, 2u);  // 20 90: and, two bytes
    EXPECT_EQ(ram(0x2345, 3), (Bytes{0xb0, kOutImm8, kBreakPort}));
    EXPECT_TRUE(bps->out_patch_removed_at(paging, 0x2345));
    EXPECT_FALSE(bps->out_patch_removed_at(paging, 0x2346));
    ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x2346, 1).is_ok());
    EXPECT_EQ(ram(0x2345, 3), (Bytes{0xb0, 0x20, 0x90}));
}

// The guest (or gdb) makes the patched instruction a one-byte one: the OUT patch
// would cover the next instruction, so it becomes a HLT.
TEST_F(OutPatches, AWriteThatMakesItOneByteTurnsTheOutIntoHlt) {
    mem.write(0x2345, Bytes{0xb0, 0x20});
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2345).is_ok());
    std::array<std::uint8_t, 8> data{0x55};  // push %ebp
    exit::Mmio m{0x2345, 1, true, std::span<std::uint8_t>(data)};
    EXPECT_FALSE(bps->protected_access(m).has_value());
    EXPECT_EQ(ram(0x2345, 2), (Bytes{kHlt, 0x20}));
    EXPECT_EQ(bps->patch_at(0x2345)->len, 1u);
    EXPECT_EQ(bps->original_byte(0x2345), 0x55);
    EXPECT_FALSE(bps->original_byte(0x2346).has_value());
    ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x2345, 1).is_ok());
    EXPECT_EQ(ram(0x2345, 2), (Bytes{0x55, 0x20}));
}

TEST_F(OutPatches, ANeighbourAlreadyPatchedMakesItHlt) {
    mem.write(0x2345, Bytes{0xb0, 0x20});
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2346).is_ok());  // first, on the second byte (20 00: and)
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x2345).is_ok());
    EXPECT_EQ(ram(0x2345, 3), (Bytes{kHlt, kOutImm8, kBreakPort}));
    bps->remove_all();
    EXPECT_EQ(ram(0x2345, 2), (Bytes{0xb0, 0x20}));
}

class OutAliases : public AliasedBreakpoints {
protected:
    void SetUp() override {
        mech.io_patch = true;
        AliasedBreakpoints::SetUp();
        mem.write8(0x5011, 0x02);  // 0x5010: push $2 (6a 02)
        mem.write8(0x5010, 0x6a);
    }
};

TEST_F(OutAliases, AliasesShareBothBytes) {
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x400010).is_ok());
    ASSERT_TRUE(insert(BreakpointKind::Software, 0x401010).is_ok());
    EXPECT_EQ(bps->patch_at(0x401010)->len, 2u);
    EXPECT_EQ(bps->original_byte(0x5011), 0x02);
    ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x400010, 1).is_ok());
    EXPECT_EQ(mem.read8(0x5011), kBreakPort);  // the alias still patches it
    ASSERT_TRUE(bps->remove(BreakpointKind::Software, 0x401010, 1).is_ok());
    EXPECT_EQ(mem.read8(0x5010), 0x6a);
    EXPECT_EQ(mem.read8(0x5011), 0x02);
}

}  // namespace
}  // namespace kvmgdb::debug
