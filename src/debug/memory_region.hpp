// What lies at one of gdb's addresses, for LLDB's qMemoryRegionInfo and for the
// text of a failed read (stub::MemoryRegion). Pure over guest RAM and a paging
// state, like the translation it reports on (address_space.hpp), so it is
// unit-tested without KVM.
#pragma once

#include <cstdint>

#include "mem/guest_memory.hpp"
#include "stub/debug_target.hpp"
#include "x86/page_walk.hpp"

namespace kvmgdb::debug {

// `physical`: gdb's addresses are guest-physical (`monitor phys on`), else linear
// under `paging`. Mapped: the page that maps addr (its size as the tables say,
// cut where its frames leave RAM; all of RAM without paging), with the
// permissions of the walk (R/W at every level, XD). Unmapped: as much as the
// reason covers, so that LLDB's walk over all regions ends in a few steps per
// table entry: what a not-present entry would map (4 KiB to 512 GiB), the rest of
// a page past RAM, everything above RAM up to 4 GiB (no paging) or to the last
// address (physical), everything from 4 GiB in a 32-bit mode, the non-canonical
// hole in long mode. No region wraps past 2^64: the last ends at 2^64 - 1.
stub::MemoryRegion region_at(const GuestMemory& mem, const PagingState& paging, bool physical, std::uint64_t addr);

}  // namespace kvmgdb::debug
