#include "debug/register_access.hpp"

#include <cerrno>
#include <cstring>
#include <string>

#include "kvm/kvm_error.hpp"
#include "util/hex.hpp"
#include "x86/fxsave.hpp"

namespace kvmgdb::debug {

using stub::TargetStatus;

VcpuRegisters::VcpuRegisters(Vcpu& vcpu) : vcpu_(vcpu) { refresh_arch(); }

void VcpuRegisters::refresh_arch() { arch_ = arch_of(vcpu_.get_sregs()); }

CpuState VcpuRegisters::cpu_state() const {
    CpuState cpu;
    cpu.regs = vcpu_.get_regs();
    cpu.sregs = vcpu_.get_sregs();
    cpu.fpu = vcpu_.get_xsave();
    return cpu;
}

std::vector<std::uint8_t> VcpuRegisters::read_all() {
    CpuState cpu = cpu_state();
    return encode_registers(arch_.load(), cpu);
}

TargetStatus VcpuRegisters::write_all(std::span<const std::uint8_t> g) {
    const CpuState before = cpu_state();
    CpuState cpu = before;
    if (!decode_registers(arch_.load(), g, cpu)) return TargetStatus::error(EINVAL, "short G packet");
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
        return TargetStatus::error(EINVAL, "no register " + std::to_string(regnum) + " of that size");
    return store(before, cpu);
}

// Writes back only the structures that changed (KVM_SET_SREGS has side effects, e.g.
// on pending interrupts); KVM refusing a value (say, an inconsistent CR0/EFER) is EINVAL.
TargetStatus VcpuRegisters::store(const CpuState& before, const CpuState& after) {
    if (before.fpu.bytes != after.fpu.bytes) {
        // KVM_SET_XSAVE refuses reserved MXCSR bits; refuse them before writing
        // anything, so that a `G` is applied whole or not at all.
        std::uint32_t mask = fx::get<std::uint32_t>(after.fpu, fx::MXCSR_MASK);
        if (mask == 0) mask = 0xffbf;  // SDM Vol. 1 11.6.6: the default when FXSAVE stores 0
        if (fx::get<std::uint32_t>(after.fpu, fx::MXCSR) & ~mask)
            return TargetStatus::error(EINVAL, "MXCSR reserved bits set (MXCSR_MASK " + hex(mask) + ")");
    }
    try {
        if (std::memcmp(&before.sregs, &after.sregs, sizeof after.sregs) != 0) vcpu_.set_sregs(after.sregs);
        if (std::memcmp(&before.regs, &after.regs, sizeof after.regs) != 0) vcpu_.set_regs(after.regs);
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
