#include "debug/kick.hpp"

#include <csignal>
#include <mutex>

namespace kvmgdb::debug {

static_assert(kKickSignal == SIGUSR1);

namespace {
extern "C" void kick_handler(int) {}
}  // namespace

void install_kick_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_handler = kick_handler;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must come back with EINTR
        sigaction(kKickSignal, &sa, nullptr);
    });
}

void kick_thread(pthread_t thread) { pthread_kill(thread, kKickSignal); }

}  // namespace kvmgdb::debug
