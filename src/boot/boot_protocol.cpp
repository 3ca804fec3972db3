#include "boot/boot_protocol.hpp"

#include "boot/multiboot1.hpp"
#include "boot/multiboot2.hpp"
#include "boot/pvh.hpp"

namespace kvmgdb::boot {

std::string_view to_string(BootProtocol p) {
    switch (p) {
    case BootProtocol::None: return "none";
    case BootProtocol::Pvh: return "PVH";
    case BootProtocol::Multiboot1: return "Multiboot 1";
    case BootProtocol::Multiboot2: return "Multiboot 2";
    }
    return "?";
}

std::optional<BootChoice> parse_boot_choice(std::string_view s) {
    if (s == "auto") return BootChoice::Auto;
    if (s == "none") return BootChoice::None;
    if (s == "pvh") return BootChoice::Pvh;
    if (s == "multiboot") return BootChoice::Multiboot;
    if (s == "multiboot1") return BootChoice::Multiboot1;
    if (s == "multiboot2") return BootChoice::Multiboot2;
    return std::nullopt;
}

std::optional<PreparedBoot> prepare_boot(std::span<const std::uint8_t> file, const std::string& name,
                                         std::uint64_t ram, BootChoice choice, const BootRequest& request) {
    if (choice == BootChoice::None) return std::nullopt;
    const bool any = choice == BootChoice::Auto;
    const bool multiboot = any || choice == BootChoice::Multiboot;
    if (multiboot || choice == BootChoice::Multiboot1) {
        if (auto header = find_multiboot1(file, name)) return prepare_multiboot1(file, name, ram, *header, request);
        if (choice == BootChoice::Multiboot1)
            throw ImageError(name + ": --boot multiboot1: no Multiboot header (magic 0x1badb002 with a valid checksum) in its first 8 KiB");
    }
    if (multiboot || choice == BootChoice::Multiboot2) {
        if (auto header = find_multiboot2(file, name)) return prepare_multiboot2(file, name, ram, *header, request);
        if (choice == BootChoice::Multiboot2)
            throw ImageError(name + ": --boot multiboot2: no Multiboot 2 header (magic 0xe85250d6 with a valid checksum) in its first 32 KiB");
        if (choice == BootChoice::Multiboot)
            throw ImageError(name + ": --boot multiboot: no Multiboot 1 header (magic 0x1badb002) in its first 8 KiB "
                             "and no Multiboot 2 header (magic 0xe85250d6) in its first 32 KiB");
    }
    if (any || choice == BootChoice::Pvh) {
        if (auto entry = find_pvh_entry(file, name)) return prepare_pvh(file, name, ram, *entry, request);
        if (!any)
            throw ImageError(name + ": --boot pvh: not an ELF with a XEN_ELFNOTE_PHYS32_ENTRY note");
    }
    return std::nullopt;
}

}  // namespace kvmgdb::boot
