// The abstract debug target the RSP session drives. The session turns packets into
// calls on this interface; src/debug implements it on KVM, tests/stub on a fake.
// Nothing here knows about KVM (this header must never include <linux/kvm.h>).
#pragma once

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
};

enum class ResumeKind { Continue, Step };

class DebugTarget {
public:
    using StopHandler = std::function<void(StopEvent)>;
    virtual ~DebugTarget() = default;

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

    virtual TargetStatus insert_breakpoint(BreakpointKind kind, std::uint64_t addr, std::uint64_t length) = 0;
    virtual TargetStatus remove_breakpoint(BreakpointKind kind, std::uint64_t addr, std::uint64_t length) = 0;

    // Starts the guest. `on_stop` is called exactly once, possibly from another thread,
    // when it stops again. `signal` is a GDB signal to deliver (ignored by bare metal).
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
