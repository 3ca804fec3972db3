// Guest RAM: one anonymous mapping at guest-physical 0, and the single
// bounds- and overflow-checked API every access by guest-physical address goes through.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

namespace kvmgdb {

// Thrown for any access outside [0, size()). Carries the offending range.
class GuestMemoryError : public std::out_of_range {
public:
    GuestMemoryError(std::uint64_t addr, std::uint64_t len, std::uint64_t size);
    std::uint64_t addr() const { return addr_; }
    std::uint64_t len() const { return len_; }

private:
    std::uint64_t addr_;
    std::uint64_t len_;
};

class GuestMemory {
public:
    // Maps `size` bytes (a multiple of 4 KiB, at least 4 KiB) of zeroed anonymous memory.
    explicit GuestMemory(std::uint64_t size);
    ~GuestMemory();
    GuestMemory(GuestMemory&& other) noexcept;
    GuestMemory& operator=(GuestMemory&& other) noexcept;
    GuestMemory(const GuestMemory&) = delete;
    GuestMemory& operator=(const GuestMemory&) = delete;

    std::uint64_t size() const { return size_; }
    // Host address of guest-physical 0, for KVM_SET_USER_MEMORY_REGION only.
    void* host_base() const { return base_; }

    // True when [addr, addr+len) lies inside RAM (with no overflow).
    bool contains(std::uint64_t addr, std::uint64_t len) const;

    // Checked views and copies; all throw GuestMemoryError on a bad range.
    std::span<std::uint8_t> span(std::uint64_t addr, std::uint64_t len);
    std::span<const std::uint8_t> span(std::uint64_t addr, std::uint64_t len) const;
    void read(std::uint64_t addr, std::span<std::uint8_t> out) const;
    void write(std::uint64_t addr, std::span<const std::uint8_t> in);
    void fill(std::uint64_t addr, std::uint64_t len, std::uint8_t value);

    // Little-endian scalar access (x86 byte order), checked like the rest.
    std::uint8_t read8(std::uint64_t addr) const;
    std::uint16_t read16(std::uint64_t addr) const;
    std::uint32_t read32(std::uint64_t addr) const;
    std::uint64_t read64(std::uint64_t addr) const;
    void write8(std::uint64_t addr, std::uint8_t v);
    void write16(std::uint64_t addr, std::uint16_t v);
    void write32(std::uint64_t addr, std::uint32_t v);
    void write64(std::uint64_t addr, std::uint64_t v);

private:
    void check(std::uint64_t addr, std::uint64_t len) const;
    std::uint8_t* base_ = nullptr;
    std::uint64_t size_ = 0;
};

}  // namespace kvmgdb
