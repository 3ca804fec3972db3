// The RSP session: bytes from gdb in, bytes to gdb out, calls on a DebugTarget in
// between. No I/O and no threads of its own: the transport (stub/server) feeds it
// bytes and stop events and writes what it returns, so it is tested with a fake target.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "stub/debug_target.hpp"

namespace kvmgdb::stub {

struct SessionOptions {
    std::size_t max_packet = 64 * 1024;     // PacketSize in qSupported; bigger M/X get E (m/x are cut to fit)
    std::function<void(std::string_view direction, std::string_view packet)> log_packet;  // --log-packets
    // Offer multiprocess+ in qSupported; when gdb offers it too, thread-ids go
    // out as `p1.N`. Off by default: gdb then names threads "Thread N", and
    // replies keep the plain form (QC1, thread:1;) that existing clients expect.
    bool multiprocess = false;
    // --gdb-arch: the register layout served from the first packet of a connection
    // whatever the CPU's mode; nullopt: the CPU's at connect time (docs/modes.md).
    std::optional<Arch> gdb_arch = std::nullopt;
};

struct SessionOutput {
    std::string bytes;     // to write to gdb (acks, replies, stop replies), in order
    bool close = false;    // the session is over (after k / vKill / D): close the connection
    bool kill = false;     // gdb asked to kill the guest: kvmgdb exits after closing
    bool detached = false; // gdb detached: the guest runs on to its end
};

class Session {
public:
    // `post_stop` must arrange for on_target_stopped(event) to be called on the
    // transport's thread (the target calls it from the vCPU thread).
    Session(DebugTarget& target, std::function<void(StopEvent)> post_stop, SessionOptions options = {});
    ~Session();

    // Bytes received from gdb.
    SessionOutput on_bytes(std::span<const std::uint8_t> bytes);
    // The target stopped after a resume: produces the stop reply.
    SessionOutput on_target_stopped(const StopEvent& event);
    // The connection dropped: the target stays stopped (or is interrupted if running)
    // so a new gdb can attach.
    void on_disconnect();

    bool target_running() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace kvmgdb::stub
