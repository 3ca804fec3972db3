// `kvmgdb --listen ADDR` checked before KVM is touched: a port in use or a socket
// path that cannot be created is a bad command-line value (status 2, one line),
// reported before the guest is loaded and the vCPU probed. The stub's Server binds
// for real later and reports the same problems should they appear in between.
#pragma once

#include <optional>
#include <string>

#include "stub/listen_address.hpp"

namespace kvmgdb {

// nullopt when ADDR can be listened on now; else one line such as
// "cannot listen on 127.0.0.1:1234: Address already in use". Leaves nothing behind
// (a trial Unix socket file is removed; a stale one, which the server replaces, is
// left alone).
std::optional<std::string> listen_problem(const stub::ListenAddress& address);

}  // namespace kvmgdb
