#include "x86/instruction_bytes.hpp"

#include <array>

namespace kvmgdb {

namespace {

// One bit per opcode: the instruction is this byte alone (SDM Table A-2).
constexpr std::array<bool, 256> one_byte_opcodes() {
    std::array<bool, 256> t{};
    auto set = [&](unsigned from, unsigned to) {
        for (unsigned b = from; b <= to; ++b) t[b] = true;
    };
    // PUSH/POP ES, CS, SS, DS and the decimal adjusts (invalid in 64-bit mode).
    for (unsigned b : {0x06u, 0x07u, 0x0eu, 0x16u, 0x17u, 0x1eu, 0x1fu, 0x27u, 0x2fu, 0x37u, 0x3fu}) t[b] = true;
    set(0x40, 0x4f);  // INC/DEC r (REX in 64-bit mode: spans_two_bytes checks that first)
    set(0x50, 0x5f);  // PUSH/POP r
    set(0x60, 0x61);  // PUSHA/POPA
    set(0x6c, 0x6f);  // INS/OUTS
    set(0x90, 0x99);  // NOP/XCHG, CBW, CWD
    set(0x9b, 0x9f);  // FWAIT, PUSHF, POPF, SAHF, LAHF (0x9A is CALL far ptr)
    set(0xa4, 0xa7);  // MOVS, CMPS
    set(0xaa, 0xaf);  // STOS, LODS, SCAS
    for (unsigned b : {0xc3u, 0xc9u, 0xcbu, 0xccu, 0xceu, 0xcfu}) t[b] = true;  // RET, LEAVE, RETF, INT3, INTO, IRET
    set(0xd6, 0xd7);  // SALC, XLAT
    set(0xec, 0xef);  // IN/OUT with DX
    t[0xf1] = true;   // INT1 (ICEBP)
    set(0xf4, 0xf5);  // HLT, CMC
    set(0xf8, 0xfd);  // CLC, STC, CLI, STI, CLD, STD
    return t;
}

constexpr std::array<bool, 256> kOneByte = one_byte_opcodes();

}  // namespace

bool spans_two_bytes(std::uint8_t first, bool long_mode) {
    if (long_mode && first >= 0x40 && first <= 0x4f) return true;  // a REX prefix, then the opcode
    return !kOneByte[first];
}

}  // namespace kvmgdb
