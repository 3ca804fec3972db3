// The register values KVM would refuse, found before anything is written, so that
// a `G` is applied whole or not at all (VcpuRegisters::store writes sregs, regs,
// debug registers, XCR0 and the XSAVE area one ioctl at a time, and a refusal in
// the middle would leave half of the packet applied). Pure, unit-tested without KVM.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "debug/register_map.hpp"

namespace kvmgdb::debug {

// The XCR0 bits the guest may enable: CPUID.(EAX=0DH,ECX=0):EDX:EAX of the CPUID
// the vCPU was given (KVM's guest_supported_xcr0), 0 without that leaf (no XSAVE).
std::uint64_t supported_xcr0(std::span<const kvm_cpuid_entry2> cpuid);

// Why XSETBV, and so KVM_SET_XCRS, refuses `xcr0` (SDM Vol. 1 13.3, the #GP
// conditions of XSETBV; KVM's __kvm_set_xcr checks the same), or nullopt when it
// takes it: bit 0 (x87) clear; AVX (bit 2) without SSE (bit 1); BNDREGS and BNDCSR
// (bits 3, 4) not together; any of bits 5-7 (AVX-512) without all three or without
// AVX; XTILECFG and XTILEDATA (bits 17, 18) not together; a bit outside `supported`
// (x87 aside, which is always there); no XSAVE at all (`supported` 0).
std::optional<std::string> xcr0_problem(std::uint64_t xcr0, std::uint64_t supported);

// Why storing `after` over `before` must be refused before any ioctl, or nullopt.
// Only what changed is checked (a state KVM handed out is written back as it is):
// MXCSR reserved bits (against MXCSR_MASK, 0xffbf where it is 0, SDM Vol. 1
// 11.6.6); DR6 or DR7 with bits 63:32 set (KVM_SET_DEBUGREGS says EINVAL); an XCR0
// that xcr0_problem() refuses.
std::optional<std::string> store_problem(const CpuState& before, const CpuState& after, std::uint64_t supported_xcr0);

}  // namespace kvmgdb::debug
