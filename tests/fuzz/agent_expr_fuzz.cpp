// The agent-expression evaluator (stub/agent_expr.hpp) on arbitrary bytecode.
//
// Input: byte 0 picks the limits (low 4 bits: max_stack 1..16; high 4 bits:
// max_steps in steps of 256, so a `goto 0` loop ends fast), the rest is the
// bytecode. The context has 64 bytes of memory at 0x1000 and registers 0-7 and
// 16 (rip). Properties:
//  - evaluation never crashes, whatever the bytes (sanitizers: no UB either);
//  - it is deterministic: a second run gives the same result and the same reads;
//  - Ok has no message, every error has one and value 0;
//  - the context is asked at most once per step;
//  - raising the limits never changes an Ok result (it ran within them);
//  - the bytecode in gdb's `X<len>,<hex>` form parses back to itself, alone and
//    as a cond_list; the raw bytes as cond_list text never crash the parser.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "stub/agent_expr.hpp"
#include "stub/hex.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace kvmgdb::stub;
using kvmgdb::fuzz::as_text;

namespace {

constexpr std::uint64_t kMemBase = 0x1000;
constexpr std::size_t kMemSize = 64;

class SmallContext : public AgentContext {
public:
    std::vector<std::uint64_t> calls;  // register numbers and addresses, in order

    std::optional<std::uint64_t> read_register(unsigned regnum) override {
        calls.push_back(regnum);
        if (regnum < 8) return 0x1000 + regnum * 8;  // some point into memory
        if (regnum == 16) return 0x401000;
        return std::nullopt;
    }
    bool read_memory(std::uint64_t addr, std::span<std::uint8_t> out) override {
        calls.push_back(addr);
        if (addr < kMemBase || addr - kMemBase > kMemSize ||
            out.size() > kMemSize - (addr - kMemBase)) {
            return false;
        }
        for (std::size_t i = 0; i < out.size(); ++i) {
            out[i] = static_cast<std::uint8_t>((addr - kMemBase + i) * 37 + 11);
        }
        return true;
    }
};

bool same(const AgentResult& a, const AgentResult& b) {
    return a.status == b.status && a.value == b.value && a.message == b.message;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const AgentLimits limits{.max_steps = 1 + (data[0] >> 4) * 256u,
                             .max_stack = 1 + (data[0] & 0x0fu)};
    const std::span<const std::uint8_t> code(data + 1, size - 1);

    SmallContext first;
    const AgentResult r = evaluate(code, first, limits);
    SmallContext second;
    FUZZ_CHECK(same(evaluate(code, second, limits), r));
    FUZZ_CHECK(first.calls == second.calls);

    FUZZ_CHECK(r.ok() == r.message.empty());
    if (!r.ok()) FUZZ_CHECK(r.value == 0);
    FUZZ_CHECK(first.calls.size() <= limits.max_steps);

    if (r.ok()) {
        SmallContext roomy;
        FUZZ_CHECK(same(evaluate(code, roomy, {.max_steps = 100000, .max_stack = 4096}), r));
    }

    if (!code.empty()) {
        const std::string entry = "X" + format_hex_u64(code.size()) + "," + to_hex(code);
        const auto one = parse_agent_expr(entry);
        FUZZ_CHECK(one && std::equal(one->begin(), one->end(), code.begin(), code.end()));
        const auto list = parse_condition_list(";" + entry + entry + ";cmds:1," + entry);
        FUZZ_CHECK(list && list->size() == 2 && (*list)[0] == *one && (*list)[1] == *one);
    }
    (void)parse_condition_list(as_text(code));
    return 0;
}
