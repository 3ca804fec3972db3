// Non-stop mode on KVM ("Remote Non-Stop"; stub/debug_target.hpp, NON-STOP): each
// vCPU runs and stops on its own, and gdb hears of every stop as it happens.
//
// Every runner resumed here reports each of its stops to on_stop, which hands it
// to the handler of the latest resume; no other vCPU is kicked. stop_thread kicks
// one runner, and its SIGINT is reported with signal 0 (vCont;t). A vCPU that halts
// is idle: running as far as gdb knows, not reported (unless gdb asked it to stop),
// and the guest ends (W) when every vCPU has halted; the exit port or a crash ends
// it at once, after the other runners are stopped unreported. Handler calls come
// from the vCPU threads, one after another.
//
// gdb's memory and breakpoint calls come while vCPUs run; KvmTarget serves them
// (run_mutex, VcpuRunner::hold, VcpuRunner::paging_when_resumed).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "debug/run_state.hpp"
#include "debug/vcpu_runner.hpp"
#include "stub/debug_target.hpp"

namespace kvmgdb::debug {

class NonStopRuns {
public:
    using StopHandler = stub::DebugTarget::StopHandler;

    NonStopRuns(RunState& state, std::vector<std::unique_ptr<VcpuRunner>>& runners, StillWorthReporting still);

    // Under state.mu.
    bool enabled() const { return enabled_; }
    // Entering needs every vCPU stopped (`all_stopped`: no all-stop round runs).
    // Leaving stops every running vCPU first, reporting none of them.
    stub::TargetStatus set_enabled(bool on, bool all_stopped);

    // stub::DebugTarget's resume_threads, stop_thread and interrupt in non-stop mode.
    void resume(std::span<const stub::ThreadAction> actions, StopHandler on_stop);
    void stop_thread(unsigned tid);

private:
    VcpuRunner::StopHandler callback(unsigned index);
    void on_stop(unsigned index, stub::StopEvent ev);
    void report(stub::StopEvent ev, std::unique_lock<std::mutex>& lock);  // unlocks
    bool every_vcpu_halted() const;
    // Every runner stopped, none reported; their own stops kept pending (all-stop's).
    void quiet_all_runners();

    RunState& state_;
    std::vector<std::unique_ptr<VcpuRunner>>& runners_;
    StillWorthReporting still_;

    // Guarded by state_.mu.
    bool enabled_ = false;
    int quiet_ = 0;             // > 0: stops are not reported (leaving, the guest ending)
    StopHandler handler_;       // the latest resume's
    std::vector<bool> running_;   // by vCPU: resumed here and no stop reported since
    std::vector<bool> stepping_;  // by vCPU: that resume was a step
    std::vector<bool> asked_;     // by vCPU: stop_thread asked, so a kick reports signal 0
    std::vector<bool> idle_;      // by vCPU: halted, and running as far as gdb knows
    std::mutex report_mu_;      // handler calls, one after another
};

}  // namespace kvmgdb::debug
