// One vCPU's thread and run loop (see kvm_target.hpp for the threading contract).
//
// The runner owns its std::thread, the mutex and condition variable that hand it a
// command, the run state and the last stop, and the vCPU's registers
// (VcpuRegisters). resume() hands the thread a command and returns; the thread runs
// KVM_RUN until a stop (a breakpoint, a watchpoint, a step, the guest's end, a kick),
// stores last_stop() and calls the command's handler exactly once, on the vCPU
// thread, with no lock held. interrupt() sets kvm_run->immediate_exit and kicks the
// thread with SIGUSR1 (kick.hpp), so KVM_RUN returns EINTR -> a SIGINT stop.
//
// It takes the Vcpu and the BreakpointManager it shares with the other runners, so
// that a target can hold one runner per vCPU. The breakpoint manager is not locked:
// a runner touches it only while it runs, and gdb's calls come while it is stopped.
// With several vCPUs that holds in all-stop mode (every runner stopped before gdb is
// told of a stop). run_one_unprotected lifts the page protection of the whole VM for
// one instruction, so with several vCPUs every other vCPU must be stopped while it
// runs (all-stop), or it could write a watched page unseen.
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <thread>

#include "debug/breakpoints.hpp"
#include "debug/register_access.hpp"
#include "stub/debug_target.hpp"
#include "vmm/machine.hpp"

namespace kvmgdb::debug {

class VcpuRunner {
public:
    using StopHandler = stub::DebugTarget::StopHandler;

    // `machine` services the exits that are the VMM's (console, exit port, devices).
    VcpuRunner(Machine& machine, Vcpu& vcpu, BreakpointManager& breakpoints, TextSink diag);
    // Stops the thread (kicking it out of KVM_RUN) and joins it.
    ~VcpuRunner();
    VcpuRunner(const VcpuRunner&) = delete;
    VcpuRunner& operator=(const VcpuRunner&) = delete;

    // Starts the thread (once, after the VM is set up).
    void start();

    Vcpu& vcpu() { return vcpu_; }
    VcpuRegisters& registers() { return registers_; }
    const VcpuRegisters& registers() const { return registers_; }

    // Thread-safe.
    void resume(stub::ResumeKind kind, StopHandler on_stop);
    void interrupt();
    // Blocks until stopped and the stop handler has returned; not from inside a handler.
    void wait_stopped();
    stub::StopEvent last_stop() const;

    // Exited, killed or crashed: a resume reports the end again. While stopped only.
    bool finished() const { return finished_; }
    // Stops the vCPU if it runs and ends the guest: last_stop() becomes a kill.
    void kill();

private:
    enum class State { Stopped, Running };
    struct Command {
        stub::ResumeKind kind;
        StopHandler handler;
    };

    void thread_main();
    stub::StopEvent execute(stub::ResumeKind kind);
    // Runs until something stops the guest; `step` sets KVM_GUESTDBG_SINGLESTEP.
    stub::StopEvent run_until_stop(bool step);
    std::optional<stub::StopEvent> handle_exit(const VcpuExit& e);
    std::optional<stub::StopEvent> handle_protected_mmio(const exit::Mmio& m);
    std::optional<stub::StopEvent> finish_instruction();
    std::optional<stub::StopEvent> run_one_unprotected();
    std::uint64_t linear_pc() const;

    Machine& machine_;
    Vcpu& vcpu_;
    BreakpointManager& bps_;
    TextSink diag_;
    VcpuRegisters registers_;

    // Guarded by mu_: the run state, the pending command, the interrupt request.
    mutable std::mutex mu_;
    std::condition_variable cv_;
    State state_ = State::Stopped;
    std::optional<Command> command_;
    bool interrupt_requested_ = false;
    bool quit_ = false;
    bool delivering_ = false;  // the vCPU thread is inside a stop handler
    stub::StopEvent last_stop_;
    bool finished_ = false;  // exited, killed or crashed: resume reports last_stop_ again

    pthread_t thread_handle_{};
    std::thread thread_;
};

}  // namespace kvmgdb::debug
