// `monitor info irq`: the interrupt controllers' state on the PC platform, read with
// KVM_GET_IRQCHIP (both 8259s, the IOAPIC) and KVM_GET_LAPIC (the vCPU's local APIC),
// as text: what is pending (IRR), in service (ISR), masked, and how the timer is set.
// Pure formatting over the KVM structures, unit-tested on made-up states.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <string>
#include <vector>

namespace kvmgdb::debug {

// The vectors whose bit is set in one of the LAPIC's 256-bit registers (ISR at
// 0x100, IRR at 0x200, TMR at 0x180: eight 32-bit words 16 bytes apart).
std::vector<unsigned> lapic_vectors(const kvm_lapic_state& lapic, unsigned reg_offset);

std::string describe_pic(const char* name, const kvm_pic_state& pic);
std::string describe_ioapic(const kvm_ioapic_state& ioapic);
// `apic_base` is the vCPU's IA32_APIC_BASE (kvm_sregs::apic_base).
std::string describe_lapic(unsigned vcpu, const kvm_lapic_state& lapic, std::uint64_t apic_base);

}  // namespace kvmgdb::debug
