#include "debug/kvm_target.hpp"

#include <algorithm>
#include <cerrno>
#include <iostream>
#include <stdexcept>

#include "debug/memory_region.hpp"
#include "debug/stop_events.hpp"
#include "kvm/kvm_error.hpp"

namespace kvmgdb::debug {

using stub::BreakpointKind;
using stub::StopEvent;
using stub::TargetStatus;

Mechanisms choose_mechanisms(const TargetOptions& options, const DebugProbe& probe, Platform platform) {
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
    // The in-kernel LAPIC keeps a HLT inside KVM (breakpoints.hpp, kOutImm8).
    m.io_patch = platform == Platform::Pc;
    return m;
}

namespace {

// Every vCPU out of KVM_RUN and kept out, and the breakpoint state to ourselves, for
// the calls that may change the memslots (a patch's page made read-only, a watched
// page): KVM changes a layout by deleting and re-creating slots, and a vCPU running
// meanwhile (non-stop mode) would find its RAM gone for that moment (it triple-faulted
// in a test). In all-stop mode nothing runs and this costs two uncontended locks per vCPU.
class AllHeld {
public:
    AllHeld(BreakpointManager& bps, std::vector<std::unique_ptr<VcpuRunner>>& runners)
        : bps_lock_(bps.run_mutex()), runners_(runners) {
        for (auto& r : runners_) r->hold();
    }
    ~AllHeld() {
        for (auto& r : runners_) {
            r->guest_debug_changed();
            r->release();
        }
    }
    AllHeld(const AllHeld&) = delete;
    AllHeld& operator=(const AllHeld&) = delete;

private:
    std::lock_guard<std::recursive_mutex> bps_lock_;
    std::vector<std::unique_ptr<VcpuRunner>>& runners_;
};

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
      breakpoints_(machine_->memory(), space_, choose_mechanisms(options, probe_, machine_->platform()), vm_memslots(*machine_),
                   machine_->image(), machine_->system_area(), diag_),
      all_stop_(run_, runners_, [this](unsigned i, const StopEvent& ev) { return still_a_breakpoint(i, ev); }),
      non_stop_(run_, runners_, [this](unsigned i, const StopEvent& ev) { return still_a_breakpoint(i, ev); }) {
    for (unsigned i = 0; i < machine_->vcpu_count(); ++i)
        runners_.push_back(std::make_unique<VcpuRunner>(*machine_, machine_->vcpu(i), breakpoints_, diag_, i));
    run_.pending.resize(runners_.size());
    run_.last_stop = runners_[0]->last_stop();
#ifdef KVM_CAP_EXIT_ON_EMULATION_FAILURE
    // An instruction KVM's emulator cannot do on a protected page exits to us at
    // every CPL (run_one_unprotected runs it natively), instead of giving the guest
    // a #UD when it runs outside ring 0.
    if (machine_->vm().check_extension(KVM_CAP_EXIT_ON_EMULATION_FAILURE) > 0)
        machine_->vm().enable_cap(KVM_CAP_EXIT_ON_EMULATION_FAILURE, 1);
#endif
    for (auto& r : runners_) r->set_mode_watch(mode_watch_);
    for (auto& r : runners_)
        r->set_peers([this](unsigned self, bool hold) {
            for (auto& other : runners_) {
                if (other->index() == self) continue;
                if (hold)
                    other->hold();
                else
                    other->release();
            }
        });
    for (auto& r : runners_) r->start();
}

KvmTarget::~KvmTarget() {
    // A vCPU thread reporting a stop waits for the others to stop (on_runner_stop);
    // they must get there before any runner is told to quit. Nobody hears of that
    // stop: the target is going.
    {
        std::lock_guard lock(run_.mu);
        run_.destroying = true;
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

// Two ways of running the vCPUs: all-stop rounds (all_stop.hpp) and non-stop
// mode (non_stop.hpp); both report through the runners and share run_.

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
    // A resume that steps nothing ends gdb's step over a breakpoint: the pages it
    // lifted patches from need no protection now (BreakpointManager::has_spare_pages).
    // In non-stop mode too: AllHeld holds the running vCPUs, as Z and z do.
    const bool steps = std::ranges::any_of(actions, [](const auto& a) { return a.kind == stub::ResumeKind::Step; });
    if (!steps && breakpoints_.has_spare_pages()) {
        AllHeld held(breakpoints_, runners_);
        try {
            breakpoints_.release_spare_pages();
        } catch (const KvmError& e) {  // sync_memslots fell back to one plain slot
            diag_(std::string("kvmgdb: cannot re-lay out the memslots (") + e.what() +
                  "): guest RAM is one writable slot now, so patched breakpoints and write watchpoints "
                  "are no longer protected from guest writes\n");
        }
    }
    // The mode changes only between the session's calls, never under them.
    if (non_stop()) return non_stop_.resume(actions, std::move(on_stop));
    all_stop_.resume(actions, std::move(on_stop));
}

bool KvmTarget::still_a_breakpoint(unsigned index, const StopEvent& ev) const {
    if (ev.kind != StopEvent::Kind::SoftwareBreak && ev.kind != StopEvent::Kind::HardwareBreak) return true;
    const VcpuRegisters& r = runners_[index]->registers();
    const kvm_sregs sregs = r.sregs();
    const std::uint64_t pc = linear_pc(r.regs(), sregs);
    std::lock_guard bps(breakpoints_.run_mutex());
    // By the linear pc, or by the byte it maps to (`monitor phys on`: gdb's
    // breakpoint addresses are physical then).
    if (breakpoints_.patch_hit(paging_of(sregs), pc)) return true;
    for (const DebugSlot& slot : breakpoints_.debug_registers().slots())
        if (slot.enabled && slot.kind == DebugKind::Execute && slot.addr == pc) return true;
    return false;
}

void KvmTarget::interrupt() {
    if (non_stop()) {
        for (unsigned tid : threads()) non_stop_.stop_thread(tid);
        return;
    }
    for (auto& r : runners_) r->interrupt();
}

TargetStatus KvmTarget::set_non_stop(bool on) {
    bool all_stopped;
    {
        std::lock_guard lock(run_.mu);
        all_stopped = !all_stop_.running();
    }
    return non_stop_.set_enabled(on, all_stopped);
}

void KvmTarget::stop_thread(unsigned tid) {
    if (non_stop()) return non_stop_.stop_thread(tid);
    interrupt();
}

bool KvmTarget::non_stop() const {
    std::lock_guard lock(run_.mu);
    return non_stop_.enabled();
}

void KvmTarget::wait_stopped() {
    all_stop_.wait_idle();
    for (auto& r : runners_) r->wait_stopped();
}

StopEvent KvmTarget::last_stop() const {
    std::lock_guard lock(run_.mu);
    return run_.last_stop;
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
    if (!non_stop()) wait_stopped();  // in non-stop mode vCPUs may run on meanwhile
    AllHeld held(breakpoints_, runners_);
    breakpoints_.remove_all();
}

void KvmTarget::detach() {
    set_non_stop(false);  // every vCPU stopped, unreported; then all-stop's continue
    remove_all_breakpoints();
    {
        // Nobody will hear of the stops kept for later: the guest just runs on.
        std::lock_guard lock(run_.mu);
        for (auto& kept : run_.pending) kept.reset();
    }
    bool ended;
    {
        std::lock_guard lock(run_.mu);
        ended = run_.final.has_value();
    }
    if (ended) return;
    std::vector<stub::ThreadAction> all;  // every vCPU continues, nobody hears of the end
    for (unsigned tid : threads()) all.push_back({tid, stub::ResumeKind::Continue, std::nullopt});
    resume_threads(all, {});
}

void KvmTarget::kill() {
    set_non_stop(false);  // every vCPU stopped, unreported
    interrupt();
    wait_stopped();
    for (auto& r : runners_) r->kill();
    std::lock_guard lock(run_.mu);
    StopEvent killed;
    killed.kind = StopEvent::Kind::Terminated;
    killed.signal = kSigKill;
    killed.message = "killed";
    run_.final = killed;
    run_.last_stop = *run_.final;
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
    c.non_stop = true;
    c.memory_while_running = true;  // guest RAM is host memory; see "Non-stop" above
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

// The selected vCPU's paging; while it runs (non-stop), the paging it was resumed with.
PagingState KvmTarget::paging() const {
    const VcpuRunner& r = selected();
    return r.running() ? r.paging_when_resumed() : paging_of(r.registers().sregs());
}

// In non-stop mode these come while vCPUs run: run_mutex puts them between the
// runners' exits (breakpoints.hpp).
std::size_t KvmTarget::read_memory(std::uint64_t addr, std::span<std::uint8_t> out) {
    std::lock_guard bps(breakpoints_.run_mutex());
    return breakpoints_.read_memory(paging(), addr, out);
}

std::optional<stub::MemoryRegion> KvmTarget::memory_region(std::uint64_t addr) {
    std::lock_guard bps(breakpoints_.run_mutex());
    return region_at(space_.memory(), paging(), space_.physical(), addr);
}

std::size_t KvmTarget::write_memory(std::uint64_t addr, std::span<const std::uint8_t> in) {
    std::lock_guard bps(breakpoints_.run_mutex());
    return breakpoints_.write_memory(paging(), addr, in);
}

TargetStatus KvmTarget::insert_breakpoint(BreakpointKind kind, std::uint64_t addr, std::uint64_t length) {
    AllHeld held(breakpoints_, runners_);
    InsertContext ctx;
    ctx.paging = paging();
    // 0x40-0x4F are REX prefixes only in 64-bit code, and the code a breakpoint goes
    // in may be another mode's than the vCPU's now (an AP's real-mode trampoline):
    // read so only while every vCPU (held: readable) runs 64-bit code.
    ctx.code64 = std::all_of(runners_.begin(), runners_.end(), [](const auto& runner) {
        const kvm_sregs s = runner->registers().sregs();
        return s.cs.l && (s.efer & bits::EFER_LMA);
    });
    ctx.pcs_phys = [this, &ctx] {
        // Every vCPU's (held, if it runs): none may run on a hole.
        std::vector<std::uint64_t> pcs;
        for (const auto& runner : runners_) {
            const VcpuRegisters& r = runner->registers();
            if (auto t = space_.to_phys(ctx.paging, linear_pc(r.regs(), r.sregs()))) pcs.push_back(t->first);
        }
        return pcs;
    };
    return breakpoints_.insert(kind, addr, length, ctx);
}

TargetStatus KvmTarget::remove_breakpoint(BreakpointKind kind, std::uint64_t addr, std::uint64_t length) {
    AllHeld held(breakpoints_, runners_);
    return breakpoints_.remove(kind, addr, length);
}

TargetStatus KvmTarget::monitor(std::string_view command, std::string& output) {
    std::lock_guard bps(breakpoints_.run_mutex());  // other vCPUs may run (non-stop)
    Monitor m(*machine_, space_, breakpoints_, probe_, forced_, mode_watch_);
    return m.run(command, output, selected().registers());
}

stub::RegisterFeatures KvmTarget::register_features() const { return xsave_support(machine_->cpuid()).features; }

}  // namespace kvmgdb::debug
