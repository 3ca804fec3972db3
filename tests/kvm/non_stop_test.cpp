// Non-stop mode on KVM ("Remote Non-Stop", stub/debug_target.hpp NON-STOP): one vCPU
// stops while the others run, memory and breakpoints are served meanwhile, and the
// guest's end is reported once. smp64.elf: every vCPU counts in counter[index],
// vCPU 1 alone calls vcpu1_work. In DebugRun so that TSan runs them too.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "kvm_test_support.hpp"

using namespace kvmgdb;
using namespace kvmgdb::kvm_test;
using debug::KvmTarget;
using stub::BreakpointKind;
using stub::ResumeKind;
using stub::StopEvent;

namespace {

// The stops a non-stop target reports, from whichever vCPU thread, in order.
class Stops {
public:
    KvmTarget::StopHandler handler() {
        return [this](StopEvent ev) {
            std::lock_guard lock(mu_);
            events_.push_back(std::move(ev));
            cv_.notify_all();
        };
    }
    // The next stop, or nullopt after `timeout`.
    std::optional<StopEvent> next(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
        std::unique_lock lock(mu_);
        if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
        StopEvent ev = std::move(events_.front());
        events_.pop_front();
        return ev;
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<StopEvent> events_;
};

std::vector<stub::ThreadAction> continue_threads(std::initializer_list<unsigned> tids) {
    std::vector<stub::ThreadAction> actions;
    for (unsigned tid : tids) actions.push_back({tid, ResumeKind::Continue, std::nullopt});
    return actions;
}

struct SmpGuest {
    Guest g;
    KvmTarget& t;
    explicit SmpGuest(unsigned cpus) : g(start("smp64.elf", std::nullopt, hlt_forced(), cpus)), t(*g.target) {}

    // Through the target, while vCPUs run: what non-stop mode offers gdb.
    std::uint64_t read64(std::uint64_t addr) {
        std::uint8_t b[8] = {};
        EXPECT_EQ(t.read_memory(addr, std::span<std::uint8_t>(b, 8)), 8u);
        std::uint64_t v = 0;
        for (int k = 0; k < 8; ++k) v |= std::uint64_t(b[k]) << (8 * k);
        return v;
    }
    void write64(const char* sym, std::uint64_t v) {
        std::uint8_t b[8];
        for (int i = 0; i < 8; ++i) b[i] = std::uint8_t(v >> (8 * i));
        ASSERT_EQ(t.write_memory(g.at(sym), std::span<const std::uint8_t>(b, 8)), 8u);
    }
    std::uint64_t counter(unsigned i) { return read64(g.at("counter") + 8 * i); }
    // Whether vCPU i counts on (over 50 ms).
    bool counting(unsigned i) {
        const std::uint64_t before = counter(i);
        return wait_until([&] { return counter(i) > before + 10; });
    }
    bool frozen(unsigned i) {
        const std::uint64_t before = counter(i);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        return counter(i) == before;
    }
};

}  // namespace

TEST(DebugRun, NonStopStopsOneVcpuWhileTheOthersRunAndServesMemoryMeanwhile) {
    SmpGuest s(4);
    KvmTarget& t = s.t;
    ASSERT_TRUE(t.capabilities().non_stop);
    ASSERT_TRUE(t.capabilities().memory_while_running);
    ASSERT_TRUE(t.set_non_stop(true).is_ok());
    s.write64("rounds", 0);  // count until keep_going is cleared
    Stops stops;
    t.resume_threads(continue_threads({1, 2, 3, 4}), stops.handler());
    for (unsigned i = 0; i < 4; ++i) EXPECT_TRUE(s.counting(i)) << "vCPU " << i << " does not run";
    EXPECT_NE(t.thread_extra_info(1).find("running"), std::string::npos) << t.thread_extra_info(1);

    // vCont;t:2 -> thread 2 alone stops, reported with signal 0.
    t.stop_thread(2);
    auto ev = stops.next();
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->thread, 2u);
    EXPECT_EQ(ev->kind, StopEvent::Kind::Signal);
    EXPECT_EQ(ev->signal, 0);
    EXPECT_TRUE(s.frozen(1)) << "vCPU 1 counts after it stopped";
    for (unsigned i : {0u, 2u, 3u}) EXPECT_TRUE(s.counting(i)) << "vCPU " << i << " stopped with vCPU 1";
    EXPECT_NE(t.thread_extra_info(2).find("stopped"), std::string::npos) << t.thread_extra_info(2);
    // Its registers are there while the others run (no wait on their KVM_RUN); asking
    // it to stop again says nothing.
    ASSERT_TRUE(t.select_thread(2).is_ok());
    EXPECT_EQ(t.read_registers().size(), stub::register_layout(t.arch(), t.register_features()).g_size());
    t.stop_thread(2);
    EXPECT_FALSE(stops.next(std::chrono::milliseconds(200))) << "a stopped thread was reported again";

    // A breakpoint inserted while three vCPUs run; thread 2 alone runs into it.
    ASSERT_TRUE(t.insert_breakpoint(BreakpointKind::Software, s.g.at("vcpu1_work"), 1).is_ok());
    t.resume_threads(continue_threads({2}), stops.handler());
    ev = stops.next();
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->thread, 2u);
    EXPECT_EQ(ev->kind, StopEvent::Kind::SoftwareBreak) << ev->message;
    EXPECT_EQ(t.machine().vcpu(1).get_regs().rip, s.g.at("vcpu1_work"));
    EXPECT_TRUE(s.counting(3)) << "vCPU 3 stopped with thread 2's breakpoint";
    // Memory reads hide the patch, also with a running vCPU selected (its paging).
    ASSERT_TRUE(t.select_thread(1).is_ok());
    std::uint8_t byte = 0;
    ASSERT_EQ(t.read_memory(s.g.at("vcpu1_work"), std::span<std::uint8_t>(&byte, 1)), 1u);
    EXPECT_NE(byte, debug::kHlt) << "the patch shows through read_memory";
    ASSERT_TRUE(t.remove_breakpoint(BreakpointKind::Software, s.g.at("vcpu1_work"), 1).is_ok());

    // Ctrl-C (vCtrlC): every running thread stops, each reported once with signal 0.
    t.interrupt();
    std::vector<unsigned> seen;
    for (int k = 0; k < 3; ++k) {
        ev = stops.next();
        ASSERT_TRUE(ev) << "only " << seen.size() << " of 3 running threads reported";
        EXPECT_EQ(ev->signal, 0);
        seen.push_back(ev->thread);
    }
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, (std::vector<unsigned>{1, 3, 4}));
    EXPECT_FALSE(stops.next(std::chrono::milliseconds(200))) << "a fourth stop";
    for (unsigned i = 0; i < 4; ++i) EXPECT_TRUE(s.frozen(i)) << "vCPU " << i << " runs after the interrupt";

    // The end: each vCPU halts on its own; the guest ends once all have, reported once.
    s.write64("keep_going", 0);
    t.resume_threads(continue_threads({1, 2, 3, 4}), stops.handler());
    ev = stops.next();
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->kind, StopEvent::Kind::Exited) << ev->message;
    EXPECT_EQ(ev->exit_status, 0);
    EXPECT_FALSE(stops.next(std::chrono::milliseconds(200))) << "more than one end";
    t.wait_stopped();
}

// A breakpoint inserted and removed again and again while the vCPU that runs through
// it runs: every hit reported is at the breakpoint, and a hit whose patch was removed
// while the vCPU left KVM_RUN is not taken for the guest halting.
TEST(DebugRun, NonStopBreakpointsComeAndGoUnderARunningVcpu) {
    SmpGuest s(2);
    KvmTarget& t = s.t;
    ASSERT_TRUE(t.set_non_stop(true).is_ok());
    s.write64("rounds", 0);
    Stops stops;
    t.resume_threads(continue_threads({1, 2}), stops.handler());
    const std::uint64_t work = s.g.at("vcpu1_work");
    const std::uint8_t original = t.machine().memory().read8(work);
    int hits = 0;
    for (int k = 0; k < 300; ++k) {
        ASSERT_TRUE(t.insert_breakpoint(BreakpointKind::Software, work, 1).is_ok());
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        ASSERT_TRUE(t.remove_breakpoint(BreakpointKind::Software, work, 1).is_ok());
        while (auto ev = stops.next(std::chrono::milliseconds(0))) {
            ASSERT_EQ(ev->thread, 2u);
            ASSERT_EQ(ev->kind, StopEvent::Kind::SoftwareBreak) << ev->message;
            ASSERT_EQ(t.machine().vcpu(1).get_regs().rip, work);
            ++hits;
            t.resume_threads(continue_threads({2}), stops.handler());
        }
    }
    // A hit reported after the last drain: resumed like the others.
    while (auto ev = stops.next(std::chrono::milliseconds(100))) {
        ASSERT_EQ(ev->kind, StopEvent::Kind::SoftwareBreak) << ev->message;
        ++hits;
        t.resume_threads(continue_threads({2}), stops.handler());
    }
    EXPECT_GT(hits, 0) << "vCPU 1 never ran into the breakpoint: the race was not exercised";
    EXPECT_EQ(t.thread_extra_info(2).find("halted"), std::string::npos) << t.thread_extra_info(2);
    EXPECT_TRUE(s.counting(1)) << "vCPU 1 no longer runs after " << hits << " hits";
    EXPECT_EQ(t.machine().memory().read8(work), original) << "a patch byte left behind";
    // Leaving non-stop mode stops both, silently; all-stop goes on from there.
    ASSERT_TRUE(t.set_non_stop(false).is_ok());
    EXPECT_FALSE(stops.next(std::chrono::milliseconds(200))) << "leaving non-stop reported a stop";
    EXPECT_TRUE(s.frozen(0));
    EXPECT_TRUE(s.frozen(1));
    s.write64("keep_going", 0);
    StopEvent end = run(t);
    EXPECT_EQ(end.kind, StopEvent::Kind::Exited) << end.message;
}

// The exit port ends the guest at once while the other vCPUs run: one report.
TEST(DebugRun, NonStopExitPortEndsEveryVcpuWithOneReport) {
    Guest g = start("exit-outl.elf", std::nullopt, hlt_forced(), 4);
    KvmTarget& t = *g.target;
    ASSERT_TRUE(t.set_non_stop(true).is_ok());
    Stops stops;
    t.resume_threads(continue_threads({1, 2, 3, 4}), stops.handler());
    auto ev = stops.next();
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->kind, StopEvent::Kind::Exited);
    EXPECT_EQ(ev->exit_status, 5);
    EXPECT_FALSE(stops.next(std::chrono::milliseconds(200))) << "more than one end";
    // A resume after the end says it again.
    t.resume_threads(continue_threads({3}), stops.handler());
    ev = stops.next();
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->kind, StopEvent::Kind::Exited);
    t.wait_stopped();
}

// A vCPU that crashes ends the guest; the other one, stopped with it, is reported
// stopped too (a T stop names one thread only), and the next resume says X.
TEST(DebugRun, NonStopACrashReportsTheOtherVcpuStoppedToo) {
    Guest g = start("triple-fault-long.elf", std::nullopt, hlt_forced(), 2);
    KvmTarget& t = *g.target;
    ASSERT_TRUE(t.set_non_stop(true).is_ok());
    Stops stops;
    t.resume_threads(continue_threads({1, 2}), stops.handler());
    auto crash = stops.next();
    ASSERT_TRUE(crash);
    EXPECT_EQ(crash->kind, StopEvent::Kind::Signal);
    EXPECT_EQ(crash->signal, 11) << crash->message;
    auto other = stops.next();
    ASSERT_TRUE(other) << "the other vCPU was not reported";
    EXPECT_NE(other->thread, crash->thread);
    EXPECT_EQ(other->signal, 0);
    EXPECT_FALSE(stops.next(std::chrono::milliseconds(200))) << "a third stop";
    t.resume_threads(continue_threads({crash->thread}), stops.handler());
    auto end = stops.next();
    ASSERT_TRUE(end);
    EXPECT_EQ(end->kind, StopEvent::Kind::Terminated);
    EXPECT_EQ(end->signal, 11);
    t.wait_stopped();
}
