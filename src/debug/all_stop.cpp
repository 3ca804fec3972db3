#include "debug/all_stop.hpp"

#include <stdexcept>
#include <string>

#include "debug/stop_events.hpp"

namespace kvmgdb::debug {

using stub::StopEvent;

AllStopRounds::AllStopRounds(RunState& state, std::vector<std::unique_ptr<VcpuRunner>>& runners,
                             StillWorthReporting still)
    : state_(state), runners_(runners), still_(std::move(still)) {}

bool AllStopRounds::Round::any_running() const {
    for (bool r : running)
        if (r) return true;
    return false;
}

void AllStopRounds::wait_idle() {
    std::unique_lock lock(state_.mu);
    state_.cv.wait(lock, [&] { return !round_; });
}

void AllStopRounds::resume(std::span<const stub::ThreadAction> actions, StopHandler on_stop) {
    std::vector<std::pair<unsigned, stub::ResumeKind>> runs;
    std::optional<unsigned> first;
    {
        std::unique_lock lock(state_.mu);
        if (round_) throw std::logic_error("KvmTarget::resume while running");
        if (state_.final) {
            // The guest ended. After an exit (W) or a kill (X) that is said again; after
            // a crash stop the next resume ends it with that signal (X: gdb prints
            // "Program terminated with signal ...", gdb.base/exitsignal).
            StopEvent ev = state_.end_said_again();
            lock.unlock();
            return deliver_now(0, ev, std::move(on_stop));
        }
        for (const auto& a : actions) {
            if (a.tid < 1 || a.tid > runners_.size()) continue;
            const unsigned i = a.tid - 1;
            if (!first) first = i;
            if (state_.pending[i]) {
                // A stop this vCPU had when another one was reported: say it now, unless
                // it was a breakpoint gdb has removed since (gdbserver drops those too:
                // the vCPU is at the breakpoint's address and simply runs on from there).
                StopEvent ev = std::move(*state_.pending[i]);
                state_.pending[i].reset();
                if (!still_(i, ev)) {
                    if (!runners_[i]->halted()) runs.emplace_back(i, a.kind);
                    continue;
                }
                lock.unlock();
                return deliver_now(i, ev, std::move(on_stop));
            }
            if (!runners_[i]->halted()) runs.emplace_back(i, a.kind);
        }
    }
    if (!first) throw std::invalid_argument("KvmTarget::resume_threads: no such thread");
    if (runs.empty()) {
        // Every vCPU gdb resumed has halted, and some other one has not (else the
        // guest would have ended): nothing can run, so that is the stop.
        StopEvent ev = signal_stop(kSigTrap, "vCPU " + std::to_string(*first) + " has halted");
        return deliver_now(*first, ev, std::move(on_stop));
    }
    start_round(std::move(runs), std::move(on_stop));
}

// A new round with no vCPU running yet; state_.mu held.
void AllStopRounds::begin_round(StopHandler on_stop) {
    Round r;
    r.handler = std::move(on_stop);
    r.running.assign(runners_.size(), false);
    round_ = std::move(r);
}

void AllStopRounds::start_round(std::vector<std::pair<unsigned, stub::ResumeKind>> runs, StopHandler on_stop) {
    // Every runner is resumed before any stop is looked at (on_runner_stop takes state_.mu
    // first): a vCPU stopping at once must find the others running, so that its
    // kicks reach them.
    std::lock_guard lock(state_.mu);
    begin_round(std::move(on_stop));
    for (auto [i, kind] : runs) round_->running[i] = true;
    for (auto [i, kind] : runs)
        runners_[i]->resume(kind, [this, i](StopEvent ev) { on_runner_stop(i, std::move(ev)); });
}

void AllStopRounds::deliver_now(unsigned index, StopEvent ev, StopHandler on_stop) {
    std::lock_guard lock(state_.mu);
    begin_round(std::move(on_stop));
    round_->running[index] = true;
    ev.thread = index + 1;
    runners_[index]->deliver(std::move(ev), [this, index](StopEvent e) { on_runner_stop(index, std::move(e)); });
}

void AllStopRounds::on_runner_stop(unsigned index, StopEvent ev) {
    VcpuRunner& runner = *runners_[index];
    std::unique_lock lock(state_.mu);
    if (!round_) return;  // cannot happen: every runner resume belongs to a round
    Round& round = *round_;
    round.running[index] = false;
    if (round.stopping) {
        // Kicked because another vCPU stopped: a SIGINT is our own kick; anything else
        // is this vCPU's own stop, kept for its next resume. A halt needs no report.
        const bool kicked = ev.kind == StopEvent::Kind::Signal && ev.signal == kSigInt;
        if (!kicked && !runner.halted()) state_.pending[index] = std::move(ev);
        state_.cv.notify_all();
        return;
    }
    if (runner.halted() && ev.kind == StopEvent::Kind::Exited) {
        bool all_halted = true;
        for (const auto& r : runners_) all_halted = all_halted && r->halted();
        if (!all_halted) {
            if (round.any_running()) return;  // the others go on
            ev = signal_stop(kSigTrap, "vCPU " + std::to_string(index) + " has halted");
            ev.thread = index + 1;
        }
    }
    round.stopping = true;
    const bool ends = ev.kind == StopEvent::Kind::Exited || ev.kind == StopEvent::Kind::Terminated ||
                      (runner.finished() && !runner.halted());
    if (ends && !state_.final) state_.final = ev;
    // Stop every other vCPU of the round before anyone hears of this stop.
    lock.unlock();
    for (std::size_t j = 0; j < runners_.size(); ++j)
        if (j != index) runners_[j]->interrupt();
    lock.lock();
    state_.cv.wait(lock, [&] { return !round_->any_running(); });
    StopHandler handler = std::move(round_->handler);
    round_.reset();
    state_.last_stop = ev;
    const bool destroying = state_.destroying;
    lock.unlock();
    state_.cv.notify_all();
    if (handler && !destroying) handler(std::move(ev));
}

}  // namespace kvmgdb::debug
