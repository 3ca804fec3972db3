#include "debug/probe.hpp"

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "debug/kick.hpp"
#include "vmm/machine.hpp"

namespace kvmgdb::debug {

namespace {

constexpr std::uint64_t kLoad = 0x100000;

struct ProbeResult {
    bool trapped = false;
    std::string detail;
};

// Runs `code` (64-bit, at kLoad) with `dbg` set; `trapped` when the first stop is a
// KVM_EXIT_DEBUG with `exception`, and `check` accepts it.
template <typename Check>
ProbeResult probe_one(const std::vector<std::uint8_t>& code, kvm_guest_debug dbg, std::uint32_t exception,
                      Check check) {
    GuestConfig config;
    config.path = "debug-probe";
    config.bytes = code;
    config.format = ImageFormat::Raw;
    config.mode = CpuMode::Long;
    config.load_addr = kLoad;
    config.memory = 4ull << 20;
    Machine machine(config, [](std::string_view) {}, [](std::string_view) {});
    machine.vcpu().set_guest_debug(dbg);

    install_kick_handler();
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    pthread_t self = pthread_self();
    kvm_run& run = machine.vcpu().run_state();
    std::thread watchdog([&] {
        std::unique_lock lock(m);
        if (!cv.wait_for(lock, std::chrono::seconds(2), [&] { return done; })) {
            run.immediate_exit = 1;
            kick_thread(self);
        }
    });
    ProbeResult result;
    try {
        for (int i = 0; i < 1000; ++i) {
            VcpuExit e = machine.vcpu().run();
            if (auto* d = std::get_if<exit::Debug>(&e)) {
                result.trapped = d->exception == exception && check(*d);
                char buf[96];
                std::snprintf(buf, sizeof buf, "KVM_EXIT_DEBUG exception %u at 0x%llx, dr6 0x%llx", d->exception,
                              static_cast<unsigned long long>(d->pc), static_cast<unsigned long long>(d->dr6));
                result.detail = buf;
                break;
            }
            if (std::holds_alternative<exit::Interrupted>(e)) {
                if (run.immediate_exit) {
                    result.detail = "no exit within 2 s";
                    break;
                }
                continue;
            }
            if (auto outcome = machine.service_exit(e)) {
                result.detail = outcome->kind == RunOutcome::Kind::ExitPort ? "ran past it to the exit port"
                                : outcome->message.empty()                   ? describe(e)
                                                                             : outcome->message;
                break;
            }
        }
    } catch (const std::exception& ex) {
        result.detail = ex.what();
    }
    {
        std::lock_guard lock(m);
        done = true;
    }
    cv.notify_one();
    watchdog.join();
    run.immediate_exit = 0;
    return result;
}

// mov al, 1; out 0xf4, al (exit port)
const std::vector<std::uint8_t> kExit{0xb0, 0x01, 0xe6, 0xf4};

std::vector<std::uint8_t> concat(std::vector<std::uint8_t> a, const std::vector<std::uint8_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

}  // namespace

DebugProbe run_debug_probe() {
    DebugProbe p;
    {
        Kvm kvm;
        p.readonly_mem = kvm.check_extension(KVM_CAP_READONLY_MEM) > 0;
        int flags = kvm.check_extension(KVM_CAP_SET_GUEST_DEBUG2);
        p.guest_debug2 = flags > 0 ? static_cast<std::uint32_t>(flags) : 0;
    }
    auto any = [](const exit::Debug&) { return true; };
    {
        kvm_guest_debug dbg{};
        dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;
        auto r = probe_one(concat({0xcc}, kExit), dbg, 3, [](const exit::Debug& d) { return d.pc == kLoad; });
        p.sw_bp_traps = r.trapped;
        p.sw_bp_detail = r.detail;
    }
    {
        kvm_guest_debug dbg{};
        dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
        dbg.arch.debugreg[0] = kLoad + 1;
        dbg.arch.debugreg[7] = 0x1;  // L0, execute, 1 byte
        auto r = probe_one(concat({0x90, 0x90}, kExit), dbg, 1, [](const exit::Debug& d) { return (d.dr6 & 1) != 0; });
        p.hw_exec_traps = r.trapped;
        p.hw_exec_detail = r.detail;
    }
    {
        kvm_guest_debug dbg{};
        dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
        dbg.arch.debugreg[1] = kLoad + 0x800;
        dbg.arch.debugreg[7] = (1u << 2) | (1u << 20);  // L1, RW1 = 01 (write), LEN1 = 00 (1 byte)
        // mov byte [kLoad + 0x800], 42
        std::vector<std::uint8_t> store{0xc6, 0x04, 0x25, 0x00, 0x08, 0x10, 0x00, 0x2a};
        auto r = probe_one(concat(store, kExit), dbg, 1, [](const exit::Debug& d) { return (d.dr6 & 2) != 0; });
        p.hw_write_traps = r.trapped;
        p.hw_write_detail = r.detail;
    }
    {
        kvm_guest_debug dbg{};
        dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
        auto r = probe_one(concat({0x90}, kExit), dbg, 1, any);
        p.single_step = r.trapped;
        p.single_step_detail = r.detail;
    }
    return p;
}

const DebugProbe& host_debug_probe() {
    static const DebugProbe probe = run_debug_probe();
    return probe;
}

}  // namespace kvmgdb::debug
