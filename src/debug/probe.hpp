// What this host's KVM actually does with the guest-debug mechanisms. Some KVMs
// (seen: QEMU TCG emulating SVM, our CI's nested KVM) accept KVM_SET_GUEST_DEBUG
// with USE_SW_BP / USE_HW_BP but never trap: the int3 goes to the guest's IDT and
// DR0-DR3 never fire. So we run a throwaway VM with a tiny long-mode guest per
// mechanism, bounded by a watchdog, and the debug target picks what works.
#pragma once

#include <cstdint>
#include <string>

namespace kvmgdb::debug {

struct DebugProbe {
    bool sw_bp_traps = false;     // int3 + KVM_GUESTDBG_USE_SW_BP -> KVM_EXIT_DEBUG (#BP)
    bool hw_exec_traps = false;   // DR0 execute breakpoint + USE_HW_BP -> KVM_EXIT_DEBUG (#DB)
    bool hw_write_traps = false;  // DR1 write watchpoint + USE_HW_BP -> KVM_EXIT_DEBUG (#DB)
    bool single_step = false;     // KVM_GUESTDBG_SINGLESTEP -> KVM_EXIT_DEBUG
    bool readonly_mem = false;    // KVM_CAP_READONLY_MEM (page-protection watchpoints)
    std::uint32_t guest_debug2 = 0;  // KVM_CAP_SET_GUEST_DEBUG2: the supported control flags
    // One line per mechanism, what the probe guest did ("KVM_EXIT_DEBUG #BP", "triple fault", ...).
    std::string sw_bp_detail, hw_exec_detail, hw_write_detail, single_step_detail;
};

// Runs the probes (a few milliseconds; each bounded by a 2 s watchdog). Throws KvmError
// when /dev/kvm itself is unusable.
DebugProbe run_debug_probe();
// The probe of this process, run once on first use.
const DebugProbe& host_debug_probe();

}  // namespace kvmgdb::debug
