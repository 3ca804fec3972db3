// What a KVM_EXIT_DEBUG means for gdb: a debug-register hit (which slot: hbreak,
// watch, awatch), a single step, one of our int3 patches, or the guest's own int3,
// which goes back to the guest as if no debugger were there.
#pragma once

#include <cstdint>
#include <optional>

#include "debug/breakpoints.hpp"
#include "kvm/kvm.hpp"
#include "stub/debug_target.hpp"

namespace kvmgdb::debug {

// The stop a debug exit of `vcpu` is, or nullopt when the guest goes on (its own
// int3, re-injected). Called with the manager's run_mutex held.
std::optional<stub::StopEvent> debug_exit_stop(const exit::Debug& d, const BreakpointManager& bps, Vcpu& vcpu);

}  // namespace kvmgdb::debug
