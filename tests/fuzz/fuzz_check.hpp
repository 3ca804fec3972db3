// What every kvmgdb fuzz target shares: a property that does not hold is a crash,
// with the property named, so libFuzzer keeps the input and reports it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

namespace kvmgdb::fuzz {

[[noreturn]] inline void property_failed(const char* what, const char* file, int line) {
    std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n", file, line, what);
    std::abort();
}

inline std::string_view as_text(std::span<const std::uint8_t> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

inline std::span<const std::uint8_t> as_bytes(std::string_view text) {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

}  // namespace kvmgdb::fuzz

#define FUZZ_CHECK(cond) \
    ((cond) ? (void)0 : ::kvmgdb::fuzz::property_failed(#cond, __FILE__, __LINE__))
