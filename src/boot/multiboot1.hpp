// PLACEHOLDER: the Multiboot1 loader is being written (issue 11); this declares its interface.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "boot/boot_protocol.hpp"

namespace kvmgdb::boot {

struct Multiboot1Header {
    std::uint64_t offset = 0;  // of the header in the file
};

std::optional<Multiboot1Header> find_multiboot1(std::span<const std::uint8_t> file, const std::string& name);
PreparedBoot prepare_multiboot1(std::span<const std::uint8_t> file, const std::string& name, std::uint64_t ram,
                              const Multiboot1Header& header, const BootRequest& request);

}  // namespace kvmgdb::boot
