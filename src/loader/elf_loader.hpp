// ELF32 (EM_386) / ELF64 (EM_X86_64) and flat-binary loading into guest RAM.
// Parsing is separate from loading so the machine can place its own tables
// (GDT, page tables) around the image before anything is written.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "mem/guest_memory.hpp"

namespace kvmgdb {

// A bad image. what() is "<file>: <problem>", e.g.
// "guest.elf: segment 1 [0x4000000, +0x1000) lies outside guest RAM (64 MiB)".
// The CLI prints it and exits with status 2.
class ImageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class ImageClass { Elf32, Elf64, Raw };

struct LoadSegment {
    std::uint64_t paddr = 0;   // where it goes in guest-physical memory
    std::uint64_t vaddr = 0;   // where it was linked (informational)
    std::uint64_t offset = 0;  // file offset of the bytes to copy
    std::uint64_t filesz = 0;  // bytes copied from the file
    std::uint64_t memsz = 0;   // bytes occupied in RAM; [filesz, memsz) is zeroed (bss)
    std::uint32_t flags = 0;   // PF_R/PF_W/PF_X
};

struct GuestImage {
    std::string name;  // file name, for messages
    ImageClass image_class = ImageClass::Elf64;
    std::uint64_t entry = 0;
    std::vector<LoadSegment> segments;  // PT_LOAD segments with memsz > 0, in file order
};

// Validates every header field with overflow-checked arithmetic: magic, class, data
// (little endian), version, machine (EM_386 for ELF32, EM_X86_64 for ELF64), type
// (ET_EXEC), header sizes, program header table inside the file, each PT_LOAD's file
// range inside the file, filesz <= memsz, [paddr, paddr+memsz) inside [0, ram_size),
// at least one PT_LOAD, segments not overlapping each other, entry inside a loaded
// segment (by paddr or vaddr). Throws ImageError naming `name` and the problem.
GuestImage parse_elf(std::span<const std::uint8_t> file, const std::string& name,
                     std::uint64_t ram_size);

// A flat binary copied to load_addr, starting at entry (which must lie inside it).
GuestImage make_raw_image(std::span<const std::uint8_t> file, const std::string& name,
                          std::uint64_t ram_size, std::uint64_t load_addr, std::uint64_t entry);

// Copies each segment's bytes to RAM and zeroes its bss. `file` must be the bytes the
// image was parsed from.
void load_image(const GuestImage& image, std::span<const std::uint8_t> file, GuestMemory& mem);

// Reads a whole file; throws ImageError("<path>: <strerror>") when it cannot.
std::vector<std::uint8_t> read_file(const std::string& path);

}  // namespace kvmgdb
