// What every boot protocol hands a kernel, as data: the PC memory map, the command
// line and modules the user gave, and an arena that places the boot loader's own
// structures (info blocks, strings, modules) in RAM the kernel and kvmgdb's tables
// leave free. Pure functions and plain values: no KVM, unit-tested on buffers.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mem/guest_memory.hpp"
#include "x86/mode_setup.hpp"

namespace kvmgdb::boot {

// e820 types (ACPI 6.4, 15 "System Address Map Interfaces"); Multiboot's mmap and
// PVH's hvm_memmap_table_entry use the same numbers.
inline constexpr std::uint32_t kMemoryRam = 1;
inline constexpr std::uint32_t kMemoryReserved = 2;

struct MemoryMapEntry {
    std::uint64_t addr;
    std::uint64_t size;
    std::uint32_t type;
    bool operator==(const MemoryMapEntry&) const = default;
};

// The PC's conventional layout below 1 MiB: RAM up to the EBDA, the EBDA itself,
// then the VGA window and the option/BIOS ROMs (no RAM is mapped in KVM's memslot
// there, but the guest memory is one flat mapping, so it is reserved, not absent).
inline constexpr std::uint64_t kEbdaBase = 0x9fc00;        // 639 KiB of base memory
inline constexpr std::uint64_t kLowMemoryEnd = 0xa0000;    // VGA window starts
inline constexpr std::uint64_t kBiosRomBase = 0xf0000;     // the BIOS ROM's 64 KiB
inline constexpr std::uint64_t kHighMemoryBase = 0x100000; // 1 MiB

// The map every boot protocol reports for `ram` bytes: [0, EBDA) RAM, [EBDA, 640K)
// reserved, [0xF0000, 1M) reserved, [1M, ram) RAM. `ram` is at least 1 MiB.
std::vector<MemoryMapEntry> pc_memory_map(std::uint64_t ram);

// A file the boot loader passes on: Multiboot's --module FILE[,CMDLINE], PVH's --initrd.
struct BootModule {
    std::string path;                 // for messages and as the default command line
    std::vector<std::uint8_t> bytes;  // its contents
    std::string cmdline;              // Multiboot's module string
};

// What the user asked the boot loader to pass (--cmdline, --initrd, --module).
struct BootRequest {
    std::string cmdline;
    std::vector<BootModule> modules;
    std::string loader_name = "kvmgdb";  // Multiboot's boot_loader_name
};

// First-fit placement of boot data in RAM that nothing else holds. Allocations never
// overlap each other, the ranges given as occupied, page 0 (the IVT and the BIOS data
// area) or the reserved ranges of pc_memory_map. Throws ImageError naming `what`
// when nothing fits.
class BootArena {
public:
    BootArena(std::uint64_t ram, std::vector<PhysRange> occupied);

    // Below 1 MiB: info blocks and strings a 32-bit kernel reads before it maps
    // anything (GRUB keeps them low too).
    std::uint64_t allocate_low(std::uint64_t size, std::uint64_t align, std::string_view what);
    // Above everything occupied above 1 MiB (the kernel's image), page-aligned
    // or more: modules, where a kernel that frees its own end of memory finds them
    // after its image.
    std::uint64_t allocate_high(std::uint64_t size, std::uint64_t align, std::string_view what);

    // Writes `s` with a terminating NUL at a fresh low allocation; returns its address.
    std::uint64_t put_string(GuestMemory& mem, std::string_view s, std::string_view what);

    // Everything placed so far, for tests and for the map's consumers.
    const std::vector<PhysRange>& allocations() const { return allocations_; }

private:
    std::uint64_t first_fit(std::uint64_t from, std::uint64_t to, std::uint64_t size, std::uint64_t align,
                            std::string_view what);
    std::uint64_t ram_;
    std::vector<PhysRange> occupied_;  // given + reserved + allocations, unsorted
    std::vector<PhysRange> allocations_;
};

// Little-endian packing of a plain struct's fields into guest memory, for the
// protocols' info blocks: `put<std::uint32_t>(mem, at, offset, value)` stores the
// low bytes of value. Addresses fit 32-bit fields: guest RAM ends below 4 GiB.
template <typename T>
void put(GuestMemory& mem, std::uint64_t base, std::uint64_t offset, std::uint64_t value) {
    static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8);
    if constexpr (sizeof(T) == 1) mem.write8(base + offset, static_cast<std::uint8_t>(value));
    else if constexpr (sizeof(T) == 2) mem.write16(base + offset, static_cast<std::uint16_t>(value));
    else if constexpr (sizeof(T) == 4) mem.write32(base + offset, static_cast<std::uint32_t>(value));
    else mem.write64(base + offset, static_cast<std::uint64_t>(value));
}

}  // namespace kvmgdb::boot
