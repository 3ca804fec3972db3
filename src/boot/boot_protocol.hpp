// Boot protocols, chosen from the image (docs/guest-abi.md, "Boot protocols"):
// Multiboot 1, Multiboot 2 and PVH load a kernel and hand it an info block in
// 32-bit protected mode with paging off; None keeps the ELF's own entry in the
// mode kvmgdb sets up. Parsing (prepare_boot) needs no guest memory; writing the
// info (PreparedBoot::write_info) runs once the image is in RAM.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "boot/boot_layout.hpp"
#include "loader/elf_loader.hpp"

namespace kvmgdb::boot {

enum class BootProtocol { None, Pvh, Multiboot1, Multiboot2 };
// --boot: auto picks Multiboot 1, then Multiboot 2, then PVH, then none (QEMU's
// -kernel also prefers a Multiboot header to the PVH note).
// --boot multiboot takes Multiboot 1, else Multiboot 2.
enum class BootChoice { Auto, None, Pvh, Multiboot, Multiboot1, Multiboot2 };

std::string_view to_string(BootProtocol p);
std::optional<BootChoice> parse_boot_choice(std::string_view s);  // auto|none|pvh|multiboot|multiboot1|multiboot2

// The registers a protocol's entry sets beyond the flat 32-bit segments.
struct BootEntry {
    std::uint64_t entry = 0;  // EIP, a physical address
    std::uint32_t eax = 0;    // Multiboot's magic; 0 for PVH
    std::uint32_t ebx = 0;    // the info block (PVH: hvm_start_info)
};

struct PreparedBoot {
    BootProtocol protocol = BootProtocol::None;
    GuestImage image;  // what load_image copies from the file
    // Writes the protocol's info block and modules (placed by the arena, which
    // already holds the image and kvmgdb's tables) into RAM; empty for None.
    std::function<BootEntry(GuestMemory&, BootArena&)> write_info;
};

// Reads the image as `choice` asks. For None (and Auto with no protocol found)
// returns nullopt: the caller loads it as today. Throws ImageError naming `name`
// for a forced protocol the image lacks, or a bad header.
std::optional<PreparedBoot> prepare_boot(std::span<const std::uint8_t> file, const std::string& name,
                                         std::uint64_t ram, BootChoice choice, const BootRequest& request);

}  // namespace kvmgdb::boot
