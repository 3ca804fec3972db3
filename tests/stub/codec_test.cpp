// Byte-exact tables for the RSP framing (stub/rsp_codec) and hex helpers
// (stub/hex). Expected checksums are either literal (cross-checked by hand) or
// computed by this file's own sum, never by the code under test.
#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "stub/hex.hpp"
#include "stub/rsp_codec.hpp"

namespace kvmgdb::stub {
// Readable failure output for gtest's variant printer.
std::ostream& operator<<(std::ostream& os, const Packet& p) { return os << describe(Event{p}); }
std::ostream& operator<<(std::ostream& os, const BadPacket& b) { return os << describe(Event{b}); }
std::ostream& operator<<(std::ostream& os, const Ack&) { return os << "Ack"; }
std::ostream& operator<<(std::ostream& os, const Nack&) { return os << "Nack"; }
std::ostream& operator<<(std::ostream& os, const Interrupt&) { return os << "Interrupt"; }
}  // namespace kvmgdb::stub

namespace {

using namespace kvmgdb::stub;
using Events = std::vector<Event>;
using R = BadPacketReason;

// Independent checksum so the tests do not trust the code they test.
std::string frame(const std::string& raw) {
    unsigned sum = 0;
    for (unsigned char c : raw) sum += c;
    static const char* digits = "0123456789abcdef";
    return "$" + raw + "#" + digits[(sum >> 4) & 0xf] + digits[sum & 0xf];
}

Event pkt(std::string s) { return Packet{std::move(s)}; }
Event badp(R r) { return BadPacket{r}; }

Events decode_all(std::string_view bytes, std::size_t max = Decoder::kDefaultMaxFrame) {
    Decoder d(max);
    return d.feed(bytes);
}

struct Case {
    std::string name;
    std::string input;
    Events expected;
};

void run_table(const std::vector<Case>& cases) {
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(decode_all(c.input), c.expected);
    }
}

TEST(Decoder, LiteralFrames) {
    run_table({
        {"lldb foobar", "$foobar#79", {pkt("foobar")}},
        {"OK", "$OK#9a", {pkt("OK")}},
        {"uppercase checksum", "$OK#9A", {pkt("OK")}},
        {"empty payload", "$#00", {pkt("")}},
        {"g", "$g#67", {pkt("g")}},
        {"?", "$?#3f", {pkt("?")}},
        {"qC", "$qC#b4", {pkt("qC")}},
        {"m0,4", "$m0,4#fd", {pkt("m0,4")}},
        {"vMustReplyEmpty", "$vMustReplyEmpty#3a", {pkt("vMustReplyEmpty")}},
        {"qSupported", "$qSupported:multiprocess+;swbreak+#1b",
         {pkt("qSupported:multiprocess+;swbreak+")}},
        {"escaped }", "$}]#da", {pkt("}")}},
        {"RLE 9 x", "$x*%#c7", {pkt("xxxxxxxxx")}},
        {"RLE manual 0* ", "$0* #7a", {pkt("0000")}},
        {"ack then packet", "+$g#67", {Ack{}, pkt("g")}},
        {"two packets", "$g#67$?#3f", {pkt("g"), pkt("?")}},
    });
}

TEST(Decoder, ChecksumErrors) {
    run_table({
        {"wrong sum", "$foobar#7a", {badp(R::ChecksumMismatch)}},
        {"off by 0x10", "$g#77", {badp(R::ChecksumMismatch)}},
        {"non-hex digit 1", "$g#x7", {badp(R::BadChecksumDigits)}},
        {"non-hex digit 2", "$g#6z", {badp(R::BadChecksumDigits)}},
        {"bad then good", "$g#00$g#67", {badp(R::ChecksumMismatch), pkt("g")}},
        {"bad digits then good", "$g#zz$g#67",
         {badp(R::BadChecksumDigits), pkt("g")}},
        // The byte that is not a digit is consumed; the next + is an ack.
        {"bad digits eat one byte", "$g#6++", {badp(R::BadChecksumDigits), Ack{}}},
    });
}

TEST(Decoder, Escapes) {
    run_table({
        {"escaped #", frame("}\x03"), {pkt("#")}},
        {"escaped $", frame("}\x04"), {pkt("$")}},
        {"escaped }", frame("}]"), {pkt("}")}},
        {"escaped *", frame("}\x0a"), {pkt("*")}},
        {"escaped NUL", frame("a} b"), {pkt(std::string("a\0b", 3))}},
        {"escaped * is data, not RLE", frame("a}\x0a!"), {pkt("a*!")}},
        {"raw binary and 0x03 inside a frame", frame(std::string("\x00\x03\xff", 3)),
         {pkt(std::string("\x00\x03\xff", 3))}},
        {"X payload with ':' and escapes", frame("X0,4::}]}\x03"), {pkt("X0,4::}#")}},
        {"escape at end", frame("ab}"), {badp(R::BadEscape)}},
    });
}

TEST(Decoder, RunLength) {
    run_table({
        // "Overview": n is sent as n+29 extra copies, so ' ' (32) is 3 more.
        {"0* ", frame("0* "), {pkt("0000")}},
        {"0*!", frame("0*!"), {pkt("00000")}},
        {"0*\"", frame("0*\""), {pkt("000000")}},
        {"0*\"0", frame("0*\"0"), {pkt("0000000")}},
        {"x*%", frame("x*%"), {pkt(std::string(9, 'x'))}},
        {"max count ~", frame("a*~"), {pkt(std::string(1 + 0x7e - 29, 'a'))}},
        {"count }", frame("a*}"), {pkt(std::string(1 + 0x7d - 29, 'a'))}},
        {"repeat an escaped byte", frame("}]*!"), {pkt("}}}}}")}},
        {"two runs", frame("a* b* c"), {pkt("aaaabbbbc")}},
        {"run of a run", frame("a* * "), {pkt("aaaaaaa")}},
        {"register dump", frame("0*\"1f*!"), {pkt("0000001fffff")}},
    });
}

TEST(Decoder, InvalidRunLengthIsRejectedNotCrashing) {
    run_table({
        {"* first", frame("*a"), {badp(R::BadRunLength)}},
        {"* alone", frame("*"), {badp(R::BadRunLength)}},
        {"* last", frame("a*"), {badp(R::BadRunLength)}},
        {"count 0x01", frame("a*\x01"), {badp(R::BadRunLength)}},
        {"count 0x1f", frame("a*\x1f"), {badp(R::BadRunLength)}},
        {"count 0x7f", frame("a*\x7f"), {badp(R::BadRunLength)}},
        {"count 0xff", frame("a*\xff"), {badp(R::BadRunLength)}},
        {"next packet still decodes", frame("*a") + "$g#67", {badp(R::BadRunLength), pkt("g")}},
    });
}

TEST(Decoder, OutOfFrameBytes) {
    run_table({
        {"spurious +", "+", {Ack{}}},
        {"spurious -", "-", {Nack{}}},
        {"acks around packet", "+$g#67-+", {Ack{}, pkt("g"), Nack{}, Ack{}}},
        {"noise ignored", "\r\nhello #00 }*", {}},
        {"noise then packet", "xyz$g#67", {pkt("g")}},
        {"interrupt alone", "\x03", {Interrupt{}}},
        {"interrupt before/after", "\x03$g#67\x03", {Interrupt{}, pkt("g"), Interrupt{}}},
        {"interrupt between", "$g#67\x03$?#3f", {pkt("g"), Interrupt{}, pkt("?")}},
        {"+ and - inside a frame are data", frame("+-"), {pkt("+-")}},
    });
}

TEST(Decoder, DollarMidFrameResyncs) {
    run_table({
        {"in body", "$m0,4$g#67", {pkt("g")}},
        {"right after $", "$$g#67", {pkt("g")}},
        {"in checksum 1", "$m0,4#$g#67", {pkt("g")}},
        {"in checksum 2", "$m0,4#f$g#67", {pkt("g")}},
    });
}

TEST(Decoder, PartialFrameIsKept) {
    Decoder d;
    EXPECT_EQ(d.feed("$foo"), Events{});
    EXPECT_TRUE(d.in_frame());
    EXPECT_EQ(d.feed("bar#7"), Events{});
    EXPECT_EQ(d.feed("9+\x03"), (Events{pkt("foobar"), Ack{}, Interrupt{}}));
    EXPECT_FALSE(d.in_frame());
    EXPECT_EQ(d.feed("$abc"), Events{});
    d.reset();
    EXPECT_EQ(d.feed("#00+"), Events{Ack{}});  // the partial frame is gone

    std::vector<Event> out{Ack{}};
    const std::uint8_t bytes[] = {'$', 'g', '#', '6', '7'};
    d.feed(bytes, out);  // appends
    EXPECT_EQ(out, (Events{Ack{}, pkt("g")}));
}

// Every way of cutting the stream must give the same events as one feed.
TEST(Decoder, EverySplitPointGivesSameEvents) {
    const std::string stream = "+" + frame("qSupported:multiprocess+") + "\x03" + "$g#00" +
                               frame("X10,4:}]}\x03}\x04}\x0a") + "-" + frame("0* 1*!") +
                               "$abc$" + "g#67" + frame("*x") + "junk" + frame("vCont;c") + "\x03";
    const Events expected = {
        Ack{}, pkt("qSupported:multiprocess+"), Interrupt{}, badp(R::ChecksumMismatch),
        pkt("X10,4:}#$*"), Nack{}, pkt("000011111"), pkt("g"), badp(R::BadRunLength),
        pkt("vCont;c"), Interrupt{},
    };
    ASSERT_EQ(decode_all(stream), expected);

    for (std::size_t i = 0; i <= stream.size(); ++i) {
        for (std::size_t j = i; j <= stream.size(); ++j) {
            Decoder d;
            Events got;
            std::string_view s(stream);
            for (auto part : {s.substr(0, i), s.substr(i, j - i), s.substr(j)}) {
                auto ev = d.feed(part);
                got.insert(got.end(), ev.begin(), ev.end());
            }
            ASSERT_EQ(got, expected) << "split at " << i << " and " << j;
        }
    }

    Decoder d;  // one byte at a time
    Events got;
    for (char c : stream) {
        auto ev = d.feed(std::string_view(&c, 1));
        got.insert(got.end(), ev.begin(), ev.end());
    }
    EXPECT_EQ(got, expected);
}

TEST(Decoder, OversizedFrame) {
    const std::size_t max = 16;
    const std::string fits(max, 'a');
    const std::string too_big(max + 1, 'a');
    EXPECT_EQ(decode_all(frame(fits), max), Events{pkt(fits)});
    EXPECT_EQ(decode_all(frame(too_big) + "$g#67", max), (Events{badp(R::TooLong), pkt("g")}));
    // Bytes of the discarded frame are not mistaken for acks or Ctrl-C.
    EXPECT_EQ(decode_all(frame(fits + "+-\x03+-\x03") + "+", max), (Events{badp(R::TooLong), Ack{}}));
    // Even with a correct checksum and a bad trailer, it is one TooLong.
    EXPECT_EQ(decode_all("$" + too_big + "#zz$g#67", max), (Events{badp(R::TooLong), pkt("g")}));
    // A `$` inside the oversized frame resyncs, and the cut-off frame is still
    // reported (the sender must get an answer), also with half a checksum.
    EXPECT_EQ(decode_all("$" + too_big + "$g#67", max), (Events{badp(R::TooLong), pkt("g")}));
    EXPECT_EQ(decode_all("$" + too_big + "#6$g#67", max), (Events{badp(R::TooLong), pkt("g")}));
    // A frame within the cap cut off by `$` is dropped silently, as before.
    EXPECT_EQ(decode_all("$" + fits + "$g#67", max), Events{pkt("g")});
    // Megabytes without `#`: one TooLong at the next `$`, nothing in between.
    Decoder d(max);
    const std::string chunk(64 * 1024, 'x');
    EXPECT_EQ(d.feed("$"), Events{});
    for (int i = 0; i < 160; ++i) ASSERT_EQ(d.feed(chunk), Events{});
    EXPECT_EQ(d.feed("$g#67"), (Events{badp(R::TooLong), pkt("g")}));

    // The default cap admits a full 64 KiB payload.
    const std::string big(64 * 1024, 'z');
    EXPECT_EQ(decode_all(frame(big)), Events{pkt(big)});
}

TEST(Encoder, Table) {
    struct E {
        std::string payload;
        std::string wire;
    };
    const std::vector<E> cases = {
        {"", "$#00"},
        {"OK", "$OK#9a"},
        {"foobar", "$foobar#79"},
        {"E01", "$E01#a6"},
        {"$", "$}\x04#81"},
        {"#", "$}\x03#80"},
        {"}", "$}]#da"},
        {"*", "$}\x0a#87"},
        {"a$b", frame("a}\x04" "b")},
        {std::string("\x00\x03\xff", 3), frame(std::string("\x00\x03\xff", 3))},
        {"+-%:", "$+-%:#b7"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.payload);
        EXPECT_EQ(encode_packet(c.payload), c.wire);
    }
}

TEST(Encoder, RoundTripsEveryByte) {
    std::string all;
    for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
    all += "aaaaaaa";  // runs are sent as-is, never RLE-compressed
    const std::string wire = encode_packet(all);
    EXPECT_EQ(wire.find('$', 1), std::string::npos);
    EXPECT_EQ(wire.find('*'), std::string::npos);
    EXPECT_EQ(decode_all(wire), Events{pkt(all)});
}

TEST(Codec, ChecksumAndDecodePayload) {
    EXPECT_EQ(checksum(""), 0);
    EXPECT_EQ(checksum("foobar"), 0x79);
    EXPECT_EQ(escape_binary("a}b*c#d$"), "a}]b}\x0a" "c}\x03" "d}\x04");
    EXPECT_EQ(std::get<std::string>(decode_payload("0* ")), "0000");
    EXPECT_EQ(std::get<BadPacketReason>(decode_payload("*")), R::BadRunLength);
}

TEST(Hex, ToAndFrom) {
    const std::vector<std::uint8_t> bytes = {0x00, 0x7f, 0xde, 0xad, 0xff};
    EXPECT_EQ(to_hex(bytes), "007fdeadff");
    EXPECT_EQ(text_to_hex("ab"), "6162");
    EXPECT_EQ(from_hex("007fDEADff"), bytes);
    EXPECT_EQ(from_hex(""), std::vector<std::uint8_t>{});
    EXPECT_EQ(from_hex("abc"), std::nullopt);
    EXPECT_EQ(from_hex("zz"), std::nullopt);
    EXPECT_EQ(from_hex("0g"), std::nullopt);
    EXPECT_EQ(from_hex_text("6d6f6e"), "mon");
}

TEST(Hex, ParseU64) {
    EXPECT_EQ(parse_hex_u64("0"), 0u);
    EXPECT_EQ(parse_hex_u64("1f"), 0x1fu);
    EXPECT_EQ(parse_hex_u64("DeadBeef"), 0xdeadbeefu);
    EXPECT_EQ(parse_hex_u64("ffffffffffffffff"), 0xffffffffffffffffu);
    EXPECT_EQ(parse_hex_u64("0000000000000001"), 1u);
    for (const char* bad : {"", "fffffffffffffffff", "10000000000000000", "00000000000000001",
                            "0x10", "-1", "+1", " 1", "1 ", "g", "1,"}) {
        SCOPED_TRACE(bad);
        EXPECT_EQ(parse_hex_u64(bad), std::nullopt);
    }
}

TEST(Hex, FormatAndLittleEndian) {
    EXPECT_EQ(format_hex_u64(0), "0");
    EXPECT_EQ(format_hex_u64(0x1000), "1000");
    EXPECT_EQ(format_hex_u64(~0ull), "ffffffffffffffff");
    EXPECT_EQ(to_hex_le(0x1122334455667788ull, 8), "8877665544332211");
    EXPECT_EQ(to_hex_le(0x1234, 4), "34120000");
    EXPECT_EQ(to_hex_le(0xab, 1), "ab");
    const std::vector<std::uint8_t> le = {0x34, 0x12, 0x00, 0x00};
    EXPECT_EQ(from_le_bytes(le), 0x1234u);
    EXPECT_EQ(from_le_bytes(std::vector<std::uint8_t>(9, 0)), std::nullopt);
    EXPECT_EQ(from_le_bytes(std::vector<std::uint8_t>{}), std::nullopt);
}

}  // namespace
