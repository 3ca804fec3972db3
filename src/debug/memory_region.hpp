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
// under `paging`. Mapped: the page that maps addr (its size as the tables say; all
// of RAM without paging), with the permissions of the walk (R/W at every level,
// XD). Unmapped: the page around addr (or everything above RAM, up to 4 GiB
// outside long mode and to the last address in it), and why.
stub::MemoryRegion region_at(const GuestMemory& mem, const PagingState& paging, bool physical, std::uint64_t addr);

}  // namespace kvmgdb::debug
