// Puts a fresh vCPU's state and kvmgdb's system tables (GDT, identity page tables)
// in place for one of the four modes. Pure functions over (guest memory, kvm_sregs,
// kvm_regs): no ioctls, so they are unit-tested on plain buffers.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "mem/guest_memory.hpp"
#include "x86/cpu_mode.hpp"
#include "x86/fxsave.hpp"

namespace kvmgdb {

class ModeSetupError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A guest-physical range [begin, end) occupied by the loaded image.
struct PhysRange {
    std::uint64_t begin;
    std::uint64_t end;
};

// Where kvmgdb's tables live for one run. Page-aligned, one page for the GDT
// followed by the page tables the mode needs.
struct SystemArea {
    std::uint64_t base = 0;         // guest-physical
    std::uint64_t size = 0;         // bytes, 0 in real mode
    std::uint64_t gdt = 0;          // GDT address
    std::uint64_t page_tables = 0;  // CR3 (PML4 or page directory); 0 without paging
    std::uint64_t stack_top = 0;    // initial ESP/RSP (SP in real mode)
};

inline constexpr std::uint64_t kPageSize = 4096;
// Preferred home of the tables: just above the real-mode IVT/BDA page, below 0x8000
// where guests are linked. Used unless the image is there.
inline constexpr std::uint64_t kLowSystemBase = 0x1000;
// Real mode: SP below the classic boot-sector load address.
inline constexpr std::uint64_t kRealModeStack = 0x7c00;

// Bytes of tables a mode needs for `ram` bytes of RAM (GDT page + page tables).
std::uint64_t system_area_size(const ModeDescription& mode, std::uint64_t ram);

// Chooses where the tables go: at kLowSystemBase if the image leaves room there,
// otherwise in the last pages of RAM. Throws ModeSetupError, naming both ranges,
// when the image leaves room in neither or RAM is too small.
SystemArea place_system_area(const ModeDescription& mode, std::uint64_t ram,
                             const std::vector<PhysRange>& image);

// Writes the GDT and page tables into `mem` and sets segments, control registers,
// EFER, GDTR/IDTR, RIP, RSP and RFLAGS for `mode`, starting at `entry`. `sregs`
// should hold the vCPU's reset state (KVM_GET_SREGS) so fields this does not own
// (APIC base, TR, LDT) keep KVM's values.
void setup_mode(const ModeDescription& mode, const SystemArea& area, std::uint64_t entry,
                GuestMemory& mem, kvm_sregs& sregs, kvm_regs& regs);

// The reset FPU state of a real CPU after FNINIT (control word 0x37f) with the
// default MXCSR (0x1f80), written into the legacy region of `area` (from
// KVM_GET_XSAVE, for KVM_SET_XSAVE: KVM_SET_FPU would drop MXCSR).
void set_initial_fpu(XsaveArea& area);

// The 8-byte GDT descriptor that holds `seg` (SDM 3.4.5), and its inverse.
std::uint64_t encode_descriptor(const kvm_segment& seg);
kvm_segment flat_segment(GdtSlot slot);

}  // namespace kvmgdb
