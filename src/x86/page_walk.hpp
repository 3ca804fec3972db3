// Linear -> guest-physical translation by walking the guest's own page tables in
// guest RAM, the way the MMU does (Intel SDM Vol. 3A chapter 4). The debugger
// needs it because gdb speaks linear addresses while guest RAM is indexed by
// physical ones. Pure: the paging state comes in as plain numbers (no kvm_sregs,
// no <linux/kvm.h>) and every table read goes through GuestMemory's checked API.
//
// Only translation is modelled: present bits and page sizes decide the result.
// Permission bits (R/W, U/S, XD) are collected for display and for the
// informational `permitted` flag, but never fail a walk: a debugger writes
// breakpoints into read-only code and reads supervisor data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mem/guest_memory.hpp"

namespace kvmgdb {

// The registers that select and root the paging structures (SDM 4.1.1).
struct PagingState {
    std::uint64_t cr0 = 0;
    std::uint64_t cr3 = 0;
    std::uint64_t cr4 = 0;
    std::uint64_t efer = 0;
};

// SDM 4.1.1, Table 4-1. FiveLevel (CR4.LA57) is recognised but not walked.
enum class PagingMode { None, Bits32, Pae, FourLevel, FiveLevel };
PagingMode paging_mode(const PagingState& state);
std::string_view to_string(PagingMode mode);

// What the caller means to do with the address; only affects `permitted`.
enum class Access { Read, Write, Fetch };

// One paging-structure entry the walk read (or tried to read).
struct WalkStep {
    std::string_view level;       // "PML4E", "PDPTE", "PDE" or "PTE"
    unsigned index = 0;           // which entry of its table the address selected
    std::uint64_t entry_addr = 0; // guest-physical address of the entry
    std::uint64_t entry = 0;      // raw value (0 when it could not be read)
    bool readable = false;        // false: the entry lies outside guest RAM
    bool present = false;         // bit 0 (P)
    bool writable = false;        // bit 1 (R/W)
    bool user = false;            // bit 2 (U/S)
    bool large = false;           // PS=1: this entry maps the page itself
    std::uint64_t span = 0;       // linear bytes one entry of this level covers (2^index shift)
};

enum class WalkFailure {
    None,
    NotPresent,       // an entry had P=0 (the MMU would raise #PF)
    TableOutsideRam,  // an entry's address is not in guest RAM
    NonCanonical,     // 4-level paging: bits 63:47 are not all equal (SDM 3.3.7.1)
    AddressTooWide,   // a 32-bit paging mode was asked about an address >= 4 GiB
    Unsupported       // 5-level paging
};
std::string_view to_string(WalkFailure failure);

struct WalkResult {
    PagingMode mode = PagingMode::None;
    std::uint64_t linear = 0;
    WalkFailure failure = WalkFailure::None;
    std::vector<WalkStep> steps;  // in walk order; the last one is where a failure stopped
    // Valid when ok():
    std::uint64_t phys = 0;
    std::uint64_t page_size = 0;  // 4 KiB, 2 MiB, 4 MiB or 1 GiB (4 KiB without paging)
    bool writable = false;        // R/W set at every level (SDM 4.6)
    bool user = false;            // U/S set at every level
    bool no_execute = false;      // XD set at some level and EFER.NXE=1 (PAE and 4-level only)
    bool permitted = false;       // the access kind would be allowed at CPL 0 (SDM 4.6.1)

    bool ok() const { return failure == WalkFailure::None; }
    // The level whose entry stopped the walk ("" when ok or when no entry was read).
    std::string_view failed_level() const;
};

// Walks the tables for `linear`. Never throws for guest-controlled content:
// a table outside RAM is a failure value, not a GuestMemoryError.
WalkResult walk(const GuestMemory& mem, const PagingState& state, std::uint64_t linear,
                Access access = Access::Read);

// Shorthand: the physical address, or nullopt when the walk fails.
std::optional<std::uint64_t> translate(const GuestMemory& mem, const PagingState& state,
                                       std::uint64_t linear);

// Bytes from `linear` to the end of its page (page_size a power of two): how much
// a page-by-page memory read may take from one translation.
std::uint64_t bytes_to_page_end(std::uint64_t linear, std::uint64_t page_size);

// A multi-line, human-readable account of the walk for `monitor translate`.
std::string format_walk(const WalkResult& result);

}  // namespace kvmgdb
