// GDB agent expressions: the stack bytecode gdb compiles a breakpoint condition
// into when the stub advertises ConditionalBreakpoints+, so the stub can test
// the condition itself instead of stopping for gdb to do it. Pure, no I/O: what
// an expression may read comes through AgentContext.
//
// Follows the GDB manual, "Agent Expressions" appendix ("General Bytecode
// Design", "Bytecode Descriptions"), opcode values from gdb's gdbsupport/ax.def,
// and "Packets" (Z0/Z1 cond_list) for the text form. Everything hostile input
// can do (truncated operands, jumps out of the code, division traps, huge
// shifts, stack abuse, endless loops) ends in a Status, never in UB.
//
// Stack cells are 64-bit, as wide as the biggest integer gdb's x86-64 code
// uses (the manual's LONGEST); values carry no type, and the opcodes say
// whether they read a cell as signed or unsigned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kvmgdb::stub {

// What an expression may read. Implementations decide what "unavailable"
// means; both reads fail the evaluation, never throw through it.
class AgentContext {
public:
    virtual ~AgentContext() = default;
    // `regnum` is gdb's number, as in the target description (target.xml);
    // the value is the raw register, little-endian bytes read as an integer
    // and zero-extended to 64 bits. nullopt: no such register, or one wider
    // than 64 bits (gdb only emits `reg` for registers it can trace).
    virtual std::optional<std::uint64_t> read_register(unsigned regnum) = 0;
    // Fills all of `out` from guest memory at `addr` (any alignment), or
    // returns false. `addr + out.size()` may wrap; that is the context's to
    // refuse.
    virtual bool read_memory(std::uint64_t addr, std::span<std::uint8_t> out) = 0;
};

struct AgentLimits {
    // Instructions executed, `end` included: bytecode from gdb has no loops
    // (every jump is forward, "Rationale"), so only a hostile one comes near.
    std::size_t max_steps = 10000;
    // Cells on the stack at once.
    std::size_t max_stack = 1024;
};

struct AgentResult {
    enum class Status : std::uint8_t {
        Ok,              // reached `end`; `value` is the top of the stack
        BadBytecode,     // unknown opcode, truncated operand, jump outside the
                         // code, running off its end, `ext 0`
        StackOverflow,   // a push beyond AgentLimits::max_stack
        StackUnderflow,  // an opcode (or `end`) found too few cells
        StepLimit,       // AgentLimits::max_steps instructions ran without `end`
        MemoryError,     // AgentContext::read_memory refused a refN
        RegisterError,   // AgentContext::read_register had no value for `reg`
        DivideByZero,    // div_* / rem_* with a zero divisor
        Unsupported,     // valid opcode kvmgdb does not run: floating point,
                         // trace state variables, printf
    };
    Status status = Status::Ok;
    std::uint64_t value = 0;  // meaningful only when status is Ok
    std::string message;      // empty when Ok; else "<op> at <pc>: <why>"

    bool ok() const { return status == Status::Ok; }
    // A breakpoint condition holds when the expression's value is non-zero.
    bool condition_true() const { return ok() && value != 0; }
};

std::string_view describe(AgentResult::Status status);

// Runs `bytecode` from offset 0 until `end` or an error.
AgentResult evaluate(std::span<const std::uint8_t> bytecode, AgentContext& ctx,
                     const AgentLimits& limits = {});

// One entry of a cond_list, `X<len>,<hex bytecode>` as InsertBreakpoint keeps
// it: `len` is the hex byte count and must match the hex exactly; an empty
// expression (len 0) is refused, since it has no value to test.
std::optional<std::vector<std::uint8_t>> parse_agent_expr(std::string_view entry);

// The cond_list that follows `Z0,addr,kind` ("Packets", Z0):
// `;X<len>,<hex>` one or more times. gdb's remote.c writes one `;` and then
// concatenates the entries (`;X3,220127X3,220027`); a `;` between entries is
// accepted too. A `;cmds:persist,cmd_list` ends the list (its bytecode is
// dprintf commands, not conditions). No entry at all gives an empty list (an
// unconditional breakpoint); any malformed entry gives nullopt.
std::optional<std::vector<std::vector<std::uint8_t>>> parse_condition_list(std::string_view text);

}  // namespace kvmgdb::stub
