// kvm_regs / kvm_sregs / the XSAVE legacy region <-> gdb's register layout of an Arch
// (stub/registers.hpp). Pure conversions, unit-testable without KVM.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "stub/registers.hpp"
#include "x86/fxsave.hpp"

namespace kvmgdb::debug {

struct CpuState {
    kvm_regs regs{};
    kvm_sregs sregs{};
    XsaveArea fpu{};  // x87/SSE, MXCSR included (KVM_GET_XSAVE; see x86/fxsave.hpp)
};

// The register layout the CPU is in: long mode (IA-32e, compatibility mode
// included: its register file is the 64-bit one) -> x86-64, CR0.PE -> i386, else
// i8086 (gdb's i386 layout too).
stub::Arch arch_of(const kvm_sregs& s);

std::vector<std::uint8_t> encode_registers(stub::Arch arch, const CpuState& cpu);
// False when `g` is shorter than the layout, or holds a value the CPU cannot take
// (a real-mode pc outside CS: in real mode the pc is linear, CS.base + IP, and a
// write sets IP = pc - CS.base); the state is left unchanged then.
bool decode_registers(stub::Arch arch, std::span<const std::uint8_t> g, CpuState& cpu);
std::optional<std::vector<std::uint8_t>> encode_register(stub::Arch arch, unsigned regnum, const CpuState& cpu);
bool decode_register(stub::Arch arch, unsigned regnum, std::span<const std::uint8_t> value, CpuState& cpu);

}  // namespace kvmgdb::debug
