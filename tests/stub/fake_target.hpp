// A DebugTarget for session tests (LLDB's unittests style): bounds-checked fake
// memory, registers in a real gdb layout, breakpoint bookkeeping, scripted
// behaviour and a log of every call, so tests assert on what the session did
// to the target as well as on the bytes it sent.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "stub/debug_target.hpp"
#include "stub/registers.hpp"

namespace kvmgdb::stub::testing {

class FakeTarget : public DebugTarget {
public:
    static constexpr std::uint64_t kMemBase = 0x10000;
    static constexpr std::size_t kMemSize = 64 * 1024;

    explicit FakeTarget(Arch a = Arch::X86_64) : memory(kMemSize) {
        for (std::size_t i = 0; i < memory.size(); ++i) memory[i] = static_cast<std::uint8_t>(i);
        switch_arch(a);
    }

    // The guest switched mode: registers in the new layout, all zero.
    void switch_arch(Arch a) {
        arch_ = a;
        regs.clear();
        for (const auto& reg : register_layout(a)) regs.emplace_back(reg_size(reg), std::uint8_t{0});
    }

    // --- scripted state -----------------------------------------------------
    Arch arch_;
    TargetCapabilities caps{true, true, true, false, true, true};  // no read watchpoints
    StopEvent stop{StopEvent::Kind::Signal, 5, 0, 0, {}};
    std::vector<std::uint8_t> memory;             // at mem_base
    std::uint64_t mem_base = kMemBase;            // e.g. the top 64 KiB of the address space
    std::vector<std::vector<std::uint8_t>> regs;  // one byte vector per regnum
    std::set<std::tuple<BreakpointKind, std::uint64_t, std::uint64_t>> breakpoints;
    TargetStatus breakpoint_status;               // returned instead of OK when not ok
    std::string monitor_output = "kvmgdb monitor\n";
    TargetStatus monitor_status;
    bool throw_on_read_registers = false;
    bool throw_on_remove_breakpoint = false;  // as KVM_SET_USER_MEMORY_REGION failing
    // Threads: `regs` are those of the selected thread, the others' are parked.
    std::vector<unsigned> tids{1};
    unsigned selected = 1;
    std::map<unsigned, std::vector<std::vector<std::uint8_t>>> parked;
    std::map<unsigned, std::string> extra;  // thread_extra_info; empty: none
    bool non_stop_on = false;

    // --- recorded -------------------------------------------------------------
    std::vector<std::string> calls;
    StopHandler on_stop;  // from the last resume()
    std::optional<std::uint8_t> resume_signal;
    std::vector<ThreadAction> actions;  // from the last resume_threads()

    // Several threads, each with its own (zeroed) registers; thread 1 selected.
    void make_threads(std::vector<unsigned> ids) {
        tids = std::move(ids);
        selected = tids.front();
        parked.clear();
        for (unsigned tid : tids) {
            if (tid != selected) parked[tid] = regs;
        }
    }
    void set_thread_reg(unsigned tid, unsigned n, std::uint64_t v) {
        if (tid == selected) return set_reg(n, v);
        std::swap(regs, parked.at(tid));
        set_reg(n, v);
        std::swap(regs, parked.at(tid));
    }

    void set_reg(unsigned n, std::uint64_t v) {
        for (std::size_t i = 0; i < regs.at(n).size(); ++i) {
            regs[n][i] = static_cast<std::uint8_t>(i < 8 ? v >> (8 * i) : 0);
        }
    }
    std::uint64_t reg(unsigned n) const {
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < std::min<std::size_t>(regs.at(n).size(), 8); ++i) {
            v |= std::uint64_t{regs[n][i]} << (8 * i);
        }
        return v;
    }

    // --- DebugTarget: threads ------------------------------------------------------
    std::vector<unsigned> threads() const override { return tids; }
    std::string thread_extra_info(unsigned tid) const override {
        auto it = extra.find(tid);
        return it == extra.end() ? std::string{} : it->second;
    }
    TargetStatus select_thread(unsigned tid) override {
        calls.push_back("select_thread " + std::to_string(tid));
        if (std::find(tids.begin(), tids.end(), tid) == tids.end()) return TargetStatus::error(ESRCH);
        if (tid == selected) return TargetStatus::ok();
        parked[selected] = std::move(regs);
        regs = std::move(parked.at(tid));
        parked.erase(tid);
        selected = tid;
        return TargetStatus::ok();
    }
    // One thread in all-stop mode: the default, which forwards to resume() (so
    // the one-vCPU tests see "resume continue"). Otherwise logged as
    // "resume_threads 1:c 2:s 3:C0b".
    void resume_threads(std::span<const ThreadAction> list, StopHandler handler) override {
        actions.assign(list.begin(), list.end());
        if (tids.size() == 1 && !non_stop_on) return DebugTarget::resume_threads(list, std::move(handler));
        std::string line = "resume_threads";
        for (const ThreadAction& a : list) {
            line += " " + std::to_string(a.tid) + ":";
            if (a.signal) {
                static const char* digits = "0123456789abcdef";
                line += a.kind == ResumeKind::Step ? "S" : "C";
                line += digits[*a.signal >> 4];
                line += digits[*a.signal & 15];
            } else {
                line += a.kind == ResumeKind::Step ? "s" : "c";
            }
        }
        calls.push_back(line);
        on_stop = std::move(handler);
    }
    TargetStatus set_non_stop(bool on) override {
        calls.push_back(std::string("set_non_stop ") + (on ? "1" : "0"));
        if (on && !caps.non_stop) return TargetStatus::unsupported();
        non_stop_on = on;
        return TargetStatus::ok();
    }
    void stop_thread(unsigned tid) override { calls.push_back("stop_thread " + std::to_string(tid)); }

    // --- DebugTarget ------------------------------------------------------------
    Arch arch() const override { return arch_; }
    TargetCapabilities capabilities() const override { return caps; }
    StopEvent last_stop() const override { return stop; }

    std::vector<std::uint8_t> read_registers() override {
        calls.push_back("read_registers");
        if (throw_on_read_registers) throw std::runtime_error("KVM_GET_REGS: Bad file descriptor");
        std::vector<std::uint8_t> g;
        for (const auto& r : regs) g.insert(g.end(), r.begin(), r.end());
        return g;
    }
    TargetStatus write_registers(std::span<const std::uint8_t> g) override {
        calls.push_back("write_registers");
        std::size_t at = 0;
        for (auto& r : regs) {
            if (at + r.size() > g.size()) return TargetStatus::error(EINVAL);
            std::copy_n(g.begin() + static_cast<std::ptrdiff_t>(at), r.size(), r.begin());
            at += r.size();
        }
        return TargetStatus::ok();
    }
    std::optional<std::vector<std::uint8_t>> read_register(unsigned n) override {
        if (n >= regs.size()) return std::nullopt;
        return regs[n];
    }
    TargetStatus write_register(unsigned n, std::span<const std::uint8_t> v) override {
        calls.push_back("write_register " + std::to_string(n));
        if (n >= regs.size() || v.size() != regs[n].size()) return TargetStatus::error(EINVAL);
        regs[n].assign(v.begin(), v.end());
        return TargetStatus::ok();
    }

    // Reads stop at the end of the fake memory; nothing outside it is mapped.
    std::size_t read_memory(std::uint64_t addr, std::span<std::uint8_t> out) override {
        calls.push_back("read_memory");
        if (addr < mem_base || addr - mem_base >= kMemSize) return 0;
        std::size_t off = static_cast<std::size_t>(addr - mem_base);
        std::size_t n = std::min(out.size(), kMemSize - off);
        std::copy_n(memory.begin() + static_cast<std::ptrdiff_t>(off), n, out.begin());
        return n;
    }
    // The fake memory is one read-write region; below and above it, nothing.
    bool regions_known = true;
    std::optional<MemoryRegion> memory_region(std::uint64_t addr) override {
        calls.push_back("memory_region");
        if (!regions_known) return std::nullopt;
        MemoryRegion r;
        if (addr >= mem_base && addr - mem_base < kMemSize) {
            r = {mem_base, kMemSize, true, true, true, false, {}};
        } else if (addr < mem_base) {
            r = {0, mem_base, false, false, false, false, "address below the fake memory"};
        } else {
            r = {mem_base + kMemSize, ~std::uint64_t{0} - (mem_base + kMemSize) + 1, false, false, false, false,
                 "address above the fake memory"};
        }
        return r;
    }
    std::size_t write_memory(std::uint64_t addr, std::span<const std::uint8_t> in) override {
        calls.push_back("write_memory");
        if (addr < mem_base || addr - mem_base >= kMemSize) return 0;
        std::size_t off = static_cast<std::size_t>(addr - mem_base);
        std::size_t n = std::min(in.size(), kMemSize - off);
        std::copy_n(in.begin(), n, memory.begin() + static_cast<std::ptrdiff_t>(off));
        return n;
    }

    TargetStatus insert_breakpoint(BreakpointKind k, std::uint64_t addr, std::uint64_t len) override {
        calls.push_back("insert_breakpoint " + std::to_string(static_cast<int>(k)));
        if (!breakpoint_status.is_ok()) return breakpoint_status;
        breakpoints.insert({k, addr, len});
        return TargetStatus::ok();
    }
    TargetStatus remove_breakpoint(BreakpointKind k, std::uint64_t addr, std::uint64_t len) override {
        calls.push_back("remove_breakpoint " + std::to_string(static_cast<int>(k)));
        if (throw_on_remove_breakpoint) throw std::runtime_error("KVM_SET_USER_MEMORY_REGION: Invalid argument");
        if (!breakpoint_status.is_ok()) return breakpoint_status;
        if (breakpoints.erase({k, addr, len}) == 0) return TargetStatus::error(ENOENT);
        return TargetStatus::ok();
    }

    void resume(ResumeKind kind, std::optional<std::uint8_t> signal, StopHandler handler) override {
        calls.push_back(kind == ResumeKind::Continue ? "resume continue" : "resume step");
        resume_signal = signal;
        on_stop = std::move(handler);
    }
    void interrupt() override { calls.push_back("interrupt"); }
    void detach() override { calls.push_back("detach"); }
    void remove_all_breakpoints() override { calls.push_back("remove_all_breakpoints"); }
    void kill() override { calls.push_back("kill"); }

    TargetStatus monitor(std::string_view command, std::string& output) override {
        calls.push_back("monitor " + std::string(command));
        output = monitor_output;
        return monitor_status;
    }
};

}  // namespace kvmgdb::stub::testing
