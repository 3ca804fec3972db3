// PVH boot (Xen's docs/misc/pvh.pandoc; Linux's arch/x86/platform/pvh): an ELF whose
// XEN_ELFNOTE_PHYS32_ENTRY note gives a 32-bit entry, entered in protected mode
// with paging off and EBX = the physical address of an hvm_start_info (version 1:
// with the memory map), the command line and modules (--initrd) hanging off it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "boot/boot_protocol.hpp"

namespace kvmgdb::boot {

inline constexpr std::uint32_t kHvmStartMagic = 0x336ec578;
inline constexpr std::uint32_t kXenElfnotePhys32Entry = 18;
// Sizes of the three structures (xen/include/public/arch-x86/hvm/start_info.h).
inline constexpr std::uint64_t kHvmStartInfoSize = 56;
inline constexpr std::uint64_t kHvmModlistEntrySize = 32;
inline constexpr std::uint64_t kHvmMemmapEntrySize = 24;

// The note's entry, or nullopt for an ELF without one (and for a file that is not
// an ELF). Reads PT_NOTE segments only, bounds-checked; a note with the right name
// and type but a desc that is not 4 or 8 bytes is an ImageError.
std::optional<std::uint64_t> find_pvh_entry(std::span<const std::uint8_t> file, const std::string& name);

PreparedBoot prepare_pvh(std::span<const std::uint8_t> file, const std::string& name, std::uint64_t ram,
                         std::uint64_t entry, const BootRequest& request);

}  // namespace kvmgdb::boot
