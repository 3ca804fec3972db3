// `monitor break-on-mode-change`: what a CPU mode is made of, whether it changed, and
// the text that says how (docs/modes.md "Breaking on mode changes").
//
// KVM gives user space no exit on a write to CR0 or CR4 (it handles them in the
// kernel; only EFER could be caught, by KVM_X86_SET_MSR_FILTER), so the vCPU runner
// single-steps while the setting is on and compares the signature after every
// instruction. The comparison and the text are pure functions over kvm_sregs.
#pragma once

#include <linux/kvm.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "devices/port_io.hpp"
#include "stub/debug_target.hpp"

namespace kvmgdb::debug {

// The bits that make the mode (Intel SDM Vol. 3A 2.5, 9.8.5): CR0.PE and CR0.PG,
// CR4.PAE, EFER.LME and EFER.LMA, and CS.L, which tells 64-bit mode from
// compatibility mode while EFER.LMA is set (it means nothing otherwise, so it is
// taken as 0 then).
struct ModeSignature {
    bool pe = false, pg = false, pae = false, lme = false, lma = false, cs_l = false;
    bool operator==(const ModeSignature&) const = default;
};

ModeSignature mode_signature(const kvm_sregs& s);

// "real mode", "protected mode", "protected mode, 32-bit paging", "protected mode,
// PAE paging", "compatibility mode", "long mode (64-bit)".
std::string mode_name(const ModeSignature& m);

// Whether any of the bits differ (the signature compares exactly those).
inline bool mode_changed(const ModeSignature& before, const ModeSignature& after) { return !(before == after); }

// "real mode -> protected mode (CR0.PE 0 -> 1)"; several bits in one instruction
// are listed in the order of ModeSignature ("CR0.PG 0 -> 1, EFER.LMA 0 -> 1").
std::string describe_mode_change(const ModeSignature& before, const ModeSignature& after);

// The setting and what it saw, shared by the KvmTarget (which owns it), every vCPU
// runner (which reads `enabled` at each resume and records what it finds) and the
// monitor. Thread-safe.
class ModeChangeWatch {
public:
    bool enabled() const { return enabled_.load(); }
    void set_enabled(bool on) { enabled_.store(on); }

    // A change a runner stopped for, e.g. "vCPU 0 at 0x8035: real mode -> ...".
    void record(std::string text) {
        std::lock_guard lock(mu_);
        last_ = std::move(text);
    }
    // The last change recorded; empty when none was seen.
    std::string last() const {
        std::lock_guard lock(mu_);
        return last_;
    }

    // Instructions single-stepped for the watch (the cost, shown by the monitor).
    void count_steps(std::uint64_t n) { steps_.fetch_add(n); }
    std::uint64_t steps() const { return steps_.load(); }

private:
    std::atomic<bool> enabled_{false};
    std::atomic<std::uint64_t> steps_{0};
    mutable std::mutex mu_;
    std::string last_;
};

// What step_watching_mode needs of the vCPU it runs (VcpuRunner gives its own).
struct ModeStepping {
    unsigned vcpu_index = 0;
    std::function<stub::StopEvent()> step_one;  // one instruction, the watch left out
    std::function<stub::StopEvent()> run_on;    // the rest of a continue, the watch left out
    std::function<kvm_sregs()> sregs;
    std::function<std::uint64_t()> pc;  // linear
    std::function<bool()> finished;     // the guest ended or crashed
    TextSink diag;
};

// A resume while the watch is on: every instruction is stepped and the mode compared
// after it (one exit per instruction: docs/modes.md, "Breaking on mode changes").
// A continue (`step` false) steps until another stop or a change; a step checks its
// one instruction. A change is recorded in `watch` and said on the stop's console.
stub::StopEvent step_watching_mode(ModeChangeWatch& watch, const ModeStepping& vcpu, bool step);

}  // namespace kvmgdb::debug
