#include "debug/debug_exit.hpp"

#include <string>

#include "debug/stop_events.hpp"

namespace kvmgdb::debug {

using stub::StopEvent;

std::optional<StopEvent> debug_exit_stop(const exit::Debug& d, const BreakpointManager& bps, Vcpu& vcpu) {
    if (d.exception == 1) {
        const DebugRegisterSlots& drs = bps.debug_registers();
        const std::uint8_t hits = drs.enabled_hits(d.dr6);
        for (int i = 0; i < kDebugSlots; ++i) {
            if (!(hits & (1u << i))) continue;
            const DebugSlot& slot = drs.slots()[static_cast<std::size_t>(i)];
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
    if (d.exception == 3) {
        // int3 intercepted: rip is at the int3 (VMX and SVM both report the
        // instruction, not the address after it), so only a patch at rip is ours. A
        // guest int3 on the byte after one of our patches is the guest's own.
        const kvm_sregs sregs = vcpu.get_sregs();
        const std::uint64_t pc = linear_pc(vcpu.get_regs(), sregs);
        const Patch* patch = bps.patch_hit(paging_of(sregs), pc);
        if (!patch) {
            // gdb removed the breakpoint while this vCPU was on its way out of KVM_RUN
            // from it (non-stop): the guest's own byte is back at rip, and it runs.
            if (auto byte = bps.ram_byte_at_linear(paging_of(sregs), pc); byte && *byte != kInt3) return std::nullopt;
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
        return patch_stop(*patch);
    }
    return signal_stop(kSigTrap, "debug exception " + std::to_string(d.exception));
}

}  // namespace kvmgdb::debug
