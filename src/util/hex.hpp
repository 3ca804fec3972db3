// `0x1f` for user-facing messages (errors, monitor output) on the VMM side.
// The RSP's own hex (no 0x, fixed widths, byte order) is stub/hex.hpp.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace kvmgdb {

inline std::string hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace kvmgdb
