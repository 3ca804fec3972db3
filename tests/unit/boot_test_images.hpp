// Byte-exact images for the boot-protocol tests (multiboot_test.cpp, pvh_test.cpp):
// little-endian pokes, an ELF32 or ELF64 with one PT_LOAD and an optional PT_NOTE,
// ELF notes. Header only; each test file includes it once.
#pragma once

#include <elf.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace kvmgdb::boot::test_images {

using Bytes = std::vector<std::uint8_t>;

inline void poke16(Bytes& b, std::size_t at, std::uint16_t v) {
    for (std::size_t i = 0; i < 2; ++i) b.at(at + i) = static_cast<std::uint8_t>(v >> (8 * i));
}
inline void poke32(Bytes& b, std::size_t at, std::uint32_t v) {
    for (std::size_t i = 0; i < 4; ++i) b.at(at + i) = static_cast<std::uint8_t>(v >> (8 * i));
}
inline void append32(Bytes& b, std::uint32_t v) {
    b.resize(b.size() + 4);
    poke32(b, b.size() - 4, v);
}
inline void place(Bytes& f, std::size_t at, const Bytes& what) {
    if (f.size() < at + what.size()) f.resize(at + what.size(), 0);
    std::copy(what.begin(), what.end(), f.begin() + static_cast<std::ptrdiff_t>(at));
}
inline std::uint64_t align8(std::uint64_t v) { return (v + 7) & ~std::uint64_t(7); }

// Raw bytes with a recognisable pattern that can never form a magic.
inline Bytes raw_file(std::size_t size) {
    Bytes f(size);
    for (std::size_t i = 0; i < size; ++i) f[i] = static_cast<std::uint8_t>(i * 7 + 3);
    return f;
}

// An ELF whose single PT_LOAD covers the whole file from offset 0 (plus `bss`),
// and an optional PT_NOTE over `notes` at `note_offset`. `place`d bytes
// (Multiboot headers) go at their offsets before the ELF headers are written.
struct ElfSpec {
    bool is64 = false;
    std::uint64_t vaddr = 0x100000;
    std::uint64_t paddr = 0x100000;
    std::uint64_t entry = 0x100000;
    std::size_t size = 0x2000;
    std::uint64_t bss = 0;
    std::vector<std::pair<std::size_t, Bytes>> placed;
    Bytes notes;
    std::size_t note_offset = 0x800;
    // The PT_LOAD's file range: from load_offset, load_size bytes (0: to the end
    // of the file, notes and placed bytes included).
    std::size_t load_offset = 0;
    std::size_t load_size = 0;
};

template <typename Ehdr, typename Phdr>
inline void write_elf_headers(Bytes& f, const ElfSpec& s, unsigned char cls, std::uint16_t machine) {
    const bool has_note = !s.notes.empty();
    Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = cls;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = machine;
    eh.e_version = EV_CURRENT;
    eh.e_entry = static_cast<decltype(eh.e_entry)>(s.entry);
    eh.e_phoff = sizeof(Ehdr);
    eh.e_ehsize = sizeof(Ehdr);
    eh.e_phentsize = sizeof(Phdr);
    eh.e_phnum = has_note ? 2 : 1;
    std::memcpy(f.data(), &eh, sizeof eh);
    Phdr load{};
    load.p_type = PT_LOAD;
    load.p_flags = PF_R | PF_W | PF_X;
    const std::size_t load_size = s.load_size ? s.load_size : f.size() - s.load_offset;
    load.p_offset = static_cast<decltype(load.p_offset)>(s.load_offset);
    load.p_vaddr = static_cast<decltype(load.p_vaddr)>(s.vaddr);
    load.p_paddr = static_cast<decltype(load.p_paddr)>(s.paddr);
    load.p_filesz = static_cast<decltype(load.p_filesz)>(load_size);
    load.p_memsz = static_cast<decltype(load.p_memsz)>(load_size + s.bss);
    load.p_align = 0x1000;
    std::memcpy(f.data() + sizeof(Ehdr), &load, sizeof load);
    if (has_note) {
        Phdr note{};
        note.p_type = PT_NOTE;
        note.p_offset = static_cast<decltype(note.p_offset)>(s.note_offset);
        note.p_filesz = static_cast<decltype(note.p_filesz)>(s.notes.size());
        note.p_align = 4;
        std::memcpy(f.data() + sizeof(Ehdr) + sizeof(Phdr), &note, sizeof note);
    }
}

inline Bytes build_elf(const ElfSpec& s) {
    Bytes f(s.size, 0);
    for (const auto& [at, what] : s.placed) place(f, at, what);
    if (!s.notes.empty()) place(f, s.note_offset, s.notes);
    if (s.is64) write_elf_headers<Elf64_Ehdr, Elf64_Phdr>(f, s, ELFCLASS64, EM_X86_64);
    else write_elf_headers<Elf32_Ehdr, Elf32_Phdr>(f, s, ELFCLASS32, EM_386);
    return f;
}

// An ELF note: namesz, descsz, type, then name (NUL-terminated) and desc, each
// padded to 4 bytes.
inline Bytes elf_note(const std::string& name, std::uint32_t type, const Bytes& desc) {
    Bytes n;
    append32(n, static_cast<std::uint32_t>(name.size() + 1));
    append32(n, static_cast<std::uint32_t>(desc.size()));
    append32(n, type);
    n.insert(n.end(), name.begin(), name.end());
    n.push_back(0);
    while (n.size() % 4) n.push_back(0);
    n.insert(n.end(), desc.begin(), desc.end());
    while (n.size() % 4) n.push_back(0);
    return n;
}
inline Bytes le32_bytes(std::uint32_t v) {
    Bytes b;
    append32(b, v);
    return b;
}

}  // namespace kvmgdb::boot::test_images
