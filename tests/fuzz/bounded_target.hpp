// A DebugTarget for fuzzing the session: everything it holds is bounded, whatever
// the input asks for. 4 KiB of memory, registers in the layout of the current
// mode, at most kMaxBreakpoints breakpoints (then ENOSPC, as a real target runs
// out of slots), monitor output of bounded size, no call log. The input can make
// the next calls fail (error status, or an exception as KvmTarget throws on a
// failed ioctl) and switch the mode, as a guest does between two stops.
#pragma once

#include <cerrno>
#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "stub/debug_target.hpp"
#include "stub/registers.hpp"

namespace kvmgdb::fuzz {

using namespace kvmgdb::stub;

class BoundedTarget : public DebugTarget {
public:
    static constexpr std::uint64_t kMemBase = 0x1000;
    static constexpr std::size_t kMemSize = 4096;
    static constexpr std::size_t kMaxBreakpoints = 8;
    static constexpr std::size_t kMaxMonitorOutput = 512;

    explicit BoundedTarget(Arch a) { switch_arch(a); }

    void switch_arch(Arch a) {
        arch_ = a;
        regs_.clear();
        for (const auto& reg : register_layout(a)) regs_.emplace_back(reg_size(reg), std::uint8_t{0x5a});
    }

    // Failure knobs, set from the input: bit 0 fails register calls with EIO, bit 1
    // throws from them, bit 2 fails memory accesses, bit 3 fails breakpoints with
    // an error status, bit 4 fails monitor commands, bit 5 throws from resume and
    // interrupt, bit 6 takes single-step away.
    std::uint8_t faults = 0;
    StopEvent stop{StopEvent::Kind::Signal, 5, 0, 0, {}};
    bool resumed = false;

    // --- DebugTarget ------------------------------------------------------------
    Arch arch() const override { return arch_; }
    TargetCapabilities capabilities() const override {
        return {true, true, true, true, true, (faults & 0x40) == 0};
    }
    StopEvent last_stop() const override { return stop; }

    std::vector<std::uint8_t> read_registers() override {
        maybe_throw(0x02);
        std::vector<std::uint8_t> g;
        for (const auto& r : regs_) g.insert(g.end(), r.begin(), r.end());
        return g;
    }
    TargetStatus write_registers(std::span<const std::uint8_t> g) override {
        maybe_throw(0x02);
        if (faults & 0x01) return TargetStatus::error(EIO);
        std::size_t at = 0;
        for (auto& r : regs_) {
            if (at + r.size() > g.size()) return TargetStatus::error(EINVAL);
            r.assign(g.begin() + static_cast<std::ptrdiff_t>(at),
                     g.begin() + static_cast<std::ptrdiff_t>(at + r.size()));
            at += r.size();
        }
        return TargetStatus::ok();
    }
    std::optional<std::vector<std::uint8_t>> read_register(unsigned n) override {
        maybe_throw(0x02);
        if (faults & 0x01 || n >= regs_.size()) return std::nullopt;
        return regs_[n];
    }
    TargetStatus write_register(unsigned n, std::span<const std::uint8_t> v) override {
        maybe_throw(0x02);
        if (faults & 0x01) return TargetStatus::error(EIO);
        if (n >= regs_.size() || v.size() != regs_[n].size()) return TargetStatus::error(EINVAL);
        regs_[n].assign(v.begin(), v.end());
        return TargetStatus::ok();
    }

    std::size_t read_memory(std::uint64_t addr, std::span<std::uint8_t> out) override {
        if (faults & 0x04 || addr < kMemBase || addr - kMemBase >= kMemSize) return 0;
        const auto off = static_cast<std::size_t>(addr - kMemBase);
        const std::size_t n = std::min(out.size(), kMemSize - off);
        std::copy_n(memory_.begin() + static_cast<std::ptrdiff_t>(off), n, out.begin());
        return n;
    }
    std::size_t write_memory(std::uint64_t addr, std::span<const std::uint8_t> in) override {
        if (faults & 0x04 || addr < kMemBase || addr - kMemBase >= kMemSize) return 0;
        const auto off = static_cast<std::size_t>(addr - kMemBase);
        const std::size_t n = std::min(in.size(), kMemSize - off);
        std::copy_n(in.begin(), n, memory_.begin() + static_cast<std::ptrdiff_t>(off));
        return n;
    }

    TargetStatus insert_breakpoint(BreakpointKind k, std::uint64_t addr, std::uint64_t len) override {
        if (faults & 0x08) return TargetStatus::error(EFAULT, "no such address");
        if (breakpoints_.size() >= kMaxBreakpoints) return TargetStatus::error(ENOSPC);
        breakpoints_.insert({k, addr, len});
        return TargetStatus::ok();
    }
    TargetStatus remove_breakpoint(BreakpointKind k, std::uint64_t addr, std::uint64_t len) override {
        if (faults & 0x08) return TargetStatus::error(EFAULT, "no such address");
        if (breakpoints_.erase({k, addr, len}) == 0) return TargetStatus::error(ENOENT);
        return TargetStatus::ok();
    }

    // The fuzzer delivers the stop itself (Session::on_target_stopped), as the
    // transport does once the vCPU thread has posted it.
    void resume(ResumeKind, std::optional<std::uint8_t>, StopHandler) override {
        maybe_throw(0x20);
        resumed = true;
    }
    void interrupt() override { maybe_throw(0x20); }
    void detach() override { breakpoints_.clear(); }
    void remove_all_breakpoints() override { breakpoints_.clear(); }
    void kill() override {}

    TargetStatus monitor(std::string_view command, std::string& output) override {
        output = "monitor: ";
        output += command.substr(0, kMaxMonitorOutput);
        output += '\n';
        if (faults & 0x10) return TargetStatus::error(EINVAL, "unknown command");
        return TargetStatus::ok();
    }

private:
    void maybe_throw(std::uint8_t bit) const {
        if (faults & bit) throw std::runtime_error("KVM_GET_REGS: Bad file descriptor");
    }

    Arch arch_ = Arch::X86_64;
    std::vector<std::vector<std::uint8_t>> regs_;
    std::vector<std::uint8_t> memory_ = std::vector<std::uint8_t>(kMemSize, 0xcc);
    std::set<std::tuple<BreakpointKind, std::uint64_t, std::uint64_t>> breakpoints_;
};

}  // namespace kvmgdb::fuzz
