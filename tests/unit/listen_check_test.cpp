// listen_problem(): what `kvmgdb --listen` checks before KVM, on real sockets of
// this machine (loopback and a temporary directory only).
#include "cli/listen_check.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace kvmgdb {
namespace {

stub::ListenAddress tcp(std::uint16_t port, std::string host = "127.0.0.1") {
    stub::ListenAddress a;
    a.host = std::move(host);
    a.port = port;
    return a;
}

stub::ListenAddress unix_at(const std::string& path) {
    stub::ListenAddress a;
    a.kind = stub::ListenAddress::Kind::Unix;
    a.path = path;
    return a;
}

// A loopback TCP socket that listens on a kernel-chosen port.
struct Listener {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    std::uint16_t port = 0;
    Listener() {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sin;
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sin), len) != 0 || ::listen(fd, 1) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) != 0)
            ADD_FAILURE() << "cannot set up a listening socket: " << std::strerror(errno);
        port = ntohs(sin.sin_port);
    }
    ~Listener() { ::close(fd); }
};

class ListenProblemUnix : public ::testing::Test {
protected:
    std::string dir;
    void SetUp() override {
        char tmpl[] = "/tmp/kvmgdb_listen_test_XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
    }
    void TearDown() override {
        for (const char* f : {"/g.sock", "/file"}) ::unlink((dir + f).c_str());
        ::rmdir(dir.c_str());
    }
};

TEST(ListenProblem, FreeLoopbackPortIsFine) {
    EXPECT_EQ(listen_problem(tcp(0)), std::nullopt);
}

TEST(ListenProblem, PortSomebodyListensOn) {
    Listener l;
    EXPECT_EQ(listen_problem(tcp(l.port)),
              "cannot listen on 127.0.0.1:" + std::to_string(l.port) + ": Address already in use");
}

TEST(ListenProblem, PortIsFreeAgainAfterTheCheck) {
    std::uint16_t port;
    {
        Listener l;
        port = l.port;
    }
    EXPECT_EQ(listen_problem(tcp(port)), std::nullopt);
    EXPECT_EQ(listen_problem(tcp(port)), std::nullopt);  // the check's own socket was closed
}

TEST(ListenProblem, AddressOfNoInterface) {
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): no interface of this machine has it.
    EXPECT_EQ(listen_problem(tcp(0, "192.0.2.1")), "cannot listen on 192.0.2.1:0: Cannot assign requested address");
}

TEST_F(ListenProblemUnix, UnixSocketInAWritableDirectoryLeavesNothing) {
    EXPECT_EQ(listen_problem(unix_at(dir + "/g.sock")), std::nullopt);
    struct stat st {};
    EXPECT_NE(::lstat((dir + "/g.sock").c_str(), &st), 0) << "the trial socket file was left behind";
}

TEST_F(ListenProblemUnix, UnixSocketInAMissingDirectory) {
    EXPECT_EQ(listen_problem(unix_at(dir + "/no/g.sock")),
              "cannot listen on unix:" + dir + "/no/g.sock: No such file or directory");
}

TEST_F(ListenProblemUnix, UnixPathThatIsAFile) {
    std::FILE* f = std::fopen((dir + "/file").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
    EXPECT_EQ(listen_problem(unix_at(dir + "/file")),
              "cannot listen on unix:" + dir + "/file: the path exists and is not a socket");
    struct stat st {};
    EXPECT_EQ(::lstat((dir + "/file").c_str(), &st), 0) << "the file was removed";
}

TEST_F(ListenProblemUnix, UnixSocketSomebodyAcceptsOnAndAStaleOne) {
    const std::string path = dir + "/g.sock";
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
    ASSERT_EQ(::listen(fd, 1), 0);
    EXPECT_EQ(listen_problem(unix_at(path)), "cannot listen on unix:" + path + ": another program accepts on it");
    ::close(fd);  // the file stays: a stale socket, which the server replaces
    EXPECT_EQ(listen_problem(unix_at(path)), std::nullopt);
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0);  // left for the server to replace
}

}  // namespace
}  // namespace kvmgdb
