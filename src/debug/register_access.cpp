#include "debug/register_access.hpp"

#include <cerrno>
#include <cstring>
#include <string>

#include "kvm/kvm_error.hpp"
#include "debug/register_checks.hpp"
#include "x86/fxsave.hpp"

namespace kvmgdb::debug {

using stub::TargetStatus;

VcpuRegisters::VcpuRegisters(Vcpu& vcpu, XsaveSupport xsave, std::uint64_t supported_xcr0)
    : vcpu_(vcpu), xsave_(xsave), supported_xcr0_(supported_xcr0) {
    refresh_arch();
}

void VcpuRegisters::refresh_arch() { arch_ = arch_of(vcpu_.get_sregs()); }

CpuState VcpuRegisters::cpu_state() const {
    CpuState cpu;
    cpu.regs = vcpu_.get_regs();
    cpu.sregs = vcpu_.get_sregs();
    cpu.fpu = vcpu_.get_xsave();
    cpu.xcrs = vcpu_.get_xcrs();
    cpu.debugregs = vcpu_.get_debugregs();
    cpu.xsave = xsave_;
    return cpu;
}

std::vector<std::uint8_t> VcpuRegisters::read_all() {
    CpuState cpu = cpu_state();
    return encode_registers(arch_.load(), cpu);
}

TargetStatus VcpuRegisters::write_all(std::span<const std::uint8_t> g) {
    const CpuState before = cpu_state();
    CpuState cpu = before;
    if (!decode_registers(arch_.load(), g, cpu)) return TargetStatus::error(EINVAL, "short G packet, or a real-mode pc outside the CS segment");
    return store(before, cpu);
}

std::optional<std::vector<std::uint8_t>> VcpuRegisters::read(unsigned regnum) {
    CpuState cpu = cpu_state();
    return encode_register(arch_.load(), regnum, cpu);
}

TargetStatus VcpuRegisters::write(unsigned regnum, std::span<const std::uint8_t> value) {
    const CpuState before = cpu_state();
    CpuState cpu = before;
    if (!decode_register(arch_.load(), regnum, value, cpu))
        return TargetStatus::error(EINVAL, "no register " + std::to_string(regnum) +
                                              " of that size, or a real-mode pc outside the CS segment");
    return store(before, cpu);
}

// Writes back only the structures that changed (KVM_SET_SREGS has side effects, e.g.
// on pending interrupts), after refusing what KVM would refuse (store_problem), so
// that a `G` is applied whole or not at all; KVM refusing a value all the same (say,
// an inconsistent CR0/EFER) is EINVAL too.
TargetStatus VcpuRegisters::store(const CpuState& before, const CpuState& after) {
    if (auto problem = store_problem(before, after, supported_xcr0_)) return TargetStatus::error(EINVAL, *problem);
    try {
        if (std::memcmp(&before.sregs, &after.sregs, sizeof after.sregs) != 0) vcpu_.set_sregs(after.sregs);
        if (std::memcmp(&before.regs, &after.regs, sizeof after.regs) != 0) vcpu_.set_regs(after.regs);
        if (std::memcmp(&before.debugregs, &after.debugregs, sizeof after.debugregs) != 0)
            vcpu_.set_debugregs(after.debugregs);
        // XCR0 before the XSAVE area (XSETBV before XRSTOR, as a guest switching
        // contexts does), so that an area holding a component the new XCR0 enables
        // is loaded into a vCPU that has it enabled.
        if (std::memcmp(&before.xcrs, &after.xcrs, sizeof after.xcrs) != 0) vcpu_.set_xcrs(after.xcrs);
        if (before.fpu.bytes != after.fpu.bytes) {
            XsaveArea fpu = after.fpu;
            fx::mark_legacy_present(fpu);  // else XRSTOR would reset a component we wrote
            vcpu_.set_xsave(fpu);
        }
    } catch (const KvmError& e) {
        return TargetStatus::error(EINVAL, e.what());
    }
    arch_ = arch_of(after.sregs);
    return TargetStatus::ok();
}

}  // namespace kvmgdb::debug
