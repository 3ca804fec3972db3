// The RSP transport: a Boost.Asio server that feeds one gdb connection's bytes to a
// Session and writes back what it returns. Everything runs on the thread that runs
// the io_context; the target's stop events (from the vCPU thread) are posted onto
// it, so the loop waits on gdb input or a vCPU stop, whichever comes first
// (uhyve's event loop), and never blocks on the guest nor spins.
//
//  - one debugger at a time: a second connection gets one line of text
//    ("kvmgdb: another debugger is already connected") and is closed; the first
//    is undisturbed;
//  - a dropped connection leaves the guest stopped and the server accepts again;
//  - after `D`, `k` / `vKill`, a guest that ended (W/X) and whose gdb hung up, or
//    SIGINT / SIGTERM, the server stops accepting, closes everything, and
//    result() says why; io_context::run() then returns.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange unincluded

#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "stub/debug_target.hpp"
#include "stub/listen_address.hpp"
#include "stub/session.hpp"

namespace kvmgdb::stub {

struct ServerOptions {
    ListenAddress address;
    SessionOptions session;
    // Gets "listening on ADDR\n" once the socket listens (test scripts wait for it).
    // Default: stderr, flushed.
    std::function<void(std::string_view)> announce;
    // One-line notices (connections, refusals). Default: stderr.
    std::function<void(std::string_view)> log;
    // SIGINT and SIGTERM end the server (asio::signal_set). Off in unit tests.
    bool handle_signals = true;
};

struct ServerResult {
    enum class Kind {
        Killed,      // gdb sent k / vKill; the target was killed
        Detached,    // gdb sent D; the target runs on (DebugTarget::detach)
        GuestEnded,  // the guest exited (W) or was terminated (X), and gdb hung up
        Signal       // SIGINT / SIGTERM (or shutdown()); the target is left stopped
    };
    Kind kind = Kind::Killed;
    // The W/X stop that ended the guest, whatever came after it (gdb may still
    // kill or detach from a guest that already exited).
    std::optional<StopEvent> guest_end;
    int signal = 0;  // Signal: the signal number
};

class Server {
public:
    // Binds and listens at once (throws std::system_error naming the address). A
    // stale Unix socket file (nobody accepting on it) is replaced; the new one
    // has mode 0600. Nothing is accepted before start().
    Server(boost::asio::io_context& io, DebugTarget& target, ServerOptions options);
    ~Server();  // removes the Unix socket file
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // "127.0.0.1:40123" (the real port when 0 was asked for), "[::1]:7", "unix:/path".
    std::string local_address() const;
    // Announces "listening on ADDR" and starts accepting.
    void start();
    // Set once the server is done.
    const std::optional<ServerResult>& result() const;
    // Ends the server as SIGTERM would (on the io thread); the result is Signal
    // with `signal`. 0: for the caller's own reason, without the log line. Once
    // the server is ending, later calls change nothing (the first reason stays).
    void shutdown(int signal);

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

// A SessionOptions::log_packet that writes "HH:MM:SS.uuuuuu <- payload" lines (binary
// bytes as \xNN) to `path`, or to stderr for "-", flushing each line. Throws
// std::system_error when the file cannot be opened.
std::function<void(std::string_view, std::string_view)> open_packet_log(const std::string& path);
// The same, to an open stream (not closed).
std::function<void(std::string_view, std::string_view)> packet_log_to(std::FILE* stream);

}  // namespace kvmgdb::stub
