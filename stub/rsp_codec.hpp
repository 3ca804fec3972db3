// RSP framing: bytes on the wire <-> packet payloads. Pure, no I/O.
//
// Follows the GDB manual, Remote Protocol appendix:
//  - "Overview": a packet is `$payload#cc`, cc being two hex digits of the
//    mod-256 sum of the raw bytes between `$` and `#`; `+`/`-` acknowledge.
//  - "Overview" / "Binary data": `}` escapes the next byte (byte ^ 0x20);
//    gdb escapes `$`, `#`, `}` and `*` in binary data.
//  - "Overview" (run-length encoding): `X*n` stands for X followed by n-29 more
//    copies of X, n being a printable byte (so at least 3 more).
//  - "Interrupts": a lone 0x03 byte outside a packet asks the target to stop.
//
// The Decoder is a byte pump in the style of QEMU's gdbstub receive states and
// the Rust gdbstub crate's recv_packet: it can be fed any split of the stream,
// keeps a partial frame between calls, and turns each complete unit into an
// Event. It never replies; the transport sends `+`/`-` as ack mode dictates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kvmgdb::stub {

// A frame with a correct checksum; payload is un-escaped and RLE-expanded,
// so it may hold any byte (X packet data included).
struct Packet {
    std::string payload;
    bool operator==(const Packet&) const = default;
};

enum class BadPacketReason : std::uint8_t {
    ChecksumMismatch,   // digits parsed, sum differs
    BadChecksumDigits,  // the two bytes after `#` are not hex
    BadEscape,          // `}` as the last byte of the payload
    BadRunLength,       // `*` first, last, or with a count byte outside 0x20..0x7e
    TooLong,            // more raw bytes than the decoder's cap (reported at the
                        // frame's end: its checksum, or a `$` that cuts it short;
                        // the bytes past the cap are never stored)
};
std::string_view describe(BadPacketReason reason);

// A frame that must not be acted on. A corrupt one (ChecksumMismatch,
// BadChecksumDigits) is `-` with acks on (gdb then retransmits) and dropped in
// no-ack mode; one that arrived intact but can never be accepted (TooLong,
// BadEscape, BadRunLength: a retransmission would be the same) gets an `E` reply.
struct BadPacket {
    BadPacketReason reason;
    bool operator==(const BadPacket&) const = default;
};

struct Ack {  // `+` outside a frame
    bool operator==(const Ack&) const = default;
};
struct Nack {  // `-` outside a frame: resend the last packet
    bool operator==(const Nack&) const = default;
};
struct Interrupt {  // 0x03 outside a frame (Ctrl-C)
    bool operator==(const Interrupt&) const = default;
};

using Event = std::variant<Packet, BadPacket, Ack, Nack, Interrupt>;

// Human-readable form for logs and test failure messages.
std::string describe(const Event& event);

class Decoder {
public:
    // gdb sends at most the PacketSize we advertise in qSupported; the slack
    // covers `$`-free framing overhead and escapes so an honest packet fits.
    static constexpr std::size_t kDefaultMaxFrame = 64 * 1024 + 1024;

    explicit Decoder(std::size_t max_frame = kDefaultMaxFrame);

    // Appends the events completed by `bytes` to `out`, in stream order.
    void feed(std::span<const std::uint8_t> bytes, std::vector<Event>& out);
    std::vector<Event> feed(std::span<const std::uint8_t> bytes);
    std::vector<Event> feed(std::string_view bytes);

    // True while a frame has been started but not finished.
    bool in_frame() const { return state_ != State::Idle; }
    // Drops any partial frame (e.g. on a new connection).
    void reset();
    std::size_t max_frame() const { return max_frame_; }

private:
    enum class State : std::uint8_t { Idle, Body, Checksum1, Checksum2 };

    void start_frame();
    void finish_frame(std::uint8_t received, std::vector<Event>& out);

    std::size_t max_frame_;
    State state_ = State::Idle;
    std::string raw_;          // escaped, unexpanded bytes between `$` and `#`
    std::uint8_t sum_ = 0;     // running checksum of raw_
    std::uint8_t csum_hi_ = 0; // first checksum digit
    bool overflow_ = false;    // frame exceeded max_frame_; report at its end
};

// Mod-256 sum of `raw` ("Overview": the checksum field).
std::uint8_t checksum(std::string_view raw);

// `}`-escape `$ # } *` (0x24 0x23 0x7d 0x2a) as `}` + (c ^ 0x20) per "Binary
// data". Escaping `*` keeps the receiver from reading RLE into our data.
std::string escape_binary(std::string_view data);

// What escape_binary makes of one byte: 2 for `$ # } *`, else 1.
std::size_t escaped_size(char c);

// Un-escape and RLE-expand a raw frame body. On failure returns the reason.
std::variant<std::string, BadPacketReason> decode_payload(std::string_view raw);

// `$` + escape_binary(payload) + `#` + two lowercase hex checksum digits.
// We never emit RLE: it is optional for the sender ("Overview").
std::string encode_packet(std::string_view payload);

}  // namespace kvmgdb::stub
