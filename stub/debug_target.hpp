// The abstract debug target the RSP session drives. The session turns packets into
// calls on this interface; src/debug implements it on KVM, tests/stub on a fake.
// Nothing here knows about KVM (this header must never include <linux/kvm.h>).
#pragma once

#include <cerrno>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stub/registers.hpp"

namespace kvmgdb::stub {

// Errors that end a request, not the session (gdbstub's TargetError::NonFatal/Errno).
// The session answers `E` + the two-digit errno. Fatal problems are exceptions.
struct TargetStatus {
    enum class Code { Ok, Unsupported, Error };
    Code code = Code::Ok;
    int errno_value = 0;  // for Error: an errno (EINVAL, EFAULT, ENOSPC, ...)
    std::string message;  // for logs and `monitor`

    static TargetStatus ok() { return {}; }
    static TargetStatus unsupported() { return {Code::Unsupported, 0, {}}; }
    static TargetStatus error(int err, std::string msg = {}) { return {Code::Error, err, std::move(msg)}; }
    bool is_ok() const { return code == Code::Ok; }
};

// Why the target stopped; the session renders it as a T/S/W/X stop reply.
struct StopEvent {
    enum class Kind {
        Signal,         // a plain stop: step done (SIGTRAP), Ctrl-C (SIGINT), fault (SIGSEGV)...
        SoftwareBreak,  // swbreak: (Z0)
        HardwareBreak,  // hwbreak: (Z1)
        Watch,          // watch:ADDR (Z2)
        ReadWatch,      // rwatch:ADDR (Z3)
        AccessWatch,    // awatch:ADDR (Z4)
        Exited,         // W status: the guest ended (HLT, exit port)
        Terminated      // X signal: the guest cannot go on (killed)
    };
    Kind kind = Kind::Signal;
    int signal = 5;              // GDB signal number (5 = SIGTRAP, 2 = SIGINT, 11 = SIGSEGV)
    std::uint64_t address = 0;   // data address for watchpoints
    int exit_status = 0;         // for Exited
    std::string message;         // why, for stderr and `monitor` (e.g. "triple fault")
    unsigned thread = 1;         // the gdb thread that stopped (vCPU i = thread i + 1)
    // Shown by gdb before the stop (an `O` console-output packet ahead of the stop
    // reply, all-stop only), e.g. "kvmgdb: mode change: real mode -> protected mode\n".
    std::string console{};  // (an initializer, so brace-initialised StopEvents need not name it)
};

// What lies at one of gdb's addresses (LLDB's qMemoryRegionInfo; the text of a
// failed read for clients that take error messages).
struct MemoryRegion {
    std::uint64_t start = 0;   // the region holds [start, start + size), addr among them
    std::uint64_t size = 0;
    bool mapped = false;       // false: nothing can be read here
    bool readable = false;
    bool writable = false;
    bool executable = false;
    // For an unmapped region: why, as a sentence for the user, e.g. "address
    // 0x400000 is not mapped in the guest's page tables (PDE not present)".
    std::string why_unmapped{};
};

enum class BreakpointKind { Software = 0, Hardware = 1, WriteWatch = 2, ReadWatch = 3, AccessWatch = 4 };

// What the target can do; qSupported and the Z-packet answers are computed from it.
struct TargetCapabilities {
    bool software_breakpoints = false;
    bool hardware_breakpoints = false;
    bool write_watchpoints = false;
    bool read_watchpoints = false;
    bool access_watchpoints = false;
    bool single_step = true;
    // "Remote Non-Stop": set_non_stop(true) works and stop_thread() is honoured.
    // QNonStop+ is advertised only with it.
    bool non_stop = false;
    // read_memory/write_memory and insert/remove_breakpoint may be called while
    // threads run (non-stop mode only; guest RAM is host memory).
    bool memory_while_running = false;
};

enum class ResumeKind { Continue, Step };

// One thread's part of a resume: vCont's per-thread actions, resolved by the
// session ("leftmost matching action wins") into one entry per thread to run.
struct ThreadAction {
    unsigned tid = 1;
    ResumeKind kind = ResumeKind::Continue;
    std::optional<std::uint8_t> signal;  // a GDB signal to deliver (ignored by bare metal)
    bool operator==(const ThreadAction&) const = default;
};

// THREADS. Every vCPU is one gdb thread of one process (pid 1): vCPU i is
// thread i + 1 (tids are never 0, the protocol's "any thread"). The thread
// virtuals below all have defaults that make a target with one vCPU (thread 1),
// so a target that knows nothing of threads keeps working unchanged.
//
// Selection. select_thread(tid) (gdb's `Hg`) picks the thread that arch(),
// read/write_register(s), read/write_memory (through that vCPU's page tables)
// and monitor() act on, until the next select_thread. Resuming does not change
// it; the session re-selects after stops itself (in all-stop mode a stop makes
// the stopped thread the selected one, as gdbserver does). Breakpoints and
// watchpoints are per target, not per thread: every vCPU hits them.
//
// ALL-STOP (the default; the only mode unless capabilities().non_stop):
//  - resume_threads(actions, h) runs exactly the threads in `actions` (each
//    listed once, each one stopped before); threads not listed stay stopped
//    (gdb's `set scheduler-locking on` + stepi: `vCont;s:2` steps thread 2 only).
//  - When any running thread stops (step done, breakpoint, watchpoint, fault,
//    exit port, interrupt()), the target first stops every other running thread
//    (KVM: kick it out of KVM_RUN and wait until it is out) and only then calls
//    h ONCE, with StopEvent::thread naming the thread that stopped. A thread
//    that ran into HLT is halted, not stopped for gdb: it stays in the resume
//    until some thread stops or every thread halted (then Exited).
//  - Several threads stopping for reasons of their own at the same time: report
//    one, keep the others' events pending, and report a pending event at once
//    (without entering the guest) the next time its thread is resumed; gdbserver
//    does the same and gdb expects it.
//  - interrupt() stops all; the event names a thread of the target's choice
//    (KVM: the lowest-numbered one that was running) with SIGINT.
//  - Exited / Terminated end the whole target (every thread).
//
// NON-STOP (after set_non_stop(true) succeeded; "Remote Non-Stop"):
//  - resume_threads runs the listed threads, which must be stopped; threads
//    not listed keep their state (running ones run on).
//  - Each thread stops alone: the target calls the handler of the latest
//    resume_threads once per stop of a thread, naming it; the other threads
//    keep running. The calls may come from any thread, one after another.
//  - stop_thread(tid) asks one running thread to stop; it is reported through
//    the handler as Kind::Signal with signal 0 (unless it stopped for another
//    reason first). A thread that is already stopped is left alone, no report.
//  - interrupt() stops every running thread, each reported as for stop_thread.
//  - set_non_stop(false) stops every running thread before it returns and
//    calls no handler for those stops (nobody asked for them).
//  - The session keeps track of which threads run (from its resumes and the
//    stops reported), so the target needs no "is it running" query.
//  - With capabilities().memory_while_running, memory and breakpoint calls may
//    come while threads run (thread-safe against the vCPU threads); register
//    calls only ever name a stopped thread.
//
// threads() and thread_extra_info() may be called in either mode while threads
// run (they must not block on a running vCPU). last_stop() names its thread:
// `?` reports it and, in all-stop mode, selects it.
class DebugTarget {
public:
    using StopHandler = std::function<void(StopEvent)>;
    virtual ~DebugTarget() = default;

    // --- threads (defaults: one thread, tid 1) ---------------------------------
    // The thread ids, ascending, every one a live thread (a halted vCPU is alive).
    virtual std::vector<unsigned> threads() const { return {1}; }
    // Text for `info threads` (qThreadExtraInfo, qXfer:threads), e.g.
    // "vCPU 1, long mode, halted". Empty: the session's own text, "vCPU N (mode)".
    virtual std::string thread_extra_info(unsigned /*tid*/) const { return {}; }
    // Make `tid` the thread the register, memory, arch() and monitor() calls act
    // on. An unknown tid is an error (ESRCH) and changes nothing.
    virtual TargetStatus select_thread(unsigned tid) {
        return tid == 1 ? TargetStatus::ok() : TargetStatus::error(ESRCH, "no such thread");
    }
    // Runs the threads in `actions` (see ALL-STOP / NON-STOP above). The default
    // (one thread) forwards the first action to resume().
    virtual void resume_threads(std::span<const ThreadAction> actions, StopHandler on_stop) {
        if (actions.empty()) return;
        resume(actions.front().kind, actions.front().signal, std::move(on_stop));
    }
    // Non-stop mode on or off. Default: only off is possible.
    virtual TargetStatus set_non_stop(bool on) { return on ? TargetStatus::unsupported() : TargetStatus::ok(); }
    // Non-stop: ask one running thread to stop (reported with signal 0).
    virtual void stop_thread(unsigned /*tid*/) { interrupt(); }

    // The register layout of the CPU's current mode (it can change while the guest runs:
    // real -> protected -> long).
    virtual Arch arch() const = 0;
    // The register sets beyond SSE that the host CPU offers (AVX, AVX-512); the
    // layouts of read_registers() and friends are register_layout(arch(),
    // register_features()). Constant for the target's life. Default: none.
    virtual RegisterFeatures register_features() const { return {}; }
    virtual TargetCapabilities capabilities() const = 0;
    // Why the target is stopped now (for `?`).
    virtual StopEvent last_stop() const = 0;

    // Registers in the `g` layout of arch(), little-endian, every register of the description.
    virtual std::vector<std::uint8_t> read_registers() = 0;
    virtual TargetStatus write_registers(std::span<const std::uint8_t> g) = 0;
    virtual std::optional<std::vector<std::uint8_t>> read_register(unsigned regnum) = 0;
    virtual TargetStatus write_register(unsigned regnum, std::span<const std::uint8_t> value) = 0;

    // Memory at gdb's addresses (linear, translated by the guest's page tables; physical
    // after `monitor phys on`). A read stops at the first unmapped byte and returns how many
    // bytes it read; 0 means nothing is mapped at addr.
    virtual std::size_t read_memory(std::uint64_t addr, std::span<std::uint8_t> out) = 0;
    virtual std::size_t write_memory(std::uint64_t addr, std::span<const std::uint8_t> in) = 0;
    // The region around addr, as read_memory sees it (same translation, same rules
    // about running threads). Default: not known (LLDB is told it is unsupported).
    virtual std::optional<MemoryRegion> memory_region(std::uint64_t /*addr*/) { return std::nullopt; }

    virtual TargetStatus insert_breakpoint(BreakpointKind kind, std::uint64_t addr, std::uint64_t length) = 0;
    virtual TargetStatus remove_breakpoint(BreakpointKind kind, std::uint64_t addr, std::uint64_t length) = 0;

    // Starts the guest: every thread with `kind` (a target with several threads
    // should apply it to the selected thread and continue the others; the session
    // itself calls resume_threads). `on_stop` is called exactly once, possibly from
    // another thread, when it stops again. `signal` is a GDB signal to deliver
    // (ignored by bare metal).
    virtual void resume(ResumeKind kind, std::optional<std::uint8_t> signal, StopHandler on_stop) = 0;
    // Asks a running target to stop (Ctrl-C); thread-safe; leads to on_stop(SIGINT).
    virtual void interrupt() = 0;

    // gdb detached: remove all breakpoints and let the guest run on to its end.
    virtual void detach() = 0;
    // gdb went away without detaching (connection dropped): remove every breakpoint and
    // watchpoint it set, which the next gdb does not know of; the guest stays stopped.
    virtual void remove_all_breakpoints() = 0;
    // gdb killed the guest.
    virtual void kill() = 0;

    // `monitor CMD`: returns the text to show. Unknown commands return an error status.
    virtual TargetStatus monitor(std::string_view command, std::string& output) = 0;
};

}  // namespace kvmgdb::stub
