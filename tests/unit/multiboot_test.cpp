// Multiboot 1 and 2 (src/boot/multiboot1, multiboot2, multiboot_common) and
// prepare_boot's protocol choice, against byte-exact hand-built images: an ELF32
// (or ELF64) with one PT_LOAD and a header placed in its first KiB, or raw bytes
// for the address fields (the a.out kludge). write_info runs on a 64 MiB GuestMemory
// and every field of the info it writes is read back.
#include <elf.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "boot/boot_layout.hpp"
#include "boot_test_images.hpp"
#include "boot/boot_protocol.hpp"
#include "boot/multiboot1.hpp"
#include "boot/multiboot2.hpp"
#include "boot/pvh.hpp"
#include "loader/elf_loader.hpp"
#include "mem/guest_memory.hpp"

namespace kvmgdb::boot {
namespace {

constexpr std::uint64_t kRam = 64ull << 20;  // 64 MiB
constexpr std::uint32_t kMb1Magic = 0x1BADB002;
constexpr std::uint32_t kMb2Magic = 0xE85250D6;
const std::string kName = "guest.elf";

using namespace test_images;

// A Multiboot 1 header: magic, flags, checksum, then (flag 16) header_addr,
// load_addr, load_end_addr, bss_end_addr, entry_addr.
struct AoutFields {
    std::uint32_t header_addr = 0, load_addr = 0, load_end_addr = 0, bss_end_addr = 0, entry_addr = 0;
};
Bytes mb1_header(std::uint32_t flags, std::optional<AoutFields> a = std::nullopt,
                 std::optional<std::uint32_t> checksum = std::nullopt) {
    Bytes h;
    append32(h, kMb1Magic);
    append32(h, flags);
    append32(h, checksum.value_or(0u - kMb1Magic - flags));
    if (a) {
        append32(h, a->header_addr);
        append32(h, a->load_addr);
        append32(h, a->load_end_addr);
        append32(h, a->bss_end_addr);
        append32(h, a->entry_addr);
    }
    return h;
}

// A Multiboot 2 header tag: type, flags (bit 0: optional), size (8 + payload
// unless overridden), payload; the builder pads each tag to 8 bytes.
struct Tag {
    std::uint16_t type = 0;
    std::uint16_t flags = 0;
    Bytes payload;
    std::optional<std::uint32_t> size;
};
Tag words_tag(std::uint16_t type, std::uint16_t flags, std::vector<std::uint32_t> words) {
    Tag t{type, flags, {}, std::nullopt};
    for (std::uint32_t w : words) append32(t.payload, w);
    return t;
}
constexpr std::uint16_t kOptional = 1;

Bytes mb2_header(const std::vector<Tag>& tags, std::uint32_t arch = 0, bool end_tag = true,
                 bool good_checksum = true) {
    Bytes body;
    auto add = [&](const Tag& t) {
        const std::size_t at = body.size();
        body.resize(at + align8(8 + t.payload.size()), 0);
        poke16(body, at, t.type);
        poke16(body, at + 2, t.flags);
        poke32(body, at + 4, t.size.value_or(static_cast<std::uint32_t>(8 + t.payload.size())));
        std::copy(t.payload.begin(), t.payload.end(), body.begin() + static_cast<std::ptrdiff_t>(at + 8));
    };
    for (const Tag& t : tags) add(t);
    if (end_tag) add(Tag{0, 0, {}, std::nullopt});
    const std::uint32_t length = static_cast<std::uint32_t>(16 + body.size());
    Bytes h;
    append32(h, kMb2Magic);
    append32(h, arch);
    append32(h, length);
    append32(h, (good_checksum ? 0u : 1u) - kMb2Magic - arch - length);
    h.insert(h.end(), body.begin(), body.end());
    return h;
}

// ---------------------------------------------------------------------------
// Reading back.

std::string read_cstring(const GuestMemory& mem, std::uint64_t at) {
    std::string s;
    for (std::uint64_t i = 0; i < 4096; ++i) {
        const std::uint8_t c = mem.read8(at + i);
        if (c == 0) return s;
        s.push_back(static_cast<char>(c));
    }
    ADD_FAILURE() << "no NUL within 4 KiB of " << at;
    return s;
}

Bytes read_bytes(const GuestMemory& mem, std::uint64_t at, std::uint64_t len) {
    Bytes b(len);
    mem.read(at, b);
    return b;
}

std::vector<PhysRange> image_ranges(const GuestImage& image) {
    std::vector<PhysRange> r;
    for (const LoadSegment& s : image.segments) r.push_back({s.paddr, s.paddr + s.memsz});
    return r;
}

bool overlaps(const PhysRange& a, const PhysRange& b) { return a.begin < b.end && b.begin < a.end; }

// Loads the prepared image into a fresh 64 MiB guest and writes its info.
struct Booted {
    GuestMemory mem{kRam};
    PreparedBoot boot;
    BootEntry entry;
    std::vector<PhysRange> allocations;
};
void boot_it(Booted& b, const Bytes& file, PreparedBoot boot) {
    b.boot = std::move(boot);
    load_image(b.boot.image, file, b.mem);
    BootArena arena(kRam, image_ranges(b.boot.image));
    b.entry = b.boot.write_info(b.mem, arena);
    b.allocations = arena.allocations();
}

Bytes module_bytes(std::size_t n, std::uint8_t seed) {
    Bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 13);
    return b;
}

BootRequest request_with_modules() {
    BootRequest r;
    r.cmdline = "console=ttyS0 loglevel=7";
    r.modules = {
        BootModule{"initrd.img", module_bytes(5000, 1), "initrd.img root=/dev/ram0"},
        BootModule{"b.bin", module_bytes(3, 0x80), "second module"},
        BootModule{"c.bin", module_bytes(4096, 0x40), "third"},
    };
    return r;
}

// What pc_memory_map(64 MiB) says, spelled out so the expectation does not just
// restate the code under test.
const std::vector<MemoryMapEntry> kExpectedMap = {
    {0x0, 0x9fc00, 1},
    {0x9fc00, 0x400, 2},
    {0xf0000, 0x10000, 2},
    {0x100000, kRam - 0x100000, 1},
};

template <typename F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const ImageError& e) {
        return e.what();
    }
    return "<no ImageError>";
}

TEST(MultibootMemoryMap, SixtyFourMibGuestHasFourEntries) { EXPECT_EQ(pc_memory_map(kRam), kExpectedMap); }

// ---------------------------------------------------------------------------
// Multiboot 1: finding the header.

struct Mb1FindCase {
    const char* what;
    std::size_t offset;
    bool good_checksum;
    std::optional<std::uint64_t> found;
};

TEST(Multiboot1Find, OnlyValidChecksumAt4AlignedOffsetInFirst8KiB) {
    const Mb1FindCase cases[] = {
        {"at offset 0", 0, true, 0},
        {"at 0x400", 0x400, true, 0x400},
        {"last slot whose 12 bytes fit in 8 KiB", 0x1ff4, true, 0x1ff4},
        {"straddling the 8 KiB limit", 0x1ff8, true, std::nullopt},
        {"just past 8 KiB", 0x2000, true, std::nullopt},
        {"2-aligned, not 4-aligned", 0x102, true, std::nullopt},
        {"1 byte off", 0x101, true, std::nullopt},
        {"bad checksum", 0x100, false, std::nullopt},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        Bytes f(0x3000, 0);
        place(f, c.offset, mb1_header(0x3, std::nullopt, c.good_checksum ? std::nullopt : std::optional<std::uint32_t>(0)));
        const auto h = find_multiboot1(f, kName);
        ASSERT_EQ(h.has_value(), c.found.has_value());
        if (h) {
            EXPECT_EQ(h->offset, *c.found);
            EXPECT_EQ(h->flags, 0x3u);
        }
    }
}

TEST(Multiboot1Find, SkipsBadChecksumAndTakesNextValidHeader) {
    Bytes f(0x1000, 0);
    place(f, 0x10, mb1_header(0x1, std::nullopt, 0x12345678));
    place(f, 0x40, mb1_header(0x2));
    const auto h = find_multiboot1(f, kName);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->offset, 0x40u);
    EXPECT_EQ(h->flags, 0x2u);
}

TEST(Multiboot1Find, FileShorterThanHeaderHasNone) {
    Bytes f = mb1_header(0);
    f.resize(11);
    EXPECT_FALSE(find_multiboot1(f, kName));
    EXPECT_FALSE(find_multiboot1(Bytes{}, kName));
}

// ---------------------------------------------------------------------------
// Multiboot 1: flags.

Bytes mb1_elf(std::uint32_t flags) {
    ElfSpec s;
    s.entry = 0x100040;
    s.placed = {{0x100, mb1_header(flags)}};
    return build_elf(s);
}

PreparedBoot prepare_mb1(const Bytes& f, const BootRequest& r = {}) {
    const auto h = find_multiboot1(f, kName);
    if (!h) throw std::logic_error("test image has no Multiboot 1 header");
    return prepare_multiboot1(f, kName, kRam, *h, r);
}

TEST(Multiboot1Flags, Bits0To2AndOptionalHighBitsAreAccepted) {
    for (std::uint32_t flags : {0x0u, 0x1u, 0x2u, 0x4u, 0x7u, 0x20000u, 0x80000003u}) {
        SCOPED_TRACE(flags);
        const Bytes f = mb1_elf(flags);
        const PreparedBoot b = prepare_mb1(f);
        EXPECT_EQ(b.protocol, BootProtocol::Multiboot1);
        EXPECT_EQ(b.image.entry, 0x100040u);
        EXPECT_TRUE(b.write_info);
    }
}

TEST(Multiboot1Flags, EachRequiredBit3To15IsAnImageErrorNamingTheBit) {
    for (unsigned bit = 3; bit <= 15; ++bit) {
        SCOPED_TRACE(bit);
        const Bytes f = mb1_elf((1u << bit) | 0x3);
        const std::string msg = error_of([&] { prepare_mb1(f); });
        EXPECT_EQ(msg.rfind(kName + ": ", 0), 0u) << msg;
        EXPECT_NE(msg.find("feature bit " + std::to_string(bit) + " ("), std::string::npos) << msg;
    }
}

TEST(Multiboot1Flags, SeveralUnknownBitsNameTheLowest) {
    const Bytes f = mb1_elf((1u << 12) | (1u << 5) | 0x1);
    const std::string msg = error_of([&] { prepare_mb1(f); });
    EXPECT_NE(msg.find("feature bit 5 ("), std::string::npos) << msg;
    EXPECT_NE(msg.find("0x1021"), std::string::npos) << msg;
}

// ---------------------------------------------------------------------------
// Multiboot 1: the ELF entry.

TEST(Multiboot1Elf, HighLinkedEntryIsTranslatedFromVaddrToPaddr) {
    ElfSpec s;
    s.vaddr = 0xC0100000;
    s.paddr = 0x100000;
    s.entry = 0xC0100040;
    s.placed = {{0x100, mb1_header(0x3)}};
    const Bytes f = build_elf(s);
    const PreparedBoot b = prepare_mb1(f);
    EXPECT_EQ(b.image.image_class, ImageClass::Elf32);
    EXPECT_EQ(b.image.entry, 0x100040u);
    ASSERT_EQ(b.image.segments.size(), 1u);
    EXPECT_EQ(b.image.segments[0].paddr, 0x100000u);
    EXPECT_EQ(b.image.segments[0].vaddr, 0xC0100000u);
}

TEST(Multiboot1Elf, PhysicalEntryOfHighLinkedElfIsKept) {
    ElfSpec s;
    s.vaddr = 0xC0100000;
    s.paddr = 0x100000;
    s.entry = 0x100080;  // in no virtual range: already physical
    s.placed = {{0x100, mb1_header(0x3)}};
    const Bytes f = build_elf(s);
    EXPECT_EQ(prepare_mb1(f).image.entry, 0x100080u);
}

TEST(Multiboot1Elf, Elf64ImageLoadsByPhysicalAddress) {
    ElfSpec s;
    s.is64 = true;
    s.vaddr = 0xFFFFFFFF80100000ull;
    s.paddr = 0x200000;
    s.entry = 0xFFFFFFFF80100010ull;
    s.placed = {{0x100, mb1_header(0x3)}};
    const Bytes f = build_elf(s);
    const PreparedBoot b = prepare_mb1(f);
    EXPECT_EQ(b.image.image_class, ImageClass::Elf64);
    EXPECT_EQ(b.image.entry, 0x200010u);
}

// ---------------------------------------------------------------------------
// Multiboot 1: the address fields (a.out kludge, flag 16).

constexpr std::uint32_t kAout = 1u << 16;

struct KludgeCase {
    const char* what;
    std::size_t header_offset;
    AoutFields a;
    std::uint64_t offset, filesz, memsz;
};

TEST(Multiboot1AoutKludge, BuildsOneSegmentFromTheAddressFields) {
    const KludgeCase cases[] = {
        {"load_end 0 loads to the file's end, bss_end extends it", 0x40,
         {0x100040, 0x100000, 0, 0x105000, 0x100080}, 0, 0x3000, 0x5000},
        {"load_addr after the file's start", 0x1040,
         {0x200040, 0x200000, 0x201000, 0, 0x200800}, 0x1000, 0x1000, 0x1000},
        {"bss_end equal to load_end adds nothing", 0x40,
         {0x300040, 0x300000, 0x300800, 0x300800, 0x300040}, 0, 0x800, 0x800},
        {"header at load_addr itself", 0x200,
         {0x400000, 0x400000, 0, 0, 0x400000}, 0x200, 0x2e00, 0x2e00},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        Bytes f = raw_file(0x3000);
        place(f, c.header_offset, mb1_header(kAout | 0x2, c.a));
        const PreparedBoot b = prepare_mb1(f);
        EXPECT_EQ(b.protocol, BootProtocol::Multiboot1);
        EXPECT_EQ(b.image.image_class, ImageClass::Raw);
        EXPECT_EQ(b.image.entry, c.a.entry_addr);
        ASSERT_EQ(b.image.segments.size(), 1u);
        const LoadSegment& s = b.image.segments[0];
        EXPECT_EQ(s.paddr, c.a.load_addr);
        EXPECT_EQ(s.vaddr, c.a.load_addr);
        EXPECT_EQ(s.offset, c.offset);
        EXPECT_EQ(s.filesz, c.filesz);
        EXPECT_EQ(s.memsz, c.memsz);
    }
}

TEST(Multiboot1AoutKludge, TakesPrecedenceOverElfProgramHeaders) {
    ElfSpec s;
    s.entry = 0x100000;
    s.placed = {{0x100, mb1_header(kAout, AoutFields{0x500100, 0x500000, 0, 0, 0x500010})}};
    const Bytes f = build_elf(s);
    const PreparedBoot b = prepare_mb1(f);
    EXPECT_EQ(b.image.image_class, ImageClass::Raw);
    ASSERT_EQ(b.image.segments.size(), 1u);
    EXPECT_EQ(b.image.segments[0].paddr, 0x500000u);
    EXPECT_EQ(b.image.entry, 0x500010u);
}

TEST(Multiboot1AoutKludge, LoadedBytesMatchTheFileAndBssIsZeroed) {
    Bytes f = raw_file(0x3000);
    place(f, 0x40, mb1_header(kAout, AoutFields{0x100040, 0x100000, 0x102000, 0x104000, 0x100040}));
    Booted b;
    boot_it(b, f, prepare_mb1(f));
    EXPECT_EQ(read_bytes(b.mem, 0x100000, 0x2000), Bytes(f.begin(), f.begin() + 0x2000));
    EXPECT_EQ(read_bytes(b.mem, 0x102000, 0x2000), Bytes(0x2000, 0));
}

struct BadKludgeCase {
    const char* what;
    std::size_t header_offset;
    AoutFields a;
    const char* message;
};

TEST(Multiboot1AoutKludge, BadAddressFieldsAreImageErrors) {
    const BadKludgeCase cases[] = {
        {"header_addr below load_addr", 0x40, {0x100000, 0x100040, 0, 0, 0x100040},
         "header_addr 0x100000 is below load_addr 0x100040"},
        {"load_addr before the file's start", 0x40, {0x100100, 0x100000, 0, 0, 0x100100},
         "load_addr 0x100000 would start 0xc0 bytes before the file"},
        {"load_end one byte past the file", 0x40, {0x100040, 0x100000, 0x103001, 0, 0x100040},
         "load_end_addr 0x103001 is past the end of the file"},
        {"load_end below header_addr", 0x40, {0x100040, 0x100000, 0x100020, 0, 0x100000},
         "load_end_addr 0x100020 is below header_addr"},
        {"bss_end below the loaded end", 0x40, {0x100040, 0x100000, 0x101000, 0x100800, 0x100040},
         "bss_end_addr 0x100800 is below the loaded end 0x101000"},
        {"image crossing the end of RAM", 0x40, {0x3fff040, 0x3fff000, 0, 0, 0x3fff040},
         "lies outside guest RAM (64 MiB)"},
        {"bss crossing the end of RAM", 0x40, {0x100040, 0x100000, 0, 0x4000001, 0x100040},
         "lies outside guest RAM"},
        {"load_addr above RAM", 0x40, {0x8000040, 0x8000000, 0, 0, 0x8000040}, "lies outside guest RAM"},
        {"entry_addr outside the segment", 0x40, {0x100040, 0x100000, 0, 0, 0x50},
         "Multiboot entry 0x50 is in no loaded segment"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        Bytes f = raw_file(0x3000);
        place(f, c.header_offset, mb1_header(kAout, c.a));
        const std::string msg = error_of([&] { prepare_mb1(f); });
        EXPECT_EQ(msg.rfind(kName + ": ", 0), 0u) << msg;
        EXPECT_NE(msg.find(c.message), std::string::npos) << msg;
    }
}

TEST(Multiboot1AoutKludge, AddressFieldsCutOffByTheFileEndAreAnImageError) {
    Bytes f = raw_file(0x60);
    place(f, 0x50, mb1_header(kAout));  // 12 bytes of header, no room for the 20 more
    f.resize(0x60);
    const std::string msg = error_of([&] { prepare_mb1(f); });
    EXPECT_NE(msg.find("address fields are cut off"), std::string::npos) << msg;
}

// ---------------------------------------------------------------------------
// Multiboot 1: the info block.

struct Mb1Info {
    std::uint32_t flags, mem_lower, mem_upper, cmdline, mods_count, mods_addr, mmap_length, mmap_addr, loader_name;
};
Mb1Info read_mb1_info(const GuestMemory& m, std::uint64_t info) {
    return {m.read32(info + 0),  m.read32(info + 4),  m.read32(info + 8),
            m.read32(info + 16), m.read32(info + 20), m.read32(info + 24),
            m.read32(info + 44), m.read32(info + 48), m.read32(info + 64)};
}

Bytes mb1_kernel() {
    ElfSpec s;
    s.entry = 0x100040;
    s.size = 0x2000;
    s.bss = 0x1000;  // image occupies [1 MiB, 1 MiB + 12 KiB)
    s.placed = {{0x100, mb1_header(0x3)}};
    return build_elf(s);
}

TEST(Multiboot1Info, RegistersFlagsAndBasicMemory) {
    const Bytes f = mb1_kernel();
    const BootRequest r = request_with_modules();
    Booted b;
    boot_it(b, f, prepare_mb1(f, r));
    EXPECT_EQ(b.entry.eax, 0x2BADB002u);
    EXPECT_EQ(b.entry.entry, 0x100040u);
    const std::uint64_t info = b.entry.ebx;
    EXPECT_GE(info, 0x1000u);
    EXPECT_LE(info + 116, 0x9fc00u);
    EXPECT_EQ(info % 4, 0u);
    const Mb1Info mi = read_mb1_info(b.mem, info);
    // Bits 0 (mem_*), 2 (cmdline), 3 (mods), 6 (mmap), 9 (boot_loader_name).
    EXPECT_EQ(mi.flags, (1u << 0) | (1u << 2) | (1u << 3) | (1u << 6) | (1u << 9));
    EXPECT_EQ(mi.flags, 0x24Du);
    EXPECT_EQ(mi.mem_lower, 639u);
    EXPECT_EQ(mi.mem_upper, (kRam - (1u << 20)) / 1024);
    EXPECT_EQ(mi.mem_upper, 64512u);
    // Fields kvmgdb does not set stay zero: boot_device, syms, drives, config, apm, vbe.
    EXPECT_EQ(b.mem.read32(info + 12), 0u);
    for (std::uint64_t off = 28; off < 44; off += 4) EXPECT_EQ(b.mem.read32(info + off), 0u) << off;
    for (std::uint64_t off = 52; off < 64; off += 4) EXPECT_EQ(b.mem.read32(info + off), 0u) << off;
    for (std::uint64_t off = 68; off < 116; off += 4) EXPECT_EQ(b.mem.read32(info + off), 0u) << off;
    EXPECT_EQ(read_cstring(b.mem, mi.loader_name), "kvmgdb");
}

TEST(Multiboot1Info, CmdlineIsFileNameThenCmdline) {
    const Bytes f = mb1_kernel();
    BootRequest r;
    r.cmdline = "console=ttyS0 quiet";
    Booted b;
    boot_it(b, f, prepare_mb1(f, r));
    EXPECT_EQ(read_cstring(b.mem, read_mb1_info(b.mem, b.entry.ebx).cmdline), "guest.elf console=ttyS0 quiet");
}

TEST(Multiboot1Info, EmptyCmdlineIsJustTheFileName) {
    const Bytes f = mb1_kernel();
    Booted b;
    boot_it(b, f, prepare_mb1(f, BootRequest{}));
    const Mb1Info mi = read_mb1_info(b.mem, b.entry.ebx);
    EXPECT_EQ(read_cstring(b.mem, mi.cmdline), "guest.elf");
    EXPECT_EQ(mi.mods_count, 0u);
    EXPECT_EQ(mi.mods_addr, 0u);
    EXPECT_EQ(mi.flags, 0x24Du);  // mods_count valid (0) all the same
}

TEST(Multiboot1Info, ModulesArePageAlignedAboveTheImageInOrder) {
    const Bytes f = mb1_kernel();
    const BootRequest r = request_with_modules();
    Booted b;
    boot_it(b, f, prepare_mb1(f, r));
    const Mb1Info mi = read_mb1_info(b.mem, b.entry.ebx);
    ASSERT_EQ(mi.mods_count, 3u);
    EXPECT_NE(mi.mods_addr, 0u);
    EXPECT_LT(mi.mods_addr + 3 * 16, 0x9fc00u);
    std::uint64_t previous_end = 0x103000;  // the image's end, bss included
    for (std::size_t i = 0; i < r.modules.size(); ++i) {
        SCOPED_TRACE(i);
        const std::uint64_t e = mi.mods_addr + i * 16;
        const std::uint32_t start = b.mem.read32(e), end = b.mem.read32(e + 4);
        EXPECT_EQ(start % 4096, 0u);
        EXPECT_EQ(end - start, r.modules[i].bytes.size());
        EXPECT_GE(start, previous_end);
        previous_end = end;
        EXPECT_EQ(read_bytes(b.mem, start, end - start), r.modules[i].bytes);
        EXPECT_EQ(read_cstring(b.mem, b.mem.read32(e + 8)), r.modules[i].cmdline);
        EXPECT_EQ(b.mem.read32(e + 12), 0u);
    }
}

TEST(Multiboot1Info, MmapEntriesAreSize20PlusBaseLenTypeOfThePcMap) {
    const Bytes f = mb1_kernel();
    Booted b;
    boot_it(b, f, prepare_mb1(f, request_with_modules()));
    const Mb1Info mi = read_mb1_info(b.mem, b.entry.ebx);
    ASSERT_EQ(mi.mmap_length, kExpectedMap.size() * 24);
    for (std::size_t i = 0; i < kExpectedMap.size(); ++i) {
        SCOPED_TRACE(i);
        const std::uint64_t e = mi.mmap_addr + i * 24;
        EXPECT_EQ(b.mem.read32(e), 20u);
        EXPECT_EQ(b.mem.read64(e + 4), kExpectedMap[i].addr);
        EXPECT_EQ(b.mem.read64(e + 12), kExpectedMap[i].size);
        EXPECT_EQ(b.mem.read32(e + 20), kExpectedMap[i].type);
    }
}

TEST(Multiboot1Info, AllocationsAreDisjointAndClearOfImageAndPageZero) {
    const Bytes f = mb1_kernel();
    Booted b;
    boot_it(b, f, prepare_mb1(f, request_with_modules()));
    // info, cmdline, 3 modules, their list, 3 strings, mmap, loader name.
    EXPECT_EQ(b.allocations.size(), 11u);
    const PhysRange image{0x100000, 0x103000}, page0{0, 0x1000}, reserved{0x9fc00, 0x100000};
    for (std::size_t i = 0; i < b.allocations.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_FALSE(overlaps(b.allocations[i], image));
        EXPECT_FALSE(overlaps(b.allocations[i], page0));
        EXPECT_FALSE(overlaps(b.allocations[i], reserved));
        EXPECT_LE(b.allocations[i].end, kRam);
        for (std::size_t j = i + 1; j < b.allocations.size(); ++j) EXPECT_FALSE(overlaps(b.allocations[i], b.allocations[j])) << j;
    }
}

TEST(Multiboot1Info, CustomLoaderNameIsWritten) {
    const Bytes f = mb1_kernel();
    BootRequest r;
    r.loader_name = "other loader";
    Booted b;
    boot_it(b, f, prepare_mb1(f, r));
    EXPECT_EQ(read_cstring(b.mem, read_mb1_info(b.mem, b.entry.ebx).loader_name), "other loader");
}

// ---------------------------------------------------------------------------
// Multiboot 2: finding the header.

struct Mb2FindCase {
    const char* what;
    std::size_t offset;
    bool good_checksum;
    bool found;
};

TEST(Multiboot2Find, OnlyValidChecksumAt8AlignedOffsetInFirst32KiB) {
    const Mb2FindCase cases[] = {
        {"at offset 0", 0, true, true},
        {"at 0x208", 0x208, true, true},
        {"last slot whose 16 bytes fit in 32 KiB", 0x7ff0, true, true},
        {"straddling the 32 KiB limit", 0x7ff8, true, false},
        {"just past 32 KiB", 0x8000, true, false},
        {"4-aligned, not 8-aligned", 0x204, true, false},
        {"bad checksum", 0x200, false, false},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        Bytes f(0x9000, 0);
        const Bytes h = mb2_header({}, 0, true, c.good_checksum);
        place(f, c.offset, h);
        const auto found = find_multiboot2(f, kName);
        ASSERT_EQ(found.has_value(), c.found);
        if (found) {
            EXPECT_EQ(found->offset, c.offset);
            EXPECT_EQ(found->architecture, 0u);
            EXPECT_EQ(found->header_length, 24u);
        }
    }
}

TEST(Multiboot2Find, Multiboot1MagicIsNotMultiboot2) {
    Bytes f(0x1000, 0);
    place(f, 0, mb1_header(0x3));
    EXPECT_FALSE(find_multiboot2(f, kName));
}

// ---------------------------------------------------------------------------
// Multiboot 2: the header's tags.

Bytes mb2_elf(const std::vector<Tag>& tags, std::uint32_t arch = 0, bool end_tag = true) {
    ElfSpec s;
    s.entry = 0x100040;
    s.placed = {{0x100, mb2_header(tags, arch, end_tag)}};
    return build_elf(s);
}

PreparedBoot prepare_mb2(const Bytes& f, const BootRequest& r = {}) {
    const auto h = find_multiboot2(f, kName);
    if (!h) throw std::logic_error("test image has no Multiboot 2 header");
    return prepare_multiboot2(f, kName, kRam, *h, r);
}

TEST(Multiboot2Header, PlainHeaderPreparesTheElf) {
    const Bytes f = mb2_elf({});
    const PreparedBoot b = prepare_mb2(f);
    EXPECT_EQ(b.protocol, BootProtocol::Multiboot2);
    EXPECT_EQ(b.image.image_class, ImageClass::Elf32);
    EXPECT_EQ(b.image.entry, 0x100040u);
}

TEST(Multiboot2Header, MipsArchitectureIsAnImageError) {
    const Bytes f = mb2_elf({}, 4);
    const std::string msg = error_of([&] { prepare_mb2(f); });
    EXPECT_EQ(msg.rfind(kName + ": Multiboot 2 header: ", 0), 0u) << msg;
    EXPECT_NE(msg.find("architecture 4 (MIPS)"), std::string::npos) << msg;
}

TEST(Multiboot2Header, MissingEndTagIsAnImageError) {
    const Bytes f = mb2_elf({words_tag(4, 0, {0})}, 0, false);
    const std::string msg = error_of([&] { prepare_mb2(f); });
    EXPECT_NE(msg.find("do not end with an end tag"), std::string::npos) << msg;
}

TEST(Multiboot2Header, TagSizeBelow8IsAnImageError) {
    Tag t = words_tag(4, 0, {0});
    t.size = 4;
    const Bytes f = mb2_elf({t});
    const std::string msg = error_of([&] { prepare_mb2(f); });
    EXPECT_NE(msg.find("tag type 4"), std::string::npos) << msg;
    EXPECT_NE(msg.find("has size 4"), std::string::npos) << msg;
}

struct TagCase {
    const char* what;
    std::vector<Tag> tags;
    const char* error;  // nullptr: accepted
};

TEST(Multiboot2Header, InformationRequestsAndTagsKvmgdbCannotHonourAreRefusedUnlessOptional) {
    const TagCase cases[] = {
        {"required request for the tags kvmgdb gives", {words_tag(1, 0, {1, 2, 3, 4, 6})}, nullptr},
        {"required request for a framebuffer (8)", {words_tag(1, 0, {8})},
         "its information request asks for tag type 8, which kvmgdb does not provide"},
        {"required request for ACPI (14)", {words_tag(1, 0, {6, 14})},
         "its information request asks for tag type 14"},
        {"optional request for 8 and 14", {words_tag(1, kOptional, {8, 14})}, nullptr},
        {"required framebuffer tag", {words_tag(5, 0, {1024, 768, 32})}, "requires a framebuffer"},
        {"optional framebuffer tag", {words_tag(5, kOptional, {1024, 768, 32})}, nullptr},
        {"required EFI boot services", {words_tag(7, 0, {})}, "requires EFI boot services"},
        {"optional EFI boot services", {words_tag(7, kOptional, {})}, nullptr},
        {"required EFI32 entry", {words_tag(8, 0, {0x100040})}, "requires an EFI entry"},
        {"required EFI64 entry", {words_tag(9, 0, {0x100040})}, "requires an EFI entry"},
        {"console flags", {words_tag(4, 0, {3})}, nullptr},
        {"module alignment", {words_tag(6, 0, {})}, nullptr},
        {"relocatable", {words_tag(10, 0, {0x100000, 0x200000, 0x1000, 0})}, nullptr},
        {"unknown required tag", {words_tag(42, 0, {})}, "unknown required tag type 42"},
        {"unknown optional tag", {words_tag(42, kOptional, {})}, nullptr},
        {"all accepted tags together",
         {words_tag(1, 0, {6, 4}), words_tag(4, 0, {0}), words_tag(5, kOptional, {0, 0, 0}), words_tag(6, 0, {})},
         nullptr},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        const Bytes f = mb2_elf(c.tags);
        if (c.error) {
            const std::string msg = error_of([&] { prepare_mb2(f); });
            EXPECT_EQ(msg.rfind(kName + ": Multiboot 2 header: ", 0), 0u) << msg;
            EXPECT_NE(msg.find(c.error), std::string::npos) << msg;
        } else {
            EXPECT_EQ(prepare_mb2(f).protocol, BootProtocol::Multiboot2);
        }
    }
}

TEST(Multiboot2Header, EntryAddressTagOverridesTheElfEntry) {
    const Bytes f = mb2_elf({words_tag(3, 0, {0x100200})});
    EXPECT_EQ(prepare_mb2(f).image.entry, 0x100200u);
}

TEST(Multiboot2Header, EntryAddressTagOutsideTheImageIsAnImageError) {
    const Bytes f = mb2_elf({words_tag(3, 0, {0x50})});
    const std::string msg = error_of([&] { prepare_mb2(f); });
    EXPECT_NE(msg.find("Multiboot 2 entry 0x50 is in no loaded segment"), std::string::npos) << msg;
}

TEST(Multiboot2Header, HighLinkedElfEntryIsTranslatedToPaddr) {
    ElfSpec s;
    s.vaddr = 0xC0100000;
    s.paddr = 0x100000;
    s.entry = 0xC0100040;
    s.placed = {{0x100, mb2_header({})}};
    const Bytes f = build_elf(s);
    EXPECT_EQ(prepare_mb2(f).image.entry, 0x100040u);
}

TEST(Multiboot2Header, AddressTagLoadsRawImageAtItsAddresses) {
    Bytes f = raw_file(0x3000);
    place(f, 0x40, mb2_header({words_tag(2, 0, {0x100040, 0x100000, 0, 0x104000}), words_tag(3, 0, {0x100100})}));
    const PreparedBoot b = prepare_mb2(f);
    EXPECT_EQ(b.image.image_class, ImageClass::Raw);
    ASSERT_EQ(b.image.segments.size(), 1u);
    EXPECT_EQ(b.image.segments[0].paddr, 0x100000u);
    EXPECT_EQ(b.image.segments[0].offset, 0u);
    EXPECT_EQ(b.image.segments[0].filesz, 0x3000u);
    EXPECT_EQ(b.image.segments[0].memsz, 0x4000u);
    EXPECT_EQ(b.image.entry, 0x100100u);
}

TEST(Multiboot2Header, AddressTagLoadAddrMinusOneStartsAtTheFileStart) {
    Bytes f = raw_file(0x3000);
    place(f, 0x40, mb2_header({words_tag(2, 0, {0x100040, 0xffffffffu, 0, 0}), words_tag(3, 0, {0x100100})}));
    const PreparedBoot b = prepare_mb2(f);
    ASSERT_EQ(b.image.segments.size(), 1u);
    EXPECT_EQ(b.image.segments[0].paddr, 0x100000u);
    EXPECT_EQ(b.image.segments[0].offset, 0u);
}

TEST(Multiboot2Header, AddressTagWithoutEntryTagIsAnImageError) {
    Bytes f = raw_file(0x3000);
    place(f, 0x40, mb2_header({words_tag(2, 0, {0x100040, 0x100000, 0, 0})}));
    const std::string msg = error_of([&] { prepare_mb2(f); });
    EXPECT_NE(msg.find("an address tag needs an entry address tag"), std::string::npos) << msg;
}

TEST(Multiboot2Header, Elf64KernelIsAccepted) {
    ElfSpec s;
    s.is64 = true;
    s.entry = 0x100040;
    s.placed = {{0x100, mb2_header({words_tag(1, 0, {6})})}};
    const Bytes f = build_elf(s);
    const PreparedBoot b = prepare_mb2(f);
    EXPECT_EQ(b.image.image_class, ImageClass::Elf64);
    EXPECT_EQ(b.image.entry, 0x100040u);
}

// ---------------------------------------------------------------------------
// Multiboot 2: the boot information.

struct InfoTag {
    std::uint64_t at;
    std::uint32_t type, size;
};

// Walks the boot information from its first tag to the end tag (included).
std::vector<InfoTag> walk_mb2(const GuestMemory& m, std::uint64_t info) {
    std::vector<InfoTag> tags;
    const std::uint64_t total = m.read32(info);
    for (std::uint64_t at = info + 8; at + 8 <= info + total;) {
        const InfoTag t{at, m.read32(at), m.read32(at + 4)};
        tags.push_back(t);
        if (t.type == 0 || t.size < 8) break;
        at += align8(t.size);
    }
    return tags;
}

Bytes mb2_kernel() {
    ElfSpec s;
    s.entry = 0x100040;
    s.bss = 0x1000;
    s.placed = {{0x100, mb2_header({words_tag(1, 0, {1, 2, 3, 4, 6})})}};
    return build_elf(s);
}

TEST(Multiboot2Info, TagsInOrderEachEightAlignedEndingWithEndTag) {
    const Bytes f = mb2_kernel();
    const BootRequest r = request_with_modules();
    Booted b;
    boot_it(b, f, prepare_mb2(f, r));
    EXPECT_EQ(b.entry.eax, 0x36D76289u);
    EXPECT_EQ(b.entry.entry, 0x100040u);
    const std::uint64_t info = b.entry.ebx;
    EXPECT_EQ(info % 8, 0u);
    EXPECT_GE(info, 0x1000u);
    EXPECT_EQ(b.mem.read32(info + 4), 0u);  // reserved
    const std::vector<InfoTag> tags = walk_mb2(b.mem, info);
    std::vector<std::uint32_t> types;
    for (const InfoTag& t : tags) {
        types.push_back(t.type);
        EXPECT_EQ(t.at % 8, 0u) << "tag type " << t.type;
    }
    EXPECT_EQ(types, (std::vector<std::uint32_t>{1, 2, 3, 3, 3, 4, 6, 0}));
    ASSERT_FALSE(tags.empty());
    EXPECT_EQ(tags.back().size, 8u);
    EXPECT_EQ(b.mem.read32(info), tags.back().at + 8 - info);  // total_size
    EXPECT_LE(info + b.mem.read32(info), 0x9fc00u);
}

TEST(Multiboot2Info, EveryTagHoldsItsFieldsExactly) {
    const Bytes f = mb2_kernel();
    const BootRequest r = request_with_modules();
    Booted b;
    boot_it(b, f, prepare_mb2(f, r));
    const std::vector<InfoTag> tags = walk_mb2(b.mem, b.entry.ebx);
    ASSERT_EQ(tags.size(), 8u);
    // 1: the command line exactly as --cmdline gave it, no file name.
    EXPECT_EQ(tags[0].size, 8 + r.cmdline.size() + 1);
    EXPECT_EQ(read_cstring(b.mem, tags[0].at + 8), "console=ttyS0 loglevel=7");
    // 2: the boot loader name.
    EXPECT_EQ(tags[1].size, 8u + 7u);
    EXPECT_EQ(read_cstring(b.mem, tags[1].at + 8), "kvmgdb");
    // 3: one per module, in order: mod_start, mod_end, string.
    std::uint64_t previous_end = 0x103000;
    for (std::size_t i = 0; i < 3; ++i) {
        SCOPED_TRACE(i);
        const InfoTag& t = tags[2 + i];
        const std::uint32_t start = b.mem.read32(t.at + 8), end = b.mem.read32(t.at + 12);
        EXPECT_EQ(t.size, 16 + r.modules[i].cmdline.size() + 1);
        EXPECT_EQ(start % 4096, 0u);
        EXPECT_EQ(end - start, r.modules[i].bytes.size());
        EXPECT_GE(start, previous_end);
        previous_end = end;
        EXPECT_EQ(read_bytes(b.mem, start, end - start), r.modules[i].bytes);
        EXPECT_EQ(read_cstring(b.mem, t.at + 16), r.modules[i].cmdline);
    }
    // 4: basic memory information.
    EXPECT_EQ(tags[5].size, 16u);
    EXPECT_EQ(b.mem.read32(tags[5].at + 8), 639u);
    EXPECT_EQ(b.mem.read32(tags[5].at + 12), (kRam - (1u << 20)) / 1024);
    // 6: the memory map.
    const InfoTag& mm = tags[6];
    EXPECT_EQ(mm.size, 16 + kExpectedMap.size() * 24);
    EXPECT_EQ(b.mem.read32(mm.at + 8), 24u);  // entry_size
    EXPECT_EQ(b.mem.read32(mm.at + 12), 0u);  // entry_version
    for (std::size_t i = 0; i < kExpectedMap.size(); ++i) {
        SCOPED_TRACE(i);
        const std::uint64_t e = mm.at + 16 + i * 24;
        EXPECT_EQ(b.mem.read64(e), kExpectedMap[i].addr);
        EXPECT_EQ(b.mem.read64(e + 8), kExpectedMap[i].size);
        EXPECT_EQ(b.mem.read32(e + 16), kExpectedMap[i].type);
        EXPECT_EQ(b.mem.read32(e + 20), 0u);
    }
    // 0: the end tag.
    EXPECT_EQ(tags[7].type, 0u);
    EXPECT_EQ(tags[7].size, 8u);
}

TEST(Multiboot2Info, EmptyCmdlineAndNoModulesGiveEmptyStringAndNoModuleTags) {
    const Bytes f = mb2_kernel();
    Booted b;
    boot_it(b, f, prepare_mb2(f, BootRequest{}));
    const std::vector<InfoTag> tags = walk_mb2(b.mem, b.entry.ebx);
    std::vector<std::uint32_t> types;
    for (const InfoTag& t : tags) types.push_back(t.type);
    EXPECT_EQ(types, (std::vector<std::uint32_t>{1, 2, 4, 6, 0}));
    ASSERT_FALSE(tags.empty());
    EXPECT_EQ(tags[0].size, 9u);
    EXPECT_EQ(read_cstring(b.mem, tags[0].at + 8), "");
    EXPECT_EQ(b.mem.read32(b.entry.ebx), tags.back().at + 8 - b.entry.ebx);
}

TEST(Multiboot2Info, AllocationsAreDisjointAndClearOfTheImage) {
    const Bytes f = mb2_kernel();
    Booted b;
    boot_it(b, f, prepare_mb2(f, request_with_modules()));
    EXPECT_EQ(b.allocations.size(), 4u);  // 3 modules, then the boot information
    const PhysRange image{0x100000, 0x103000}, page0{0, 0x1000};
    for (std::size_t i = 0; i < b.allocations.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_FALSE(overlaps(b.allocations[i], image));
        EXPECT_FALSE(overlaps(b.allocations[i], page0));
        for (std::size_t j = i + 1; j < b.allocations.size(); ++j) EXPECT_FALSE(overlaps(b.allocations[i], b.allocations[j])) << j;
    }
}

// ---------------------------------------------------------------------------
// prepare_boot: which protocol a choice takes.

Bytes kernel_with(bool mb1, bool mb2, bool pvh) {
    ElfSpec s;
    s.entry = 0x100040;
    if (mb1) s.placed.push_back({0x100, mb1_header(0x3)});
    if (mb2) s.placed.push_back({0x200, mb2_header({})});
    if (pvh) s.notes = elf_note("Xen", 18, le32_bytes(0x100080));
    return build_elf(s);
}

struct ChoiceCase {
    const char* what;
    bool mb1, mb2, pvh;
    BootChoice choice;
    std::optional<BootProtocol> protocol;  // nullopt with no error: prepare_boot gives nullopt
    std::vector<std::string> error;        // substrings of the ImageError, when one
};

TEST(MultibootPrepareBoot, ChoicesPickTheProtocolOrFailNamingTheMagic) {
    using P = BootProtocol;
    using C = BootChoice;
    const ChoiceCase cases[] = {
        {"auto: all three, Multiboot 1 first", true, true, true, C::Auto, P::Multiboot1, {}},
        {"auto: Multiboot 2 before PVH", false, true, true, C::Auto, P::Multiboot2, {}},
        {"auto: PVH alone", false, false, true, C::Auto, P::Pvh, {}},
        {"auto: Multiboot 1 alone", true, false, false, C::Auto, P::Multiboot1, {}},
        {"auto: nothing", false, false, false, C::Auto, std::nullopt, {}},
        {"multiboot: both, Multiboot 1", true, true, false, C::Multiboot, P::Multiboot1, {}},
        {"multiboot: Multiboot 2 alone", false, true, true, C::Multiboot, P::Multiboot2, {}},
        {"multiboot: neither", false, false, true, C::Multiboot, std::nullopt,
         {"--boot multiboot:", "0x1badb002", "0xe85250d6"}},
        {"multiboot1: with all", true, true, true, C::Multiboot1, P::Multiboot1, {}},
        {"multiboot1: only Multiboot 2", false, true, true, C::Multiboot1, std::nullopt,
         {"--boot multiboot1:", "0x1badb002", "first 8 KiB"}},
        {"multiboot2: with all", true, true, true, C::Multiboot2, P::Multiboot2, {}},
        {"multiboot2: only Multiboot 1", true, false, true, C::Multiboot2, std::nullopt,
         {"--boot multiboot2:", "0xe85250d6", "first 32 KiB"}},
        {"pvh: with all", true, true, true, C::Pvh, P::Pvh, {}},
        {"pvh: no note", true, true, false, C::Pvh, std::nullopt, {"--boot pvh:", "XEN_ELFNOTE_PHYS32_ENTRY"}},
        {"none: with all", true, true, true, C::None, std::nullopt, {}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        const Bytes f = kernel_with(c.mb1, c.mb2, c.pvh);
        if (!c.error.empty()) {
            const std::string msg = error_of([&] { prepare_boot(f, kName, kRam, c.choice, BootRequest{}); });
            EXPECT_EQ(msg.rfind(kName + ": ", 0), 0u) << msg;
            for (const std::string& s : c.error) EXPECT_NE(msg.find(s), std::string::npos) << s << " in " << msg;
            continue;
        }
        const auto b = prepare_boot(f, kName, kRam, c.choice, BootRequest{});
        ASSERT_EQ(b.has_value(), c.protocol.has_value());
        if (!b) continue;
        EXPECT_EQ(b->protocol, *c.protocol);
        // And the chosen protocol's info is what write_info writes.
        Booted booted;
        boot_it(booted, f, *b);
        const std::uint32_t magic = *c.protocol == P::Multiboot1 ? 0x2BADB002u : *c.protocol == P::Multiboot2 ? 0x36D76289u : 0u;
        EXPECT_EQ(booted.entry.eax, magic);
        EXPECT_EQ(booted.entry.entry, *c.protocol == P::Pvh ? 0x100080u : 0x100040u);
        if (*c.protocol == P::Pvh) {
            EXPECT_EQ(booted.mem.read32(booted.entry.ebx), 0x336EC578u);
        }
    }
}

// PVH note edges the choice above leans on (pvh_test.cpp has the rest).
TEST(PvhNoteEdges, SixByteValueIsAnImageErrorNamingItsSize) {
    ElfSpec s;
    s.notes = elf_note("Xen", 18, Bytes{0x40, 0x00, 0x10, 0x00, 0x00, 0x00});
    const Bytes f = build_elf(s);
    const std::string msg = error_of([&] { find_pvh_entry(f, kName); });
    EXPECT_EQ(msg, kName + ": XEN_ELFNOTE_PHYS32_ENTRY has a 6-byte value, not 4 or 8");
}

TEST(PvhNoteEdges, NoteBytesOutsideAPtNoteSegmentAreNotFound) {
    ElfSpec s;
    s.placed = {{0x800, elf_note("Xen", 18, le32_bytes(0x100080))}};  // inside the PT_LOAD only
    const Bytes f = build_elf(s);
    EXPECT_FALSE(find_pvh_entry(f, kName));
    EXPECT_FALSE(prepare_boot(f, kName, kRam, BootChoice::Auto, BootRequest{}));
}

TEST(MultibootPrepareBoot, ParseBootChoiceNamesAndToString) {
    EXPECT_EQ(parse_boot_choice("auto"), BootChoice::Auto);
    EXPECT_EQ(parse_boot_choice("none"), BootChoice::None);
    EXPECT_EQ(parse_boot_choice("pvh"), BootChoice::Pvh);
    EXPECT_EQ(parse_boot_choice("multiboot"), BootChoice::Multiboot);
    EXPECT_EQ(parse_boot_choice("multiboot1"), BootChoice::Multiboot1);
    EXPECT_EQ(parse_boot_choice("multiboot2"), BootChoice::Multiboot2);
    EXPECT_EQ(parse_boot_choice("Multiboot"), std::nullopt);
    EXPECT_EQ(parse_boot_choice(""), std::nullopt);
    EXPECT_EQ(to_string(BootProtocol::Multiboot1), "Multiboot 1");
    EXPECT_EQ(to_string(BootProtocol::Multiboot2), "Multiboot 2");
    EXPECT_EQ(to_string(BootProtocol::Pvh), "PVH");
    EXPECT_EQ(to_string(BootProtocol::None), "none");
}

}  // namespace
}  // namespace kvmgdb::boot
