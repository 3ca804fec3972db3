// Target-side breakpoint conditions ("Packets", Z0/Z1 cond_list; qSupported
// ConditionalBreakpoints+). gdb compiles `break f if COND` into agent-expression
// bytecode (stub/agent_expr.hpp) and sends it with the Z packet. At a hit we run
// it against the stopped vCPU: when every condition is false the guest goes on
// without a word to gdb, which would otherwise read registers, evaluate, lift
// the breakpoint, step, put it back and continue (about eight round trips).
//
// Going on means stepping off the breakpoint first (the target never steps over
// one gdb inserted, vcpu_runner.cpp): the breakpoint is removed, the thread
// that hit it single-stepped alone, the breakpoint put back, and gdb's resume
// started again. Anything unusual reports the stop as usual, and gdb, which
// evaluates the condition again itself, decides: an expression that fails
// (memory it cannot read, bytecode we do not run), a resume that was not a
// plain continue (a step, a signal), a Ctrl-C, a step that stopped for
// another reason.
#include <algorithm>

#include "stub/agent_expr.hpp"
#include "stub/hex.hpp"
#include "stub/session_impl.hpp"

namespace kvmgdb::stub {

namespace {

BreakpointKind kind_of(BreakpointType t) {
    return t == BreakpointType::Hardware ? BreakpointKind::Hardware : BreakpointKind::Software;
}

// What the bytecode reads: the stopped thread's registers in gdb's layout
// (the numbering gdb's `reg` uses), and guest memory as `m` reads it.
class StoppedThread final : public AgentContext {
public:
    StoppedThread(RegisterView& regs, DebugTarget& target) : regs_(regs), target_(target) {}
    std::optional<std::uint64_t> read_register(unsigned regnum) override {
        std::optional<std::vector<std::uint8_t>> raw = regs_.read(regnum);
        if (!raw) return std::nullopt;
        return from_le_bytes(*raw);  // nullopt for one wider than 64 bits
    }
    bool read_memory(std::uint64_t addr, std::span<std::uint8_t> out) override {
        if (out.empty()) return true;
        if (addr > ~std::uint64_t{0} - (out.size() - 1)) return false;
        return target_.read_memory(addr, out) == out.size();
    }

private:
    RegisterView& regs_;
    DebugTarget& target_;
};

// Agent-expression steps one hit may take over all the breakpoint's conditions.
constexpr std::size_t kConditionStepsPerHit = 10000;

}  // namespace

void Session::Impl::keep_conditions(const InsertBreakpoint& z) {
    // "Packets", Z0: a Z0 at an address that has one replaces its conditions;
    // one without a cond_list makes the breakpoint unconditional.
    const bool code = z.type == BreakpointType::Software || z.type == BreakpointType::Hardware;
    if (!code) return;
    Conditions c{kind_of(z.type), z.kind, {}};
    for (const std::string& entry : z.conditions) {
        std::optional<std::vector<std::uint8_t>> expr = parse_agent_expr(entry);
        if (!expr) {  // shape was checked by the parser; no value: leave it to gdb
            c.exprs.clear();
            break;
        }
        c.exprs.push_back(std::move(*expr));
    }
    if (c.exprs.empty()) return drop_conditions(z.addr);
    conditions[z.addr] = std::move(c);
}

void Session::Impl::drop_conditions(std::uint64_t addr) { conditions.erase(addr); }

bool Session::Impl::resumed_past_false_condition(StopEvent& event) {
    // A target that throws here (KVM_SET_USER_MEMORY_REGION while lifting the
    // patch, a register read) must not end the session: the hit is reported
    // instead, as if there were no conditions.
    try {
        if (skipping) return finish_condition_skip(event);
        return start_condition_skip(event);
    } catch (const std::exception&) {
        if (skipping) {
            ConditionSkip skip = std::move(*skipping);
            skipping.reset();
            bool back = false;
            try {
                back = target.insert_breakpoint(skip.bp.kind, skip.addr, skip.bp.length).is_ok();
            } catch (const std::exception&) {
            }
            if (!back) lost_breakpoint(skip.addr);
        }
        running = false;
        return false;
    }
}

bool Session::Impl::start_condition_skip(const StopEvent& event) {
    const bool plain_continue =
        !last_resume.empty() && std::all_of(last_resume.begin(), last_resume.end(), [](const ThreadAction& a) {
            return a.kind == ResumeKind::Continue && !a.signal;
        });
    if (event.kind != StopEvent::Kind::SoftwareBreak && event.kind != StopEvent::Kind::HardwareBreak) return false;
    if (conditions.empty() || !plain_continue || interrupted || !event.console.empty()) return false;
    if (!target.capabilities().single_step) return false;
    if (!select(event.thread)) return false;
    std::optional<std::vector<std::uint8_t>> pc_raw = regs.read(expedited_regs(regs.arch()).pc);
    std::optional<std::uint64_t> pc = pc_raw ? from_le_bytes(*pc_raw) : std::nullopt;
    auto found = pc ? conditions.find(*pc) : conditions.end();
    if (found == conditions.end()) return false;
    // One budget per hit, shared by the breakpoint's conditions: a Z0 full of
    // endless loops costs a bounded amount of work, not one per condition.
    const std::vector<std::vector<std::uint8_t>>& exprs = found->second.exprs;
    AgentLimits limits;
    limits.max_steps = std::max<std::size_t>(1, kConditionStepsPerHit / exprs.size());
    StoppedThread ctx(regs, target);
    for (const std::vector<std::uint8_t>& expr : exprs) {
        AgentResult r = evaluate(expr, ctx, limits);
        // True, or no answer: gdb hears of the hit (and evaluates it itself).
        if (!r.ok() || r.value != 0) return false;
    }
    ConditionSkip skip{found->first, event.thread, found->second, last_resume};
    if (!target.remove_breakpoint(skip.bp.kind, skip.addr, skip.bp.length).is_ok()) return false;
    skipping = std::move(skip);
    running = true;
    target.resume_threads(std::vector<ThreadAction>{{event.thread, ResumeKind::Step, std::nullopt}}, post_stop);
    return true;
}

bool Session::Impl::finish_condition_skip(StopEvent& event) {
    // The step off a breakpoint whose conditions were false: put it back, and
    // unless the step stopped for some other reason, go on as gdb asked.
    ConditionSkip skip = std::move(*skipping);
    skipping.reset();
    const bool stepped = event.kind == StopEvent::Kind::Signal && event.signal == 5 &&
                         event.thread == skip.thread && event.console.empty();
    bool back = false;
    try {
        back = target.insert_breakpoint(skip.bp.kind, skip.addr, skip.bp.length).is_ok();
    } catch (const std::exception&) {
    }
    if (!back) lost_breakpoint(skip.addr);
    if (stepped && interrupted) {
        // gdb's Ctrl-C reached a guest that we had stopped ourselves: this
        // step's stop is the stop it asked for.
        event.signal = 2;
        return false;
    }
    if (!back || !stepped) return false;
    running = true;
    target.resume_threads(skip.resume, post_stop);
    return true;
}

// The breakpoint could not be put back after its step: gdb still thinks it is
// inserted and will see a stop it did not expect; say why, and leave its
// conditions to gdb from now on.
void Session::Impl::lost_breakpoint(std::uint64_t addr) {
    drop_conditions(addr);
    std::string why = "kvmgdb: could not put back the breakpoint at 0x";
    why += format_hex_u64(addr);
    why += " after stepping off it (its condition was false); it is gone from the guest\n";
    send(std::string("O").append(text_to_hex(why)));
}

}  // namespace kvmgdb::stub
