// What KvmTarget's two ways of running the vCPUs share: all-stop rounds
// (kvm_target.cpp) and non-stop mode (non_stop.cpp). One mutex guards all of it;
// the runners' stop callbacks take it on the vCPU threads.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "stub/debug_target.hpp"

namespace kvmgdb::debug {

// Whether a kept stop of vCPU `index` is still worth reporting: not a breakpoint
// gdb removed since (gdbserver drops those too: the vCPU is at the breakpoint's
// address and simply runs on from there).
using StillWorthReporting = std::function<bool(unsigned index, const stub::StopEvent&)>;

struct RunState {
    mutable std::mutex mu;
    std::condition_variable cv;
    // By vCPU: a stop of its own that a vCPU had while another one's was reported
    // (all-stop), or while non-stop mode was left; reported at its next resume.
    std::vector<std::optional<stub::StopEvent>> pending;
    std::optional<stub::StopEvent> final;  // the guest ended (exit, crash, kill)
    stub::StopEvent last_stop;             // for `?`
    bool destroying = false;               // in ~KvmTarget: stops are reported to nobody

    // The guest's end as a resume after it reports it again: an exit (W) or a kill
    // (X) as it was; a crash stop (a triple fault: SIGSEGV) becomes X with its signal
    // (gdb: "Program terminated with signal ...", gdb.base/exitsignal). mu held.
    stub::StopEvent end_said_again() {
        stub::StopEvent ev = *final;
        if (ev.kind != stub::StopEvent::Kind::Exited && ev.kind != stub::StopEvent::Kind::Terminated) {
            ev.kind = stub::StopEvent::Kind::Terminated;
            ev.address = 0;
            ev.message.clear();
            final = ev;
        }
        return ev;
    }
};

}  // namespace kvmgdb::debug
