#include "debug/kvm_target.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <elf.h>
#include <iostream>
#include <sstream>

#include "debug/guest_debug.hpp"
#include "debug/kick.hpp"
#include "debug/register_map.hpp"
#include "util/hex.hpp"
#include "x86/debug_registers.hpp"
#include "x86/page_walk.hpp"

namespace kvmgdb::debug {

using stub::BreakpointKind;
using stub::StopEvent;
using stub::TargetStatus;

namespace {

constexpr std::uint8_t kInt3 = 0xcc;
constexpr std::uint8_t kHlt = 0xf4;

// GDB signal numbers (gdb/signals.def), not the host's.
constexpr int kSigInt = 2, kSigTrap = 5, kSigAbrt = 6, kSigKill = 9, kSigSegv = 11;

StopEvent signal_stop(int sig, std::string message = {}) {
    StopEvent ev;
    ev.kind = StopEvent::Kind::Signal;
    ev.signal = sig;
    ev.message = std::move(message);
    return ev;
}

// The stop of a page-protection watchpoint (watch:ADDR or awatch:ADDR).
StopEvent watch_stop(BreakpointKind kind, std::uint64_t addr) {
    StopEvent ev;
    ev.kind = kind == BreakpointKind::WriteWatch ? StopEvent::Kind::Watch : StopEvent::Kind::AccessWatch;
    ev.signal = kSigTrap;
    ev.address = addr;
    return ev;
}

DebugKind dr_kind(BreakpointKind kind) {
    return kind == BreakpointKind::Hardware     ? DebugKind::Execute
           : kind == BreakpointKind::WriteWatch ? DebugKind::Write
                                                : DebugKind::ReadWrite;
}

bool dr_range_ok(BreakpointKind kind, std::uint64_t addr, std::uint64_t len) {
    return len <= 8 && !check_debug_slot(dr_kind(kind), addr, static_cast<unsigned>(len)).has_value();
}

bool overlaps(std::uint64_t a, std::uint64_t alen, std::uint64_t b, std::uint64_t blen) {
    return a < b + blen && b < a + alen;
}

}  // namespace

KvmTarget::KvmTarget(std::unique_ptr<Machine> machine, TargetOptions options)
    : machine_(std::move(machine)), space_(machine_->memory()), probe_(host_debug_probe()), diag_(std::move(options.diagnostics)) {
    if (!diag_) diag_ = [](std::string_view s) { std::cerr << s << std::flush; };
    sw_forced_ = options.software != BreakMechanism::Auto;
    hw_forced_ = options.hardware != BreakMechanism::Auto;
    watch_forced_ = options.watch != WatchMechanism::Auto;
    sw_mech_ = options.software;
    if (sw_mech_ == BreakMechanism::Auto || sw_mech_ == BreakMechanism::DebugRegisters) {
        sw_mech_ = probe_.sw_bp_traps ? BreakMechanism::Int3 : BreakMechanism::HltPatch;
    }
    hw_mech_ = options.hardware;
    if (hw_mech_ == BreakMechanism::Auto || hw_mech_ == BreakMechanism::Int3) {
        hw_mech_ = probe_.hw_exec_traps ? BreakMechanism::DebugRegisters : BreakMechanism::HltPatch;
    }
    watch_mech_ = options.watch;
    if (watch_mech_ == WatchMechanism::Auto) {
        watch_mech_ = probe_.hw_write_traps ? WatchMechanism::DebugRegisters : WatchMechanism::PageProtection;
    }
    last_stop_ = signal_stop(kSigTrap);
    arch_ = arch_of(sregs());
#ifdef KVM_CAP_EXIT_ON_EMULATION_FAILURE
    // An instruction KVM's emulator cannot do on a protected page exits to us at
    // every CPL (run_one_unprotected runs it natively), instead of giving the guest
    // a #UD when it runs outside ring 0.
    if (machine_->vm().check_extension(KVM_CAP_EXIT_ON_EMULATION_FAILURE) > 0)
        machine_->vm().enable_cap(KVM_CAP_EXIT_ON_EMULATION_FAILURE, 1);
#endif
    install_kick_handler();
    thread_ = std::thread([this] { thread_main(); });
    thread_handle_ = thread_.native_handle();
}

KvmTarget::~KvmTarget() {
    {
        std::lock_guard lock(mu_);
        quit_ = true;
        if (state_ == State::Running) {
            interrupt_requested_ = true;
            machine_->vcpu().run_state().immediate_exit = 1;
            kick_thread(thread_handle_);
        }
    }
    cv_.notify_all();
    thread_.join();
}

// ---------------------------------------------------------------------------
// Run control

void KvmTarget::thread_main() {
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
        try {
            ev = execute(cmd.kind);
        } catch (const std::exception& e) {
            ev = signal_stop(kSigAbrt, std::string("kvmgdb: ") + e.what());
            finished_ = true;
        }
        if (!ev.message.empty() && ev.kind == StopEvent::Kind::Signal && ev.signal != kSigInt)
            diag_("kvmgdb: " + ev.message + "\n");
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
                    arch_ = arch_of(sregs());
                } catch (const std::exception&) {
                    // keep the last known layout
                }
            }
            interrupt_requested_ = false;
            machine_->vcpu().run_state().immediate_exit = 0;
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

void KvmTarget::resume(stub::ResumeKind kind, std::optional<std::uint8_t> /*signal: bare metal has none*/,
                       StopHandler on_stop) {
    {
        std::lock_guard lock(mu_);
        if (state_ == State::Running) throw std::logic_error("KvmTarget::resume while running");
        state_ = State::Running;
        command_ = Command{kind, std::move(on_stop)};
    }
    cv_.notify_all();
}

void KvmTarget::interrupt() {
    std::lock_guard lock(mu_);
    if (state_ != State::Running) return;
    interrupt_requested_ = true;
    machine_->vcpu().run_state().immediate_exit = 1;
    kick_thread(thread_handle_);
}

void KvmTarget::wait_stopped() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return state_ == State::Stopped && !delivering_; });
}

StopEvent KvmTarget::execute(stub::ResumeKind kind) {
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

StopEvent KvmTarget::run_until_stop(bool step) {
    apply_guest_debug(step);
    for (;;) {
        VcpuExit e = machine_->vcpu().run();
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
            ie && ie->suberror == KVM_INTERNAL_ERROR_EMULATION && !protected_pages_.empty()) {
            if (auto ev = run_one_unprotected()) return *ev;
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
            if (auto ev = finish_instruction()) return *ev;
            return signal_stop(kSigTrap);
        }
    }
}

std::optional<StopEvent> KvmTarget::handle_exit(const VcpuExit& e) {
    Vcpu& vcpu = machine_->vcpu();
    if (auto* d = std::get_if<exit::Debug>(&e)) {
        if (d->exception == 1) {
            const std::uint8_t hits = drs_.enabled_hits(d->dr6);
            for (int i = 0; i < kDebugSlots; ++i) {
                if (!(hits & (1u << i))) continue;
                const DebugSlot& slot = drs_.slots()[static_cast<std::size_t>(i)];
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
            std::uint64_t pc = linear_pc();
            auto it = patches_.find(pc);
            if (it == patches_.end()) {
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
            ev.kind = it->second.software ? StopEvent::Kind::SoftwareBreak : StopEvent::Kind::HardwareBreak;
            return ev;
        }
        return signal_stop(kSigTrap, "debug exception " + std::to_string(d->exception));
    }
    if (std::holds_alternative<exit::Hlt>(e)) {
        // rip is past the HLT: one of our patches when rip-1 is a breakpoint address.
        std::uint64_t at = linear_pc() - 1;
        auto it = patches_.find(at);
        if (it != patches_.end() && it->second.byte == kHlt) {
            kvm_regs r = vcpu.get_regs();
            r.rip -= 1;
            vcpu.set_regs(r);
            StopEvent ev;
            ev.kind = it->second.software ? StopEvent::Kind::SoftwareBreak : StopEvent::Kind::HardwareBreak;
            ev.signal = kSigTrap;
            return ev;
        }
        finished_ = true;
        StopEvent ev;
        ev.kind = StopEvent::Kind::Exited;
        ev.exit_status = 0;
        ev.message = "guest halted";
        return ev;
    }
    if (auto* m = std::get_if<exit::Mmio>(&e)) {
        if (protected_pages_.count(m->addr & ~(kPageSize - 1))) return handle_protected_mmio(*m);
    }
    auto outcome = machine_->service_exit(e);
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

std::optional<StopEvent> KvmTarget::handle_protected_mmio(const exit::Mmio& m) {
    GuestMemory& mem = machine_->memory();
    std::uint64_t len = std::min<std::uint64_t>(m.len, m.data.size());
    if (!mem.contains(m.addr, len)) return std::nullopt;
    if (m.is_write) {
        mem.write(m.addr, std::span<const std::uint8_t>(m.data.data(), len));
        // The guest wrote over a patched breakpoint byte: that is the byte to restore
        // later, and the patch stays in place.
        for (auto& [addr, p] : patches_) {
            if (!overlaps(m.addr, len, p.phys, 1)) continue;
            p.original = m.data[p.phys - m.addr];
            mem.write8(p.phys, p.byte);
        }
    } else {
        mem.read(m.addr, std::span<std::uint8_t>(m.data.data(), len));
    }
    for (const auto& w : page_watches_) {
        if (!m.is_write && w.kind != BreakpointKind::AccessWatch) continue;
        for (auto [b, end] : w.phys) {
            if (!overlaps(m.addr, len, b, end - b)) continue;
            // The access is done; the watchpoint reports it, unless finishing the
            // instruction ended the guest or hit something that must be said instead.
            if (auto other = finish_instruction();
                other && (finished_ || other->kind != StopEvent::Kind::Signal || other->signal != kSigTrap))
                return other;
            return watch_stop(w.kind, w.addr);
        }
    }
    return std::nullopt;
}

// Lets KVM finish the instruction of an I/O or MMIO exit without running further:
// with immediate_exit set, KVM_RUN completes the pending operation and returns EINTR
// before entering the guest. Completing it may need user space again (the next
// fragment of an access that spans two pages, the rest of a `rep outs`), so this
// services exits until KVM says EINTR. A stop found on the way (a debug exit: the
// single-step trap, a debug register; the guest's end) is returned.
std::optional<StopEvent> KvmTarget::finish_instruction() {
    kvm_run& run = machine_->vcpu().run_state();
    std::optional<StopEvent> stop;
    for (;;) {
        {
            std::lock_guard lock(mu_);
            run.immediate_exit = 1;
        }
        VcpuExit e = machine_->vcpu().run();
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
std::optional<StopEvent> KvmTarget::run_one_unprotected() {
    Vcpu& vcpu = machine_->vcpu();
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
    auto watched_bytes = [&](const PageWatch& w) {
        std::vector<std::uint8_t> bytes;
        for (auto [b, e] : w.phys) {
            const std::size_t at = bytes.size();
            bytes.resize(at + (e - b));
            machine_->memory().read(b, std::span<std::uint8_t>(bytes).subspan(at));
        }
        return bytes;
    };
    std::vector<std::vector<std::uint8_t>> before;
    for (const auto& w : page_watches_) before.push_back(watched_bytes(w));
    // Whatever happens on the way (an ioctl failing), the protection comes back.
    struct Reprotect {
        KvmTarget& t;
        ~Reprotect() {
            if (t.protection_ == Protection::Full) return;
            t.protection_ = Protection::Full;
            try {
                t.sync_memslots();
            } catch (...) {
                // sync_memslots already fell back to plain RAM; the exception in flight says why
            }
        }
    } reprotect{*this};
    std::optional<StopEvent> stop;
    bool done = false;
    for (Protection lifted : {Protection::HolesOnly, Protection::None}) {
        drop_queued_ud();
        protection_ = lifted;
        sync_memslots();
        apply_guest_debug(true);
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
                for (const auto& w : page_watches_) {
                    if (w.kind != BreakpointKind::AccessWatch) continue;
                    stop = watch_stop(w.kind, w.addr);
                    break;
                }
            }
            break;
        }
    }
    protection_ = Protection::Full;
    sync_memslots();
    // A write through the lifted protection may have covered a patch byte: it is the
    // guest's byte to restore later, and the patch goes back.
    for (auto& [addr, p] : patches_) {
        std::uint8_t now = machine_->memory().read8(p.phys);
        if (now != p.byte) {
            p.original = now;
            machine_->memory().write8(p.phys, p.byte);
        }
    }
    if (stop && stop->kind != StopEvent::Kind::AccessWatch) return stop;
    for (std::size_t i = 0; i < page_watches_.size() && !stop; ++i) {
        const PageWatch& w = page_watches_[i];
        if (watched_bytes(w) != before[i]) stop = watch_stop(w.kind, w.addr);
    }
    return stop;
}

void KvmTarget::apply_guest_debug(bool step) {
    GuestDebugRequest request;
    request.slots = drs_.slots();
    request.int3_patches =
        std::any_of(patches_.begin(), patches_.end(), [](const auto& p) { return p.second.byte == kInt3; });
    request.single_step = step;
    request.blockirq_supported = probe_.guest_debug2 & KVM_GUESTDBG_BLOCKIRQ;
    machine_->vcpu().set_guest_debug(make_guest_debug(request));
}

const KvmTarget::Patch* KvmTarget::patch_at_phys(std::uint64_t phys) const {
    for (const auto& [addr, p] : patches_)
        if (p.phys == phys) return &p;
    return nullptr;
}

void KvmTarget::remove_all_breakpoints() {
    wait_stopped();
    for (auto& [addr, p] : patches_) machine_->memory().write8(p.phys, p.original);
    patches_.clear();
    drs_.clear();
    page_watches_.clear();
    sync_memslots();
}

void KvmTarget::detach() {
    remove_all_breakpoints();
    if (!finished_) resume(stub::ResumeKind::Continue, std::nullopt, {});
}

void KvmTarget::kill() {
    interrupt();
    wait_stopped();
    finished_ = true;
    std::lock_guard lock(mu_);
    last_stop_ = StopEvent{StopEvent::Kind::Terminated, kSigKill, 0, 0, "killed"};
}

// ---------------------------------------------------------------------------
// State

// Cached at each stop and register write, so a call while the vCPU runs does not
// block on KVM's vCPU mutex until KVM_RUN returns.
stub::Arch KvmTarget::arch() const { return arch_.load(); }

stub::TargetCapabilities KvmTarget::capabilities() const {
    stub::TargetCapabilities c;
    bool patches = true;  // HLT patching works wherever HLT exits (always without an in-kernel irqchip)
    c.software_breakpoints = patches;
    c.hardware_breakpoints = hw_mech_ == BreakMechanism::DebugRegisters || patches;
    bool pages = probe_.readonly_mem;
    c.write_watchpoints = watch_mech_ == WatchMechanism::DebugRegisters || pages;
    c.access_watchpoints = watch_mech_ == WatchMechanism::DebugRegisters || pages;
    c.read_watchpoints = false;
    c.single_step = probe_.single_step;
    return c;
}

StopEvent KvmTarget::last_stop() const {
    std::lock_guard lock(mu_);
    return last_stop_;
}

kvm_sregs KvmTarget::sregs() const { return machine_->vcpu().get_sregs(); }

std::uint64_t KvmTarget::linear_pc() const {
    return debug::linear_pc(machine_->vcpu().get_regs(), sregs());
}

PagingState KvmTarget::paging() const { return paging_of(sregs()); }

std::vector<std::uint8_t> KvmTarget::read_registers() {
    CpuState cpu = cpu_state();
    return encode_registers(arch_.load(), cpu);
}

// Writes back only the structures that changed (KVM_SET_SREGS has side effects, e.g.
// on pending interrupts); KVM refusing a value (say, an inconsistent CR0/EFER) is EINVAL.
TargetStatus KvmTarget::store(const CpuState& before, const CpuState& after) {
    Vcpu& v = machine_->vcpu();
    if (before.fpu.bytes != after.fpu.bytes) {
        // KVM_SET_XSAVE refuses reserved MXCSR bits; refuse them before writing
        // anything, so that a `G` is applied whole or not at all.
        std::uint32_t mask = fx::get<std::uint32_t>(after.fpu, fx::MXCSR_MASK);
        if (mask == 0) mask = 0xffbf;  // SDM Vol. 1 11.6.6: the default when FXSAVE stores 0
        if (fx::get<std::uint32_t>(after.fpu, fx::MXCSR) & ~mask)
            return TargetStatus::error(EINVAL, "MXCSR reserved bits set (MXCSR_MASK " + hex(mask) + ")");
    }
    try {
        if (std::memcmp(&before.sregs, &after.sregs, sizeof after.sregs) != 0) v.set_sregs(after.sregs);
        if (std::memcmp(&before.regs, &after.regs, sizeof after.regs) != 0) v.set_regs(after.regs);
        if (before.fpu.bytes != after.fpu.bytes) {
            XsaveArea fpu = after.fpu;
            fx::mark_legacy_present(fpu);  // else XRSTOR would reset a component we wrote
            v.set_xsave(fpu);
        }
    } catch (const KvmError& e) {
        return TargetStatus::error(EINVAL, e.what());
    }
    arch_ = arch_of(after.sregs);
    return TargetStatus::ok();
}

CpuState KvmTarget::cpu_state() const {
    return {machine_->vcpu().get_regs(), sregs(), machine_->vcpu().get_xsave()};
}

TargetStatus KvmTarget::write_registers(std::span<const std::uint8_t> g) {
    const CpuState before = cpu_state();
    CpuState cpu = before;
    if (!decode_registers(arch_.load(), g, cpu)) return TargetStatus::error(EINVAL, "short G packet");
    return store(before, cpu);
}

std::optional<std::vector<std::uint8_t>> KvmTarget::read_register(unsigned regnum) {
    CpuState cpu = cpu_state();
    return encode_register(arch_.load(), regnum, cpu);
}

TargetStatus KvmTarget::write_register(unsigned regnum, std::span<const std::uint8_t> value) {
    const CpuState before = cpu_state();
    CpuState cpu = before;
    if (!decode_register(arch_.load(), regnum, value, cpu))
        return TargetStatus::error(EINVAL, "no register " + std::to_string(regnum) + " of that size");
    return store(before, cpu);
}

// ---------------------------------------------------------------------------
// Memory

std::size_t KvmTarget::read_memory(std::uint64_t addr, std::span<std::uint8_t> out) {
    const GuestMemory& mem = machine_->memory();
    return space_.for_each_phys_run(paging(), addr, out.size(), [&](std::uint64_t phys, std::uint64_t at, std::uint64_t n) {
        auto part = out.subspan(at, n);
        mem.read(phys, part);
        // Hide our own patch bytes: show what the guest had there.
        for (const auto& [la, p] : patches_)
            if (overlaps(p.phys, 1, phys, n)) part[p.phys - phys] = p.original;
    });
}

std::size_t KvmTarget::write_memory(std::uint64_t addr, std::span<const std::uint8_t> in) {
    GuestMemory& mem = machine_->memory();
    return space_.for_each_phys_run(paging(), addr, in.size(), [&](std::uint64_t phys, std::uint64_t at, std::uint64_t n) {
        auto part = in.subspan(at, n);
        mem.write(phys, part);
        // A write over a patched byte updates the saved original; the patch stays.
        for (auto& [la, p] : patches_) {
            if (overlaps(p.phys, 1, phys, n)) {
                p.original = part[p.phys - phys];
                mem.write8(p.phys, p.byte);
            }
        }
    });
}

// ---------------------------------------------------------------------------
// Breakpoints and watchpoints

TargetStatus KvmTarget::insert_breakpoint(BreakpointKind kind, std::uint64_t addr, std::uint64_t length) {
    switch (kind) {
    case BreakpointKind::ReadWatch:
        return TargetStatus::unsupported();
    case BreakpointKind::Hardware:
        if (hw_mech_ == BreakMechanism::DebugRegisters) {
            // Idempotent: the same breakpoint again keeps its slot.
            if (!drs_.add(DebugKind::Execute, addr, 1))
                return TargetStatus::error(ENOSPC, "all four debug registers are in use");
            return TargetStatus::ok();
        }
        [[fallthrough]];
    case BreakpointKind::Software: {
        auto it = patches_.find(addr);
        if (it == patches_.end()) {
            auto t = space_.to_phys(paging(), addr);
            if (!t) return TargetStatus::error(EFAULT, "address " + hex(addr) + " is not mapped");
            Patch p;
            p.phys = t->first;
            p.byte = sw_mech_ == BreakMechanism::Int3 ? kInt3 : kHlt;
            // Another linear address (an alias of this physical byte) may hold a patch
            // here already: the guest's byte is the one it saved, not our patch.
            const Patch* alias = patch_at_phys(p.phys);
            p.original = alias ? alias->original : machine_->memory().read8(p.phys);
            machine_->memory().write8(p.phys, p.byte);
            it = patches_.emplace(addr, p).first;
            try {
                sync_memslots();
            } catch (const KvmError& e) {
                patches_.erase(it);
                if (!patch_at_phys(p.phys)) machine_->memory().write8(p.phys, p.original);
                return TargetStatus::error(ENOSPC, std::string("cannot protect the breakpoint's page: ") + e.what());
            }
        }
        (kind == BreakpointKind::Software ? it->second.software : it->second.hardware) = true;
        return TargetStatus::ok();
    }
    case BreakpointKind::WriteWatch:
    case BreakpointKind::AccessWatch: {
        if (length == 0) return TargetStatus::error(EINVAL, "zero-length watchpoint");
        if (length > machine_->memory().size())
            return TargetStatus::error(EINVAL, "a watchpoint longer than guest RAM");
        // Idempotent ("Packets", Z: inserting the same watchpoint twice is one
        // watchpoint): the same kind, address and length again changes nothing, and
        // one z removes it, whichever mechanism holds it.
        for (const auto& w : page_watches_)
            if (w.kind == kind && w.addr == addr && w.len == length) return TargetStatus::ok();
        if (watch_mech_ == WatchMechanism::DebugRegisters && dr_range_ok(kind, addr, length) &&
            drs_.add(dr_kind(kind), addr, static_cast<unsigned>(length)))
            return TargetStatus::ok();
        if (!probe_.readonly_mem) return TargetStatus::error(ENOSPC, "no debug register free and no read-only memslots");
        PageWatch w{kind, addr, length, {}};
        std::uint64_t mapped = space_.for_each_phys_run(paging(), addr, length, [&](std::uint64_t phys, std::uint64_t, std::uint64_t n) {
            w.phys.emplace_back(phys, phys + n);
        });
        if (mapped < length) return TargetStatus::error(EFAULT, "address " + hex(addr + mapped) + " is not mapped");
        if (kind == BreakpointKind::AccessWatch) {
            if (auto why = code_on_watched_pages(w)) {
                diag_("kvmgdb: " + *why + "\n");  // gdb itself only says it could not insert it
                return TargetStatus::error(EPERM, *why);
            }
        }
        page_watches_.push_back(std::move(w));
        try {
            sync_memslots();
        } catch (const KvmError& e) {
            page_watches_.pop_back();
            return TargetStatus::error(ENOSPC, std::string("cannot protect the watched pages: ") + e.what());
        }
        return TargetStatus::ok();
    }
    }
    return TargetStatus::unsupported();
}

TargetStatus KvmTarget::remove_breakpoint(BreakpointKind kind, std::uint64_t addr, std::uint64_t length) {
    switch (kind) {
    case BreakpointKind::ReadWatch:
        return TargetStatus::unsupported();
    case BreakpointKind::Hardware:
    case BreakpointKind::Software: {
        if (kind == BreakpointKind::Hardware && drs_.remove(DebugKind::Execute, addr, 1)) return TargetStatus::ok();
        auto it = patches_.find(addr);
        if (it == patches_.end()) return TargetStatus::error(ENOENT, "no breakpoint at " + hex(addr));
        bool& flag = kind == BreakpointKind::Software ? it->second.software : it->second.hardware;
        if (!flag) return TargetStatus::error(ENOENT, "no breakpoint at " + hex(addr));
        flag = false;
        if (!it->second.software && !it->second.hardware) {
            const Patch gone = it->second;
            patches_.erase(it);
            // The guest's byte comes back once no alias still patches it.
            if (!patch_at_phys(gone.phys)) machine_->memory().write8(gone.phys, gone.original);
            sync_memslots();
        }
        return TargetStatus::ok();
    }
    case BreakpointKind::WriteWatch:
    case BreakpointKind::AccessWatch: {
        if (length <= 8 && drs_.remove(dr_kind(kind), addr, static_cast<unsigned>(length))) return TargetStatus::ok();
        for (auto it = page_watches_.begin(); it != page_watches_.end(); ++it) {
            if (it->kind == kind && it->addr == addr && it->len == length) {
                page_watches_.erase(it);
                sync_memslots();
                return TargetStatus::ok();
            }
        }
        return TargetStatus::error(ENOENT, "no watchpoint at " + hex(addr));
    }
    }
    return TargetStatus::unsupported();
}

// An access watchpoint under page protection takes whole pages out of the memslots,
// and KVM cannot fetch instructions from a hole (the vCPU would stop with an
// emulation failure). So the pages must hold no code: none of the image's executable
// segments and not the page the vCPU executes now. Says why when they do.
std::optional<std::string> KvmTarget::code_on_watched_pages(const PageWatch& w) const {
    std::optional<std::uint64_t> pc_phys;
    if (auto t = space_.to_phys(paging(), linear_pc())) pc_phys = t->first;
    for (const auto& [b, e] : w.phys) {
        const std::uint64_t first = b & ~(kPageSize - 1);
        const std::uint64_t end = (e + kPageSize - 1) & ~(kPageSize - 1);
        auto refuse = [&](const std::string& what) {
            return "cannot watch accesses to " + hex(w.addr) + " by page protection: its page " + hex(first) +
                   " holds " + what +
                   ", which must stay in guest memory for the vCPU to run; use a write watchpoint (gdb `watch`) "
                   "or move the data to a page of its own";
        };
        for (const auto& seg : machine_->image().segments) {
            if (!(seg.flags & PF_X)) continue;
            if (overlaps(first, end - first, seg.paddr, seg.memsz))
                return refuse("code (the executable segment at " + hex(seg.paddr) + ")");
        }
        if (pc_phys && overlaps(first, end - first, *pc_phys, 1)) return refuse("the code running now (pc)");
        const SystemArea& area = machine_->system_area();
        if (area.size && overlaps(first, end - first, area.base, area.size))
            return refuse("kvmgdb's GDT and page tables");
    }
    return std::nullopt;
}

// Lays guest RAM out as memslots: plain RAM, a read-only slot per run of pages that
// are watched for writes or hold a patched breakpoint (so a guest write over the
// patch byte exits and is not lost), and no slot (a hole: every access exits) for
// pages watched for access. KVM cannot resize a slot, so when the set of protected
// pages changed every old slot is deleted first; when it did not (gdb removes and
// re-inserts its breakpoints around every stop), nothing is done.
void KvmTarget::sync_memslots() {
    std::map<std::uint64_t, bool> want;
    for (const auto& w : page_watches_) {
        bool hole = w.kind == BreakpointKind::AccessWatch;
        if (protection_ == Protection::None || (protection_ == Protection::HolesOnly && !hole)) continue;
        for (auto [b, e] : w.phys) {
            for (std::uint64_t p = b & ~(kPageSize - 1); p < e; p += kPageSize) want[p] |= hole;
        }
    }
    if (protection_ == Protection::Full)
        for (const auto& [addr, p] : patches_) want.emplace(p.phys & ~(kPageSize - 1), false);
    if (want == protected_pages_) return;
    try {
        lay_out_memslots(want);
        protected_pages_ = std::move(want);
    } catch (...) {
        // KVM refused a slot (say, too many of them): never leave RAM half
        // unmapped. Fall back to one plain slot, which always fits, and say so by
        // the exception (the caller undoes the breakpoint or watchpoint).
        lay_out_memslots({});
        protected_pages_.clear();
        throw;
    }
}

void KvmTarget::lay_out_memslots(const std::map<std::uint64_t, bool>& pages) {
    Vm& vm = machine_->vm();
    GuestMemory& mem = machine_->memory();
    for (std::uint32_t s : slots_) vm.set_user_memory_region(s, 0, 0, 0, nullptr);
    slots_.clear();
    auto* host = static_cast<std::uint8_t*>(mem.host_base());
    std::uint32_t next = 0;
    auto add = [&](std::uint64_t b, std::uint64_t e, std::uint32_t flags) {
        if (b >= e) return;
        vm.set_user_memory_region(next, flags, b, e - b, host + b);
        slots_.push_back(next++);
    };
    std::uint64_t start = 0;
    for (auto it = pages.begin(); it != pages.end();) {
        std::uint64_t b = it->first;
        bool hole = it->second;
        std::uint64_t e = b + kPageSize;
        ++it;
        while (it != pages.end() && it->first == e && it->second == hole) {
            e += kPageSize;
            ++it;
        }
        add(start, b, 0);
        if (!hole) add(b, e, KVM_MEM_READONLY);
        start = e;
    }
    add(start, mem.size(), 0);
}

// ---------------------------------------------------------------------------
// monitor

namespace {
const char* kMonitorHelp =
    "kvmgdb monitor commands:\n"
    "  help                 this text\n"
    "  info mode            the CPU mode, its paging and its register layout\n"
    "  info sregs           segment, control and descriptor-table registers\n"
    "  info debug           how breakpoints and watchpoints are implemented here, and why\n"
    "  info ports           the port devices and ports the guest touched without one\n"
    "  translate ADDR       walk the guest page tables for a linear address\n"
    "  phys on|off          gdb addresses are physical (on) or linear (off, default)\n";

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
    return s;
}

const char* mech_name(BreakMechanism m) {
    switch (m) {
    case BreakMechanism::Int3: return "int3 (KVM_GUESTDBG_USE_SW_BP)";
    case BreakMechanism::HltPatch: return "HLT patch (0xF4, recognised on KVM_EXIT_HLT)";
    case BreakMechanism::DebugRegisters: return "debug registers DR0-DR3 (KVM_GUESTDBG_USE_HW_BP)";
    default: return "auto";
    }
}
}  // namespace

std::string KvmTarget::monitor_info_sregs() const {
    kvm_sregs s = sregs();
    std::ostringstream o;
    auto seg = [&](const char* name, const kvm_segment& g) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%-3s sel 0x%04x base 0x%016llx limit 0x%08x type 0x%x dpl %u p %u db %u l %u g %u\n",
                      name, g.selector, static_cast<unsigned long long>(g.base), g.limit, g.type, g.dpl, g.present,
                      g.db, g.l, g.g);
        o << buf;
    };
    seg("cs", s.cs); seg("ds", s.ds); seg("es", s.es); seg("fs", s.fs); seg("gs", s.gs); seg("ss", s.ss);
    seg("tr", s.tr); seg("ldt", s.ldt);
    o << "gdt base " << hex(s.gdt.base) << " limit " << hex(s.gdt.limit) << "\n";
    o << "idt base " << hex(s.idt.base) << " limit " << hex(s.idt.limit) << "\n";
    o << "cr0 " << hex(s.cr0) << " cr2 " << hex(s.cr2) << " cr3 " << hex(s.cr3) << " cr4 " << hex(s.cr4)
      << " cr8 " << hex(s.cr8) << "\n";
    o << "efer " << hex(s.efer) << " apic_base " << hex(s.apic_base) << "\n";
    return o.str();
}

std::string KvmTarget::monitor_translate(std::uint64_t addr) const {
    WalkResult w = walk(machine_->memory(), paging(), addr);
    return format_walk(w);
}

std::string KvmTarget::monitor_info_debug() const {
    std::ostringstream o;
    auto chosen = [](bool forced) { return forced ? " (forced by --breakpoints)" : " (chosen by the probe)"; };
    o << "software breakpoints (Z0): " << mech_name(sw_mech_) << chosen(sw_forced_) << "\n"
      << "  probe: int3 with KVM_GUESTDBG_USE_SW_BP " << (probe_.sw_bp_traps ? "traps" : "does not trap") << " ("
      << probe_.sw_bp_detail << ")\n"
      << "hardware breakpoints (Z1): " << mech_name(hw_mech_) << chosen(hw_forced_) << "\n"
      << "  probe: DR0 execute breakpoint " << (probe_.hw_exec_traps ? "traps" : "does not trap") << " ("
      << probe_.hw_exec_detail << ")\n"
      << "watchpoints (Z2 write, Z4 access): "
      << (watch_mech_ == WatchMechanism::DebugRegisters
              ? "debug registers (aligned 1/2/4/8 bytes), else page protection"
              : "page protection (read-only memslot for Z2, memslot hole for Z4)")
      << (watch_forced_ ? " (forced by --watchpoints)" : " (chosen by the probe)") << "\n"
      << "  probe: DR1 write watchpoint " << (probe_.hw_write_traps ? "traps" : "does not trap") << " ("
      << probe_.hw_write_detail << "); KVM_CAP_READONLY_MEM " << (probe_.readonly_mem ? "yes" : "no") << "\n"
      << "  read watchpoints (Z3): unsupported\n"
      << "single step: KVM_GUESTDBG_SINGLESTEP " << (probe_.single_step ? "works" : "does not trap") << " ("
      << probe_.single_step_detail << ")"
      << ((probe_.guest_debug2 & KVM_GUESTDBG_BLOCKIRQ) ? ", with KVM_GUESTDBG_BLOCKIRQ" : "") << "\n"
      << "set now: " << patches_.size() << " patched breakpoint(s), "
      << drs_.used() << " debug register(s), " << page_watches_.size() << " page-protection watchpoint(s), "
      << protected_pages_.size() << " protected page(s)\n";
    return o.str();
}

TargetStatus KvmTarget::monitor(std::string_view command, std::string& output) {
    std::string_view c = trim(command);
    auto starts = [&](std::string_view p) { return c.substr(0, p.size()) == p; };
    if (c.empty() || c == "help") {
        output = kMonitorHelp;
        return TargetStatus::ok();
    }
    if (c == "info mode") {
        kvm_sregs s = sregs();
        std::string mode = (s.efer & bits::EFER_LMA) ? (s.cs.l ? "long mode (64-bit)" : "compatibility mode")
                           : (s.cr0 & bits::CR0_PE)  ? "protected mode"
                                                     : "real mode";
        output = mode + ", paging: " + std::string(to_string(paging_mode(paging()))) +
                 ", register layout: " + std::string(stub::architecture_name(arch_of(s))) +
                 ", addresses: " + (space_.physical() ? "physical" : "linear") + "\n";
        return TargetStatus::ok();
    }
    if (c == "info sregs") {
        output = monitor_info_sregs();
        return TargetStatus::ok();
    }
    if (c == "info debug") {
        output = monitor_info_debug();
        return TargetStatus::ok();
    }
    if (c == "info ports") {
        std::ostringstream o;
        o << "port 0xe9: debug console\nports 0x3f8-0x3ff: COM1 (16550, output only)\nport 0xf4: exit port\n";
        const auto& unknown = machine_->ports().unknown_ports();
        o << "ports touched without a device:";
        if (unknown.empty()) o << " none";
        for (auto p : unknown) o << " " << hex(p);
        o << "\n";
        output = o.str();
        return TargetStatus::ok();
    }
    if (starts("translate")) {
        std::string arg(trim(c.substr(9)));
        try {
            std::size_t used = 0;
            std::uint64_t addr = std::stoull(arg, &used, 0);
            if (used != arg.size()) throw std::invalid_argument(arg);
            output = monitor_translate(addr);
            return TargetStatus::ok();
        } catch (const std::exception&) {
            output = "usage: translate ADDR (e.g. translate 0x100000)\n";
            return TargetStatus::error(EINVAL, output);
        }
    }
    if (c == "phys on" || c == "phys off") {
        space_.set_physical(c == "phys on");
        output = std::string("gdb addresses are now ") + (space_.physical() ? "physical" : "linear") + "\n";
        return TargetStatus::ok();
    }
    if (c == "phys") {
        output = std::string("gdb addresses are ") + (space_.physical() ? "physical" : "linear") + "\n";
        return TargetStatus::ok();
    }
    output = "unknown monitor command '" + std::string(c) + "'; try 'monitor help'\n";
    return TargetStatus::error(EINVAL, output);
}

}  // namespace kvmgdb::debug
