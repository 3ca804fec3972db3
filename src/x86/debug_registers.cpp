// DR7 encoding, DR6 decoding and the slot allocator (Intel SDM Vol. 3A 17.2).
#include "x86/debug_registers.hpp"

#include "util/hex.hpp"

namespace kvmgdb {

namespace {

std::string_view kind_name(DebugKind kind) {
    switch (kind) {
        case DebugKind::Execute: return "hardware breakpoint";
        case DebugKind::Write: return "write watchpoint";
        case DebugKind::ReadWrite: return "access watchpoint";
    }
    return "debug register";
}

}  // namespace

std::optional<std::string> check_debug_slot(DebugKind kind, std::uint64_t addr, unsigned len) {
    switch (kind) {
        case DebugKind::Execute:
        case DebugKind::Write:
        case DebugKind::ReadWrite: break;
        default: return "unknown debug-register kind";
    }
    if (kind == DebugKind::Execute) {
        // SDM 17.2.5: "instruction breakpoint addresses must have a length
        // specification of 1 byte (the LENn field is set to 00)". gdb's Z1 `kind`
        // is the breakpoint's size in bytes, and for x86 it sends 1.
        if (len != 1) {
            return std::string(kind_name(kind)) + " at " + hex(addr) + ": length " + std::to_string(len) +
                   " is not supported (instruction breakpoints cover 1 byte)";
        }
        return std::nullopt;
    }
    if (len != 1 && len != 2 && len != 4 && len != 8) {
        return std::string(kind_name(kind)) + " at " + hex(addr) + ": length " + std::to_string(len) +
               " is not supported (x86 debug registers watch 1, 2, 4 or 8 bytes)";
    }
    // SDM 17.2.5: the address in DRn is used with its low bits masked off
    // according to LEN, so an unaligned range would silently watch the wrong
    // bytes. Refuse it instead.
    if (addr % len != 0) {
        return std::string(kind_name(kind)) + " at " + hex(addr) + ": a " + std::to_string(len) +
               "-byte watchpoint must be " + std::to_string(len) + "-byte aligned";
    }
    return std::nullopt;
}

std::uint64_t encode_len(unsigned len) {
    // SDM 17.2.4/17.2.5: 00 = 1 byte, 01 = 2 bytes, 11 = 4 bytes, 10 = 8 bytes
    // (8 bytes on Intel 64 processors; "undefined" only on some early IA-32 ones).
    switch (len) {
        case 1: return 0b00;
        case 2: return 0b01;
        case 4: return 0b11;
        case 8: return 0b10;
        default: throw DebugRegisterError("debug-register length " + std::to_string(len) + " is not 1, 2, 4 or 8");
    }
}

DebugRegisterValues encode_debug_registers(const std::array<DebugSlot, kDebugSlots>& slots) {
    DebugRegisterValues v;
    bool any = false;
    for (int i = 0; i < kDebugSlots; ++i) {
        const DebugSlot& s = slots[static_cast<std::size_t>(i)];
        if (!s.enabled) continue;
        if (auto err = check_debug_slot(s.kind, s.addr, s.len)) throw DebugRegisterError(*err);
        any = true;
        v.dr[static_cast<std::size_t>(i)] = s.addr;
        // Ln (local enable), never Gn: the guest is one task as far as we care and
        // local enables are what Linux and gdbserver use. Hardware clears Ln on a
        // hardware task switch, which an x86 debugger accepts.
        v.dr7 |= dr7::local_enable(i);
        v.dr7 |= static_cast<std::uint64_t>(s.kind) << dr7::rw_shift(i);
        v.dr7 |= encode_len(s.kind == DebugKind::Execute ? 1 : s.len) << dr7::len_shift(i);
    }
    // LE|GE (bits 8, 9) ask for "exact" data breakpoints, reported on the
    // instruction that made the access. P6 and later always behave that way and
    // ignore the bits, but SDM 17.2.4 recommends setting them "if exact
    // breakpoints are required", and a debugger does require them. Only set
    // while something is armed, so "no breakpoints" is exactly DR7 = 0.
    //
    // Bit 10 reads as 1 and ignores writes (SDM Figure 17-2): setting it would
    // only make our values differ from what we mean, and KVM ORs it in itself
    // (DR7_FIXED_1) where the architecture requires it. Bits 63:32 stay 0 (a
    // MOV DR7 with them set raises #GP; VM entry checks them too).
    if (any) v.dr7 |= dr7::LE | dr7::GE;
    return v;
}

Dr6Status decode_dr6(std::uint64_t value) {
    Dr6Status s;
    s.hits = static_cast<std::uint8_t>(value & 0xf);
    s.single_step = (value & dr6::BS) != 0;
    s.register_access = (value & dr6::BD) != 0;
    s.task_switch = (value & dr6::BT) != 0;
    return s;
}

std::optional<int> DebugRegisterSlots::find(DebugKind kind, std::uint64_t addr, unsigned len) const {
    for (int i = 0; i < kDebugSlots; ++i) {
        const DebugSlot& s = slots_[static_cast<std::size_t>(i)];
        if (s.enabled && s.kind == kind && s.addr == addr && s.len == len) return i;
    }
    return std::nullopt;
}

std::optional<int> DebugRegisterSlots::add(DebugKind kind, std::uint64_t addr, unsigned len) {
    if (auto err = check_debug_slot(kind, addr, len)) throw DebugRegisterError(*err);
    if (auto existing = find(kind, addr, len)) return existing;
    for (int i = 0; i < kDebugSlots; ++i) {
        DebugSlot& s = slots_[static_cast<std::size_t>(i)];
        if (!s.enabled) {
            s = DebugSlot{true, addr, kind, len};
            return i;
        }
    }
    return std::nullopt;
}

bool DebugRegisterSlots::remove(DebugKind kind, std::uint64_t addr, unsigned len) {
    auto slot = find(kind, addr, len);
    if (!slot) return false;
    slots_[static_cast<std::size_t>(*slot)] = DebugSlot{};
    return true;
}

int DebugRegisterSlots::used() const {
    int n = 0;
    for (const DebugSlot& s : slots_) n += s.enabled ? 1 : 0;
    return n;
}

std::uint8_t DebugRegisterSlots::enabled_hits(std::uint64_t dr6_value) const {
    std::uint8_t hits = decode_dr6(dr6_value).hits;
    std::uint8_t mask = 0;
    for (int i = 0; i < kDebugSlots; ++i) {
        if (slots_[static_cast<std::size_t>(i)].enabled) mask = static_cast<std::uint8_t>(mask | (1u << i));
    }
    return static_cast<std::uint8_t>(hits & mask);
}

}  // namespace kvmgdb
