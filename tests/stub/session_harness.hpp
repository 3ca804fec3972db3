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

class SessionTest : public ::testing::Test {
protected:
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
