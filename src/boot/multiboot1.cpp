#include "boot/multiboot1.hpp"

namespace kvmgdb::boot {

std::optional<Multiboot1Header> find_multiboot1(std::span<const std::uint8_t>, const std::string&) { return std::nullopt; }

PreparedBoot prepare_multiboot1(std::span<const std::uint8_t>, const std::string& name, std::uint64_t, const Multiboot1Header&,
                              const BootRequest&) {
    throw ImageError(name + ": Multiboot1 is not supported yet");
}

}  // namespace kvmgdb::boot
