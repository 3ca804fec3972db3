// Page-table walks for the paging modes of Intel SDM Vol. 3A chapter 4: 32-bit
// paging (4.3), PAE paging (4.4) and 4-level paging (4.5). All three are the same
// loop over a per-mode list of levels; only the index bits, entry width, address
// masks and which levels may map a page differ.
#include "x86/page_walk.hpp"

#include <array>
#include <cstdio>
#include <span>

#include "x86/cpu_mode.hpp"

namespace kvmgdb {

namespace {

constexpr std::uint64_t bit(unsigned n) { return std::uint64_t{1} << n; }

// Entry bits common to every paging-structure entry (SDM Tables 4-4..4-20).
constexpr std::uint64_t kP = bit(0), kRw = bit(1), kUs = bit(2), kPs = bit(7), kXd = bit(63);

// Physical-address fields. 32-bit paging entries hold bits 31:12 (4-KiB frames)
// or 31:22 (4-MiB pages; the PSE-36 bits 20:13 that extend it past 4 GiB are
// ignored). PAE and 4-level entries hold bits 51:12 (M = 52 at most); the low
// bits of a large page's field (bit 12 = PAT) are not part of the address.
constexpr std::uint64_t kAddr32 = 0xffff'f000;
constexpr std::uint64_t kAddr64 = 0x000f'ffff'ffff'f000;

constexpr std::uint64_t kKiB4 = 4096, kMiB2 = 2 << 20, kMiB4 = 4 << 20, kGiB1 = 1 << 30;

struct Level {
    std::string_view name;
    unsigned shift;              // lowest linear-address bit of the index
    unsigned index_bits;         // 10 (32-bit), 9 (PAE/4-level), 2 (PAE PDPT)
    unsigned entry_bytes;        // 4 or 8
    std::uint64_t addr_mask;     // next table / 4-KiB frame address in the entry
    std::uint64_t large_size;    // page size when PS=1 is honoured here, else 0
    bool has_rights;             // PAE PDPTEs carry no R/W or U/S (SDM 4.4.1)
};

// SDM 4.3, Figure 4-2/4-3. A PDE maps 4 MiB only with CR4.PSE=1.
constexpr std::array<Level, 2> kLevels32{{
    {"PDE", 22, 10, 4, kAddr32, kMiB4, true},
    {"PTE", 12, 10, 4, kAddr32, 0, true},
}};
// SDM 4.4.1-4.4.2, Figure 4-5/4-6.
constexpr std::array<Level, 3> kLevelsPae{{
    {"PDPTE", 30, 2, 8, kAddr64, 0, false},
    {"PDE", 21, 9, 8, kAddr64, kMiB2, true},
    {"PTE", 12, 9, 8, kAddr64, 0, true},
}};
// SDM 4.5.4, Figure 4-8..4-10. PS in a PML4E is reserved; 1-GiB PDPTEs are
// assumed supported (CPUID.80000001H:EDX.Page1GB, true on every KVM host).
constexpr std::array<Level, 4> kLevels64{{
    {"PML4E", 39, 9, 8, kAddr64, 0, true},
    {"PDPTE", 30, 9, 8, kAddr64, kGiB1, true},
    {"PDE", 21, 9, 8, kAddr64, kMiB2, true},
    {"PTE", 12, 9, 8, kAddr64, 0, true},
}};

// SDM 3.3.7.1: with 48-bit linear addresses, bits 63:47 must all be equal.
bool canonical48(std::uint64_t linear) {
    std::uint64_t top = linear >> 47;
    return top == 0 || top == (std::uint64_t{1} << 17) - 1;
}

void walk_levels(const GuestMemory& mem, const PagingState& state, std::span<const Level> levels,
                 std::uint64_t table, WalkResult& r) {
    const bool nx_enabled = r.mode != PagingMode::Bits32 && (state.efer & bits::EFER_NXE) != 0;
    r.writable = true;
    r.user = true;
    for (std::size_t i = 0; i < levels.size(); ++i) {
        const Level& lv = levels[i];
        WalkStep step;
        step.level = lv.name;
        step.span = std::uint64_t{1} << lv.shift;
        step.index = static_cast<unsigned>((r.linear >> lv.shift) & ((std::uint64_t{1} << lv.index_bits) - 1));
        step.entry_addr = table + std::uint64_t{step.index} * lv.entry_bytes;
        step.readable = mem.contains(step.entry_addr, lv.entry_bytes);
        if (!step.readable) {
            r.failure = WalkFailure::TableOutsideRam;
            r.steps.push_back(step);
            return;
        }
        step.entry = lv.entry_bytes == 4 ? mem.read32(step.entry_addr) : mem.read64(step.entry_addr);
        step.present = (step.entry & kP) != 0;
        step.writable = (step.entry & kRw) != 0;
        step.user = (step.entry & kUs) != 0;
        const bool pse_ok = r.mode != PagingMode::Bits32 || (state.cr4 & bits::CR4_PSE) != 0;
        step.large = step.present && lv.large_size != 0 && pse_ok && (step.entry & kPs) != 0;
        r.steps.push_back(step);
        if (!step.present) {
            r.failure = WalkFailure::NotPresent;
            return;
        }
        // SDM 4.6: access rights are the AND (R/W, U/S) or OR (XD) over all levels.
        if (lv.has_rights) {
            r.writable = r.writable && step.writable;
            r.user = r.user && step.user;
        }
        if (nx_enabled && (step.entry & kXd) != 0) r.no_execute = true;

        if (step.large) {
            // The entry's address field is aligned to the page size: bits below it
            // (PAT, PSE-36, reserved) are not address bits.
            r.page_size = lv.large_size;
            r.phys = (step.entry & lv.addr_mask & ~(lv.large_size - 1)) | (r.linear & (lv.large_size - 1));
            return;
        }
        if (i + 1 == levels.size()) {
            r.page_size = kKiB4;
            r.phys = (step.entry & lv.addr_mask) | (r.linear & (kKiB4 - 1));
            return;
        }
        table = step.entry & lv.addr_mask;
    }
}

// SDM 4.6.1 for a supervisor-mode (CPL 0) access, which is what a debugger's
// access stands in for. SMAP (a supervisor data access to a user page) depends
// on EFLAGS.AC and is not modelled.
bool supervisor_permits(const PagingState& state, const WalkResult& r, Access access) {
    switch (access) {
        case Access::Read: return true;
        case Access::Write: return r.writable || (state.cr0 & bits::CR0_WP) == 0;
        case Access::Fetch: return !r.no_execute && !((state.cr4 & bits::CR4_SMEP) != 0 && r.user);
    }
    return false;
}

}  // namespace

PagingMode paging_mode(const PagingState& s) {
    if ((s.cr0 & bits::CR0_PG) == 0) return PagingMode::None;
    if ((s.cr4 & bits::CR4_PAE) == 0) return PagingMode::Bits32;
    if ((s.efer & bits::EFER_LMA) == 0) return PagingMode::Pae;
    return (s.cr4 & bits::CR4_LA57) != 0 ? PagingMode::FiveLevel : PagingMode::FourLevel;
}

std::string_view to_string(PagingMode mode) {
    switch (mode) {
        case PagingMode::None: return "no paging";
        case PagingMode::Bits32: return "32-bit paging";
        case PagingMode::Pae: return "PAE paging";
        case PagingMode::FourLevel: return "4-level paging";
        case PagingMode::FiveLevel: return "5-level paging";
    }
    return "?";
}

std::string_view to_string(WalkFailure failure) {
    switch (failure) {
        case WalkFailure::None: return "ok";
        case WalkFailure::NotPresent: return "not present";
        case WalkFailure::TableOutsideRam: return "outside guest RAM";
        case WalkFailure::NonCanonical: return "non-canonical address";
        case WalkFailure::AddressTooWide: return "address above 4 GiB in a 32-bit mode";
        case WalkFailure::Unsupported: return "5-level paging is not supported";
    }
    return "?";
}

std::string_view WalkResult::failed_level() const {
    if (ok() || steps.empty()) return {};
    return steps.back().level;
}

WalkResult walk(const GuestMemory& mem, const PagingState& state, std::uint64_t linear, Access access) {
    WalkResult r;
    r.mode = paging_mode(state);
    r.linear = linear;
    switch (r.mode) {
        case PagingMode::None:
        case PagingMode::Bits32:
        case PagingMode::Pae:
            // Outside IA-32e mode linear addresses are 32 bits (SDM 3.3.6).
            if (linear > 0xffff'ffff) {
                r.failure = WalkFailure::AddressTooWide;
                return r;
            }
            break;
        case PagingMode::FourLevel:
            if (!canonical48(linear)) {
                r.failure = WalkFailure::NonCanonical;
                return r;
            }
            break;
        case PagingMode::FiveLevel: r.failure = WalkFailure::Unsupported; return r;
    }

    switch (r.mode) {
        case PagingMode::None:
            // CR0.PG=0: linear is physical (SDM 4.1.1). 4 KiB keeps page-by-page
            // readers' chunks aligned with what paging would give.
            r.phys = linear;
            r.page_size = kKiB4;
            r.writable = r.user = true;
            break;
        // CR3 holds the page directory (bits 31:12) for 32-bit paging, the 32-byte
        // aligned PDPT (bits 31:5) for PAE, the PML4 (bits 51:12) for 4-level; the
        // low bits are flags or the PCID. The CPU caches PAE PDPTEs at MOV CR3
        // (SDM 4.4.1); we read them from memory, which matches unless the guest
        // changed the PDPT without reloading CR3.
        case PagingMode::Bits32: walk_levels(mem, state, kLevels32, state.cr3 & kAddr32, r); break;
        case PagingMode::Pae: walk_levels(mem, state, kLevelsPae, state.cr3 & 0xffff'ffe0, r); break;
        case PagingMode::FourLevel: walk_levels(mem, state, kLevels64, state.cr3 & kAddr64, r); break;
        case PagingMode::FiveLevel: break;
    }
    if (r.ok()) r.permitted = supervisor_permits(state, r, access);
    return r;
}

std::optional<std::uint64_t> translate(const GuestMemory& mem, const PagingState& state, std::uint64_t linear) {
    WalkResult r = walk(mem, state, linear);
    if (!r.ok()) return std::nullopt;
    return r.phys;
}

std::uint64_t bytes_to_page_end(std::uint64_t linear, std::uint64_t page_size) {
    return page_size - (linear & (page_size - 1));
}

namespace {

std::string page_size_text(std::uint64_t size) {
    if (size >= kGiB1) return std::to_string(size >> 30) + " GiB";
    if (size >= (1u << 20)) return std::to_string(size >> 20) + " MiB";
    return std::to_string(size >> 10) + " KiB";
}

std::string hex(std::uint64_t v, int width) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%0*llx", width, static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace

std::string format_walk(const WalkResult& r) {
    std::string out = "linear " + hex(r.linear, 16) + ": " + std::string(to_string(r.mode)) + "\n";
    const int entry_width = r.mode == PagingMode::Bits32 ? 8 : 16;
    for (const WalkStep& s : r.steps) {
        char head[64];
        std::snprintf(head, sizeof head, "  %-5.*s[%3u] @ ", static_cast<int>(s.level.size()), s.level.data(),
                      s.index);
        out += head + hex(s.entry_addr, 16);
        if (!s.readable) {
            out += "  outside guest RAM\n";
            continue;
        }
        out += " = " + hex(s.entry, entry_width);
        if (!s.present) {
            out += "  not present\n";
            continue;
        }
        out += "  P";
        out += s.writable ? " RW" : " RO";
        out += s.user ? " U" : " S";
        if (s.large) out += " PS";
        out += "\n";
    }
    if (r.ok()) {
        out += "  => phys " + hex(r.phys, 16) + " (" + page_size_text(r.page_size) + " page, ";
        out += r.writable ? "writable" : "read-only";
        out += r.user ? ", user" : ", supervisor";
        if (r.no_execute) out += ", no-execute";
        out += ")\n";
    } else {
        out += "  => no translation: ";
        if (!r.failed_level().empty()) out += std::string(r.failed_level()) + " ";
        out += std::string(to_string(r.failure)) + "\n";
    }
    return out;
}

}  // namespace kvmgdb
