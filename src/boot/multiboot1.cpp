#include "boot/multiboot1.hpp"

#include "boot/multiboot_common.hpp"
#include "util/hex.hpp"

namespace kvmgdb::boot {

namespace {
// Header flags (3.1.2 "The magic fields of Multiboot header").
constexpr std::uint32_t MB1_PAGE_ALIGN = 1u << 0;   // modules on page boundaries: always so here
constexpr std::uint32_t MB1_MEMORY_INFO = 1u << 1;  // mem_* and mmap: always given
constexpr std::uint32_t MB1_VIDEO_MODE = 1u << 2;   // accepted, not honoured
constexpr std::uint32_t MB1_AOUT_KLUDGE = 1u << 16; // the address fields are valid
constexpr std::uint32_t MB1_REQUIRED = 0xffff;      // bits 0-15: the loader must honour or refuse
constexpr std::uint32_t MB1_KNOWN = MB1_PAGE_ALIGN | MB1_MEMORY_INFO | MB1_VIDEO_MODE;
constexpr std::uint64_t kMmapEntrySize = 24;        // the size field (20) and the 20 bytes it counts
constexpr std::uint64_t kModuleSize = 16;
}  // namespace

std::optional<Multiboot1Header> find_multiboot1(std::span<const std::uint8_t> file, const std::string&) {
    for (std::uint64_t at = 0; at + 12 <= file.size() && at + 12 <= kMultiboot1Search; at += 4) {
        if (le32(file, at) != kMultiboot1HeaderMagic) continue;
        const std::uint32_t flags = le32(file, at + 4), checksum = le32(file, at + 8);
        if (static_cast<std::uint32_t>(kMultiboot1HeaderMagic + flags + checksum) == 0) return Multiboot1Header{at, flags};
    }
    return std::nullopt;
}

PreparedBoot prepare_multiboot1(std::span<const std::uint8_t> file, const std::string& name, std::uint64_t ram,
                                const Multiboot1Header& header, const BootRequest& request) {
    if (const std::uint32_t unknown = header.flags & MB1_REQUIRED & ~MB1_KNOWN) {
        unsigned bit = 0;
        while (!(unknown & (1u << bit))) ++bit;
        throw ImageError(name + ": its Multiboot header requires feature bit " + std::to_string(bit) +
                         " (flags " + hex(header.flags) + "), which kvmgdb does not provide");
    }
    PreparedBoot boot;
    boot.protocol = BootProtocol::Multiboot1;
    if (header.flags & MB1_AOUT_KLUDGE) {
        // 3.1.3 "The address fields of Multiboot header": offsets 12-28 of the header.
        if (header.offset + 32 > file.size()) throw ImageError(name + ": Multiboot header flag 16 set but the address fields are cut off");
        AddressFields a;
        a.header_offset = header.offset;
        a.header_addr = le32(file, header.offset + 12);
        a.load_addr = le32(file, header.offset + 16);
        a.load_end_addr = le32(file, header.offset + 20);
        a.bss_end_addr = le32(file, header.offset + 24);
        boot.image = image_from_address_fields(file, name, ram, a, "Multiboot");
        boot.image.entry = le32(file, header.offset + 28);
    } else {
        boot.image = multiboot_elf_image(file, name, ram);
    }
    check_entry(boot.image, boot.image.entry, name, "Multiboot");
    const std::uint64_t entry = boot.image.entry;
    // The command line starts with the kernel's file name, as GRUB Legacy's and QEMU's
    // -kernel have it: Multiboot 1 kernels skip the first word (Xen's cmdline_cook
    // does for every loader but GRUB 2), so --cmdline's first option would be lost.
    const std::string cmdline = request.cmdline.empty() ? name : name + " " + request.cmdline;
    boot.write_info = [request, ram, entry, cmdline](GuestMemory& mem, BootArena& arena) {
        const std::uint64_t info = arena.allocate_low(kMultiboot1InfoSize, 8, "the Multiboot info");
        mem.fill(info, kMultiboot1InfoSize, 0);
        const std::uint32_t flags = MB1_INFO_MEMORY | MB1_INFO_CMDLINE | MB1_INFO_MODS | MB1_INFO_MMAP | MB1_INFO_LOADER_NAME;
        const BasicMemory basic = basic_memory(ram);
        put<std::uint32_t>(mem, info, 4, basic.lower_kib);
        put<std::uint32_t>(mem, info, 8, basic.upper_kib);
        put<std::uint32_t>(mem, info, 16, static_cast<std::uint32_t>(arena.put_string(mem, cmdline, "the command line")));
        // Modules first above the image (allocate_high), then their list and strings low.
        const std::vector<PlacedModule> placed = place_modules(mem, arena, request.modules);
        std::uint64_t list = 0;
        if (!placed.empty()) {
            list = arena.allocate_low(placed.size() * kModuleSize, 4, "the Multiboot module list");
            for (std::size_t i = 0; i < placed.size(); ++i) {
                const std::uint64_t e = list + i * kModuleSize;
                put<std::uint32_t>(mem, e, 0, placed[i].start);
                put<std::uint32_t>(mem, e, 4, placed[i].end);
                put<std::uint32_t>(mem, e, 8, arena.put_string(mem, placed[i].module->cmdline, placed[i].module->path));
                put<std::uint32_t>(mem, e, 12, 0);
            }
        }
        put<std::uint32_t>(mem, info, 20, static_cast<std::uint32_t>(placed.size()));
        put<std::uint32_t>(mem, info, 24, static_cast<std::uint32_t>(list));
        // The memory map: entries of a size field (20, not counting itself), then
        // base_addr, length and type; mmap_length counts the bytes of all of them.
        const std::vector<MemoryMapEntry> map = pc_memory_map(ram);
        const std::uint64_t mmap = arena.allocate_low(map.size() * kMmapEntrySize, 4, "the Multiboot memory map");
        for (std::size_t i = 0; i < map.size(); ++i) {
            const std::uint64_t e = mmap + i * kMmapEntrySize;
            put<std::uint32_t>(mem, e, 0, kMmapEntrySize - 4);
            put<std::uint64_t>(mem, e, 4, map[i].addr);
            put<std::uint64_t>(mem, e, 12, map[i].size);
            put<std::uint32_t>(mem, e, 20, map[i].type);
        }
        put<std::uint32_t>(mem, info, 44, static_cast<std::uint32_t>(map.size() * kMmapEntrySize));
        put<std::uint32_t>(mem, info, 48, static_cast<std::uint32_t>(mmap));
        put<std::uint32_t>(mem, info, 64, static_cast<std::uint32_t>(arena.put_string(mem, request.loader_name, "the boot loader name")));
        put<std::uint32_t>(mem, info, 0, flags);
        return BootEntry{entry, kMultiboot1BootMagic, static_cast<std::uint32_t>(info)};
    };
    return boot;
}

}  // namespace kvmgdb::boot
