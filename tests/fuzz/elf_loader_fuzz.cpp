// The ELF loader (src/loader/elf_loader.hpp) on arbitrary files, into bounded
// guest RAM: 64 KiB and 1 MiB, mapped once. The input is the file itself, so any
// ELF is a seed. Properties:
//  - parse_elf either throws ImageError naming the file, or returns an image whose
//    every segment lies inside RAM and inside the file, with filesz <= memsz, no
//    two segments overlapping, and the entry inside one of them;
//  - what parses with the small RAM parses the same with the big one;
//  - load_image copies exactly the file bytes and zeroes the bss;
//  - the same for make_raw_image, with a load address and entry from the input.
// Anything else escaping (std::out_of_range, GuestMemoryError...) is a crash.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "loader/elf_loader.hpp"
#include "mem/guest_memory.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace kvmgdb;

namespace {

const std::string kName = "fuzz.elf";

std::optional<GuestImage> parse(std::span<const std::uint8_t> file, std::uint64_t ram) {
    try {
        return parse_elf(file, kName, ram);
    } catch (const ImageError& e) {
        FUZZ_CHECK(std::string(e.what()).rfind(kName + ": ", 0) == 0);
        return std::nullopt;
    }
}

void check_image(const GuestImage& image, std::span<const std::uint8_t> file, std::uint64_t ram) {
    FUZZ_CHECK(!image.segments.empty());
    bool entry_inside = false;
    for (std::size_t i = 0; i < image.segments.size(); ++i) {
        const LoadSegment& s = image.segments[i];
        FUZZ_CHECK(s.memsz > 0 && s.filesz <= s.memsz);
        FUZZ_CHECK(s.paddr < ram && s.memsz <= ram - s.paddr);
        FUZZ_CHECK(s.offset <= file.size() && s.filesz <= file.size() - s.offset);
        for (std::size_t j = 0; j < i; ++j) {
            const LoadSegment& t = image.segments[j];
            FUZZ_CHECK(s.paddr + s.memsz <= t.paddr || t.paddr + t.memsz <= s.paddr);
        }
        if (image.entry - s.paddr < s.memsz || image.entry - s.vaddr < s.memsz) entry_inside = true;
    }
    FUZZ_CHECK(entry_inside);
}

void check_load(const GuestImage& image, std::span<const std::uint8_t> file, GuestMemory& mem) {
    load_image(image, file, mem);
    for (const LoadSegment& s : image.segments) {
        const auto loaded = mem.span(s.paddr, s.memsz);
        for (std::uint64_t k = 0; k < s.filesz; ++k) FUZZ_CHECK(loaded[k] == file[s.offset + k]);
        for (std::uint64_t k = s.filesz; k < s.memsz; ++k) FUZZ_CHECK(loaded[k] == 0);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static GuestMemory small(64 * 1024);
    static GuestMemory big(1024 * 1024);
    const std::span<const std::uint8_t> file(data, size);

    const auto in_small = parse(file, small.size());
    const auto in_big = parse(file, big.size());
    if (in_small) {
        FUZZ_CHECK(in_big.has_value());
        check_image(*in_small, file, small.size());
        check_load(*in_small, file, small);
    }
    if (in_big) {
        check_image(*in_big, file, big.size());
        check_load(*in_big, file, big);
    }

    // A flat binary: load address and entry from the first 8 bytes, within 2 MiB so
    // that both fitting and not fitting the 1 MiB RAM are common.
    if (size >= 8) {
        const std::uint64_t load = (data[0] | data[1] << 8 | data[2] << 16) & 0x1fffff;
        const std::uint64_t entry = load + ((data[4] | data[5] << 8 | data[6] << 16) & 0x1fffff);
        try {
            const GuestImage raw = make_raw_image(file, kName, big.size(), load, entry);
            check_image(raw, file, big.size());
            check_load(raw, file, big);
        } catch (const ImageError& e) {
            FUZZ_CHECK(std::string(e.what()).rfind(kName + ": ", 0) == 0);
        }
    }
    return 0;
}
