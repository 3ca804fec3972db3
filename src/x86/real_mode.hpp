// Real-mode addresses: segment:offset <-> linear (Intel SDM Vol. 3A 20.1.1: the
// linear address is the segment base, selector * 16 when loaded in real mode, plus
// a 16-bit offset). gdb knows nothing of segments, so kvmgdb shows it linear
// addresses, the pc included (docs/modes.md); these helpers convert for the
// `monitor linear` / `monitor segoff` commands and for writes to the pc. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kvmgdb {

struct SegOff {
    std::uint16_t segment = 0;
    std::uint16_t offset = 0;
    bool operator==(const SegOff&) const = default;
};

// The linear address of base + offset, as the CPU forms it outside 64-bit code
// (32 bits: an unreal-mode base near 4 GiB wraps).
std::uint64_t segment_linear(std::uint64_t base, std::uint64_t offset);
// seg * 16 + off (up to 0x10ffef: no A20 wrap, kvmgdb's A20 is always on).
std::uint64_t linear_of(SegOff a);

// The 16-bit offset of `linear` in the segment at `base`, or nullopt when it lies
// below the base or more than 0xffff past it.
std::optional<std::uint16_t> offset_in_segment(std::uint64_t base, std::uint64_t linear);

// "0800:0010", "0x0800:0x0010", "800:10": hex, as real-mode addresses are written
// everywhere; each part at most 0xffff. nullopt for anything else.
std::optional<SegOff> parse_seg_off(std::string_view text);
// "0800:0010".
std::string format_seg_off(SegOff a);

}  // namespace kvmgdb
