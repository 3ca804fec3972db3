// The KVM debug target: stub::DebugTarget on top of one Machine.
//
// Threading: the vCPU runs on its own std::thread, created with the target. resume()
// hands it a command under a mutex and returns; the thread loops KVM_RUN, lets the
// Machine service the exits that are the VMM's (console, exit port, MMIO devices),
// and on a stop stores last_stop() and calls the handler exactly once, on the vCPU
// thread, with no lock held. interrupt() sets kvm_run->immediate_exit and kicks the
// thread with SIGUSR1 (no SA_RESTART), so KVM_RUN returns EINTR -> SIGINT stop. All
// other calls (registers, memory, breakpoints) are made by the session while the
// target is stopped; they run on the caller's thread.
//
// Addresses: gdb's addresses are linear (CS.base + offset). In the flat 32- and
// 64-bit modes that is the offset itself. In real mode `eip` stays IP (what the CPU
// holds), but everything PC-based (breakpoints, the HLT-patch check, "a breakpoint at
// the current pc") uses the linear CS.base + IP, and memory is read at linear
// addresses, so `break *0x8005` means linear 0x8005.
//
// Mechanisms (probed once per process, see probe.hpp, and shown by `monitor info debug`):
//   Z0 software breakpoints: int3 + KVM_GUESTDBG_USE_SW_BP where #BP traps, otherwise a
//      one-byte HLT (0xF4) patch recognised on KVM_EXIT_HLT at rip-1.
//   Z1 hardware breakpoints: DR0-DR3 where they trap, otherwise the same patch.
//   Z2/Z4 watchpoints: DR0-DR3 where data breakpoints trap (and the range fits one),
//      otherwise page protection: the watched pages become a KVM_MEM_READONLY memslot
//      (Z2) or a hole in the memslots (Z4), so accesses exit as MMIO and are applied
//      to RAM here. Z3 is unsupported.
//   A page holding a patched breakpoint is read-only too, so that a guest write over
//   the patch byte exits: the written byte becomes the one to restore, the patch stays.
#pragma once

#include <linux/kvm.h>
#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "debug/address_space.hpp"
#include "debug/probe.hpp"
#include "debug/register_map.hpp"
#include "stub/debug_target.hpp"
#include "vmm/machine.hpp"
#include "x86/debug_registers.hpp"
#include "x86/page_walk.hpp"

namespace kvmgdb::debug {

enum class BreakMechanism { Auto, Int3, HltPatch, DebugRegisters };
enum class WatchMechanism { Auto, DebugRegisters, PageProtection };

struct TargetOptions {
    // Auto: what the probe says works. Forcing a mechanism the host's KVM does not honour
    // gives a target whose breakpoints never trap (tests force HltPatch to exercise it).
    BreakMechanism software = BreakMechanism::Auto;  // Int3 or HltPatch
    BreakMechanism hardware = BreakMechanism::Auto;  // DebugRegisters or HltPatch
    WatchMechanism watch = WatchMechanism::Auto;
    // Diagnostics (crash messages); default: stderr.
    TextSink diagnostics;
};

class KvmTarget final : public stub::DebugTarget {
public:
    explicit KvmTarget(std::unique_ptr<Machine> machine, TargetOptions options = {});
    ~KvmTarget() override;
    KvmTarget(const KvmTarget&) = delete;
    KvmTarget& operator=(const KvmTarget&) = delete;

    Machine& machine() { return *machine_; }
    BreakMechanism software_mechanism() const { return sw_mech_; }
    BreakMechanism hardware_mechanism() const { return hw_mech_; }
    WatchMechanism watch_mechanism() const { return watch_mech_; }

    stub::Arch arch() const override;
    stub::TargetCapabilities capabilities() const override;
    stub::StopEvent last_stop() const override;

    std::vector<std::uint8_t> read_registers() override;
    stub::TargetStatus write_registers(std::span<const std::uint8_t> g) override;
    std::optional<std::vector<std::uint8_t>> read_register(unsigned regnum) override;
    stub::TargetStatus write_register(unsigned regnum, std::span<const std::uint8_t> value) override;

    std::size_t read_memory(std::uint64_t addr, std::span<std::uint8_t> out) override;
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
    // A one-byte patch (0xCC or 0xF4) in guest RAM; Z0 and the Z1 fallback share it.
    struct Patch {
        std::uint64_t phys = 0;
        std::uint8_t original = 0;
        std::uint8_t byte = 0;
        bool software = false;  // a Z0 is set here
        bool hardware = false;  // a Z1 (fallback) is set here
    };
    // A page-protection watchpoint: its linear range and the guest-physical ranges it maps to.
    struct PageWatch {
        stub::BreakpointKind kind;
        std::uint64_t addr;
        std::uint64_t len;
        std::vector<std::pair<std::uint64_t, std::uint64_t>> phys;  // [begin, end)
    };
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
    void apply_guest_debug(bool step);
    const Patch* patch_at_phys(std::uint64_t phys) const;  // any patch of that byte, or nullptr

    kvm_sregs sregs() const;
    CpuState cpu_state() const;
    stub::TargetStatus store(const CpuState& before, const CpuState& after);
    std::uint64_t linear_pc() const;
    std::optional<std::string> code_on_watched_pages(const PageWatch& w) const;
    PagingState paging() const;
    void sync_memslots();
    void lay_out_memslots(const std::map<std::uint64_t, bool>& pages);  // phys page -> hole

    std::string monitor_info_debug() const;
    std::string monitor_translate(std::uint64_t addr) const;
    std::string monitor_info_sregs() const;

    std::unique_ptr<Machine> machine_;
    AddressSpace space_;  // gdb address -> guest-physical, `monitor phys`
    const DebugProbe& probe_;
    TextSink diag_;
    BreakMechanism sw_mech_;
    BreakMechanism hw_mech_;
    WatchMechanism watch_mech_;
    bool sw_forced_ = false, hw_forced_ = false, watch_forced_ = false;  // by TargetOptions, not the probe

    // Guarded by mu_: the run state, the pending command, the interrupt request.
    mutable std::mutex mu_;
    std::condition_variable cv_;
    State state_ = State::Stopped;
    std::optional<Command> command_;
    bool interrupt_requested_ = false;
    bool quit_ = false;
    bool delivering_ = false;  // the vCPU thread is inside a stop handler
    stub::StopEvent last_stop_;
    std::atomic<stub::Arch> arch_{stub::Arch::I386};

    // Owned by whoever has the target: the session while stopped, the vCPU thread while running.
    std::map<std::uint64_t, Patch> patches_;  // by linear address
    DebugRegisterSlots drs_;          // Z1/Z2/Z4 on DR0-DR3
    std::vector<PageWatch> page_watches_;
    std::map<std::uint64_t, bool> protected_pages_;  // phys page -> true: hole (access), false: read-only
    // What sync_memslots protects: everything, or (while one instruction the emulator
    // could not do runs natively) only the holes, or nothing.
    enum class Protection { Full, HolesOnly, None };
    Protection protection_ = Protection::Full;
    std::vector<std::uint32_t> slots_ = {0};
    bool finished_ = false;  // exited, killed or crashed: resume reports last_stop_ again

    pthread_t thread_handle_{};
    std::thread thread_;
};

}  // namespace kvmgdb::debug
