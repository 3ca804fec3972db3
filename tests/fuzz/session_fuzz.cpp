// The whole RSP session (stub/session.hpp) against a bounded fake target.
//
// The input is a list of records, each a tag byte and its operands:
//   tag % 8 = 0..2  a packet: length byte, then that many payload bytes, framed
//                   with encode_packet (so the checksum is right and the
//                   handlers are reached); tag bit 3 splits the frame in two calls
//           3       raw bytes: length byte, bytes (acks, 0x03, broken frames)
//           4       the target stops: kind, signal and mode bytes
//           5       the connection drops (on_disconnect)
//           6       failure knobs for the next calls (BoundedTarget::faults)
//           7       a big packet: two length bytes (little-endian), the payload
// A truncated record ends the input. tests/fuzz/make_corpus.py writes seeds in this
// form from gdb packet logs.
//
// Properties, after every call: what the session sends is a stream of well-formed
// frames, `+` and `-` (never a bad frame, never 0x03); after a closing packet
// (k, vKill, D) further bytes get no answer; a stop while not running is ignored;
// after a stop the session is stopped, unless it said nothing (a false condition).
// Exceptions must not leave the session (the transport has no handler for them).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "stub/rsp_codec.hpp"
#include "stub/session.hpp"
#include "tests/fuzz/bounded_target.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace kvmgdb::stub;
using kvmgdb::fuzz::as_bytes;
using kvmgdb::fuzz::BoundedTarget;

namespace {

struct Reader {
    std::span<const std::uint8_t> data;
    bool take(std::size_t n, std::span<const std::uint8_t>& out) {
        if (n > data.size()) return false;
        out = data.first(n);
        data = data.subspan(n);
        return true;
    }
    bool byte(std::uint8_t& out) {
        std::span<const std::uint8_t> b;
        if (!take(1, b)) return false;
        out = b[0];
        return true;
    }
};

// Every reply must decode cleanly, with a decoder big enough for the largest one
// (a 64 KiB `m` reply is 128 KiB of hex).
void check_output(const SessionOutput& out) {
    Decoder decoder(out.bytes.size() + 16);
    for (const Event& event : decoder.feed(out.bytes)) {
        FUZZ_CHECK(!std::holds_alternative<BadPacket>(event));
        FUZZ_CHECK(!std::holds_alternative<Interrupt>(event));
    }
    FUZZ_CHECK(!decoder.in_frame());
}

StopEvent stop_event(std::uint8_t kind, std::uint8_t signal) {
    StopEvent e;
    e.kind = static_cast<StopEvent::Kind>(kind % 8);
    e.signal = signal;
    e.address = BoundedTarget::kMemBase + signal * 8u;
    e.exit_status = signal;
    if (kind & 0x80) e.message = "triple fault";
    return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    BoundedTarget target(Arch::X86_64);
    std::vector<StopEvent> posted;
    SessionOptions options;
    options.max_packet = 4096;  // small, so that the limits are reached
    Session session(target, [&](StopEvent e) { posted.push_back(std::move(e)); }, options);
    bool closed = false;

    auto bytes_in = [&](std::string_view bytes) {
        const SessionOutput out = session.on_bytes(as_bytes(bytes));
        check_output(out);
        if (closed) FUZZ_CHECK(out.bytes.empty());
        if (out.close) closed = true;
    };

    Reader in{{data, size}};
    std::uint8_t tag = 0;
    while (in.byte(tag)) {
        std::span<const std::uint8_t> body;
        std::uint8_t a = 0, b = 0, c = 0;
        switch (tag % 8) {
            case 0: case 1: case 2: {
                if (!in.byte(a) || !in.take(a, body)) return 0;
                const std::string frame = encode_packet(kvmgdb::fuzz::as_text(body));
                if (tag & 0x08) {
                    const std::size_t half = frame.size() / 2;
                    bytes_in(std::string_view(frame).substr(0, half));
                    bytes_in(std::string_view(frame).substr(half));
                } else {
                    bytes_in(frame);
                }
                break;
            }
            case 3:
                if (!in.byte(a) || !in.take(a, body)) return 0;
                bytes_in(kvmgdb::fuzz::as_text(body));
                break;
            case 4: {
                if (!in.byte(a) || !in.byte(b) || !in.byte(c)) return 0;
                const bool was_running = session.target_running();
                if (c % 4 != 0) target.switch_arch(static_cast<Arch>(c % 4 - 1));
                const SessionOutput out = session.on_target_stopped(stop_event(a, b));
                check_output(out);
                if (!was_running) FUZZ_CHECK(out.bytes.empty());
                // A stop is reported, or (a breakpoint condition that was false,
                // session_conditions.cpp) the guest goes on with nothing said.
                if (session.target_running()) FUZZ_CHECK(was_running && out.bytes.empty());
                break;
            }
            case 5:
                session.on_disconnect();
                closed = false;
                break;
            case 6:
                if (!in.byte(a)) return 0;
                target.faults = a;
                break;
            case 7: {
                if (!in.byte(a) || !in.byte(b)) return 0;
                const std::size_t n = a | std::size_t{b} << 8;
                if (!in.take(std::min(n, in.data.size()), body)) return 0;
                bytes_in(encode_packet(kvmgdb::fuzz::as_text(body)));
                break;
            }
        }
    }
    return 0;
}
