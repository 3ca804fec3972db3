// The RSP codec (stub/rsp_codec.hpp) on arbitrary bytes in arbitrary splits.
//
// Input: byte 0 picks the decoder's frame cap (small caps reach TooLong), bytes
// 1-4 seed the split points, the rest is the stream from "gdb". Properties:
//  - any split of the stream gives the same events as feeding it whole (the
//    Decoder keeps partial frames between calls);
//  - a Packet's payload is bounded by the cap (run-length expansion included);
//  - every Packet re-encoded with encode_packet decodes to itself, alone;
//  - escape_binary then decode_payload gives back any bytes unchanged.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "stub/rsp_codec.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace kvmgdb::stub;
using kvmgdb::fuzz::as_text;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 5) return 0;
    const std::size_t cap = data[0] & 0x80 ? Decoder::kDefaultMaxFrame : 1 + data[0] * 16u;
    std::uint32_t seed = data[1] | data[2] << 8 | data[3] << 16 | std::uint32_t{data[4]} << 24;
    const std::span<const std::uint8_t> stream(data + 5, size - 5);

    Decoder whole(cap);
    const std::vector<Event> expected = whole.feed(stream);

    // Chunks of 1..(1 + seed's low bits) bytes, from a small LCG: many splits per input.
    Decoder split(cap);
    std::vector<Event> got;
    const std::size_t max_chunk = 1 + (seed & 0x3f);
    for (std::size_t at = 0; at < stream.size();) {
        seed = seed * 1103515245u + 12345u;
        const std::size_t n = std::min<std::size_t>(1 + (seed >> 16) % max_chunk, stream.size() - at);
        split.feed(stream.subspan(at, n), got);
        at += n;
    }
    FUZZ_CHECK(got == expected);
    FUZZ_CHECK(whole.in_frame() == split.in_frame());

    for (const Event& event : expected) {
        const auto* packet = std::get_if<Packet>(&event);
        if (!packet) continue;
        // The cap is on raw bytes; run-length encoding expands `X*~` (3 raw bytes) to
        // 98 copies of X at most, so a payload stays under 49 times the cap.
        FUZZ_CHECK(packet->payload.size() <= 49 * cap);
        const std::string frame = encode_packet(packet->payload);
        Decoder again(frame.size());
        const std::vector<Event> back = again.feed(frame);
        FUZZ_CHECK(back.size() == 1 && back[0] == Event{*packet});
        FUZZ_CHECK(!again.in_frame());
    }

    const std::string_view raw = as_text(stream);
    const auto unescaped = decode_payload(escape_binary(raw));
    const auto* text = std::get_if<std::string>(&unescaped);
    FUZZ_CHECK(text && *text == raw);
    return 0;
}
