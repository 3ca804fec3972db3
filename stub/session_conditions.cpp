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
        if (!raw || raw->empty() || raw->size() > 8) return std::nullopt;
        std::uint64_t v = 0;
        for (std::size_t i = raw->size(); i-- > 0;) v = (v << 8) | (*raw)[i];
        return v;
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

std::uint64_t little_endian(const std::vector<std::uint8_t>& raw) {
    std::uint64_t v = 0;
    for (std::size_t i = std::min<std::size_t>(raw.size(), 8); i-- > 0;) v = (v << 8) | raw[i];
    return v;
}

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
    const bool plain_continue =
        !last_resume.empty() && std::all_of(last_resume.begin(), last_resume.end(), [](const ThreadAction& a) {
            return a.kind == ResumeKind::Continue && !a.signal;
        });
    auto go_on = [&](const std::vector<ThreadAction>& actions) {
        running = true;
        try {
            target.resume_threads(actions, post_stop);
        } catch (const std::exception&) {
            running = false;
            return false;
        }
        return true;
    };

    if (skipping) {
        // The step off a breakpoint whose conditions were false: put it back, and
        // unless the step stopped for some other reason, go on as gdb asked.
        ConditionSkip skip = std::move(*skipping);
        skipping.reset();
        bool back = target.insert_breakpoint(skip.bp.kind, skip.addr, skip.bp.length).is_ok();
        const bool stepped = event.kind == StopEvent::Kind::Signal && event.signal == 5 &&
                             event.thread == skip.thread && event.console.empty();
        if (stepped && interrupted) {
            // gdb's Ctrl-C reached a guest that we had stopped ourselves: this
            // step's stop is the stop it asked for.
            event.signal = 2;
            return false;
        }
        if (!back || !stepped) return false;
        return go_on(skip.resume);
    }

    if (event.kind != StopEvent::Kind::SoftwareBreak && event.kind != StopEvent::Kind::HardwareBreak) return false;
    if (conditions.empty() || !plain_continue || interrupted || !event.console.empty()) return false;
    if (!target.capabilities().single_step) return false;
    unsigned keep = general;
    if (!select(event.thread)) return false;
    std::optional<std::vector<std::uint8_t>> pc_raw = regs.read(expedited_regs(regs.arch()).pc);
    auto found = pc_raw ? conditions.find(little_endian(*pc_raw)) : conditions.end();
    bool all_false = found != conditions.end();
    if (all_false) {
        StoppedThread ctx(regs, target);
        for (const std::vector<std::uint8_t>& expr : found->second.exprs) {
            AgentResult r = evaluate(expr, ctx);
            // True, or no answer: gdb hears of the hit (and evaluates it itself).
            if (!r.ok() || r.value != 0) {
                all_false = false;
                break;
            }
        }
    }
    if (!all_false) {
        select(keep);
        return false;
    }
    ConditionSkip skip{found->first, event.thread, found->second, last_resume};
    if (!target.remove_breakpoint(skip.bp.kind, skip.addr, skip.bp.length).is_ok()) {
        select(keep);
        return false;
    }
    skipping = std::move(skip);
    if (go_on({{event.thread, ResumeKind::Step, std::nullopt}})) return true;
    // The step did not start: the breakpoint goes back and gdb hears of the hit.
    target.insert_breakpoint(skipping->bp.kind, skipping->addr, skipping->bp.length);
    skipping.reset();
    return false;
}

}  // namespace kvmgdb::stub
