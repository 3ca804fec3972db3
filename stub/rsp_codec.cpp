#include "stub/rsp_codec.hpp"

#include "stub/hex.hpp"

namespace kvmgdb::stub {

namespace {

constexpr std::uint8_t kEscape = '}';
constexpr std::uint8_t kRunLength = '*';
constexpr std::uint8_t kInterruptByte = 0x03;

// "Overview": the run-length count byte is n + 29, and must be printable so the
// stream stays text; `$` and `#` can never reach here (they end the frame).
constexpr std::uint8_t kMinCount = 0x20;
constexpr std::uint8_t kMaxCount = 0x7e;
constexpr int kCountBias = 29;

bool needs_escape(char c) {
    return c == '$' || c == '#' || c == '}' || c == '*';
}

}  // namespace

std::string_view describe(BadPacketReason reason) {
    switch (reason) {
        case BadPacketReason::ChecksumMismatch: return "checksum mismatch";
        case BadPacketReason::BadChecksumDigits: return "checksum is not two hex digits";
        case BadPacketReason::BadEscape: return "escape character at end of packet";
        case BadPacketReason::BadRunLength: return "invalid run-length encoding";
        case BadPacketReason::TooLong: return "packet too long";
    }
    return "unknown";
}

std::string describe(const Event& event) {
    struct Visitor {
        std::string operator()(const Packet& p) const { return "Packet{\"" + p.payload + "\"}"; }
        std::string operator()(const BadPacket& b) const {
            return "BadPacket{" + std::string(describe(b.reason)) + "}";
        }
        std::string operator()(const Ack&) const { return "Ack"; }
        std::string operator()(const Nack&) const { return "Nack"; }
        std::string operator()(const Interrupt&) const { return "Interrupt"; }
    };
    return std::visit(Visitor{}, event);
}

std::uint8_t checksum(std::string_view raw) {
    std::uint8_t sum = 0;
    for (char c : raw) sum = static_cast<std::uint8_t>(sum + static_cast<std::uint8_t>(c));
    return sum;
}

std::size_t escaped_size(char c) { return needs_escape(c) ? 2 : 1; }

std::string escape_binary(std::string_view data) {
    std::string out;
    out.reserve(data.size());
    for (char c : data) {
        if (needs_escape(c)) {
            out.push_back(static_cast<char>(kEscape));
            out.push_back(static_cast<char>(c ^ 0x20));
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::variant<std::string, BadPacketReason> decode_payload(std::string_view raw) {
    // Escapes and RLE are undone in one left-to-right pass, the way gdb's
    // read_frame does: an escaped `*` is data, and `*` repeats the last
    // *decoded* byte (which may itself have come from an escape).
    std::string out;
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        auto c = static_cast<std::uint8_t>(raw[i]);
        if (c == kEscape) {
            if (++i == raw.size()) return BadPacketReason::BadEscape;
            out.push_back(static_cast<char>(raw[i] ^ 0x20));
        } else if (c == kRunLength) {
            if (out.empty() || ++i == raw.size()) return BadPacketReason::BadRunLength;
            auto n = static_cast<std::uint8_t>(raw[i]);
            if (n < kMinCount || n > kMaxCount) return BadPacketReason::BadRunLength;
            out.append(static_cast<std::size_t>(n - kCountBias), out.back());
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

std::string encode_packet(std::string_view payload) {
    std::string body = escape_binary(payload);
    std::string out;
    out.reserve(body.size() + 4);
    out.push_back('$');
    out += body;
    out.push_back('#');
    std::uint8_t sum = checksum(body);
    out += to_hex(std::span<const std::uint8_t>(&sum, 1));
    return out;
}

Decoder::Decoder(std::size_t max_frame) : max_frame_(max_frame) {}

void Decoder::reset() {
    state_ = State::Idle;
    raw_.clear();
    sum_ = 0;
    csum_hi_ = 0;
    overflow_ = false;
}

void Decoder::start_frame() {
    reset();
    state_ = State::Body;
}

std::vector<Event> Decoder::feed(std::span<const std::uint8_t> bytes) {
    std::vector<Event> out;
    feed(bytes, out);
    return out;
}

std::vector<Event> Decoder::feed(std::string_view bytes) {
    return feed(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

void Decoder::feed(std::span<const std::uint8_t> bytes, std::vector<Event>& out) {
    for (std::uint8_t c : bytes) {
        switch (state_) {
            case State::Idle:
                // Between packets only acks and Ctrl-C mean anything ("Overview",
                // "Interrupts"); anything else (line noise, a stray `%`
                // notification gdb never sends us) is skipped.
                if (c == '$') {
                    start_frame();
                } else if (c == '+') {
                    out.emplace_back(Ack{});
                } else if (c == '-') {
                    out.emplace_back(Nack{});
                } else if (c == kInterruptByte) {
                    out.emplace_back(Interrupt{});
                }
                break;

            case State::Body:
                if (c == '$') {
                    // A `$` is never data (it is always escaped), so it means
                    // the sender gave up on the previous frame: resync on it.
                    // An oversized frame cut short this way is still reported,
                    // so the sender hears about it (and no byte of it was kept).
                    if (overflow_) out.emplace_back(BadPacket{BadPacketReason::TooLong});
                    start_frame();
                } else if (c == '#') {
                    state_ = State::Checksum1;
                } else {
                    sum_ = static_cast<std::uint8_t>(sum_ + c);
                    if (raw_.size() >= max_frame_) {
                        // Keep scanning for `#` so the rest of this frame is
                        // not mistaken for acks or Ctrl-C; report at its end.
                        overflow_ = true;
                    } else {
                        raw_.push_back(static_cast<char>(c));
                    }
                }
                break;

            case State::Checksum1:
            case State::Checksum2: {
                if (c == '$') {
                    // Truncated frame: resync as in Body.
                    if (overflow_) out.emplace_back(BadPacket{BadPacketReason::TooLong});
                    start_frame();
                    break;
                }
                auto digit = hex_digit_value(static_cast<char>(c));
                if (!digit) {
                    out.emplace_back(BadPacket{overflow_ ? BadPacketReason::TooLong
                                                         : BadPacketReason::BadChecksumDigits});
                    reset();
                } else if (state_ == State::Checksum1) {
                    csum_hi_ = *digit;
                    state_ = State::Checksum2;
                } else {
                    finish_frame(static_cast<std::uint8_t>((csum_hi_ << 4) | *digit), out);
                }
                break;
            }
        }
    }
}

void Decoder::finish_frame(std::uint8_t received, std::vector<Event>& out) {
    if (overflow_) {
        out.emplace_back(BadPacket{BadPacketReason::TooLong});
    } else if (received != sum_) {
        out.emplace_back(BadPacket{BadPacketReason::ChecksumMismatch});
    } else {
        auto decoded = decode_payload(raw_);
        if (auto* payload = std::get_if<std::string>(&decoded)) {
            out.emplace_back(Packet{std::move(*payload)});
        } else {
            out.emplace_back(BadPacket{std::get<BadPacketReason>(decoded)});
        }
    }
    reset();
}

}  // namespace kvmgdb::stub
