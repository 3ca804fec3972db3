// The KVM debug target: stub::DebugTarget on top of one Machine. It ties together
// parts that each own their state, with the arrows one way
// (KvmTarget -> AllStopRounds / NonStopRuns -> VcpuRunner -> BreakpointManager
// -> AddressSpace):
//   all_stop        all-stop rounds over the vCPUs (the default);
//   non_stop        non-stop mode (QNonStop:1): each vCPU stops alone;
//   run_state       what those two share: kept stops, the guest's end, the last stop;
//   vcpu_runner     the vCPU's thread, run loop, kick, hold and stepping (one per vCPU);
//   register_access g/G/p/P on one vCPU and its cached register layout;
//   breakpoints     patches, DR0-DR3 slots, page-protection watchpoints and the
//                   memslot layout, shared by all vCPUs;
//   address_space   gdb address -> guest-physical, `monitor phys`;
//   monitor         `monitor CMD`.
//
// Threading (VcpuRunner): each vCPU runs on its own std::thread, started with the
// target. resume() hands it a command under a mutex and returns; the thread loops
// KVM_RUN, lets the Machine service the exits that are the VMM's (console, exit
// port, MMIO devices), and on a stop calls the handler exactly once, on the vCPU
// thread, with no lock held. interrupt() sets kvm_run->immediate_exit and kicks the
// thread with SIGUSR1 (no SA_RESTART), so KVM_RUN returns EINTR -> SIGINT stop.
// gdb's calls run on the session's thread. In all-stop mode they come while every
// vCPU is stopped. In non-stop mode memory, breakpoint and monitor calls come while
// vCPUs run: they take the BreakpointManager's run_mutex (every runner takes it
// around each exit it handles), and those that may change the memslots also hold
// every vCPU out of KVM_RUN meanwhile (AllHeld, VcpuRunner::hold). A vCPU that runs
// one instruction with the page protection lifted holds the others the same way
// (unprotected_step.hpp), so no write to a watched page goes unseen.
//
// Addresses: gdb's addresses are linear (CS.base + offset). In the flat 32- and
// 64-bit modes that is the offset itself. In real mode the pc gdb sees is linear too
// (CS.base + IP, register_map; a pc write sets IP relative to CS), so breakpoints, the
// HLT-patch check and memory all use linear addresses: `break *0x8005` means linear
// 0x8005 (docs/modes.md).
//
// Mechanisms (probed once per process, see probe.hpp, and shown by `monitor info debug`):
//   Z0 software breakpoints: int3 + KVM_GUESTDBG_USE_SW_BP where #BP traps, otherwise a
//      one-byte HLT (0xF4) patch recognised on KVM_EXIT_HLT at rip-1 (on the pc
//      platform by the halt poll), or on the pc platform, over an instruction of two
//      bytes or more, `out 0xe5, al` recognised on KVM_EXIT_IO (breakpoints.hpp).
//   Z1 hardware breakpoints: DR0-DR3 where they trap, otherwise the same patch.
//   Z2/Z4 watchpoints: DR0-DR3 where data breakpoints trap (and the range fits one),
//      otherwise page protection: the watched pages become a KVM_MEM_READONLY memslot
//      (Z2) or a hole in the memslots (Z4), so accesses exit as MMIO and are applied
//      to RAM here. Z3 is unsupported.
//   A page holding a patched breakpoint is read-only too, so that a guest write over
//   the patch byte exits: the written byte becomes the one to restore, the patch stays.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "debug/address_space.hpp"
#include "debug/all_stop.hpp"
#include "debug/breakpoints.hpp"
#include "debug/monitor.hpp"
#include "debug/non_stop.hpp"
#include "debug/run_state.hpp"
#include "debug/probe.hpp"
#include "debug/vcpu_runner.hpp"
#include "stub/debug_target.hpp"
#include "vmm/machine.hpp"

namespace kvmgdb::debug {

struct TargetOptions {
    // Auto: what the probe says works. Forcing a mechanism the host's KVM does not honour
    // gives a target whose breakpoints never trap (tests force HltPatch to exercise it).
    BreakMechanism software = BreakMechanism::Auto;  // Int3 or HltPatch
    BreakMechanism hardware = BreakMechanism::Auto;  // DebugRegisters or HltPatch
    WatchMechanism watch = WatchMechanism::Auto;
    // Diagnostics (crash messages); default: stderr.
    TextSink diagnostics;
};

// The mechanisms `options` asks for, with Auto (and a kind that cannot serve) resolved
// by what `probe` found.
Mechanisms choose_mechanisms(const TargetOptions& options, const DebugProbe& probe, Platform platform);

class KvmTarget final : public stub::DebugTarget {
public:
    explicit KvmTarget(std::unique_ptr<Machine> machine, TargetOptions options = {});
    ~KvmTarget() override;
    KvmTarget(const KvmTarget&) = delete;
    KvmTarget& operator=(const KvmTarget&) = delete;

    Machine& machine() { return *machine_; }
    BreakMechanism software_mechanism() const { return breakpoints_.mechanisms().software; }
    BreakMechanism hardware_mechanism() const { return breakpoints_.mechanisms().hardware; }
    WatchMechanism watch_mechanism() const { return breakpoints_.mechanisms().watch; }

    // Threads: vCPU i is gdb thread i + 1 (stub/debug_target.hpp, ALL-STOP).
    std::vector<unsigned> threads() const override;
    std::string thread_extra_info(unsigned tid) const override;
    stub::TargetStatus select_thread(unsigned tid) override;
    void resume_threads(std::span<const stub::ThreadAction> actions, StopHandler on_stop) override;
    // NON-STOP (stub/debug_target.hpp): each vCPU stops alone (non_stop.hpp).
    stub::TargetStatus set_non_stop(bool on) override;
    void stop_thread(unsigned tid) override;

    stub::Arch arch() const override;
    stub::TargetCapabilities capabilities() const override;
    // AVX/AVX-512 where the CPUID the vCPUs got offers them (xsave_support).
    stub::RegisterFeatures register_features() const override;
    stub::StopEvent last_stop() const override;

    std::vector<std::uint8_t> read_registers() override;
    stub::TargetStatus write_registers(std::span<const std::uint8_t> g) override;
    std::optional<std::vector<std::uint8_t>> read_register(unsigned regnum) override;
    stub::TargetStatus write_register(unsigned regnum, std::span<const std::uint8_t> value) override;

    std::size_t read_memory(std::uint64_t addr, std::span<std::uint8_t> out) override;
    std::optional<stub::MemoryRegion> memory_region(std::uint64_t addr) override;
    std::size_t write_memory(std::uint64_t addr, std::span<const std::uint8_t> in) override;

    stub::TargetStatus insert_breakpoint(stub::BreakpointKind kind, std::uint64_t addr, std::uint64_t length) override;
    stub::TargetStatus remove_breakpoint(stub::BreakpointKind kind, std::uint64_t addr, std::uint64_t length) override;

    void resume(stub::ResumeKind kind, std::optional<std::uint8_t> signal, StopHandler on_stop) override;
    void interrupt() override;
    void detach() override;
    void remove_all_breakpoints() override;
    void kill() override;

    stub::TargetStatus monitor(std::string_view command, std::string& output) override;

    // Blocks until the target is stopped and its stop handler has returned (for tests,
    // detach and kill). Must not be called from inside a stop handler.
    void wait_stopped();

private:
    // The vCPU gdb's register, memory and monitor calls act on (select_thread).
    VcpuRunner& selected() const { return *runners_[selected_.load()]; }
    // The paging state gdb's addresses are translated under (the selected vCPU's).
    PagingState paging() const;
    // A pending stop is still worth reporting: not a breakpoint gdb removed since.
    bool still_a_breakpoint(unsigned index, const stub::StopEvent& ev) const;

    bool non_stop() const;

    std::unique_ptr<Machine> machine_;
    const DebugProbe& probe_;
    TextSink diag_;
    ForcedMechanisms forced_;
    AddressSpace space_;
    BreakpointManager breakpoints_;
    ModeChangeWatch mode_watch_;  // monitor break-on-mode-change, read by every runner
    std::atomic<unsigned> selected_{0};

    // The stops kept, the guest's end, the last stop, and their mutex, shared by the
    // two ways of running the vCPUs.
    RunState run_;
    AllStopRounds all_stop_;
    NonStopRuns non_stop_;

    // Last: their destructors stop and join the vCPU threads before the rest goes.
    std::vector<std::unique_ptr<VcpuRunner>> runners_;
};

}  // namespace kvmgdb::debug
