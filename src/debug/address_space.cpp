#include "debug/address_space.hpp"

#include <algorithm>

#include "x86/cpu_mode.hpp"
#include "x86/mode_setup.hpp"

namespace kvmgdb::debug {

PagingState paging_of(const kvm_sregs& s) { return {s.cr0, s.cr3, s.cr4, s.efer}; }

std::uint64_t linear_pc(const kvm_regs& r, const kvm_sregs& s) {
    if ((s.efer & bits::EFER_LMA) && s.cs.l) return r.rip;  // CS.base is ignored in 64-bit code only
    return (s.cs.base + r.rip) & 0xffffffffu;
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> AddressSpace::to_phys(const PagingState& paging,
                                                                             std::uint64_t addr) const {
    std::uint64_t phys, left;
    if (physical_) {
        phys = addr;
        left = bytes_to_page_end(addr, kPageSize);
    } else {
        WalkResult w = walk(mem_, paging, addr);
        if (!w.ok()) return std::nullopt;
        phys = w.phys;
        left = bytes_to_page_end(addr, w.page_size);
    }
    if (!mem_.contains(phys, 1)) return std::nullopt;
    left = std::min(left, mem_.size() - phys);
    return std::make_pair(phys, left);
}

std::uint64_t AddressSpace::for_each_phys_run(const PagingState& paging, std::uint64_t addr, std::uint64_t len,
                                              const PhysRunFn& fn) const {
    std::uint64_t done = 0;
    while (done < len) {
        auto t = to_phys(paging, addr + done);
        if (!t) break;
        std::uint64_t n = std::min(t->second, len - done);
        fn(t->first, done, n);
        done += n;
    }
    return done;
}

}  // namespace kvmgdb::debug
