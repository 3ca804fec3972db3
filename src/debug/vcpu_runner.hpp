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
// that a target can hold one runner per vCPU; it handles each exit under the
// manager's run_mutex. hold() keeps the vCPU out of KVM_RUN without stopping it,
// for whoever changes the memslots while it runs.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <thread>

#include "debug/breakpoints.hpp"
#include "debug/mode_change.hpp"
#include "debug/register_access.hpp"
#include "stub/debug_target.hpp"
#include "vmm/machine.hpp"

namespace kvmgdb::debug {

class VcpuRunner {
public:
    using StopHandler = stub::DebugTarget::StopHandler;

    // `machine` services the exits that are the VMM's (console, exit port, devices).
    // `index` is the vCPU's (0-based); its stops name gdb thread index + 1.
    VcpuRunner(Machine& machine, Vcpu& vcpu, BreakpointManager& breakpoints, TextSink diag, unsigned index = 0);
    // Stops the thread (kicking it out of KVM_RUN) and joins it.
    ~VcpuRunner();
    VcpuRunner(const VcpuRunner&) = delete;
    VcpuRunner& operator=(const VcpuRunner&) = delete;

    // Starts the thread (once, after the VM is set up).
    void start();

    Vcpu& vcpu() { return vcpu_; }
    VcpuRegisters& registers() { return registers_; }
    const VcpuRegisters& registers() const { return registers_; }

    unsigned index() const { return index_; }
    unsigned thread_id() const { return index_ + 1; }

    // Thread-safe.
    void resume(stub::ResumeKind kind, StopHandler on_stop);
    // Like resume, but the vCPU does not run: the handler gets `ev` (a stop kept
    // pending, the guest's end said again), on the runner's thread as usual.
    void deliver(stub::StopEvent ev, StopHandler on_stop);
    bool running() const;
    // The paging the vCPU was last resumed with. While it runs its live sregs would
    // wait for KVM_RUN to return, so gdb's addresses are translated under these (a
    // guest that changes CR3 meanwhile is seen with the old tables until it stops).
    PagingState paging_when_resumed() const;
    void interrupt();
    // Keeps the vCPU out of KVM_RUN until release() (counted): returns once it is out
    // (kicked if it was in). It stays resumed: no stop, no report; a held vCPU's
    // registers can be read. For memslot changes while vCPUs run (KvmTarget's
    // breakpoint calls in non-stop mode); the caller holds the breakpoint manager's
    // run_mutex first, so that no runner is inside run_one_unprotected meanwhile.
    void hold();
    void release();
    // The breakpoints changed: a running vCPU reloads its guest-debug state (debug
    // registers, int3 interception) before it enters KVM_RUN again. Thread-safe.
    void guest_debug_changed() { guest_debug_stale_ = true; }
    // How this runner holds every other vCPU (hold(index, true)) and releases them
    // (false) around an instruction run with the page protection lifted
    // (unprotected_step.hpp). Set by the target before start().
    void set_peers(std::function<void(unsigned index, bool hold)> peers) { peers_ = std::move(peers); }
    // Blocks until stopped and the stop handler has returned; not from inside a handler.
    void wait_stopped();
    stub::StopEvent last_stop() const;

    // Exited, killed or crashed: a resume reports the end again. While stopped only.
    bool finished() const { return finished_; }
    // The vCPU ran into a HLT that is not a breakpoint (finished() too): with several
    // vCPUs it is done, and the guest ends when all are.
    bool halted() const { return halted_.load(); }
    // Stops the vCPU if it runs and ends the guest: last_stop() becomes a kill.
    void kill();

    // `monitor break-on-mode-change` (mode_change.hpp): while `watch` is enabled, a
    // resume single-steps and stops after an instruction that changed the mode, and
    // records the change in it. The watch (the target's) outlives the runner.
    void set_mode_watch(ModeChangeWatch& watch) { mode_watch_.store(&watch); }

private:
    enum class State { Stopped, Running };
    struct Command {
        stub::ResumeKind kind;
        StopHandler handler;
        std::optional<stub::StopEvent> preset;  // deliver(): report this, do not run
    };

    void thread_main();
    stub::StopEvent execute(stub::ResumeKind kind);
    // Runs until something stops the guest; `step` sets KVM_GUESTDBG_SINGLESTEP.
    // With the mode watch on (and `watch_mode`), steps through step_watching_mode
    // (mode_change.hpp).
    stub::StopEvent run_until_stop(bool step, bool watch_mode = true);
    std::optional<stub::StopEvent> handle_exit(const VcpuExit& e);
    std::optional<stub::StopEvent> handle_protected_mmio(const exit::Mmio& m);
    // `patches_only`: only a halt on one of our patches is a stop (a kicked vCPU).
    std::optional<stub::StopEvent> halt_stop(bool in_kernel, bool patches_only = false);
    std::optional<stub::StopEvent> poll_halted(bool patches_only = false);
    // An OUT to kBreakPort: true when it was an OUT patch's (ours, or one gdb removed
    // meanwhile), with the stop to report, if any, in `stop`.
    bool out_patch_exit(std::optional<stub::StopEvent>& stop);
    std::optional<stub::StopEvent> finish_instruction();
    VcpuExit run_guest(bool finish_only);
    void apply_guest_debug(bool step);  // KVM_SET_GUEST_DEBUG, remembering `step`
    std::uint64_t linear_pc() const;
    // A single-step of an STI, done without running the vCPU (see the .cpp).
    std::optional<stub::StopEvent> step_sti();

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
    int holds_ = 0;          // hold() without release()
    bool in_guest_ = false;  // inside KVM_RUN (run_guest)
    std::atomic<bool> guest_debug_stale_{false};
    bool guest_debug_step_ = false;  // the vCPU thread's own
    bool quit_ = false;
    bool delivering_ = false;  // the vCPU thread is inside a stop handler
    stub::StopEvent last_stop_;
    PagingState paging_when_resumed_{};
    bool finished_ = false;  // exited, killed or crashed: resume reports last_stop_ again
    std::atomic<bool> halted_{false};
    std::atomic<ModeChangeWatch*> mode_watch_{nullptr};
    std::function<void(unsigned, bool)> peers_;
    const unsigned index_;

    pthread_t thread_handle_{};
    std::thread thread_;
};

}  // namespace kvmgdb::debug
