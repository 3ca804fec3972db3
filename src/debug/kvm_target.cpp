#include "debug/kvm_target.hpp"

#include <cerrno>
#include <iostream>
#include <stdexcept>

#include "debug/stop_events.hpp"

namespace kvmgdb::debug {

using stub::BreakpointKind;
using stub::StopEvent;
using stub::TargetStatus;

Mechanisms choose_mechanisms(const TargetOptions& options, const DebugProbe& probe) {
    Mechanisms m;
    m.software = options.software;
    if (m.software == BreakMechanism::Auto || m.software == BreakMechanism::DebugRegisters)
        m.software = probe.sw_bp_traps ? BreakMechanism::Int3 : BreakMechanism::HltPatch;
    m.hardware = options.hardware;
    if (m.hardware == BreakMechanism::Auto || m.hardware == BreakMechanism::Int3)
        m.hardware = probe.hw_exec_traps ? BreakMechanism::DebugRegisters : BreakMechanism::HltPatch;
    m.watch = options.watch;
    if (m.watch == WatchMechanism::Auto)
        m.watch = probe.hw_write_traps ? WatchMechanism::DebugRegisters : WatchMechanism::PageProtection;
    m.readonly_mem = probe.readonly_mem;
    m.blockirq = (probe.guest_debug2 & KVM_GUESTDBG_BLOCKIRQ) != 0;
    return m;
}

namespace {

TextSink or_stderr(TextSink sink) {
    if (sink) return sink;
    return [](std::string_view s) { std::cerr << s << std::flush; };
}

// The memslots of guest RAM, on the VM.
MemslotSink vm_memslots(Machine& machine) {
    return [&machine](std::uint32_t slot, std::uint32_t flags, std::uint64_t phys, std::uint64_t size) {
        auto* host = static_cast<std::uint8_t*>(machine.memory().host_base());
        machine.vm().set_user_memory_region(slot, flags, phys, size, size ? host + phys : nullptr);
    };
}

}  // namespace

KvmTarget::KvmTarget(std::unique_ptr<Machine> machine, TargetOptions options)
    : machine_(std::move(machine)),
      probe_(host_debug_probe()),
      diag_(or_stderr(std::move(options.diagnostics))),
      forced_{options.software != BreakMechanism::Auto, options.hardware != BreakMechanism::Auto,
              options.watch != WatchMechanism::Auto},
      space_(machine_->memory()),
      breakpoints_(machine_->memory(), space_, choose_mechanisms(options, probe_), vm_memslots(*machine_),
                   machine_->image(), machine_->system_area(), diag_) {
    for (unsigned i = 0; i < machine_->vcpu_count(); ++i)
        runners_.push_back(std::make_unique<VcpuRunner>(*machine_, machine_->vcpu(i), breakpoints_, diag_, i));
    pending_.resize(runners_.size());
    last_stop_ = runners_[0]->last_stop();
#ifdef KVM_CAP_EXIT_ON_EMULATION_FAILURE
    // An instruction KVM's emulator cannot do on a protected page exits to us at
    // every CPL (run_one_unprotected runs it natively), instead of giving the guest
    // a #UD when it runs outside ring 0.
    if (machine_->vm().check_extension(KVM_CAP_EXIT_ON_EMULATION_FAILURE) > 0)
        machine_->vm().enable_cap(KVM_CAP_EXIT_ON_EMULATION_FAILURE, 1);
#endif
    for (auto& r : runners_) r->set_mode_watch(mode_watch_);
    for (auto& r : runners_) r->start();
}

KvmTarget::~KvmTarget() {
    // A vCPU thread reporting a stop waits for the others to stop (on_runner_stop);
    // they must get there before any runner is told to quit. Nobody hears of that
    // stop: the target is going.
    {
        std::lock_guard lock(mu_);
        destroying_ = true;
    }
    try {
        interrupt();
        wait_stopped();
    } catch (...) {
        // the runners' destructors kick and join whatever is left
    }
}

// ---------------------------------------------------------------------------
// Run control

// All-stop over several vCPUs (stub/debug_target.hpp, ALL-STOP). A resume is a
// Round: the listed vCPUs run, each on its runner's thread. The first to stop for a
// reason of its own becomes the stop to report: the others are kicked out of
// KVM_RUN, and once all are stopped the handler is called once, on the reporting
// runner's thread. A kicked vCPU that stopped for a reason of its own (a step done,
// a breakpoint hit at the same moment) keeps that stop pending: it is reported, without
// running the guest, the next time gdb resumes that vCPU (as gdbserver does). A vCPU
// that halts is done: it is not reported while another one runs, and the guest
// ends (W00) when every vCPU has halted. The exit port and a crash end the guest.

bool KvmTarget::Round::any_running() const {
    for (bool r : running)
        if (r) return true;
    return false;
}

void KvmTarget::resume(stub::ResumeKind kind, std::optional<std::uint8_t> signal, StopHandler on_stop) {
    // The selected vCPU does `kind`, every other one continues.
    std::vector<stub::ThreadAction> actions;
    for (auto& r : runners_) {
        stub::ThreadAction a;
        a.tid = r->thread_id();
        a.kind = r->index() == selected_.load() ? kind : stub::ResumeKind::Continue;
        a.signal = signal;
        actions.push_back(a);
    }
    resume_threads(actions, std::move(on_stop));
}

void KvmTarget::resume_threads(std::span<const stub::ThreadAction> actions, StopHandler on_stop) {
    std::vector<std::pair<unsigned, stub::ResumeKind>> runs;
    std::optional<unsigned> first;
    {
        std::unique_lock lock(mu_);
        if (round_) throw std::logic_error("KvmTarget::resume while running");
        if (final_) {
            // The guest ended. After an exit (W) or a kill (X) that is said again; after
            // a crash stop the next resume ends it with that signal (X: gdb prints
            // "Program terminated with signal ...", gdb.base/exitsignal).
            StopEvent ev = *final_;
            if (ev.kind != StopEvent::Kind::Exited && ev.kind != StopEvent::Kind::Terminated) {
                ev.kind = StopEvent::Kind::Terminated;
                ev.address = 0;
                ev.message.clear();
                final_ = ev;
            }
            lock.unlock();
            return deliver_now(0, ev, std::move(on_stop));
        }
        for (const auto& a : actions) {
            if (a.tid < 1 || a.tid > runners_.size()) continue;
            const unsigned i = a.tid - 1;
            if (!first) first = i;
            if (pending_[i]) {
                // A stop this vCPU had when another one was reported: say it now, unless
                // it was a breakpoint gdb has removed since (gdbserver drops those too:
                // the vCPU is at the breakpoint's address and simply runs on from there).
                StopEvent ev = std::move(*pending_[i]);
                pending_[i].reset();
                if (!still_a_breakpoint(i, ev)) {
                    if (!runners_[i]->halted()) runs.emplace_back(i, a.kind);
                    continue;
                }
                lock.unlock();
                return deliver_now(i, ev, std::move(on_stop));
            }
            if (!runners_[i]->halted()) runs.emplace_back(i, a.kind);
        }
    }
    if (!first) throw std::invalid_argument("KvmTarget::resume_threads: no such thread");
    if (runs.empty()) {
        // Every vCPU gdb resumed has halted, and some other one has not (else the
        // guest would have ended): nothing can run, so that is the stop.
        StopEvent ev = signal_stop(kSigTrap, "vCPU " + std::to_string(*first) + " has halted");
        return deliver_now(*first, ev, std::move(on_stop));
    }
    start_round(std::move(runs), std::move(on_stop));
}

bool KvmTarget::still_a_breakpoint(unsigned index, const StopEvent& ev) const {
    if (ev.kind != StopEvent::Kind::SoftwareBreak && ev.kind != StopEvent::Kind::HardwareBreak) return true;
    const VcpuRegisters& r = runners_[index]->registers();
    const std::uint64_t pc = linear_pc(r.regs(), r.sregs());
    if (breakpoints_.patch_at(pc)) return true;
    for (const DebugSlot& slot : breakpoints_.debug_registers().slots())
        if (slot.enabled && slot.kind == DebugKind::Execute && slot.addr == pc) return true;
    return false;
}

// A new round with no vCPU running yet; mu_ held.
void KvmTarget::begin_round(StopHandler on_stop) {
    Round r;
    r.handler = std::move(on_stop);
    r.running.assign(runners_.size(), false);
    round_ = std::move(r);
}

void KvmTarget::start_round(std::vector<std::pair<unsigned, stub::ResumeKind>> runs, StopHandler on_stop) {
    // Every runner is resumed before any stop is looked at (on_runner_stop takes mu_
    // first): a vCPU stopping at once must find the others running, so that its
    // kicks reach them.
    std::lock_guard lock(mu_);
    begin_round(std::move(on_stop));
    for (auto [i, kind] : runs) round_->running[i] = true;
    for (auto [i, kind] : runs)
        runners_[i]->resume(kind, [this, i](StopEvent ev) { on_runner_stop(i, std::move(ev)); });
}

void KvmTarget::deliver_now(unsigned index, StopEvent ev, StopHandler on_stop) {
    std::lock_guard lock(mu_);
    begin_round(std::move(on_stop));
    round_->running[index] = true;
    ev.thread = index + 1;
    runners_[index]->deliver(std::move(ev), [this, index](StopEvent e) { on_runner_stop(index, std::move(e)); });
}

void KvmTarget::on_runner_stop(unsigned index, StopEvent ev) {
    VcpuRunner& runner = *runners_[index];
    std::unique_lock lock(mu_);
    if (!round_) return;  // cannot happen: every runner resume belongs to a round
    Round& round = *round_;
    round.running[index] = false;
    if (round.stopping) {
        // Kicked because another vCPU stopped: a SIGINT is our own kick; anything else
        // is this vCPU's own stop, kept for its next resume. A halt needs no report.
        const bool kicked = ev.kind == StopEvent::Kind::Signal && ev.signal == kSigInt;
        if (!kicked && !runner.halted()) pending_[index] = std::move(ev);
        cv_.notify_all();
        return;
    }
    if (runner.halted() && ev.kind == StopEvent::Kind::Exited) {
        bool all_halted = true;
        for (const auto& r : runners_) all_halted = all_halted && r->halted();
        if (!all_halted) {
            if (round.any_running()) return;  // the others go on
            ev = signal_stop(kSigTrap, "vCPU " + std::to_string(index) + " has halted");
            ev.thread = index + 1;
        }
    }
    round.stopping = true;
    const bool ends = ev.kind == StopEvent::Kind::Exited || ev.kind == StopEvent::Kind::Terminated ||
                      (runner.finished() && !runner.halted());
    if (ends && !final_) final_ = ev;
    // Stop every other vCPU of the round before anyone hears of this stop.
    lock.unlock();
    for (std::size_t j = 0; j < runners_.size(); ++j)
        if (j != index) runners_[j]->interrupt();
    lock.lock();
    cv_.wait(lock, [&] { return !round_->any_running(); });
    StopHandler handler = std::move(round_->handler);
    round_.reset();
    last_stop_ = ev;
    const bool destroying = destroying_;
    lock.unlock();
    cv_.notify_all();
    if (handler && !destroying) handler(std::move(ev));
}

void KvmTarget::interrupt() {
    for (auto& r : runners_) r->interrupt();
}

void KvmTarget::wait_stopped() {
    {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !round_; });
    }
    for (auto& r : runners_) r->wait_stopped();
}

StopEvent KvmTarget::last_stop() const {
    std::lock_guard lock(mu_);
    return last_stop_;
}

std::vector<unsigned> KvmTarget::threads() const {
    std::vector<unsigned> ids;
    for (const auto& r : runners_) ids.push_back(r->thread_id());
    return ids;
}

std::string KvmTarget::thread_extra_info(unsigned tid) const {
    if (tid < 1 || tid > runners_.size()) return {};
    const VcpuRunner& r = *runners_[tid - 1];
    const stub::Arch arch = r.registers().arch();  // cached: never blocks on a running vCPU
    const char* mode = arch == stub::Arch::X86_64 ? "long mode" : arch == stub::Arch::I386 ? "protected mode" : "real mode";
    const char* state = r.halted() ? "halted" : r.running() ? "running" : "stopped";
    return "vCPU " + std::to_string(r.index()) + ", " + mode + ", " + state;
}

TargetStatus KvmTarget::select_thread(unsigned tid) {
    if (tid < 1 || tid > runners_.size()) return TargetStatus::error(ESRCH, "no thread " + std::to_string(tid));
    selected_ = tid - 1;
    return TargetStatus::ok();
}

void KvmTarget::remove_all_breakpoints() {
    wait_stopped();
    breakpoints_.remove_all();
}

void KvmTarget::detach() {
    remove_all_breakpoints();
    bool ended;
    {
        std::lock_guard lock(mu_);
        ended = final_.has_value();
    }
    if (ended) return;
    std::vector<stub::ThreadAction> all;  // every vCPU continues, nobody hears of the end
    for (unsigned tid : threads()) all.push_back({tid, stub::ResumeKind::Continue, std::nullopt});
    resume_threads(all, {});
}

void KvmTarget::kill() {
    interrupt();
    wait_stopped();
    for (auto& r : runners_) r->kill();
    std::lock_guard lock(mu_);
    StopEvent killed;
    killed.kind = StopEvent::Kind::Terminated;
    killed.signal = kSigKill;
    killed.message = "killed";
    final_ = killed;
    last_stop_ = *final_;
}

// ---------------------------------------------------------------------------
// State

// Cached at each stop and register write, so a call while the vCPU runs does not
// block on KVM's vCPU mutex until KVM_RUN returns.
stub::Arch KvmTarget::arch() const { return selected().registers().arch(); }

stub::TargetCapabilities KvmTarget::capabilities() const {
    const Mechanisms& m = breakpoints_.mechanisms();
    stub::TargetCapabilities c;
    bool patches = true;  // HLT patching works wherever HLT exits (always without an in-kernel irqchip)
    c.software_breakpoints = patches;
    c.hardware_breakpoints = m.hardware == BreakMechanism::DebugRegisters || patches;
    bool pages = probe_.readonly_mem;
    c.write_watchpoints = m.watch == WatchMechanism::DebugRegisters || pages;
    c.access_watchpoints = m.watch == WatchMechanism::DebugRegisters || pages;
    c.read_watchpoints = false;
    c.single_step = probe_.single_step;
    return c;
}

std::vector<std::uint8_t> KvmTarget::read_registers() { return selected().registers().read_all(); }

TargetStatus KvmTarget::write_registers(std::span<const std::uint8_t> g) { return selected().registers().write_all(g); }

std::optional<std::vector<std::uint8_t>> KvmTarget::read_register(unsigned regnum) {
    return selected().registers().read(regnum);
}

TargetStatus KvmTarget::write_register(unsigned regnum, std::span<const std::uint8_t> value) {
    return selected().registers().write(regnum, value);
}

// ---------------------------------------------------------------------------
// Memory, breakpoints and watchpoints

PagingState KvmTarget::paging() const { return paging_of(selected().registers().sregs()); }

std::size_t KvmTarget::read_memory(std::uint64_t addr, std::span<std::uint8_t> out) {
    return breakpoints_.read_memory(paging(), addr, out);
}

std::size_t KvmTarget::write_memory(std::uint64_t addr, std::span<const std::uint8_t> in) {
    return breakpoints_.write_memory(paging(), addr, in);
}

TargetStatus KvmTarget::insert_breakpoint(BreakpointKind kind, std::uint64_t addr, std::uint64_t length) {
    InsertContext ctx;
    ctx.paging = paging();
    ctx.pcs_phys = [this, &ctx] {
        std::vector<std::uint64_t> pcs;  // every vCPU's: none may run on a hole
        for (const auto& runner : runners_) {
            const VcpuRegisters& r = runner->registers();
            if (auto t = space_.to_phys(ctx.paging, linear_pc(r.regs(), r.sregs()))) pcs.push_back(t->first);
        }
        return pcs;
    };
    return breakpoints_.insert(kind, addr, length, ctx);
}

TargetStatus KvmTarget::remove_breakpoint(BreakpointKind kind, std::uint64_t addr, std::uint64_t length) {
    return breakpoints_.remove(kind, addr, length);
}

TargetStatus KvmTarget::monitor(std::string_view command, std::string& output) {
    Monitor m(*machine_, space_, breakpoints_, probe_, forced_, mode_watch_);
    return m.run(command, output, selected().registers());
}

stub::RegisterFeatures KvmTarget::register_features() const { return xsave_support(machine_->cpuid()).features; }

}  // namespace kvmgdb::debug
