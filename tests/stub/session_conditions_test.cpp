// Target-side breakpoint conditions (stub/session_conditions.cpp) over the fake
// target: a hit whose bytecode is false is stepped over and resumed without a
// stop reply; a true one, one we cannot evaluate, or anything unusual is
// reported as usual.
#include <gtest/gtest.h>

#include "tests/stub/session_harness.hpp"

namespace kvmgdb::stub::testing {
namespace {

// `rdi == 3` as gdb compiles it: reg 5 (rdi), const8 3, equal, end.
constexpr const char* kRdiIs3 = "X7,26000522031327";

class ConditionsTest : public SessionTest {
protected:
    void SetUp() override {
        SessionTest::SetUp();
        no_ack();
        supported();
        t().set_reg(16, 0x10100);  // rip at the breakpoint
        t().set_reg(5, 1);         // rdi
    }
    // The hit gdb would see, as the target posts it.
    std::string hit() { return deliver({StopEvent::Kind::SoftwareBreak, 5, 0, 0, {}}); }
    std::string stepped() { return deliver({StopEvent::Kind::Signal, 5, 0, 0, {}}); }
    std::string last_calls(std::size_t n) {
        std::string s;
        for (std::size_t i = t().calls.size() - std::min(n, t().calls.size()); i < t().calls.size(); ++i)
            s += t().calls[i] + ";";
        return s;
    }
};

TEST_F(ConditionsTest, QSupportedOffersThem) {
    EXPECT_NE(send("qSupported:swbreak+").find(";ConditionalBreakpoints+"), std::string::npos);
}

TEST_F(ConditionsTest, AFalseConditionIsSteppedOverAndResumedSilently) {
    ASSERT_EQ(send(std::string("Z0,10100,1;") + kRdiIs3), pkt("OK"));
    EXPECT_EQ(send("c"), "");
    // False (rdi = 1): the breakpoint lifted, one step, no reply.
    EXPECT_EQ(hit(), "");
    EXPECT_EQ(last_calls(2), "remove_breakpoint 0;resume step;");
    // The step done: the breakpoint back, gdb's continue again.
    EXPECT_EQ(stepped(), "");
    EXPECT_EQ(last_calls(2), "insert_breakpoint 0;resume continue;");
    EXPECT_EQ(t().breakpoints.size(), 1u);
    // True (rdi = 3): gdb hears of it.
    t().set_reg(5, 3);
    std::string reply = hit();
    EXPECT_EQ(reply.substr(0, 4), "$T05");
    EXPECT_NE(reply.find("swbreak:"), std::string::npos);
}

TEST_F(ConditionsTest, AnyTrueConditionOfSeveralStops) {
    // gdb's remote.c: one `;`, the entries concatenated. `rdi == 9` then `rdi == 3`.
    ASSERT_EQ(send("Z0,10100,1;X7,26000522091327X7,26000522031327"), pkt("OK"));
    t().set_reg(5, 3);
    EXPECT_EQ(send("c"), "");
    EXPECT_EQ(hit().substr(0, 4), "$T05");
}

TEST_F(ConditionsTest, UnevaluableOrUnconditionalIsReported) {
    // 0xff is no opcode: gdb evaluates it itself.
    ASSERT_EQ(send("Z0,10100,1;X2,ff27"), pkt("OK"));
    EXPECT_EQ(send("c"), "");
    EXPECT_EQ(hit().substr(0, 4), "$T05");
    // A Z0 without cond_list makes it unconditional again.
    ASSERT_EQ(send(std::string("Z0,10100,1;") + kRdiIs3), pkt("OK"));
    ASSERT_EQ(send("Z0,10100,1"), pkt("OK"));
    EXPECT_EQ(send("c"), "");
    EXPECT_EQ(hit().substr(0, 4), "$T05");
    // And z0 forgets them (the breakpoint put back behind the session's back,
    // so that only forgotten conditions make the hit reported).
    ASSERT_EQ(send(std::string("Z0,10100,1;") + kRdiIs3), pkt("OK"));
    ASSERT_EQ(send("z0,10100,1"), pkt("OK"));
    t().breakpoints.insert({BreakpointKind::Software, 0x10100, 1});
    EXPECT_EQ(send("c"), "");
    EXPECT_EQ(hit().substr(0, 4), "$T05");
}

TEST_F(ConditionsTest, OnlyTheThreadThatHitItSteps) {
    three_threads();
    t().set_thread_reg(2, 16, 0x10100);
    t().set_thread_reg(2, 5, 1);
    ASSERT_EQ(send(std::string("Z0,10100,1;") + kRdiIs3), pkt("OK"));
    EXPECT_EQ(send("vCont;c"), "");
    EXPECT_EQ(deliver({StopEvent::Kind::SoftwareBreak, 5, 0, 0, {}, 2}), "");
    EXPECT_EQ(last_calls(2), "remove_breakpoint 0;resume_threads 2:s;");
    EXPECT_EQ(deliver({StopEvent::Kind::Signal, 5, 0, 0, {}, 2}), "");
    EXPECT_EQ(last_calls(2), "insert_breakpoint 0;resume_threads 1:c 2:c 3:c;");
}

TEST_F(ConditionsTest, ATargetThatThrowsGetsTheHitReported) {
    ASSERT_EQ(send(std::string("Z0,10100,1;") + kRdiIs3), pkt("OK"));
    t().throw_on_remove_breakpoint = true;
    EXPECT_EQ(send("c"), "");
    EXPECT_EQ(hit().substr(0, 4), "$T05");
    EXPECT_EQ(send("qC").substr(0, 4), "$QC1");  // the session goes on
}

TEST_F(ConditionsTest, ABreakpointThatCannotBePutBackIsSaidSo) {
    ASSERT_EQ(send(std::string("Z0,10100,1;") + kRdiIs3), pkt("OK"));
    EXPECT_EQ(send("c"), "");
    EXPECT_EQ(hit(), "");
    t().breakpoint_status = TargetStatus::error(ENOSPC);
    std::string reply = stepped();
    EXPECT_EQ(reply.substr(0, 2), "$O");  // why, then the step's stop
    EXPECT_NE(reply.find("$T05"), std::string::npos);
    t().breakpoint_status = TargetStatus::ok();
    // Its conditions are gdb's from now on: the next hit is reported.
    t().breakpoints.insert({BreakpointKind::Software, 0x10100, 1});
    EXPECT_EQ(send("c"), "");
    EXPECT_EQ(hit().substr(0, 4), "$T05");
}

TEST_F(ConditionsTest, OnlyAPlainContinueIsResumedSilently) {
    ASSERT_EQ(send(std::string("Z0,10100,1;") + kRdiIs3), pkt("OK"));
    EXPECT_EQ(send("C0b"), "");  // continue with a signal: it would be delivered twice
    EXPECT_EQ(hit().substr(0, 4), "$T05");
    EXPECT_EQ(send("s"), "");
    EXPECT_EQ(hit().substr(0, 4), "$T05");
}

TEST_F(ConditionsTest, ACtrlCDuringTheStepIsTheStop) {
    ASSERT_EQ(send(std::string("Z0,10100,1;") + kRdiIs3), pkt("OK"));
    EXPECT_EQ(send("c"), "");
    EXPECT_EQ(hit(), "");
    raw("\x03");
    // The step's stop answers gdb's Ctrl-C, as SIGINT; the breakpoint is back.
    EXPECT_EQ(stepped().substr(0, 4), "$T02");
    EXPECT_EQ(t().breakpoints.size(), 1u);
}

TEST_F(ConditionsTest, AStepThatStopsForAnotherReasonIsReported) {
    ASSERT_EQ(send(std::string("Z0,10100,1;") + kRdiIs3), pkt("OK"));
    EXPECT_EQ(send("c"), "");
    EXPECT_EQ(hit(), "");
    std::string reply = deliver({StopEvent::Kind::Watch, 5, 0x10200, 0, {}});
    EXPECT_EQ(reply.substr(0, 4), "$T05");
    EXPECT_NE(reply.find("watch:"), std::string::npos);
    EXPECT_EQ(t().breakpoints.size(), 1u);
}

TEST_F(ConditionsTest, ANewGdbStartsWithoutThem) {
    ASSERT_EQ(send(std::string("Z0,10100,1;") + kRdiIs3), pkt("OK"));
    session->on_disconnect();
    no_ack();
    supported();
    EXPECT_EQ(send("c"), "");
    EXPECT_EQ(hit().substr(0, 4), "$T05");
}

}  // namespace
}  // namespace kvmgdb::stub::testing
