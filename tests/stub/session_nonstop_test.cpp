// Session tests, part 4: non-stop mode ("Remote Non-Stop", "Notification
// Packets"): QNonStop, resumes answered OK, %Stop notifications drained by
// vStopped, vCont;t, `?` reporting the stopped threads, memory served while
// threads run. Byte-exact against a FakeTarget with three threads.
#include "tests/stub/session_harness.hpp"

namespace kvmgdb::stub::testing {
namespace {

// `%payload#cs`: a notification, framed like a packet but never acked.
std::string notif(std::string_view payload) {
    std::string frame = pkt(payload);
    frame[0] = '%';
    return frame;
}

class NonStopTest : public SessionTest {
protected:
    void SetUp() override {
        SessionTest::SetUp();
        three_threads();
        t().caps.non_stop = true;
        t().stop = event(1, StopEvent::Kind::Signal);
        supported();
        no_ack();
    }
    void enter() { ASSERT_EQ(send("QNonStop:1"), pkt("OK")); }
    static StopEvent event(unsigned tid, StopEvent::Kind kind = StopEvent::Kind::SoftwareBreak, int sig = 5) {
        StopEvent e{kind, sig, 0, 0, {}};
        e.thread = tid;
        return e;
    }
    // The target reports a stop (from its vCPU thread) and the transport delivers it.
    std::string stop(StopEvent e) {
        t().on_stop(std::move(e));
        return deliver(posted.back());
    }
};

TEST_F(NonStopTest, OfferedOnlyWhenTheTargetCan) {
    EXPECT_EQ(send("vCont?"), pkt("vCont;c;C;s;S;t"));
    t().caps.non_stop = false;
    EXPECT_EQ(send("QNonStop:1"), pkt(""));  // not offered: unsupported
    EXPECT_EQ(send("vCont?"), pkt("vCont;c;C;s;S"));
    EXPECT_EQ(send("QNonStop:0"), pkt("OK"));  // all-stop is always possible
    EXPECT_EQ(t().calls.back(), "set_non_stop 0");
    t().caps.non_stop = true;
    EXPECT_EQ(send("QNonStop:1"), pkt("OK"));
    EXPECT_EQ(t().calls.back(), "set_non_stop 1");
}

TEST_F(NonStopTest, ResumeRepliesOkAndStopsArriveAsNotifications) {
    enter();
    EXPECT_EQ(send("vCont;c:2"), pkt("OK"));
    EXPECT_EQ(t().calls.back(), "resume_threads 2:c");
    EXPECT_TRUE(session->target_running());
    // gdb goes on talking while thread 2 runs; thread 1 is stopped and readable.
    EXPECT_EQ(send("qC"), pkt("QC1"));
    EXPECT_EQ(send("p10"), pkt("0001010000000000"));
    EXPECT_EQ(send("Hg2"), pkt("OK"));
    EXPECT_EQ(send("p10"), pkt("E10"));  // a running thread's registers: EBUSY
    EXPECT_EQ(send("g"), pkt("E10"));
    EXPECT_EQ(send("P10=0000000000000000"), pkt("E10"));
    EXPECT_EQ(send("qRcmd," + text_to_hex("info mode")), pkt("E10"));
    EXPECT_EQ(send("Hg1"), pkt("OK"));
    // Threads already running are left alone.
    EXPECT_EQ(send("vCont;c"), pkt("OK"));
    EXPECT_EQ(t().calls.back(), "resume_threads 1:c 3:c");
    // The first stop is announced; its registers are thread 2's, and the
    // general thread stays what gdb chose.
    t().calls.clear();
    EXPECT_EQ(stop(event(2)), notif("Stop:T05thread:2;swbreak:;" + expedited(2)));
    EXPECT_EQ(t().calls, (std::vector<std::string>{"select_thread 2", "select_thread 1"}));
    // While gdb has not acknowledged it, later stops are queued silently.
    EXPECT_EQ(stop(event(3, StopEvent::Kind::Signal, 11)), "");
    EXPECT_EQ(send("qC"), pkt("QC1"));
    EXPECT_EQ(send("vStopped"), pkt("T0bthread:3;" + expedited(3)));
    EXPECT_EQ(send("vStopped"), pkt("OK"));
    EXPECT_EQ(send("vStopped"), pkt("OK"));
    // Queue empty again: the next stop is announced.
    EXPECT_EQ(stop(event(1, StopEvent::Kind::HardwareBreak)), notif("Stop:T05thread:1;hwbreak:;" + expedited(1)));
    EXPECT_FALSE(session->target_running());
    EXPECT_EQ(send("vStopped"), pkt("OK"));
}

TEST_F(NonStopTest, NotificationsAreNeverAckedNorResent) {
    start();
    t().make_threads({1, 2});
    t().caps.non_stop = true;
    EXPECT_EQ(send("QNonStop:1"), acked("OK"));
    EXPECT_EQ(send("vCont;c:2"), acked("OK"));
    t().on_stop(event(2, StopEvent::Kind::Signal));
    std::string n = deliver(posted.back());
    ASSERT_EQ(n.substr(0, 21), "%Stop:T05thread:2;06:");
    ASSERT_FALSE(log.empty());
    EXPECT_EQ(log.back().first, "->");  // --log-packets shows it as sent
    EXPECT_EQ(log.back().second, n.substr(0, n.size() - 3));
    EXPECT_EQ(raw("-").bytes, pkt("OK"));  // a `-` resends the last reply, not the notification
}

TEST_F(NonStopTest, VContTStopsOnlyRunningThreads) {
    enter();
    EXPECT_EQ(send("vCont;c:2"), pkt("OK"));
    t().calls.clear();
    EXPECT_EQ(send("vCont;t:2"), pkt("OK"));
    EXPECT_EQ(send("vCont;t:1"), pkt("OK"));  // already stopped: nothing to do, no report
    EXPECT_EQ(send("vCont;t:5"), pkt("E16"));
    EXPECT_EQ(t().calls, (std::vector<std::string>{"stop_thread 2"}));
    // "regardless of whether the target uses some other signal": signal 0.
    EXPECT_EQ(stop(event(2, StopEvent::Kind::Signal, 0)), notif("Stop:T00thread:2;" + expedited(2)));
    // One vCont can stop one thread and resume another.
    EXPECT_EQ(send("vStopped"), pkt("OK"));
    EXPECT_EQ(send("vCont;c:3"), pkt("OK"));
    t().calls.clear();
    EXPECT_EQ(send("vCont;t:3;c:1"), pkt("OK"));
    EXPECT_EQ(t().calls, (std::vector<std::string>{"stop_thread 3", "resume_threads 1:c"}));
}

TEST_F(NonStopTest, HaltReasonReportsEveryStoppedThread) {
    enter();
    EXPECT_EQ(send("vCont;c:2;c:3"), pkt("OK"));
    EXPECT_EQ(stop(event(3)), notif("Stop:T05thread:3;swbreak:;" + expedited(3)));
    // `?` abandons the sequence in progress and starts one over every stopped
    // thread, told before or not: 1 (the target's last stop) in the `?` sequence
    // itself, then 3 as a %Stop sequence of its own once that one ended (gdb 13
    // dies on a second stop while it connects: session_threads.cpp), as a plain stop
    // (its breakpoint was told before: a signal in a %Stop would be news to gdb).
    EXPECT_EQ(send("?"), pkt("T05thread:1;" + expedited(1)));
    EXPECT_EQ(send("vStopped"), pkt("OK") + notif("Stop:T00thread:3;" + expedited(3)));
    EXPECT_EQ(send("vStopped"), pkt("OK"));
    // Every thread running: OK.
    EXPECT_EQ(send("vCont;c:1"), pkt("OK"));
    EXPECT_EQ(stop(event(2, StopEvent::Kind::Signal, 0)), notif("Stop:T00thread:2;" + expedited(2)));
    EXPECT_EQ(send("vCont;c:2;c:3"), pkt("OK"));
    EXPECT_EQ(send("?"), pkt("OK"));  // all running
    EXPECT_EQ(send("vStopped"), pkt("OK"));
}

TEST_F(NonStopTest, HaltReasonForThreadsNeverReported) {
    enter();
    EXPECT_EQ(send("?"), pkt("T05thread:1;" + expedited(1)));
    EXPECT_EQ(send("vStopped"), pkt("OK") + notif("Stop:T00thread:2;" + expedited(2)));
    EXPECT_EQ(send("vStopped"), pkt("T00thread:3;" + expedited(3)));
    EXPECT_EQ(send("vStopped"), pkt("OK"));
    EXPECT_EQ(send("qC"), pkt("QC1"));  // the selection is gdb's, not moved by `?`
}

// A thread that stops while the `?` sequence is drained joins it; the threads held
// back from `?` follow once it is over.
TEST_F(NonStopTest, HaltReasonThenANewStopThenTheHeldBackThreads) {
    enter();
    EXPECT_EQ(send("vCont;c:2"), pkt("OK"));
    EXPECT_EQ(send("?"), pkt("T05thread:1;" + expedited(1)));
    EXPECT_EQ(stop(event(2)), "");  // queued behind the `?` reply: no %Stop while one is unacknowledged
    EXPECT_EQ(send("vStopped"), pkt("T05thread:2;swbreak:;" + expedited(2)));
    EXPECT_EQ(send("vStopped"), pkt("OK") + notif("Stop:T00thread:3;" + expedited(3)));
    EXPECT_EQ(send("vStopped"), pkt("OK"));
}

TEST_F(NonStopTest, MemoryWhileRunningOnlyWhenTheTargetCan) {
    enter();
    EXPECT_EQ(send("vCont;c:3"), pkt("OK"));
    EXPECT_EQ(send("m10000,4"), pkt("E10"));
    EXPECT_EQ(send("M10000,1:ff"), pkt("E10"));
    EXPECT_EQ(send("Z0,10000,1"), pkt("E10"));
    t().caps.memory_while_running = true;
    EXPECT_EQ(send("m10000,4"), pkt("00010203"));
    EXPECT_EQ(send("M10000,1:ff"), pkt("OK"));
    EXPECT_EQ(send("Z0,10000,1"), pkt("OK"));
    EXPECT_EQ(send("z0,10000,1"), pkt("OK"));
    t().caps.memory_while_running = false;
    stop(event(3, StopEvent::Kind::Signal));
    EXPECT_EQ(send("m10000,4"), pkt("ff010203"));  // nothing runs: always served
}

TEST_F(NonStopTest, InterruptStopsTheRunningThreads) {
    enter();
    EXPECT_EQ(send("vCtrlC"), pkt("OK"));  // nothing runs: nothing to interrupt
    EXPECT_NE(t().calls.back(), "interrupt");
    EXPECT_EQ(send("vCont;c:2"), pkt("OK"));
    EXPECT_EQ(raw("\x03").bytes, "");
    EXPECT_EQ(t().calls.back(), "interrupt");
    t().calls.clear();
    EXPECT_EQ(send("vCtrlC"), pkt("OK"));
    EXPECT_EQ(t().calls, (std::vector<std::string>{"interrupt"}));
}

TEST_F(NonStopTest, ExitEndsEveryThread) {
    enter();
    EXPECT_EQ(send("vCont;c"), pkt("OK"));
    StopEvent exited{StopEvent::Kind::Exited, 0, 0, 3, {}};
    EXPECT_EQ(stop(exited), notif("Stop:W03"));
    EXPECT_FALSE(session->target_running());
    EXPECT_EQ(send("vStopped"), pkt("OK"));
    EXPECT_EQ(send("vCont;c"), pkt("E03"));
    EXPECT_EQ(stop(event(2)), "");  // nothing after the end
}

TEST_F(NonStopTest, LeavingNonStopStopsEverythingSilently) {
    enter();
    EXPECT_EQ(send("vCont;c:2"), pkt("OK"));
    EXPECT_EQ(send("QNonStop:0"), pkt("OK"));
    EXPECT_EQ(t().calls.back(), "set_non_stop 0");
    EXPECT_FALSE(session->target_running());
    // All-stop again: a resume's reply is the stop reply.
    EXPECT_EQ(send("vCont;c"), "");
    EXPECT_EQ(stop(event(2)), pkt("T05thread:2;swbreak:;" + expedited(2)));
}

TEST_F(NonStopTest, DisconnectReturnsToAllStop) {
    enter();
    EXPECT_EQ(send("vCont;c:2"), pkt("OK"));
    session->on_disconnect();
    EXPECT_EQ(t().calls.back(), "remove_all_breakpoints");
    EXPECT_EQ(t().calls[t().calls.size() - 2], "set_non_stop 0");
    EXPECT_FALSE(session->target_running());
    // The next gdb starts in all-stop mode, with acks.
    EXPECT_EQ(send("vCont;c"), "+");
    EXPECT_EQ(stop(event(3)), pkt("T05thread:3;" + expedited(3)));
}

}  // namespace
}  // namespace kvmgdb::stub::testing
