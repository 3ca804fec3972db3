#include "debug/kvm_target.hpp"

#include <iostream>

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
                   machine_->image(), machine_->system_area(), diag_),
      runner_(*machine_, machine_->vcpu(), breakpoints_, diag_) {
#ifdef KVM_CAP_EXIT_ON_EMULATION_FAILURE
    // An instruction KVM's emulator cannot do on a protected page exits to us at
    // every CPL (run_one_unprotected runs it natively), instead of giving the guest
    // a #UD when it runs outside ring 0.
    if (machine_->vm().check_extension(KVM_CAP_EXIT_ON_EMULATION_FAILURE) > 0)
        machine_->vm().enable_cap(KVM_CAP_EXIT_ON_EMULATION_FAILURE, 1);
#endif
    runner_.start();
}

KvmTarget::~KvmTarget() = default;

// ---------------------------------------------------------------------------
// Run control

void KvmTarget::resume(stub::ResumeKind kind, std::optional<std::uint8_t> /*signal: bare metal has none*/,
                       StopHandler on_stop) {
    runner_.resume(kind, std::move(on_stop));
}

void KvmTarget::interrupt() { runner_.interrupt(); }

void KvmTarget::wait_stopped() { runner_.wait_stopped(); }

StopEvent KvmTarget::last_stop() const { return runner_.last_stop(); }

void KvmTarget::remove_all_breakpoints() {
    wait_stopped();
    breakpoints_.remove_all();
}

void KvmTarget::detach() {
    remove_all_breakpoints();
    if (!runner_.finished()) resume(stub::ResumeKind::Continue, std::nullopt, {});
}

void KvmTarget::kill() { runner_.kill(); }

// ---------------------------------------------------------------------------
// State

// Cached at each stop and register write, so a call while the vCPU runs does not
// block on KVM's vCPU mutex until KVM_RUN returns.
stub::Arch KvmTarget::arch() const { return runner_.registers().arch(); }

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

std::vector<std::uint8_t> KvmTarget::read_registers() { return runner_.registers().read_all(); }

TargetStatus KvmTarget::write_registers(std::span<const std::uint8_t> g) { return runner_.registers().write_all(g); }

std::optional<std::vector<std::uint8_t>> KvmTarget::read_register(unsigned regnum) {
    return runner_.registers().read(regnum);
}

TargetStatus KvmTarget::write_register(unsigned regnum, std::span<const std::uint8_t> value) {
    return runner_.registers().write(regnum, value);
}

// ---------------------------------------------------------------------------
// Memory, breakpoints and watchpoints

PagingState KvmTarget::paging() const { return paging_of(runner_.registers().sregs()); }

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
        std::vector<std::uint64_t> pcs;
        const VcpuRegisters& r = runner_.registers();
        if (auto t = space_.to_phys(ctx.paging, linear_pc(r.regs(), r.sregs()))) pcs.push_back(t->first);
        return pcs;
    };
    return breakpoints_.insert(kind, addr, length, ctx);
}

TargetStatus KvmTarget::remove_breakpoint(BreakpointKind kind, std::uint64_t addr, std::uint64_t length) {
    return breakpoints_.remove(kind, addr, length);
}

TargetStatus KvmTarget::monitor(std::string_view command, std::string& output) {
    Monitor m(*machine_, space_, breakpoints_, probe_, forced_);
    return m.run(command, output, runner_.registers());
}

stub::RegisterFeatures KvmTarget::register_features() const { return xsave_support(machine_->cpuid()).features; }

}  // namespace kvmgdb::debug
