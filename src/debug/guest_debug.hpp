// The KVM_SET_GUEST_DEBUG argument for one run of the vCPU, built from what is set:
// armed debug-register slots (KVM_GUESTDBG_USE_HW_BP + DR0-DR3/DR7), int3 patches in
// guest RAM (KVM_GUESTDBG_USE_SW_BP), a single step (KVM_GUESTDBG_SINGLESTEP, with
// KVM_GUESTDBG_BLOCKIRQ where the kernel has it so a step never enters an interrupt
// handler). Pure, so the exact ioctl argument is unit-tested without KVM.
#pragma once

#include <linux/kvm.h>

#include <array>

#include "x86/debug_registers.hpp"

namespace kvmgdb::debug {

struct GuestDebugRequest {
    std::array<DebugSlot, kDebugSlots> slots{};
    bool int3_patches = false;
    bool single_step = false;
    bool blockirq_supported = false;  // KVM_CAP_SET_GUEST_DEBUG2 lists KVM_GUESTDBG_BLOCKIRQ
};

kvm_guest_debug make_guest_debug(const GuestDebugRequest& request);

}  // namespace kvmgdb::debug
