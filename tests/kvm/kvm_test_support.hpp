// What the KVM test files share: the guests built by CMake and their symbols, a
// plain run to the guest's end, a guest on a KvmTarget that collects its console, and a bounded resume-and-wait.
// Header-only; each test file includes it (tests/kvm/*_test.cpp).
#pragma once

#include <elf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "debug/kvm_target.hpp"
#include "loader/elf_loader.hpp"
#include "vmm/machine.hpp"

namespace kvmgdb::kvm_test {

inline std::string guest_path(const std::string& name) { return std::string(KVMGDB_GUEST_DIR) + "/" + name; }

// The guest's symbol table (ELF32 or ELF64), name -> value.
inline std::map<std::string, std::uint64_t> symbols(const std::string& name) {
    std::vector<std::uint8_t> f = read_file(guest_path(name));
    std::map<std::string, std::uint64_t> out;
    auto walk = [&](auto ehdr_tag, auto shdr_tag, auto sym_tag) {
        using Ehdr = decltype(ehdr_tag);
        using Shdr = decltype(shdr_tag);
        using Sym = decltype(sym_tag);
        Ehdr eh;
        std::memcpy(&eh, f.data(), sizeof eh);
        for (unsigned i = 0; i < eh.e_shnum; ++i) {
            Shdr sh;
            std::memcpy(&sh, f.data() + eh.e_shoff + i * eh.e_shentsize, sizeof sh);
            if (sh.sh_type != SHT_SYMTAB) continue;
            Shdr strtab;
            std::memcpy(&strtab, f.data() + eh.e_shoff + sh.sh_link * eh.e_shentsize, sizeof strtab);
            for (std::uint64_t off = 0; off + sizeof(Sym) <= sh.sh_size; off += sizeof(Sym)) {
                Sym s;
                std::memcpy(&s, f.data() + sh.sh_offset + off, sizeof s);
                const char* n = reinterpret_cast<const char*>(f.data() + strtab.sh_offset + s.st_name);
                if (*n) out[n] = s.st_value;
            }
        }
    };
    if (f.size() > EI_CLASS && f[EI_CLASS] == ELFCLASS64)
        walk(Elf64_Ehdr{}, Elf64_Shdr{}, Elf64_Sym{});
    else
        walk(Elf32_Ehdr{}, Elf32_Shdr{}, Elf32_Sym{});
    return out;
}

// A plain run (what `kvmgdb guest.elf` does), to the guest's end.
struct PlainRun {
    std::string console;
    std::string log;
    RunOutcome outcome;
    std::unique_ptr<Machine> machine;
};

inline PlainRun run_plain(const std::string& name, std::optional<CpuMode> mode = std::nullopt,
                          std::uint64_t memory = kDefaultMemory, bool verbose = false) {
    GuestConfig config;
    config.path = guest_path(name);
    config.mode = mode;
    config.memory = memory;
    config.verbose = verbose;
    PlainRun r;
    r.machine = std::make_unique<Machine>(
        config, [&r](std::string_view s) { r.console += s; }, [&r](std::string_view s) { r.log += s; });
    r.outcome = r.machine->run_to_end();
    return r;
}

struct Guest {
    std::shared_ptr<std::string> console = std::make_shared<std::string>();
    // Lines the guest has printed; unlike console, safe to read while the vCPU runs.
    std::shared_ptr<std::atomic<int>> console_lines = std::make_shared<std::atomic<int>>(0);
    std::unique_ptr<debug::KvmTarget> target;
    std::map<std::string, std::uint64_t> sym;
    std::string diag;

    std::uint64_t at(const std::string& s) const {
        auto it = sym.find(s);
        if (it == sym.end()) throw std::runtime_error("no symbol " + s);
        return it->second;
    }
};

// The mechanisms CI's nested KVM ends up with (int3 and DR0-DR3 never trap there),
// forced so that every machine tests the same thing.
inline debug::TargetOptions hlt_forced() {
    debug::TargetOptions o;
    o.software = debug::BreakMechanism::HltPatch;
    o.hardware = debug::BreakMechanism::HltPatch;
    o.watch = debug::WatchMechanism::PageProtection;
    return o;
}

inline Guest start(const std::string& name, std::optional<CpuMode> mode = std::nullopt,
                   debug::TargetOptions opts = {}, unsigned cpus = 1) {
    Guest g;
    GuestConfig config;
    config.path = guest_path(name);
    config.mode = mode;
    config.cpus = cpus;
    auto console = g.console;
    auto lines = g.console_lines;
    auto machine = std::make_unique<Machine>(
        config,
        [console, lines](std::string_view s) {
            *console += s;
            *lines += static_cast<int>(std::count(s.begin(), s.end(), '\n'));
        },
        [](std::string_view) {});
    opts.diagnostics = [](std::string_view) {};
    g.target = std::make_unique<debug::KvmTarget>(std::move(machine), opts);
    g.sym = symbols(name);
    return g;
}

// Starts the target with `start(handler)` and waits (bounded) for the single on_stop call.
template <class Start>
stub::StopEvent await_one_stop(debug::KvmTarget& t, Start start) {
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto promise = std::make_shared<std::promise<stub::StopEvent>>();
    auto future = promise->get_future();
    start([calls, promise](stub::StopEvent e) {
        if (calls->fetch_add(1) == 0) promise->set_value(std::move(e));
    });
    if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
        t.interrupt();
        ADD_FAILURE() << "the guest did not stop within 30 s";
        if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
            // Neither a stop nor a reaction to interrupt(): fail loudly rather than hang.
            std::fprintf(stderr, "%s: no stop even after interrupt(); aborting\n",
                         testing::UnitTest::GetInstance()->current_test_info()->name());
            std::abort();
        }
    }
    t.wait_stopped();
    EXPECT_EQ(calls->load(), 1);
    return future.get();
}

// Resumes and waits (bounded) for the single on_stop call.
inline stub::StopEvent run(debug::KvmTarget& t, stub::ResumeKind kind = stub::ResumeKind::Continue) {
    return await_one_stop(t, [&](debug::KvmTarget::StopHandler h) { t.resume(kind, std::nullopt, std::move(h)); });
}

// Resumes the given threads (all-stop: the others stay stopped) and waits, bounded,
// for the single on_stop call.
inline stub::StopEvent run_threads(debug::KvmTarget& t, std::vector<stub::ThreadAction> actions) {
    return await_one_stop(t, [&](debug::KvmTarget::StopHandler h) { t.resume_threads(actions, std::move(h)); });
}

inline std::uint64_t rip(debug::KvmTarget& t) { return t.machine().vcpu().get_regs().rip; }

// Polls `done` until it holds or 30 s pass (an event another thread causes, such
// as a line of guest output); false on the deadline.
template <class Pred>
bool wait_until(Pred done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}

}  // namespace kvmgdb::kvm_test
