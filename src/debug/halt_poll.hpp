// On the PC platform KVM runs HLT inside the kernel (the in-kernel LAPIC wakes the
// vCPU on its next interrupt), so a HLT patch breakpoint (the fallback where int3
// does not trap, left there for one-byte instructions: breakpoints.hpp, kOutImm8)
// never comes back as KVM_EXIT_HLT. HaltPoll kicks the calling vCPU thread out of
// KVM_RUN every `period` with a per-thread POSIX timer (SIGEV_THREAD_ID, the kick
// signal); the runner then asks KVM_GET_MP_STATE whether the vCPU sits halted right
// after one of its patches. Deterministic where interrupts are off (interrupt
// handlers, early boot); where they are on, an interrupt that comes first wakes the
// vCPU past the patch (docs/kernels.md, "Breakpoints in a nested KVM"). int3,
// debug-register and OUT-patch breakpoints need none of this.
#pragma once

#include <chrono>
#include <ctime>

namespace kvmgdb::debug {

class HaltPoll {
public:
    // Starts the timer for the calling thread, which must have the kick handler.
    explicit HaltPoll(std::chrono::microseconds period);
    ~HaltPoll();
    HaltPoll(const HaltPoll&) = delete;
    HaltPoll& operator=(const HaltPoll&) = delete;

private:
    timer_t timer_{};
};

}  // namespace kvmgdb::debug
