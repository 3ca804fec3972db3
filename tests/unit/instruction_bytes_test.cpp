// spans_two_bytes against the one-byte opcode map (Intel SDM Vol. 2D, Table A-2),
// row by row: each row is the 16 opcodes 0xR0-0xRF, '1' where the opcode is a
// whole instruction by itself in 32-bit code (or invalid in 64-bit code), '.'
// where the instruction has a prefix, ModRM, immediate or a second opcode byte.
#include "x86/instruction_bytes.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string_view>

namespace kvmgdb {
namespace {

//                                               0123456789abcdef
constexpr std::array<std::string_view, 16> kMap = {"......11......1.",   // 0x: push/pop es, cs; 0f escape
                                                   "......11......11",   // 1x: push/pop ss, ds
                                                   ".......1.......1",   // 2x: es/cs prefixes; daa, das
                                                   ".......1.......1",   // 3x: ss/ds prefixes; aaa, aas
                                                   "1111111111111111",   // 4x: inc/dec
                                                   "1111111111111111",   // 5x: push/pop
                                                   "11..........1111",   // 6x: pusha, popa; ins, outs
                                                   "................",   // 7x: jcc rel8
                                                   "................",   // 8x: group 1, test, xchg, mov, lea, pop
                                                   "1111111111.11111",   // 9x: 9a is call far ptr16:32
                                                   "....1111..111111",   // ax: moffs, movs, cmps, test imm, stos...
                                                   "................",   // bx: mov imm
                                                   "...1.....1.11.11",   // cx: ret, leave, retf, int3, into, iret
                                                   "......11........",   // dx: salc, xlat; x87
                                                   "............1111",   // ex: loop, in/out imm, call, jmp; in/out dx
                                                   ".1..11..111111.."};  // fx: int1, hlt, cmc, clc..std

TEST(InstructionBytes, OneByteOpcodesIn32BitCode) {
    for (unsigned row = 0; row < 16; ++row) {
        ASSERT_EQ(kMap[row].size(), 16u) << "row " << row;
        for (unsigned col = 0; col < 16; ++col) {
            const auto op = static_cast<std::uint8_t>(row * 16 + col);
            const bool one_byte = kMap[row][col] == '1';
            EXPECT_EQ(spans_two_bytes(op, false), !one_byte) << "opcode 0x" << std::hex << unsigned(op);
        }
    }
}

TEST(InstructionBytes, In64BitCodeOnlyRexDiffers) {
    for (unsigned op = 0; op < 256; ++op) {
        const auto b = static_cast<std::uint8_t>(op);
        const bool rex = op >= 0x40 && op <= 0x4f;
        EXPECT_EQ(spans_two_bytes(b, true), rex ? true : spans_two_bytes(b, false)) << "opcode 0x" << std::hex << op;
    }
}

TEST(InstructionBytes, CommonKernelInstructions) {
    EXPECT_TRUE(spans_two_bytes(0xf3, true));   // endbr64 (f3 0f 1e fa)
    EXPECT_TRUE(spans_two_bytes(0x0f, true));   // nopl 0(%rax,%rax) (ftrace's call site)
    EXPECT_TRUE(spans_two_bytes(0xe8, true));   // call rel32
    EXPECT_TRUE(spans_two_bytes(0x66, false));  // operand-size prefix
    EXPECT_FALSE(spans_two_bytes(0x55, true));  // push %rbp
    EXPECT_FALSE(spans_two_bytes(0xc3, true));  // ret
    EXPECT_FALSE(spans_two_bytes(0xfb, false)); // sti
    EXPECT_FALSE(spans_two_bytes(0x9b, false)); // fwait: its own instruction, before fnstsw and the like
}

}  // namespace
}  // namespace kvmgdb
