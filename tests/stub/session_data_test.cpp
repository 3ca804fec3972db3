// Session tests, part 2: the data packets (registers, memory, breakpoints,
// the target description, monitor), byte-exact against a FakeTarget.
#include <cstdio>

#include "stub/target_description.hpp"
#include "tests/stub/session_harness.hpp"

namespace kvmgdb::stub::testing {
namespace {

class DataTest : public SessionTest {
protected:
    void SetUp() override {
        SessionTest::SetUp();
        no_ack();  // replies are bare frames from here on
    }
    // The payload of the single frame in `bytes`.
    static std::string payload(std::string_view bytes) {
        auto events = Decoder().feed(bytes);
        if (events.size() != 1 || !std::holds_alternative<Packet>(events[0])) return "<not one packet>";
        return std::get<Packet>(events[0]).payload;
    }
};

TEST_F(DataTest, ReadAndWriteAllRegisters) {
    t().set_reg(0, 0x1122334455667788);
    std::string g = payload(send("g"));
    ASSERT_EQ(g.size(), t().read_registers().size() * 2);
    EXPECT_EQ(g.substr(0, 16), "8877665544332211");
    g.replace(0, 4, "cafe");
    EXPECT_EQ(send("G" + g), pkt("OK"));
    EXPECT_EQ(t().reg(0), 0x112233445566feca);
    EXPECT_EQ(payload(send("g")), g);
}

TEST_F(DataTest, WriteRegistersOfTheWrongLengthFails) {
    std::string g = payload(send("g"));
    EXPECT_EQ(send("G" + g.substr(2)), pkt("E16"));
    EXPECT_EQ(send("G" + g + "00"), pkt("E16"));
    EXPECT_EQ(send("G"), pkt("E16"));  // malformed: no data
}

TEST_F(DataTest, ReadOneRegister) {
    t().set_reg(16, 0x10010);
    EXPECT_EQ(send("p10"), pkt("1000010000000000"));
    EXPECT_EQ(send("p6"), pkt("0000000000000000"));
    EXPECT_EQ(send("p1000"), pkt("E16"));
    EXPECT_EQ(send("pffffffffffff"), pkt("E16"));
}

TEST_F(DataTest, WriteOneRegister) {
    EXPECT_EQ(send("P10=2000010000000000"), pkt("OK"));
    EXPECT_EQ(t().reg(16), 0x10020u);
    EXPECT_EQ(send("P10=2000"), pkt("E16"));  // rip is 8 bytes
    EXPECT_EQ(send("P1000=00"), pkt("E16"));
    EXPECT_EQ(t().reg(16), 0x10020u);
}

TEST_F(DataTest, ReadMemory) {
    EXPECT_EQ(send("m10000,4"), pkt("00010203"));
    EXPECT_EQ(send("m100fe,3"), pkt("feff00"));
    // Past the end: the part before it, so gdb reads on and gets the error.
    EXPECT_EQ(send("m1fffe,4"), pkt("feff"));
    EXPECT_EQ(send("m20000,4"), pkt("E0e"));
    EXPECT_EQ(send("m0,1"), pkt("E0e"));
    EXPECT_EQ(send("m10000,0"), pkt(""));
}

// A read longer than a reply can carry is clipped to what fits ("Packets", m:
// fewer bytes than asked), so the client reads on rather than failing.
TEST_F(DataTest, ReadMemoryLimits) {
    EXPECT_EQ(send("mffffffffffffffff,2"), pkt("E16"));  // wraps past 2^64
    EXPECT_EQ(payload(send("m10000,8001")).size(), 0x10000u);  // 0x8000 bytes: PacketSize in hex
    start({.max_packet = 0x100, .log_packet = {}});
    no_ack();
    EXPECT_EQ(payload(send("m10000,80")).size(), 0x100u);
    std::string clipped = payload(send("m10000,81"));
    EXPECT_EQ(clipped.size(), 0x100u);
    EXPECT_EQ(clipped.substr(0, 8), "00010203");
    EXPECT_EQ(payload(send("m10000,ffffffff")).size(), 0x100u);
}

// x's reply is `b` and the escaped bytes: clipped so that, escaped, it fits in
// PacketSize, and never cut inside an escape.
TEST_F(DataTest, BinaryReadMemoryIsClippedToPacketSize) {
    start({.max_packet = 0x10, .log_packet = {}});
    no_ack();
    EXPECT_EQ(payload(send("x10040,100")), "b" + std::string("\x40\x41\x42\x43\x44\x45\x46\x47\x48\x49\x4a\x4b\x4c\x4d\x4e"));
    // From 0x1001d: 1d 1e 1f then 20..2f, where 23 `#` and 24 `$` take two each.
    std::string raw = send("x1001d,100");
    EXPECT_LE(raw.size(), 0x10u + 4);  // `$`, payload, `#xx`
    EXPECT_EQ(payload(raw), "b\x1d\x1e\x1f !\"#$%&'()");
    t().memory[0x4e] = '}';  // the last byte that would fit needs an escape: left out
    EXPECT_EQ(payload(send("x10040,100")), "b" + std::string("\x40\x41\x42\x43\x44\x45\x46\x47\x48\x49\x4a\x4b\x4c\x4d"));
}

// The last byte of the address space is an address like any other: only a
// range that wraps past 2^64 is refused.
TEST_F(DataTest, TheLastByteOfTheAddressSpace) {
    t().mem_base = 0xffffffffffff0000;  // the top 64 KiB: memory[i] == i & 0xff
    EXPECT_EQ(send("mffffffffffffffff,1"), pkt("ff"));
    EXPECT_EQ(send("mfffffffffffffffe,2"), pkt("feff"));
    EXPECT_EQ(send("mfffffffffffffffe,3"), pkt("E16"));
    EXPECT_EQ(send("Mffffffffffffffff,1:5a"), pkt("OK"));
    EXPECT_EQ(t().memory.back(), 0x5a);
    EXPECT_EQ(send("Xffffffffffffffff,1:a"), pkt("OK"));
    EXPECT_EQ(t().memory.back(), 'a');
    EXPECT_EQ(send("Xffffffffffffffff,2:ab"), pkt("E16"));
    EXPECT_EQ(t().memory.back(), 'a');
}

// PacketSize caps what one M or X may write, whatever fits in a frame.
TEST_F(DataTest, WritesLargerThanPacketSizeAreRefused) {
    start({.max_packet = 0x10, .log_packet = {}});
    no_ack();
    EXPECT_EQ(send("M10000,10:" + std::string(0x20, '7')), pkt("OK"));
    EXPECT_EQ(send("M10000,11:" + std::string(0x22, '5')), pkt("E16"));
    EXPECT_EQ(send("X10000,11:" + std::string(0x11, 'x')), pkt("E16"));
    EXPECT_EQ(t().memory[0x10], 0x10);  // nothing past the first 16 bytes was written
    EXPECT_EQ(t().memory[0], 0x77);
}

TEST_F(DataTest, WriteMemoryHex) {
    EXPECT_EQ(send("M10000,2:abcd"), pkt("OK"));
    EXPECT_EQ(t().memory[0], 0xab);
    EXPECT_EQ(t().memory[1], 0xcd);
    EXPECT_EQ(send("M1ffff,2:0102"), pkt("E0e"));  // only one byte fits
    EXPECT_EQ(send("M0,1:00"), pkt("E0e"));
    EXPECT_EQ(send("Mffffffffffffffff,2:0000"), pkt("E16"));
    EXPECT_EQ(send("M10000,2:ab"), pkt("E16"));  // length mismatch: malformed
}

TEST_F(DataTest, WriteMemoryBinary) {
    // `$ # } *` travel escaped; the codec undoes it before the session sees them.
    std::string data = "$#}*";
    EXPECT_EQ(send("X10010,4:" + data), pkt("OK"));
    EXPECT_EQ(std::string(t().memory.begin() + 0x10, t().memory.begin() + 0x14), data);
    EXPECT_EQ(send("X10000,0:"), pkt("OK"));  // gdb's probe for X support
    EXPECT_EQ(send("X0,1:a"), pkt("E0e"));
}

TEST_F(DataTest, SoftwareBreakpointsAreBookkept) {
    EXPECT_EQ(send("Z0,10010,1"), pkt("OK"));
    EXPECT_EQ(t().breakpoints.count({BreakpointKind::Software, 0x10010, 1}), 1u);
    EXPECT_EQ(send("z0,10010,1"), pkt("OK"));
    EXPECT_TRUE(t().breakpoints.empty());
    EXPECT_EQ(send("z0,10010,1"), pkt("E02"));  // ENOENT from the target
}

TEST_F(DataTest, ConditionalBreakpointIsInsertedUnconditionally) {
    EXPECT_EQ(send("Z0,10010,1;X2,0a0b"), pkt("OK"));
    EXPECT_EQ(t().breakpoints.count({BreakpointKind::Software, 0x10010, 1}), 1u);
}

TEST_F(DataTest, UnsupportedBreakpointsGetEmptyReplies) {
    EXPECT_EQ(send("Z3,10010,4"), pkt(""));  // no read watchpoints: not even asked
    EXPECT_EQ(send("z3,10010,4"), pkt(""));
    EXPECT_EQ(std::count(t().calls.begin(), t().calls.end(), "insert_breakpoint 3"), 0);
    t().breakpoint_status = TargetStatus::unsupported();
    EXPECT_EQ(send("Z1,10010,1"), pkt(""));  // the target said so: gdb falls back
    EXPECT_EQ(t().calls.back(), "insert_breakpoint 1");
}

// "Packets", Z: "A remote target shall return an empty string for an
// unrecognized breakpoint or watchpoint packet type."
TEST_F(DataTest, UnknownBreakpointTypesGetEmptyReplies) {
    for (const char* p : {"Z5,10010,1", "z9,10010,1", "Z9", "Zx,10010,1", "Z10,10010,1"}) {
        EXPECT_EQ(send(p), pkt("")) << p;
    }
    EXPECT_TRUE(t().calls.empty());
    EXPECT_EQ(send("Z,10010,1"), pkt("E16"));  // no type at all is malformed
}

// A watchpoint's kind is its length: a range that wraps past 2^64 is refused
// before the target sees it (as for m/M); one ending at the last byte is fine.
TEST_F(DataTest, WatchpointRangesMustNotWrap) {
    EXPECT_EQ(send("Z2,fffffffffffffffc,8"), pkt("E16"));
    EXPECT_EQ(send("Z4,ffffffffffffffff,2"), pkt("E16"));
    EXPECT_TRUE(t().calls.empty());
    EXPECT_EQ(send("Z2,fffffffffffffff8,8"), pkt("OK"));
    // Z0's kind is not a length: any address goes to the target.
    EXPECT_EQ(send("Z0,ffffffffffffffff,1"), pkt("OK"));
}

TEST_F(DataTest, BreakpointErrorsCarryTheirErrno) {
    t().breakpoint_status = TargetStatus::error(ENOSPC, "all four debug registers in use");
    EXPECT_EQ(send("Z2,10010,4"), pkt("E1c"));
    EXPECT_TRUE(t().breakpoints.empty());
}

TEST_F(DataTest, TargetXmlInChunks) {
    std::string xml = target_xml(Arch::X86_64);
    ASSERT_GT(xml.size(), 0x20u);
    std::string first = payload(send("qXfer:features:read:target.xml:0,20"));
    EXPECT_EQ(first, "m" + xml.substr(0, 0x20));
    std::string all;
    for (std::size_t off = 0;; off += 0x20) {
        std::string chunk = payload(send("qXfer:features:read:target.xml:" + format_hex_u64(off) + ",20"));
        ASSERT_FALSE(chunk.empty());
        all += chunk.substr(1);
        if (chunk[0] == 'l') break;
        ASSERT_EQ(chunk[0], 'm');
    }
    EXPECT_EQ(all, xml);
    EXPECT_EQ(send("qXfer:features:read:target.xml:" + format_hex_u64(xml.size()) + ",20"), pkt("l"));
    EXPECT_EQ(send("qXfer:features:read:i386-64bit.xml:0,20"), pkt("E00"));
}

// gdbserver (handle_qxfer_features): offset == length is the end ("l"), offset
// beyond it an error, never a quiet "l".
TEST_F(DataTest, TargetXmlOffsetPastTheEndIsAnError) {
    std::string xml = target_xml(Arch::X86_64);
    EXPECT_EQ(send("qXfer:features:read:target.xml:" + format_hex_u64(xml.size()) + ",1"), pkt("l"));
    EXPECT_EQ(send("qXfer:features:read:target.xml:" + format_hex_u64(xml.size() + 1) + ",20"), pkt("E01"));
    EXPECT_EQ(send("qXfer:features:read:target.xml:ffffffffffffffff,20"), pkt("E01"));
    EXPECT_EQ(send("qXfer:features:read:target.xml:" + format_hex_u64(xml.size() - 1) + ",20"),
              pkt("l" + xml.substr(xml.size() - 1)));
}

TEST_F(DataTest, TargetXmlFollowsTheMode) {
    start({}, Arch::I386);
    no_ack();
    std::string xml = target_xml(Arch::I386);
    EXPECT_EQ(send("qXfer:features:read:target.xml:0,ffff"), pkt("l" + xml));
}

// gdb keeps the layout it read at connect time; a guest that then enters long mode
// is shown in that i386 layout (the low halves), until a new connection.
TEST_F(DataTest, AModeSwitchKeepsTheLayoutGdbWasGiven) {
    start({}, Arch::I386);
    no_ack();
    supported();
    EXPECT_EQ(send("qXfer:features:read:target.xml:0,ffff"), pkt("l" + target_xml(Arch::I386)));
    t().switch_arch(Arch::X86_64);
    const RegisterLayout& wide = register_layout(Arch::X86_64);
    t().set_reg(wide.find("rax")->regnum, 0x1122334455667788);
    t().set_reg(wide.find("rip")->regnum, 0x100123);
    t().set_reg(wide.find("rsp")->regnum, 0x3fffff0);
    t().set_reg(wide.find("r8")->regnum, 0xdead);
    std::string g = payload(send("g"));
    EXPECT_EQ(g.size(), register_layout(Arch::I386).g_size() * 2);
    EXPECT_EQ(g.substr(0, 8), "88776655");                 // eax: rax's low half
    EXPECT_EQ(payload(send("p8")), "23011000");            // eip: rip
    // The stop reply expedites i386 regnums (esp 04, ebp 05, eip 08).
    t().stop = StopEvent{StopEvent::Kind::SoftwareBreak, 5, 0, 0, {}};
    EXPECT_EQ(payload(send("?")), "T05thread:1;swbreak:;04:f0ffff03;05:00000000;08:23011000;");
    // Writes land in the low half and keep the rest.
    EXPECT_EQ(send("P0=ddccbbaa"), pkt("OK"));
    EXPECT_EQ(t().reg(wide.find("rax")->regnum), 0x11223344aabbccdd);
    g.replace(0, 8, "01000000");
    EXPECT_EQ(send("G" + g), pkt("OK"));
    EXPECT_EQ(t().reg(wide.find("rax")->regnum), 0x1122334400000001);
    EXPECT_EQ(t().reg(wide.find("r8")->regnum), 0xdeadu);  // not in gdb's layout: untouched
    // `monitor info mode` says which layout gdb holds.
    EXPECT_EQ(payload(send("qRcmd," + text_to_hex("info mode"))),
              text_to_hex(t().monitor_output +
                          "gdb's register layout on this connection: i386 (read at connect time; registers are "
                          "converted to it; reconnect for this mode's)\n"));
    // A new gdb gets the layout of the mode the CPU is in now.
    session->on_disconnect();
    no_ack();
    EXPECT_EQ(send("qXfer:features:read:target.xml:0,ffff"), pkt("l" + target_xml(Arch::X86_64)));
    EXPECT_EQ(payload(send("g")).size(), wide.g_size() * 2);
}

TEST_F(DataTest, TargetXmlChunkIsCappedByPacketSize) {
    start({.max_packet = 0x40, .log_packet = {}});
    no_ack();
    std::string xml = target_xml(Arch::X86_64);
    EXPECT_EQ(payload(send("qXfer:features:read:target.xml:0,1000")), "m" + xml.substr(0, 0x3f));
}

// "Packets", x (binary-upload+ in our qSupported): `b` and the bytes, `$ # } *`
// escaped by the codec; a zero length is `b` alone, which is also what keeps old
// LLDBs (which take only `OK` to `x0,0` as theirs) on `m`.
TEST_F(DataTest, BinaryReadMemory) {
    t().memory[0x20] = '$';
    t().memory[0x21] = '#';
    t().memory[0x22] = '}';
    t().memory[0x23] = '*';
    t().memory[0x24] = 0;
    // On the wire: each of the four escaped as `}` and the byte xor 0x20.
    std::string escaped = std::string("b}\x04}\x03}]}\x0a") + '\0';
    unsigned sum = 0;
    for (unsigned char c : escaped) sum += c;
    char digits[3];
    std::snprintf(digits, sizeof digits, "%02x", sum & 0xff);
    EXPECT_EQ(send("x10020,5"), "$" + escaped + "#" + digits);
    EXPECT_EQ(payload(send("x10020,5")), std::string("b$#}*") + std::string(1, '\0'));
    EXPECT_EQ(payload(send("x1fffe,4")), "b\xfe\xff");  // the part before the end
    EXPECT_EQ(send("x20000,4"), pkt("E0e"));
    EXPECT_EQ(send("x0,0"), pkt("b"));
    EXPECT_EQ(send("x10000,0"), pkt("b"));
    // Longer than fits: clipped so the escaped reply is within PacketSize.
    std::string raw = send("x10000,10000");
    EXPECT_LE(raw.size(), 0x10000u + 4);
    EXPECT_GT(raw.size(), 0x10000u);
    std::string bytes = payload(raw).substr(1);
    EXPECT_EQ(bytes, std::string(t().memory.begin(), t().memory.begin() + static_cast<long>(bytes.size())));
    EXPECT_EQ(send("x10000"), pkt("E16"));       // malformed
}

// GDB 15+: error-message+ from both sides lets `m` fail with E.text, which gdb
// shows; without it the same failure stays E0e.
TEST_F(DataTest, ReadErrorsCarryTextWhenGdbTakesIt) {
    EXPECT_EQ(send("m20000,4"), pkt("E0e"));
    send("qSupported:swbreak+;error-message+");
    EXPECT_EQ(send("m20000,4"), pkt("E.address above the fake memory"));
    EXPECT_EQ(send("x0,4"), pkt("E.address below the fake memory"));
    EXPECT_EQ(send("m10000,2"), pkt("0001"));  // success is unchanged
    EXPECT_EQ(send("mffffffffffffffff,2"), pkt("E16"));  // a malformed range stays numeric
    t().regions_known = false;
    EXPECT_EQ(send("m20000,4"), pkt("E.cannot read guest memory at 0x20000"));
    send("qSupported:swbreak+");  // a new negotiation without it
    EXPECT_EQ(send("m20000,4"), pkt("E0e"));
}

TEST_F(DataTest, MonitorErrorsAreTextWhenGdbTakesIt) {
    send("qSupported:error-message+");
    t().monitor_output.clear();
    t().monitor_status = TargetStatus::error(EINVAL, "unknown command: frob");
    EXPECT_EQ(send("qRcmd," + text_to_hex("frob")), pkt("E.unknown command: frob"));
    // What the command printed before it failed still reaches gdb.
    t().monitor_output = "partial\n";
    EXPECT_EQ(send("qRcmd," + text_to_hex("frob")),
              pkt("O" + text_to_hex("partial\n")) + pkt("E.unknown command: frob"));
}

// LLDB's packets: what it probes at connect time, and its error strings.
TEST_F(DataTest, LldbHostAndProcessInfo) {
    EXPECT_EQ(send("qHostInfo"),
              pkt("triple:" + text_to_hex("x86_64-unknown-unknown") + ";ptrsize:8;endian:little;"));
    EXPECT_EQ(send("qProcessInfo"),
              pkt("pid:1;triple:" + text_to_hex("x86_64-unknown-unknown") + ";ptrsize:8;endian:little;"));
    EXPECT_EQ(send("qHostInfo:x"), pkt("E16"));
    EXPECT_EQ(send("QThreadSuffixSupported"), pkt(""));  // not offered: LLDB selects with Hg
    EXPECT_EQ(send("jThreadsInfo"), pkt(""));
}

TEST_F(DataTest, LldbMemoryRegionInfo) {
    EXPECT_EQ(send("qMemoryRegionInfo:10010"), pkt("start:10000;size:10000;permissions:rw;"));
    // Unmapped: a region without permissions, holding the address.
    EXPECT_EQ(send("qMemoryRegionInfo:20000"), pkt("start:20000;size:fffffffffffe0000;"));
    EXPECT_EQ(send("qMemoryRegionInfo:0"), pkt("start:0;size:10000;"));
    EXPECT_EQ(send("qMemoryRegionInfo"), pkt("E16"));
    EXPECT_EQ(send("qMemoryRegionInfo:zz"), pkt("E16"));
    t().regions_known = false;
    EXPECT_EQ(send("qMemoryRegionInfo:10010"), pkt(""));  // the target cannot say: unsupported
}

TEST_F(DataTest, LldbErrorStrings) {
    EXPECT_EQ(send("QEnableErrorStrings"), pkt("OK"));
    EXPECT_EQ(send("m20000,4"), pkt("E0e;" + text_to_hex("address above the fake memory")));
    t().monitor_output.clear();
    t().monitor_status = TargetStatus::error(EINVAL, "unknown command: frob");
    EXPECT_EQ(send("qRcmd," + text_to_hex("frob")),
              pkt("O" + text_to_hex("unknown command: frob\n")) + pkt("E16;" + text_to_hex("unknown command: frob")));
    EXPECT_EQ(send("m20000,0"), pkt(""));  // no error, no text
}

// A qSupported after QEnableErrorStrings renegotiates gdb's features only:
// error strings stay on, as LLDB asked for them once.
TEST_F(DataTest, QSupportedKeepsLldbErrorStrings) {
    EXPECT_EQ(send("QEnableErrorStrings"), pkt("OK"));
    EXPECT_NE(send("qSupported:xmlRegisters=i386").find("PacketSize="), std::string::npos);
    EXPECT_EQ(send("m20000,4"), pkt("E0e;" + text_to_hex("address above the fake memory")));
}

TEST_F(DataTest, MonitorOutputIsTheHexReply) {
    EXPECT_EQ(send("qRcmd," + text_to_hex("info regs")), pkt(text_to_hex("kvmgdb monitor\n")));
    EXPECT_EQ(t().calls.back(), "monitor info regs");
    t().monitor_output.clear();
    EXPECT_EQ(send("qRcmd," + text_to_hex("phys on")), pkt("OK"));
}

TEST_F(DataTest, MonitorErrorsPrintThenFail) {
    t().monitor_output.clear();
    t().monitor_status = TargetStatus::error(EINVAL, "unknown command: frob");
    EXPECT_EQ(send("qRcmd," + text_to_hex("frob")),
              pkt("O" + text_to_hex("unknown command: frob\n")) + pkt("E16"));
    t().monitor_status = TargetStatus::unsupported();
    EXPECT_EQ(send("qRcmd," + text_to_hex("frob")), pkt(""));
    EXPECT_EQ(send("qRcmd,zz"), pkt("E16"));  // not hex: malformed
}

TEST_F(DataTest, LongMonitorOutputGoesInOPackets) {
    start({.max_packet = 0x20, .log_packet = {}});
    no_ack();
    t().monitor_output = "0123456789abcdefghij";  // 40 hex digits > PacketSize
    std::string hex = text_to_hex(t().monitor_output);
    EXPECT_EQ(send("qRcmd," + text_to_hex("x")),
              pkt("O" + hex.substr(0, 30)) + pkt("O" + hex.substr(30)) + pkt("OK"));
}

}  // namespace
}  // namespace kvmgdb::stub::testing
