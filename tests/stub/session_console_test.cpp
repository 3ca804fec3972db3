// Session tests: StopEvent::console, the text gdb shows with a stop
// (`monitor break-on-mode-change`). "Stop Reply Packets": `O XX...` console
// output may precede the stop reply while the target runs. Byte-exact against
// the FakeTarget.
#include "tests/stub/session_harness.hpp"

namespace kvmgdb::stub::testing {
namespace {

StopEvent mode_stop() {
    StopEvent e{StopEvent::Kind::Signal, 5, 0, 0, "mode change: real mode -> protected mode"};
    e.console = "kvmgdb: mode change: real mode -> protected mode\n";
    return e;
}

class ConsoleTest : public SessionTest {
protected:
    // The stop reply the fake target's registers give for `e` (`?` renders it without console).
    std::string stop_reply_of(StopEvent e) {
        t().stop = e;
        return send("?");
    }
};

TEST_F(ConsoleTest, ConsoleTextGoesOutAsAnOPacketRightBeforeTheStopReply) {
    no_ack();
    const std::string reply = stop_reply_of(mode_stop());
    ASSERT_EQ(reply.substr(0, 4), "$T05");
    EXPECT_EQ(send("vCont;c"), "");
    ASSERT_TRUE(t().on_stop);
    t().on_stop(mode_stop());
    ASSERT_EQ(posted.size(), 1u);
    EXPECT_EQ(deliver(posted[0]), pkt("O" + text_to_hex("kvmgdb: mode change: real mode -> protected mode\n")) + reply);
    EXPECT_FALSE(session->target_running());
    // The stop itself is what `?` reports afterwards, without the text again.
    EXPECT_EQ(send("?"), reply);
}

TEST_F(ConsoleTest, ConsoleTextInAckModeIsTwoPacketsAndANackResendsTheStopReply) {
    t().stop = {StopEvent::Kind::Signal, 5, 0, 0, {}};
    const std::string reply = send("?").substr(1);  // without the `+` for `?`
    EXPECT_EQ(send("vCont;c"), "+");
    t().on_stop(mode_stop());
    EXPECT_EQ(deliver(posted.back()), pkt("O" + text_to_hex(mode_stop().console)) + reply);
    EXPECT_EQ(raw("+").bytes, "");
    // A `-` after both: what gdb waits for is the stop reply, not the text.
    EXPECT_EQ(raw("-").bytes, reply);
}

TEST_F(ConsoleTest, NoConsoleTextNoOPacket) {
    no_ack();
    const std::string reply = stop_reply_of({});
    EXPECT_EQ(send("vCont;c"), "");
    t().on_stop({});
    EXPECT_EQ(deliver(posted.back()), reply);
}

TEST_F(ConsoleTest, ConsoleTextIsNotSentWithANonStopNotification) {
    t().caps.non_stop = true;
    no_ack();
    ASSERT_EQ(send("QNonStop:1"), pkt("OK"));
    EXPECT_EQ(send("vCont;c"), pkt("OK"));
    t().on_stop(mode_stop());
    const std::string n = deliver(posted.back());
    ASSERT_FALSE(n.empty());
    EXPECT_EQ(n.substr(0, 9), "%Stop:T05");  // the notification alone, no `O` in front
    EXPECT_EQ(n.find("$O"), std::string::npos);
    EXPECT_EQ(send("vStopped"), pkt("OK"));
}

}  // namespace
}  // namespace kvmgdb::stub::testing
