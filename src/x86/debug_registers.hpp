// Hardware breakpoints and watchpoints as x86 debug-register values (Intel SDM
// Vol. 3A 17.2): DR0-DR3 hold linear addresses, DR7 enables and configures them,
// DR6 says which one fired. Pure functions plus a four-slot allocator; the KVM
// side copies the values into kvm_guest_debug.arch.debugreg[] (that file, not
// this one, includes <linux/kvm.h>).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace kvmgdb {

// The R/W field encodings of DR7 (SDM 17.2.4). 10b (I/O) needs CR4.DE and is unused.
enum class DebugKind : std::uint8_t {
    Execute = 0b00,   // instruction fetch (gdb Z1)
    Write = 0b01,     // data write (gdb Z2)
    ReadWrite = 0b11  // data read or write (gdb Z4; x86 has no read-only watchpoint, Z3)
};

inline constexpr int kDebugSlots = 4;

struct DebugSlot {
    bool enabled = false;
    std::uint64_t addr = 0;  // linear address
    DebugKind kind = DebugKind::Execute;
    unsigned len = 1;        // bytes: 1, 2, 4 or 8; 1 for Execute
    friend bool operator==(const DebugSlot&, const DebugSlot&) = default;
};

// DR7 bit positions (SDM 17.2.4, Figure 17-2).
namespace dr7 {
inline constexpr std::uint64_t LE = 1u << 8, GE = 1u << 9;
inline constexpr std::uint64_t kReadAsOne = 1u << 10;  // reads as 1; we never write it
inline constexpr std::uint64_t local_enable(int slot) { return std::uint64_t{1} << (2 * slot); }
inline constexpr unsigned rw_shift(int slot) { return 16 + 4 * static_cast<unsigned>(slot); }
inline constexpr unsigned len_shift(int slot) { return 18 + 4 * static_cast<unsigned>(slot); }
}  // namespace dr7

// DR6 bit positions (SDM 17.2.3).
namespace dr6 {
inline constexpr std::uint64_t BD = 1u << 13, BS = 1u << 14, BT = 1u << 15;
}

class DebugRegisterError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// Why (kind, addr, len) cannot be a debug-register slot, or nullopt when it can.
// The text is meant for the user (gdb shows it after `monitor` or in logs).
std::optional<std::string> check_debug_slot(DebugKind kind, std::uint64_t addr, unsigned len);

// The 2-bit LEN encoding of a length (SDM 17.2.5): 1 -> 00, 2 -> 01, 8 -> 10, 4 -> 11.
// Throws DebugRegisterError for any other length.
std::uint64_t encode_len(unsigned len);

struct DebugRegisterValues {
    std::array<std::uint64_t, kDebugSlots> dr{};  // DR0-DR3
    std::uint64_t dr7 = 0;
    friend bool operator==(const DebugRegisterValues&, const DebugRegisterValues&) = default;
};

// DR0-DR3 and DR7 for up to four slots. Disabled slots give address 0 and no
// DR7 bits; with no slot enabled DR7 is 0. Throws DebugRegisterError (with
// check_debug_slot's message) for an enabled slot that is invalid.
DebugRegisterValues encode_debug_registers(const std::array<DebugSlot, kDebugSlots>& slots);

// What DR6 says after a #DB (SDM 17.2.3).
struct Dr6Status {
    std::uint8_t hits = 0;        // B0-B3 as bits 0-3: those slots' conditions were met
    bool single_step = false;     // BS: a TF single step trapped
    bool register_access = false; // BD: a MOV to/from a debug register with DR7.GD set
    bool task_switch = false;     // BT: a task switch to a TSS with the T flag
    bool hit(int slot) const { return (hits >> slot) & 1; }
};
Dr6Status decode_dr6(std::uint64_t dr6);

// The four debug-register slots a vCPU has, handed out to gdb's Z1/Z2/Z4.
class DebugRegisterSlots {
public:
    // The slot now holding (kind, addr, len), or nullopt when all four are in use.
    // Adding an identical entry again returns its slot unchanged: the GDB manual
    // asks stubs to implement Z packets idempotently ("Packets", z/Z). Throws
    // DebugRegisterError when check_debug_slot rejects the arguments.
    std::optional<int> add(DebugKind kind, std::uint64_t addr, unsigned len);
    // Frees the slot holding exactly (kind, addr, len); false when none does.
    bool remove(DebugKind kind, std::uint64_t addr, unsigned len);
    void clear() { slots_ = {}; }

    const std::array<DebugSlot, kDebugSlots>& slots() const { return slots_; }
    int used() const;
    DebugRegisterValues values() const { return encode_debug_registers(slots_); }
    // The enabled slots among DR6's B0-B3 hits. The CPU may set Bn for a slot
    // that is not enabled (SDM 17.2.3), so a hit only counts for one we armed.
    std::uint8_t enabled_hits(std::uint64_t dr6) const;

private:
    std::optional<int> find(DebugKind kind, std::uint64_t addr, unsigned len) const;
    std::array<DebugSlot, kDebugSlots> slots_{};
};

}  // namespace kvmgdb
