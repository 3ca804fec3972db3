// Register access on one vCPU: gdb's g/G/p/P over KVM's register structs (the
// conversions are register_map's), and the register layout of the vCPU's mode,
// cached so that arch() never blocks on a vCPU that is in KVM_RUN.
#pragma once

#include <linux/kvm.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "debug/register_map.hpp"
#include "kvm/kvm.hpp"
#include "stub/debug_target.hpp"

namespace kvmgdb::debug {

class VcpuRegisters {
public:
    // Reads the vCPU's mode once for the first arch(). `xsave` (xsave_support() of
    // the vCPU's CPUID) chooses the layouts, with or without AVX/AVX-512, and where
    // the XSAVE area keeps those registers; `supported_xcr0` (supported_xcr0() of the
    // same CPUID) the XCR0 values a write may set.
    explicit VcpuRegisters(Vcpu& vcpu, XsaveSupport xsave = {}, std::uint64_t supported_xcr0 = 0);

    // The cached layout: set here, by every register write and by refresh_arch().
    stub::Arch arch() const { return arch_.load(); }
    // Re-reads the mode (at a stop); throws KvmError when KVM_GET_SREGS fails.
    void refresh_arch();

    Vcpu& vcpu() const { return vcpu_; }
    kvm_regs regs() const { return vcpu_.get_regs(); }
    kvm_sregs sregs() const { return vcpu_.get_sregs(); }
    // Everything g/G/p/P cover: regs, sregs, the XSAVE area, XCR0, DR0-3/DR6/DR7.
    CpuState cpu_state() const;
    const XsaveSupport& xsave() const { return xsave_; }

    std::vector<std::uint8_t> read_all();
    stub::TargetStatus write_all(std::span<const std::uint8_t> g);
    std::optional<std::vector<std::uint8_t>> read(unsigned regnum);
    stub::TargetStatus write(unsigned regnum, std::span<const std::uint8_t> value);

private:
    stub::TargetStatus store(const CpuState& before, const CpuState& after);

    Vcpu& vcpu_;
    XsaveSupport xsave_;
    std::uint64_t supported_xcr0_;
    std::atomic<stub::Arch> arch_{stub::Arch::I386};
};

}  // namespace kvmgdb::debug
