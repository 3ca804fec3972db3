// The stops the KVM target reports, built in one place. Signal numbers are GDB's
// (gdb/signals.def), not the host's.
#pragma once

#include <string>
#include <utility>

#include "debug/breakpoints.hpp"
#include "stub/debug_target.hpp"

namespace kvmgdb::debug {

inline constexpr int kSigInt = 2, kSigTrap = 5, kSigAbrt = 6, kSigKill = 9, kSigSegv = 11;

inline stub::StopEvent signal_stop(int sig, std::string message = {}) {
    stub::StopEvent ev;
    ev.kind = stub::StopEvent::Kind::Signal;
    ev.signal = sig;
    ev.message = std::move(message);
    return ev;
}

// The stop at one of our patches: swbreak for a Z0, hwbreak for a Z1 fallback.
inline stub::StopEvent patch_stop(const Patch& patch) {
    stub::StopEvent ev = signal_stop(kSigTrap);
    ev.kind = patch.software ? stub::StopEvent::Kind::SoftwareBreak : stub::StopEvent::Kind::HardwareBreak;
    return ev;
}

// The stop of a page-protection watchpoint (watch:ADDR or awatch:ADDR).
inline stub::StopEvent watch_stop(const WatchHit& hit) {
    stub::StopEvent ev;
    ev.kind = hit.kind == stub::BreakpointKind::WriteWatch ? stub::StopEvent::Kind::Watch
                                                           : stub::StopEvent::Kind::AccessWatch;
    ev.signal = kSigTrap;
    ev.address = hit.addr;
    return ev;
}

}  // namespace kvmgdb::debug
