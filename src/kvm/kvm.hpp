// The KVM layer: RAII owners of the /dev/kvm, VM and vCPU file descriptors and of
// the vCPU's kvm_run mapping (Documentation/virt/kvm/api.rst). Every failing ioctl
// throws KvmError naming the ioctl and errno. Nothing here knows about ELF files,
// CPU modes or the GDB protocol.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "kvm/fd.hpp"
#include "kvm/kvm_error.hpp"
#include "x86/fxsave.hpp"

namespace kvmgdb {

// What KVM_RUN returned, typed (as kvm-ioctls does). Spans point into the kvm_run
// page and are valid until the next run().
namespace exit {
struct IoOut { std::uint16_t port; std::uint8_t size; std::uint32_t count; std::span<const std::uint8_t> data; };
struct IoIn { std::uint16_t port; std::uint8_t size; std::uint32_t count; std::span<std::uint8_t> data; };
struct Mmio { std::uint64_t addr; std::uint32_t len; bool is_write; std::span<std::uint8_t> data; };
struct Hlt {};
struct Debug { std::uint32_t exception; std::uint64_t pc; std::uint64_t dr6; std::uint64_t dr7; };
struct Shutdown {};  // triple fault
struct FailEntry { std::uint64_t hardware_reason; };
struct InternalError { std::uint32_t suberror; };
struct Interrupted {};  // KVM_RUN returned EINTR or immediate_exit was set (a kick)
struct Unknown { std::uint32_t reason; };
}  // namespace exit

using VcpuExit = std::variant<exit::IoOut, exit::IoIn, exit::Mmio, exit::Hlt, exit::Debug,
                              exit::Shutdown, exit::FailEntry, exit::InternalError,
                              exit::Interrupted, exit::Unknown>;

// A short human description of an exit ("HLT", "I/O out port 0xe9", ...).
std::string describe(const VcpuExit& e);

class Kvm {
public:
    // Opens /dev/kvm (or `path`), checks the API version is 12 and that the
    // capabilities kvmgdb relies on exist. Failure messages say what to do.
    explicit Kvm(const std::string& path = "/dev/kvm");

    int fd() const { return fd_.get(); }
    int check_extension(long cap) const;
    int vcpu_mmap_size() const;
    // KVM_GET_SUPPORTED_CPUID: every leaf the host's KVM can give a guest.
    std::vector<kvm_cpuid_entry2> supported_cpuid() const;

private:
    Fd fd_;
};

class Vcpu;

class Vm {
public:
    explicit Vm(const Kvm& kvm);

    int fd() const { return fd_.get(); }
    const Kvm& kvm() const { return *kvm_; }
    int check_extension(long cap) const;
    // KVM_ENABLE_CAP on the VM with args[0] = arg.
    void enable_cap(std::uint32_t cap, std::uint64_t arg);
    // Three pages of guest-physical space KVM uses for real-mode emulation on Intel.
    void set_tss_addr(std::uint64_t addr);
    void set_identity_map_addr(std::uint64_t addr);
    void set_user_memory_region(std::uint32_t slot, std::uint32_t flags, std::uint64_t guest_phys,
                                std::uint64_t size, void* host);
    // The PC platform's in-kernel devices (api.rst 4.24 KVM_CREATE_IRQCHIP, 4.71
    // KVM_CREATE_PIT2): local APICs, IOAPIC and the two 8259s, then the 8254 PIT with
    // port 0x61 (KVM_PIT_SPEAKER_DUMMY). Both before the first vCPU.
    void create_irqchip();
    void create_pit2();
    // KVM_IRQ_LINE: drive GSI `irq` (an ISA IRQ reaches both the PIC and the IOAPIC).
    void irq_line(std::uint32_t irq, bool level);
    // KVM_GET_IRQCHIP for chip 0 (master PIC), 1 (slave PIC) or 2 (IOAPIC).
    kvm_irqchip get_irqchip(std::uint32_t chip) const;

private:
    const Kvm* kvm_;
    Fd fd_;
};

class Vcpu {
public:
    Vcpu(const Vm& vm, unsigned id);

    int fd() const { return fd_.get(); }
    kvm_run& run_state() { return *static_cast<kvm_run*>(run_.get()); }

    // KVM_RUN once. EINTR (a signal kicked us) comes back as exit::Interrupted.
    VcpuExit run();

    kvm_regs get_regs() const;
    void set_regs(const kvm_regs& r);
    kvm_sregs get_sregs() const;
    void set_sregs(const kvm_sregs& s);
    kvm_fpu get_fpu() const;
    void set_fpu(const kvm_fpu& f);
    // The x87/SSE state with MXCSR (KVM_GET_FPU/KVM_SET_FPU lose MXCSR; fxsave.hpp).
    XsaveArea get_xsave() const;
    void set_xsave(const XsaveArea& a);
    // The extended control registers (XCR0; KVM_CAP_XCRS, present wherever
    // KVM_CAP_XSAVE is) and the guest's own debug registers DR0-3, DR6, DR7 (not
    // those KVM_SET_GUEST_DEBUG programs for the debugger).
    kvm_xcrs get_xcrs() const;
    void set_xcrs(const kvm_xcrs& x);
    kvm_debugregs get_debugregs() const;
    void set_debugregs(const kvm_debugregs& d);
    void set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
    void set_guest_debug(const kvm_guest_debug& dbg);
    // Pending/injected exceptions and interrupts (to hand the guest an exception
    // that guest debugging intercepted but that was the guest's own).
    kvm_vcpu_events get_vcpu_events() const;
    void set_vcpu_events(const kvm_vcpu_events& events);
    // KVM_GET_MP_STATE / KVM_SET_MP_STATE (KVM_MP_STATE_RUNNABLE, _HALTED, ...; only
    // with the in-kernel irqchip) and the local APIC's register page (KVM_GET_LAPIC).
    std::uint32_t get_mp_state() const;
    void set_mp_state(std::uint32_t state);
    kvm_lapic_state get_lapic() const;

private:
    Fd fd_;
    Mmap run_;
};

}  // namespace kvmgdb
