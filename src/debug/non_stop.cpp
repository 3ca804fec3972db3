#include "debug/non_stop.hpp"

#include <cerrno>
#include <stdexcept>
#include <string>

#include "debug/stop_events.hpp"

namespace kvmgdb::debug {

using stub::StopEvent;
using stub::TargetStatus;

NonStopRuns::NonStopRuns(RunState& state, std::vector<std::unique_ptr<VcpuRunner>>& runners, StillWorthReporting still)
    : state_(state), runners_(runners), still_(std::move(still)) {}

TargetStatus NonStopRuns::set_enabled(bool on, bool all_stopped) {
    std::unique_lock lock(state_.mu);
    if (on == enabled_) return TargetStatus::ok();
    if (on) {
        if (!all_stopped) return TargetStatus::error(EBUSY, "the guest is running");
        enabled_ = true;
        handler_ = {};
        running_.assign(runners_.size(), false);
        stepping_.assign(runners_.size(), false);
        asked_.assign(runners_.size(), false);
        idle_.assign(runners_.size(), false);
        return TargetStatus::ok();
    }
    lock.unlock();
    quiet_all_runners();
    lock.lock();
    enabled_ = false;
    handler_ = {};
    return TargetStatus::ok();
}

void NonStopRuns::quiet_all_runners() {
    {
        std::lock_guard lock(state_.mu);
        ++quiet_;
    }
    for (auto& r : runners_) r->interrupt();
    for (auto& r : runners_) r->wait_stopped();
    std::lock_guard lock(state_.mu);
    --quiet_;
    idle_.assign(runners_.size(), false);
    running_.assign(runners_.size(), false);
}

void NonStopRuns::stop_thread(unsigned tid) {
    std::lock_guard lock(state_.mu);
    if (tid < 1 || tid > runners_.size()) return;
    const unsigned i = tid - 1;
    VcpuRunner& r = *runners_[i];
    if (idle_[i]) {
        // Halted, and running for gdb: it stops at once, where it halted.
        idle_[i] = false;
        running_[i] = true;
        StopEvent ev = signal_stop(0);
        ev.thread = tid;
        r.deliver(std::move(ev), callback(i));
        return;
    }
    // Stopped already (reported): no report, vCont;t's rule. A vCPU whose stop is on
    // its way (its runner stopped, on_stop not yet through) counts as running: that
    // stop answers this request, whatever it is (a halt included).
    if (!running_[i]) return;
    asked_[i] = true;
    r.interrupt();
}

VcpuRunner::StopHandler NonStopRuns::callback(unsigned index) {
    return [this, index](StopEvent ev) { on_stop(index, std::move(ev)); };
}

void NonStopRuns::resume(std::span<const stub::ThreadAction> actions, StopHandler on_stop) {
    std::lock_guard lock(state_.mu);
    handler_ = std::move(on_stop);
    std::optional<unsigned> first;
    for (const auto& a : actions)
        if (a.tid >= 1 && a.tid <= runners_.size() && !first) first = a.tid - 1;
    if (!first) throw std::invalid_argument("KvmTarget::resume_threads: no such thread");
    if (state_.final) {
        // The guest ended (every runner is stopped): that is said again.
        StopEvent ev = state_.end_said_again();
        ev.thread = *first + 1;
        runners_[*first]->deliver(std::move(ev), callback(*first));
        return;
    }
    for (const auto& a : actions) {
        if (a.tid < 1 || a.tid > runners_.size()) continue;
        const unsigned i = a.tid - 1;
        VcpuRunner& r = *runners_[i];
        if (idle_[i] || r.running()) continue;  // running already (the session leaves these out)
        asked_[i] = false;
        if (auto& kept = state_.pending[i]) {
            // Kept from all-stop mode: reported now, as there.
            StopEvent ev = std::move(*kept);
            kept.reset();
            if (still_(i, ev)) {
                ev.thread = a.tid;
                running_[i] = true;
                r.deliver(std::move(ev), callback(i));
                continue;
            }
        }
        if (r.halted() && a.kind == stub::ResumeKind::Step) {
            // A step of a halted vCPU ends at once, where it is (as in all-stop).
            running_[i] = true;
            StopEvent ev = signal_stop(kSigTrap, "vCPU " + std::to_string(i) + " has halted");
            ev.thread = a.tid;
            r.deliver(std::move(ev), callback(i));
            continue;
        }
        if (r.halted()) {
            idle_[i] = true;
            continue;
        }
        running_[i] = true;
        stepping_[i] = a.kind == stub::ResumeKind::Step;
        r.resume(a.kind, callback(i));
    }
}

bool NonStopRuns::every_vcpu_halted() const {
    for (const auto& r : runners_)
        if (!r->halted()) return false;
    return true;
}

void NonStopRuns::on_stop(unsigned index, StopEvent ev) {
    VcpuRunner& runner = *runners_[index];
    std::unique_lock lock(state_.mu);
    const bool kicked = ev.kind == StopEvent::Kind::Signal && ev.signal == kSigInt && ev.message.empty();
    const bool asked = index < asked_.size() && asked_[index];
    const bool stepped = index < stepping_.size() && stepping_[index];
    if (index < asked_.size()) {
        asked_[index] = false;
        running_[index] = false;
        stepping_[index] = false;
    }
    if (quiet_ > 0 || !enabled_) {
        // Leaving non-stop mode, or another vCPU ended the guest: nobody hears of this
        // stop. One of the vCPU's own is kept for its next resume, as in all-stop.
        if (!kicked && !runner.halted() && !state_.final) state_.pending[index] = std::move(ev);
        lock.unlock();
        state_.cv.notify_all();
        return;
    }
    if (state_.final) {
        // The end said again, or (after a crash) another vCPU reported stopped with
        // it; `?` goes on saying the crash.
        const StopEvent keep = *state_.final;
        report(std::move(ev), lock);
        std::lock_guard relock(state_.mu);
        state_.last_stop = keep;
        return;
    }
    if (kicked) ev.signal = 0;  // stop_thread's: "reported with signal 0" (vCont;t)
    if (runner.halted() && ev.kind == StopEvent::Kind::Exited && !every_vcpu_halted()) {
        if (!asked && !stepped) {
            idle_[index] = true;  // the others go on
            return;
        }
        // Asked to stop, or stepped into the HLT: it has stopped there (all-stop
        // reports a step into HLT with SIGTRAP too).
        ev = signal_stop(stepped ? kSigTrap : 0, "vCPU " + std::to_string(index) + " has halted");
        ev.thread = index + 1;
        return report(std::move(ev), lock);
    }
    const bool ends = ev.kind == StopEvent::Kind::Exited || ev.kind == StopEvent::Kind::Terminated ||
                      (runner.finished() && !runner.halted());
    if (ends) {
        // The whole guest ends: the other vCPUs stop first, unreported.
        state_.final = ev;
        ++quiet_;
        std::vector<unsigned> others;  // the ones gdb believes running
        for (unsigned j = 0; j < runners_.size(); ++j)
            if (j != index && (running_[j] || idle_[j])) others.push_back(j);
        lock.unlock();
        for (std::size_t j = 0; j < runners_.size(); ++j)
            if (j != index) runners_[j]->interrupt();
        for (std::size_t j = 0; j < runners_.size(); ++j)
            if (j != index) runners_[j]->wait_stopped();
        lock.lock();
        --quiet_;
        idle_.assign(runners_.size(), false);
        running_.assign(runners_.size(), false);
        const bool crash = ev.kind != StopEvent::Kind::Exited && ev.kind != StopEvent::Kind::Terminated;
        report(std::move(ev), lock);
        if (!crash) return;
        // W and X end every thread for gdb; a crash stop (T SIGSEGV) names one thread,
        // so the others, stopped now, are reported stopped too (after it), unless non-stop
        // mode was left or the target is going meanwhile.
        lock.lock();
        if (quiet_ > 0 || !enabled_ || state_.destroying) return;
        for (unsigned j : others) {
            StopEvent s = signal_stop(0);
            s.thread = j + 1;
            running_[j] = true;
            runners_[j]->deliver(std::move(s), callback(j));
        }
        return;
    }
    report(std::move(ev), lock);
}

void NonStopRuns::report(StopEvent ev, std::unique_lock<std::mutex>& lock) {
    state_.last_stop = ev;
    StopHandler handler = handler_;
    const bool destroying = state_.destroying;
    lock.unlock();
    state_.cv.notify_all();
    if (!handler || destroying) return;
    std::lock_guard one_at_a_time(report_mu_);
    handler(std::move(ev));
}

}  // namespace kvmgdb::debug
