// Breakpoints and watchpoints, shared by every vCPU: the patches in guest RAM (Z0,
// and Z1 where DR0-DR3 do not trap), the debug-register slots (Z1/Z2/Z4), the
// page-protection watchpoints and the memslot layout that implements them (see
// kvm_target.hpp, "Mechanisms"). Patches and memslots belong to the VM, so one
// manager serves all vCPUs; the debug registers are per vCPU in hardware, so the same
// slots are loaded into each vCPU by apply_guest_debug(vcpu, ...).
//
// It never touches KVM except through the MemslotSink it is given and the Vcpu passed
// to apply_guest_debug, so everything else is unit-tested on a GuestMemory with a fake
// sink. Not thread-safe by itself: whoever uses it while vCPUs run holds run_mutex()
// (the runners around each exit, KvmTarget around gdb's calls in non-stop mode).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "debug/address_space.hpp"
#include "debug/guest_debug.hpp"
#include "devices/port_io.hpp"
#include "kvm/kvm.hpp"
#include "loader/elf_loader.hpp"
#include "mem/guest_memory.hpp"
#include "stub/debug_target.hpp"
#include "x86/debug_registers.hpp"
#include "x86/mode_setup.hpp"

namespace kvmgdb::debug {

enum class BreakMechanism { Auto, Int3, HltPatch, DebugRegisters };
enum class WatchMechanism { Auto, DebugRegisters, PageProtection };

inline constexpr std::uint8_t kInt3 = 0xcc;
inline constexpr std::uint8_t kHlt = 0xf4;
// The two-byte patch of the pc platform: OUT imm8, AL to kBreakPort. With the
// in-kernel LAPIC a HLT stays inside KVM until an interrupt, and an interrupt that
// comes before the halt poll sees it returns to the byte after the HLT, the middle
// of the guest's instruction. An OUT to a port no in-kernel device claims always
// leaves KVM_RUN at once (KVM_EXIT_IO), whatever IF says; the instruction it covers
// must be two bytes or longer (x86/instruction_bytes.hpp), one-byte ones keep HLT.
inline constexpr std::uint8_t kOutImm8 = 0xe6;
inline constexpr std::uint8_t kBreakPort = 0xe5;

// The mechanisms in use (resolved: never Auto) and what the host allows.
struct Mechanisms {
    BreakMechanism software = BreakMechanism::HltPatch;  // Int3 or HltPatch
    BreakMechanism hardware = BreakMechanism::HltPatch;  // DebugRegisters or HltPatch
    WatchMechanism watch = WatchMechanism::PageProtection;
    bool readonly_mem = true;  // KVM_CAP_READONLY_MEM: page protection is possible
    bool blockirq = false;     // KVM_GUESTDBG_BLOCKIRQ is supported
    bool io_patch = false;     // HltPatch uses the OUT patch where it fits (the pc platform)
};

// Where the memslot layout goes: KVM_SET_USER_MEMORY_REGION of `slot` over guest RAM
// [phys, phys + size) with `flags`; size 0 deletes the slot. Throws KvmError when refused.
using MemslotSink = std::function<void(std::uint32_t slot, std::uint32_t flags, std::uint64_t phys, std::uint64_t size)>;

// A breakpoint's patch in guest RAM, at one linear address; Z0 and the Z1 fallback
// share it. `len` bytes from `phys`: 0xCC or 0xF4 (one), kOutImm8 kBreakPort (two,
// on one page), or none (a breakpoint inside the instruction another patch covers:
// no correct run reaches it). The guest's own bytes are kept per byte
// (PatchedByte), so that patches of aliases and neighbours share them.
struct Patch {
    std::uint64_t phys = 0;
    std::uint8_t byte = 0;  // the first byte: kInt3, kHlt or kOutImm8 (0 when len is 0)
    std::uint8_t len = 1;
    bool code64 = false;    // how its first byte was read (InsertContext::code64)
    bool software = false;  // a Z0 is set here
    bool hardware = false;  // a Z1 (fallback) is set here
};

// One patched byte of guest RAM: what the guest had there, what we put, and how many
// patches hold it.
struct PatchedByte {
    std::uint8_t original = 0;
    std::uint8_t value = 0;
    unsigned refs = 0;
};

// A page-protection watchpoint: its linear range and the guest-physical ranges it maps to.
struct PageWatch {
    stub::BreakpointKind kind;
    std::uint64_t addr;
    std::uint64_t len;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> phys;  // [begin, end)
};

// A page-protection watchpoint that an access hit (what its stop reports).
struct WatchHit {
    stub::BreakpointKind kind;
    std::uint64_t addr;
};

// What the memslots protect: everything, or (while one instruction the emulator could
// not do runs natively) only the holes, or nothing.
enum class Protection { Full, HolesOnly, None };

// What an insert needs of the vCPUs: the paging the address is translated under (the
// vCPU gdb addresses), and, asked only for a page-protection access watchpoint, the
// guest-physical pc of every vCPU (a hole must not take the code they run).
struct InsertContext {
    PagingState paging;
    std::function<std::vector<std::uint64_t>()> pcs_phys;
    bool code64 = false;  // that vCPU runs 64-bit code (CS.L): how an OUT patch reads the first byte
};

class BreakpointManager {
public:
    BreakpointManager(GuestMemory& mem, const AddressSpace& space, Mechanisms mech, MemslotSink sink,
                      const GuestImage& image, const SystemArea& area, TextSink diag);

    const Mechanisms& mechanisms() const { return mech_; }

    stub::TargetStatus insert(stub::BreakpointKind kind, std::uint64_t addr, std::uint64_t length,
                              const InsertContext& ctx);
    stub::TargetStatus remove(stub::BreakpointKind kind, std::uint64_t addr, std::uint64_t length);
    // Every patch restored, every slot and watch gone, RAM one plain memslot again.
    void remove_all();

    // gdb's memory access at gdb addresses, with the patches hidden: reads show the
    // guest's byte, writes over a patch change the byte to restore and keep the patch.
    std::size_t read_memory(const PagingState& paging, std::uint64_t addr, std::span<std::uint8_t> out) const;
    std::size_t write_memory(const PagingState& paging, std::uint64_t addr, std::span<const std::uint8_t> in);

    // --- for the run loop -------------------------------------------------------
    // Held by a vCPU runner while it handles an exit or runs an instruction unprotected:
    // with several vCPUs running, their exits reach the manager one at a time
    // (recursive: finishing an instruction handles exits again).
    std::recursive_mutex& run_mutex() const { return run_mu_; }
    // The patch at a linear address (gdb's breakpoint address), or nullptr.
    const Patch* patch_at(std::uint64_t addr) const;
    // The guest's own byte under a patch at guest-physical `phys`; nullopt if unpatched.
    std::optional<std::uint8_t> original_byte(std::uint64_t phys) const;
    const DebugRegisterSlots& debug_registers() const { return drs_; }
    // The KVM_SET_GUEST_DEBUG request of a run, and setting it on one vCPU (any of them).
    GuestDebugRequest guest_debug(bool step) const;
    void apply_guest_debug(Vcpu& vcpu, bool step) const;

    bool any_protected() const { return !protected_pages_.empty(); }
    bool is_protected(std::uint64_t phys) const;
    bool in_ram(std::uint64_t phys, std::uint64_t len) const { return mem_.contains(phys, len); }
    // The byte in guest RAM at a vCPU's linear address (its own page tables, whatever
    // `monitor phys` says), patches not hidden; nullopt when unmapped.
    std::optional<std::uint8_t> ram_byte_at_linear(const PagingState& paging, std::uint64_t linear) const;
    // The patch a vCPU at linear address `linear` ran into: the one gdb set at that
    // address, or else one on the byte it maps to through the vCPU's page tables (gdb
    // set it through another mapping, or under `monitor phys on`); nullptr if none.
    const Patch* patch_hit(const PagingState& paging, std::uint64_t linear) const;
    // An OUT patch was removed from the byte `linear` maps to (a vCPU may still have
    // been on its way out of KVM_RUN from it).
    bool out_patch_removed_at(const PagingState& paging, std::uint64_t linear) const;
    // An MMIO exit on a protected page: applies the access to RAM (a write over a patch
    // byte becomes the byte to restore; the patch stays) and returns the watchpoint it
    // hit, if any. nullopt also when the access is not in RAM.
    std::optional<WatchHit> protected_access(const exit::Mmio& m);

    // Around one instruction run natively with the protection lifted (run_one_unprotected).
    Protection protection() const { return protection_; }
    void set_protection(Protection p);  // relays the memslots; throws like sync_memslots
    std::vector<std::vector<std::uint8_t>> watched_bytes() const;  // per page watch, in order
    // The first page watch whose bytes differ from `before` (watched_bytes() earlier).
    std::optional<WatchHit> changed_watch(const std::vector<std::vector<std::uint8_t>>& before) const;
    std::optional<WatchHit> first_access_watch() const;
    // A write through the lifted protection may have covered a patch byte: that is the
    // guest's byte to restore later, and the patch goes back.
    void repatch();

    // A page whose last patch gdb lifted stays read-only until the next resume that
    // steps no vCPU: gdb lifts a breakpoint and puts it back around every step over
    // it (z0, s, Z0, c), and each change of the protected pages re-lays out every
    // memslot, which dominated a breakpoint hit under nested KVM. A spare page costs
    // only an MMIO exit per guest write to it. Drops them; throws like sync_memslots.
    bool has_spare_pages() const { return !spare_patch_pages_.empty(); }
    std::size_t spare_page_count() const { return spare_patch_pages_.size(); }
    void release_spare_pages();

    // --- for `monitor info debug` ---------------------------------------------
    std::size_t patch_count() const { return patches_.size(); }
    std::size_t hlt_patch_count() const;  // those the halt poll must look for
    std::size_t page_watch_count() const { return page_watches_.size(); }
    std::size_t protected_page_count() const { return protected_pages_.size(); }

private:
    mutable std::recursive_mutex run_mu_;
    const Patch* patch_at_phys(std::uint64_t phys) const;  // any patch starting at that byte, or nullptr
    Patch plan_patch(std::uint64_t phys, const InsertContext& ctx) const;
    void take_bytes(const Patch& p);
    void drop_bytes(const Patch& p);
    // The guest wrote `data` at guest-physical `phys` over RAM that may hold patch
    // bytes: those become the bytes to restore, and the patches go back (refitted).
    void keep_patches_over(std::uint64_t phys, std::span<const std::uint8_t> data);
    // An OUT patch whose guest byte became a one-byte instruction (the guest or gdb
    // wrote it) would cover the next instruction: it becomes a HLT, with its aliases.
    void refit_patches();
    // Breakpoints that took no bytes (inside an OUT patch's instruction) at `phys`
    // get their own once that patch is gone.
    void replan_empty_patches(std::uint64_t phys);
    std::optional<std::string> code_on_watched_pages(const PageWatch& w, const InsertContext& ctx) const;
    void sync_memslots();
    void lay_out_memslots(const std::map<std::uint64_t, bool>& pages);  // phys page -> hole

    GuestMemory& mem_;
    const AddressSpace& space_;
    Mechanisms mech_;
    MemslotSink sink_;
    const GuestImage& image_;
    const SystemArea& area_;
    TextSink diag_;

    std::map<std::uint64_t, Patch> patches_;         // by linear address
    std::map<std::uint64_t, PatchedByte> patched_;   // by guest-physical address
    std::set<std::uint64_t> removed_out_patches_;    // guest-physical, since the last remove_all
    DebugRegisterSlots drs_;                  // Z1/Z2/Z4 on DR0-DR3
    std::vector<PageWatch> page_watches_;
    std::map<std::uint64_t, bool> protected_pages_;  // phys page -> true: hole (access), false: read-only
    std::set<std::uint64_t> spare_patch_pages_;     // phys pages kept read-only (release_spare_pages)
    Protection protection_ = Protection::Full;
    std::vector<std::uint32_t> slots_ = {0};  // the memslots in use (Machine made slot 0)
};

}  // namespace kvmgdb::debug
