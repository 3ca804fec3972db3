// A TCP listener on 127.0.0.1 at a port the kernel picks, for scripts/bench's two
// programs (bench_ceiling_stub serves gdb on it; bench_kvm_limits times round trips).
// Each program reports a failure its own way, so this only says which call failed.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace kvmgdb::bench {

struct LoopbackListener {
    int fd = -1;                     // the caller owns it
    sockaddr_in address{};           // where it listens
    const char* failed = nullptr;    // the call that failed (errno says why); fd is -1 then
};

inline LoopbackListener listen_on_loopback() {
    LoopbackListener l;
    l.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l.fd < 0) return {-1, {}, "socket"};
    l.address.sin_family = AF_INET;
    l.address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof l.address;
    const char* failed = nullptr;
    if (::bind(l.fd, reinterpret_cast<sockaddr*>(&l.address), sizeof l.address) < 0) failed = "bind";
    else if (::listen(l.fd, 1) < 0) failed = "listen";
    else if (::getsockname(l.fd, reinterpret_cast<sockaddr*>(&l.address), &len) < 0) failed = "getsockname";
    if (failed) {
        int saved = errno;
        ::close(l.fd);
        errno = saved;
        return {-1, {}, failed};
    }
    return l;
}

}  // namespace kvmgdb::bench
