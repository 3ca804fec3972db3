// The BIOS data area (0x400-0x4FF) and the EBDA header a PC BIOS leaves behind,
// for kernels booted without firmware that still look there: Linux reads the EBDA
// segment and the base memory size to keep its hands off the EBDA, Xen and Linux
// search the EBDA for the MP table, GNU Mach and others read the COM1 base and
// the video mode. Pure: writes guest RAM, nothing else.
#pragma once

#include <cstdint>

#include "mem/guest_memory.hpp"

namespace kvmgdb {

// Fills the BDA fields kvmgdb's PC platform has answers for (COM1 only, no LPT,
// 80x25 colour text, 639 KiB of base memory, a 1 KiB EBDA at 0x9FC00); `ram` is
// guest RAM in bytes, flat from 0, at least 1 MiB. Other BDA bytes are left as
// they are (zero in fresh guest RAM).
void write_bios_data_area(GuestMemory& mem, std::uint64_t ram);

}  // namespace kvmgdb
