// Which x86 instructions are a single byte (no prefix, ModRM or immediate), from
// their first byte alone: what a breakpoint patch of two bytes needs to know
// (debug/breakpoints.hpp), without decoding whole instructions. The one-byte
// opcode map is Intel SDM Vol. 2D, Appendix A.3, Table A-2 (AMD APM Vol. 3,
// Appendix A.1).
#pragma once

#include <cstdint>

namespace kvmgdb {

// True only when the instruction starting with `first` is certainly two bytes or
// longer in the mode given (`long_mode`: a 64-bit code segment, where 0x40-0x4F
// are REX prefixes; elsewhere they are one-byte INC/DEC). False for every opcode
// that is a whole instruction by itself in 32-bit code, whether or not it is valid
// in 64-bit code (06, 07, 0E, ...): the caller then patches one byte. The opcodes
// that are longer in 32-bit code and invalid in 64-bit code (82, 9A, D4, D5, EA)
// stay true: such an instruction faults before anything after it runs.
// In 16-bit and 32-bit code the answer is the same: their one-byte opcodes are
// the same set, only immediates and displacements change length.
bool spans_two_bytes(std::uint8_t first, bool long_mode);

}  // namespace kvmgdb
