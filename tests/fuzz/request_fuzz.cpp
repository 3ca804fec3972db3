// The request parser (stub/request.hpp) on arbitrary payloads, as the Decoder
// hands them over (any byte, X data included). Properties:
//  - parse_request never throws: the session calls it outside its try block, and
//    a malformed packet must be a Malformed value, not an exception;
//  - a parsed thread-id formats back to text that parses to the same id;
//  - a parsed number formats back to itself (parse_hex_u64 / format_hex_u64), and
//    hex data round-trips through from_hex / to_hex.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "stub/hex.hpp"
#include "stub/request.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace kvmgdb::stub;

namespace {

void check_thread(const ThreadId& id) {
    const auto again = parse_thread_id(format_thread_id(id));
    FUZZ_CHECK(again && *again == id);
}

void check_threads(const Request& request) {
    if (const auto* r = std::get_if<SetThread>(&request)) check_thread(r->thread);
    if (const auto* r = std::get_if<ThreadAlive>(&request)) check_thread(r->thread);
    if (const auto* r = std::get_if<ThreadExtraInfo>(&request)) check_thread(r->thread);
    if (const auto* r = std::get_if<VCont>(&request)) {
        FUZZ_CHECK(!r->actions.empty());
        for (const auto& a : r->actions) {
            if (a.thread) check_thread(*a.thread);
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view payload(reinterpret_cast<const char*>(data), size);
    const Request request = parse_request(payload);
    check_threads(request);

    if (const auto id = parse_thread_id(payload)) check_thread(*id);
    if (const auto value = parse_hex_u64(payload)) {
        FUZZ_CHECK(parse_hex_u64(format_hex_u64(*value)) == value);
    }
    if (const auto bytes = from_hex(payload)) {
        FUZZ_CHECK(bytes->size() * 2 == payload.size());
        FUZZ_CHECK(from_hex(to_hex(*bytes)) == bytes);
    }
    return 0;
}
