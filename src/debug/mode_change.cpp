#include "debug/mode_change.hpp"

#include "debug/stop_events.hpp"
#include "util/hex.hpp"
#include "x86/cpu_mode.hpp"

namespace kvmgdb::debug {

ModeSignature mode_signature(const kvm_sregs& s) {
    ModeSignature m;
    m.pe = (s.cr0 & bits::CR0_PE) != 0;
    m.pg = (s.cr0 & bits::CR0_PG) != 0;
    m.pae = (s.cr4 & bits::CR4_PAE) != 0;
    m.lme = (s.efer & bits::EFER_LME) != 0;
    m.lma = (s.efer & bits::EFER_LMA) != 0;
    m.cs_l = m.lma && s.cs.l != 0;
    return m;
}

std::string mode_name(const ModeSignature& m) {
    if (m.lma) return m.cs_l ? "long mode (64-bit)" : "compatibility mode";
    if (!m.pe) return "real mode";  // CR0.PG without PE is a #GP: never seen
    if (!m.pg) return "protected mode";
    return m.pae ? "protected mode, PAE paging" : "protected mode, 32-bit paging";
}

std::string describe_mode_change(const ModeSignature& before, const ModeSignature& after) {
    std::string bits;
    auto bit = [&](const char* name, bool a, bool b) {
        if (a == b) return;
        if (!bits.empty()) bits += ", ";
        bits += std::string(name) + (a ? " 1 -> " : " 0 -> ") + (b ? "1" : "0");
    };
    bit("CR0.PE", before.pe, after.pe);
    bit("CR0.PG", before.pg, after.pg);
    bit("CR4.PAE", before.pae, after.pae);
    bit("EFER.LME", before.lme, after.lme);
    bit("EFER.LMA", before.lma, after.lma);
    bit("CS.L", before.cs_l, after.cs_l);
    std::string text = mode_name(before) + " -> " + mode_name(after);
    if (!bits.empty()) text += " (" + bits + ")";
    return text;
}

// KVM exits to user space on no write to CR0 or CR4 (it handles them in the kernel;
// only EFER could be caught, by an MSR filter), hence the stepping.
stub::StopEvent step_watching_mode(ModeChangeWatch& watch, const ModeStepping& vcpu, bool step) {
    using stub::StopEvent;
    const ModeSignature before = mode_signature(vcpu.sregs());
    std::uint64_t steps = 0;
    struct Count {
        ModeChangeWatch& watch;
        std::uint64_t& steps;
        ~Count() { watch.count_steps(steps); }
    } count{watch, steps};
    for (;;) {
        StopEvent ev = vcpu.step_one();
        ++steps;
        const bool plain_step = ev.kind == StopEvent::Kind::Signal && ev.signal == kSigTrap && ev.message.empty();
        if (!vcpu.finished()) {
            const ModeSignature after = mode_signature(vcpu.sregs());
            if (mode_changed(before, after)) {
                const std::string text = describe_mode_change(before, after);
                watch.record("vCPU " + std::to_string(vcpu.vcpu_index) + " at " + hex(vcpu.pc()) + ": " + text);
                ev.console = "kvmgdb: mode change: " + text + "\n";
                if (plain_step)
                    ev.message = "mode change: " + text;  // the runner writes it to its diag sink
                else if (vcpu.diag)
                    vcpu.diag(ev.console);  // a breakpoint or watchpoint says why it stopped, too
                return ev;
            }
        }
        if (step || !plain_step) return ev;
        if (!watch.enabled()) return vcpu.run_on();  // turned off meanwhile (non-stop)
    }
}

}  // namespace kvmgdb::debug
