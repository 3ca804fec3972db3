#include "cli/listen_check.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kvmgdb {

namespace {

struct Socket {
    int fd;
    explicit Socket(int domain) : fd(::socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0)) {}
    ~Socket() {
        if (fd >= 0) ::close(fd);
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
};

std::string problem(const stub::ListenAddress& a, const std::string& why) {
    return "cannot listen on " + a.to_string() + ": " + why;
}

std::string errno_problem(const stub::ListenAddress& a, int err) { return problem(a, std::strerror(err)); }

// Binds and listens on a throwaway socket, as the server will (SO_REUSEADDR: a
// port left in TIME_WAIT is fine, one somebody listens on is not).
std::optional<std::string> tcp_problem(const stub::ListenAddress& a) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int domain = AF_INET;
    auto* in4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (::inet_pton(AF_INET, a.host.c_str(), &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(a.port);
        len = sizeof *in4;
    } else if (::inet_pton(AF_INET6, a.host.c_str(), &in6->sin6_addr) == 1) {
        domain = AF_INET6;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(a.port);
        len = sizeof *in6;
    } else {
        return problem(a, "'" + a.host + "' is not an IP address");
    }
    Socket s(domain);
    if (s.fd < 0) return errno_problem(a, errno);
    int one = 1;
    ::setsockopt(s.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(s.fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0) return errno_problem(a, errno);
    if (::listen(s.fd, 1) != 0) return errno_problem(a, errno);
    return std::nullopt;
}

std::optional<std::string> unix_problem(const stub::ListenAddress& a) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (a.path.size() >= sizeof sun.sun_path) return problem(a, "socket path too long");
    std::memcpy(sun.sun_path, a.path.c_str(), a.path.size() + 1);
    const auto* sa = reinterpret_cast<const sockaddr*>(&sun);

    struct stat st {};
    if (::lstat(a.path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return problem(a, "the path exists and is not a socket");
        Socket probe(AF_UNIX);
        if (probe.fd < 0) return errno_problem(a, errno);
        if (::connect(probe.fd, sa, sizeof sun) == 0) return problem(a, "another program accepts on it");
        return std::nullopt;  // stale: the server replaces it
    }
    Socket s(AF_UNIX);
    if (s.fd < 0) return errno_problem(a, errno);
    if (::bind(s.fd, sa, sizeof sun) != 0) return errno_problem(a, errno);
    ::unlink(a.path.c_str());
    return std::nullopt;
}

}  // namespace

std::optional<std::string> listen_problem(const stub::ListenAddress& address) {
    return address.kind == stub::ListenAddress::Kind::Unix ? unix_problem(address) : tcp_problem(address);
}

}  // namespace kvmgdb
