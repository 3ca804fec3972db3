#include "x86/real_mode.hpp"

#include <charconv>
#include <cstdio>

namespace kvmgdb {

namespace {

std::optional<std::uint16_t> parse_hex16(std::string_view s) {
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
    if (s.empty()) return std::nullopt;
    std::uint32_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
    if (ec != std::errc() || ptr != s.data() + s.size() || v > 0xffff) return std::nullopt;
    return static_cast<std::uint16_t>(v);
}

}  // namespace

std::uint64_t segment_linear(std::uint64_t base, std::uint64_t offset) { return (base + offset) & 0xffffffffu; }

std::uint64_t linear_of(SegOff a) { return std::uint64_t(a.segment) * 16 + a.offset; }

std::optional<std::uint16_t> offset_in_segment(std::uint64_t base, std::uint64_t linear) {
    base &= 0xffffffffu;
    if (linear < base || linear - base > 0xffff) return std::nullopt;
    return static_cast<std::uint16_t>(linear - base);
}

std::optional<SegOff> parse_seg_off(std::string_view text) {
    auto colon = text.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto seg = parse_hex16(text.substr(0, colon));
    auto off = parse_hex16(text.substr(colon + 1));
    if (!seg || !off) return std::nullopt;
    return SegOff{*seg, *off};
}

std::string format_seg_off(SegOff a) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04x:%04x", unsigned(a.segment), unsigned(a.offset));
    return buf;
}

}  // namespace kvmgdb
