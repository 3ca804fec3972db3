// The Asio transport over real sockets: a fake target whose stops come from another
// thread (as the vCPU thread's do), a blocking test client, the io_context on its
// own thread. Covers: the announce line, one client at a time, reconnecting, stop
// events posted across threads, Ctrl-C, k / D / W endings, Unix sockets, SIGTERM,
// and the packet log.
#include "stub/server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <thread>

#include "fake_target.hpp"

namespace kvmgdb::stub {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// FakeTarget whose stops are reported from another thread, like the KVM target's
// vCPU thread: after `stop_after` when set, or when interrupted.
class ThreadedTarget : public testing::FakeTarget {
public:
    ~ThreadedTarget() override { join(); }

    std::optional<std::chrono::milliseconds> stop_after;
    StopEvent next_stop{StopEvent::Kind::Signal, 5, 0, 0, {}};
    std::atomic<int> interrupts{0};
    std::atomic<int> memory_reads{0};

    std::size_t read_memory(std::uint64_t addr, std::span<std::uint8_t> out) override {
        ++memory_reads;
        return FakeTarget::read_memory(addr, out);
    }

    void resume(ResumeKind kind, std::optional<std::uint8_t> signal, StopHandler handler) override {
        FakeTarget::resume(kind, signal, handler);
        std::lock_guard lock(mu_);
        running_ = true;
        handler_ = std::move(handler);
        if (stop_after) stop_from_thread(*stop_after, next_stop);
    }
    // Several threads or non-stop: the same, through resume_threads (one thread
    // in all-stop goes through resume() above, as the default does).
    void resume_threads(std::span<const ThreadAction> list, StopHandler handler) override {
        if (tids.size() == 1 && !non_stop_on) return FakeTarget::resume_threads(list, std::move(handler));
        FakeTarget::resume_threads(list, handler);
        std::lock_guard lock(mu_);
        running_ = true;
        handler_ = std::move(handler);
        if (stop_after) stop_from_thread(*stop_after, next_stop);
    }
    void interrupt() override {
        ++interrupts;
        std::lock_guard lock(mu_);
        if (running_) stop_from_thread(0ms, StopEvent{StopEvent::Kind::Signal, 2, 0, 0, {}});
    }

private:
    // Called on the io thread (from resume / interrupt), like `?` which reads `stop`.
    void stop_from_thread(std::chrono::milliseconds delay, StopEvent event) {
        running_ = false;
        stop = event;
        threads_.emplace_back([handler = handler_, delay, event] {
            std::this_thread::sleep_for(delay);
            handler(event);
        });
    }
    void join() {
        for (auto& t : threads_) t.join();
    }
    std::mutex mu_;
    bool running_ = false;
    StopHandler handler_;
    std::vector<std::thread> threads_;
};

// A blocking client with a receive timeout, so a broken server fails a test
// instead of hanging it.
class Client {
public:
    explicit Client(const std::string& address) {
        if (address.starts_with("unix:")) {
            asio::local::stream_protocol::socket s(io_);
            s.connect(asio::local::stream_protocol::endpoint(address.substr(5)));
            fd_ = s.release();
        } else {
            auto colon = address.rfind(':');
            asio::ip::tcp::socket s(io_);
            s.connect({asio::ip::make_address(address.substr(0, colon)),
                       static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1)))});
            fd_ = s.release();
        }
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~Client() { close(); }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    void send(std::string_view bytes) { ASSERT_EQ(::write(fd_, bytes.data(), bytes.size()), ssize_t(bytes.size())); }
    // As much of `bytes` as the socket takes within `limit` without blocking; returns how much.
    std::size_t send_some(std::string_view bytes, std::chrono::milliseconds limit) {
        std::size_t sent = 0;
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (sent < bytes.size() && std::chrono::steady_clock::now() < deadline) {
            ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0) sent += static_cast<std::size_t>(n);
            else std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return sent;
    }
    // Exactly `n` bytes (or fewer at EOF / timeout).
    std::string read_exactly(std::size_t n) {
        return read_until([n](const std::string& b) { return b.size() >= n; });
    }
    // Reads until `done(received)`, EOF or the timeout; returns what came.
    template <typename Done>
    std::string read_until(Done done) {
        while (!done(buffer_)) {
            char chunk[4096];
            ssize_t n = ::read(fd_, chunk, sizeof chunk);
            if (n <= 0) {
                eof_ = true;
                break;
            }
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
        return std::exchange(buffer_, {});
    }
    // Everything up to and including the first complete `$...#xx` frame.
    std::string read_packet() {
        return read_until([](const std::string& b) {
            auto hash = b.find('#', b.find('$'));
            return b.find('$') != std::string::npos && hash != std::string::npos && b.size() >= hash + 3;
        });
    }
    std::string read_to_eof() {
        return read_until([](const std::string&) { return false; });
    }
    bool eof() const { return eof_; }

private:
    asio::io_context io_;
    int fd_ = -1;
    std::string buffer_;
    bool eof_ = false;
};

std::string frame(std::string_view payload) {
    unsigned sum = 0;
    for (char c : payload) sum += static_cast<unsigned char>(c);
    char cs[3];
    std::snprintf(cs, sizeof cs, "%02x", sum & 0xff);
    return "$" + std::string(payload) + "#" + cs;
}

// A server on its own io thread, for one test.
class ServerFixture : public ::testing::Test {
protected:
    void start(ListenAddress address = parse_listen_address("127.0.0.1:0"), SessionOptions session = {}) {
        ServerOptions options;
        options.address = std::move(address);
        options.session = std::move(session);
        options.handle_signals = false;
        options.announce = [this](std::string_view s) { announced += s; };
        options.log = [this](std::string_view s) {
            std::lock_guard lock(log_mu);
            log += s;
        };
        server.emplace(io, target, std::move(options));
        server->start();
        io_thread = std::thread([this] { io.run(); });
    }
    // Waits for io.run() to return: the server finished.
    bool finished_within(std::chrono::milliseconds limit) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (!io.stopped() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
        return io.stopped();
    }
    void TearDown() override {
        if (io_thread.joinable()) {
            if (server && !io.stopped()) server->shutdown(SIGTERM);
            if (!finished_within(3s)) io.stop();
            io_thread.join();
        }
    }
    std::string address() const { return server->local_address(); }

    asio::io_context io;
    ThreadedTarget target;
    std::optional<Server> server;
    std::thread io_thread;
    std::string announced;
    std::mutex log_mu;
    std::string log;
};

TEST_F(ServerFixture, AnnouncesTheRealPortOnce) {
    start();
    std::smatch m;
    ASSERT_TRUE(std::regex_match(announced, m, std::regex("listening on 127\\.0\\.0\\.1:(\\d+)\n"))) << announced;
    EXPECT_NE(m[1].str(), "0");
    EXPECT_EQ("listening on " + address() + "\n", announced);
}

TEST_F(ServerFixture, AnswersPacketsAndAcks) {
    start();
    Client gdb(address());
    gdb.send("+" + frame("?"));
    std::string reply = gdb.read_packet();
    EXPECT_TRUE(reply.starts_with("+$")) << reply;
    EXPECT_NE(reply.find("05"), std::string::npos) << reply;  // stopped with SIGTRAP
}

TEST_F(ServerFixture, SecondClientIsRefusedAndFirstUndisturbed) {
    start();
    Client first(address());
    first.send(frame("?"));
    first.read_packet();
    Client second(address());
    EXPECT_EQ(second.read_to_eof(), "kvmgdb: another debugger is already connected\n");
    EXPECT_TRUE(second.eof());
    first.send(frame("m10000,4"));
    EXPECT_EQ(first.read_packet(), "+" + frame("00010203"));
    std::lock_guard lock(log_mu);
    EXPECT_NE(log.find("refused a connection"), std::string::npos) << log;
}

TEST_F(ServerFixture, DroppedConnectionLeavesTargetStoppedAndAcceptsAgain) {
    start();
    {
        Client first(address());
        first.send(frame("?"));
        first.read_packet();
    }
    // The second may race the first's close (the server accepts one gdb at a time
    // and refuses one that comes while it still has the first): each attempt is a
    // new connection, since a refused socket stays closed.
    std::string reply;
    for (int attempt = 0; attempt < 50; ++attempt) {
        Client second(address());
        second.send(frame("?"));
        reply = second.read_packet();
        if (!second.eof()) break;
    }
    EXPECT_TRUE(reply.starts_with("+$")) << reply;
    EXPECT_FALSE(server->result());
}

// Each connection negotiates its own features: the second gdb did not say
// swbreak+, so its stop replies must not carry swbreak: (gdb's manual: "should
// not be sent by default").
TEST_F(ServerFixture, AReconnectingGdbStartsWithoutTheOldOnesFeatures) {
    target.stop = StopEvent{StopEvent::Kind::SoftwareBreak, 5, 0, 0, {}};
    start();
    {
        Client first(address());
        first.send(frame("qSupported:swbreak+;hwbreak+"));
        EXPECT_NE(first.read_packet().find("swbreak+"), std::string::npos);
        first.send(frame("?"));
        std::string reply = first.read_packet();
        EXPECT_NE(reply.find(";swbreak:;"), std::string::npos) << reply;
    }
    std::string reply;
    for (int attempt = 0; attempt < 50; ++attempt) {
        Client second(address());  // may race the first's close: retried
        second.send(frame("?"));
        reply = second.read_packet();
        if (!second.eof()) break;
    }
    EXPECT_TRUE(reply.starts_with("+$T05thread:1;")) << reply;
    EXPECT_EQ(reply.find("swbreak"), std::string::npos) << reply;
}

// A client that sends requests but does not read the replies: the server stops
// reading (backpressure) instead of queueing every reply; all arrive, in order,
// once the client reads. Here 1024 requests of 12 bytes ask for 64 MiB.
TEST_F(ServerFixture, AClientThatDoesNotReadHoldsUpItsRequestsNotOurMemory) {
    start();
    Client gdb(address());
    gdb.send(frame("QStartNoAckMode"));
    ASSERT_EQ(gdb.read_exactly(7), "+$OK#9a");
    const int count = 1024;
    const std::string request = frame("m10000,8000");  // a 64 KiB hex reply each
    std::string requests;
    for (int i = 0; i < count; ++i) requests += request;
    std::size_t sent = gdb.send_some(requests, 2000ms);
    // Wait until the server stops making progress (or has served everything).
    int served = -1;
    for (auto deadline = std::chrono::steady_clock::now() + 20s;
         served != target.memory_reads && served != count && std::chrono::steady_clock::now() < deadline;) {
        served = target.memory_reads;
        std::this_thread::sleep_for(500ms);
    }
    EXPECT_LT(served, count / 2) << sent / request.size() << " requests sent";
    // Now read: the rest goes out from another thread, the replies all come back.
    std::thread rest([&] { gdb.send(std::string_view(requests).substr(sent)); });
    std::string hex;
    for (std::size_t i = 0; i < 0x8000; ++i) hex += "0123456789abcdef"[(i & 0xff) >> 4], hex += "0123456789abcdef"[i & 0xf];
    const std::string reply = frame(hex);
    std::string got = gdb.read_exactly(reply.size() * count);
    rest.join();
    ASSERT_EQ(got.size(), reply.size() * count);
    for (int i = 0; i < count; ++i) {
        ASSERT_EQ(got.compare(reply.size() * static_cast<std::size_t>(i), reply.size(), reply), 0) << "reply " << i;
    }
    EXPECT_EQ(target.memory_reads, count);
}

TEST_F(ServerFixture, StopFromAnotherThreadBecomesAStopReply) {
    target.stop_after = 20ms;
    start();
    Client gdb(address());
    gdb.send(frame("c"));
    std::string reply = gdb.read_packet();
    EXPECT_TRUE(reply.starts_with("+$T05") || reply.starts_with("+$S05")) << reply;
}

// Non-stop: the resume is answered OK at once and the stop, posted from the
// "vCPU" thread later, goes out on its own as a %Stop notification.
TEST_F(ServerFixture, NonStopStopGoesOutAsANotification) {
    target.make_threads({1, 2});
    target.caps.non_stop = true;
    target.stop_after = 20ms;
    target.next_stop.thread = 2;
    start();
    Client gdb(address());
    gdb.send(frame("QStartNoAckMode"));
    EXPECT_EQ(gdb.read_packet(), "+" + frame("OK"));
    gdb.send(frame("QNonStop:1"));
    EXPECT_EQ(gdb.read_packet(), frame("OK"));
    gdb.send(frame("vCont;c:2"));
    std::string got = gdb.read_until([](const std::string& b) {
        auto hash = b.find('#', b.find('%'));
        return b.find('%') != std::string::npos && hash != std::string::npos && b.size() >= hash + 3;
    });
    ASSERT_TRUE(got.starts_with(frame("OK") + "%Stop:T05thread:2;")) << got;
    gdb.send(frame("vStopped"));
    EXPECT_EQ(gdb.read_packet(), frame("OK"));
}

TEST_F(ServerFixture, CtrlCInterruptsARunningTarget) {
    start();
    Client gdb(address());
    gdb.send(frame("c"));
    gdb.read_until([](const std::string& b) { return b == "+"; });
    gdb.send("\x03");
    std::string reply = gdb.read_packet();
    EXPECT_TRUE(reply.starts_with("$T02") || reply.starts_with("$S02")) << reply;
    EXPECT_EQ(target.interrupts.load(), 1);
}

TEST_F(ServerFixture, DisconnectWhileRunningInterruptsTheTarget) {
    start();
    {
        Client gdb(address());
        gdb.send(frame("c"));
        gdb.read_until([](const std::string& b) { return b == "+"; });
    }
    auto deadline = std::chrono::steady_clock::now() + 3s;
    while (target.interrupts.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    EXPECT_EQ(target.interrupts.load(), 1);
    Client next(address());
    std::string reply;
    for (int attempt = 0; attempt < 50; ++attempt) {  // E10 (busy) until the stop arrived
        next.send(frame("?"));
        reply = next.read_packet();
        if (reply.find("$E") == std::string::npos) break;
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_NE(reply.find("02"), std::string::npos) << reply;  // stopped by the interrupt
}

TEST_F(ServerFixture, KillEndsTheServer) {
    start();
    Client gdb(address());
    gdb.send(frame("k"));
    EXPECT_EQ(gdb.read_to_eof(), "+");
    ASSERT_TRUE(finished_within(3s));
    ASSERT_TRUE(server->result());
    EXPECT_EQ(server->result()->kind, ServerResult::Kind::Killed);
    EXPECT_FALSE(server->result()->guest_end);
}

TEST_F(ServerFixture, DetachRepliesOkThenEnds) {
    start();
    Client gdb(address());
    gdb.send(frame("D"));
    EXPECT_EQ(gdb.read_to_eof(), "+" + frame("OK"));
    ASSERT_TRUE(finished_within(3s));
    EXPECT_EQ(server->result()->kind, ServerResult::Kind::Detached);
}

TEST_F(ServerFixture, GuestExitEndsTheServerWhenGdbHangsUp) {
    target.stop_after = 1ms;
    target.next_stop = StopEvent{StopEvent::Kind::Exited, 0, 0, 7, {}};
    start();
    Client gdb(address());
    gdb.send(frame("c"));
    EXPECT_EQ(gdb.read_packet(), "+" + frame("W07"));
    gdb.close();
    ASSERT_TRUE(finished_within(3s));
    ASSERT_TRUE(server->result());
    EXPECT_EQ(server->result()->kind, ServerResult::Kind::GuestEnded);
    ASSERT_TRUE(server->result()->guest_end);
    EXPECT_EQ(server->result()->guest_end->exit_status, 7);
}

TEST_F(ServerFixture, ShutdownEndsTheServer) {
    start();
    Client gdb(address());
    gdb.send(frame("?"));
    gdb.read_packet();
    server->shutdown(SIGTERM);
    ASSERT_TRUE(finished_within(3s));
    EXPECT_EQ(server->result()->kind, ServerResult::Kind::Signal);
    EXPECT_EQ(server->result()->signal, SIGTERM);
    gdb.read_to_eof();
    EXPECT_TRUE(gdb.eof());
}

TEST_F(ServerFixture, ShutdownWhileRunningWaitsForTheStop) {
    start();
    Client gdb(address());
    gdb.send(frame("c"));
    gdb.read_until([](const std::string& b) { return b == "+"; });
    server->shutdown(SIGINT);
    ASSERT_TRUE(finished_within(3s));
    EXPECT_EQ(server->result()->signal, SIGINT);
    EXPECT_GE(target.interrupts.load(), 1);
}

std::filesystem::path temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kvmgdb-server-test-XXXXXX").string();
    return ::mkdtemp(tmpl.data());
}

TEST_F(ServerFixture, UnixSocketIsPrivateReplacesAStaleOneAndIsRemoved) {
    auto dir = temp_dir();
    auto path = dir / "gdb.sock";
    {
        // A stale socket file: bound, never unlinked, nobody accepting.
        asio::io_context other;
        asio::local::stream_protocol::acceptor stale(other, asio::local::stream_protocol::endpoint(path.string()));
    }
    ASSERT_TRUE(std::filesystem::exists(path));
    start(parse_listen_address("unix:" + path.string()));
    EXPECT_EQ(announced, "listening on unix:" + path.string() + "\n");
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    {
        Client gdb("unix:" + path.string());
        gdb.send(frame("k"));
        gdb.read_to_eof();
    }
    ASSERT_TRUE(finished_within(3s));
    EXPECT_FALSE(std::filesystem::exists(path));
    std::filesystem::remove_all(dir);
}

TEST(ServerListen, RefusesToReplaceAFileThatIsNotASocket) {
    auto dir = temp_dir();
    auto path = dir / "precious";
    std::ofstream(path) << "data";
    asio::io_context io;
    testing::FakeTarget target;
    ServerOptions options;
    options.address = parse_listen_address("unix:" + path.string());
    options.handle_signals = false;
    try {
        Server server(io, target, options);
        FAIL() << "listened over a regular file";
    } catch (const std::system_error& e) {
        EXPECT_NE(std::string(e.what()).find("not a socket"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(std::filesystem::exists(path));
    std::filesystem::remove_all(dir);
}

TEST(ServerListen, BusyPortNamesTheAddress) {
    asio::io_context io;
    testing::FakeTarget target;
    ServerOptions options;
    options.address = parse_listen_address("127.0.0.1:0");
    options.handle_signals = false;
    options.announce = [](std::string_view) {};
    Server first(io, target, options);
    options.address = parse_listen_address(first.local_address());
    try {
        Server second(io, target, options);
        FAIL() << "two servers on " << first.local_address();
    } catch (const std::system_error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot listen on " + first.local_address()), std::string::npos)
            << e.what();
    }
}

TEST_F(ServerFixture, PacketLogHasTimestampsAndDirections) {
    auto dir = temp_dir();
    auto path = dir / "rsp.log";
    SessionOptions session;
    session.log_packet = open_packet_log(path.string());
    start(parse_listen_address(":0"), std::move(session));
    {
        Client gdb(address());
        gdb.send(frame("?"));
        gdb.read_packet();
        gdb.send(frame("X10000,1:\x01"));
        gdb.read_packet();
        gdb.send(frame("k"));
        gdb.read_to_eof();
    }
    ASSERT_TRUE(finished_within(3s));
    server.reset();  // closes the log
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_TRUE(std::regex_search(text, std::regex("^\\d\\d:\\d\\d:\\d\\d\\.\\d{6} <- \\?\n")))
        << text;
    EXPECT_TRUE(std::regex_search(text, std::regex("\\d{6} -> [ST]05"))) << text;
    EXPECT_NE(text.find("<- X10000,1:\\x01\n"), std::string::npos) << text;  // binary bytes escaped
    EXPECT_NE(text.find("<- k\n"), std::string::npos) << text;
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kvmgdb::stub
