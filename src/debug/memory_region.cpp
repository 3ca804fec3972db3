#include "debug/memory_region.hpp"

#include <algorithm>
#include <string>

#include "x86/mode_setup.hpp"

namespace kvmgdb::debug {

namespace {

// The last address. LLDB walks the regions (qMemoryRegionInfo at each region's
// end) until one ends here, as lldb-server's last one does; a region that
// wrapped to 0 would start its walk over from the bottom.
constexpr std::uint64_t kLast = ~std::uint64_t{0};
constexpr std::uint64_t k4GiB = std::uint64_t{1} << 32;
// 4-level paging's non-canonical hole (SDM 3.3.7.1): bits 63:47 not all equal.
constexpr std::uint64_t kHoleStart = std::uint64_t{1} << 47, kHoleEnd = ~((std::uint64_t{1} << 47) - 1);

// start + size, or the last address where that would wrap past 2^64.
std::uint64_t end_of(std::uint64_t start, std::uint64_t size) { return size > kLast - start ? kLast : start + size; }

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

// An unmapped region [start, end); callers clip end with end_of.
stub::MemoryRegion unmapped(std::uint64_t start, std::uint64_t end, std::string why) {
    stub::MemoryRegion r;
    r.start = start;
    r.size = end > start ? end - start : 1;  // 1: the last address itself
    r.why_unmapped = std::move(why);
    return r;
}

// Without translation (no paging, or `monitor phys on`): all of RAM is one
// region, and everything from its end to `end` (where the space ends) another.
stub::MemoryRegion untranslated_region(const GuestMemory& mem, std::uint64_t addr, bool physical,
                                       std::uint64_t end) {
    if (mem.contains(addr, 1)) {
        stub::MemoryRegion r;
        r.start = 0;
        r.size = mem.size();
        r.mapped = r.readable = r.writable = r.executable = true;
        return r;
    }
    std::string what = physical ? "guest-physical address " : "address ";
    what += hex(addr);
    what += " is above the guest's RAM (";
    what += size_text(mem.size());
    what += physical ? "; monitor phys is on)" : ", no paging)";
    return unmapped(mem.size(), end, std::move(what));
}

// A walk that failed: the region is what the failing entry (or rule) covers,
// so that a region walk over a sparse table takes one step per entry.
stub::MemoryRegion failed_walk_region(const WalkResult& w, std::uint64_t addr) {
    std::string why = "address " + hex(addr);
    switch (w.failure) {
        case WalkFailure::AddressTooWide:
            why += " is above 4 GiB, which a 32-bit mode cannot address";
            return unmapped(k4GiB, kLast, std::move(why));
        case WalkFailure::NonCanonical:
            why += " is not mapped in the guest's page tables (non-canonical address)";
            return unmapped(kHoleStart, kHoleEnd, std::move(why));
        case WalkFailure::Unsupported:
            why += " is not mapped in the guest's page tables (";
            why += to_string(w.failure);
            why += ")";
            return unmapped(addr & ~(kPageSize - 1), kLast, std::move(why));
        default: break;
    }
    why += " is not mapped in the guest's page tables (";
    if (!w.failed_level().empty()) {
        why += w.failed_level();
        why += " ";
    }
    why += to_string(w.failure);
    why += ")";
    // A not-present entry leaves all the linear addresses it would cover
    // unmapped: 4 KiB for a PTE up to 512 GiB for a PML4E. A table outside RAM
    // (page-aligned, so all of it) leaves all that its parent entry covers.
    std::size_t n = w.steps.size();
    std::uint64_t span = n == 0 ? kPageSize : w.steps[n - 1].span;
    if (w.failure == WalkFailure::TableOutsideRam && n >= 2) span = w.steps[n - 2].span;
    if (span == 0) span = kPageSize;
    std::uint64_t start = addr & ~(span - 1);
    return unmapped(start, end_of(start, span), std::move(why));
}

}  // namespace

stub::MemoryRegion region_at(const GuestMemory& mem, const PagingState& paging, bool physical, std::uint64_t addr) {
    if (physical) return untranslated_region(mem, addr, true, kLast);
    WalkResult w = walk(mem, paging, addr);
    if (!w.ok()) return failed_walk_region(w, addr);
    if (w.mode == PagingMode::None) return untranslated_region(mem, addr, false, k4GiB);
    // The page that maps addr, cut where its frames leave RAM: a 1 GiB page over
    // 64 MiB of RAM is readable for 64 MiB, as reads are (AddressSpace::to_phys).
    std::uint64_t start = addr & ~(w.page_size - 1);
    std::uint64_t page_phys = w.phys - (addr - start);
    std::uint64_t in_ram = page_phys < mem.size() ? std::min(w.page_size, mem.size() - page_phys) : 0;
    if (addr - start < in_ram) {
        stub::MemoryRegion r;
        r.start = start;
        r.size = end_of(start, in_ram) - start;
        r.mapped = r.readable = true;
        r.writable = w.writable;
        r.executable = !w.no_execute;
        return r;
    }
    std::string why = "address " + hex(addr);
    why += " maps to guest-physical ";
    why += hex(w.phys);
    why += ", above the guest's RAM (";
    why += size_text(mem.size());
    why += ")";
    return unmapped(start + in_ram, end_of(start, w.page_size), std::move(why));
}

}  // namespace kvmgdb::debug
