// debug/irq_state: `monitor info irq`'s text for made-up controller states, no KVM.
#include <gtest/gtest.h>

#include <cstring>

#include "debug/irq_state.hpp"

using namespace kvmgdb::debug;

namespace {

void set_reg(kvm_lapic_state& l, unsigned offset, std::uint32_t v) { std::memcpy(l.regs + offset, &v, sizeof v); }

}  // namespace

TEST(IrqState, PicListsIrqNumbersNotVectors) {
    kvm_pic_state pic{};
    pic.irq_base = 0x28;
    pic.imr = 0xfe;  // only IRQ 8 unmasked
    pic.irr = 0x03;  // 8 pending, 9 pending but masked
    pic.isr = 0x01;
    EXPECT_EQ(describe_pic("slave", pic),
              "8259 slave: vectors 0x28-0x2f, masked (IMR) 9 10 11 12 13 14 15, pending (IRR) 8, in service (ISR) 8\n");
    kvm_pic_state master{};
    master.irq_base = 0x20;
    EXPECT_EQ(describe_pic("master", master),
              "8259 master: vectors 0x20-0x27, masked (IMR) none, pending (IRR) none, in service (ISR) none\n");
}

TEST(IrqState, IoapicShowsUnmaskedAndPendingPins) {
    kvm_ioapic_state io{};
    for (auto& e : io.redirtbl) e.fields.mask = 1;
    EXPECT_EQ(describe_ioapic(io), "IOAPIC: every pin masked\n");
    io.redirtbl[2].fields.mask = 0;
    io.redirtbl[2].fields.vector = 0x30;
    io.redirtbl[4].fields.vector = 0x34;
    io.redirtbl[4].fields.trig_mode = 1;
    io.redirtbl[4].fields.remote_irr = 1;
    io.irr = 1u << 4;  // masked, but pending: shown
    EXPECT_EQ(describe_ioapic(io),
              "IOAPIC: \n"
              "  pin 2: vector 0x30, edge, active high, to APIC 0\n"
              "  pin 4: vector 0x34, level, active high, masked, remote IRR (awaiting EOI), to APIC 0, pending\n");
}

TEST(IrqState, LapicVectorsAndTimer) {
    kvm_lapic_state l{};
    set_reg(l, 0x20, 1u << 24);  // xAPIC ID 1
    set_reg(l, 0xf0, 0x1ff);
    set_reg(l, 0x100 + 0x10, 1u << 0);   // ISR vector 32
    set_reg(l, 0x200 + 0x70, 1u << 31);  // IRR vector 255
    set_reg(l, 0x200 + 0x20, 1u << 0);   // IRR vector 64
    set_reg(l, 0x320, (1u << 17) | 0x40);
    set_reg(l, 0x380, 100000);
    set_reg(l, 0x3e0, 0x3);  // divide by 16
    EXPECT_EQ(lapic_vectors(l, 0x200), (std::vector<unsigned>{64, 255}));
    EXPECT_EQ(describe_lapic(1, l, 0xfee00900 & ~0x100ull),
              "local APIC of vCPU 1: enabled (xAPIC), ID 1, TPR 0x00, spurious vector 0xff\n"
              "  pending (IRR): 0x40 0xff\n"
              "  in service (ISR): 0x20\n"
              "  timer: periodic, vector 0x40, initial count 100000, divide by 16\n");
    set_reg(l, 0x3e0, 0xb);
    set_reg(l, 0x320, 0x10000 | 0xec);
    EXPECT_NE(describe_lapic(0, l, 0).find("disabled (IA32_APIC_BASE)"), std::string::npos);
    EXPECT_NE(describe_lapic(0, l, 0xfee00800).find("timer: one-shot, vector 0xec, masked, initial count 100000, divide by 1"),
              std::string::npos);
}
