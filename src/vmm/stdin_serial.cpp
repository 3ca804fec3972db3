#include "vmm/stdin_serial.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "kvm/kvm_error.hpp"

namespace kvmgdb {

StdinToSerial::StdinToSerial(int fd, Sink sink) : fd_(fd), sink_(std::move(sink)) {
    const int wake = ::eventfd(0, EFD_CLOEXEC);
    if (wake < 0) throw KvmError("eventfd for the stdin reader", errno);
    wake_ = Fd(wake);
    thread_ = std::thread([this] { pump(); });
}

StdinToSerial::~StdinToSerial() {
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
    thread_.join();
}

void StdinToSerial::pump() {
    char buf[4096];
    for (;;) {
        pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_.get(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents) return;
        if (!fds[0].revents) continue;
        const ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) return;  // end of file (or a closed stdin): nothing more will come
        sink_(std::string_view(buf, static_cast<std::size_t>(n)));
    }
}

}  // namespace kvmgdb
