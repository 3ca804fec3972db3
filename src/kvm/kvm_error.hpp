// The one error type of the KVM edge: it names the ioctl (or syscall) and errno,
// e.g. "KVM_SET_SREGS: Invalid argument".
#pragma once

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace kvmgdb {

class KvmError : public std::runtime_error {
public:
    KvmError(const std::string& what_failed, int err, const std::string& hint = {})
        : std::runtime_error(what_failed + ": " + std::strerror(err) + (hint.empty() ? "" : "\n" + hint)),
          call_(what_failed), errno_(err) {}
    // For failures that are not an errno (missing capability, wrong API version).
    explicit KvmError(const std::string& message)
        : std::runtime_error(message), call_(), errno_(0) {}

    const std::string& call() const { return call_; }
    int error_number() const { return errno_; }

private:
    std::string call_;
    int errno_;
};

}  // namespace kvmgdb
