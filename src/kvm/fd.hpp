// Move-only owners of a file descriptor and of an mmap'd region.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <utility>

namespace kvmgdb {

// Exactly one owner per kernel object; no implicit conversion to int so an fd
// cannot be closed twice or leaked by accident.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

class Mmap {
public:
    Mmap() = default;
    Mmap(void* addr, std::size_t len) : addr_(addr), len_(len) {}
    ~Mmap() { reset(); }
    Mmap(Mmap&& o) noexcept
        : addr_(std::exchange(o.addr_, nullptr)), len_(std::exchange(o.len_, 0)) {}
    Mmap& operator=(Mmap&& o) noexcept {
        if (this != &o) {
            reset();
            addr_ = std::exchange(o.addr_, nullptr);
            len_ = std::exchange(o.len_, 0);
        }
        return *this;
    }
    Mmap(const Mmap&) = delete;
    Mmap& operator=(const Mmap&) = delete;

    void* get() const { return addr_; }
    std::size_t size() const { return len_; }
    void reset() {
        if (addr_) ::munmap(addr_, len_);
        addr_ = nullptr;
        len_ = 0;
    }

private:
    void* addr_ = nullptr;
    std::size_t len_ = 0;
};

}  // namespace kvmgdb
