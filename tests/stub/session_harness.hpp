// Test harness for the RSP session: a FakeTarget, a Session over it, and
// helpers that send raw bytes and compare the exact bytes that come back.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "stub/hex.hpp"
#include "stub/rsp_codec.hpp"
#include "stub/session.hpp"
#include "tests/stub/fake_target.hpp"

namespace kvmgdb::stub::testing {

// A framed packet as gdb or the stub puts it on the wire.
inline std::string pkt(std::string_view payload) { return encode_packet(payload); }
// What the stub answers in ack mode: `+` for the request, then the reply.
inline std::string acked(std::string_view reply) { return "+" + pkt(reply); }

// The registers a stop reply of thread `tid` of three_threads() expedites (x86-64:
// rbp=6, rsp=7, rip=16; thread N has rip 0x10000 + N*0x100, rsp 0x1f000 + N).
inline std::string expedited(unsigned tid) {
    auto le = [](std::uint64_t v) {
        std::string s;
        for (int i = 0; i < 8; ++i) s += to_hex_le((v >> (8 * i)) & 0xff, 1);
        return s;
    };
    return "06:" + le(0) + ";07:" + le(0x1f000 + tid) + ";10:" + le(0x10000 + tid * 0x100) + ";";
}

class SessionTest : public ::testing::Test {
protected:
    // The target gets threads 1, 2, 3 with the registers expedited() expects.
    void three_threads() {
        t().make_threads({1, 2, 3});
        for (unsigned tid : {1u, 2u, 3u}) {
            t().set_thread_reg(tid, 16, 0x10000 + tid * 0x100);
            t().set_thread_reg(tid, 7, 0x1f000 + tid);
        }
    }

    void SetUp() override { start(); }

    void start(SessionOptions options = {}, Arch arch = Arch::X86_64) {
        session.reset();
        target = std::make_unique<FakeTarget>(arch);
        posted.clear();
        log.clear();
        if (!options.log_packet) {
            options.log_packet = [this](std::string_view dir, std::string_view p) {
                log.emplace_back(std::string(dir), std::string(p));
            };
        }
        session = std::make_unique<Session>(
            *target, [this](StopEvent e) { posted.push_back(std::move(e)); }, std::move(options));
    }

    // Raw bytes from gdb, everything that comes back.
    SessionOutput raw(std::string_view bytes) {
        auto data = reinterpret_cast<const std::uint8_t*>(bytes.data());
        return session->on_bytes(std::span<const std::uint8_t>(data, bytes.size()));
    }
    // One framed packet; returns the bytes written back.
    std::string send(std::string_view payload) { return raw(pkt(payload)).bytes; }

    // Negotiate QStartNoAckMode so replies are bare frames from then on.
    void no_ack() { ASSERT_EQ(send("QStartNoAckMode"), acked("OK")); }
    // gdb's real qSupported, announcing swbreak/hwbreak.
    void supported() {
        send("qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;vContSupported+");
    }

    // Deliver the stop the target posted (as the transport would).
    std::string deliver(StopEvent event) { return session->on_target_stopped(event).bytes; }

    FakeTarget& t() { return *target; }

    std::unique_ptr<FakeTarget> target;
    std::unique_ptr<Session> session;
    std::vector<StopEvent> posted;
    std::vector<std::pair<std::string, std::string>> log;
};

}  // namespace kvmgdb::stub::testing
