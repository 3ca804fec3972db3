// Session tests, part 1: the wire (acks, retransmission, framing across reads),
// run control and stop replies, threads, detach/kill, and error handling.
// Byte-exact against a FakeTarget; part 2 (data packets) is
// session_data_test.cpp.
#include "tests/stub/session_harness.hpp"

namespace kvmgdb::stub::testing {
namespace {

// x86-64 stop registers used below: rbp=6, rsp=7, rip=16 (0x10).
constexpr const char* kExpedited64 = "06:00f8010000000000;07:00f0010000000000;10:1000010000000000;";

class StopTest : public SessionTest {
protected:
    void SetUp() override {
        SessionTest::SetUp();
        t().set_reg(16, 0x10010);
        t().set_reg(7, 0x1f000);
        t().set_reg(6, 0x1f800);
    }
};

TEST_F(SessionTest, AcksEachPacketUntilNoAckMode) {
    EXPECT_EQ(send("qAttached"), "+$1#31");
    EXPECT_EQ(send("QStartNoAckMode"), "+$OK#9a");
    EXPECT_EQ(raw("+").bytes, "");  // gdb acks our OK; nothing to say
    EXPECT_EQ(send("qAttached"), "$1#31");
}

TEST_F(SessionTest, BadChecksumIsNackedThenDroppedInNoAckMode) {
    EXPECT_EQ(raw("$qAttached#00").bytes, "-");
    EXPECT_EQ(send("qAttached"), "+$1#31");  // gdb's retransmission works
    no_ack();
    EXPECT_EQ(raw("$qAttached#00").bytes, "");
    EXPECT_EQ(send("qC"), pkt("QC1"));
}

TEST_F(SessionTest, NackRetransmitsLastReplyAndAckIsIgnored) {
    EXPECT_EQ(raw("-").bytes, "");  // nothing sent yet: nothing to resend
    EXPECT_EQ(send("qC"), acked("QC1"));
    EXPECT_EQ(raw("-").bytes, pkt("QC1"));
    EXPECT_EQ(raw("-").bytes, pkt("QC1"));
    EXPECT_EQ(raw("+").bytes, "");
}

TEST_F(SessionTest, PacketSplitAcrossReads) {
    std::string frame = pkt("qAttached:1");
    std::string out;
    for (char c : frame) out += raw(std::string_view(&c, 1)).bytes;
    EXPECT_EQ(out, acked("1"));
}

TEST_F(SessionTest, TwoPacketsInOneRead) {
    EXPECT_EQ(raw(pkt("qC") + "+" + pkt("qfThreadInfo")).bytes, acked("QC1") + acked("m1"));
}

TEST_F(SessionTest, QSupportedFollowsCapabilities) {
    EXPECT_EQ(send("qSupported:swbreak+;hwbreak+"),
              acked("PacketSize=10000;QStartNoAckMode+;qXfer:features:read+;qXfer:threads:read+;swbreak+;"
                    "hwbreak+;vContSupported+;ConditionalBreakpoints+;binary-upload+;error-message+;kvmgdb-linear-pc+"));
    SessionOptions options;
    options.max_packet = 0x4000;
    start(options);
    t().caps.hardware_breakpoints = false;
    EXPECT_EQ(send("qSupported"),
              acked("PacketSize=4000;QStartNoAckMode+;qXfer:features:read+;qXfer:threads:read+;swbreak+;"
                    "vContSupported+;ConditionalBreakpoints+;binary-upload+;error-message+;kvmgdb-linear-pc+"));
    // multiprocess+ and QNonStop+ only when offered (the option, the capability).
    options.multiprocess = true;
    start(options);
    t().caps.non_stop = true;
    EXPECT_EQ(send("qSupported:multiprocess+"),
              acked("PacketSize=4000;QStartNoAckMode+;qXfer:features:read+;qXfer:threads:read+;multiprocess+;"
                    "QNonStop+;swbreak+;hwbreak+;vContSupported+;ConditionalBreakpoints+;binary-upload+;error-message+;"
                    "kvmgdb-linear-pc+"));
    // Target-side conditions need a single step to go on past a false one.
    start(options);
    t().caps.single_step = false;
    EXPECT_EQ(send("qSupported").find("ConditionalBreakpoints+"), std::string::npos);
}

TEST_F(StopTest, HaltReasonReportsLastStopWithExpeditedRegisters) {
    supported();
    no_ack();
    t().stop = {StopEvent::Kind::SoftwareBreak, 5, 0, 0, {}};
    EXPECT_EQ(send("?"), pkt(std::string("T05thread:1;swbreak:;") + kExpedited64));
    t().stop = {StopEvent::Kind::HardwareBreak, 5, 0, 0, {}};
    EXPECT_EQ(send("?"), pkt(std::string("T05thread:1;hwbreak:;") + kExpedited64));
    t().stop = {StopEvent::Kind::Signal, 11, 0, 0, {}};
    EXPECT_EQ(send("?"), pkt(std::string("T0bthread:1;") + kExpedited64));
}

TEST_F(StopTest, SwbreakIsOmittedWhenGdbDidNotAskForIt) {
    t().stop = {StopEvent::Kind::SoftwareBreak, 5, 0, 0, {}};
    EXPECT_EQ(send("?"), acked(std::string("T05thread:1;") + kExpedited64));
}

TEST_F(StopTest, WatchpointsExitAndTermination) {
    no_ack();
    t().stop = {StopEvent::Kind::AccessWatch, 5, 0x1f008, 0, {}};
    EXPECT_EQ(send("?"), pkt(std::string("T05thread:1;awatch:1f008;") + kExpedited64));
    t().stop = {StopEvent::Kind::Watch, 5, 0x10, 0, {}};
    EXPECT_EQ(send("?"), pkt(std::string("T05thread:1;watch:10;") + kExpedited64));
    t().stop = {StopEvent::Kind::Exited, 0, 0, 3, {}};
    EXPECT_EQ(send("?"), pkt("W03"));
    t().stop = {StopEvent::Kind::Terminated, 9, 0, 0, {}};
    EXPECT_EQ(send("?"), pkt("X09"));
}

TEST_F(SessionTest, RealModeExpeditesI386Registers) {
    start({}, Arch::I8086);
    t().set_reg(8, 0x7c00);  // eip
    t().set_reg(4, 0x6ff0);  // esp
    t().set_reg(5, 0x6ff8);  // ebp
    EXPECT_EQ(send("?"), acked("T05thread:1;04:f06f0000;05:f86f0000;08:007c0000;"));
    EXPECT_EQ(send("qThreadExtraInfo,1"), acked(text_to_hex("vCPU 0 (real mode)")));
}

TEST_F(StopTest, VContContinueThenStopReply) {
    supported();
    no_ack();
    EXPECT_EQ(send("vCont?"), pkt("vCont;c;C;s;S"));
    EXPECT_EQ(send("vCont;c"), "");  // the reply is the stop reply, later
    EXPECT_TRUE(session->target_running());
    EXPECT_EQ(t().calls.back(), "resume continue");
    ASSERT_TRUE(t().on_stop);
    t().on_stop({StopEvent::Kind::SoftwareBreak, 5, 0, 0, {}});
    ASSERT_EQ(posted.size(), 1u);  // the target's callback reached post_stop
    EXPECT_EQ(deliver(posted[0]), pkt(std::string("T05thread:1;swbreak:;") + kExpedited64));
    EXPECT_FALSE(session->target_running());
    EXPECT_EQ(deliver(posted[0]), "");  // a stray second stop is dropped
}

TEST_F(SessionTest, VContFirstActionForOurThreadWins) {
    no_ack();
    EXPECT_EQ(send("vCont;c:2;s:1;c"), "");
    EXPECT_EQ(t().calls.back(), "resume step");
    deliver({});
    EXPECT_EQ(send("vCont;t:1;C0b"), "");
    EXPECT_EQ(t().calls.back(), "resume continue");
    EXPECT_EQ(t().resume_signal, std::optional<std::uint8_t>(11));
    deliver({});
    EXPECT_EQ(send("vCont;c:p1.-1"), "");
    deliver({});
    EXPECT_EQ(send("vCont;c:2"), pkt("E16"));  // no action for thread 1
    EXPECT_FALSE(session->target_running());
}

TEST_F(SessionTest, LegacyContinueWithAddressSetsPcFirst) {
    no_ack();
    EXPECT_EQ(send("c10020"), "");
    EXPECT_EQ(t().reg(16), 0x10020u);
    EXPECT_EQ(t().calls.back(), "resume continue");
    deliver({});
    EXPECT_EQ(send("S02;10040"), "");
    EXPECT_EQ(t().reg(16), 0x10040u);
    EXPECT_EQ(t().calls.back(), "resume step");
    EXPECT_EQ(t().resume_signal, std::optional<std::uint8_t>(2));
}

TEST_F(SessionTest, NoSingleStepCapability) {
    t().caps.single_step = false;
    no_ack();
    EXPECT_EQ(send("vCont?"), pkt("vCont;c;C"));
    EXPECT_EQ(send("s"), pkt("E16"));
    EXPECT_FALSE(session->target_running());
}

TEST_F(SessionTest, CtrlCWhileRunningInterrupts) {
    no_ack();
    send("vCont;c");
    EXPECT_EQ(raw("\x03").bytes, "");
    EXPECT_EQ(t().calls.back(), "interrupt");
    EXPECT_EQ(deliver({StopEvent::Kind::Signal, 2, 0, 0, {}}).substr(0, 13), "$T02thread:1;");
}

TEST_F(SessionTest, PacketAndCtrlCInOneRead) {
    EXPECT_EQ(raw(pkt("vCont;c") + "\x03").bytes, "+");
    ASSERT_GE(t().calls.size(), 2u);
    EXPECT_EQ(t().calls[t().calls.size() - 2], "resume continue");
    EXPECT_EQ(t().calls.back(), "interrupt");
}

TEST_F(SessionTest, CtrlCWhileStoppedIsIgnored) {
    // It crossed our stop reply on the wire; a second stop reply would be
    // taken by gdb as the answer to its next packet.
    EXPECT_EQ(raw("\x03").bytes, "");
    EXPECT_TRUE(t().calls.empty());
    EXPECT_EQ(send("vCtrlC"), acked("OK"));
}

TEST_F(SessionTest, PacketsWhileRunningGetEbusyButVCtrlCWorks) {
    no_ack();
    send("vCont;c");
    EXPECT_EQ(send("g"), pkt("E10"));
    EXPECT_EQ(send("vCtrlC"), pkt("OK"));
    EXPECT_EQ(t().calls.back(), "interrupt");
    EXPECT_TRUE(session->target_running());
}

TEST_F(SessionTest, NoResumeAfterExit) {
    no_ack();
    send("vCont;c");
    EXPECT_EQ(deliver({StopEvent::Kind::Exited, 0, 0, 7, {}}), pkt("W07"));
    EXPECT_EQ(send("vCont;c"), pkt("E03"));
}

TEST_F(SessionTest, ThreadPackets) {
    no_ack();
    EXPECT_EQ(send("qfThreadInfo"), pkt("m1"));
    EXPECT_EQ(send("qsThreadInfo"), pkt("l"));
    EXPECT_EQ(send("qC"), pkt("QC1"));
    EXPECT_EQ(send("Hg0"), pkt("OK"));
    EXPECT_EQ(send("Hc-1"), pkt("OK"));
    EXPECT_EQ(send("Hg1"), pkt("OK"));
    EXPECT_EQ(send("Hg2"), pkt("E03"));
    EXPECT_EQ(send("T1"), pkt("OK"));
    EXPECT_EQ(send("T2"), pkt("E03"));
    EXPECT_EQ(send("qThreadExtraInfo,1"), pkt(text_to_hex("vCPU 0 (long mode)")));
    EXPECT_EQ(send("qThreadExtraInfo,2"), pkt("E03"));
    EXPECT_EQ(send("qAttached"), pkt("1"));
}

// "Packets", T and thread-id syntax: 0 (any) and -1 (all) are not a thread that
// can be alive; with multiprocess ids the pid counts too (ours is 1).
TEST_F(SessionTest, ThreadIdsNameOurPidAndOneThread) {
    no_ack();
    EXPECT_EQ(send("T0"), pkt("E03"));
    EXPECT_EQ(send("T-1"), pkt("E03"));
    EXPECT_EQ(send("Tp1.1"), pkt("OK"));
    EXPECT_EQ(send("Tp2.1"), pkt("E03"));
    EXPECT_EQ(send("Tp1.2"), pkt("E03"));
    EXPECT_EQ(send("Tp1.0"), pkt("E03"));
    EXPECT_EQ(send("Hgp1.1"), pkt("OK"));
    EXPECT_EQ(send("Hgp2.1"), pkt("E03"));
    EXPECT_EQ(send("Hcp2.-1"), pkt("E03"));
    EXPECT_EQ(send("Hgp-1.-1"), pkt("OK"));
    EXPECT_EQ(send("qThreadExtraInfo,p2.1"), pkt("E03"));
    EXPECT_EQ(send("vCont;c:p2.1"), pkt("E16"));
    EXPECT_FALSE(session->target_running());
    EXPECT_EQ(send("vCont;c:p1.1"), "");
    EXPECT_TRUE(session->target_running());
}

TEST_F(SessionTest, EmptyRepliesForWhatWeDoNotOffer) {
    for (const char* p : {"qOffsets", "qSymbol::", "vMustReplyEmpty", "qTStatus", "vFile:open:6a", "!",
                          "QThreadEvents:1", "qXfer:auxv:read::0,100"}) {
        EXPECT_EQ(send(p), "+$#00") << p;
    }
}

TEST_F(SessionTest, MalformedPacketGetsEinvalAndSessionGoesOn) {
    EXPECT_EQ(send("m10000"), acked("E16"));
    EXPECT_EQ(send("Z0,q,1"), acked("E16"));
    EXPECT_EQ(send("qC"), acked("QC1"));
}

TEST_F(SessionTest, GarbageNeverEndsTheSession) {
    // Known packet names with random tails: every one gets some reply (or a
    // resume), none throws, and the session still answers afterwards.
    const char* heads[] = {"m", "M", "X", "p", "P", "G", "Z", "z", "H", "T", "c", "S", "vCont;",
                           "qXfer:features:read:", "qRcmd,", "qSupported:", "qThreadExtraInfo,"};
    const char alphabet[] = "0123456789abcdefxX,:;=-p.";
    std::uint32_t seed = 12345;
    auto next = [&seed] { return seed = seed * 1103515245u + 12345u, seed >> 16; };
    no_ack();
    for (int i = 0; i < 2000; ++i) {
        std::string p = heads[next() % std::size(heads)];
        for (auto n = next() % 24; n > 0; --n) p += alphabet[next() % (sizeof alphabet - 1)];
        std::string out;
        ASSERT_NO_THROW(out = send(p)) << p;
        if (session->target_running()) {
            EXPECT_EQ(out, "") << p;
            deliver({});
        } else {
            EXPECT_EQ(out.substr(0, 1), "$") << p;
        }
    }
    EXPECT_EQ(send("qC"), pkt("QC1"));
}

TEST_F(SessionTest, TargetExceptionBecomesEio) {
    t().throw_on_read_registers = true;
    EXPECT_EQ(send("g"), acked("E05"));
    t().throw_on_read_registers = false;
    EXPECT_EQ(send("qC"), acked("QC1"));
}

TEST_F(SessionTest, DetachRepliesAndCloses) {
    auto out = raw(pkt("D"));
    EXPECT_EQ(out.bytes, acked("OK"));
    EXPECT_TRUE(out.close && out.detached && !out.kill);
    EXPECT_EQ(t().calls.back(), "detach");
    EXPECT_EQ(raw(pkt("qC")).bytes, "");  // the connection is over
}

TEST_F(SessionTest, KillDoesNotReply) {
    auto out = raw(pkt("k") + pkt("qC"));
    EXPECT_EQ(out.bytes, "+");
    EXPECT_TRUE(out.close && out.kill && !out.detached);
    EXPECT_EQ(t().calls.back(), "kill");
}

// LLDB (the client that asked qHostInfo) waits for k's reply: lldb-server's X09.
TEST_F(SessionTest, KillRepliesToLldb) {
    no_ack();
    send("qHostInfo");
    send("qSupported:xmlRegisters=i386");  // renegotiates gdb's features, not this
    auto out = raw(pkt("k"));
    EXPECT_EQ(out.bytes, pkt("X09"));
    EXPECT_TRUE(out.close && out.kill);
}

TEST_F(SessionTest, VKillRepliesOk) {
    no_ack();
    auto out = raw(pkt("vKill;1"));
    EXPECT_EQ(out.bytes, pkt("OK"));
    EXPECT_TRUE(out.close && out.kill);
    EXPECT_EQ(t().calls.back(), "kill");
}

TEST_F(SessionTest, DisconnectWhileRunningInterruptsAndSwallowsTheStop) {
    no_ack();
    send("vCont;c");
    session->on_disconnect();
    EXPECT_EQ(t().calls.back(), "interrupt");
    EXPECT_EQ(deliver({StopEvent::Kind::Signal, 2, 0, 0, {}}), "");
    EXPECT_EQ(t().calls.back(), "remove_all_breakpoints");  // once stopped
    EXPECT_FALSE(session->target_running());
    EXPECT_EQ(send("qC"), acked("QC1"));  // a new gdb starts in ack mode
}

TEST_F(SessionTest, DisconnectWhileStoppedRemovesTheOldGdbsBreakpoints) {
    no_ack();
    send("Z0,1000,1");
    session->on_disconnect();
    EXPECT_EQ(t().calls.back(), "remove_all_breakpoints");
    EXPECT_FALSE(session->target_running());
}

// A new gdb has said nothing about swbreak/hwbreak until its own qSupported:
// the old gdb's features must not leak into the new connection's stop replies.
TEST_F(StopTest, ANewConnectionStartsWithoutTheOldGdbsFeatures) {
    supported();
    no_ack();
    t().stop = {StopEvent::Kind::SoftwareBreak, 5, 0, 0, {}};
    EXPECT_EQ(send("?"), pkt(std::string("T05thread:1;swbreak:;") + kExpedited64));
    session->on_disconnect();
    EXPECT_EQ(send("?"), acked(std::string("T05thread:1;") + kExpedited64));
    t().stop = {StopEvent::Kind::HardwareBreak, 5, 0, 0, {}};
    EXPECT_EQ(send("?"), acked(std::string("T05thread:1;") + kExpedited64));
    supported();
    EXPECT_EQ(send("?"), acked(std::string("T05thread:1;hwbreak:;") + kExpedited64));
    // And a qSupported without them turns them off again.
    send("qSupported:multiprocess+");
    EXPECT_EQ(send("?"), acked(std::string("T05thread:1;") + kExpedited64));
}

TEST_F(StopTest, ANewConnectionAfterARunningOneStartsWithoutItsFeatures) {
    supported();
    no_ack();
    send("vCont;c");
    session->on_disconnect();
    EXPECT_EQ(deliver({StopEvent::Kind::SoftwareBreak, 5, 0, 0, {}}), "");
    t().stop = {StopEvent::Kind::SoftwareBreak, 5, 0, 0, {}};
    EXPECT_EQ(send("?"), acked(std::string("T05thread:1;") + kExpedited64));
}

// Frames that arrived whole but can never be accepted get an E reply, in both
// ack modes (a `-` would only make gdb resend the same bytes; silence would
// leave it waiting for its timeout). Corrupt ones stay `-` / dropped.
TEST_F(SessionTest, OverlongPacketsGetAnErrorReply) {
    start({.max_packet = 0x10, .log_packet = {}});
    const std::string big(0x10 + 1024 + 1, 'q');  // past the decoder's cap
    EXPECT_EQ(raw(pkt(big)).bytes, "+" + pkt("E5a"));
    EXPECT_EQ(send("qC"), acked("QC1"));
    no_ack();
    EXPECT_EQ(raw(pkt(big)).bytes, pkt("E5a"));
    // No `#` at all: the bytes are discarded up to the next `$`, then answered.
    std::string stream(10 * 1024 * 1024, 'm');
    EXPECT_EQ(raw("$" + stream).bytes, "");
    EXPECT_EQ(raw(pkt("qC")).bytes, pkt("E5a") + pkt("QC1"));
    EXPECT_EQ(send("qC"), pkt("QC1"));
}

TEST_F(SessionTest, BadEscapesAndRunLengthsGetAnErrorReply) {
    std::string body = "X10000,1:}";
    EXPECT_EQ(raw("$" + body + "#00").bytes, "-");  // corrupt (bad sum): gdb resends
    char sum[3];
    std::snprintf(sum, sizeof sum, "%02x", checksum(body));
    EXPECT_EQ(raw("$" + body + "#" + sum).bytes, "+" + pkt("E16"));
    EXPECT_EQ(raw("$*a#" + std::string("8b")).bytes, "+" + pkt("E16"));
    no_ack();
    EXPECT_EQ(raw("$" + body + "#" + sum).bytes, pkt("E16"));
    EXPECT_EQ(send("qC"), pkt("QC1"));
}

TEST_F(SessionTest, LogsEveryPacketInAndOut) {
    send("qC");
    raw("$x#00");
    using Entry = std::pair<std::string, std::string>;
    std::vector<Entry> want{{"<-", "qC"}, {"->", "QC1"}, {"<-", "BadPacket{checksum mismatch}"}};
    EXPECT_EQ(log, want);
}

}  // namespace
}  // namespace kvmgdb::stub::testing
