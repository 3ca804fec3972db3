// Hex helpers for the GDB Remote Serial Protocol (GDB manual, Remote Protocol
// appendix, "Packets"): numbers are big-endian hex text with no fixed width, and
// memory/register contents are two hex digits per byte in target byte order.
// Pure functions, no I/O: everything reports failure through std::optional so a
// malformed packet is an ordinary value, never an exception or a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kvmgdb::stub {

// Value of one hex digit (either case), or nullopt.
std::optional<std::uint8_t> hex_digit_value(char c);

// Two lowercase hex digits per byte: {0xde, 0xad} -> "dead".
std::string to_hex(std::span<const std::uint8_t> bytes);
// Hex-encode text (qRcmd output "O" packets, qSymbol names): "ab" -> "6162".
std::string text_to_hex(std::string_view text);

// "dead" -> {0xde, 0xad}. Odd length or a non-hex character -> nullopt.
// The empty string decodes to an empty vector.
std::optional<std::vector<std::uint8_t>> from_hex(std::string_view hex);
// Same, decoded into text (qRcmd's command).
std::optional<std::string> from_hex_text(std::string_view hex);

// A big-endian hex number such as gdb sends for addresses, lengths and register
// numbers. Rejects empty input, any non-hex character (no sign, no "0x"), and
// more than 16 digits, so nothing wider than 64 bits is silently truncated.
std::optional<std::uint64_t> parse_hex_u64(std::string_view hex);

// A number as the stub sends it: lowercase, no leading zeros ("0" for zero).
std::string format_hex_u64(std::uint64_t value);

// Register values travel as raw bytes in target order; x86 is little-endian.
// `width` is the register size in bytes (1..8); `g`/`p` replies use these.
std::string to_hex_le(std::uint64_t value, std::size_t width);
// Inverse for `P`/`G`: 1..8 bytes, little-endian. Longer input -> nullopt.
std::optional<std::uint64_t> from_le_bytes(std::span<const std::uint8_t> bytes);

}  // namespace kvmgdb::stub
