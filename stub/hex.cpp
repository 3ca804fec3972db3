#include "stub/hex.hpp"

namespace kvmgdb::stub {

namespace {
constexpr char kDigits[] = "0123456789abcdef";
}  // namespace

std::optional<std::uint8_t> hex_digit_value(char c) {
    if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<std::uint8_t>(c - 'A' + 10);
    return std::nullopt;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (std::uint8_t b : bytes) {
        out.push_back(kDigits[b >> 4]);
        out.push_back(kDigits[b & 0xf]);
    }
    return out;
}

std::string text_to_hex(std::string_view text) {
    std::string out;
    out.reserve(text.size() * 2);
    for (char c : text) {
        auto b = static_cast<std::uint8_t>(c);
        out.push_back(kDigits[b >> 4]);
        out.push_back(kDigits[b & 0xf]);
    }
    return out;
}

std::optional<std::vector<std::uint8_t>> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) return std::nullopt;
    std::vector<std::uint8_t> out;
    out.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        auto hi = hex_digit_value(hex[i]);
        auto lo = hex_digit_value(hex[i + 1]);
        if (!hi || !lo) return std::nullopt;
        out.push_back(static_cast<std::uint8_t>((*hi << 4) | *lo));
    }
    return out;
}

std::optional<std::string> from_hex_text(std::string_view hex) {
    auto bytes = from_hex(hex);
    if (!bytes) return std::nullopt;
    return std::string(bytes->begin(), bytes->end());
}

std::optional<std::uint64_t> parse_hex_u64(std::string_view hex) {
    // 16 digits is exactly 64 bits; the digit cap is the overflow check.
    if (hex.empty() || hex.size() > 16) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : hex) {
        auto d = hex_digit_value(c);
        if (!d) return std::nullopt;
        value = (value << 4) | *d;
    }
    return value;
}

std::string format_hex_u64(std::uint64_t value) {
    if (value == 0) return "0";
    std::string out;
    while (value != 0) {
        out.insert(out.begin(), kDigits[value & 0xf]);
        value >>= 4;
    }
    return out;
}

std::string to_hex_le(std::uint64_t value, std::size_t width) {
    std::string out;
    out.reserve(width * 2);
    for (std::size_t i = 0; i < width && i < 8; ++i) {
        auto b = static_cast<std::uint8_t>(value >> (8 * i));
        out.push_back(kDigits[b >> 4]);
        out.push_back(kDigits[b & 0xf]);
    }
    return out;
}

std::optional<std::uint64_t> from_le_bytes(std::span<const std::uint8_t> bytes) {
    if (bytes.empty() || bytes.size() > 8) return std::nullopt;
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        value |= static_cast<std::uint64_t>(bytes[i]) << (8 * i);
    }
    return value;
}

}  // namespace kvmgdb::stub
