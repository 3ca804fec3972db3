// Byte-exact tables for the agent-expression evaluator (stub/agent_expr).
// Bytecode is written as hex with the opcode values of gdbsupport/ax.def, never
// built by the code under test; "gdb 13" cases are the exact bytes gdb 13.1
// sent or printed, with the command that produced them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "stub/agent_expr.hpp"

namespace {

using namespace kvmgdb::stub;
using S = AgentResult::Status;
using Bytes = std::vector<std::uint8_t>;

// "22 05 27" -> {0x22, 0x05, 0x27}; spaces are for the reader.
Bytes hex(std::string_view text) {
    Bytes out;
    int hi = -1;
    for (char c : text) {
        if (c == ' ') continue;
        int v = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
        if (hi < 0) {
            hi = v;
        } else {
            out.push_back(static_cast<std::uint8_t>(hi << 4 | v));
            hi = -1;
        }
    }
    EXPECT_LT(hi, 0) << "odd hex in test: " << text;
    return out;
}

// Registers by gdb number; memory as regions, each read wholly inside one.
class FakeContext : public AgentContext {
public:
    std::map<unsigned, std::uint64_t> regs;
    std::map<std::uint64_t, Bytes> memory;  // base -> bytes
    std::vector<std::uint64_t> reads;       // addresses asked for, in order

    std::optional<std::uint64_t> read_register(unsigned regnum) override {
        auto it = regs.find(regnum);
        if (it == regs.end()) return std::nullopt;
        return it->second;
    }
    bool read_memory(std::uint64_t addr, std::span<std::uint8_t> out) override {
        reads.push_back(addr);
        for (const auto& [base, bytes] : memory) {
            if (addr < base || addr - base > bytes.size() ||
                out.size() > bytes.size() - (addr - base)) {
                continue;
            }
            std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(addr - base), out.size(),
                        out.begin());
            return true;
        }
        return false;
    }
};

struct Case {
    std::string name;
    std::string code;
    S status;
    std::uint64_t value = 0;
};

constexpr std::uint64_t neg(std::uint64_t v) { return ~v + 1; }  // -v as a cell

void run_table(const std::vector<Case>& cases, FakeContext& ctx, const AgentLimits& limits = {}) {
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name + " [" + c.code + "]");
        AgentResult r = evaluate(hex(c.code), ctx, limits);
        EXPECT_EQ(r.status, c.status) << describe(r.status) << ": " << r.message;
        if (c.status == S::Ok) {
            EXPECT_EQ(r.value, c.value);
            EXPECT_EQ(r.message, "");
        } else {
            EXPECT_NE(r.message, "");
        }
    }
}

void run_table(const std::vector<Case>& cases) {
    FakeContext ctx;
    run_table(cases, ctx);
}

TEST(AgentExpr, Arithmetic) {
    run_table({
        {"add", "22 05 22 03 02 27", S::Ok, 8},
        {"sub is next-to-top minus top", "22 05 22 03 03 27", S::Ok, 2},
        {"sub wraps", "22 03 22 05 03 27", S::Ok, neg(2)},
        {"mul", "22 06 22 07 04 27", S::Ok, 42},
        {"mul wraps", "25 80 00 00 00 00 00 00 00 22 02 04 27", S::Ok, 0},
        {"add wraps", "25 ff ff ff ff ff ff ff ff 22 01 02 27", S::Ok, 0},
        {"add needs two", "22 01 02 27", S::StackUnderflow},
    });
}

TEST(AgentExpr, Division) {
    run_table({
        {"div_signed -7/2", "22 f9 16 08 22 02 05 27", S::Ok, neg(3)},
        {"rem_signed -7%2", "22 f9 16 08 22 02 07 27", S::Ok, neg(1)},
        {"div_signed 7/-2", "22 07 22 fe 16 08 05 27", S::Ok, neg(3)},
        {"div_unsigned", "22 f9 16 08 22 02 06 27", S::Ok, 0x7ffffffffffffffc},
        {"rem_unsigned", "22 f9 16 08 22 02 08 27", S::Ok, 1},
        {"div_signed by 0", "22 07 22 00 05 27", S::DivideByZero},
        {"div_unsigned by 0", "22 07 22 00 06 27", S::DivideByZero},
        {"rem_signed by 0", "22 07 22 00 07 27", S::DivideByZero},
        {"rem_unsigned by 0", "22 07 22 00 08 27", S::DivideByZero},
        // The quotient that overflows wraps instead of trapping.
        {"INT64_MIN / -1", "25 80 00 00 00 00 00 00 00 22 ff 16 08 05 27", S::Ok,
         0x8000000000000000},
        {"INT64_MIN % -1", "25 80 00 00 00 00 00 00 00 22 ff 16 08 07 27", S::Ok, 0},
        {"INT64_MIN / -1 unsigned", "25 80 00 00 00 00 00 00 00 22 ff 16 08 06 27", S::Ok, 0},
        {"div needs two", "22 01 05 27", S::StackUnderflow},
    });
}

TEST(AgentExpr, Shifts) {
    run_table({
        {"lsh", "22 01 22 04 09 27", S::Ok, 16},
        {"lsh 63", "22 01 22 3f 09 27", S::Ok, 0x8000000000000000},
        {"lsh 64", "22 01 22 40 09 27", S::Ok, 0},
        {"lsh 200", "22 ff 22 c8 09 27", S::Ok, 0},
        {"lsh 2^64-1", "22 01 25 ff ff ff ff ff ff ff ff 09 27", S::Ok, 0},
        {"rsh_unsigned", "22 80 22 04 0b 27", S::Ok, 8},
        {"rsh_unsigned of negative", "22 f0 16 08 22 3c 0b 27", S::Ok, 0xf},
        {"rsh_unsigned 64", "22 ff 16 08 22 40 0b 27", S::Ok, 0},
        {"rsh_signed", "22 f0 16 08 22 02 0a 27", S::Ok, neg(4)},
        {"rsh_signed 63", "25 80 00 00 00 00 00 00 00 22 3f 0a 27", S::Ok, neg(1)},
        {"rsh_signed 64 negative", "22 ff 16 08 22 40 0a 27", S::Ok, neg(1)},
        {"rsh_signed 64 positive", "22 10 22 40 0a 27", S::Ok, 0},
        {"rsh_signed huge", "22 10 23 ff ff 0a 27", S::Ok, 0},
        {"shift needs two", "22 01 09 27", S::StackUnderflow},
    });
}

TEST(AgentExpr, LogicAndComparison) {
    run_table({
        {"log_not 0", "22 00 0e 27", S::Ok, 1},
        {"log_not 5", "22 05 0e 27", S::Ok, 0},
        {"bit_and", "22 0c 22 0a 0f 27", S::Ok, 0x8},
        {"bit_or", "22 0c 22 0a 10 27", S::Ok, 0xe},
        {"bit_xor", "22 0c 22 0a 11 27", S::Ok, 0x6},
        {"bit_not", "22 00 12 27", S::Ok, ~std::uint64_t{0}},
        {"equal", "22 03 22 03 13 27", S::Ok, 1},
        {"not equal", "22 03 22 04 13 27", S::Ok, 0},
        {"less_signed -1 < 1", "22 ff 16 08 22 01 14 27", S::Ok, 1},
        {"less_signed 1 < -1", "22 01 22 ff 16 08 14 27", S::Ok, 0},
        {"less_signed equal", "22 02 22 02 14 27", S::Ok, 0},
        {"less_unsigned -1 < 1", "22 ff 16 08 22 01 15 27", S::Ok, 0},
        {"less_unsigned 1 < -1", "22 01 22 ff 16 08 15 27", S::Ok, 1},
        {"log_not empty", "0e 27", S::StackUnderflow},
        {"bit_not empty", "12 27", S::StackUnderflow},
        {"equal needs two", "22 01 13 27", S::StackUnderflow},
    });
}

// ext n copies bit n-1 upward; zero_ext n keeps bits below n. Width is the
// operand byte, in bits; 64 or more leaves the cell alone ("Bytecode
// Descriptions", ext).
TEST(AgentExpr, Extension) {
    run_table({
        {"ext 8 negative", "22 80 16 08 27", S::Ok, 0xffffffffffffff80},
        {"ext 8 positive", "22 7f 16 08 27", S::Ok, 0x7f},
        {"ext 8 ignores upper bits", "23 01 7f 16 08 27", S::Ok, 0x7f},
        {"ext 8 upper bits, negative", "23 01 ff 16 08 27", S::Ok, neg(1)},
        {"ext 1", "22 01 16 01 27", S::Ok, neg(1)},
        {"ext 32", "24 ff ff ff fe 16 20 27", S::Ok, neg(2)},
        {"ext 63", "25 40 00 00 00 00 00 00 00 16 3f 27", S::Ok, 0xc000000000000000},
        {"ext 64 no effect", "25 80 00 00 00 00 00 00 01 16 40 27", S::Ok, 0x8000000000000001},
        {"ext 255 no effect", "22 80 16 ff 27", S::Ok, 0x80},
        {"ext 0", "22 01 16 00 27", S::BadBytecode},
        {"ext empty stack", "16 08 27", S::StackUnderflow},
        {"zero_ext 8", "23 01 ff 2a 08 27", S::Ok, 0xff},
        {"zero_ext 32", "22 ff 16 08 2a 20 27", S::Ok, 0xffffffff},
        {"zero_ext 63", "25 ff ff ff ff ff ff ff ff 2a 3f 27", S::Ok, 0x7fffffffffffffff},
        {"zero_ext 0", "22 ff 2a 00 27", S::Ok, 0},
        {"zero_ext 64 no effect", "22 ff 16 08 2a 40 27", S::Ok, neg(1)},
        {"zero_ext 200 no effect", "22 ff 16 08 2a c8 27", S::Ok, neg(1)},
        {"zero_ext empty stack", "2a 08 27", S::StackUnderflow},
    });
}

TEST(AgentExpr, Constants) {
    run_table({
        {"const8 is not sign-extended", "22 ff 27", S::Ok, 0xff},
        {"const16 big-endian", "23 12 34 27", S::Ok, 0x1234},
        {"const32 big-endian", "24 12 34 56 78 27", S::Ok, 0x12345678},
        {"const64 big-endian", "25 01 02 03 04 05 06 07 08 27", S::Ok, 0x0102030405060708},
    });
}

TEST(AgentExpr, MemoryReferences) {
    FakeContext ctx;
    ctx.memory[0x1000] = hex("11 22 33 44 55 66 77 88 99 aa");
    run_table({
        {"ref8", "23 10 00 17 27", S::Ok, 0x11},
        {"ref16 little-endian", "23 10 00 18 27", S::Ok, 0x2211},
        {"ref32", "23 10 00 19 27", S::Ok, 0x44332211},
        {"ref64", "23 10 00 1a 27", S::Ok, 0x8877665544332211},
        {"ref32 unaligned", "23 10 01 19 27", S::Ok, 0x55443322},
        {"ref8 unsigned", "23 10 09 17 27", S::Ok, 0xaa},
        {"ref16 last two bytes", "23 10 08 18 27", S::Ok, 0xaa99},
        {"ref16 past the end", "23 10 09 18 27", S::MemoryError},
        {"ref64 straddling the end", "23 10 03 1a 27", S::MemoryError},
        {"ref8 unmapped", "22 00 17 27", S::MemoryError},
        {"ref64 at 2^64-1", "25 ff ff ff ff ff ff ff ff 1a 27", S::MemoryError},
        {"ref8 empty stack", "17 27", S::StackUnderflow},
        {"ref_float", "23 10 00 1b 27", S::Unsupported},
        {"ref_double", "23 10 00 1c 27", S::Unsupported},
        {"ref_long_double", "23 10 00 1d 27", S::Unsupported},
        {"l_to_d", "22 01 1e 27", S::Unsupported},
        {"d_to_l", "22 01 1f 27", S::Unsupported},
        {"float prefix", "01 27", S::Unsupported},
    }, ctx);
    AgentResult r = evaluate(hex("23 20 00 19 27"), ctx);
    EXPECT_EQ(r.message, "ref32 at 3: cannot read 4 bytes at 0x2000");
}

TEST(AgentExpr, Registers) {
    FakeContext ctx;
    ctx.regs = {{0, 0x1122}, {1, 0x1}, {16, 0x401000}, {256, 0x100}};
    run_table({
        {"reg 0", "26 00 00 27", S::Ok, 0x1122},
        {"reg 16 (rip)", "26 00 10 27", S::Ok, 0x401000},
        {"regnum is big-endian", "26 01 00 27", S::Ok, 0x100},
        {"missing register", "26 00 11 27", S::RegisterError},
        {"missing register 65535", "26 ff ff 27", S::RegisterError},
    }, ctx);
    EXPECT_EQ(evaluate(hex("26 00 11 27"), ctx).message, "reg at 0: no value for register 17");
}

TEST(AgentExpr, StackOps) {
    run_table({
        {"dup", "22 05 28 02 27", S::Ok, 10},
        {"pop", "22 05 22 07 29 27", S::Ok, 5},
        {"swap", "22 05 22 07 2b 03 27", S::Ok, 2},
        {"pick 0 is dup", "22 05 32 00 02 27", S::Ok, 10},
        {"pick 1 is over", "22 05 22 07 32 01 27", S::Ok, 5},
        {"pick 2", "22 01 22 02 22 03 32 02 27", S::Ok, 1},
        {"pick leaves the stack", "22 01 22 02 22 03 32 02 29 27", S::Ok, 3},
        // rot: a b c => c a b
        {"rot top", "22 01 22 02 22 03 33 27", S::Ok, 2},
        {"rot second", "22 01 22 02 22 03 33 29 27", S::Ok, 1},
        {"rot third", "22 01 22 02 22 03 33 29 29 27", S::Ok, 3},
        {"rot keeps the cell below", "22 09 22 01 22 02 22 03 33 29 29 29 27", S::Ok, 9},
        {"dup empty", "28 27", S::StackUnderflow},
        {"pop empty", "29 27", S::StackUnderflow},
        {"swap one", "22 01 2b 27", S::StackUnderflow},
        {"pick past the bottom", "22 01 22 02 32 02 27", S::StackUnderflow},
        {"pick 255", "22 01 32 ff 27", S::StackUnderflow},
        {"rot two", "22 01 22 02 33 27", S::StackUnderflow},
    });
}

TEST(AgentExpr, Jumps) {
    run_table({
        // 0 const8 1 | 2 if_goto 8 | 5 const8 0 | 7 end | 8 const8 9 | 10 end
        {"if_goto taken pops", "22 01 20 00 08 22 00 27 22 09 27", S::Ok, 9},
        {"if_goto not taken", "22 00 20 00 08 22 07 27 22 09 27", S::Ok, 7},
        {"if_goto on any non-zero", "25 80 00 00 00 00 00 00 00 20 00 0f 22 00 27 22 09 27", S::Ok,
         9},
        // 0 goto 6 | 3 const8 1 | 5 end | 6 const8 2 | 8 end
        {"goto", "21 00 06 22 01 27 22 02 27", S::Ok, 2},
        {"goto to the start is a loop", "21 00 00", S::StepLimit},
        // A target inside an operand runs its bytes as opcodes: here the `27`.
        {"goto into an operand", "22 05 21 00 06 23 27", S::Ok, 5},
        {"goto to the end", "21 00 03", S::BadBytecode},
        {"goto far", "22 01 21 ff ff 27", S::BadBytecode},
        {"if_goto far, taken", "22 01 20 ff ff 27", S::BadBytecode},
        {"if_goto far, not taken", "22 00 20 ff ff 22 01 27", S::Ok, 1},
        {"if_goto empty stack", "20 00 00 27", S::StackUnderflow},
    });
}

TEST(AgentExpr, End) {
    run_table({
        {"value is the top; cells below are ignored", "22 01 22 02 27", S::Ok, 2},
        {"end on an empty stack", "27", S::StackUnderflow},
        {"no end", "22 01", S::BadBytecode},
        {"empty bytecode", "", S::BadBytecode},
        {"bytes after end are never read", "22 01 27 ff ff", S::Ok, 1},
    });
}

// Trace opcodes record nothing here and keep their stack effect.
TEST(AgentExpr, TraceOpsAreNoOps) {
    FakeContext ctx;
    run_table({
        {"trace pops addr and size", "22 05 22 10 22 04 0c 27", S::Ok, 5},
        {"tracenz pops addr and size", "22 05 22 10 22 04 2f 27", S::Ok, 5},
        {"trace_quick keeps addr", "22 05 0d 04 27", S::Ok, 5},
        {"trace16 keeps addr", "22 05 30 01 00 27", S::Ok, 5},
        {"trace needs two", "22 05 0c 27", S::StackUnderflow},
        {"tracenz needs two", "22 05 2f 27", S::StackUnderflow},
        {"trace_quick needs one", "0d 04 27", S::StackUnderflow},
        {"trace16 needs one", "30 00 04 27", S::StackUnderflow},
    }, ctx);
    EXPECT_TRUE(ctx.reads.empty());
}

TEST(AgentExpr, UnsupportedAndUnknown) {
    run_table({
        {"getv", "2c 00 01 27", S::Unsupported},
        {"setv", "22 01 2d 00 01 27", S::Unsupported},
        {"tracev", "2e 00 01 27", S::Unsupported},
        {"printf", "22 00 22 00 34 00 00 01 00 27", S::Unsupported},
        {"opcode 00", "00 27", S::BadBytecode},
        {"invalid2 (31)", "31 27", S::BadBytecode},
        {"opcode 35", "35 27", S::BadBytecode},
        {"opcode ff", "ff", S::BadBytecode},
    });
    FakeContext ctx;
    EXPECT_EQ(evaluate(hex("22 01 35"), ctx).message, "opcode 35 at 2: unknown opcode");
    EXPECT_EQ(evaluate(hex("31"), ctx).message, "invalid2 at 0: unknown opcode");
    EXPECT_EQ(evaluate(hex("22 07 22 00 05 27"), ctx).message, "div_signed at 4: divide by zero");
}

TEST(AgentExpr, TruncatedOperands) {
    run_table({
        {"const8", "22", S::BadBytecode},
        {"const16", "23 00", S::BadBytecode},
        {"const32", "24 00 00 00", S::BadBytecode},
        {"const64", "25 00 00 00 00 00 00 00", S::BadBytecode},
        {"reg", "26 00", S::BadBytecode},
        {"if_goto", "22 01 20 00", S::BadBytecode},
        {"goto", "21 00", S::BadBytecode},
        {"ext", "22 01 16", S::BadBytecode},
        {"zero_ext", "22 01 2a", S::BadBytecode},
        {"pick", "22 01 32", S::BadBytecode},
        {"trace_quick", "22 01 0d", S::BadBytecode},
        {"trace16", "22 01 30 00", S::BadBytecode},
        // The operand is checked before the stack.
        {"if_goto truncated, empty stack", "20", S::BadBytecode},
    });
}

TEST(AgentExpr, StackLimit) {
    FakeContext ctx;
    ctx.regs[0] = 1;
    AgentLimits two{.max_steps = 100, .max_stack = 2};
    run_table({
        {"two cells fit", "22 01 22 02 27", S::Ok, 2},
        {"a third const", "22 01 22 02 22 03 27", S::StackOverflow},
        {"a third by dup", "22 01 22 02 28 27", S::StackOverflow},
        {"a third by pick", "22 01 22 02 32 01 27", S::StackOverflow},
        {"a third by reg", "22 01 22 02 26 00 00 27", S::StackOverflow},
    }, ctx, two);
    // const8 1; goto 0: one push per loop hits the default 1024 cells (after
    // 2048 steps) before the default 10000 steps.
    EXPECT_EQ(evaluate(hex("22 01 21 00 00"), ctx).status, S::StackOverflow);
}

TEST(AgentExpr, StepLimit) {
    FakeContext ctx;
    const std::string three = "22 01 22 02 27";  // three instructions, end included
    run_table({{"exactly enough", three, S::Ok, 2}}, ctx, {.max_steps = 3});
    run_table({{"one short", three, S::StepLimit}}, ctx, {.max_steps = 2});
    run_table({{"none", three, S::StepLimit}}, ctx, {.max_steps = 0});
    AgentResult r = evaluate(hex("21 00 00"), ctx);
    EXPECT_EQ(r.status, S::StepLimit);
    EXPECT_EQ(r.message, "goto at 0: step limit of 10000 reached");
}

TEST(AgentExpr, ConditionTrueMeansNonZero) {
    FakeContext ctx;
    EXPECT_TRUE(evaluate(hex("22 02 27"), ctx).condition_true());
    EXPECT_FALSE(evaluate(hex("22 00 27"), ctx).condition_true());
    EXPECT_FALSE(evaluate(hex("22 02 22 00 05 27"), ctx).condition_true());
}

// --- bytecode from gdb 13.1 ---------------------------------------------------
//
// tests built from cond.c, `gcc -g -O0` (a PIE, so the unrelocated globals
// below: counter 0x4010 int, by 0x4014 short, flags 0x4016 unsigned char, big
// 0x4018 long long, arr 0x4020 int[4], bits 0x4030 {int a:3; unsigned b:5},
// ptr 0x4038 int*), f(int x, long y) at 0x1129, main at 0x1149:
//   int counter = 7000; short by = 3; unsigned char flags = 0x81; long long big = -5;
//   int arr[4] = {1, 2, 3, 4}; struct s { int a : 3; unsigned b : 5; } bits = {-2, 17};
//   int *ptr = &arr[2];

// .data as `x/48xb 0x4010` shows it in the file.
Bytes globals_initial() {
    return hex("58 1b 00 00 03 00 81 00  fb ff ff ff ff ff ff ff"
               "01 00 00 00 02 00 00 00  03 00 00 00 04 00 00 00"
               "8e 00 00 00 00 00 00 00  28 40 00 00 00 00 00 00");
}
// After `set var counter = -8, by = -1, flags = 0x7f, big = 5, arr[1] = 3,
// bits.a = 1, bits.b = 2, ptr = &arr[0]` in the running program (ptr unrelocated).
Bytes globals_changed() {
    return hex("f8 ff ff ff ff ff 7f 00  05 00 00 00 00 00 00 00"
               "01 00 00 00 03 00 00 00  03 00 00 00 04 00 00 00"
               "11 00 00 00 00 00 00 00  20 40 00 00 00 00 00 00");
}

struct GdbCase {
    std::string condition;
    std::string packet;        // the Z0 packet gdb sent
    std::uint64_t initial;     // `print/d (condition)` in the running program
    std::uint64_t changed;     // the same after the `set var`s
};

// Sent by gdb 13.1 to a stub advertising ConditionalBreakpoints+, after
//   set breakpoint condition-evaluation target
//   break *(0x1149 + N) if CONDITION
//   continue
// (one address each, so each packet carries one condition).
const std::vector<GdbCase> kGdbGlobals = {
    {"counter > 5000 && by == 3",
     "Z0,1149,1;X28,2340101916202313882b142000112100252340141816102203132000202100252201210027220027",
     1, 0},
    {"big < 0 || flags & 0x80",
     "Z0,114a,1;X1f,2340181a164022001420001c234016172300800f20001c220021001e220127", 1, 0},
    {"arr[1] * 2 == 4", "Z0,114b,1;X17,2340202201220404022a40191620220204162022041327", 1, 0},
    {"bits.a == -2 && bits.b == 17",
     "Z0,114c,1;X2d,23403017160322fe16081320001121002a2340301722030b2a0522112a201320002521002a22"
     "0121002c220027",
     1, 0},
    {"*ptr == 3", "Z0,114d,1;Xb,2340381a19162022031327", 1, 0},
    {"counter / 7 == 1000", "Z0,114e,1;X10,23401019162022070516202303e81327", 1, 0},
    {"by >= 3 && counter <= 7000",
     "Z0,114f,1;X2a,2340141816102203140e200010210027234010191620231b582b140e2000222100272201210029"
     "220027",
     1, 0},
    {"(unsigned)counter >> 2 != 0", "Z0,1150,1;X16,2340101916202a2022022a200b2a2022002a20130e27", 1,
     1},
    {"flags != 0x81 || !by",
     "Z0,1151,1;X1e,23401617230081130e20001b2340141816100e20001b220021001d220127", 0, 1},
    {"by - counter < -6000", "Z0,1153,1;X16,23401418161023401019162003162023e89016101427", 1, 0},
    {"counter % 3 == 1", "Z0,1154,1;Xf,234010191620220307162022011327", 1, 0},
    {"big << 2 < -16", "Z0,1155,1;X11,2340181a1640220209164022f016081427", 1, 0},
    {"(counter | 1) ^ 0x10", "Z0,1156,1;Xd,23401019162022011022101127", 6985, neg(23)},
};

// The Z0 packet's cond_list: what follows "Z0,addr,kind".
std::string_view cond_list(std::string_view packet) {
    return packet.substr(packet.find(';'));
}

TEST(AgentExprGdb, GlobalConditions) {
    for (const auto& c : kGdbGlobals) {
        SCOPED_TRACE(c.condition);
        auto list = parse_condition_list(cond_list(c.packet));
        ASSERT_TRUE(list);
        ASSERT_EQ(list->size(), 1u);
        FakeContext ctx;
        ctx.memory[0x4010] = globals_initial();
        AgentResult r = evaluate(list->front(), ctx);
        ASSERT_TRUE(r.ok()) << r.message;
        EXPECT_EQ(r.value, c.initial);
        ctx.memory[0x4010] = globals_changed();
        r = evaluate(list->front(), ctx);
        ASSERT_TRUE(r.ok()) << r.message;
        EXPECT_EQ(r.value, c.changed);
    }
}

// `break *(0x1149 + 9) if $rip != 0`: reg 16 (rip in gdb's amd64 numbering),
// zero_ext 64, const8 0, equal, log_not, end.
TEST(AgentExprGdb, RegisterCondition) {
    auto list = parse_condition_list(";Xa,2600102a402200130e27");
    ASSERT_TRUE(list && list->size() == 1);
    FakeContext ctx;
    ctx.regs[16] = 0x55555555514d;  // `p/x $rip` at main in the running program
    EXPECT_TRUE(evaluate(list->front(), ctx).condition_true());
    ctx.regs[16] = 0;
    EXPECT_FALSE(evaluate(list->front(), ctx).condition_true());
    ctx.regs.clear();
    EXPECT_EQ(evaluate(list->front(), ctx).status, S::RegisterError);
}

// Arguments at 0x1134 (after f's prologue) are rbp-based (reg 6):
//   x: rbp + 16 + ext8(0xdc) = rbp - 20, ref32 ext 32;  y: rbp - 32, ref64 ext 64.
// Same bytes from `break *0x1134 if x == 3 && y > 2` (this packet) and, on the
// host, `gdb -batch -ex 'break f' -ex run -ex 'maint agent-eval x == 3 && y > 2'`,
// which printed the listing and rbp = 0x7fffffffe590, &x = 0x7fffffffe57c,
// &y = 0x7fffffffe570 for the call f(3, 4).
TEST(AgentExprGdb, ArgumentConditionShortCircuits) {
    const std::string packet =
        "Z0,1134,1;X37,26000622100222dc16080219162022031320001721003426000622100222d01608021a16"
        "4022022b1420002f2100342201210036220027";
    auto list = parse_condition_list(cond_list(packet));
    ASSERT_TRUE(list && list->size() == 1);
    const Bytes& code = list->front();
    FakeContext ctx;
    ctx.regs[6] = 0x7fffffffe590;
    auto frame = [](std::uint64_t y, std::uint32_t x) {
        Bytes b(16);
        for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(y >> (8 * i));
        for (int i = 0; i < 4; ++i) b[12 + i] = static_cast<std::uint8_t>(x >> (8 * i));
        return b;
    };
    ctx.memory[0x7fffffffe570] = frame(4, 3);
    EXPECT_EQ(evaluate(code, ctx).value, 1u);
    ctx.memory[0x7fffffffe570] = frame(2, 3);
    EXPECT_EQ(evaluate(code, ctx).value, 0u);
    ctx.memory[0x7fffffffe570] = frame(neg(7), 3);  // y is signed: -7 > 2 is false
    EXPECT_EQ(evaluate(code, ctx).value, 0u);
    // x != 3: `&&` never reads y, so an unreadable y does not matter.
    ctx.memory.clear();
    ctx.memory[0x7fffffffe57c] = hex("04 00 00 00");
    ctx.reads.clear();
    AgentResult r = evaluate(code, ctx);
    EXPECT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.value, 0u);
    EXPECT_EQ(ctx.reads, std::vector<std::uint64_t>{0x7fffffffe57c});
}

// Two breakpoints at f with their own conditions: gdb sends one Z0 with both,
// concatenated after a single ';':
//   break f if x == 3; break f if counter > 5000; continue
// At f's first byte (0x1129) gdb addresses x from the CFA, rsp (reg 7) + 8.
TEST(AgentExprGdb, TwoConditionsInOnePacket) {
    const std::string packet =
        "Z0,1129,1;X12,26000722080222dc16080219162022031327Xc,2340101916202313882b1427";
    auto list = parse_condition_list(cond_list(packet));
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 2u);
    EXPECT_EQ((*list)[0], hex("26 00 07 22 08 02 22 dc 16 08 02 19 16 20 22 03 13 27"));
    EXPECT_EQ((*list)[1], hex("23 40 10 19 16 20 23 13 88 2b 14 27"));
    FakeContext ctx;
    ctx.regs[7] = 0x7fffffffe598;                         // rsp at entry
    ctx.memory[0x7fffffffe598 + 8 - 36] = hex("03 00 00 00");  // x
    ctx.memory[0x4010] = globals_initial();
    EXPECT_TRUE(evaluate((*list)[0], ctx).condition_true());
    EXPECT_TRUE(evaluate((*list)[1], ctx).condition_true());
    ctx.memory[0x4010] = globals_changed();
    EXPECT_FALSE(evaluate((*list)[1], ctx).condition_true());
}

// `set dprintf-style agent; dprintf main,"by=%d\n",by`: the commands come after
// `;cmds:persist,` and hold an agent printf (numargs 1, a 2-byte length 8, then
// the format with its NUL), not a condition.
TEST(AgentExprGdb, DprintfCommandsAreNotConditions) {
    const std::string packet = "Z0,1149,1;cmds:1,X17,234014181610220022003401000862793d25645c6e0027";
    auto list = parse_condition_list(cond_list(packet));
    ASSERT_TRUE(list);
    EXPECT_TRUE(list->empty());
    auto cmd = parse_agent_expr("X17,234014181610220022003401000862793d25645c6e0027");
    ASSERT_TRUE(cmd);
    FakeContext ctx;
    ctx.memory[0x4010] = globals_initial();
    AgentResult r = evaluate(*cmd, ctx);
    EXPECT_EQ(r.status, S::Unsupported);
    EXPECT_EQ(r.message, "printf at 10: agent printf is not supported");
}

// --- cond_list text ("Packets", Z0) ---------------------------------------------

TEST(AgentExprConditionList, WellFormed) {
    using List = std::vector<Bytes>;
    struct Row {
        std::string name, text;
        List expected;
    };
    const std::vector<Row> rows = {
        {"one", ";X3,220127", {hex("22 01 27")}},
        {"gdb's concatenation", ";X3,220127X2,2227", {hex("22 01 27"), hex("22 27")}},
        {"';' between entries", ";X3,220127;X2,2227", {hex("22 01 27"), hex("22 27")}},
        {"no leading ';'", "X3,220127", {hex("22 01 27")}},
        {"uppercase hex", ";XA,230102030405060708AB", {hex("23 01 02 03 04 05 06 07 08 ab")}},
        {"leading zeros in len", ";X003,220127", {hex("22 01 27")}},
        {"trailing ';'", ";X3,220127;", {hex("22 01 27")}},
        {"then cmds", ";X3,220127;cmds:1,X3,220027", {hex("22 01 27")}},
        {"cmds only", ";cmds:0,X3,220027", {}},
        {"empty", "", {}},
        {"just ';'", ";", {}},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.name + ": " + row.text);
        auto list = parse_condition_list(row.text);
        ASSERT_TRUE(list);
        EXPECT_EQ(*list, row.expected);
    }
}

TEST(AgentExprConditionList, Malformed) {
    for (std::string text : {
             ";X",                          // no length
             ";X3",                         // no comma
             ";X,220127",                   // empty length
             ";Xg,220127",                  // length not hex
             ";X-1,27",                     // no sign
             ";X 3,220127",                 // the manual's space is typography
             ";X3,2201",                    // hex shorter than len
             ";X3,22012727",                // hex longer than len
             ";X3,22012",                   // odd digit
             ";X3,22zz27",                  // not hex
             ";X0,",                        // an empty expression
             ";Xffffffffffffffff,00",       // len beyond the text
             ";X10000000000000000,00",      // len wider than 64 bits
             ";Y3,220127",                  // not an X entry
             ";X3,220127junk",              // trailing text
             ";X3,220127cmds:1,X3,220027",  // cmds needs its ';'
         }) {
        SCOPED_TRACE(text);
        EXPECT_FALSE(parse_condition_list(text));
    }
}

TEST(AgentExprConditionList, SingleEntry) {
    EXPECT_EQ(parse_agent_expr("X3,220127"), hex("22 01 27"));
    EXPECT_FALSE(parse_agent_expr("X3,22012727"));
    EXPECT_FALSE(parse_agent_expr("X3,220127X2,2227"));
    EXPECT_FALSE(parse_agent_expr(";X3,220127"));
    EXPECT_FALSE(parse_agent_expr("X0,"));
    EXPECT_FALSE(parse_agent_expr(""));
}

}  // namespace
