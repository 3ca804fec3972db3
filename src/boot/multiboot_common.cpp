#include "boot/multiboot_common.hpp"

#include <algorithm>

#include "util/hex.hpp"

namespace kvmgdb::boot {

std::uint32_t le32(std::span<const std::uint8_t> file, std::uint64_t at) {
    return static_cast<std::uint32_t>(file[at]) | static_cast<std::uint32_t>(file[at + 1]) << 8 |
           static_cast<std::uint32_t>(file[at + 2]) << 16 | static_cast<std::uint32_t>(file[at + 3]) << 24;
}

GuestImage image_from_address_fields(std::span<const std::uint8_t> file, const std::string& name,
                                     std::uint64_t ram, const AddressFields& a, const char* protocol) {
    auto bad = [&](const std::string& what) { return ImageError(name + ": " + protocol + " address fields: " + what); };
    // Multiboot 0.6.96, 3.1.3: the file offset of load_addr is the header's offset
    // minus (header_addr - load_addr).
    if (a.header_addr < a.load_addr) throw bad("header_addr " + hex(a.header_addr) + " is below load_addr " + hex(a.load_addr));
    const std::uint64_t before_header = a.header_addr - a.load_addr;
    if (before_header > a.header_offset)
        throw bad("load_addr " + hex(a.load_addr) + " would start " + hex(before_header - a.header_offset) +
                  " bytes before the file");
    const std::uint64_t offset = a.header_offset - before_header;
    std::uint64_t filesz = file.size() - offset;
    if (a.load_end_addr != 0) {
        if (a.load_end_addr < a.header_addr) throw bad("load_end_addr " + hex(a.load_end_addr) + " is below header_addr");
        filesz = a.load_end_addr - a.load_addr;
        if (filesz > file.size() - offset)
            throw bad("load_end_addr " + hex(a.load_end_addr) + " is past the end of the file");
    }
    std::uint64_t memsz = filesz;
    if (a.bss_end_addr != 0) {
        if (a.bss_end_addr < a.load_addr + filesz)
            throw bad("bss_end_addr " + hex(a.bss_end_addr) + " is below the loaded end " + hex(a.load_addr + filesz));
        memsz = a.bss_end_addr - a.load_addr;
    }
    if (memsz == 0) throw bad("nothing to load");
    if (a.load_addr > ram || memsz > ram - a.load_addr)
        throw bad("[" + hex(a.load_addr) + ", +" + hex(memsz) + ") lies outside guest RAM (" +
                  std::to_string(ram >> 20) + " MiB)");
    GuestImage image;
    image.name = name;
    image.image_class = ImageClass::Raw;
    LoadSegment s;
    s.paddr = s.vaddr = a.load_addr;
    s.offset = offset;
    s.filesz = filesz;
    s.memsz = memsz;
    s.flags = 7;  // PF_R | PF_W | PF_X: the kludge says nothing of permissions
    image.segments.push_back(s);
    return image;
}

GuestImage multiboot_elf_image(std::span<const std::uint8_t> file, const std::string& name, std::uint64_t ram) {
    GuestImage image = parse_elf(file, name, ram);
    // GRUB's multiboot ELF loader: an e_entry inside a segment's [p_vaddr, +p_memsz)
    // is relocated to p_paddr, so a kernel linked high (vaddr != paddr) starts at the
    // physical copy of its entry; an entry in no virtual range is physical already.
    for (const LoadSegment& s : image.segments) {
        if (image.entry >= s.vaddr && image.entry - s.vaddr < s.memsz) {
            image.entry = image.entry - s.vaddr + s.paddr;
            break;
        }
    }
    return image;
}

void check_entry(const GuestImage& image, std::uint64_t entry, const std::string& name, const char* protocol) {
    for (const LoadSegment& s : image.segments)
        if (entry >= s.paddr && entry - s.paddr < s.memsz) return;
    throw ImageError(name + ": " + protocol + " entry " + hex(entry) + " is in no loaded segment");
}

BasicMemory basic_memory(std::uint64_t ram) {
    BasicMemory m;
    for (const MemoryMapEntry& e : pc_memory_map(ram)) {
        if (e.type != kMemoryRam) continue;
        if (e.addr == 0) m.lower_kib = static_cast<std::uint32_t>(e.size / 1024);
        if (e.addr == kHighMemoryBase) m.upper_kib = static_cast<std::uint32_t>(std::min<std::uint64_t>(e.size / 1024, 0xffffffffu));
    }
    return m;
}

std::vector<PlacedModule> place_modules(GuestMemory& mem, BootArena& arena, const std::vector<BootModule>& modules) {
    std::vector<PlacedModule> placed;
    for (const BootModule& m : modules) {
        // An empty module still gets an address of its own (BootArena allocates a byte).
        const std::uint64_t at = arena.allocate_high(m.bytes.size(), kPageSize, m.path);
        if (!m.bytes.empty()) mem.write(at, m.bytes);
        placed.push_back({at, at + m.bytes.size(), &m});
    }
    return placed;
}

}  // namespace kvmgdb::boot
