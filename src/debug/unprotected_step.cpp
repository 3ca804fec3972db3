#include "debug/unprotected_step.hpp"

#include <variant>

#include "debug/stop_events.hpp"

namespace kvmgdb::debug {

using stub::StopEvent;

std::optional<StopEvent> run_one_unprotected(const UnprotectedStep& how) {
    // The lock first: whoever holds vCPUs takes it first (KvmTarget's AllHeld), so
    // two holders never wait for each other's vCPU.
    BreakpointManager& bps = how.bps;
    std::lock_guard bps_lock(bps.run_mutex());
    struct OthersHeld {
        const std::function<void(bool)>& others;
        explicit OthersHeld(const std::function<void(bool)>& o) : others(o) {
            if (others) others(true);
        }
        ~OthersHeld() {
            if (others) others(false);
        }
    } held{how.others};
    Vcpu& vcpu = how.vcpu;
    // When it gave up KVM also queued a #UD for the guest (handle_emulation_failure);
    // the instruction is not at fault, so it is taken back.
    auto drop_queued_ud = [&] {
        kvm_vcpu_events events = vcpu.get_vcpu_events();
        if ((events.exception.injected || events.exception.pending) && events.exception.nr == 6) {
            events.exception.injected = 0;
            events.exception.pending = 0;
            events.flags = 0;
            vcpu.set_vcpu_events(events);
        }
    };
    // The watched bytes, to compare once the instruction ran.
    const std::vector<std::vector<std::uint8_t>> before = bps.watched_bytes();
    // Whatever happens on the way (an ioctl failing), the protection comes back.
    struct Reprotect {
        BreakpointManager& bps;
        ~Reprotect() {
            if (bps.protection() == Protection::Full) return;
            try {
                bps.set_protection(Protection::Full);
            } catch (...) {
                // sync_memslots already fell back to plain RAM; the exception in flight says why
            }
        }
    } reprotect{bps};
    std::optional<StopEvent> stop;
    bool done = false;
    for (Protection lifted : {Protection::HolesOnly, Protection::None}) {
        drop_queued_ud();
        bps.set_protection(lifted);
        how.apply_guest_debug(true);
        for (;;) {
            VcpuExit e = how.run();
            if (std::holds_alternative<exit::Interrupted>(e)) {
                if (how.interrupted()) {
                    stop = signal_stop(kSigInt);
                    done = true;
                    break;
                }
                continue;
            }
            if (auto* ie = std::get_if<exit::InternalError>(&e); ie && ie->suberror == KVM_INTERNAL_ERROR_EMULATION) {
                if (lifted == Protection::None) {
                    stop = how.handle_exit(e);  // not ours after all: the guest's own failure
                    done = true;
                }
                break;  // it touched an access-watched page: lift the holes too
            }
            stop = how.handle_exit(e);
            if (std::holds_alternative<exit::Debug>(e) || stop) {
                if (stop && stop->kind == StopEvent::Kind::Signal && stop->signal == kSigTrap) stop.reset();  // the step
                done = true;
                break;
            }
        }
        if (done) {
            if (lifted == Protection::None && !stop) {
                if (auto hit = bps.first_access_watch()) stop = watch_stop(*hit);
            }
            break;
        }
    }
    bps.set_protection(Protection::Full);
    // A write through the lifted protection may have covered a patch byte.
    bps.repatch();
    if (stop && stop->kind != StopEvent::Kind::AccessWatch) return stop;
    if (!stop) {
        if (auto hit = bps.changed_watch(before)) stop = watch_stop(*hit);
    }
    return stop;
}

}  // namespace kvmgdb::debug
