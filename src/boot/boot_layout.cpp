#include "boot/boot_layout.hpp"

#include <algorithm>

#include "loader/elf_loader.hpp"
#include "util/hex.hpp"

namespace kvmgdb::boot {

std::vector<MemoryMapEntry> pc_memory_map(std::uint64_t ram) {
    std::vector<MemoryMapEntry> map{
        {0, kEbdaBase, kMemoryRam},
        {kEbdaBase, kLowMemoryEnd - kEbdaBase, kMemoryReserved},
        {kBiosRomBase, kHighMemoryBase - kBiosRomBase, kMemoryReserved},
    };
    if (ram > kHighMemoryBase) map.push_back({kHighMemoryBase, ram - kHighMemoryBase, kMemoryRam});
    return map;
}

BootArena::BootArena(std::uint64_t ram, std::vector<PhysRange> occupied) : ram_(ram), occupied_(std::move(occupied)) {
    occupied_.push_back({0, kPageSize});  // IVT and BIOS data area
    occupied_.push_back({kEbdaBase, kHighMemoryBase});
}

std::uint64_t BootArena::first_fit(std::uint64_t from, std::uint64_t to, std::uint64_t size, std::uint64_t align,
                                   std::string_view what) {
    if (align == 0) align = 1;
    // An empty module still takes a byte: two of them must not share an address
    // (found by tests/fuzz/boot_fuzz.cpp with PVH and an empty --initrd).
    size = std::max<std::uint64_t>(size, 1);
    std::uint64_t at = (from + align - 1) / align * align;
    // Each pass moves `at` past one range it collides with; ranges are few.
    for (bool moved = true; moved;) {
        moved = false;
        if (at > to || size > to - at) break;
        for (const PhysRange& r : occupied_) {
            if (r.begin < at + size && at < r.end) {
                at = (r.end + align - 1) / align * align;
                moved = true;
                break;
            }
        }
    }
    if (at > to || size > to - at)
        throw ImageError(std::string(what) + ": no room for its " + hex(size) + " bytes in guest RAM (" +
                         std::to_string(ram_ >> 20) + " MiB); give the guest more --memory");
    occupied_.push_back({at, at + size});
    allocations_.push_back({at, at + size});
    return at;
}

std::uint64_t BootArena::allocate_low(std::uint64_t size, std::uint64_t align, std::string_view what) {
    return first_fit(kPageSize, std::min(ram_, kEbdaBase), size, align, what);
}

std::uint64_t BootArena::allocate_high(std::uint64_t size, std::uint64_t align, std::string_view what) {
    std::uint64_t from = kHighMemoryBase;
    for (const PhysRange& r : occupied_)
        if (r.end > kHighMemoryBase) from = std::max(from, r.end);
    return first_fit(from, ram_, size, std::max(align, kPageSize), what);
}

std::uint64_t BootArena::put_string(GuestMemory& mem, std::string_view s, std::string_view what) {
    std::uint64_t at = allocate_low(s.size() + 1, 1, what);
    mem.write(at, std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
    mem.write8(at + s.size(), 0);
    return at;
}

}  // namespace kvmgdb::boot
