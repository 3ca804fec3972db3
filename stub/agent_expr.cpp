#include "stub/agent_expr.hpp"

#include <array>
#include <limits>
#include <string>
#include <utility>

#include "stub/hex.hpp"

namespace kvmgdb::stub {

namespace {

using Status = AgentResult::Status;

// Opcode values: gdbsupport/ax.def (fixed: "other independent implementations
// ... rely on the exact values"). There is no `over`; gdb writes `pick 1`.
enum Op : std::uint8_t {
    kFloat = 0x01, kAdd = 0x02, kSub = 0x03, kMul = 0x04,
    kDivSigned = 0x05, kDivUnsigned = 0x06, kRemSigned = 0x07, kRemUnsigned = 0x08,
    kLsh = 0x09, kRshSigned = 0x0a, kRshUnsigned = 0x0b,
    kTrace = 0x0c, kTraceQuick = 0x0d,
    kLogNot = 0x0e, kBitAnd = 0x0f, kBitOr = 0x10, kBitXor = 0x11, kBitNot = 0x12,
    kEqual = 0x13, kLessSigned = 0x14, kLessUnsigned = 0x15,
    kExt = 0x16, kRef8 = 0x17, kRef16 = 0x18, kRef32 = 0x19, kRef64 = 0x1a,
    kRefFloat = 0x1b, kRefDouble = 0x1c, kRefLongDouble = 0x1d, kLToD = 0x1e, kDToL = 0x1f,
    kIfGoto = 0x20, kGoto = 0x21,
    kConst8 = 0x22, kConst16 = 0x23, kConst32 = 0x24, kConst64 = 0x25,
    kReg = 0x26, kEnd = 0x27, kDup = 0x28, kPop = 0x29, kZeroExt = 0x2a, kSwap = 0x2b,
    kGetv = 0x2c, kSetv = 0x2d, kTracev = 0x2e, kTracenz = 0x2f, kTrace16 = 0x30,
    kInvalid2 = 0x31, kPick = 0x32, kRot = 0x33, kPrintf = 0x34,
};

std::string_view op_name(std::uint8_t op) {
    static constexpr std::array<std::string_view, 0x35> names = {
        "?",          "float",        "add",        "sub",         "mul",
        "div_signed", "div_unsigned", "rem_signed", "rem_unsigned", "lsh",
        "rsh_signed", "rsh_unsigned", "trace",      "trace_quick", "log_not",
        "bit_and",    "bit_or",       "bit_xor",    "bit_not",     "equal",
        "less_signed", "less_unsigned", "ext",      "ref8",        "ref16",
        "ref32",      "ref64",        "ref_float",  "ref_double",  "ref_long_double",
        "l_to_d",     "d_to_l",       "if_goto",    "goto",        "const8",
        "const16",    "const32",      "const64",    "reg",         "end",
        "dup",        "pop",          "zero_ext",   "swap",        "getv",
        "setv",       "tracev",       "tracenz",    "trace16",     "invalid2",
        "pick",       "rot",          "printf",
    };
    return op < names.size() ? names[op] : "?";
}

constexpr unsigned kCellBits = 64;

std::uint64_t low_mask(unsigned bits) {  // bits < 64
    return (std::uint64_t{1} << bits) - 1;
}

class Machine {
public:
    Machine(std::span<const std::uint8_t> code, AgentContext& ctx, const AgentLimits& limits)
        : code_(code), ctx_(ctx), limits_(limits) {}

    AgentResult run() {
        for (;;) {
            if (pc_ >= code_.size()) {
                return {Status::BadBytecode, 0,
                        "no `end` in the " + std::to_string(code_.size()) + "-byte bytecode"};
            }
            op_pc_ = pc_;
            op_ = code_[pc_++];
            if (steps_ == limits_.max_steps) {
                return fail(Status::StepLimit,
                            "step limit of " + std::to_string(limits_.max_steps) + " reached");
            }
            ++steps_;
            if (!step()) return std::move(result_);
        }
    }

private:
    // Executes op_; false once the run is over (result_ says how).
    bool step();

    bool fail_bool(Status status, std::string why) {
        result_ = fail(status, std::move(why));
        return false;
    }
    AgentResult fail(Status status, std::string why) const {
        std::string message(op_name(op_));
        if (message == "?") message = "opcode " + to_hex(std::span(&op_, 1));
        message += " at " + std::to_string(op_pc_) + ": " + why;
        return {status, 0, std::move(message)};
    }

    // A big-endian operand of `n` bytes ("Bytecode Descriptions": operands are
    // "always stored most significant byte first", unaligned).
    bool operand(std::size_t n, std::uint64_t& out) {
        if (code_.size() - pc_ < n) {
            return fail_bool(Status::BadBytecode, "operand truncated");
        }
        out = 0;
        for (std::size_t i = 0; i < n; ++i) out = out << 8 | code_[pc_++];
        return true;
    }

    bool need(std::size_t cells) {
        if (stack_.size() >= cells) return true;
        return fail_bool(Status::StackUnderflow, "needs " + std::to_string(cells) +
                                                     " stack cells, has " +
                                                     std::to_string(stack_.size()));
    }
    bool push(std::uint64_t v) {
        if (stack_.size() >= limits_.max_stack) {
            return fail_bool(Status::StackOverflow,
                             "stack limit of " + std::to_string(limits_.max_stack) + " cells");
        }
        stack_.push_back(v);
        return true;
    }
    std::uint64_t pop() {  // after need()
        std::uint64_t v = stack_.back();
        stack_.pop_back();
        return v;
    }
    std::uint64_t& top() { return stack_.back(); }

    // "start + offset"; a target outside the code can only be hostile.
    bool jump(std::uint64_t offset) {
        if (offset >= code_.size()) {
            return fail_bool(Status::BadBytecode,
                             "jump to " + std::to_string(offset) + ", outside the " +
                                 std::to_string(code_.size()) + "-byte bytecode");
        }
        pc_ = static_cast<std::size_t>(offset);
        return true;
    }

    template <typename F>
    bool binary(F f) {
        if (!need(2)) return false;
        std::uint64_t b = pop();
        top() = f(top(), b);
        return true;
    }
    bool divide(bool is_signed, bool remainder);
    bool shift(Op op);
    bool ref(std::size_t bytes);

    std::span<const std::uint8_t> code_;
    AgentContext& ctx_;
    const AgentLimits& limits_;
    std::vector<std::uint64_t> stack_;
    std::size_t pc_ = 0;
    std::size_t op_pc_ = 0;
    std::uint8_t op_ = 0;
    std::size_t steps_ = 0;
    AgentResult result_;
};

std::int64_t as_signed(std::uint64_t v) { return static_cast<std::int64_t>(v); }

bool Machine::divide(bool is_signed, bool remainder) {
    if (!need(2)) return false;
    std::uint64_t b = pop();
    std::uint64_t a = top();
    if (b == 0) return fail_bool(Status::DivideByZero, "divide by zero");
    if (!is_signed) {
        top() = remainder ? a % b : a / b;
    } else if (as_signed(a) == std::numeric_limits<std::int64_t>::min() && as_signed(b) == -1) {
        // The one quotient that does not fit (and traps on x86): the cell
        // wraps as two's complement, so INT64_MIN / -1 is INT64_MIN, rem 0.
        top() = remainder ? 0 : a;
    } else {
        std::int64_t q = remainder ? as_signed(a) % as_signed(b) : as_signed(a) / as_signed(b);
        top() = static_cast<std::uint64_t>(q);
    }
    return true;
}

// Shifting a cell by its width or more is UB in C++; the manual's "shift a by b
// bits" is read literally: every bit leaves, zeros (or copies of the sign bit
// for rsh_signed) come in.
bool Machine::shift(Op op) {
    if (!need(2)) return false;
    std::uint64_t b = pop();
    std::uint64_t a = top();
    bool all = b >= kCellBits;
    auto n = static_cast<unsigned>(all ? 0 : b);
    switch (op) {
        case kLsh: top() = all ? 0 : a << n; break;
        case kRshUnsigned: top() = all ? 0 : a >> n; break;
        default: {  // kRshSigned: C++20 defines >> of a negative value as arithmetic
            std::int64_t s = as_signed(a);
            top() = static_cast<std::uint64_t>(all ? (s < 0 ? -1 : 0) : s >> n);
        }
    }
    return true;
}

// refN: "fetch an n-bit value from addr, using the natural target endianness",
// little-endian on x86, pushed unsigned (gdb follows with `ext` for signed).
bool Machine::ref(std::size_t bytes) {
    if (!need(1)) return false;
    std::array<std::uint8_t, 8> buf{};
    std::uint64_t addr = top();
    if (!ctx_.read_memory(addr, std::span(buf.data(), bytes))) {
        return fail_bool(Status::MemoryError, "cannot read " + std::to_string(bytes) +
                                                  " bytes at 0x" + format_hex_u64(addr));
    }
    std::uint64_t v = 0;
    for (std::size_t i = bytes; i-- > 0;) v = v << 8 | buf[i];
    top() = v;
    return true;
}

bool Machine::step() {
    std::uint64_t arg = 0;
    switch (op_) {
        case kAdd: return binary([](std::uint64_t a, std::uint64_t b) { return a + b; });
        case kSub: return binary([](std::uint64_t a, std::uint64_t b) { return a - b; });
        case kMul: return binary([](std::uint64_t a, std::uint64_t b) { return a * b; });
        case kDivSigned: return divide(true, false);
        case kDivUnsigned: return divide(false, false);
        case kRemSigned: return divide(true, true);
        case kRemUnsigned: return divide(false, true);
        case kLsh:
        case kRshSigned:
        case kRshUnsigned: return shift(static_cast<Op>(op_));
        case kBitAnd: return binary([](std::uint64_t a, std::uint64_t b) { return a & b; });
        case kBitOr: return binary([](std::uint64_t a, std::uint64_t b) { return a | b; });
        case kBitXor: return binary([](std::uint64_t a, std::uint64_t b) { return a ^ b; });
        case kEqual:
            return binary([](std::uint64_t a, std::uint64_t b) -> std::uint64_t { return a == b; });
        case kLessSigned:
            return binary([](std::uint64_t a, std::uint64_t b) -> std::uint64_t {
                return as_signed(a) < as_signed(b);
            });
        case kLessUnsigned:
            return binary([](std::uint64_t a, std::uint64_t b) -> std::uint64_t { return a < b; });
        case kLogNot:
            if (!need(1)) return false;
            top() = top() == 0;
            return true;
        case kBitNot:
            if (!need(1)) return false;
            top() = ~top();
            return true;

        // ext n: sign-extend from bit n-1. "n may be larger than or equal to the
        // width of the stack elements; in this case, the bytecode should have no
        // effect" (gdb emits `ext 64` after a ref64 of a long). `ext 0` has no
        // sign bit to copy: gdb never emits it, so it is malformed.
        case kExt: {
            if (!operand(1, arg) || !need(1)) return false;
            auto bits = static_cast<unsigned>(arg);
            if (bits == 0) return fail_bool(Status::BadBytecode, "ext 0 has no sign bit");
            if (bits < kCellBits) {
                std::uint64_t sign = std::uint64_t{1} << (bits - 1);
                top() = ((top() & low_mask(bits)) ^ sign) - sign;
            }
            return true;
        }
        // zero_ext n: keep the low n bits (n >= 64 keeps all, n == 0 none).
        case kZeroExt: {
            if (!operand(1, arg) || !need(1)) return false;
            auto bits = static_cast<unsigned>(arg);
            if (bits < kCellBits) top() &= low_mask(bits);
            return true;
        }

        case kRef8: return ref(1);
        case kRef16: return ref(2);
        case kRef32: return ref(4);
        case kRef64: return ref(8);

        case kIfGoto: {
            if (!operand(2, arg) || !need(1)) return false;
            return pop() != 0 ? jump(arg) : true;
        }
        case kGoto: return operand(2, arg) && jump(arg);

        case kConst8: return operand(1, arg) && push(arg);
        case kConst16: return operand(2, arg) && push(arg);
        case kConst32: return operand(4, arg) && push(arg);
        case kConst64: return operand(8, arg) && push(arg);

        case kReg: {
            if (!operand(2, arg)) return false;
            auto regnum = static_cast<unsigned>(arg);
            std::optional<std::uint64_t> v = ctx_.read_register(regnum);
            if (!v) return fail_bool(Status::RegisterError, "no value for register " +
                                                                std::to_string(regnum));
            return push(*v);
        }

        // "the result should be the top element of the stack"; cells below it
        // (an lvalue's address under its size, say) are allowed and ignored.
        case kEnd:
            if (!need(1)) return false;
            result_ = {Status::Ok, top(), {}};
            return false;

        case kDup:
            return need(1) && push(top());
        case kPop:
            if (!need(1)) return false;
            pop();
            return true;
        case kSwap: {
            if (!need(2)) return false;
            std::swap(stack_[stack_.size() - 1], stack_[stack_.size() - 2]);
            return true;
        }
        // pick n: copy the cell n below the top (pick 0 = dup, pick 1 = over).
        case kPick: {
            if (!operand(1, arg) || !need(static_cast<std::size_t>(arg) + 1)) return false;
            return push(stack_[stack_.size() - 1 - static_cast<std::size_t>(arg)]);
        }
        // rot: a b c => c a b (the top goes third, as gdbserver's ax.cc does).
        case kRot: {
            if (!need(3)) return false;
            std::size_t n = stack_.size();
            std::uint64_t c = stack_[n - 1];
            stack_[n - 1] = stack_[n - 2];
            stack_[n - 2] = stack_[n - 3];
            stack_[n - 3] = c;
            return true;
        }

        // Trace collection: gdb emits these for tracepoint `collect` actions
        // (`maint agent`), never for a condition (`maint agent-eval`). A
        // breakpoint has no trace buffer to record into, so they record nothing
        // and keep only their stack effect, which keeps a shared expression's
        // value intact: trace and tracenz pop addr and size, trace_quick and
        // trace16 leave addr.
        case kTrace:
        case kTracenz:
            if (!need(2)) return false;
            pop();
            pop();
            return true;
        case kTraceQuick: return operand(1, arg) && need(1);
        case kTrace16: return operand(2, arg) && need(1);

        // Trace state variables (getv/setv/tracev) exist only with tracepoints,
        // which kvmgdb does not have; printf is dprintf's agent style (it comes
        // in `cmds:`, not a condition) and would need an output channel;
        // gdb emits no floating-point bytecode ("Not implemented yet").
        case kGetv:
        case kSetv:
        case kTracev:
            return fail_bool(Status::Unsupported, "no trace state variables");
        case kPrintf:
            return fail_bool(Status::Unsupported, "agent printf is not supported");
        case kFloat:
        case kRefFloat:
        case kRefDouble:
        case kRefLongDouble:
        case kLToD:
        case kDToL:
            return fail_bool(Status::Unsupported, "floating point is not supported");

        default:  // 0x00, invalid2 (0x31), 0x35 and up
            return fail_bool(Status::BadBytecode, "unknown opcode");
    }
}

}  // namespace

std::string_view describe(AgentResult::Status status) {
    switch (status) {
        case Status::Ok: return "ok";
        case Status::BadBytecode: return "bad bytecode";
        case Status::StackOverflow: return "stack overflow";
        case Status::StackUnderflow: return "stack underflow";
        case Status::StepLimit: return "step limit";
        case Status::MemoryError: return "memory error";
        case Status::RegisterError: return "register error";
        case Status::DivideByZero: return "divide by zero";
        case Status::Unsupported: return "unsupported";
    }
    return "unknown";
}

AgentResult evaluate(std::span<const std::uint8_t> bytecode, AgentContext& ctx,
                     const AgentLimits& limits) {
    return Machine(bytecode, ctx, limits).run();
}

namespace {

// One `X<len>,<hex>` at the start of `text`; advances `text` past it.
std::optional<std::vector<std::uint8_t>> take_agent_expr(std::string_view& text) {
    if (text.empty() || text[0] != 'X') return std::nullopt;
    std::size_t comma = text.find(',');
    if (comma == std::string_view::npos) return std::nullopt;
    std::optional<std::uint64_t> len = parse_hex_u64(text.substr(1, comma - 1));
    std::size_t avail = text.size() - comma - 1;
    if (!len || *len == 0 || *len > avail / 2) return std::nullopt;
    std::size_t digits = static_cast<std::size_t>(*len) * 2;
    auto bytes = from_hex(text.substr(comma + 1, digits));
    if (!bytes) return std::nullopt;
    text.remove_prefix(comma + 1 + digits);
    return bytes;
}

}  // namespace

std::optional<std::vector<std::uint8_t>> parse_agent_expr(std::string_view entry) {
    auto bytes = take_agent_expr(entry);
    if (!bytes || !entry.empty()) return std::nullopt;  // more hex than len says
    return bytes;
}

std::optional<std::vector<std::vector<std::uint8_t>>> parse_condition_list(std::string_view text) {
    std::vector<std::vector<std::uint8_t>> out;
    while (!text.empty()) {
        if (text.substr(0, 5) == "cmds:") break;
        if (text[0] == ';') {
            text.remove_prefix(1);
            continue;
        }
        // An entry ends where the next `;` or `X` begins; a hex digit there
        // means the hex ran longer than its length.
        auto bytes = take_agent_expr(text);
        if (!bytes) return std::nullopt;
        if (!text.empty() && text[0] != ';' && text[0] != 'X') return std::nullopt;
        out.push_back(std::move(*bytes));
    }
    return out;
}

}  // namespace kvmgdb::stub
