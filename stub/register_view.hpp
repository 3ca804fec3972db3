// The registers as gdb sees them. gdb reads the target description once, at
// connect time, and keeps that layout for the whole connection; a guest that then
// switches mode (real -> protected -> long) has its registers in another layout.
// RegisterView pins the layout gdb was given and converts between it and the
// target's current one by register name: eax <-> rax and eip <-> rip (the low
// half), everything else by its own name; a register the other layout lacks
// (r8-r15, xmm8-15 for an i386 gdb) reads as 0 and cannot be written.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "stub/debug_target.hpp"
#include "stub/registers.hpp"

namespace kvmgdb::stub {

// The register of `to` that holds `reg` (a register of another layout), or nullptr.
const RegisterInfo* counterpart(const RegisterInfo& reg, const RegisterLayout& to);

// A `g` block of layout `from` as layout `to`: each register from its counterpart,
// truncated or zero-extended (x86 is little-endian), zeros where there is none.
std::vector<std::uint8_t> convert_registers(const RegisterLayout& from, std::span<const std::uint8_t> g,
                                            const RegisterLayout& to);

// `current` (a `g` block of layout `cur`) with the registers of `g` (layout `from`)
// written over their counterparts: the low bytes replaced, the bytes `from` has
// no room for (rax's upper half under an i386 gdb) kept.
std::vector<std::uint8_t> overlay_registers(const RegisterLayout& cur, std::span<const std::uint8_t> current,
                                            const RegisterLayout& from, std::span<const std::uint8_t> g);

class RegisterView {
public:
    explicit RegisterView(DebugTarget& target) : target_(target) {}

    // The layout gdb works with: pinned at its first use on a connection, to the
    // fixed one when there is one (--gdb-arch), else to the CPU's.
    Arch arch() const;
    // A new connection will read the target description again.
    void unpin() { pinned_.reset(); }
    // Serve `layout` from the first packet of every connection, whatever the CPU's
    // mode (outside long mode the 64-bit one has zero upper halves); nullopt: the
    // CPU's layout at connect time.
    bool fixed() const { return fixed_.has_value(); }
    void fix(std::optional<Arch> layout) {
        fixed_ = layout;
        pinned_.reset();
    }
    bool converting() const { return !same_layout(arch(), target_.arch()); }
    // gdb's layout: arch() with the register sets the target's host offers
    // (DebugTarget::register_features, the same in every mode).
    const RegisterLayout& layout() const { return register_layout(arch(), target_.register_features()); }

    std::vector<std::uint8_t> read_all();
    TargetStatus write_all(std::span<const std::uint8_t> g);  // g has arch()'s g_size()
    std::optional<std::vector<std::uint8_t>> read(unsigned regnum);
    TargetStatus write(unsigned regnum, std::span<const std::uint8_t> value);

private:
    static bool same_layout(Arch a, Arch b) { return (a == Arch::X86_64) == (b == Arch::X86_64); }
    // The layout of the CPU's current mode, which the target reads and writes.
    const RegisterLayout& cpu_layout() const { return register_layout(target_.arch(), target_.register_features()); }
    DebugTarget& target_;
    std::optional<Arch> fixed_;
    mutable std::optional<Arch> pinned_;  // set lazily by the const arch()
};

}  // namespace kvmgdb::stub
