// Multiboot 2 (the Multiboot2 Specification 2.0): a header of tags in the file's
// first 32 KiB, 8-aligned; the kernel is entered in 32-bit protected mode with EAX =
// 0x36D76289 and EBX = the boot information, a list of tags (3.6 "Boot information
// format").
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "boot/boot_protocol.hpp"

namespace kvmgdb::boot {

inline constexpr std::uint32_t kMultiboot2HeaderMagic = 0xe85250d6;
inline constexpr std::uint32_t kMultiboot2BootMagic = 0x36d76289;
inline constexpr std::uint64_t kMultiboot2Search = 32768;

// Boot information tag types kvmgdb writes (3.6.3 onwards).
inline constexpr std::uint32_t MB2_TAG_END = 0, MB2_TAG_CMDLINE = 1, MB2_TAG_LOADER_NAME = 2, MB2_TAG_MODULE = 3,
                               MB2_TAG_BASIC_MEMINFO = 4, MB2_TAG_MMAP = 6;

struct Multiboot2Header {
    std::uint64_t offset = 0;         // of the header in the file
    std::uint32_t architecture = 0;   // 0: i386, 4: MIPS
    std::uint32_t header_length = 0;  // bytes, tags included
};

// The first 8-aligned magic in the first 32 KiB whose checksum holds (the four
// fixed fields sum to 0 mod 2^32); nullopt when there is none.
std::optional<Multiboot2Header> find_multiboot2(std::span<const std::uint8_t> file, const std::string& name);

// Walks the header's tags (3.1.3 onwards). Throws ImageError for a non-i386 header,
// a malformed tag list, or a tag or information request kvmgdb cannot honour whose
// "optional" flag is clear (framebuffer, EFI, ACPI, ...).
PreparedBoot prepare_multiboot2(std::span<const std::uint8_t> file, const std::string& name, std::uint64_t ram,
                                const Multiboot2Header& header, const BootRequest& request);

}  // namespace kvmgdb::boot
