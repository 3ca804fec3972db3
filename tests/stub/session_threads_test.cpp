// Session tests, part 3: several vCPUs as gdb threads in all-stop mode (thread
// lists, Hg/Hc, T, qThreadExtraInfo, qXfer:threads, stop replies naming the
// thread, vCont with per-thread actions). Byte-exact against a FakeTarget with
// three threads; non-stop mode is session_nonstop_test.cpp.
#include "tests/stub/session_harness.hpp"

namespace kvmgdb::stub::testing {
namespace {

class ThreadsTest : public SessionTest {
protected:
    void SetUp() override {
        SessionTest::SetUp();
        three_threads();
    }
    // Restart with options (e.g. multiprocess) and the same three threads.
    void restart(SessionOptions options) {
        start(std::move(options));
        three_threads();
    }
    StopEvent stop_of(unsigned tid, StopEvent::Kind kind = StopEvent::Kind::SoftwareBreak) {
        StopEvent e{kind, 5, 0, 0, {}};
        e.thread = tid;
        return e;
    }
};

TEST_F(ThreadsTest, ThreadListAndCurrentThread) {
    no_ack();
    EXPECT_EQ(send("qfThreadInfo"), pkt("m1,2,3"));
    EXPECT_EQ(send("qsThreadInfo"), pkt("l"));
    EXPECT_EQ(send("qsThreadInfo"), pkt("l"));
    EXPECT_EQ(send("qC"), pkt("QC1"));
    EXPECT_EQ(send("Hg2"), pkt("OK"));
    EXPECT_EQ(send("qC"), pkt("QC2"));
}

TEST_F(ThreadsTest, ThreadListIsPagedToPacketSize) {
    SessionOptions options;
    options.max_packet = 4;  // "m1,2" fits, ",3" does not
    restart(options);
    EXPECT_EQ(send("qfThreadInfo"), acked("m1,2"));
    EXPECT_EQ(send("qsThreadInfo"), acked("m3"));
    EXPECT_EQ(send("qsThreadInfo"), acked("l"));
}

TEST_F(ThreadsTest, HgSelectsTheThreadWhoseRegistersGdbReads) {
    no_ack();
    EXPECT_EQ(send("p10"), pkt("0001010000000000"));  // thread 1's rip
    EXPECT_EQ(send("Hg2"), pkt("OK"));
    EXPECT_EQ(t().calls.back(), "select_thread 2");
    EXPECT_EQ(send("p10"), pkt("0002010000000000"));
    EXPECT_EQ(send("g").substr(1 + 7 * 16, 16), "02f0010000000000");  // rsp, from the g block
    EXPECT_EQ(send("P10=0003010000000000"), pkt("OK"));
    EXPECT_EQ(send("Hgp1.3"), pkt("OK"));
    EXPECT_EQ(send("p10"), pkt("0003010000000000"));
    EXPECT_EQ(send("Hg2"), pkt("OK"));
    EXPECT_EQ(send("p10"), pkt("0003010000000000"));  // the P went to thread 2
    t().calls.clear();
    // 0 and -1 leave the selection alone; unknown threads and processes are E03.
    EXPECT_EQ(send("Hg0"), pkt("OK"));
    EXPECT_EQ(send("Hg-1"), pkt("OK"));
    EXPECT_TRUE(t().calls.empty());
    for (const char* p : {"Hg4", "Hgp2.1", "Hgp2.-1", "Hc9"}) EXPECT_EQ(send(p), pkt("E03")) << p;
    EXPECT_EQ(send("qC"), pkt("QC2"));
}

TEST_F(ThreadsTest, ThreadAlive) {
    no_ack();
    for (const char* p : {"T1", "T3", "Tp1.2"}) EXPECT_EQ(send(p), pkt("OK")) << p;
    for (const char* p : {"T4", "T0", "T-1", "Tp2.1", "Tp1.-1"}) EXPECT_EQ(send(p), pkt("E03")) << p;
}

TEST_F(ThreadsTest, ExtraInfoFromTheTargetOrOurOwn) {
    no_ack();
    t().extra[2] = "vCPU 1, long mode, halted";
    EXPECT_EQ(send("qThreadExtraInfo,2"), pkt(text_to_hex("vCPU 1, long mode, halted")));
    EXPECT_EQ(send("qThreadExtraInfo,1"), pkt(text_to_hex("vCPU 0 (long mode)")));  // the selected thread
    EXPECT_EQ(send("qThreadExtraInfo,3"), pkt(text_to_hex("vCPU 2")));
    EXPECT_EQ(send("qThreadExtraInfo,4"), pkt("E03"));
}

TEST_F(ThreadsTest, QXferThreadsDocument) {
    no_ack();
    t().extra[1] = "vCPU 0, long mode, running";
    t().extra[3] = "a<b & \"c\">";
    const std::string xml =
        "<?xml version=\"1.0\"?>\n<threads>\n"
        "<thread id=\"1\">vCPU 0, long mode, running</thread>\n"
        "<thread id=\"2\">vCPU 1</thread>\n"
        "<thread id=\"3\">a&lt;b &amp; &quot;c&quot;&gt;</thread>\n"
        "</threads>\n";
    EXPECT_EQ(send("qXfer:threads:read::0,fff"), pkt("l" + xml));
    // In chunks: the document of offset 0 is served to the end, even if a
    // thread's text changes in between.
    EXPECT_EQ(send("qXfer:threads:read::0,20"), pkt("m" + xml.substr(0, 0x20)));
    t().extra[1] = "vCPU 0, long mode, halted";
    EXPECT_EQ(send("qXfer:threads:read::20,fff"), pkt("l" + xml.substr(0x20)));
    EXPECT_EQ(send("qXfer:threads:read::" + format_hex_u64(xml.size()) + ",10"), pkt("l"));
    EXPECT_EQ(send("qXfer:threads:read:x:0,10"), pkt("E00"));
}

TEST_F(ThreadsTest, StopReplyNamesTheThreadAndMakesItCurrent) {
    supported();
    no_ack();
    EXPECT_EQ(send("vCont;c"), "");
    EXPECT_EQ(t().calls.back(), "resume_threads 1:c 2:c 3:c");
    ASSERT_TRUE(t().on_stop);
    t().on_stop(stop_of(2));
    ASSERT_EQ(posted.size(), 1u);
    EXPECT_EQ(deliver(posted[0]), pkt("T05thread:2;swbreak:;" + expedited(2)));
    // gdbserver's all-stop rule, which gdb relies on: the stopped thread is now
    // the general one, so a `g` without Hg reads it.
    EXPECT_EQ(send("qC"), pkt("QC2"));
    EXPECT_EQ(send("p10"), pkt("0002010000000000"));
    // `?` reports the target's last stop and selects its thread too.
    t().stop = stop_of(3, StopEvent::Kind::Signal);
    EXPECT_EQ(send("?"), pkt("T05thread:3;" + expedited(3)));
    EXPECT_EQ(send("qC"), pkt("QC3"));
}

// LLDB's QListThreadsInStopReply: after it, every stop reply lists the threads.
TEST_F(ThreadsTest, ThreadsInStopRepliesWhenLldbAsks) {
    supported();
    no_ack();
    t().stop = stop_of(3, StopEvent::Kind::Signal);
    EXPECT_EQ(send("?"), pkt("T05thread:3;" + expedited(3)));
    EXPECT_EQ(send("QListThreadsInStopReply"), pkt("OK"));
    EXPECT_EQ(send("?"), pkt("T05thread:3;" + expedited(3) + "threads:1,2,3;"));
    EXPECT_EQ(send("vCont;c"), "");
    t().on_stop(stop_of(2));
    EXPECT_EQ(deliver(posted.at(0)), pkt("T05thread:2;swbreak:;" + expedited(2) + "threads:1,2,3;"));
    // A second qSupported does not take it back (only LLDB's own packet set it).
    supported();
    EXPECT_EQ(send("?"), pkt("T05thread:3;" + expedited(3) + "threads:1,2,3;"));
}

TEST_F(ThreadsTest, MultiprocessIdsOnlyWhenBothSidesOfferThem) {
    SessionOptions options;
    options.multiprocess = true;
    restart(options);
    supported();  // gdb's qSupported says multiprocess+
    no_ack();
    EXPECT_EQ(send("qC"), pkt("QCp1.1"));
    EXPECT_EQ(send("qfThreadInfo"), pkt("mp1.1,p1.2,p1.3"));
    const std::string head = "$l<?xml version=\"1.0\"?>\n<threads>\n<thread id=\"p1.1\">vCPU";
    EXPECT_EQ(send("qXfer:threads:read::0,fff").substr(0, head.size()), head);
    EXPECT_EQ(send("vCont;c:p1.-1"), "");
    t().on_stop(stop_of(3));
    EXPECT_EQ(deliver(posted.at(0)), pkt("T05thread:p1.3;swbreak:;" + expedited(3)));
    // The option alone is not enough: this gdb did not offer multiprocess+.
    restart(options);
    no_ack();
    EXPECT_NE(send("qSupported:swbreak+").find(";multiprocess+;"), std::string::npos);
    EXPECT_EQ(send("qC"), pkt("QC1"));
}

struct VContCase {
    const char* packet;
    const char* resumed;  // the target call, or nullptr for an error reply
};

TEST_F(ThreadsTest, VContLeftmostActionPerThread) {
    no_ack();
    const VContCase cases[] = {
        {"vCont;s:2", "resume_threads 2:s"},                  // scheduler-locking on + stepi
        {"vCont;s:2;c", "resume_threads 1:c 2:s 3:c"},        // step 2, continue the rest
        {"vCont;c:3;s:3", "resume_threads 3:c"},              // the leftmost wins
        {"vCont;S0b:1;C02:3", "resume_threads 1:S0b 3:C02"},  // signals per thread
        {"vCont;s:p1.2;c:p1.-1", "resume_threads 1:c 2:s 3:c"},
        {"vCont;c:-1", "resume_threads 1:c 2:c 3:c"},
        {"vCont;r1000,2000:2", "resume_threads 2:s"},        // a range step is a step
        {"vCont;t:2;c", "resume_threads 1:c 2:c 3:c"},        // `t` ignored in all-stop
        {"vCont;c:4", nullptr},
        {"vCont;c:p2.1", nullptr},
        {"vCont;t:1", nullptr},
    };
    for (const VContCase& c : cases) {
        SCOPED_TRACE(c.packet);
        t().calls.clear();
        std::string reply = send(c.packet);
        if (!c.resumed) {
            EXPECT_EQ(reply, pkt("E16"));
            EXPECT_TRUE(t().calls.empty());
            continue;
        }
        EXPECT_EQ(reply, "");
        ASSERT_FALSE(t().calls.empty());
        EXPECT_EQ(t().calls.back(), c.resumed);
        t().on_stop(stop_of(1, StopEvent::Kind::Signal));
        EXPECT_EQ(deliver(posted.back()).substr(0, 13), "$T05thread:1;");
    }
}

TEST_F(ThreadsTest, LegacyResumeFollowsHc) {
    no_ack();
    EXPECT_EQ(send("Hc2"), pkt("OK"));
    EXPECT_EQ(send("s"), "");
    EXPECT_EQ(t().calls.back(), "resume_threads 2:s");  // only the Hc thread
    t().on_stop(stop_of(2, StopEvent::Kind::Signal));
    deliver(posted.back());
    EXPECT_EQ(send("Hc-1"), pkt("OK"));
    EXPECT_EQ(send("Hg3"), pkt("OK"));
    EXPECT_EQ(send("C0b"), "");
    EXPECT_EQ(t().calls.back(), "resume_threads 3:C0b 1:c 2:c");  // the general thread first
    t().on_stop(stop_of(1, StopEvent::Kind::Signal));
    deliver(posted.back());
    // An address sets the pc of the thread that gets the action.
    EXPECT_EQ(send("Hc2"), pkt("OK"));
    EXPECT_EQ(send("c10400"), "");
    EXPECT_EQ(t().calls.back(), "resume_threads 2:c");
    t().on_stop(stop_of(2, StopEvent::Kind::Signal));
    deliver(posted.back());
    EXPECT_EQ(send("qC"), pkt("QC2"));
    EXPECT_EQ(send("p10"), pkt("0004010000000000"));
    EXPECT_EQ(send("Hg1"), pkt("OK"));
    EXPECT_EQ(send("p10"), pkt("0001010000000000"));  // thread 1's untouched
}

TEST_F(ThreadsTest, OneThreadTargetStillGoesThroughResume) {
    // The default resume_threads forwards the one action to resume().
    t().make_threads({1});
    no_ack();
    EXPECT_EQ(send("vCont;s:1"), "");
    EXPECT_EQ(t().calls.back(), "resume step");
    ASSERT_EQ(t().actions.size(), 1u);
    EXPECT_EQ(t().actions[0], (ThreadAction{1, ResumeKind::Step, std::nullopt}));
}

}  // namespace
}  // namespace kvmgdb::stub::testing
