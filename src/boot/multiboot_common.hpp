// What Multiboot 1 and 2 share: the header's "address fields" (the a.out kludge:
// load the file by the header's addresses instead of ELF program headers), the ELF
// entry as GRUB takes it (a virtual entry inside a segment moves to that segment's
// physical address), the basic memory sizes, and the modules placed above the image.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "boot/boot_layout.hpp"
#include "loader/elf_loader.hpp"

namespace kvmgdb::boot {

// Little-endian reads of a file's bytes; the caller checks the range first.
std::uint32_t le32(std::span<const std::uint8_t> file, std::uint64_t at);

// The header's address fields (Multiboot 1 flag 16; Multiboot 2's address tag).
struct AddressFields {
    std::uint64_t header_offset = 0;  // where the header (its magic) is in the file
    std::uint32_t header_addr = 0;    // the physical address the magic is loaded at
    std::uint32_t load_addr = 0;      // physical start of what is loaded
    std::uint32_t load_end_addr = 0;  // its end; 0: to the end of the file
    std::uint32_t bss_end_addr = 0;   // end of the zeroed bss; 0: none
};

// One segment (plus bss) from the address fields, every range checked against
// the file and RAM; the entry is set by the caller. Throws ImageError naming `name`.
GuestImage image_from_address_fields(std::span<const std::uint8_t> file, const std::string& name,
                                     std::uint64_t ram, const AddressFields& a, const char* protocol);

// An ELF image as a Multiboot loader loads it: by physical address, with an entry
// that lies in a segment's virtual range moved into its physical one.
GuestImage multiboot_elf_image(std::span<const std::uint8_t> file, const std::string& name, std::uint64_t ram);

// Checks that `entry` (a physical address) lies in a loaded segment.
void check_entry(const GuestImage& image, std::uint64_t entry, const std::string& name, const char* protocol);

// mem_lower and mem_upper in KiB: RAM from 0 up to the first reserved range, and
// RAM from 1 MiB up to the first hole (pc_memory_map).
struct BasicMemory {
    std::uint32_t lower_kib = 0;
    std::uint32_t upper_kib = 0;
};
BasicMemory basic_memory(std::uint64_t ram);

// The modules, in order, each at a fresh page-aligned allocation above the image.
struct PlacedModule {
    std::uint64_t start = 0, end = 0;  // [start, end): mod_start, mod_end
    const BootModule* module = nullptr;
};
std::vector<PlacedModule> place_modules(GuestMemory& mem, BootArena& arena, const std::vector<BootModule>& modules);

}  // namespace kvmgdb::boot
