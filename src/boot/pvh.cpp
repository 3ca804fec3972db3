#include "boot/pvh.hpp"

#include <cstring>

#include "util/hex.hpp"

namespace kvmgdb::boot {

namespace {

// Little-endian field reads that say "no" instead of reading past the end.
struct Reader {
    std::span<const std::uint8_t> bytes;
    bool has(std::uint64_t at, std::uint64_t len) const { return at <= bytes.size() && len <= bytes.size() - at; }
    std::uint64_t le(std::uint64_t at, unsigned len) const {
        std::uint64_t v = 0;
        for (unsigned i = 0; i < len; ++i) v |= std::uint64_t(bytes[at + i]) << (8 * i);
        return v;
    }
};

std::uint64_t align4(std::uint64_t v) { return (v + 3) & ~std::uint64_t(3); }

// Walks one note segment [at, at+size) for Xen's PHYS32_ENTRY.
std::optional<std::uint64_t> scan_notes(const Reader& r, std::uint64_t at, std::uint64_t size, const std::string& name) {
    const std::uint64_t end = at + size;
    while (at + 12 <= end) {
        const std::uint64_t namesz = r.le(at, 4), descsz = r.le(at + 4, 4), type = r.le(at + 8, 4);
        const std::uint64_t name_at = at + 12, desc_at = name_at + align4(namesz);
        if (namesz > end - name_at || desc_at > end || descsz > end - desc_at) return std::nullopt;  // a torn note ends the walk
        if (namesz == 4 && std::memcmp(r.bytes.data() + name_at, "Xen", 4) == 0 && type == kXenElfnotePhys32Entry) {
            if (descsz != 4 && descsz != 8)
                throw ImageError(name + ": XEN_ELFNOTE_PHYS32_ENTRY has a " + std::to_string(descsz) +
                                 "-byte value, not 4 or 8");
            const std::uint64_t entry = r.le(desc_at, static_cast<unsigned>(descsz));
            if (entry > 0xffffffffu) throw ImageError(name + ": PVH entry " + hex(entry) + " is above 4 GiB");
            return entry;
        }
        at = desc_at + align4(descsz);
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::uint64_t> find_pvh_entry(std::span<const std::uint8_t> file, const std::string& name) {
    const Reader r{file};
    if (!r.has(0, 52) || std::memcmp(file.data(), "\x7f" "ELF", 4) != 0 || file[5] != 1) return std::nullopt;
    const bool elf64 = file[4] == 2;
    if (!elf64 && file[4] != 1) return std::nullopt;
    if (elf64 && !r.has(0, 64)) return std::nullopt;
    const std::uint64_t phoff = elf64 ? r.le(32, 8) : r.le(28, 4);
    const std::uint64_t phentsize = elf64 ? r.le(54, 2) : r.le(42, 2);
    const std::uint64_t phnum = elf64 ? r.le(56, 2) : r.le(44, 2);
    if (phentsize < (elf64 ? 56u : 32u)) return std::nullopt;  // parse_elf reports a bad table
    for (std::uint64_t i = 0; i < phnum; ++i) {
        if (phoff > file.size() || i > (file.size() - phoff) / phentsize) return std::nullopt;
        const std::uint64_t ph = phoff + i * phentsize;
        if (!r.has(ph, phentsize)) return std::nullopt;
        if (r.le(ph, 4) != 4) continue;  // PT_NOTE
        const std::uint64_t off = elf64 ? r.le(ph + 8, 8) : r.le(ph + 4, 4);
        const std::uint64_t size = elf64 ? r.le(ph + 32, 8) : r.le(ph + 16, 4);
        if (!r.has(off, size)) continue;
        if (auto entry = scan_notes(r, off, size, name)) return entry;
    }
    return std::nullopt;
}

PreparedBoot prepare_pvh(std::span<const std::uint8_t> file, const std::string& name, std::uint64_t ram,
                         std::uint64_t entry, const BootRequest& request) {
    PreparedBoot boot;
    boot.protocol = BootProtocol::Pvh;
    boot.image = parse_elf(file, name, ram);
    bool inside = false;
    for (const LoadSegment& s : boot.image.segments) inside = inside || (entry >= s.paddr && entry - s.paddr < s.memsz);
    if (!inside) throw ImageError(name + ": PVH entry " + hex(entry) + " is in no loaded segment (by physical address)");
    boot.image.entry = entry;
    boot.write_info = [request, ram, entry](GuestMemory& mem, BootArena& arena) {
        const std::uint64_t info = arena.allocate_low(kHvmStartInfoSize, 8, "the PVH start info");
        mem.fill(info, kHvmStartInfoSize, 0);
        put<std::uint32_t>(mem, info, 0, kHvmStartMagic);
        put<std::uint32_t>(mem, info, 4, 1);  // version 1: memmap_paddr and memmap_entries are valid
        if (!request.cmdline.empty())
            put<std::uint64_t>(mem, info, 24, arena.put_string(mem, request.cmdline, "the command line"));
        if (!request.modules.empty()) {
            const std::uint64_t n = request.modules.size();
            const std::uint64_t list = arena.allocate_low(n * kHvmModlistEntrySize, 8, "the PVH module list");
            mem.fill(list, n * kHvmModlistEntrySize, 0);
            for (std::uint64_t i = 0; i < n; ++i) {
                const BootModule& m = request.modules[i];
                const std::uint64_t at = arena.allocate_high(m.bytes.size(), kPageSize, m.path);
                mem.write(at, m.bytes);
                const std::uint64_t e = list + i * kHvmModlistEntrySize;
                put<std::uint64_t>(mem, e, 0, at);
                put<std::uint64_t>(mem, e, 8, m.bytes.size());
                if (!m.cmdline.empty()) put<std::uint64_t>(mem, e, 16, arena.put_string(mem, m.cmdline, m.path));
            }
            put<std::uint32_t>(mem, info, 12, static_cast<std::uint32_t>(n));
            put<std::uint64_t>(mem, info, 16, list);
        }
        const std::vector<MemoryMapEntry> map = pc_memory_map(ram);
        const std::uint64_t table = arena.allocate_low(map.size() * kHvmMemmapEntrySize, 8, "the PVH memory map");
        for (std::size_t i = 0; i < map.size(); ++i) {
            const std::uint64_t e = table + i * kHvmMemmapEntrySize;
            put<std::uint64_t>(mem, e, 0, map[i].addr);
            put<std::uint64_t>(mem, e, 8, map[i].size);
            put<std::uint32_t>(mem, e, 16, map[i].type);
            put<std::uint32_t>(mem, e, 20, 0);
        }
        put<std::uint64_t>(mem, info, 40, table);
        put<std::uint32_t>(mem, info, 48, static_cast<std::uint32_t>(map.size()));
        return BootEntry{entry, 0, static_cast<std::uint32_t>(info)};
    };
    return boot;
}

}  // namespace kvmgdb::boot
