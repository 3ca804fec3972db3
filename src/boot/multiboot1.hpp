// Multiboot 1 (the Multiboot Specification 0.6.96): a header in the file's first
// 8 KiB asks for the kernel to be loaded (by its ELF program headers, or by the
// header's address fields) and entered in 32-bit protected mode with EAX =
// 0x2BADB002 and EBX = a multiboot_info structure (3.3 "Boot information format").
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "boot/boot_protocol.hpp"

namespace kvmgdb::boot {

inline constexpr std::uint32_t kMultiboot1HeaderMagic = 0x1badb002;
inline constexpr std::uint32_t kMultiboot1BootMagic = 0x2badb002;  // in EAX at the entry
inline constexpr std::uint64_t kMultiboot1Search = 8192;
inline constexpr std::uint64_t kMultiboot1InfoSize = 116;  // up to the framebuffer fields

// multiboot_info's flags (3.3) kvmgdb sets.
inline constexpr std::uint32_t MB1_INFO_MEMORY = 1u << 0, MB1_INFO_CMDLINE = 1u << 2, MB1_INFO_MODS = 1u << 3,
                               MB1_INFO_MMAP = 1u << 6, MB1_INFO_LOADER_NAME = 1u << 9;

struct Multiboot1Header {
    std::uint64_t offset = 0;  // of the header in the file
    std::uint32_t flags = 0;
};

// The first 4-aligned magic in the first 8 KiB whose checksum holds (magic + flags
// + checksum == 0 mod 2^32), as GRUB searches; nullopt when there is none.
std::optional<Multiboot1Header> find_multiboot1(std::span<const std::uint8_t> file, const std::string& name);

// Throws ImageError for a required feature kvmgdb lacks (flag bits 3-15) or bad
// address fields (flag 16). Bit 2 (a video mode) is accepted and not honoured, as
// QEMU does: the info block then has no framebuffer fields (flags 11 and 12 clear).
PreparedBoot prepare_multiboot1(std::span<const std::uint8_t> file, const std::string& name, std::uint64_t ram,
                                const Multiboot1Header& header, const BootRequest& request);

}  // namespace kvmgdb::boot
