#include "debug/vcpu_runner.hpp"

#include <stdexcept>
#include <string>
#include <variant>

#include "debug/address_space.hpp"
#include "debug/debug_exit.hpp"
#include "debug/halt_poll.hpp"
#include "debug/kick.hpp"
#include "debug/mode_change.hpp"
#include "debug/register_checks.hpp"
#include "debug/stop_events.hpp"
#include "debug/unprotected_step.hpp"

namespace kvmgdb::debug {

using stub::StopEvent;

namespace {

// rip moved by `delta` bytes, wrapping at 64 KiB where IP is 16 bits (real mode, or
// a 16-bit code segment).
std::uint64_t ip_moved(const kvm_regs& regs, const kvm_sregs& sregs, std::int64_t delta) {
    const std::uint64_t rip = regs.rip + static_cast<std::uint64_t>(delta);
    return !sregs.cs.db && !sregs.cs.l ? rip & 0xffff : rip;
}

}  // namespace

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
            // Why the guest stopped for good (a triple fault, a reset, a halt), on
            // stderr as a plain run says it: gdb's stop reply has no room for it.
            const bool says_why = (ev.kind == StopEvent::Kind::Signal && ev.signal != kSigInt) ||
                                  ev.kind == StopEvent::Kind::Exited;
            if (!ev.message.empty() && says_why) diag_("kvmgdb: " + ev.message + "\n");
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
    const PagingState paging = paging_of(vcpu_.get_sregs());  // stopped: does not block
    {
        std::lock_guard lock(mu_);
        if (state_ == State::Running) throw std::logic_error("VcpuRunner::resume while running");
        state_ = State::Running;
        paging_when_resumed_ = paging;
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

PagingState VcpuRunner::paging_when_resumed() const {
    std::lock_guard lock(mu_);
    return paging_when_resumed_;
}

bool VcpuRunner::running() const {
    std::lock_guard lock(mu_);
    return state_ == State::Running;
}

void VcpuRunner::interrupt() {
    {
        std::lock_guard lock(mu_);
        if (state_ != State::Running) return;
        interrupt_requested_ = true;
        vcpu_.run_state().immediate_exit = 1;
        kick_thread(thread_handle_);
    }
    cv_.notify_all();  // a held vCPU (run_guest) stops once it is released
}

void VcpuRunner::hold() {
    std::unique_lock lock(mu_);
    ++holds_;
    if (in_guest_) {
        vcpu_.run_state().immediate_exit = 1;
        kick_thread(thread_handle_);
    }
    cv_.wait(lock, [&] { return !in_guest_; });
}

void VcpuRunner::apply_guest_debug(bool step) {
    guest_debug_step_ = step;
    guest_debug_stale_ = false;
    bps_.apply_guest_debug(vcpu_, step);
}

void VcpuRunner::release() {
    {
        std::lock_guard lock(mu_);
        --holds_;
    }
    cv_.notify_all();
}

// Every KVM_RUN goes through here, so that hold() can keep the vCPU out. A kick
// (interrupt(), hold()) sets immediate_exit: KVM_RUN then returns EINTR at once, also
// when the kick came just before the ioctl. `finish_only` (finish_instruction)
// completes a pending I/O or MMIO exit without entering the guest, held or not.
VcpuExit VcpuRunner::run_guest(bool finish_only) {
    kvm_run& run = vcpu_.run_state();
    {
        std::unique_lock lock(mu_);
        for (;;) {
            // Held: even a kicked vCPU waits, since completing a pending I/O touches
            // guest memory. finish_only runs under run_mutex, which no holder then has.
            if (!finish_only) cv_.wait(lock, [&] { return holds_ == 0 || quit_; });
            // gdb changed the breakpoints while this vCPU ran (and held it): the debug
            // registers and int3 interception it runs with follow. Not under mu_ (an
            // ioctl, and apply_guest_debug takes run_mutex); a new hold meanwhile is
            // waited for again.
            if (finish_only || !guest_debug_stale_.exchange(false)) break;
            lock.unlock();
            bps_.apply_guest_debug(vcpu_, guest_debug_step_);
            lock.lock();
        }
        run.immediate_exit = finish_only || interrupt_requested_ ? 1 : 0;
        in_guest_ = true;
    }
    struct OutOfGuest {
        VcpuRunner& r;
        ~OutOfGuest() {
            {
                std::lock_guard lock(r.mu_);
                r.in_guest_ = false;
                r.vcpu_.run_state().immediate_exit = r.interrupt_requested_ ? 1 : 0;
            }
            r.cv_.notify_all();
        }
    } out{*this};
    return vcpu_.run();
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

StopEvent VcpuRunner::run_until_stop(bool step, bool watch_mode) {
    if (ModeChangeWatch* w = mode_watch_.load(); watch_mode && w && w->enabled()) {
        ModeStepping how;
        how.vcpu_index = index_;
        how.step_one = [this] { return run_until_stop(true, false); };
        how.run_on = [this] { return run_until_stop(false, false); };
        how.sregs = [this] { return vcpu_.get_sregs(); };
        how.pc = [this] { return linear_pc(); };
        how.finished = [this] { return finished_; };
        how.diag = diag_;
        return step_watching_mode(*w, how, step);
    }
    if (step) {
        if (auto ev = step_sti()) return *ev;
    }
    apply_guest_debug(step);
    // The PC platform halts inside KVM: poll for HLT patches (1 ms while there are
    // any, else 50 ms for a guest that halts for good with interrupts off).
    std::optional<HaltPoll> halt_poll;
    if (machine_.platform() == Platform::Pc) {
        std::size_t patches = 0;
        {
            std::lock_guard bps_lock(bps_.run_mutex());
            patches = bps_.hlt_patch_count();
        }
        halt_poll.emplace(std::chrono::microseconds(patches ? 1000 : 50000));
    }
    for (;;) {
        VcpuExit e = run_guest(false);
        if (std::holds_alternative<exit::Interrupted>(e)) {
            bool interrupted = false;
            {
                std::lock_guard lock(mu_);
                if (interrupt_requested_ && quit_) return signal_stop(kSigKill, "target destroyed");
                interrupted = interrupt_requested_;
            }
            if (interrupted) {
                // Kicked (Ctrl-C, or another vCPU stopped) while halted on a HLT patch
                // the poll had not seen yet: that is the stop, at the breakpoint's
                // address. Left at rip+1 in its halt, the vCPU would later resume
                // inside the guest's instruction once gdb puts its byte back.
                if (halt_poll) {
                    if (auto ev = poll_halted(true)) return *ev;
                }
                return signal_stop(kSigInt);
            }
            if (halt_poll) {
                if (auto ev = poll_halted()) return *ev;
            }
            continue;  // the halt poll, or a stray signal
        }
        // Every emulation failure goes there, protected pages or not: whether any are
        // is only known under run_mutex (gdb may have removed the last one meanwhile),
        // and a failure of the guest's own is reported from there too.
        if (auto* ie = std::get_if<exit::InternalError>(&e); ie && ie->suberror == KVM_INTERNAL_ERROR_EMULATION) {
            UnprotectedStep how{vcpu_, bps_, [this] { return run_guest(false); },
                                [this](bool s) { apply_guest_debug(s); },
                                [this] {
                                    std::lock_guard lock(mu_);
                                    return interrupt_requested_;
                                },
                                [this](const VcpuExit& ex) { return handle_exit(ex); },
                                [this](bool hold) {
                                    if (peers_) peers_(index_, hold);
                                }};
            if (auto ev = run_one_unprotected(how)) return *ev;
            if (step) return signal_stop(kSigTrap);
            apply_guest_debug(step);
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
            std::lock_guard bps_lock(bps_.run_mutex());  // finish_instruction's rule (run_guest)
            if (auto ev = finish_instruction()) return *ev;
            return signal_stop(kSigTrap);
        }
    }
}

std::optional<StopEvent> VcpuRunner::handle_exit(const VcpuExit& e) {
    // Other vCPUs' exits wait: the breakpoint state is shared (breakpoints.hpp).
    std::lock_guard bps_lock(bps_.run_mutex());
    Vcpu& vcpu = vcpu_;
    if (auto* d = std::get_if<exit::Debug>(&e)) return debug_exit_stop(*d, bps_, vcpu);
    if (std::holds_alternative<exit::Hlt>(e)) return halt_stop(false);
    if (auto* io = std::get_if<exit::IoOut>(&e);
        io && io->port == kBreakPort && io->size == 1 && io->count == 1 && bps_.mechanisms().io_patch) {
        std::optional<StopEvent> stop;
        if (out_patch_exit(stop)) return stop;
    }
    if (auto* m = std::get_if<exit::Mmio>(&e)) {
        // A protected page; or one that was when this vCPU's access exited, and that
        // gdb unprotected since (a watchpoint removed while the vCPU runs): the access
        // still goes to RAM, not to the devices.
        if (bps_.is_protected(m->addr) || bps_.in_ram(m->addr, m->len)) return handle_protected_mmio(*m);
    }
    auto outcome = machine_.service_exit(e, index_);
    if (!outcome) return std::nullopt;
    switch (outcome->kind) {
    case RunOutcome::Kind::Halted:
    case RunOutcome::Kind::ExitPort:
    case RunOutcome::Kind::Reset: {
        finished_ = true;
        StopEvent ev;
        ev.kind = StopEvent::Kind::Exited;
        ev.exit_status = outcome->exit_status;
        ev.message = outcome->message;
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

// The vCPU executed a HLT: it left KVM_RUN with KVM_EXIT_HLT (minimal platform), or
// the halt poll found it halted inside KVM (`in_kernel`, the PC platform's in-kernel
// LAPIC). rip is past the HLT (one byte): one of our patches when rip-1 holds one.
// Returns the stop, or nullopt when the vCPU goes on (a patch gdb removed meanwhile;
// in the kernel, a guest's own HLT that an interrupt will end).
std::optional<StopEvent> VcpuRunner::halt_stop(bool in_kernel, bool patches_only) {
    Vcpu& vcpu = vcpu_;
    const kvm_sregs sregs = vcpu.get_sregs();
    kvm_regs regs = vcpu.get_regs();
    const std::uint64_t at = debug::linear_pc(regs, sregs) - 1;
    const PagingState paging = paging_of(sregs);
    const Patch* patch = bps_.patch_hit(paging, at);
    const bool ours = patch && patch->byte == kHlt;
    // Or gdb removed that breakpoint while this vCPU was on its way out of KVM_RUN
    // from it (non-stop: the others run while gdb inserts and removes): rip-1 holds
    // no HLT any more, and the guest's own instruction there runs now, unreported.
    const std::optional<std::uint8_t> byte = ours ? std::nullopt : bps_.ram_byte_at_linear(paging, at);
    const bool removed = byte && *byte != kHlt;
    if (ours || removed) {
        regs.rip -= 1;
        vcpu.set_regs(regs);
        // Out of the halt KVM keeps it in, or the next KVM_RUN would wait for an interrupt.
        if (in_kernel) vcpu.set_mp_state(KVM_MP_STATE_RUNNABLE);
    }
    if (removed) return std::nullopt;
    if (ours) return patch_stop(*patch);
    if (patches_only) return std::nullopt;
    if (in_kernel && (regs.rflags & bits::RFLAGS_IF)) return std::nullopt;  // the next interrupt wakes it
    finished_ = true;
    halted_ = true;
    StopEvent ev;
    ev.kind = StopEvent::Kind::Exited;
    ev.exit_status = 0;
    // The minimal platform's HLT is its ordinary end, as the exit port is: nothing to
    // explain. On the pc platform it is a kernel that stopped for good.
    if (in_kernel) ev.message = "guest halted with interrupts disabled";
    return ev;
}

// The halt poll's kick (halt_poll.hpp): a vCPU halted inside KVM may sit on a patch.
// A single-step of STI executed by the CPU reports one instruction late: STI's
// interrupt shadow also holds back the single-step trap (seen on KVM on SVM: the
// step ran STI and the instruction after it). So a step of an STI that sets IF is
// done here, as the CPU would: IF set, past the one-byte instruction, and the STI
// shadow in KVM's interrupt state, so no interrupt arrives before the next
// instruction. MOV SS and POP SS have the same shadow and are still stepped by KVM.
std::optional<StopEvent> VcpuRunner::step_sti() {
    constexpr std::uint8_t kSti = 0xfb;
    const kvm_sregs sregs = vcpu_.get_sregs();
    kvm_regs regs = vcpu_.get_regs();
    if (regs.rflags & (bits::RFLAGS_IF | bits::RFLAGS_VM)) return std::nullopt;  // no shadow, or virtual-8086 rules
    const bool protected_mode = sregs.cr0 & bits::CR0_PE;
    const unsigned cpl = protected_mode ? sregs.cs.dpl : 0;
    if (cpl > ((regs.rflags >> bits::RFLAGS_IOPL_SHIFT) & 3)) return std::nullopt;  // STI faults (#GP): let the CPU say so
    {
        std::lock_guard bps_lock(bps_.run_mutex());
        const std::optional<std::uint8_t> byte = bps_.ram_byte_at_linear(paging_of(sregs), debug::linear_pc(regs, sregs));
        if (byte != kSti) return std::nullopt;  // another instruction, or a breakpoint's patch there
    }
    regs.rflags |= bits::RFLAGS_IF;
    regs.rip = ip_moved(regs, sregs, 1);
    vcpu_.set_regs(regs);
    kvm_vcpu_events events = vcpu_.get_vcpu_events();
    events.flags = KVM_VCPUEVENT_VALID_SHADOW;
    events.interrupt.shadow = KVM_X86_SHADOW_INT_STI;
    vcpu_.set_vcpu_events(events);
    return signal_stop(kSigTrap);
}

std::optional<StopEvent> VcpuRunner::poll_halted(bool patches_only) {
    std::lock_guard bps_lock(bps_.run_mutex());
    if (vcpu_.get_mp_state() != KVM_MP_STATE_HALTED) return std::nullopt;
    return halt_stop(true, patches_only);
}

// KVM (Linux 5.1 on) leaves rip at an OUT it exits for and skips the instruction on
// the next KVM_RUN (complete_userspace_io). That KVM_RUN is made now, with
// immediate_exit (finish_instruction: no guest instruction runs), and rip set back
// to the patch: the vCPU stops at the breakpoint, and whatever resumes it (a step
// over it, a continue with the guest's bytes back) owes KVM nothing. What the skip
// changed besides rip is put back too: the interrupt shadow of an STI or MOV SS
// just before (the guest's instruction must still run under it), and the #DB a
// guest's own TF would queue for the OUT, which never ran. The guest's own OUT to
// port 0xE5, where no patch is, goes to the devices as any port write.
bool VcpuRunner::out_patch_exit(std::optional<StopEvent>& stop) {
    const kvm_sregs sregs = vcpu_.get_sregs();
    kvm_regs regs = vcpu_.get_regs();
    const std::uint64_t pc = debug::linear_pc(regs, sregs);
    const PagingState paging = paging_of(sregs);
    const Patch* patch = bps_.patch_hit(paging, pc);
    if (patch && patch->byte != kOutImm8) patch = nullptr;
    // Not ours: the guest's own OUT, unless an OUT patch of ours was there and gdb
    // removed it while this vCPU was on its way out of KVM_RUN from it (non-stop):
    // the guest's bytes are back, and they run now, unreported.
    if (!patch) {
        const std::optional<std::uint8_t> first = bps_.ram_byte_at_linear(paging, pc);
        if (!bps_.out_patch_removed_at(paging, pc) || first == kOutImm8) return false;
    }
    const std::optional<StopEvent> ours = patch ? std::optional(patch_stop(*patch)) : std::nullopt;
    const std::uint8_t shadow = vcpu_.get_vcpu_events().interrupt.shadow;
    const bool tf = regs.rflags & bits::RFLAGS_TF;
    if (tf) {
        regs.rflags &= ~bits::RFLAGS_TF;
        vcpu_.set_regs(regs);
    }
    finish_instruction();  // what it might report (a step's trap) is this stop's, not another
    regs = vcpu_.get_regs();
    regs.rip = ip_moved(regs, sregs, -2);
    if (tf) regs.rflags |= bits::RFLAGS_TF;
    vcpu_.set_regs(regs);
    if (shadow) {
        kvm_vcpu_events events = vcpu_.get_vcpu_events();
        events.flags = KVM_VCPUEVENT_VALID_SHADOW;
        events.interrupt.shadow = shadow;
        vcpu_.set_vcpu_events(events);
    }
    stop = ours;
    return true;
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
    std::optional<StopEvent> stop;
    for (;;) {
        VcpuExit e = run_guest(true);
        if (std::holds_alternative<exit::Interrupted>(e)) return stop;
        auto ev = handle_exit(e);
        if (std::holds_alternative<exit::Debug>(e)) return ev;
        if (ev) return ev;
    }
}

}  // namespace kvmgdb::debug
