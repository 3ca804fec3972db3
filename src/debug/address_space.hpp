// gdb's addresses -> guest-physical ones, shared by every vCPU.
//
// gdb's addresses are linear (CS.base + offset; see kvm_target.hpp, "Addresses"), or
// physical after `monitor phys on` (a setting of the whole session, held here). A
// linear address is translated under the paging state of the vCPU gdb is looking at,
// which the caller passes in as plain numbers: the translation itself is pure over
// GuestMemory (the page walk of x86/page_walk) and is unit-tested without KVM.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <utility>

#include "mem/guest_memory.hpp"
#include "x86/page_walk.hpp"

namespace kvmgdb::debug {

// The registers of a vCPU's sregs that select and root its paging structures.
PagingState paging_of(const kvm_sregs& s);

// The pc as gdb sees it: CS.base + rip, wrapped to 32 bits, except in 64-bit code,
// where CS.base is ignored (SDM Vol. 3A 3.4.4).
std::uint64_t linear_pc(const kvm_regs& r, const kvm_sregs& s);

class AddressSpace {
public:
    explicit AddressSpace(const GuestMemory& mem) : mem_(mem) {}

    const GuestMemory& memory() const { return mem_; }
    // `monitor phys on|off`: gdb addresses are physical (true) or linear (false, default).
    bool physical() const { return physical_; }
    void set_physical(bool on) { physical_ = on; }

    // Guest-physical address of a gdb address, with the bytes left in its page (and
    // in RAM); nullopt when it is not mapped or not in RAM.
    std::optional<std::pair<std::uint64_t, std::uint64_t>> to_phys(const PagingState& paging,
                                                                   std::uint64_t addr) const;

    // Calls fn(phys, offset, n) for each piece of [addr, addr + len) that lies in one page,
    // in order, up to the first unmapped address; returns the bytes it covered.
    using PhysRunFn = std::function<void(std::uint64_t phys, std::uint64_t offset, std::uint64_t n)>;
    std::uint64_t for_each_phys_run(const PagingState& paging, std::uint64_t addr, std::uint64_t len,
                                    const PhysRunFn& fn) const;

private:
    const GuestMemory& mem_;
    bool physical_ = false;
};

}  // namespace kvmgdb::debug
