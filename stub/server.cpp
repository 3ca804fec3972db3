// The RSP transport over Boost.Asio (see server.hpp). One io thread: the accept
// loop and each connection's read loop are coroutines; writes go through a
// per-connection queue (a stop reply can be produced while a reply is being
// written); stop events arrive by asio::post from the vCPU thread.
#include "stub/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <system_error>

namespace kvmgdb::stub {

namespace asio = boost::asio;
using Protocol = asio::generic::stream_protocol;
using Socket = Protocol::socket;
using Acceptor = asio::basic_socket_acceptor<Protocol>;
using boost::system::error_code;

namespace {

constexpr std::string_view kRefusal = "kvmgdb: another debugger is already connected\n";
// How long SIGINT/SIGTERM waits for a running guest to stop before giving up on it.
constexpr auto kShutdownGrace = std::chrono::seconds(2);
// Backpressure: a client that sends requests but does not read the replies must
// not make us buffer them without bound (one 11-byte `m` asks for 64 KiB). Input
// is fed to the session in slices, and reading pauses while more than
// kMaxQueued bytes wait to be written, so at most kMaxQueued plus one slice's
// worth of replies (23 maximal `m` replies, ~1.5 MiB) are ever held.
constexpr std::size_t kMaxQueued = 1024 * 1024;
constexpr std::size_t kFeedSlice = 256;

// "127.0.0.1:1234" / "[::1]:1234" from a bound or connected socket address.
std::string address_text(const Protocol::endpoint& ep) {
    const auto* sa = reinterpret_cast<const sockaddr*>(ep.data());
    char host[INET6_ADDRSTRLEN] = {};
    if (sa->sa_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
    }
    if (sa->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
    }
    return "a local socket";
}

[[noreturn]] void throw_listen_error(const ListenAddress& address, const error_code& ec, const char* what) {
    throw std::system_error(ec.value(), std::generic_category(),
                            "cannot listen on " + address.to_string() + " (" + what + ")");
}

// A socket file left by a kvmgdb that died is replaced; a live one (someone
// accepts on it) or a file that is not a socket is an error, never deleted.
void remove_stale_socket(const ListenAddress& address) {
    struct stat st {};
    if (::lstat(address.path.c_str(), &st) != 0) return;  // nothing there
    if (!S_ISSOCK(st.st_mode))
        throw std::system_error(EEXIST, std::generic_category(),
                                "cannot listen on " + address.to_string() + " (the path exists and is not a socket)");
    asio::io_context probe_io;
    asio::local::stream_protocol::socket probe(probe_io);
    error_code ec;
    probe.connect(asio::local::stream_protocol::endpoint(address.path), ec);
    if (!ec)
        throw std::system_error(EADDRINUSE, std::generic_category(),
                                "cannot listen on " + address.to_string() + " (another program accepts on it)");
    ::unlink(address.path.c_str());
}

struct Connection {
    explicit Connection(Socket s) : socket(std::move(s)), drained(socket.get_executor()) {}
    Socket socket;
    asio::steady_timer drained;  // cancelled when the write queue drains (or on close)
    std::string peer;
    std::string pending;    // queued while a write is in flight
    std::string in_flight;  // the buffer of the write in flight
    bool writing = false;
    bool close_after_write = false;  // the session is over (D, k, vKill)
    bool closed = false;

    std::size_t queued() const { return pending.size() + (writing ? in_flight.size() : 0); }
};
using ConnectionPtr = std::shared_ptr<Connection>;

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::io_context& io_, DebugTarget& target_, ServerOptions options_)
        : io(io_), target(target_), options(std::move(options_)), acceptor(io_), signals(io_),
          grace_timer(io_), work(io_.get_executor()) {
        if (!options.announce)
            options.announce = [](std::string_view s) {
                std::fwrite(s.data(), 1, s.size(), stderr);
                std::fflush(stderr);
            };
        if (!options.log) options.log = options.announce;
    }

    asio::io_context& io;
    DebugTarget& target;
    ServerOptions options;
    std::unique_ptr<Session> session;  // made once `this` is owned by a shared_ptr
    Acceptor acceptor;
    asio::signal_set signals;
    asio::steady_timer grace_timer;
    asio::executor_work_guard<asio::io_context::executor_type> work;  // a stop may still be posted
    std::string local;       // what local_address() says
    std::string unix_path;   // to remove when done
    bool is_tcp = false;
    bool exposed = false;    // TCP on an address other than loopback

    ConnectionPtr client;
    std::optional<ServerResult::Kind> ending;  // D / k seen: finish once the reply is out
    std::optional<StopEvent> guest_end;        // W / X sent
    bool shutting_down = false;
    int shutdown_signal = 0;
    std::optional<ServerResult> result;

    void listen();
    void start();
    asio::awaitable<void> accept_loop();
    asio::awaitable<void> read_loop(ConnectionPtr c);
    asio::awaitable<void> refuse(ConnectionPtr c);
    void apply(const ConnectionPtr& c, SessionOutput out);
    void send(const ConnectionPtr& c, std::string bytes);
    void start_write(const ConnectionPtr& c);
    void close(const ConnectionPtr& c);
    void on_stop(const StopEvent& event);
    void shutdown(int signal);
    void finish(ServerResult::Kind kind);
    void stop_listening();

    void spawn(asio::awaitable<void> a) {
        // An exception escaping a coroutine (a bug, or bad_alloc) leaves io_context::run
        // for main to report; `detached` would swallow it.
        asio::co_spawn(io, std::move(a), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    }
};

void Server::Impl::listen() {
    const ListenAddress& a = options.address;
    error_code ec;
    Protocol::endpoint endpoint;
    if (a.kind == ListenAddress::Kind::Tcp) {
        is_tcp = true;
        auto ip = asio::ip::make_address(a.host, ec);
        if (ec) throw_listen_error(a, ec, "address");
        exposed = !ip.is_loopback();
        endpoint = asio::ip::tcp::endpoint(ip, a.port);
    } else {
        remove_stale_socket(a);
        endpoint = asio::local::stream_protocol::endpoint(a.path);
    }
    acceptor.open(endpoint.protocol(), ec);
    if (ec) throw_listen_error(a, ec, "socket");
    if (is_tcp) {
        acceptor.set_option(asio::socket_base::reuse_address(true), ec);
        acceptor.bind(endpoint, ec);
    } else {
        // 0600 from the start: the socket gives full control of the guest. umask is
        // per process, but nothing else creates files while kvmgdb sets up.
        mode_t old = ::umask(0177);
        acceptor.bind(endpoint, ec);
        ::umask(old);
        if (!ec) {
            unix_path = a.path;
            ::chmod(a.path.c_str(), 0600);
        }
    }
    if (ec) throw_listen_error(a, ec, "bind");
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw_listen_error(a, ec, "listen");
    local = is_tcp ? address_text(acceptor.local_endpoint()) : a.to_string();
}

void Server::Impl::start() {
    // Signals first: whoever reacts to the announcement may send SIGINT at once.
    if (options.handle_signals) {
        signals.add(SIGINT);
        signals.add(SIGTERM);
        signals.async_wait([weak = weak_from_this()](const error_code& ec, int sig) {
            if (auto self = weak.lock(); self && !ec) self->shutdown(sig);
        });
    }
    options.announce("listening on " + local + "\n");
    if (exposed)
        options.log("kvmgdb: warning: anyone who can reach " + local +
                    " gets full control of the guest (no authentication)\n");
    spawn(accept_loop());
}

asio::awaitable<void> Server::Impl::accept_loop() {
    auto self = shared_from_this();
    while (!result) {
        error_code ec;
        Socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (result || ec == asio::error::operation_aborted) co_return;
        if (ec) {
            // EMFILE and friends: say so and retry a little later instead of spinning.
            options.log("kvmgdb: accept: " + ec.message() + "\n");
            asio::steady_timer pause(io, std::chrono::milliseconds(100));
            co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        auto c = std::make_shared<Connection>(std::move(socket));
        c->peer = is_tcp ? address_text(c->socket.remote_endpoint(ec)) : "the local socket";
        if (client || shutting_down) {
            spawn(refuse(c));
            continue;
        }
        // Packets are small and strictly request/reply: Nagle would only add latency.
        if (is_tcp) c->socket.set_option(asio::ip::tcp::no_delay(true), ec);
        client = c;
        options.log("kvmgdb: gdb connected from " + c->peer + "\n");
        spawn(read_loop(c));
    }
}

asio::awaitable<void> Server::Impl::read_loop(ConnectionPtr c) {
    auto self = shared_from_this();
    std::array<std::uint8_t, 16 * 1024> buffer;
    for (;;) {
        error_code ec;
        std::size_t n =
            co_await c->socket.async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
        if (ec || c->closed) break;
        for (std::size_t at = 0; at < n && !c->closed && !c->close_after_write; at += kFeedSlice) {
            // After D / k the loop stops feeding: late bytes mean nothing.
            std::size_t len = std::min(kFeedSlice, n - at);
            apply(c, session->on_bytes(std::span<const std::uint8_t>(buffer.data() + at, len)));
            while (!c->closed && c->queued() > kMaxQueued) {
                c->drained.expires_at(asio::steady_timer::time_point::max());
                co_await c->drained.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            }
        }
    }
    close(c);
}

// One line of text and a half-close: gdb shows "Remote connection closed", a human
// with nc sees why. Reading on until the peer closes (or a grace period) lets the
// line arrive instead of being lost to a reset over gdb's unread packet.
asio::awaitable<void> Server::Impl::refuse(ConnectionPtr c) {
    auto self = shared_from_this();
    options.log("kvmgdb: refused a connection from " + c->peer + ": another debugger is already connected\n");
    error_code ec;
    co_await asio::async_write(c->socket, asio::buffer(kRefusal), asio::redirect_error(asio::use_awaitable, ec));
    c->socket.shutdown(asio::socket_base::shutdown_send, ec);
    asio::steady_timer timer(io, kShutdownGrace);
    timer.async_wait([c](const error_code& e) {
        error_code ignored;
        if (!e) c->socket.close(ignored);
    });
    std::array<char, 512> sink;
    while (!ec) co_await c->socket.async_read_some(asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
    timer.cancel();
    c->socket.close(ec);
}

void Server::Impl::apply(const ConnectionPtr& c, SessionOutput out) {
    if (out.kill) ending = ServerResult::Kind::Killed;
    else if (out.detached) ending = ServerResult::Kind::Detached;
    send(c, std::move(out.bytes));
    if (out.close) {
        c->close_after_write = true;
        if (!c->writing) close(c);
    }
}

void Server::Impl::send(const ConnectionPtr& c, std::string bytes) {
    if (bytes.empty() || c->closed) return;
    c->pending += bytes;
    if (!c->writing) start_write(c);
}

void Server::Impl::start_write(const ConnectionPtr& c) {
    c->writing = true;
    c->in_flight = std::move(c->pending);
    c->pending.clear();
    asio::async_write(c->socket, asio::buffer(c->in_flight),
                      [self = shared_from_this(), c](const error_code& ec, std::size_t) {
                          c->writing = false;
                          if (ec || c->closed) return self->close(c);
                          if (c->pending.size() <= kMaxQueued) c->drained.cancel();
                          if (!c->pending.empty()) return self->start_write(c);
                          if (c->close_after_write) self->close(c);
                      });
}

// The connection is gone (hung up, write error, or the session ended it).
void Server::Impl::close(const ConnectionPtr& c) {
    if (c->closed) return;
    c->closed = true;
    c->drained.cancel();
    error_code ignored;
    c->socket.shutdown(asio::socket_base::shutdown_both, ignored);
    c->socket.close(ignored);
    if (c != client) return;
    client.reset();
    if (result) return;
    options.log("kvmgdb: gdb disconnected\n");
    if (ending) return finish(*ending);
    if (guest_end) return finish(ServerResult::Kind::GuestEnded);
    // The guest stays stopped (interrupted if it was running) for the next gdb.
    session->on_disconnect();
    if (shutting_down && !session->target_running()) finish(ServerResult::Kind::Signal);
}

void Server::Impl::on_stop(const StopEvent& event) {
    if (result) return;
    if (event.kind == StopEvent::Kind::Exited || event.kind == StopEvent::Kind::Terminated) guest_end = event;
    SessionOutput out = session->on_target_stopped(event);
    if (client) apply(client, std::move(out));
    if (shutting_down) {
        if (!session->target_running()) finish(ServerResult::Kind::Signal);
    } else if (!client && guest_end) {
        finish(ServerResult::Kind::GuestEnded);  // nobody is left to tell
    }
}

void Server::Impl::shutdown(int signal) {
    if (result || shutting_down) return;
    shutting_down = true;
    shutdown_signal = signal;
    if (signal != 0) options.log("kvmgdb: " + std::string(strsignal(signal)) + ", shutting down\n");
    error_code ignored;
    acceptor.close(ignored);
    bool had_client = client != nullptr;
    if (client) close(client);  // interrupts a running guest (Session::on_disconnect)
    if (result) return;
    if (!session->target_running()) return finish(ServerResult::Kind::Signal);
    if (!had_client) session->on_disconnect();  // make sure a running guest is asked to stop
    grace_timer.expires_after(kShutdownGrace);
    grace_timer.async_wait([self = shared_from_this()](const error_code& ec) {
        if (!ec) self->finish(ServerResult::Kind::Signal);
    });
}

void Server::Impl::finish(ServerResult::Kind kind) {
    if (result) return;
    result = ServerResult{kind, guest_end, kind == ServerResult::Kind::Signal ? shutdown_signal : 0};
    shutting_down = true;
    stop_listening();
    grace_timer.cancel();
    if (client) close(client);
    work.reset();
}

// No more connections or signals: the acceptor and the socket file go, and SIGINT
// and SIGTERM get their default actions back (Ctrl-C ends a detached kvmgdb).
void Server::Impl::stop_listening() {
    error_code ignored;
    acceptor.close(ignored);
    signals.cancel(ignored);
    signals.clear(ignored);
    if (!unix_path.empty()) ::unlink(unix_path.c_str());
    unix_path.clear();
}

Server::Server(asio::io_context& io, DebugTarget& target, ServerOptions options)
    : impl_(std::make_shared<Impl>(io, target, std::move(options))) {
    // The vCPU thread calls post_stop; the event is handled on the io thread. A weak
    // pointer: a stop that arrives after the server is gone is dropped.
    std::weak_ptr<Impl> weak = impl_;
    impl_->session = std::make_unique<Session>(
        target,
        [weak, &io](StopEvent event) {
            asio::post(io, [weak, event = std::move(event)] {
                if (auto self = weak.lock()) self->on_stop(event);
            });
        },
        impl_->options.session);
    impl_->listen();
}

Server::~Server() {
    if (impl_) impl_->stop_listening();
}

std::string Server::local_address() const { return impl_->local; }
void Server::start() { impl_->start(); }
const std::optional<ServerResult>& Server::result() const { return impl_->result; }
void Server::shutdown(int signal) {
    asio::post(impl_->io, [weak = std::weak_ptr<Impl>(impl_), signal] {
        if (auto self = weak.lock()) self->shutdown(signal);
    });
}

// ---------------------------------------------------------------------------
// --log-packets

std::function<void(std::string_view, std::string_view)> packet_log_to(std::FILE* stream) {
    return [stream](std::string_view direction, std::string_view packet) {
        timespec now{};
        ::clock_gettime(CLOCK_REALTIME, &now);
        tm local{};
        ::localtime_r(&now.tv_sec, &local);
        char stamp[32];
        std::snprintf(stamp, sizeof stamp, "%02d:%02d:%02d.%06ld", local.tm_hour, local.tm_min, local.tm_sec,
                      now.tv_nsec / 1000);
        std::string line = std::string(stamp) + " " + std::string(direction) + " ";
        for (char ch : packet) {
            auto u = static_cast<unsigned char>(ch);
            if (u >= 0x20 && u < 0x7f && u != '\\') {
                line += ch;
            } else {
                char esc[8];
                std::snprintf(esc, sizeof esc, "\\x%02x", u);
                line += esc;
            }
        }
        line += '\n';
        std::fwrite(line.data(), 1, line.size(), stream);
        std::fflush(stream);
    };
}

std::function<void(std::string_view, std::string_view)> open_packet_log(const std::string& path) {
    if (path == "-") return packet_log_to(stderr);
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (!f) throw std::system_error(errno, std::generic_category(), "cannot open packet log " + path);
    std::shared_ptr<std::FILE> owned(f, [](std::FILE* p) { std::fclose(p); });
    auto log = packet_log_to(f);
    return [owned, log](std::string_view direction, std::string_view packet) { log(direction, packet); };
}

}  // namespace kvmgdb::stub
