// PVH boot against ELFs built here: finding XEN_ELFNOTE_PHYS32_ENTRY in a PT_NOTE
// segment (ELF32 and ELF64, 4- and 8-byte values), and the hvm_start_info, module
// list and memory map written into a GuestMemory, field by field against Xen's
// xen/include/public/arch-x86/hvm/start_info.h (version 1).
#include "boot/pvh.hpp"

#include <elf.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "boot/boot_protocol.hpp"
#include "boot_test_images.hpp"

namespace kvmgdb::boot {
namespace {

constexpr std::uint64_t kRam = 64ull << 20;
const std::string kName = "vmlinux";
constexpr std::uint64_t kLoadOffset = 0x1000;  // the PT_LOAD's bytes in the file
constexpr std::uint64_t kLoadSize = 0x2000;

using namespace test_images;

// An ELF with a PT_LOAD of kLoadSize bytes at file offset kLoadOffset, paddr
// 0x100000 (linked at `vaddr`) and, when `notes` is not empty, a PT_NOTE holding
// them after the load's bytes.
struct PvhElf {
    bool is64 = true;
    std::uint64_t vaddr = 0x100000;
    std::uint64_t entry = 0x100000;
    Bytes notes;
};

Bytes make_elf(const PvhElf& p) {
    ElfSpec s;
    s.is64 = p.is64;
    s.vaddr = p.vaddr;
    s.entry = p.entry;
    s.size = kLoadOffset + kLoadSize;
    s.load_offset = kLoadOffset;
    s.load_size = kLoadSize;
    Bytes code(kLoadSize);
    for (std::uint64_t i = 0; i < kLoadSize; ++i) code[i] = static_cast<std::uint8_t>(0x90 + i % 5);
    s.placed = {{kLoadOffset, code}};
    s.notes = p.notes;
    s.note_offset = kLoadOffset + kLoadSize;
    return build_elf(s);
}

Bytes le_bytes(std::uint64_t v, unsigned n) {
    Bytes b;
    for (unsigned i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    return b;
}
Bytes note(const std::string& name, std::uint32_t type, const Bytes& desc) { return elf_note(name, type, desc); }

Bytes pvh_note(std::uint64_t entry, unsigned size = 4) { return note("Xen", kXenElfnotePhys32Entry, le_bytes(entry, size)); }

std::string cstr(const GuestMemory& mem, std::uint64_t at) {
    std::string s;
    for (char c; (c = static_cast<char>(mem.read8(at))) != 0; ++at) s += c;
    return s;
}

template <typename F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const ImageError& e) {
        return e.what();
    }
    return "(no ImageError)";
}

TEST(PvhNote, FoundInElf64And32) {
    // Other notes (Linux's own, Xen's other types) come first and are skipped.
    Bytes notes = note("Linux", 1, le_bytes(0x1234, 4));
    const Bytes xen_other = note("Xen", 6, le_bytes(0, 4));
    notes.insert(notes.end(), xen_other.begin(), xen_other.end());
    const Bytes pvh = pvh_note(0x100040, 8);
    notes.insert(notes.end(), pvh.begin(), pvh.end());
    EXPECT_EQ(find_pvh_entry(make_elf({true, 0x100000, 0x100000, notes}), kName), 0x100040u);
    EXPECT_EQ(find_pvh_entry(make_elf({false, 0x100000, 0x100000, pvh_note(0x100080)}), kName), 0x100080u);
}

TEST(PvhNote, AbsentOrNotAnElf) {
    EXPECT_FALSE(find_pvh_entry(make_elf({}), kName));
    EXPECT_FALSE(find_pvh_entry(make_elf({true, 0x100000, 0x100000, note("Xen", 6, le_bytes(0, 4))}), kName));
    EXPECT_FALSE(find_pvh_entry(make_elf({true, 0x100000, 0x100000, note("Xe", 18, le_bytes(0x100000, 4))}), kName));
    EXPECT_FALSE(find_pvh_entry(Bytes(0x100, 0x90), kName));
    EXPECT_FALSE(find_pvh_entry(Bytes{}, kName));
}

TEST(PvhNote, BadValueSizeOrEntryAbove4GiB) {
    std::string e = error_of([] { find_pvh_entry(make_elf({true, 0x100000, 0x100000, pvh_note(0x100000, 2)}), kName); });
    EXPECT_EQ(e.rfind(kName + ":", 0), 0u) << e;
    EXPECT_NE(e.find("XEN_ELFNOTE_PHYS32_ENTRY"), std::string::npos) << e;
    e = error_of([] { find_pvh_entry(make_elf({true, 0x100000, 0x100000, pvh_note(0x100000000ull, 8)}), kName); });
    EXPECT_EQ(e.rfind(kName + ":", 0), 0u) << e;
}

TEST(PvhNote, TornNoteEndsTheWalk) {
    Bytes notes = pvh_note(0x100000);
    notes[4] = 0x40;  // descsz past the segment's end
    EXPECT_FALSE(find_pvh_entry(make_elf({true, 0x100000, 0x100000, notes}), kName));
}

TEST(PvhBoot, EntryMustBeInALoadedSegmentByPhysicalAddress) {
    // Linux's vmlinux: linked high, the note's entry is physical.
    const Bytes f = make_elf({true, 0xffffffff81000000ull, 0xffffffff81000000ull, pvh_note(0x100200)});
    const auto p = prepare_boot(f, kName, kRam, BootChoice::Auto, {});
    ASSERT_TRUE(p);
    EXPECT_EQ(p->protocol, BootProtocol::Pvh);
    EXPECT_EQ(p->image.entry, 0x100200u);
    const std::string e = error_of([] {
        const Bytes g = make_elf({true, 0x100000, 0x100000, pvh_note(0x800000)});
        prepare_boot(g, kName, kRam, BootChoice::Pvh, {});
    });
    EXPECT_EQ(e.rfind(kName + ":", 0), 0u) << e;
}

TEST(PvhBoot, ForcedWithoutTheNoteIsAnError) {
    const Bytes f = make_elf({});
    EXPECT_FALSE(prepare_boot(f, kName, kRam, BootChoice::Auto, {}));
    const std::string e = error_of([&] { prepare_boot(f, kName, kRam, BootChoice::Pvh, {}); });
    EXPECT_EQ(e.rfind(kName + ": --boot pvh:", 0), 0u) << e;
}

TEST(PvhStartInfo, EveryField) {
    const Bytes f = make_elf({true, 0x100000, 0x100000, pvh_note(0x100010)});
    BootRequest r;
    r.cmdline = "console=ttyS0 earlyprintk=serial";
    r.modules.push_back({"initrd.img", Bytes(3000, 0x5a), ""});
    r.modules.push_back({"second.bin", Bytes(10, 0xa5), "second arg"});
    const auto p = prepare_boot(f, kName, kRam, BootChoice::Pvh, r);
    ASSERT_TRUE(p);
    GuestMemory mem(kRam);
    load_image(p->image, f, mem);
    BootArena arena(kRam, {{0x100000, 0x100000 + kLoadSize}});
    const BootEntry entry = p->write_info(mem, arena);
    EXPECT_EQ(entry.entry, 0x100010u);
    EXPECT_EQ(entry.eax, 0u);
    const std::uint64_t info = entry.ebx;
    EXPECT_EQ(info % 8, 0u);
    EXPECT_GE(info, 0x1000u);
    EXPECT_LE(info + kHvmStartInfoSize, 0x9fc00u);

    EXPECT_EQ(mem.read32(info + 0), 0x336ec578u);  // magic
    EXPECT_EQ(mem.read32(info + 4), 1u);           // version
    EXPECT_EQ(mem.read32(info + 8), 0u);           // flags
    ASSERT_EQ(mem.read32(info + 12), 2u);          // nr_modules
    const std::uint64_t list = mem.read64(info + 16);
    EXPECT_EQ(cstr(mem, mem.read64(info + 24)), r.cmdline);
    EXPECT_EQ(mem.read64(info + 32), 0u);  // rsdp_paddr: no ACPI tables
    const std::uint64_t map = mem.read64(info + 40);
    ASSERT_EQ(mem.read32(info + 48), 4u);  // memmap_entries
    EXPECT_EQ(mem.read32(info + 52), 0u);  // reserved

    // hvm_modlist_entry: paddr, size, cmdline_paddr, reserved.
    EXPECT_EQ(list % 8, 0u);
    std::uint64_t last_end = 0x100000 + kLoadSize;
    for (std::size_t i = 0; i < 2; ++i) {
        const std::uint64_t e = list + 32 * i;
        const std::uint64_t at = mem.read64(e), size = mem.read64(e + 8);
        EXPECT_EQ(at % 4096, 0u) << i;
        EXPECT_GE(at, last_end) << i;
        EXPECT_EQ(size, r.modules[i].bytes.size()) << i;
        Bytes got(size);
        mem.read(at, got);
        EXPECT_EQ(got, r.modules[i].bytes) << i;
        EXPECT_EQ(mem.read64(e + 24), 0u) << i;
        last_end = at + size;
    }
    EXPECT_EQ(mem.read64(list + 16), 0u);  // no command line: 0, not an empty string
    EXPECT_EQ(cstr(mem, mem.read64(list + 32 + 16)), "second arg");

    // hvm_memmap_table_entry: addr, size, type, reserved.
    const std::vector<MemoryMapEntry> want = pc_memory_map(kRam);
    ASSERT_EQ(want.size(), 4u);
    EXPECT_EQ(map % 8, 0u);
    for (std::size_t i = 0; i < want.size(); ++i) {
        const std::uint64_t e = map + 24 * i;
        EXPECT_EQ(mem.read64(e), want[i].addr) << i;
        EXPECT_EQ(mem.read64(e + 8), want[i].size) << i;
        EXPECT_EQ(mem.read32(e + 16), want[i].type) << i;
        EXPECT_EQ(mem.read32(e + 20), 0u) << i;
    }
    EXPECT_EQ(mem.read64(map + 72), 0x100000u);
    EXPECT_EQ(mem.read64(map + 80), kRam - 0x100000);
}

TEST(PvhStartInfo, NoCommandLineNoModules) {
    const Bytes f = make_elf({false, 0x100000, 0x100000, pvh_note(0x100000)});
    const auto p = prepare_boot(f, kName, kRam, BootChoice::Auto, {});
    ASSERT_TRUE(p);
    GuestMemory mem(kRam);
    BootArena arena(kRam, {{0x100000, 0x100000 + kLoadSize}});
    const std::uint64_t info = p->write_info(mem, arena).ebx;
    EXPECT_EQ(mem.read32(info), kHvmStartMagic);
    EXPECT_EQ(mem.read32(info + 12), 0u);
    EXPECT_EQ(mem.read64(info + 16), 0u);
    EXPECT_EQ(mem.read64(info + 24), 0u);
    EXPECT_EQ(mem.read32(info + 48), 4u);
}

}  // namespace
}  // namespace kvmgdb::boot
