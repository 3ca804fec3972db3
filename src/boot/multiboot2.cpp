#include "boot/multiboot2.hpp"

#include <algorithm>
#include <optional>
#include <vector>

#include "boot/multiboot_common.hpp"
#include "util/hex.hpp"

namespace kvmgdb::boot {

namespace {
// Header tag types (3.1.3-3.1.12).
constexpr std::uint16_t HDR_END = 0, HDR_INFO_REQUEST = 1, HDR_ADDRESS = 2, HDR_ENTRY = 3, HDR_CONSOLE = 4,
                        HDR_FRAMEBUFFER = 5, HDR_MODULE_ALIGN = 6, HDR_EFI_BS = 7, HDR_ENTRY_EFI32 = 8,
                        HDR_ENTRY_EFI64 = 9, HDR_RELOCATABLE = 10;
constexpr std::uint16_t HDR_OPTIONAL = 1;  // the tag's flags bit 0
constexpr std::uint64_t kFixedSize = 16;   // magic, architecture, header_length, checksum
constexpr std::uint64_t kMmapEntrySize = 24;

std::uint64_t align8(std::uint64_t v) { return (v + 7) & ~std::uint64_t(7); }

bool provided(std::uint32_t info_type) {
    return info_type == MB2_TAG_END || info_type == MB2_TAG_CMDLINE || info_type == MB2_TAG_LOADER_NAME ||
           info_type == MB2_TAG_MODULE || info_type == MB2_TAG_BASIC_MEMINFO || info_type == MB2_TAG_MMAP;
}

// Appends tags to the boot information, 8-aligned, and closes it with the end tag.
class InfoWriter {
public:
    InfoWriter(GuestMemory& mem, std::uint64_t base, std::uint64_t capacity) : mem_(mem), base_(base), cap_(capacity) {}
    // A tag of `size` bytes (header included); returns its address.
    std::uint64_t tag(std::uint32_t type, std::uint64_t size) {
        const std::uint64_t at = base_ + used_;
        if (used_ + align8(size) > cap_) throw ImageError("Multiboot 2 boot information overflows its allocation");
        mem_.fill(at, align8(size), 0);
        put<std::uint32_t>(mem_, at, 0, type);
        put<std::uint32_t>(mem_, at, 4, static_cast<std::uint32_t>(size));
        used_ += align8(size);
        return at;
    }
    void string_tag(std::uint32_t type, const std::string& s) {
        const std::uint64_t at = tag(type, 8 + s.size() + 1);
        mem_.write(at + 8, {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
    }
    std::uint64_t finish() {
        tag(MB2_TAG_END, 8);
        put<std::uint32_t>(mem_, base_, 0, static_cast<std::uint32_t>(used_));
        put<std::uint32_t>(mem_, base_, 4, 0);
        return base_;
    }

private:
    GuestMemory& mem_;
    std::uint64_t base_, cap_;
    std::uint64_t used_ = 8;  // total_size and reserved
};
}  // namespace

std::optional<Multiboot2Header> find_multiboot2(std::span<const std::uint8_t> file, const std::string&) {
    for (std::uint64_t at = 0; at + kFixedSize <= file.size() && at + kFixedSize <= kMultiboot2Search; at += 8) {
        if (le32(file, at) != kMultiboot2HeaderMagic) continue;
        const std::uint32_t arch = le32(file, at + 4), length = le32(file, at + 8), checksum = le32(file, at + 12);
        if (static_cast<std::uint32_t>(kMultiboot2HeaderMagic + arch + length + checksum) == 0)
            return Multiboot2Header{at, arch, length};
    }
    return std::nullopt;
}

PreparedBoot prepare_multiboot2(std::span<const std::uint8_t> file, const std::string& name, std::uint64_t ram,
                                const Multiboot2Header& header, const BootRequest& request) {
    auto bad = [&](const std::string& what) { return ImageError(name + ": Multiboot 2 header: " + what); };
    if (header.architecture != 0)
        throw bad("architecture " + std::to_string(header.architecture) + " (" +
                  (header.architecture == 4 ? "MIPS" : "unknown") + "), not 0 (i386)");
    if (header.header_length < kFixedSize + 8 || header.header_length > file.size() - header.offset)
        throw bad("header_length " + std::to_string(header.header_length) + " does not fit the file");
    const std::uint64_t end = header.offset + header.header_length;
    std::optional<AddressFields> address;
    std::optional<std::uint32_t> entry_tag;
    bool ended = false;
    for (std::uint64_t at = header.offset + kFixedSize; at + 8 <= end; ) {
        const std::uint16_t type = static_cast<std::uint16_t>(file[at] | file[at + 1] << 8);
        const std::uint16_t flags = static_cast<std::uint16_t>(file[at + 2] | file[at + 3] << 8);
        const std::uint32_t size = le32(file, at + 4);
        if (size < 8 || size > end - at) throw bad("tag type " + std::to_string(type) + " at offset " + hex(at) + " has size " + std::to_string(size));
        const bool optional = flags & HDR_OPTIONAL;
        auto need = [&](std::uint32_t bytes) {
            if (size < bytes) throw bad("tag type " + std::to_string(type) + " is " + std::to_string(size) + " bytes, not " + std::to_string(bytes));
        };
        auto refuse = [&](const char* what) {
            if (!optional) throw bad(std::string("requires ") + what + ", which kvmgdb does not provide");
        };
        if (type == HDR_END) {
            ended = true;
            break;
        }
        switch (type) {
        case HDR_INFO_REQUEST:
            for (std::uint64_t r = at + 8; r + 4 <= at + size; r += 4) {
                const std::uint32_t wanted = le32(file, r);
                if (!provided(wanted) && !optional)
                    throw bad("its information request asks for tag type " + std::to_string(wanted) +
                              ", which kvmgdb does not provide (it gives 1, 2, 3, 4 and 6)");
            }
            break;
        case HDR_ADDRESS: {
            need(24);
            AddressFields a;
            a.header_offset = header.offset;
            a.header_addr = le32(file, at + 8);
            a.load_addr = le32(file, at + 12);
            a.load_end_addr = le32(file, at + 16);
            a.bss_end_addr = le32(file, at + 20);
            // 3.1.5: load_addr -1 means the text segment starts at the file's start.
            if (a.load_addr == 0xffffffffu) {
                if (a.header_addr < header.offset) throw bad("header_addr " + hex(a.header_addr) + " is below its file offset");
                a.load_addr = static_cast<std::uint32_t>(a.header_addr - header.offset);
            }
            address = a;
            break;
        }
        case HDR_ENTRY: need(12); entry_tag = le32(file, at + 8); break;
        case HDR_CONSOLE: break;        // kvmgdb's console is COM1, text only: any flags do
        case HDR_MODULE_ALIGN: break;   // modules are page-aligned anyway
        case HDR_RELOCATABLE: break;    // loaded where linked, which its range allows
        case HDR_FRAMEBUFFER: refuse("a framebuffer"); break;
        case HDR_EFI_BS: refuse("EFI boot services"); break;
        case HDR_ENTRY_EFI32:
        case HDR_ENTRY_EFI64: refuse("an EFI entry"); break;
        default:
            if (!optional) throw bad("unknown required tag type " + std::to_string(type));
        }
        at += align8(size);
    }
    if (!ended) throw bad("its tags do not end with an end tag within header_length");

    PreparedBoot boot;
    boot.protocol = BootProtocol::Multiboot2;
    if (address) {
        boot.image = image_from_address_fields(file, name, ram, *address, "Multiboot 2");
        if (!entry_tag) throw bad("an address tag needs an entry address tag");
    } else {
        boot.image = multiboot_elf_image(file, name, ram);
    }
    if (entry_tag) boot.image.entry = *entry_tag;
    check_entry(boot.image, boot.image.entry, name, "Multiboot 2");
    const std::uint64_t entry = boot.image.entry;
    boot.write_info = [request, ram, entry](GuestMemory& mem, BootArena& arena) {
        const std::vector<MemoryMapEntry> map = pc_memory_map(ram);
        std::uint64_t capacity = 8 + align8(8 + request.cmdline.size() + 1) + align8(8 + request.loader_name.size() + 1) +
                                 16 + align8(16 + map.size() * kMmapEntrySize) + 8;
        for (const BootModule& m : request.modules) capacity += align8(16 + m.cmdline.size() + 1);
        const std::vector<PlacedModule> placed = place_modules(mem, arena, request.modules);
        InfoWriter w(mem, arena.allocate_low(capacity, 8, "the Multiboot 2 boot information"), capacity);
        w.string_tag(MB2_TAG_CMDLINE, request.cmdline);
        w.string_tag(MB2_TAG_LOADER_NAME, request.loader_name);
        for (const PlacedModule& p : placed) {
            const std::uint64_t t = w.tag(MB2_TAG_MODULE, 16 + p.module->cmdline.size() + 1);
            put<std::uint32_t>(mem, t, 8, p.start);
            put<std::uint32_t>(mem, t, 12, p.end);
            mem.write(t + 16, {reinterpret_cast<const std::uint8_t*>(p.module->cmdline.data()), p.module->cmdline.size()});
        }
        const BasicMemory basic = basic_memory(ram);
        const std::uint64_t m = w.tag(MB2_TAG_BASIC_MEMINFO, 16);
        put<std::uint32_t>(mem, m, 8, basic.lower_kib);
        put<std::uint32_t>(mem, m, 12, basic.upper_kib);
        const std::uint64_t t = w.tag(MB2_TAG_MMAP, 16 + map.size() * kMmapEntrySize);
        put<std::uint32_t>(mem, t, 8, kMmapEntrySize);
        put<std::uint32_t>(mem, t, 12, 0);  // entry_version
        for (std::size_t i = 0; i < map.size(); ++i) {
            const std::uint64_t e = t + 16 + i * kMmapEntrySize;
            put<std::uint64_t>(mem, e, 0, map[i].addr);
            put<std::uint64_t>(mem, e, 8, map[i].size);
            put<std::uint32_t>(mem, e, 16, map[i].type);
            put<std::uint32_t>(mem, e, 20, 0);
        }
        return BootEntry{entry, kMultiboot2BootMagic, static_cast<std::uint32_t>(w.finish())};
    };
    return boot;
}

}  // namespace kvmgdb::boot
