#include "loader/elf_loader.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <type_traits>

#include "util/hex.hpp"

namespace kvmgdb {

namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::uint64_t GiB = 1024 * MiB;
constexpr std::uint64_t kMaxFileSize = 4 * GiB;

std::string dec(std::uint64_t v) {
    return std::to_string(v);
}

// "64 MiB", "640 KiB", "2 GiB"; falls back to hex bytes when not a round size.
std::string human_size(std::uint64_t v) {
    if (v != 0 && v % GiB == 0) return dec(v / GiB) + " GiB";
    if (v != 0 && v % MiB == 0) return dec(v / MiB) + " MiB";
    if (v != 0 && v % KiB == 0) return dec(v / KiB) + " KiB";
    return hex(v) + " bytes";
}

// "[0x1000, +0x200)"
std::string range(std::uint64_t start, std::uint64_t len) {
    return "[" + hex(start) + ", +" + hex(len) + ")";
}

[[noreturn]] void fail(const std::string& name, const std::string& problem) {
    throw ImageError(name + ": " + problem);
}

[[noreturn]] void fail_errno(const std::string& path, int err) {
    fail(path, std::generic_category().message(err));
}

const char* machine_name(unsigned m) {
    switch (m) {
        case EM_NONE: return "EM_NONE";
        case EM_SPARC: return "EM_SPARC";
        case EM_386: return "EM_386";
        case EM_MIPS: return "EM_MIPS";
        case EM_PPC: return "EM_PPC";
        case EM_PPC64: return "EM_PPC64";
        case EM_S390: return "EM_S390";
        case EM_ARM: return "EM_ARM";
        case EM_IA_64: return "EM_IA_64";
        case EM_X86_64: return "EM_X86_64";
        case EM_AARCH64: return "EM_AARCH64";
        case EM_RISCV: return "EM_RISCV";
        case 258: return "EM_LOONGARCH";
        default: return nullptr;
    }
}

std::string describe_machine(unsigned m) {
    const char* n = machine_name(m);
    return n ? dec(m) + " (" + n + ")" : dec(m);
}

std::string describe_type(unsigned t) {
    switch (t) {
        case ET_NONE: return "e_type 0, ET_NONE";
        case ET_REL: return "e_type 1, ET_REL: an object file, not linked";
        case ET_DYN: return "e_type 3, ET_DYN";
        case ET_CORE: return "e_type 4, ET_CORE: a core dump";
        default: return "e_type " + dec(t);
    }
}

// Field-width-independent view of a program header.
struct Phdr {
    std::uint32_t type;
    std::uint32_t flags;
    std::uint64_t offset;
    std::uint64_t vaddr;
    std::uint64_t paddr;
    std::uint64_t filesz;
    std::uint64_t memsz;
};

Phdr widen(const Elf32_Phdr& p) {
    return {p.p_type, p.p_flags, p.p_offset, p.p_vaddr, p.p_paddr, p.p_filesz, p.p_memsz};
}
Phdr widen(const Elf64_Phdr& p) {
    return {p.p_type, p.p_flags, p.p_offset, p.p_vaddr, p.p_paddr, p.p_filesz, p.p_memsz};
}

template <typename T>
T copy_out(std::span<const std::uint8_t> file, std::uint64_t offset) {
    // Callers have bounds-checked [offset, offset + sizeof(T)); memcpy avoids aliasing
    // and alignment problems (the host is little-endian x86, like the image).
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    std::memcpy(&v, file.data() + offset, sizeof(T));
    return v;
}

// True when x lies in [start, start + len), without computing start + len.
bool in_range(std::uint64_t x, std::uint64_t start, std::uint64_t len) {
    return x >= start && x - start < len;
}

template <typename Ehdr, typename PhdrT>
GuestImage parse_class(std::span<const std::uint8_t> file, const std::string& name,
                       std::uint64_t ram_size, bool is64) {
    const char* cls = is64 ? "ELF64" : "ELF32";
    const std::uint64_t size = file.size();

    if (size < sizeof(Ehdr))
        fail(name, std::string("file is truncated: the ") + cls + " header is " +
                       dec(sizeof(Ehdr)) + " bytes but the file has only " + dec(size));
    const auto eh = copy_out<Ehdr>(file, 0);

    if (eh.e_version != EV_CURRENT)
        fail(name, "unsupported ELF version " + dec(eh.e_version) +
                       " in e_version (expected 1, EV_CURRENT)");

    if (eh.e_type != ET_EXEC) {
        std::string msg = "not an executable (" + describe_type(eh.e_type) + ")";
        if (eh.e_type == ET_DYN) msg += ": link the guest with -static -no-pie";
        else if (eh.e_type == ET_REL) msg += "; link it into an executable first";
        fail(name, msg);
    }

    const unsigned want = is64 ? EM_X86_64 : EM_386;
    if (eh.e_machine != want) {
        if (eh.e_machine == EM_386 || eh.e_machine == EM_X86_64)
            fail(name, std::string(is64 ? "ELFCLASS64" : "ELFCLASS32") + " file has machine " +
                           machine_name(eh.e_machine) + " (" +
                           (is64 ? "EM_386 code must be ELFCLASS32" :
                                   "EM_X86_64 code must be ELFCLASS64") + ")");
        fail(name, std::string(cls) + " file has machine " + describe_machine(eh.e_machine) +
                       "; kvmgdb runs x86 guests (EM_386 or EM_X86_64)");
    }

    if (eh.e_ehsize != sizeof(Ehdr))
        fail(name, "e_ehsize is " + dec(eh.e_ehsize) + ", expected " + dec(sizeof(Ehdr)) +
                       " for " + cls);

    if (eh.e_phnum == 0) fail(name, "no PT_LOAD segment (the file has no program headers)");
    if (eh.e_phnum == PN_XNUM)
        fail(name, "e_phnum is PN_XNUM (0xffff, extended program header numbering), "
                   "which is not supported");
    if (eh.e_phentsize != sizeof(PhdrT))
        fail(name, "e_phentsize is " + dec(eh.e_phentsize) + ", expected " +
                       dec(sizeof(PhdrT)) + " for " + cls);

    std::uint64_t table_size = 0;
    std::uint64_t table_end = 0;
    if (__builtin_mul_overflow(std::uint64_t{eh.e_phnum}, std::uint64_t{eh.e_phentsize},
                               &table_size) ||
        __builtin_add_overflow(std::uint64_t{eh.e_phoff}, table_size, &table_end))
        fail(name, "program header table offset " + hex(eh.e_phoff) + " + size " +
                       hex(table_size) + " overflows");
    if (table_end > size)
        fail(name, "file is truncated: program header table " + range(eh.e_phoff, table_size) +
                       " extends past end of file (" + hex(size) + " bytes)");

    GuestImage img;
    img.name = name;
    img.image_class = is64 ? ImageClass::Elf64 : ImageClass::Elf32;
    img.entry = eh.e_entry;

    std::vector<unsigned> index;  // program header index of each entry in img.segments
    bool saw_load = false;
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        const Phdr ph =
            widen(copy_out<PhdrT>(file, eh.e_phoff + std::uint64_t{i} * sizeof(PhdrT)));
        if (ph.type != PT_LOAD) continue;
        saw_load = true;
        const std::string seg = "segment " + dec(i);

        std::uint64_t file_end = 0;
        if (__builtin_add_overflow(ph.offset, ph.filesz, &file_end))
            fail(name, seg + " file range: p_offset " + hex(ph.offset) + " + p_filesz " +
                           hex(ph.filesz) + " overflows");
        if (file_end > size)
            fail(name, "file is truncated: " + seg + " file range " +
                           range(ph.offset, ph.filesz) + " extends past end of file (" +
                           hex(size) + " bytes)");
        if (ph.filesz > ph.memsz)
            fail(name, seg + " has p_filesz " + hex(ph.filesz) + " larger than p_memsz " +
                           hex(ph.memsz));
        if (ph.memsz == 0) continue;

        std::uint64_t mem_end = 0;
        if (__builtin_add_overflow(ph.paddr, ph.memsz, &mem_end))
            fail(name, seg + " " + range(ph.paddr, ph.memsz) +
                           " wraps around the end of the address space");
        if (!is64 && mem_end > (std::uint64_t{1} << 32))
            fail(name, seg + " " + range(ph.paddr, ph.memsz) +
                           " extends past 4 GiB, outside a 32-bit address space");
        if (mem_end > ram_size)
            fail(name, seg + " " + range(ph.paddr, ph.memsz) + " lies outside guest RAM (" +
                           human_size(ram_size) + ")");

        img.segments.push_back(LoadSegment{ph.paddr, ph.vaddr, ph.offset, ph.filesz, ph.memsz,
                                           ph.flags});
        index.push_back(i);
    }

    if (!saw_load) fail(name, "no PT_LOAD segment");
    if (img.segments.empty())
        fail(name, "no PT_LOAD segment with non-zero p_memsz (nothing to load)");

    // Overlap check in physical memory: sort by start; if any two overlap, some pair
    // adjacent in that order does.
    std::vector<std::size_t> order(img.segments.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return img.segments[a].paddr < img.segments[b].paddr;
    });
    for (std::size_t k = 1; k < order.size(); ++k) {
        const LoadSegment& a = img.segments[order[k - 1]];
        const LoadSegment& b = img.segments[order[k]];
        if (b.paddr - a.paddr < a.memsz) {  // b.paddr >= a.paddr by the sort
            const unsigned ia = std::min(index[order[k - 1]], index[order[k]]);
            const unsigned ib = std::max(index[order[k - 1]], index[order[k]]);
            fail(name, "segments " + dec(ia) + " and " + dec(ib) + " overlap at " +
                           hex(b.paddr) + " in guest-physical memory");
        }
    }

    const bool entry_ok = std::any_of(img.segments.begin(), img.segments.end(),
                                      [&](const LoadSegment& s) {
                                          return in_range(img.entry, s.vaddr, s.memsz) ||
                                                 in_range(img.entry, s.paddr, s.memsz);
                                      });
    if (!entry_ok)
        fail(name, "entry point " + hex(img.entry) + " is not inside any loaded segment");

    return img;
}

}  // namespace

GuestImage parse_elf(std::span<const std::uint8_t> file, const std::string& name,
                     std::uint64_t ram_size) {
    const std::uint64_t size = file.size();
    if (size == 0) fail(name, "empty file (0 bytes)");

    const std::uint64_t magic_len = std::min<std::uint64_t>(size, SELFMAG);
    if (std::memcmp(file.data(), ELFMAG, static_cast<std::size_t>(magic_len)) != 0)
        fail(name, "not an ELF file (bad magic)");
    if (size < EI_NIDENT)
        fail(name, "file is truncated: the ELF identification is " + dec(EI_NIDENT) +
                       " bytes but the file has only " + dec(size));

    const std::uint8_t cls = file[EI_CLASS];
    const std::uint8_t data = file[EI_DATA];
    const std::uint8_t version = file[EI_VERSION];

    if (cls == ELFCLASSNONE) fail(name, "invalid ELF class 0 (ELFCLASSNONE)");
    if (cls != ELFCLASS32 && cls != ELFCLASS64)
        fail(name, "invalid ELF class " + dec(cls) + " (expected ELFCLASS32 or ELFCLASS64)");
    if (data == ELFDATA2MSB)
        fail(name, "big-endian ELF (ELFDATA2MSB); x86 guests are little-endian");
    if (data != ELFDATA2LSB)
        fail(name, "invalid ELF data encoding " + dec(data) + " (expected ELFDATA2LSB)");
    if (version != EV_CURRENT)
        fail(name, "unsupported ELF version " + dec(version) +
                       " in e_ident (expected 1, EV_CURRENT)");

    if (cls == ELFCLASS64) return parse_class<Elf64_Ehdr, Elf64_Phdr>(file, name, ram_size, true);
    return parse_class<Elf32_Ehdr, Elf32_Phdr>(file, name, ram_size, false);
}

GuestImage make_raw_image(std::span<const std::uint8_t> file, const std::string& name,
                          std::uint64_t ram_size, std::uint64_t load_addr, std::uint64_t entry) {
    const std::uint64_t size = file.size();
    if (size == 0) fail(name, "empty file (0 bytes)");

    std::uint64_t end = 0;
    if (__builtin_add_overflow(load_addr, size, &end))
        fail(name, "image " + range(load_addr, size) +
                       " wraps around the end of the address space");
    if (end > ram_size)
        fail(name, "image " + range(load_addr, size) + " lies outside guest RAM (" +
                       human_size(ram_size) + ")");
    if (!in_range(entry, load_addr, size))
        fail(name, "entry point " + hex(entry) + " is not inside the image " +
                       range(load_addr, size));

    GuestImage img;
    img.name = name;
    img.image_class = ImageClass::Raw;
    img.entry = entry;
    img.segments.push_back(
        LoadSegment{load_addr, load_addr, 0, size, size, PF_R | PF_W | PF_X});
    return img;
}

void load_image(const GuestImage& image, std::span<const std::uint8_t> file, GuestMemory& mem) {
    // Re-check what parsing established, against this file and this RAM: a mismatch
    // is a caller bug, but it must not turn into a wild copy.
    for (std::size_t k = 0; k < image.segments.size(); ++k) {
        const LoadSegment& s = image.segments[k];
        std::uint64_t file_end = 0;
        if (__builtin_add_overflow(s.offset, s.filesz, &file_end) || file_end > file.size())
            fail(image.name, "segment bytes " + range(s.offset, s.filesz) +
                                 " are not inside the file (" + hex(file.size()) + " bytes)");
        if (s.filesz > s.memsz)
            fail(image.name, "segment " + range(s.paddr, s.memsz) + " is smaller than its " +
                                 hex(s.filesz) + " file bytes");
        if (!mem.contains(s.paddr, s.memsz))
            fail(image.name, "segment " + range(s.paddr, s.memsz) +
                                 " lies outside guest RAM (" + human_size(mem.size()) + ")");
    }
    for (const LoadSegment& s : image.segments) {
        mem.write(s.paddr, file.subspan(static_cast<std::size_t>(s.offset),
                                        static_cast<std::size_t>(s.filesz)));
        mem.fill(s.paddr + s.filesz, s.memsz - s.filesz, 0);
    }
}

namespace {

const char* file_kind(mode_t mode) {
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "an unusual file type";
}

}  // namespace

std::vector<std::uint8_t> read_file(const std::string& path) {
    // O_NONBLOCK: opening a FIFO with no writer must not hang kvmgdb; a FIFO or a
    // device is then refused below (it has no size, and /dev/zero never ends).
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) fail_errno(path, errno);

    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};

    struct stat st {};
    if (::fstat(fd, &st) != 0) fail_errno(path, errno);
    if (S_ISDIR(st.st_mode)) fail_errno(path, EISDIR);
    if (!S_ISREG(st.st_mode))
        fail(path, std::string("not a regular file (") + file_kind(st.st_mode) + ")");
    if (static_cast<std::uint64_t>(st.st_size) > kMaxFileSize)
        fail(path, "file is too large (" + dec(static_cast<std::uint64_t>(st.st_size)) +
                       " bytes; the limit is 4 GiB)");

    std::vector<std::uint8_t> out;
    out.reserve(static_cast<std::size_t>(st.st_size));
    std::uint8_t buf[64 * 1024];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail_errno(path, errno);
        }
        if (n == 0) break;
        out.insert(out.end(), buf, buf + n);
        if (out.size() > kMaxFileSize)
            fail(path, "file is too large (more than 4 GiB)");
    }
    return out;
}

}  // namespace kvmgdb
