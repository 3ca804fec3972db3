#include "debug/halt_poll.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "debug/kick.hpp"
#include "kvm/kvm_error.hpp"

namespace kvmgdb::debug {

HaltPoll::HaltPoll(std::chrono::microseconds period) {
    sigevent ev{};
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = kKickSignal;
    ev._sigev_un._tid = static_cast<pid_t>(::syscall(SYS_gettid));
    if (::timer_create(CLOCK_MONOTONIC, &ev, &timer_) != 0) throw KvmError("timer_create for the halt poll", errno);
    itimerspec spec{};
    spec.it_interval.tv_sec = static_cast<time_t>(period.count() / 1000000);
    spec.it_interval.tv_nsec = static_cast<long>(period.count() % 1000000) * 1000;
    spec.it_value = spec.it_interval;
    if (::timer_settime(timer_, 0, &spec, nullptr) != 0) {
        const int err = errno;
        ::timer_delete(timer_);
        throw KvmError("timer_settime for the halt poll", err);
    }
}

HaltPoll::~HaltPoll() { ::timer_delete(timer_); }

}  // namespace kvmgdb::debug
