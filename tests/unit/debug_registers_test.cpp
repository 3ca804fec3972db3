// DR7/DR6 encodings (Intel SDM Vol. 3A 17.2.3-17.2.5) checked against values
// worked out by hand from Figure 17-2, and the slot allocator's bookkeeping.
#include "x86/debug_registers.hpp"

#include <gtest/gtest.h>

namespace kvmgdb {
namespace {

DebugSlot slot(DebugKind kind, std::uint64_t addr, unsigned len) { return DebugSlot{true, addr, kind, len}; }

struct Dr7Case {
    const char* what;
    std::array<DebugSlot, 4> slots;
    std::uint64_t dr7;
};

TEST(Dr7, ByteExactValues) {
    using K = DebugKind;
    // Each value: Ln at bit 2n, RW at 16+4n, LEN at 18+4n, plus LE|GE (0x300)
    // whenever anything is enabled.
    const Dr7Case cases[] = {
        {"nothing enabled", {}, 0x0},
        {"execute, slot 0", {slot(K::Execute, 0x1000, 1)}, 0x301},
        {"write 1, slot 0", {slot(K::Write, 0x1000, 1)}, 0x1'0301},       // RW0=01
        {"write 2, slot 0", {slot(K::Write, 0x1000, 2)}, 0x5'0301},       // LEN0=01
        {"write 4, slot 0", {slot(K::Write, 0x1000, 4)}, 0xd'0301},       // LEN0=11
        {"write 8, slot 0", {slot(K::Write, 0x1000, 8)}, 0x9'0301},       // LEN0=10
        {"access 1, slot 0", {slot(K::ReadWrite, 0x1000, 1)}, 0x3'0301},  // RW0=11
        {"access 2, slot 0", {slot(K::ReadWrite, 0x1000, 2)}, 0x7'0301},
        {"access 4, slot 0", {slot(K::ReadWrite, 0x1000, 4)}, 0xf'0301},
        {"access 8, slot 0", {slot(K::ReadWrite, 0x1000, 8)}, 0xb'0301},
        {"write 4, slot 1", {DebugSlot{}, slot(K::Write, 0x2000, 4)}, 0xd0'0304},
        {"access 8, slot 2", {DebugSlot{}, DebugSlot{}, slot(K::ReadWrite, 0x3000, 8)}, 0xb00'0310},
        {"write 2, slot 3", {DebugSlot{}, DebugSlot{}, DebugSlot{}, slot(K::Write, 0x4002, 2)}, 0x5000'0340},
        {"execute, slot 3", {DebugSlot{}, DebugSlot{}, DebugSlot{}, slot(K::Execute, 0x4001, 1)}, 0x340},
        {"all four",
         {slot(K::Execute, 0x100, 1), slot(K::Write, 0x2000, 4), slot(K::ReadWrite, 0x3000, 8),
          slot(K::Write, 0x4002, 2)},
         0x5b'd0'0355},
        {"disabled slots leave no trace", {DebugSlot{false, 0x1234, K::Write, 4}}, 0x0},
    };
    for (const Dr7Case& c : cases) {
        SCOPED_TRACE(c.what);
        DebugRegisterValues v = encode_debug_registers(c.slots);
        EXPECT_EQ(v.dr7, c.dr7) << std::hex << v.dr7;
        for (std::size_t i = 0; i < 4; ++i) {
            EXPECT_EQ(v.dr[i], c.slots[i].enabled ? c.slots[i].addr : 0u);
        }
        EXPECT_EQ(v.dr7 & dr7::kReadAsOne, 0u);  // bit 10 is never written
        EXPECT_EQ(v.dr7 >> 32, 0u);               // bits 63:32 must be 0
    }
}

TEST(Dr7, LenEncoding) {
    EXPECT_EQ(encode_len(1), 0b00u);
    EXPECT_EQ(encode_len(2), 0b01u);
    EXPECT_EQ(encode_len(4), 0b11u);
    EXPECT_EQ(encode_len(8), 0b10u);
    EXPECT_THROW(encode_len(3), DebugRegisterError);
    EXPECT_THROW(encode_len(16), DebugRegisterError);
}

TEST(Dr7, HighAddressesGoToDrnUnchanged) {
    std::array<DebugSlot, 4> slots{slot(DebugKind::Execute, 0xffff'ffff'8000'1234, 1)};
    EXPECT_EQ(encode_debug_registers(slots).dr[0], 0xffff'ffff'8000'1234u);
}

TEST(Dr7, InvalidEnabledSlotThrows) {
    std::array<DebugSlot, 4> slots{slot(DebugKind::Write, 0x1001, 4)};
    EXPECT_THROW(encode_debug_registers(slots), DebugRegisterError);
}

TEST(CheckDebugSlot, Validation) {
    EXPECT_EQ(check_debug_slot(DebugKind::Execute, 0x1003, 1), std::nullopt);  // any address
    EXPECT_EQ(check_debug_slot(DebugKind::Write, 0x1000, 8), std::nullopt);
    EXPECT_EQ(check_debug_slot(DebugKind::ReadWrite, 0x1006, 2), std::nullopt);

    auto unaligned = check_debug_slot(DebugKind::Write, 0x1002, 4);
    ASSERT_TRUE(unaligned);
    EXPECT_EQ(*unaligned, "write watchpoint at 0x1002: a 4-byte watchpoint must be 4-byte aligned");
    auto unaligned8 = check_debug_slot(DebugKind::ReadWrite, 0x1004, 8);
    ASSERT_TRUE(unaligned8);
    EXPECT_NE(unaligned8->find("8-byte aligned"), std::string::npos);

    auto len3 = check_debug_slot(DebugKind::Write, 0x1000, 3);
    ASSERT_TRUE(len3);
    EXPECT_NE(len3->find("length 3"), std::string::npos);
    EXPECT_TRUE(check_debug_slot(DebugKind::Write, 0x1000, 0));
    EXPECT_TRUE(check_debug_slot(DebugKind::Write, 0x1000, 16));

    auto exec4 = check_debug_slot(DebugKind::Execute, 0x1000, 4);
    ASSERT_TRUE(exec4);
    EXPECT_NE(exec4->find("instruction breakpoints cover 1 byte"), std::string::npos);
    // The I/O encoding (10b) is not a kind we hand out.
    EXPECT_TRUE(check_debug_slot(static_cast<DebugKind>(0b10), 0x60, 1));
}

TEST(Dr6, Decoding) {
    Dr6Status s = decode_dr6(0xffff0ff0);  // DR6's architectural value with nothing pending
    EXPECT_EQ(s.hits, 0);
    EXPECT_FALSE(s.single_step);
    EXPECT_FALSE(s.register_access);
    EXPECT_FALSE(s.task_switch);

    s = decode_dr6(0xffff0ff0 | 0x4);  // B2
    EXPECT_EQ(s.hits, 0x4);
    EXPECT_TRUE(s.hit(2));
    EXPECT_FALSE(s.hit(0));

    s = decode_dr6(0xffff0ff0 | dr6::BS);
    EXPECT_TRUE(s.single_step);
    EXPECT_EQ(s.hits, 0);

    s = decode_dr6(0x9 | dr6::BS | dr6::BD | dr6::BT);  // B0, B3, and all three flags
    EXPECT_EQ(s.hits, 0x9);
    EXPECT_TRUE(s.hit(0));
    EXPECT_TRUE(s.hit(3));
    EXPECT_TRUE(s.single_step);
    EXPECT_TRUE(s.register_access);
    EXPECT_TRUE(s.task_switch);
}

TEST(DebugRegisterSlots, FillsInOrderAndRefusesAFifth) {
    DebugRegisterSlots slots;
    EXPECT_EQ(slots.add(DebugKind::Execute, 0x1000, 1), 0);
    EXPECT_EQ(slots.add(DebugKind::Write, 0x2000, 4), 1);
    EXPECT_EQ(slots.add(DebugKind::ReadWrite, 0x3000, 8), 2);
    EXPECT_EQ(slots.add(DebugKind::Execute, 0x1001, 1), 3);
    EXPECT_EQ(slots.used(), 4);
    EXPECT_EQ(slots.add(DebugKind::Execute, 0x5000, 1), std::nullopt);
    // L0-L3 | LE|GE | RW1=01 LEN1=11 | RW2=11 LEN2=10; execute slots add no RW/LEN bits.
    EXPECT_EQ(slots.values().dr7, 0x0bd0'0355u);
}

TEST(DebugRegisterSlots, AddIsIdempotent) {
    DebugRegisterSlots slots;
    EXPECT_EQ(slots.add(DebugKind::Write, 0x2000, 4), 0);
    EXPECT_EQ(slots.add(DebugKind::Write, 0x2000, 4), 0);  // gdb may resend a Z packet
    EXPECT_EQ(slots.used(), 1);
    // A different kind or length at the same address is a different slot.
    EXPECT_EQ(slots.add(DebugKind::ReadWrite, 0x2000, 4), 1);
    EXPECT_EQ(slots.add(DebugKind::Write, 0x2000, 2), 2);
}

TEST(DebugRegisterSlots, RemoveThenReAddReusesTheSlot) {
    DebugRegisterSlots slots;
    slots.add(DebugKind::Execute, 0x1000, 1);
    slots.add(DebugKind::Execute, 0x2000, 1);
    slots.add(DebugKind::Execute, 0x3000, 1);
    EXPECT_FALSE(slots.remove(DebugKind::Write, 0x2000, 1));  // kind must match too
    EXPECT_FALSE(slots.remove(DebugKind::Execute, 0x2004, 1));
    EXPECT_TRUE(slots.remove(DebugKind::Execute, 0x2000, 1));
    EXPECT_FALSE(slots.remove(DebugKind::Execute, 0x2000, 1));  // already gone
    EXPECT_EQ(slots.used(), 2);
    EXPECT_EQ(slots.values().dr7, 0x1u | 0x10 | 0x300);     // slot 1 off
    EXPECT_EQ(slots.add(DebugKind::Write, 0x8000, 8), 1);   // the freed slot comes back first
    EXPECT_EQ(slots.add(DebugKind::Execute, 0x9000, 1), 3);
    EXPECT_EQ(slots.add(DebugKind::Execute, 0xa000, 1), std::nullopt);
    slots.clear();
    EXPECT_EQ(slots.used(), 0);
    EXPECT_EQ(slots.values().dr7, 0u);
}

TEST(DebugRegisterSlots, InvalidRequestsThrowAndChangeNothing) {
    DebugRegisterSlots slots;
    EXPECT_THROW(slots.add(DebugKind::Write, 0x1001, 2), DebugRegisterError);
    EXPECT_THROW(slots.add(DebugKind::Execute, 0x1000, 2), DebugRegisterError);
    EXPECT_EQ(slots.used(), 0);
    try {
        slots.add(DebugKind::ReadWrite, 0x1002, 4);
        FAIL() << "no exception";
    } catch (const DebugRegisterError& e) {
        EXPECT_STREQ(e.what(), "access watchpoint at 0x1002: a 4-byte watchpoint must be 4-byte aligned");
    }
}

TEST(DebugRegisterSlots, EnabledHitsIgnoreUnarmedSlots) {
    DebugRegisterSlots slots;
    slots.add(DebugKind::Write, 0x2000, 4);    // slot 0
    slots.add(DebugKind::Execute, 0x1000, 1);  // slot 1
    slots.remove(DebugKind::Write, 0x2000, 4);
    // The CPU may report B0 although slot 0 is no longer enabled.
    EXPECT_EQ(slots.enabled_hits(0xffff0ff0 | 0x3), 0x2);
    EXPECT_EQ(slots.enabled_hits(0xffff0ff0 | dr6::BS), 0);
}

}  // namespace
}  // namespace kvmgdb
