#include "debug/vcpu_runner.hpp"

#include <stdexcept>
#include <string>
#include <variant>

#include "debug/address_space.hpp"
#include "debug/kick.hpp"
#include "debug/mode_change.hpp"
#include "debug/register_checks.hpp"
#include "debug/stop_events.hpp"
#include "util/hex.hpp"

namespace kvmgdb::debug {

using stub::StopEvent;

VcpuRunner::VcpuRunner(Machine& machine, Vcpu& vcpu, BreakpointManager& breakpoints, TextSink diag, unsigned index)
    : machine_(machine), vcpu_(vcpu), bps_(breakpoints), diag_(std::move(diag)), registers_(vcpu,
                 xsave_support(machine.cpuid()), supported_xcr0(machine.cpuid())), index_(index) {
    last_stop_ = signal_stop(kSigTrap);
    last_stop_.thread = thread_id();
}

void VcpuRunner::start() {
    if (thread_.joinable()) return;
    install_kick_handler();
    thread_ = std::thread([this] { thread_main(); });
    thread_handle_ = thread_.native_handle();
}

VcpuRunner::~VcpuRunner() {
    if (!thread_.joinable()) return;
    {
        std::lock_guard lock(mu_);
        quit_ = true;
        if (state_ == State::Running) {
            interrupt_requested_ = true;
            vcpu_.run_state().immediate_exit = 1;
            kick_thread(thread_handle_);
        }
    }
    cv_.notify_all();
    thread_.join();
}

StopEvent VcpuRunner::last_stop() const {
    std::lock_guard lock(mu_);
    return last_stop_;
}

void VcpuRunner::kill() {
    interrupt();
    wait_stopped();
    finished_ = true;
    std::lock_guard lock(mu_);
    last_stop_ = StopEvent{StopEvent::Kind::Terminated, kSigKill, 0, 0, "killed"};
}

std::uint64_t VcpuRunner::linear_pc() const { return debug::linear_pc(vcpu_.get_regs(), vcpu_.get_sregs()); }

void VcpuRunner::thread_main() {
    for (;;) {
        Command cmd;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return quit_ || command_.has_value(); });
            if (quit_) return;
            cmd = std::move(*command_);
            command_.reset();
        }
        StopEvent ev;
        if (cmd.preset) {
            ev = std::move(*cmd.preset);
        } else {
            try {
                ev = execute(cmd.kind);
            } catch (const std::exception& e) {
                ev = signal_stop(kSigAbrt, std::string("kvmgdb: ") + e.what());
                finished_ = true;
            }
            ev.thread = thread_id();
            if (!ev.message.empty() && ev.kind == StopEvent::Kind::Signal && ev.signal != kSigInt)
                diag_("kvmgdb: " + ev.message + "\n");
        }
        bool quitting;
        {
            std::lock_guard lock(mu_);
            state_ = State::Stopped;
            last_stop_ = ev;
            // A guest that ended or crashed keeps the layout gdb knows: on AMD, KVM
            // reinitialises the vCPU on a triple fault (CS:IP f000:fff0, real mode), and a
            // stop reply in the i8086 layout would not parse against gdb's x86-64 one.
            if (!finished_) {
                try {
                    registers_.refresh_arch();
                } catch (const std::exception&) {
                    // keep the last known layout
                }
            }
            interrupt_requested_ = false;
            vcpu_.run_state().immediate_exit = 0;
            quitting = quit_;
            delivering_ = true;
        }
        cv_.notify_all();
        if (!quitting && cmd.handler) cmd.handler(ev);
        {
            std::lock_guard lock(mu_);
            delivering_ = false;
        }
        cv_.notify_all();
    }
}

void VcpuRunner::resume(stub::ResumeKind kind, StopHandler on_stop) {
    {
        std::lock_guard lock(mu_);
        if (state_ == State::Running) throw std::logic_error("VcpuRunner::resume while running");
        state_ = State::Running;
        command_ = Command{kind, std::move(on_stop), std::nullopt};
    }
    cv_.notify_all();
}

void VcpuRunner::deliver(StopEvent ev, StopHandler on_stop) {
    {
        std::lock_guard lock(mu_);
        if (state_ == State::Running) throw std::logic_error("VcpuRunner::deliver while running");
        state_ = State::Running;
        command_ = Command{stub::ResumeKind::Continue, std::move(on_stop), std::move(ev)};
    }
    cv_.notify_all();
}

bool VcpuRunner::running() const {
    std::lock_guard lock(mu_);
    return state_ == State::Running;
}

void VcpuRunner::interrupt() {
    std::lock_guard lock(mu_);
    if (state_ != State::Running) return;
    interrupt_requested_ = true;
    vcpu_.run_state().immediate_exit = 1;
    kick_thread(thread_handle_);
}

void VcpuRunner::wait_stopped() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return state_ == State::Stopped && !delivering_; });
}

StopEvent VcpuRunner::execute(stub::ResumeKind kind) {
    if (finished_) {
        // The guest ended. After an exit (W) or a kill (X) that is said again. After a
        // crash stop (a triple fault, a failed entry: SIGSEGV or SIGABRT) the guest
        // cannot go on, and the next resume ends it with that signal, `X` in the RSP:
        // gdb then prints "Program terminated with signal ...", as for a process
        // killed by the signal it stopped with (gdb.base/exitsignal).
        std::lock_guard lock(mu_);
        StopEvent ev = last_stop_;
        if (ev.kind != StopEvent::Kind::Exited && ev.kind != StopEvent::Kind::Terminated) {
            ev.kind = StopEvent::Kind::Terminated;
            ev.address = 0;
            ev.message.clear();
        }
        return ev;
    }
    // A breakpoint gdb inserted at the pc the guest resumes from is not stepped over:
    // `jump *main` onto `break *main`, an inferior call of a function whose first
    // instruction holds a breakpoint, `continue` after `return` onto one, must all
    // report it. gdb does its own step-over (z0, vCont;s, Z0) when it wants one, and
    // gdbserver never steps over a breakpoint gdb inserted.
    return run_until_stop(kind == stub::ResumeKind::Step);
}

// `monitor break-on-mode-change on`. KVM exits to user space on no write to CR0 or
// CR4 (it handles them in the kernel; only EFER could be caught, by an MSR filter),
// so while the watch is on every instruction is single-stepped and the mode compared
// after it: one exit per instruction (docs/modes.md, "Breaking on mode changes").
// A continue steps until another stop or a change; a step checks its one instruction.
StopEvent VcpuRunner::step_watching_mode(ModeChangeWatch& watch, bool step) {
    const ModeSignature before = mode_signature(vcpu_.get_sregs());
    std::uint64_t steps = 0;
    struct Count {
        ModeChangeWatch& watch;
        std::uint64_t& steps;
        ~Count() { watch.count_steps(steps); }
    } count{watch, steps};
    for (;;) {
        StopEvent ev = run_until_stop(true, false);
        ++steps;
        const bool plain_step = ev.kind == StopEvent::Kind::Signal && ev.signal == kSigTrap && ev.message.empty();
        if (!finished_) {
            const ModeSignature after = mode_signature(vcpu_.get_sregs());
            if (mode_changed(before, after)) {
                const std::string text = describe_mode_change(before, after);
                watch.record("vCPU " + std::to_string(index_) + " at " + hex(linear_pc()) + ": " + text);
                ev.console = "kvmgdb: mode change: " + text + "\n";
                if (plain_step)
                    ev.message = "mode change: " + text;  // thread_main writes it to the diag sink
                else
                    diag_(ev.console);  // a breakpoint or watchpoint says why it stopped, too
                return ev;
            }
        }
        if (step || !plain_step) return ev;
        if (!watch.enabled()) return run_until_stop(false, false);  // turned off meanwhile (non-stop)
    }
}

StopEvent VcpuRunner::run_until_stop(bool step, bool watch_mode) {
    if (ModeChangeWatch* w = mode_watch_.load(); watch_mode && w && w->enabled()) return step_watching_mode(*w, step);
    bps_.apply_guest_debug(vcpu_, step);
    for (;;) {
        VcpuExit e = vcpu_.run();
        {
            std::lock_guard lock(mu_);
            if (std::holds_alternative<exit::Interrupted>(e)) {
                if (interrupt_requested_) {
                    if (quit_) return signal_stop(kSigKill, "target destroyed");
                    return signal_stop(kSigInt);
                }
                continue;  // a stray signal
            }
        }
        if (auto* ie = std::get_if<exit::InternalError>(&e);
            ie && ie->suberror == KVM_INTERNAL_ERROR_EMULATION && bps_.any_protected()) {
            if (auto ev = run_one_unprotected()) return *ev;
            if (step) return signal_stop(kSigTrap);
            bps_.apply_guest_debug(vcpu_, step);
            continue;
        }
        if (auto ev = handle_exit(e)) return *ev;
        // The exit was the VMM's (port I/O, MMIO, a write to a protected page) and the
        // guest goes on. A step is one instruction whatever exits it took: finish this
        // one here instead of trusting KVM to raise the single-step trap after an
        // instruction it completed for user space (it did not after an emulated write
        // to a read-only memslot: the step ran on to the guest's end).
        const bool serviced = std::holds_alternative<exit::IoOut>(e) || std::holds_alternative<exit::IoIn>(e) ||
                              std::holds_alternative<exit::Mmio>(e);
        if (step && serviced) {
            if (auto ev = finish_instruction()) return *ev;
            return signal_stop(kSigTrap);
        }
    }
}

std::optional<StopEvent> VcpuRunner::handle_exit(const VcpuExit& e) {
    // Other vCPUs' exits wait: the breakpoint state is shared (breakpoints.hpp).
    std::lock_guard bps_lock(bps_.run_mutex());
    Vcpu& vcpu = vcpu_;
    if (auto* d = std::get_if<exit::Debug>(&e)) {
        if (d->exception == 1) {
            const DebugRegisterSlots& drs = bps_.debug_registers();
            const std::uint8_t hits = drs.enabled_hits(d->dr6);
            for (int i = 0; i < kDebugSlots; ++i) {
                if (!(hits & (1u << i))) continue;
                const DebugSlot& slot = drs.slots()[static_cast<std::size_t>(i)];
                StopEvent ev;
                switch (slot.kind) {
                case DebugKind::Execute: ev.kind = StopEvent::Kind::HardwareBreak; break;
                case DebugKind::Write: ev.kind = StopEvent::Kind::Watch; break;
                case DebugKind::ReadWrite: ev.kind = StopEvent::Kind::AccessWatch; break;
                }
                ev.signal = kSigTrap;
                ev.address = slot.addr;
                return ev;
            }
            // A single step (DR6.BS), or a #DB we did not ask for: a plain SIGTRAP stop.
            return signal_stop(kSigTrap);
        }
        if (d->exception == 3) {
            // int3 intercepted: rip is at the int3 (VMX and SVM both report the
            // instruction, not the address after it), so only a patch at rip is ours. A
            // guest int3 on the byte after one of our patches is the guest's own.
            const Patch* patch = bps_.patch_at(linear_pc());
            if (!patch) {
                // The guest's own int3: hand the #BP back to the guest's IDT, as if no
                // debugger were there (QEMU's KVM code does the same). KVM injects it as
                // a software exception with the intercepted instruction's length, so
                // the guest sees the return address after the int3.
                kvm_vcpu_events events = vcpu.get_vcpu_events();
                events.exception.injected = 1;
                events.exception.nr = 3;
                events.exception.has_error_code = 0;
                events.exception.error_code = 0;
                vcpu.set_vcpu_events(events);
                return std::nullopt;
            }
            StopEvent ev = signal_stop(kSigTrap);
            ev.kind = patch->software ? StopEvent::Kind::SoftwareBreak : StopEvent::Kind::HardwareBreak;
            return ev;
        }
        return signal_stop(kSigTrap, "debug exception " + std::to_string(d->exception));
    }
    if (std::holds_alternative<exit::Hlt>(e)) {
        // rip is past the HLT: one of our patches when rip-1 is a breakpoint address.
        const Patch* patch = bps_.patch_at(linear_pc() - 1);
        if (patch && patch->byte == kHlt) {
            kvm_regs r = vcpu.get_regs();
            r.rip -= 1;
            vcpu.set_regs(r);
            StopEvent ev;
            ev.kind = patch->software ? StopEvent::Kind::SoftwareBreak : StopEvent::Kind::HardwareBreak;
            ev.signal = kSigTrap;
            return ev;
        }
        finished_ = true;
        halted_ = true;
        StopEvent ev;
        ev.kind = StopEvent::Kind::Exited;
        ev.exit_status = 0;
        ev.message = "guest halted";
        return ev;
    }
    if (auto* m = std::get_if<exit::Mmio>(&e)) {
        if (bps_.is_protected(m->addr)) return handle_protected_mmio(*m);
    }
    auto outcome = machine_.service_exit(e, index_);
    if (!outcome) return std::nullopt;
    switch (outcome->kind) {
    case RunOutcome::Kind::Halted:
    case RunOutcome::Kind::ExitPort: {
        finished_ = true;
        StopEvent ev;
        ev.kind = StopEvent::Kind::Exited;
        ev.exit_status = outcome->exit_status;
        return ev;
    }
    case RunOutcome::Kind::TripleFault:
        finished_ = true;
        return signal_stop(kSigSegv, outcome->message);
    default:
        finished_ = true;
        return signal_stop(kSigAbrt, outcome->message);
    }
}

std::optional<StopEvent> VcpuRunner::handle_protected_mmio(const exit::Mmio& m) {
    auto hit = bps_.protected_access(m);
    if (!hit) return std::nullopt;
    // The access is done; the watchpoint reports it, unless finishing the
    // instruction ended the guest or hit something that must be said instead.
    if (auto other = finish_instruction();
        other && (finished_ || other->kind != StopEvent::Kind::Signal || other->signal != kSigTrap))
        return other;
    return watch_stop(*hit);
}

// Lets KVM finish the instruction of an I/O or MMIO exit without running further:
// with immediate_exit set, KVM_RUN completes the pending operation and returns EINTR
// before entering the guest. Completing it may need user space again (the next
// fragment of an access that spans two pages, the rest of a `rep outs`), so this
// services exits until KVM says EINTR. A stop found on the way (a debug exit: the
// single-step trap, a debug register; the guest's end) is returned.
std::optional<StopEvent> VcpuRunner::finish_instruction() {
    kvm_run& run = vcpu_.run_state();
    std::optional<StopEvent> stop;
    for (;;) {
        {
            std::lock_guard lock(mu_);
            run.immediate_exit = 1;
        }
        VcpuExit e = vcpu_.run();
        {
            std::lock_guard lock(mu_);
            run.immediate_exit = interrupt_requested_ ? 1 : 0;
        }
        if (std::holds_alternative<exit::Interrupted>(e)) return stop;
        auto ev = handle_exit(e);
        if (std::holds_alternative<exit::Debug>(e)) return ev;
        if (ev) return ev;
    }
}

// KVM's instruction emulator cannot do every instruction (SSE and AVX stores, ...),
// and an access to a protected page (watched, or holding a patched breakpoint) is
// emulated. Where it gave up, the instruction runs natively: the protection is lifted,
// the vCPU steps one instruction, the protection comes back, and the watched bytes
// and patch bytes are checked. First only read-only pages are lifted, so that an
// access to an access-watched page (a hole) is still seen as MMIO; if the emulator
// gives up on that too, the holes go as well and the access watchpoint is reported
// (the page is all it can tell). Returns a stop, or nullopt once the instruction ran.
std::optional<StopEvent> VcpuRunner::run_one_unprotected() {
    // The protection is the whole VM's: no other vCPU's exit is handled meanwhile (a
    // vCPU still inside KVM_RUN could write a watched page unseen for this one
    // instruction; docs/modes.md, "Several vCPUs").
    std::lock_guard bps_lock(bps_.run_mutex());
    Vcpu& vcpu = vcpu_;
    // When it gave up KVM also queued a #UD for the guest (handle_emulation_failure);
    // the instruction is not at fault, so it is taken back.
    auto drop_queued_ud = [&] {
        kvm_vcpu_events events = vcpu.get_vcpu_events();
        if ((events.exception.injected || events.exception.pending) && events.exception.nr == 6) {
            events.exception.injected = 0;
            events.exception.pending = 0;
            events.flags = 0;
            vcpu.set_vcpu_events(events);
        }
    };
    // The watched bytes, to compare once the instruction ran.
    const std::vector<std::vector<std::uint8_t>> before = bps_.watched_bytes();
    // Whatever happens on the way (an ioctl failing), the protection comes back.
    struct Reprotect {
        BreakpointManager& bps;
        ~Reprotect() {
            if (bps.protection() == Protection::Full) return;
            try {
                bps.set_protection(Protection::Full);
            } catch (...) {
                // sync_memslots already fell back to plain RAM; the exception in flight says why
            }
        }
    } reprotect{bps_};
    std::optional<StopEvent> stop;
    bool done = false;
    for (Protection lifted : {Protection::HolesOnly, Protection::None}) {
        drop_queued_ud();
        bps_.set_protection(lifted);
        bps_.apply_guest_debug(vcpu_, true);
        for (;;) {
            VcpuExit e = vcpu.run();
            if (std::holds_alternative<exit::Interrupted>(e)) {
                std::lock_guard lock(mu_);
                if (interrupt_requested_) {
                    stop = signal_stop(kSigInt);
                    done = true;
                    break;
                }
                continue;
            }
            if (auto* ie = std::get_if<exit::InternalError>(&e); ie && ie->suberror == KVM_INTERNAL_ERROR_EMULATION) {
                if (lifted == Protection::None) {
                    stop = handle_exit(e);  // not ours after all: the guest's own failure
                    done = true;
                }
                break;  // it touched an access-watched page: lift the holes too
            }
            stop = handle_exit(e);
            if (std::holds_alternative<exit::Debug>(e) || stop) {
                if (stop && stop->kind == StopEvent::Kind::Signal && stop->signal == kSigTrap) stop.reset();  // the step
                done = true;
                break;
            }
        }
        if (done) {
            if (lifted == Protection::None && !stop) {
                if (auto hit = bps_.first_access_watch()) stop = watch_stop(*hit);
            }
            break;
        }
    }
    bps_.set_protection(Protection::Full);
    // A write through the lifted protection may have covered a patch byte.
    bps_.repatch();
    if (stop && stop->kind != StopEvent::Kind::AccessWatch) return stop;
    if (!stop) {
        if (auto hit = bps_.changed_watch(before)) stop = watch_stop(*hit);
    }
    return stop;
}

}  // namespace kvmgdb::debug
