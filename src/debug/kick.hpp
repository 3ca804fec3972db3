// Kicking a thread out of KVM_RUN: a no-op SIGUSR1 handler installed without
// SA_RESTART, so pthread_kill() makes the blocking KVM_RUN ioctl return EINTR.
// The caller also sets kvm_run->immediate_exit, which covers the window where the
// signal lands just before the thread enters KVM_RUN.
#pragma once

#include <pthread.h>

namespace kvmgdb::debug {

inline constexpr int kKickSignal = 10;  // SIGUSR1 (static_assert'ed in kick.cpp)

// Installs the handler once per process; idempotent and thread-safe.
void install_kick_handler();
// Sends the kick signal to `thread` (which must have called install_kick_handler()).
void kick_thread(pthread_t thread);

}  // namespace kvmgdb::debug
