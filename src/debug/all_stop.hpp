// All-stop over several vCPUs (stub/debug_target.hpp, ALL-STOP), KvmTarget's
// default way of running them. A resume is a Round: the listed vCPUs run, each on
// its runner's thread. The first to stop for a reason of its own becomes the stop to
// report: the others are kicked out of KVM_RUN, and once all are stopped the
// handler is called once, on the reporting runner's thread. A kicked vCPU that
// stopped for a reason of its own (a step done, a breakpoint hit at the same moment)
// keeps that stop pending: it is reported, without running the guest, the next time
// gdb resumes that vCPU (as gdbserver does). A vCPU that halts is done: it is not
// reported while another one runs, and the guest ends (W00) when every vCPU has
// halted. The exit port and a crash end the guest.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "debug/run_state.hpp"
#include "debug/vcpu_runner.hpp"
#include "stub/debug_target.hpp"

namespace kvmgdb::debug {

class AllStopRounds {
public:
    using StopHandler = stub::DebugTarget::StopHandler;

    AllStopRounds(RunState& state, std::vector<std::unique_ptr<VcpuRunner>>& runners, StillWorthReporting still);

    // stub::DebugTarget's resume_threads in all-stop mode.
    void resume(std::span<const stub::ThreadAction> actions, StopHandler on_stop);
    // A round runs (state.mu held).
    bool running() const { return round_.has_value(); }
    // Blocks until no round runs (its handler has been called).
    void wait_idle();

private:
    struct Round {
        StopHandler handler;
        std::vector<bool> running;  // by vCPU index
        bool stopping = false;      // a stop is being reported; the others were kicked
        bool any_running() const;
    };

    void begin_round(StopHandler on_stop);  // state.mu held
    void start_round(std::vector<std::pair<unsigned, stub::ResumeKind>> runs, StopHandler on_stop);
    void deliver_now(unsigned index, stub::StopEvent ev, StopHandler on_stop);
    // Called by runner `index` (on its thread, no lock held) when it stopped.
    void on_runner_stop(unsigned index, stub::StopEvent ev);

    RunState& state_;
    std::vector<std::unique_ptr<VcpuRunner>>& runners_;
    StillWorthReporting still_;
    std::optional<Round> round_;  // guarded by state_.mu
};

}  // namespace kvmgdb::debug
