// kvmgdb's stdin as the PC platform's COM1 input: a thread that reads whatever
// arrives on a file descriptor and hands it to a sink (Machine::serial_input), so a
// kernel's serial console takes typed lines or a test's piped input. It stops at
// end of file or when destroyed (an eventfd wakes its poll), never blocking exit.
#pragma once

#include <functional>
#include <string_view>
#include <thread>

#include "kvm/fd.hpp"

namespace kvmgdb {

class StdinToSerial {
public:
    using Sink = std::function<void(std::string_view)>;
    StdinToSerial(int fd, Sink sink);
    ~StdinToSerial();
    StdinToSerial(const StdinToSerial&) = delete;
    StdinToSerial& operator=(const StdinToSerial&) = delete;

private:
    void pump();
    int fd_;
    Sink sink_;
    Fd wake_;  // an eventfd: written once by the destructor
    std::thread thread_;
};

}  // namespace kvmgdb
