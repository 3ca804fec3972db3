// ELF / raw image parsing and loading, against byte-exact hand-built images.
#include "loader/elf_loader.hpp"

#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace kvmgdb {
namespace {

constexpr std::uint64_t kRam = 64ull << 20;  // 64 MiB
const std::string kName = "guest.elf";

// ---------------------------------------------------------------------------
// A tiny ELF writer. Layout: ELF header, program header table right after it,
// then each segment's file bytes (filesz of them) packed in order. Segment i's
// byte k is pattern(i, k), so loads can be checked byte for byte.

struct Seg {
    std::uint32_t type = PT_LOAD;
    std::uint64_t paddr = 0;
    std::uint64_t vaddr = 0;
    std::uint64_t filesz = 0;
    std::uint64_t memsz = 0;
    std::uint32_t flags = PF_R | PF_X;
};

std::uint8_t pattern(std::size_t seg, std::uint64_t k) {
    return static_cast<std::uint8_t>(0x11 * (seg + 1) + k * 7);
}

template <typename T>
void put(std::vector<std::uint8_t>& img, std::size_t off, T v) {
    for (std::size_t i = 0; i < sizeof(T); ++i)
        img.at(off + i) = static_cast<std::uint8_t>(static_cast<std::uint64_t>(v) >> (8 * i));
}

struct Elf {
    bool is64 = true;
    std::uint64_t entry = 0;
    std::vector<Seg> segs;

    std::size_t ehsize() const { return is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr); }
    std::size_t phentsize() const { return is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr); }
    std::size_t phoff() const { return ehsize(); }
    std::size_t ph(std::size_t i) const { return phoff() + i * phentsize(); }

    // Offset of a field inside the ELF header / program header i, for mutation.
    std::size_t eh_field(std::size_t off64, std::size_t off32) const { return is64 ? off64 : off32; }
#define EH(field) eh_field(offsetof(Elf64_Ehdr, field), offsetof(Elf32_Ehdr, field))
#define PH(i, field) \
    (ph(i) + (is64 ? offsetof(Elf64_Phdr, field) : offsetof(Elf32_Phdr, field)))

    std::uint64_t data_offset(std::size_t i) const {
        std::uint64_t off = ph(segs.size());
        for (std::size_t j = 0; j < i; ++j) off += segs[j].filesz;
        return off;
    }

    std::vector<std::uint8_t> build() const {
        std::vector<std::uint8_t> img(data_offset(segs.size()), 0);
        img[EI_MAG0] = ELFMAG0;
        img[EI_MAG1] = ELFMAG1;
        img[EI_MAG2] = ELFMAG2;
        img[EI_MAG3] = ELFMAG3;
        img[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
        img[EI_DATA] = ELFDATA2LSB;
        img[EI_VERSION] = EV_CURRENT;
        put<std::uint16_t>(img, EH(e_type), ET_EXEC);
        put<std::uint16_t>(img, EH(e_machine), is64 ? EM_X86_64 : EM_386);
        put<std::uint32_t>(img, EH(e_version), EV_CURRENT);
        put<std::uint16_t>(img, EH(e_ehsize), static_cast<std::uint16_t>(ehsize()));
        put<std::uint16_t>(img, EH(e_phentsize), static_cast<std::uint16_t>(phentsize()));
        put<std::uint16_t>(img, EH(e_phnum), static_cast<std::uint16_t>(segs.size()));
        set_entry(img, entry);
        set_phoff(img, phoff());
        for (std::size_t i = 0; i < segs.size(); ++i) {
            const Seg& s = segs[i];
            put<std::uint32_t>(img, PH(i, p_type), s.type);
            put<std::uint32_t>(img, PH(i, p_flags), s.flags);
            set_ph(img, i, Field::Offset, data_offset(i));
            set_ph(img, i, Field::Vaddr, s.vaddr);
            set_ph(img, i, Field::Paddr, s.paddr);
            set_ph(img, i, Field::Filesz, s.filesz);
            set_ph(img, i, Field::Memsz, s.memsz);
            const std::uint64_t base = data_offset(i);
            for (std::uint64_t k = 0; k < s.filesz; ++k) img[base + k] = pattern(i, k);
        }
        return img;
    }

    // Width-aware setters for the address-sized fields.
    void set_word(std::vector<std::uint8_t>& img, std::size_t off, std::uint64_t v) const {
        if (is64) put<std::uint64_t>(img, off, v);
        else put<std::uint32_t>(img, off, static_cast<std::uint32_t>(v));
    }
    void set_entry(std::vector<std::uint8_t>& img, std::uint64_t v) const {
        set_word(img, EH(e_entry), v);
    }
    void set_phoff(std::vector<std::uint8_t>& img, std::uint64_t v) const {
        set_word(img, EH(e_phoff), v);
    }
    enum class Field { Offset, Vaddr, Paddr, Filesz, Memsz };
    void set_ph(std::vector<std::uint8_t>& img, std::size_t i, Field f, std::uint64_t v) const {
        switch (f) {
            case Field::Offset: set_word(img, PH(i, p_offset), v); break;
            case Field::Vaddr: set_word(img, PH(i, p_vaddr), v); break;
            case Field::Paddr: set_word(img, PH(i, p_paddr), v); break;
            case Field::Filesz: set_word(img, PH(i, p_filesz), v); break;
            case Field::Memsz: set_word(img, PH(i, p_memsz), v); break;
        }
    }
};

#undef EH
#undef PH

// A typical two-segment image: text (file-backed) and data+bss.
Elf two_segments(bool is64) {
    Elf e;
    e.is64 = is64;
    e.entry = 0x100010;
    e.segs = {Seg{PT_LOAD, 0x100000, 0x100000, 0x40, 0x40, PF_R | PF_X},
              Seg{PT_LOAD, 0x101000, 0x101000, 0x20, 0x200, PF_R | PF_W}};
    return e;
}

// ---------------------------------------------------------------------------
// Error assertions.

std::string parse_error(const std::vector<std::uint8_t>& img, std::uint64_t ram = kRam) {
    try {
        parse_elf(img, kName, ram);
    } catch (const ImageError& e) {
        return e.what();
    }
    return "<parse_elf did not throw>";
}

::testing::AssertionResult ContainsFmt(const char* s_expr, const char* sub_expr,
                                       const std::string& s, const std::string& sub) {
    if (s.find(sub) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << s_expr << " is \"" << s << "\"\nwhich does not contain "
                                         << sub_expr << " (\"" << sub << "\")";
}
#define EXPECT_CONTAINS(s, sub) EXPECT_PRED_FORMAT2(ContainsFmt, s, sub)

// The message names the file first, then the given problem.
#define EXPECT_PARSE_ERROR(img, problem)                        \
    do {                                                        \
        const std::string msg_ = parse_error(img);              \
        EXPECT_CONTAINS(msg_, kName + ": ");                    \
        EXPECT_EQ(msg_.rfind(kName + ": ", 0), 0u) << msg_;     \
        EXPECT_CONTAINS(msg_, problem);                         \
    } while (0)

// ---------------------------------------------------------------------------
// Valid images.

void expect_loaded(const GuestImage& img, const std::vector<std::uint8_t>& file,
                   const Elf& e) {
    GuestMemory mem(2ull << 20);
    mem.fill(0, mem.size(), 0xAA);  // dirty RAM: bss must still come out zero
    load_image(img, file, mem);
    for (std::size_t i = 0; i < e.segs.size(); ++i) {
        const Seg& s = e.segs[i];
        for (std::uint64_t k = 0; k < s.filesz; ++k)
            ASSERT_EQ(mem.read8(s.paddr + k), pattern(i, k)) << "segment " << i << " byte " << k;
        for (std::uint64_t k = s.filesz; k < s.memsz; ++k)
            ASSERT_EQ(mem.read8(s.paddr + k), 0) << "segment " << i << " bss byte " << k;
        // Nothing written past memsz (unless another segment starts right there).
        const std::uint64_t after = s.paddr + s.memsz;
        bool other = false;
        for (const Seg& t : e.segs)
            if (t.type == PT_LOAD && after >= t.paddr && after - t.paddr < t.memsz) other = true;
        if (!other) {
            EXPECT_EQ(mem.read8(after), 0xAA) << "segment " << i;
        }
    }
    EXPECT_EQ(mem.read8(0), 0xAA);
}

TEST(ElfLoader, Elf64ParsesAndLoads) {
    const Elf e = two_segments(true);
    const auto file = e.build();
    const GuestImage img = parse_elf(file, kName, kRam);
    EXPECT_EQ(img.name, kName);
    EXPECT_EQ(img.image_class, ImageClass::Elf64);
    EXPECT_EQ(img.entry, 0x100010u);
    ASSERT_EQ(img.segments.size(), 2u);
    EXPECT_EQ(img.segments[0].paddr, 0x100000u);
    EXPECT_EQ(img.segments[0].offset, e.data_offset(0));
    EXPECT_EQ(img.segments[0].filesz, 0x40u);
    EXPECT_EQ(img.segments[0].memsz, 0x40u);
    EXPECT_EQ(img.segments[0].flags, std::uint32_t{PF_R | PF_X});
    EXPECT_EQ(img.segments[1].paddr, 0x101000u);
    EXPECT_EQ(img.segments[1].filesz, 0x20u);
    EXPECT_EQ(img.segments[1].memsz, 0x200u);
    EXPECT_EQ(img.segments[1].flags, std::uint32_t{PF_R | PF_W});
    expect_loaded(img, file, e);
}

TEST(ElfLoader, Elf32ParsesAndLoads) {
    const Elf e = two_segments(false);
    const auto file = e.build();
    ASSERT_EQ(file.size(), sizeof(Elf32_Ehdr) + 2 * sizeof(Elf32_Phdr) + 0x60);
    const GuestImage img = parse_elf(file, kName, kRam);
    EXPECT_EQ(img.image_class, ImageClass::Elf32);
    EXPECT_EQ(img.entry, 0x100010u);
    ASSERT_EQ(img.segments.size(), 2u);
    EXPECT_EQ(img.segments[1].offset, e.data_offset(1));
    EXPECT_EQ(img.segments[1].memsz, 0x200u);
    expect_loaded(img, file, e);
}

TEST(ElfLoader, HigherHalfEntryMatchesByVaddr) {
    Elf e = two_segments(true);
    e.segs[0].vaddr = 0xffffffff80100000ull;
    e.entry = 0xffffffff80100008ull;
    const GuestImage img = parse_elf(e.build(), kName, kRam);
    EXPECT_EQ(img.entry, 0xffffffff80100008ull);
    EXPECT_EQ(img.segments[0].vaddr, 0xffffffff80100000ull);
    EXPECT_EQ(img.segments[0].paddr, 0x100000u);
}

TEST(ElfLoader, EntryMatchesByPaddr) {
    Elf e = two_segments(false);
    e.segs[0].vaddr = 0xc0100000;
    e.entry = 0x100004;  // physical address of the text
    EXPECT_EQ(parse_elf(e.build(), kName, kRam).entry, 0x100004u);
}

TEST(ElfLoader, SkipsNonLoadAndEmptyLoadSegments) {
    Elf e = two_segments(true);
    e.segs.insert(e.segs.begin(), Seg{PT_NOTE, 0x9999000, 0, 0x8, 0x8, PF_R});
    e.segs.push_back(Seg{PT_LOAD, 0x7fff0000, 0x7fff0000, 0, 0, PF_R});  // memsz 0, outside RAM
    e.segs.push_back(Seg{PT_GNU_STACK, 0, 0, 0, 0, PF_R | PF_W});
    const auto file = e.build();
    const GuestImage img = parse_elf(file, kName, kRam);
    ASSERT_EQ(img.segments.size(), 2u);
    EXPECT_EQ(img.segments[0].paddr, 0x100000u);
    EXPECT_EQ(img.segments[1].paddr, 0x101000u);
}

TEST(ElfLoader, SegmentsKeepFileOrderAndMayTouch) {
    Elf e;
    e.entry = 0x2000;
    e.segs = {Seg{PT_LOAD, 0x3000, 0x3000, 0x10, 0x1000, PF_R},
              Seg{PT_LOAD, 0x2000, 0x2000, 0x10, 0x1000, PF_R | PF_X}};  // ends where 0 starts
    const auto file = e.build();
    const GuestImage img = parse_elf(file, kName, kRam);
    ASSERT_EQ(img.segments.size(), 2u);
    EXPECT_EQ(img.segments[0].paddr, 0x3000u);
    EXPECT_EQ(img.segments[1].paddr, 0x2000u);
    expect_loaded(img, file, e);
}

TEST(ElfLoader, SegmentEndingExactlyAtRamEndIsValid) {
    for (bool is64 : {true, false}) {
        Elf e;
        e.is64 = is64;
        e.entry = kRam - 0x1000;
        e.segs = {Seg{PT_LOAD, kRam - 0x1000, kRam - 0x1000, 0x10, 0x1000, PF_R | PF_X}};
        const GuestImage img = parse_elf(e.build(), kName, kRam);
        ASSERT_EQ(img.segments.size(), 1u);
        EXPECT_EQ(img.segments[0].paddr + img.segments[0].memsz, kRam);
    }
}

TEST(ElfLoader, EntryAtLastByteOfSegmentIsValid) {
    Elf e = two_segments(true);
    e.entry = 0x10003f;
    EXPECT_EQ(parse_elf(e.build(), kName, kRam).entry, 0x10003fu);
}

// ---------------------------------------------------------------------------
// Malformed headers.

TEST(ElfLoaderErrors, EmptyFile) {
    EXPECT_PARSE_ERROR(std::vector<std::uint8_t>{}, "empty file");
}

TEST(ElfLoaderErrors, BadMagic) {
    auto f = two_segments(true).build();
    f[1] = 'X';
    EXPECT_PARSE_ERROR(f, "not an ELF file (bad magic)");
    EXPECT_PARSE_ERROR((std::vector<std::uint8_t>{'M', 'Z'}), "not an ELF file (bad magic)");
    EXPECT_PARSE_ERROR((std::vector<std::uint8_t>{'#', '!', '/', 'b', 'i', 'n'}),
                       "not an ELF file (bad magic)");
}

TEST(ElfLoaderErrors, TruncatedIdent) {
    auto f = two_segments(true).build();
    f.resize(3);  // "\x7fEL": a prefix of the magic
    EXPECT_PARSE_ERROR(f, "file is truncated");
    f = two_segments(true).build();
    f.resize(10);
    EXPECT_PARSE_ERROR(f, "file is truncated: the ELF identification is 16 bytes");
}

TEST(ElfLoaderErrors, TruncatedElf64Header) {
    auto f = two_segments(true).build();
    f.resize(40);
    EXPECT_PARSE_ERROR(f, "file is truncated: the ELF64 header is 64 bytes but the file has only 40");
}

TEST(ElfLoaderErrors, TruncatedElf32Header) {
    auto f = two_segments(false).build();
    f.resize(51);
    EXPECT_PARSE_ERROR(f, "file is truncated: the ELF32 header is 52 bytes but the file has only 51");
}

TEST(ElfLoaderErrors, ClassNone) {
    auto f = two_segments(true).build();
    f[EI_CLASS] = ELFCLASSNONE;
    EXPECT_PARSE_ERROR(f, "invalid ELF class 0 (ELFCLASSNONE)");
}

TEST(ElfLoaderErrors, BadClass) {
    auto f = two_segments(true).build();
    f[EI_CLASS] = 7;
    EXPECT_PARSE_ERROR(f, "invalid ELF class 7");
}

TEST(ElfLoaderErrors, BigEndian) {
    auto f = two_segments(true).build();
    f[EI_DATA] = ELFDATA2MSB;
    EXPECT_PARSE_ERROR(f, "big-endian ELF");
}

TEST(ElfLoaderErrors, BadDataEncoding) {
    auto f = two_segments(false).build();
    f[EI_DATA] = ELFDATANONE;
    EXPECT_PARSE_ERROR(f, "invalid ELF data encoding 0");
}

TEST(ElfLoaderErrors, BadIdentVersion) {
    auto f = two_segments(true).build();
    f[EI_VERSION] = 2;
    EXPECT_PARSE_ERROR(f, "unsupported ELF version 2 in e_ident");
}

TEST(ElfLoaderErrors, BadHeaderVersion) {
    const Elf e = two_segments(true);
    auto f = e.build();
    put<std::uint32_t>(f, offsetof(Elf64_Ehdr, e_version), 0);
    EXPECT_PARSE_ERROR(f, "unsupported ELF version 0 in e_version");
}

TEST(ElfLoaderErrors, SharedObjectIsNotAnExecutable) {
    auto f = two_segments(true).build();
    put<std::uint16_t>(f, offsetof(Elf64_Ehdr, e_type), ET_DYN);
    EXPECT_PARSE_ERROR(f, "not an executable (e_type 3, ET_DYN): link the guest with -static -no-pie");
}

TEST(ElfLoaderErrors, RelocatableIsNotAnExecutable) {
    auto f = two_segments(false).build();
    put<std::uint16_t>(f, offsetof(Elf32_Ehdr, e_type), ET_REL);
    EXPECT_PARSE_ERROR(f, "not an executable (e_type 1, ET_REL");
}

TEST(ElfLoaderErrors, CoreIsNotAnExecutable) {
    auto f = two_segments(true).build();
    put<std::uint16_t>(f, offsetof(Elf64_Ehdr, e_type), ET_CORE);
    EXPECT_PARSE_ERROR(f, "not an executable (e_type 4, ET_CORE");
}

TEST(ElfLoaderErrors, Elf64WithEm386) {
    auto f = two_segments(true).build();
    put<std::uint16_t>(f, offsetof(Elf64_Ehdr, e_machine), EM_386);
    EXPECT_PARSE_ERROR(f, "ELFCLASS64 file has machine EM_386");
}

TEST(ElfLoaderErrors, Elf32WithEmX86_64) {
    auto f = two_segments(false).build();
    put<std::uint16_t>(f, offsetof(Elf32_Ehdr, e_machine), EM_X86_64);
    EXPECT_PARSE_ERROR(f, "ELFCLASS32 file has machine EM_X86_64");
}

TEST(ElfLoaderErrors, ForeignMachine) {
    auto f = two_segments(true).build();
    put<std::uint16_t>(f, offsetof(Elf64_Ehdr, e_machine), EM_AARCH64);
    EXPECT_PARSE_ERROR(f, "ELF64 file has machine 183 (EM_AARCH64); kvmgdb runs x86 guests "
                          "(EM_386 or EM_X86_64)");
    f = two_segments(false).build();
    put<std::uint16_t>(f, offsetof(Elf32_Ehdr, e_machine), EM_ARM);
    EXPECT_PARSE_ERROR(f, "ELF32 file has machine 40 (EM_ARM)");
    put<std::uint16_t>(f, offsetof(Elf32_Ehdr, e_machine), 0x1234);
    EXPECT_PARSE_ERROR(f, "ELF32 file has machine 4660;");
}

TEST(ElfLoaderErrors, BadEhsize) {
    auto f = two_segments(true).build();
    put<std::uint16_t>(f, offsetof(Elf64_Ehdr, e_ehsize), 52);
    EXPECT_PARSE_ERROR(f, "e_ehsize is 52, expected 64 for ELF64");
}

TEST(ElfLoaderErrors, BadPhentsize) {
    auto f = two_segments(true).build();
    put<std::uint16_t>(f, offsetof(Elf64_Ehdr, e_phentsize), 32);
    EXPECT_PARSE_ERROR(f, "e_phentsize is 32, expected 56 for ELF64");
    f = two_segments(false).build();
    put<std::uint16_t>(f, offsetof(Elf32_Ehdr, e_phentsize), 56);
    EXPECT_PARSE_ERROR(f, "e_phentsize is 56, expected 32 for ELF32");
}

TEST(ElfLoaderErrors, NoProgramHeaders) {
    auto f = two_segments(true).build();
    put<std::uint16_t>(f, offsetof(Elf64_Ehdr, e_phnum), 0);
    EXPECT_PARSE_ERROR(f, "no PT_LOAD segment");
}

TEST(ElfLoaderErrors, ExtendedPhnum) {
    auto f = two_segments(true).build();
    put<std::uint16_t>(f, offsetof(Elf64_Ehdr, e_phnum), PN_XNUM);
    EXPECT_PARSE_ERROR(f, "PN_XNUM");
}

TEST(ElfLoaderErrors, ProgramHeaderTablePastEof) {
    Elf e;
    e.segs = {Seg{PT_LOAD, 0x1000, 0x1000, 0, 0x10, PF_R}};
    e.entry = 0x1000;
    auto f = e.build();
    f.resize(0x50);
    EXPECT_PARSE_ERROR(f, "file is truncated: program header table [0x40, +0x38) extends past "
                          "end of file (0x50 bytes)");
}

TEST(ElfLoaderErrors, ProgramHeaderTableOffsetPastEof) {
    const Elf e = two_segments(false);
    auto f = e.build();
    e.set_phoff(f, 0xfffffff0);
    EXPECT_PARSE_ERROR(f, "file is truncated: program header table [0xfffffff0, +0x40)");
}

TEST(ElfLoaderErrors, ProgramHeaderTableOverflows) {
    const Elf e = two_segments(true);
    auto f = e.build();
    e.set_phoff(f, 0xffffffffffffffc0ull);
    EXPECT_PARSE_ERROR(f, "program header table offset 0xffffffffffffffc0 + size 0x70 overflows");
}

// ---------------------------------------------------------------------------
// Malformed segments.

TEST(ElfLoaderErrors, SegmentFileRangePastEof) {
    const Elf e = two_segments(true);
    auto f = e.build();
    e.set_ph(f, 1, Elf::Field::Filesz, 0x21);  // one byte more than the file has
    ASSERT_EQ(e.data_offset(1), 0xf0u);  // 64 + 2 * 56 + 0x40
    EXPECT_PARSE_ERROR(f, "file is truncated: segment 1 file range [0xf0, +0x21) extends past "
                          "end of file (0x110 bytes)");
}

TEST(ElfLoaderErrors, SegmentFileOffsetPastEof) {
    const Elf e = two_segments(false);
    auto f = e.build();
    e.set_ph(f, 0, Elf::Field::Offset, 0x100000);
    EXPECT_PARSE_ERROR(f, "file is truncated: segment 0 file range [0x100000, +0x40)");
}

TEST(ElfLoaderErrors, SegmentFileRangeOverflows) {
    const Elf e = two_segments(true);
    auto f = e.build();
    e.set_ph(f, 0, Elf::Field::Offset, 0xffffffffffffff00ull);
    e.set_ph(f, 0, Elf::Field::Filesz, 0x200);
    e.set_ph(f, 0, Elf::Field::Memsz, 0x200);
    EXPECT_PARSE_ERROR(f, "segment 0 file range: p_offset 0xffffffffffffff00 + p_filesz 0x200 "
                          "overflows");
}

TEST(ElfLoaderErrors, FileszLargerThanMemsz) {
    // Both classes (the check is on the widened header), a segment a byte too small
    // and one with p_memsz 0 (which would otherwise be skipped as empty).
    for (bool is64 : {true, false}) {
        SCOPED_TRACE(is64 ? "ELF64" : "ELF32");
        const Elf e = two_segments(is64);
        auto f = e.build();
        e.set_ph(f, 1, Elf::Field::Memsz, 0x10);
        EXPECT_PARSE_ERROR(f, "segment 1 has p_filesz 0x20 larger than p_memsz 0x10");
        f = e.build();
        e.set_ph(f, 0, Elf::Field::Memsz, 0x3f);
        EXPECT_PARSE_ERROR(f, "segment 0 has p_filesz 0x40 larger than p_memsz 0x3f");
        f = e.build();
        e.set_ph(f, 1, Elf::Field::Memsz, 0);
        EXPECT_PARSE_ERROR(f, "segment 1 has p_filesz 0x20 larger than p_memsz 0x0");
    }
}

TEST(ElfLoaderErrors, SegmentOutsideRam) {
    Elf e = two_segments(true);
    e.segs[1].paddr = kRam;
    e.segs[1].memsz = 0x1000;
    EXPECT_PARSE_ERROR(e.build(), "segment 1 [0x4000000, +0x1000) lies outside guest RAM (64 MiB)");
}

TEST(ElfLoaderErrors, SegmentStraddlesRamEnd) {
    Elf e = two_segments(false);
    e.segs[1].paddr = kRam - 0x100;
    e.segs[1].memsz = 0x101;
    EXPECT_PARSE_ERROR(e.build(), "segment 1 [0x3ffff00, +0x101) lies outside guest RAM (64 MiB)");
}

TEST(ElfLoaderErrors, SegmentOutsideSmallRamSaysKiB) {
    Elf e = two_segments(true);
    const std::string msg = parse_error(e.build(), 640 * 1024);
    EXPECT_CONTAINS(msg, "guest.elf: segment 0 [0x100000, +0x40) lies outside guest RAM (640 KiB)");
}

TEST(ElfLoaderErrors, SegmentAddressWraps64) {
    Elf e = two_segments(true);
    e.segs[1].paddr = 0xfffffffffffff000ull;
    e.segs[1].memsz = 0x2000;
    EXPECT_PARSE_ERROR(e.build(), "segment 1 [0xfffffffffffff000, +0x2000) wraps around");
}

TEST(ElfLoaderErrors, Elf32SegmentPast4GiB) {
    Elf e = two_segments(false);
    e.segs[1].paddr = 0xfffff000;
    e.segs[1].memsz = 0x2000;
    const std::string msg = parse_error(e.build(), 8ull << 30);
    EXPECT_CONTAINS(msg, "guest.elf: segment 1 [0xfffff000, +0x2000) extends past 4 GiB");
}

TEST(ElfLoaderErrors, NoLoadSegment) {
    Elf e;
    e.entry = 0x1000;
    e.segs = {Seg{PT_NOTE, 0x1000, 0x1000, 0x10, 0x10, PF_R},
              Seg{PT_GNU_STACK, 0, 0, 0, 0, PF_R | PF_W}};
    EXPECT_PARSE_ERROR(e.build(), "no PT_LOAD segment");
}

TEST(ElfLoaderErrors, OnlyEmptyLoadSegments) {
    Elf e;
    e.is64 = false;
    e.entry = 0x1000;
    e.segs = {Seg{PT_LOAD, 0x1000, 0x1000, 0, 0, PF_R}, Seg{PT_LOAD, 0x2000, 0x2000, 0, 0, PF_R}};
    EXPECT_PARSE_ERROR(e.build(), "no PT_LOAD segment with non-zero p_memsz");
}

TEST(ElfLoaderErrors, EntryOutsideSegments) {
    Elf e = two_segments(true);
    e.entry = 0x100040;  // one past the end of segment 0; segment 1 starts at 0x101000
    EXPECT_PARSE_ERROR(e.build(), "entry point 0x100040 is not inside any loaded segment");
    e.entry = 0;
    EXPECT_PARSE_ERROR(e.build(), "entry point 0x0 is not inside any loaded segment");
}

TEST(ElfLoaderErrors, EntryInsideOnlyASkippedSegment) {
    Elf e = two_segments(false);
    e.segs.push_back(Seg{PT_NOTE, 0x200000, 0x200000, 0x10, 0x10, PF_R});
    e.entry = 0x200000;
    EXPECT_PARSE_ERROR(e.build(), "entry point 0x200000 is not inside any loaded segment");
}

TEST(ElfLoaderErrors, OverlappingSegments) {
    Elf e = two_segments(true);
    e.segs[1].paddr = 0x100020;  // inside segment 0's [0x100000, 0x100040)
    EXPECT_PARSE_ERROR(e.build(), "segments 0 and 1 overlap at 0x100020");
}

TEST(ElfLoaderErrors, OverlappingSegmentsOutOfOrder) {
    Elf e;
    e.is64 = false;
    e.entry = 0x1000;
    e.segs = {Seg{PT_LOAD, 0x8000, 0x8000, 0, 0x1000, PF_R},
              Seg{PT_LOAD, 0x1000, 0x1000, 0x10, 0x10, PF_R | PF_X},
              Seg{PT_LOAD, 0x7000, 0x7000, 0, 0x1001, PF_R}};  // its last byte is 0x8000
    EXPECT_PARSE_ERROR(e.build(), "segments 0 and 2 overlap at 0x8000");
}

TEST(ElfLoaderErrors, IdenticalSegments) {
    Elf e = two_segments(true);
    e.segs[1] = e.segs[0];
    EXPECT_PARSE_ERROR(e.build(), "segments 0 and 1 overlap at 0x100000");
}

// ---------------------------------------------------------------------------
// Raw images.

TEST(RawImage, LoadsAtLoadAddress) {
    std::vector<std::uint8_t> file(0x123);
    for (std::size_t k = 0; k < file.size(); ++k) file[k] = pattern(5, k);
    const GuestImage img = make_raw_image(file, "boot.bin", kRam, 0x7c00, 0x7c00);
    EXPECT_EQ(img.image_class, ImageClass::Raw);
    EXPECT_EQ(img.name, "boot.bin");
    EXPECT_EQ(img.entry, 0x7c00u);
    ASSERT_EQ(img.segments.size(), 1u);
    EXPECT_EQ(img.segments[0].paddr, 0x7c00u);
    EXPECT_EQ(img.segments[0].offset, 0u);
    EXPECT_EQ(img.segments[0].filesz, 0x123u);
    EXPECT_EQ(img.segments[0].memsz, 0x123u);

    GuestMemory mem(1ull << 20);
    mem.fill(0, mem.size(), 0xAA);
    load_image(img, file, mem);
    for (std::size_t k = 0; k < file.size(); ++k) ASSERT_EQ(mem.read8(0x7c00 + k), file[k]);
    EXPECT_EQ(mem.read8(0x7c00 - 1), 0xAA);
    EXPECT_EQ(mem.read8(0x7c00 + 0x123), 0xAA);
}

TEST(RawImage, EndingExactlyAtRamEndIsValid) {
    const std::vector<std::uint8_t> file(0x1000, 0x90);
    const GuestImage img = make_raw_image(file, "r.bin", kRam, kRam - 0x1000, kRam - 1);
    EXPECT_EQ(img.entry, kRam - 1);
}

std::string raw_error(const std::vector<std::uint8_t>& file, std::uint64_t load,
                      std::uint64_t entry) {
    try {
        make_raw_image(file, "r.bin", kRam, load, entry);
    } catch (const ImageError& e) {
        return e.what();
    }
    return "<make_raw_image did not throw>";
}

TEST(RawImage, Errors) {
    const std::vector<std::uint8_t> file(0x200, 0xf4);
    EXPECT_CONTAINS(raw_error({}, 0x1000, 0x1000), "r.bin: empty file");
    EXPECT_CONTAINS(raw_error(file, kRam - 0x100, kRam - 0x100),
                    "r.bin: image [0x3ffff00, +0x200) lies outside guest RAM (64 MiB)");
    EXPECT_CONTAINS(raw_error(file, 0xffffffffffffff00ull, 0xffffffffffffff00ull),
                    "r.bin: image [0xffffffffffffff00, +0x200) wraps around");
    EXPECT_CONTAINS(raw_error(file, 0x1000, 0x1200),
                    "r.bin: entry point 0x1200 is not inside the image [0x1000, +0x200)");
    EXPECT_CONTAINS(raw_error(file, 0x1000, 0xfff),
                    "r.bin: entry point 0xfff is not inside the image");
}

// ---------------------------------------------------------------------------
// load_image defends against a file or RAM that does not match the parse.

TEST(LoadImage, RejectsMismatchedFileOrRam) {
    const Elf e = two_segments(true);
    const auto file = e.build();
    const GuestImage img = parse_elf(file, kName, kRam);
    GuestMemory mem(1ull << 20);  // segments sit at 1 MiB: just past this RAM
    try {
        load_image(img, file, mem);
        ADD_FAILURE() << "load_image did not throw";
    } catch (const ImageError& err) {
        EXPECT_CONTAINS(std::string(err.what()), "guest.elf: segment [0x100000, +0x40) lies outside guest RAM (1 MiB)");
    }
    GuestMemory big(2ull << 20);
    const std::vector<std::uint8_t> shorter(file.begin(), file.end() - 1);
    try {
        load_image(img, shorter, big);
        ADD_FAILURE() << "load_image did not throw";
    } catch (const ImageError& err) {
        EXPECT_CONTAINS(std::string(err.what()), "are not inside the file");
    }
}

TEST(LoadImage, RejectsASegmentWithMoreFileBytesThanMemory) {
    // A GuestImage that did not come from parse_elf: copying filesz bytes into a
    // memsz-byte segment would write past it, and memsz - filesz would wrap.
    const Elf e = two_segments(false);
    const auto file = e.build();
    GuestImage img = parse_elf(file, kName, kRam);
    img.segments[1].memsz = 0x10;  // filesz is 0x20
    GuestMemory mem(2ull << 20);
    mem.fill(0, mem.size(), 0xAA);
    try {
        load_image(img, file, mem);
        ADD_FAILURE() << "load_image did not throw";
    } catch (const ImageError& err) {
        EXPECT_CONTAINS(std::string(err.what()), "guest.elf: segment [0x101000, +0x10) is smaller than its 0x20 file bytes");
    }
    // Checked before anything is copied: no segment was written.
    EXPECT_EQ(mem.read8(0x100000), 0xAA);
    EXPECT_EQ(mem.read8(0x101000), 0xAA);
}

// ---------------------------------------------------------------------------
// read_file.

std::string read_error(const std::string& path) {
    try {
        read_file(path);
    } catch (const ImageError& e) {
        return e.what();
    }
    return "<read_file did not throw>";
}

TEST(ReadFile, MissingFile) {
    const std::string path = "/nonexistent-kvmgdb-dir/missing.elf";
    const std::string msg = read_error(path);
    EXPECT_CONTAINS(msg, path + ": ");
    EXPECT_CONTAINS(msg, "No such file");
}

TEST(ReadFile, Directory) {
    EXPECT_CONTAINS(read_error("/"), "/: Is a directory");
}

TEST(ReadFile, FifoIsRefusedWithoutBlocking) {
    // No writer ever opens this FIFO: a blocking open would hang here for good.
    char dir[] = "/tmp/kvmgdb_elf_test_XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string path = std::string(dir) + "/guest.fifo";
    ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
    const std::string msg = read_error(path);
    ::unlink(path.c_str());
    ::rmdir(dir);
    EXPECT_EQ(msg, path + ": not a regular file (a FIFO)");
}

TEST(ReadFile, CharacterDeviceIsRefused) {
    // /dev/zero would otherwise be read until the 4 GiB limit.
    EXPECT_EQ(read_error("/dev/zero"), "/dev/zero: not a regular file (a character device)");
}

TEST(ReadFile, ReadsWholeFile) {
    char tmpl[] = "/tmp/kvmgdb_elf_test_XXXXXX";
    const int fd = ::mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    std::vector<std::uint8_t> data(200000);
    for (std::size_t k = 0; k < data.size(); ++k) data[k] = pattern(k % 7, k);
    ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ::close(fd);
    const auto got = read_file(tmpl);
    ::unlink(tmpl);
    EXPECT_EQ(got, data);
}

TEST(ReadFile, EmptyFileReadsEmptyThenParseRejects) {
    char tmpl[] = "/tmp/kvmgdb_elf_test_XXXXXX";
    const int fd = ::mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    ::close(fd);
    const auto got = read_file(tmpl);
    ::unlink(tmpl);
    EXPECT_TRUE(got.empty());
    EXPECT_CONTAINS(parse_error(got), "guest.elf: empty file");
}

}  // namespace
}  // namespace kvmgdb
