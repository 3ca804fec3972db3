#include "debug/memory_region.hpp"

#include <string>

#include "x86/mode_setup.hpp"

namespace kvmgdb::debug {

namespace {

std::string hex(std::uint64_t v) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    do {
        out.insert(out.begin(), digits[v & 0xf]);
        v >>= 4;
    } while (v != 0);
    out.insert(0, "0x");
    return out;
}

std::string size_text(std::uint64_t bytes) {
    if (bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    return std::to_string(bytes >> 10) + " KiB";
}

// Where the address space of the CPU's mode ends, as LLDB iterates regions up to
// it: 4 GiB outside long mode; in long mode the last address, as lldb-server says
// (start + size must not wrap to 0, or LLDB starts over from the bottom).
std::uint64_t space_end(const PagingState& paging) {
    constexpr std::uint64_t kEferLma = 1u << 10;
    return (paging.efer & kEferLma) ? ~std::uint64_t{0} : std::uint64_t{1} << 32;
}

// Guest-physical addresses: all of RAM is one region, everything above it another.
stub::MemoryRegion physical_region(const GuestMemory& mem, std::uint64_t phys, std::uint64_t addr, bool physical,
                                   std::uint64_t end) {
    stub::MemoryRegion r;
    if (mem.contains(phys, 1)) {
        r.start = addr - phys;  // addr is phys here, except for wrapped linear addresses
        r.size = mem.size();
        r.mapped = r.readable = r.writable = r.executable = true;
        return r;
    }
    r.start = mem.size();
    r.size = end > r.start ? end - r.start : 1;  // to the end of the address space
    std::string what = physical ? "guest-physical address " : "address ";
    what += hex(addr);
    what += " is above the guest's RAM (";
    what += size_text(mem.size());
    what += physical ? "; monitor phys is on)" : ", no paging)";
    r.why_unmapped = what;
    if (!physical && addr != phys) r.start = addr;  // keep addr inside the region
    if (addr - r.start >= r.size) r.size = addr - r.start + 1;
    return r;
}

}  // namespace

stub::MemoryRegion region_at(const GuestMemory& mem, const PagingState& paging, bool physical, std::uint64_t addr) {
    if (physical) return physical_region(mem, addr, addr, true, space_end(paging));
    WalkResult w = walk(mem, paging, addr);
    if (w.mode == PagingMode::None && w.ok()) return physical_region(mem, w.phys, addr, false, space_end(paging));
    stub::MemoryRegion r;
    std::uint64_t page = w.ok() ? w.page_size : kPageSize;
    r.start = addr & ~(page - 1);
    r.size = page;
    if (w.ok() && mem.contains(w.phys, 1)) {
        r.mapped = r.readable = true;
        r.writable = w.writable;
        r.executable = !w.no_execute;
        return r;
    }
    std::string why = "address " + hex(addr);
    if (w.ok()) {
        why += " maps to guest-physical ";
        why += hex(w.phys);
        why += ", above the guest's RAM (";
        why += size_text(mem.size());
        why += ")";
    } else if (w.mode == PagingMode::None) {
        why += " is above 4 GiB, which a 32-bit mode cannot address";
    } else {
        why += " is not mapped in the guest's page tables (";
        if (!w.failed_level().empty()) {
            why += w.failed_level();
            why += " ";
        }
        why += to_string(w.failure);
        why += ")";
    }
    r.why_unmapped = why;
    return r;
}

}  // namespace kvmgdb::debug
