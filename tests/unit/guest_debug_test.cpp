// The KVM_SET_GUEST_DEBUG argument of the native paths, byte-exact. Flag values
// from the KVM API document (api.rst, 4.59 KVM_SET_GUEST_DEBUG) and
// arch/x86/include/uapi/asm/kvm.h, written out as numbers on purpose.
#include "debug/guest_debug.hpp"

#include <gtest/gtest.h>

namespace kvmgdb::debug {
namespace {

constexpr std::uint32_t kEnable = 0x1, kSingleStep = 0x2, kUseSwBp = 0x10000, kUseHwBp = 0x20000,
                        kBlockIrq = 0x100000;

TEST(GuestDebug, NothingSetTurnsDebuggingOff) {
    kvm_guest_debug d = make_guest_debug({});
    EXPECT_EQ(d.control, 0u);
    for (auto r : d.arch.debugreg) EXPECT_EQ(r, 0u);
}

TEST(GuestDebug, Int3PatchesAskForSoftwareBreakpointExits) {
    GuestDebugRequest r;
    r.int3_patches = true;
    EXPECT_EQ(make_guest_debug(r).control, kEnable | kUseSwBp);
}

TEST(GuestDebug, DebugRegistersGoToDebugregWithDr7) {
    GuestDebugRequest r;
    r.slots[0] = DebugSlot{true, 0x100016, DebugKind::Execute, 1};
    r.slots[2] = DebugSlot{true, 0x104008, DebugKind::Write, 4};
    kvm_guest_debug d = make_guest_debug(r);
    EXPECT_EQ(d.control, kEnable | kUseHwBp);
    EXPECT_EQ(d.arch.debugreg[0], 0x100016u);
    EXPECT_EQ(d.arch.debugreg[1], 0u);
    EXPECT_EQ(d.arch.debugreg[2], 0x104008u);
    EXPECT_EQ(d.arch.debugreg[3], 0u);
    EXPECT_EQ(d.arch.debugreg[6], 0u);
    // L0 (bit 0), L2 (bit 4), LE|GE (0x300), RW2=01 (write) at bits 24-25, LEN2=11 at 26-27.
    EXPECT_EQ(d.arch.debugreg[7], 0x0d00'0311u);
}

TEST(GuestDebug, AStepBlocksInterruptsWhereTheKernelCan) {
    GuestDebugRequest r;
    r.single_step = true;
    EXPECT_EQ(make_guest_debug(r).control, kEnable | kSingleStep);
    r.blockirq_supported = true;
    EXPECT_EQ(make_guest_debug(r).control, kEnable | kSingleStep | kBlockIrq);
    r.single_step = false;  // BLOCKIRQ only with a step: a continue must take interrupts
    EXPECT_EQ(make_guest_debug(r).control, 0u);
}

TEST(GuestDebug, EverythingAtOnce) {
    GuestDebugRequest r;
    r.slots[3] = DebugSlot{true, 0x2000, DebugKind::ReadWrite, 8};
    r.int3_patches = true;
    r.single_step = true;
    r.blockirq_supported = true;
    kvm_guest_debug d = make_guest_debug(r);
    EXPECT_EQ(d.control, kEnable | kSingleStep | kUseSwBp | kUseHwBp | kBlockIrq);
    EXPECT_EQ(d.arch.debugreg[3], 0x2000u);
    EXPECT_EQ(d.arch.debugreg[7], 0xb000'0340u);  // L3, LE|GE, RW3=11, LEN3=10 (8 bytes)
}

}  // namespace
}  // namespace kvmgdb::debug
