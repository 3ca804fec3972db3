#include "boot/multiboot2.hpp"

namespace kvmgdb::boot {

std::optional<Multiboot2Header> find_multiboot2(std::span<const std::uint8_t>, const std::string&) { return std::nullopt; }

PreparedBoot prepare_multiboot2(std::span<const std::uint8_t>, const std::string& name, std::uint64_t, const Multiboot2Header&,
                              const BootRequest&) {
    throw ImageError(name + ": Multiboot2 is not supported yet");
}

}  // namespace kvmgdb::boot
