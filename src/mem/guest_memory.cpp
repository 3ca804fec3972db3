#include "mem/guest_memory.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <utility>

namespace kvmgdb {

namespace {
std::string describe(std::uint64_t addr, std::uint64_t len, std::uint64_t size) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "guest-physical access [0x%llx, +0x%llx) is outside RAM [0, 0x%llx)",
                  static_cast<unsigned long long>(addr), static_cast<unsigned long long>(len),
                  static_cast<unsigned long long>(size));
    return buf;
}
}  // namespace

GuestMemoryError::GuestMemoryError(std::uint64_t addr, std::uint64_t len, std::uint64_t size)
    : std::out_of_range(describe(addr, len, size)), addr_(addr), len_(len) {}

GuestMemory::GuestMemory(std::uint64_t size) : size_(size) {
    if (size == 0 || size % 4096 != 0)
        throw std::invalid_argument("guest memory size must be a non-zero multiple of 4 KiB");
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        throw std::system_error(errno, std::generic_category(), "mmap of guest memory");
    base_ = static_cast<std::uint8_t*>(p);
}

GuestMemory::~GuestMemory() {
    if (base_) ::munmap(base_, size_);
}

GuestMemory::GuestMemory(GuestMemory&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)), size_(std::exchange(other.size_, 0)) {}

GuestMemory& GuestMemory::operator=(GuestMemory&& other) noexcept {
    if (this != &other) {
        if (base_) ::munmap(base_, size_);
        base_ = std::exchange(other.base_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

bool GuestMemory::contains(std::uint64_t addr, std::uint64_t len) const {
    return addr <= size_ && len <= size_ - addr;
}

void GuestMemory::check(std::uint64_t addr, std::uint64_t len) const {
    if (!contains(addr, len)) throw GuestMemoryError(addr, len, size_);
}

std::span<std::uint8_t> GuestMemory::span(std::uint64_t addr, std::uint64_t len) {
    check(addr, len);
    return {base_ + addr, static_cast<std::size_t>(len)};
}

std::span<const std::uint8_t> GuestMemory::span(std::uint64_t addr, std::uint64_t len) const {
    check(addr, len);
    return {base_ + addr, static_cast<std::size_t>(len)};
}

void GuestMemory::read(std::uint64_t addr, std::span<std::uint8_t> out) const {
    check(addr, out.size());
    if (!out.empty()) std::memcpy(out.data(), base_ + addr, out.size());
}

void GuestMemory::write(std::uint64_t addr, std::span<const std::uint8_t> in) {
    check(addr, in.size());
    if (!in.empty()) std::memcpy(base_ + addr, in.data(), in.size());
}

void GuestMemory::fill(std::uint64_t addr, std::uint64_t len, std::uint8_t value) {
    check(addr, len);
    if (len) std::memset(base_ + addr, value, static_cast<std::size_t>(len));
}

namespace {
template <typename T>
T load_le(const std::uint8_t* p) {
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>(v | (T(p[i]) << (8 * i)));
    return v;
}
template <typename T>
void store_le(std::uint8_t* p, T v) {
    for (std::size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
}  // namespace

std::uint8_t GuestMemory::read8(std::uint64_t a) const { check(a, 1); return base_[a]; }
std::uint16_t GuestMemory::read16(std::uint64_t a) const { check(a, 2); return load_le<std::uint16_t>(base_ + a); }
std::uint32_t GuestMemory::read32(std::uint64_t a) const { check(a, 4); return load_le<std::uint32_t>(base_ + a); }
std::uint64_t GuestMemory::read64(std::uint64_t a) const { check(a, 8); return load_le<std::uint64_t>(base_ + a); }
void GuestMemory::write8(std::uint64_t a, std::uint8_t v) { check(a, 1); base_[a] = v; }
void GuestMemory::write16(std::uint64_t a, std::uint16_t v) { check(a, 2); store_le(base_ + a, v); }
void GuestMemory::write32(std::uint64_t a, std::uint32_t v) { check(a, 4); store_le(base_ + a, v); }
void GuestMemory::write64(std::uint64_t a, std::uint64_t v) { check(a, 8); store_le(base_ + a, v); }

}  // namespace kvmgdb
