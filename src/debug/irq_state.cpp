#include "debug/irq_state.hpp"

#include <cstdio>
#include <cstring>

namespace kvmgdb::debug {

namespace {

// Local APIC register offsets (Intel SDM vol. 3, table 11-1 "Local APIC Register
// Address Map").
constexpr unsigned kApicId = 0x20, kApicTpr = 0x80, kApicSvr = 0xf0, kApicIsr = 0x100, kApicIrr = 0x200,
                   kApicLvtTimer = 0x320, kApicTimerInitial = 0x380, kApicTimerDivide = 0x3e0;

std::uint32_t reg32(const kvm_lapic_state& l, unsigned offset) {
    std::uint32_t v = 0;
    std::memcpy(&v, l.regs + offset, sizeof v);
    return v;
}

std::string hex8(unsigned v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", v & 0xff);
    return buf;
}

std::string vector_list(const std::vector<unsigned>& vs) {
    if (vs.empty()) return "none";
    std::string out;
    for (unsigned v : vs) out += (out.empty() ? "" : " ") + hex8(v);
    return out;
}

// The IRQ numbers (0-7) whose bit is set, offset by `first` (8 for the slave).
std::string irq_list(std::uint8_t bits, unsigned first) {
    std::string out;
    for (unsigned i = 0; i < 8; ++i)
        if (bits & (1u << i)) out += (out.empty() ? "" : " ") + std::to_string(first + i);
    return out.empty() ? "none" : out;
}

}  // namespace

std::vector<unsigned> lapic_vectors(const kvm_lapic_state& lapic, unsigned reg_offset) {
    std::vector<unsigned> out;
    for (unsigned word = 0; word < 8; ++word) {
        const std::uint32_t bits = reg32(lapic, reg_offset + word * 0x10);
        for (unsigned bit = 0; bit < 32; ++bit)
            if (bits & (1u << bit)) out.push_back(word * 32 + bit);
    }
    return out;
}

std::string describe_pic(const char* name, const kvm_pic_state& pic) {
    const unsigned irq0 = std::strcmp(name, "slave") == 0 ? 8 : 0;  // IRQ numbers, not vectors
    std::string out = std::string("8259 ") + name + ": vectors " + hex8(pic.irq_base) + "-" + hex8(pic.irq_base + 7u);
    out += ", masked (IMR) " + irq_list(pic.imr, irq0);
    out += ", pending (IRR) " + irq_list(static_cast<std::uint8_t>(pic.irr & ~pic.imr), irq0);
    out += ", in service (ISR) " + irq_list(pic.isr, irq0);
    if (pic.init_state) out += ", being initialised";
    return out + "\n";
}

std::string describe_ioapic(const kvm_ioapic_state& io) {
    std::string out = "IOAPIC: ";
    std::string pins;
    for (unsigned pin = 0; pin < KVM_IOAPIC_NUM_PINS; ++pin) {
        const auto& e = io.redirtbl[pin].fields;
        const bool pending = (io.irr >> pin) & 1u;
        if (e.mask && !pending) continue;  // a masked, idle pin is the reset state
        char buf[128];
        std::snprintf(buf, sizeof buf, "  pin %u: vector 0x%02x, %s, %s%s%s, to APIC %u%s\n", pin,
                      static_cast<unsigned>(e.vector), e.trig_mode ? "level" : "edge",
                      e.polarity ? "active low" : "active high", e.mask ? ", masked" : "",
                      e.remote_irr ? ", remote IRR (awaiting EOI)" : "", static_cast<unsigned>(e.dest_id),
                      pending ? ", pending" : "");
        pins += buf;
    }
    return out + (pins.empty() ? "every pin masked\n" : "\n" + pins);
}

std::string describe_lapic(unsigned vcpu, const kvm_lapic_state& lapic, std::uint64_t apic_base) {
    char buf[160];
    const bool global = apic_base & (1u << 11), x2apic = apic_base & (1u << 10);
    const std::uint32_t svr = reg32(lapic, kApicSvr);
    std::snprintf(buf, sizeof buf, "local APIC of vCPU %u: %s, ID %u, TPR 0x%02x, spurious vector 0x%02x\n", vcpu,
                  !global ? "disabled (IA32_APIC_BASE)" : !(svr & 0x100) ? "software-disabled (SVR)"
                  : x2apic ? "enabled (x2APIC)" : "enabled (xAPIC)",
                  x2apic ? reg32(lapic, kApicId) : reg32(lapic, kApicId) >> 24, reg32(lapic, kApicTpr) & 0xff, svr & 0xff);
    std::string out = buf;
    out += "  pending (IRR): " + vector_list(lapic_vectors(lapic, kApicIrr)) + "\n";
    out += "  in service (ISR): " + vector_list(lapic_vectors(lapic, kApicIsr)) + "\n";
    const std::uint32_t lvt = reg32(lapic, kApicLvtTimer);
    static const char* const kModes[] = {"one-shot", "periodic", "TSC-deadline", "reserved mode"};
    const std::uint32_t divide = reg32(lapic, kApicTimerDivide);
    // Divide configuration bits 0, 1 and 3: 0b111 is 1, otherwise 2^(value+1).
    const unsigned code = (divide & 3) | ((divide >> 1) & 4);
    std::snprintf(buf, sizeof buf, "  timer: %s, vector 0x%02x%s, initial count %u, divide by %u\n",
                  kModes[(lvt >> 17) & 3], lvt & 0xff, (lvt & 0x10000) ? ", masked" : "",
                  reg32(lapic, kApicTimerInitial), code == 7 ? 1u : 2u << code);
    return out + buf;
}

}  // namespace kvmgdb::debug
