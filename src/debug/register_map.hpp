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

// What the host's XSAVE area holds beyond x87/SSE, and where: the register sets
// the layouts carry and the offsets of their state components.
struct XsaveSupport {
    stub::RegisterFeatures features;
    fx::XsaveLayout layout;
};

// From KVM_GET_SUPPORTED_CPUID (the CPUID kvmgdb gives the guest): AVX where
// CPUID.1:ECX has XSAVE (bit 26) and AVX (bit 28) and leaf 0xD sub-leaf 0 EAX
// (the XCR0 bits the CPU supports) has bit 2; AVX-512 where that EAX also has
// bits 5-7. A component's offset is leaf 0xD sub-leaf i EBX where the entry is
// there, fx::XsaveLayout's default otherwise; a component whose size (EAX) is not
// the architectural one, or that would end past the 4096 bytes of KVM_GET_XSAVE,
// drops its feature.
XsaveSupport xsave_support(std::span<const kvm_cpuid_entry2> cpuid);

struct CpuState {
    kvm_regs regs{};
    kvm_sregs sregs{};
    XsaveArea fpu{};  // x87/SSE with MXCSR, AVX, AVX-512 (KVM_GET_XSAVE; see x86/fxsave.hpp)
    kvm_xcrs xcrs{};  // XCR0 (KVM_GET_XCRS); an absent entry reads 0, a write adds it
    kvm_debugregs debugregs{};  // DR0-3, DR6, DR7 (KVM_GET_DEBUGREGS)
    // Not CPU state: which layout encode/decode use (register_layout(arch,
    // xsave.features)) and where `fpu` keeps the AVX/AVX-512 registers. The
    // default, no features, is the x87/SSE layout.
    XsaveSupport xsave{};
};

// The register layout the CPU is in: long mode (IA-32e, compatibility mode
// included: its register file is the 64-bit one) -> x86-64, CR0.PE -> i386, else
// i8086 (gdb's i386 layout too).
stub::Arch arch_of(const kvm_sregs& s);

// The registers of register_layout(arch, cpu.xsave.features). An AVX/AVX-512
// register whose XSTATE_BV bit is clear is in its initial state and reads as 0;
// writing one that changes sets the bit (zeroing the rest of the component, which
// was initial), so that KVM_SET_XSAVE loads it. dr0-3/dr6/dr7 and the other
// narrow registers of the 32-bit layouts replace only their low bytes.
std::vector<std::uint8_t> encode_registers(stub::Arch arch, const CpuState& cpu);
// False when `g` is shorter than the layout, or holds a value the CPU cannot take
// (a real-mode pc outside CS: in real mode the pc is linear, CS.base + IP, and a
// write sets IP = pc - CS.base); the state is left unchanged then.
bool decode_registers(stub::Arch arch, std::span<const std::uint8_t> g, CpuState& cpu);
std::optional<std::vector<std::uint8_t>> encode_register(stub::Arch arch, unsigned regnum, const CpuState& cpu);
bool decode_register(stub::Arch arch, unsigned regnum, std::span<const std::uint8_t> value, CpuState& cpu);

}  // namespace kvmgdb::debug
