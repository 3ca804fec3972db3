// `monitor CMD` of the KVM target: text about the mode, the system registers, the
// breakpoint mechanisms and the ports, a page walk, `phys on|off` and
// `break-on-mode-change on|off`. It only reads
// the parts it is given (and sets AddressSpace's physical mode).
#pragma once

#include <string>
#include <string_view>

#include "debug/address_space.hpp"
#include "debug/breakpoints.hpp"
#include "debug/mode_change.hpp"
#include "debug/probe.hpp"
#include "debug/register_access.hpp"
#include "stub/debug_target.hpp"
#include "vmm/machine.hpp"

namespace kvmgdb::debug {

// Which mechanisms the user forced (TargetOptions) rather than the probe chose.
struct ForcedMechanisms {
    bool software = false, hardware = false, watch = false;
};

class Monitor {
public:
    // `mode_watch` is the target's, shared with its vCPU runners (break-on-mode-change).
    Monitor(Machine& machine, AddressSpace& space, const BreakpointManager& breakpoints, const DebugProbe& probe,
            ForcedMechanisms forced, ModeChangeWatch& mode_watch)
        : machine_(machine), space_(space), bps_(breakpoints), probe_(probe), forced_(forced),
          mode_watch_(mode_watch) {}

    // Runs one command on behalf of the vCPU gdb looks at (`cpu`).
    stub::TargetStatus run(std::string_view command, std::string& output, const VcpuRegisters& cpu);

private:
    std::string info_debug() const;
    std::string info_sregs(const VcpuRegisters& cpu) const;
    std::string translate(const VcpuRegisters& cpu, std::uint64_t addr) const;
    std::string break_on_mode_change() const;

    Machine& machine_;
    AddressSpace& space_;
    const BreakpointManager& bps_;
    const DebugProbe& probe_;
    ForcedMechanisms forced_;
    ModeChangeWatch& mode_watch_;
};

}  // namespace kvmgdb::debug
