// One instruction run natively with the page protection lifted, for VcpuRunner.
//
// KVM's instruction emulator cannot do every instruction (SSE and AVX stores, ...),
// and an access to a protected page (watched, or holding a patched breakpoint) is
// emulated. Where it gave up, the instruction runs natively: the protection is lifted,
// the vCPU steps one instruction, the protection comes back, and the watched bytes
// and patch bytes are checked. First only read-only pages are lifted, so that an
// access to an access-watched page (a hole) is still seen as MMIO; if the emulator
// gives up on that too, the holes go as well and the access watchpoint is reported
// (the page is all it can tell). Returns a stop, or nullopt once the instruction ran.
#pragma once

#include <functional>
#include <optional>

#include "debug/breakpoints.hpp"
#include "kvm/kvm.hpp"
#include "stub/debug_target.hpp"

namespace kvmgdb::debug {

// What run_one_unprotected needs of the vCPU's runner.
struct UnprotectedStep {
    Vcpu& vcpu;
    BreakpointManager& bps;
    std::function<VcpuExit()> run;          // one KVM_RUN (VcpuRunner::run_guest)
    std::function<void(bool step)> apply_guest_debug;  // the runner's
    std::function<bool()> interrupted;      // interrupt() asked the runner to stop
    std::function<std::optional<stub::StopEvent>(const VcpuExit&)> handle_exit;  // the runner's
    // Keep every other vCPU out of KVM_RUN (hold) or let them go again (release).
    std::function<void(bool hold)> others;
};

// Called on KVM's emulation failure while pages are protected. The protection is
// the whole VM's, so for that one instruction no other vCPU may run (it could write a
// watched page unseen) and no other exit is handled: every other vCPU is held out of
// KVM_RUN and the breakpoint manager's run_mutex is held throughout.
std::optional<stub::StopEvent> run_one_unprotected(const UnprotectedStep& vcpu);

}  // namespace kvmgdb::debug
