#include "debug/breakpoints.hpp"

#include <algorithm>
#include <cerrno>
#include <elf.h>

#include "kvm/kvm_error.hpp"
#include "util/hex.hpp"
#include "x86/instruction_bytes.hpp"

namespace kvmgdb::debug {

using stub::BreakpointKind;
using stub::TargetStatus;

namespace {

DebugKind dr_kind(BreakpointKind kind) {
    return kind == BreakpointKind::Hardware     ? DebugKind::Execute
           : kind == BreakpointKind::WriteWatch ? DebugKind::Write
                                                : DebugKind::ReadWrite;
}

bool dr_range_ok(BreakpointKind kind, std::uint64_t addr, std::uint64_t len) {
    return len <= 8 && !check_debug_slot(dr_kind(kind), addr, static_cast<unsigned>(len)).has_value();
}

bool overlaps(std::uint64_t a, std::uint64_t alen, std::uint64_t b, std::uint64_t blen) {
    return a < b + blen && b < a + alen;
}

}  // namespace

BreakpointManager::BreakpointManager(GuestMemory& mem, const AddressSpace& space, Mechanisms mech, MemslotSink sink,
                                     const GuestImage& image, const SystemArea& area, TextSink diag)
    : mem_(mem), space_(space), mech_(mech), sink_(std::move(sink)), image_(image), area_(area),
      diag_(std::move(diag)) {}

TargetStatus BreakpointManager::insert(BreakpointKind kind, std::uint64_t addr, std::uint64_t length,
                                       const InsertContext& ctx) {
    switch (kind) {
    case BreakpointKind::ReadWatch:
        return TargetStatus::unsupported();
    case BreakpointKind::Hardware:
        if (mech_.hardware == BreakMechanism::DebugRegisters) {
            // Idempotent: the same breakpoint again keeps its slot.
            if (!drs_.add(DebugKind::Execute, addr, 1))
                return TargetStatus::error(ENOSPC, "all four debug registers are in use");
            return TargetStatus::ok();
        }
        [[fallthrough]];
    case BreakpointKind::Software: {
        auto it = patches_.find(addr);
        if (it == patches_.end()) {
            auto t = space_.to_phys(ctx.paging, addr);
            if (!t) return TargetStatus::error(EFAULT, "address " + hex(addr) + " is not mapped");
            const Patch p = plan_patch(t->first, ctx);
            take_bytes(p);
            it = patches_.emplace(addr, p).first;
            try {
                sync_memslots();
            } catch (const KvmError& e) {
                patches_.erase(it);
                drop_bytes(p);
                return TargetStatus::error(ENOSPC, std::string("cannot protect the breakpoint's page: ") + e.what());
            }
        }
        (kind == BreakpointKind::Software ? it->second.software : it->second.hardware) = true;
        return TargetStatus::ok();
    }
    case BreakpointKind::WriteWatch:
    case BreakpointKind::AccessWatch: {
        if (length == 0) return TargetStatus::error(EINVAL, "zero-length watchpoint");
        if (length > mem_.size()) return TargetStatus::error(EINVAL, "a watchpoint longer than guest RAM");
        // Idempotent ("Packets", Z: inserting the same watchpoint twice is one
        // watchpoint): the same kind, address and length again changes nothing, and
        // one z removes it, whichever mechanism holds it.
        for (const auto& w : page_watches_)
            if (w.kind == kind && w.addr == addr && w.len == length) return TargetStatus::ok();
        if (mech_.watch == WatchMechanism::DebugRegisters && dr_range_ok(kind, addr, length) &&
            drs_.add(dr_kind(kind), addr, static_cast<unsigned>(length)))
            return TargetStatus::ok();
        if (!mech_.readonly_mem) return TargetStatus::error(ENOSPC, "no debug register free and no read-only memslots");
        PageWatch w{kind, addr, length, {}};
        std::uint64_t mapped =
            space_.for_each_phys_run(ctx.paging, addr, length, [&](std::uint64_t phys, std::uint64_t, std::uint64_t n) {
                w.phys.emplace_back(phys, phys + n);
            });
        if (mapped < length) return TargetStatus::error(EFAULT, "address " + hex(addr + mapped) + " is not mapped");
        if (kind == BreakpointKind::AccessWatch) {
            if (auto why = code_on_watched_pages(w, ctx)) {
                if (diag_) diag_("kvmgdb: " + *why + "\n");  // gdb itself only says it could not insert it
                return TargetStatus::error(EPERM, *why);
            }
        }
        page_watches_.push_back(std::move(w));
        try {
            sync_memslots();
        } catch (const KvmError& e) {
            page_watches_.pop_back();
            return TargetStatus::error(ENOSPC, std::string("cannot protect the watched pages: ") + e.what());
        }
        return TargetStatus::ok();
    }
    }
    return TargetStatus::unsupported();
}

TargetStatus BreakpointManager::remove(BreakpointKind kind, std::uint64_t addr, std::uint64_t length) {
    switch (kind) {
    case BreakpointKind::ReadWatch:
        return TargetStatus::unsupported();
    case BreakpointKind::Hardware:
    case BreakpointKind::Software: {
        if (kind == BreakpointKind::Hardware && drs_.remove(DebugKind::Execute, addr, 1)) return TargetStatus::ok();
        auto it = patches_.find(addr);
        if (it == patches_.end()) return TargetStatus::error(ENOENT, "no breakpoint at " + hex(addr));
        bool& flag = kind == BreakpointKind::Software ? it->second.software : it->second.hardware;
        if (!flag) return TargetStatus::error(ENOENT, "no breakpoint at " + hex(addr));
        flag = false;
        if (!it->second.software && !it->second.hardware) {
            const Patch gone = it->second;
            patches_.erase(it);
            drop_bytes(gone);  // the guest's bytes come back once no alias still patches them
            if (gone.len == 2 && !patched_.count(gone.phys)) removed_out_patches_.insert(gone.phys);
            if (gone.len == 2) replan_empty_patches(gone.phys + 1);
            if (protection_ == Protection::Full && gone.len)
                spare_patch_pages_.insert(gone.phys & ~(kPageSize - 1));
            sync_memslots();
        }
        return TargetStatus::ok();
    }
    case BreakpointKind::WriteWatch:
    case BreakpointKind::AccessWatch: {
        if (length <= 8 && drs_.remove(dr_kind(kind), addr, static_cast<unsigned>(length))) return TargetStatus::ok();
        for (auto it = page_watches_.begin(); it != page_watches_.end(); ++it) {
            if (it->kind == kind && it->addr == addr && it->len == length) {
                page_watches_.erase(it);
                sync_memslots();
                return TargetStatus::ok();
            }
        }
        return TargetStatus::error(ENOENT, "no watchpoint at " + hex(addr));
    }
    }
    return TargetStatus::unsupported();
}

void BreakpointManager::remove_all() {
    for (const auto& [phys, b] : patched_) mem_.write8(phys, b.original);
    patched_.clear();
    patches_.clear();
    removed_out_patches_.clear();
    drs_.clear();
    page_watches_.clear();
    spare_patch_pages_.clear();
    sync_memslots();
}

void BreakpointManager::release_spare_pages() {
    if (spare_patch_pages_.empty()) return;
    spare_patch_pages_.clear();
    sync_memslots();
}

std::size_t BreakpointManager::read_memory(const PagingState& paging, std::uint64_t addr,
                                           std::span<std::uint8_t> out) const {
    return space_.for_each_phys_run(paging, addr, out.size(), [&](std::uint64_t phys, std::uint64_t at, std::uint64_t n) {
        auto part = out.subspan(at, n);
        mem_.read(phys, part);
        // Hide our own patch bytes: show what the guest had there.
        for (auto b = patched_.lower_bound(phys); b != patched_.end() && b->first < phys + n; ++b)
            part[b->first - phys] = b->second.original;
    });
}

std::size_t BreakpointManager::write_memory(const PagingState& paging, std::uint64_t addr,
                                            std::span<const std::uint8_t> in) {
    return space_.for_each_phys_run(paging, addr, in.size(), [&](std::uint64_t phys, std::uint64_t at, std::uint64_t n) {
        auto part = in.subspan(at, n);
        mem_.write(phys, part);
        keep_patches_over(phys, part);
    });
}

const Patch* BreakpointManager::patch_at(std::uint64_t addr) const {
    auto it = patches_.find(addr);
    return it == patches_.end() ? nullptr : &it->second;
}

const Patch* BreakpointManager::patch_at_phys(std::uint64_t phys) const {
    for (const auto& [addr, p] : patches_)
        if (p.len && p.phys == phys) return &p;
    return nullptr;
}

std::optional<std::uint8_t> BreakpointManager::original_byte(std::uint64_t phys) const {
    auto b = patched_.find(phys);
    if (b == patched_.end()) return std::nullopt;
    return b->second.original;
}

std::size_t BreakpointManager::hlt_patch_count() const {
    return static_cast<std::size_t>(
        std::count_if(patches_.begin(), patches_.end(), [](const auto& p) { return p.second.byte == kHlt; }));
}

// What a new breakpoint at guest-physical `phys` patches. Where another patch holds
// the byte already (an alias, or this one's other kind), the same bytes; where int3
// traps, 0xCC; on the pc platform the OUT patch when the instruction is two bytes or
// longer and its second byte is on the same page and unpatched; else HLT.
Patch BreakpointManager::plan_patch(std::uint64_t phys, const InsertContext& ctx) const {
    Patch p;
    p.phys = phys;
    p.code64 = ctx.code64;
    if (auto held = patched_.find(phys); held != patched_.end()) {
        p.byte = held->second.value;
        if (p.byte == kBreakPort) {
            // The second byte of an OUT patch: inside the instruction of the breakpoint
            // just before, where no correct run arrives. It takes nothing.
            p.byte = 0;
            p.len = 0;
        } else {
            p.len = p.byte == kOutImm8 ? 2 : 1;
        }
        return p;
    }
    if (mech_.software == BreakMechanism::Int3) {
        p.byte = kInt3;
        return p;
    }
    const bool room = (phys & (kPageSize - 1)) != kPageSize - 1 && mem_.contains(phys + 1, 1) &&
                      !patched_.count(phys + 1);
    if (mech_.io_patch && room && spans_two_bytes(mem_.read8(phys), ctx.code64)) {
        p.byte = kOutImm8;
        p.len = 2;
        return p;
    }
    p.byte = kHlt;
    return p;
}

void BreakpointManager::take_bytes(const Patch& p) {
    for (std::uint8_t i = 0; i < p.len; ++i) {
        const std::uint8_t value = i == 0 ? p.byte : kBreakPort;
        auto [b, fresh] = patched_.try_emplace(p.phys + i, PatchedByte{mem_.read8(p.phys + i), value, 0});
        ++b->second.refs;
        mem_.write8(p.phys + i, value);
    }
}

void BreakpointManager::drop_bytes(const Patch& p) {
    for (std::uint8_t i = 0; i < p.len; ++i) {
        auto b = patched_.find(p.phys + i);
        if (b == patched_.end() || --b->second.refs) continue;
        mem_.write8(b->first, b->second.original);
        patched_.erase(b);
    }
}

void BreakpointManager::refit_patches() {
    for (auto& [addr, p] : patches_) {
        if (p.byte != kOutImm8 || spans_two_bytes(patched_.at(p.phys).original, p.code64)) continue;
        const std::uint64_t phys = p.phys;
        std::vector<Patch*> sharing;  // every patch of this byte, this one included
        for (auto& [a, q] : patches_)
            if (q.len && q.phys == phys) sharing.push_back(&q);
        for (Patch* q : sharing) drop_bytes(*q);
        for (Patch* q : sharing) {
            q->byte = kHlt;
            q->len = 1;
            take_bytes(*q);
        }
        replan_empty_patches(phys + 1);
    }
}

void BreakpointManager::replan_empty_patches(std::uint64_t phys) {
    for (auto& [addr, p] : patches_) {
        if (p.len || p.phys != phys) continue;
        InsertContext ctx;
        ctx.code64 = p.code64;
        const Patch planned = plan_patch(phys, ctx);
        p.byte = planned.byte;
        p.len = planned.len;
        take_bytes(p);
    }
}

bool BreakpointManager::out_patch_removed_at(const PagingState& paging, std::uint64_t linear) const {
    WalkResult w = walk(mem_, paging, linear);
    return w.ok() && removed_out_patches_.count(w.phys);
}

void BreakpointManager::keep_patches_over(std::uint64_t phys, std::span<const std::uint8_t> data) {
    bool any = false;
    for (auto b = patched_.lower_bound(phys); b != patched_.end() && b->first < phys + data.size(); ++b) {
        b->second.original = data[b->first - phys];
        mem_.write8(b->first, b->second.value);
        any = true;
    }
    if (any) refit_patches();
}

GuestDebugRequest BreakpointManager::guest_debug(bool step) const {
    GuestDebugRequest request;
    request.slots = drs_.slots();
    request.int3_patches =
        std::any_of(patches_.begin(), patches_.end(), [](const auto& p) { return p.second.byte == kInt3; });
    request.single_step = step;
    request.blockirq_supported = mech_.blockirq;
    return request;
}

void BreakpointManager::apply_guest_debug(Vcpu& vcpu, bool step) const {
    std::lock_guard lock(run_mu_);  // a runner's call, while gdb may insert (non-stop)
    vcpu.set_guest_debug(make_guest_debug(guest_debug(step)));
}

std::optional<std::uint8_t> BreakpointManager::ram_byte_at_linear(const PagingState& paging,
                                                                  std::uint64_t linear) const {
    WalkResult w = walk(mem_, paging, linear);
    if (!w.ok() || !mem_.contains(w.phys, 1)) return std::nullopt;
    return mem_.read8(w.phys);
}

const Patch* BreakpointManager::patch_hit(const PagingState& paging, std::uint64_t linear) const {
    if (const Patch* p = patch_at(linear); p && p->len) return p;
    WalkResult w = walk(mem_, paging, linear);
    return w.ok() ? patch_at_phys(w.phys) : nullptr;
}

bool BreakpointManager::is_protected(std::uint64_t phys) const {
    return protected_pages_.count(phys & ~(kPageSize - 1)) != 0;
}

std::optional<WatchHit> BreakpointManager::protected_access(const exit::Mmio& m) {
    std::uint64_t len = std::min<std::uint64_t>(m.len, m.data.size());
    if (!mem_.contains(m.addr, len)) return std::nullopt;
    if (m.is_write) {
        const std::span<const std::uint8_t> written(m.data.data(), len);
        mem_.write(m.addr, written);
        // The guest wrote over a patched breakpoint byte: that is the byte to restore
        // later, and the patch stays in place.
        keep_patches_over(m.addr, written);
    } else {
        mem_.read(m.addr, std::span<std::uint8_t>(m.data.data(), len));
    }
    for (const auto& w : page_watches_) {
        if (!m.is_write && w.kind != BreakpointKind::AccessWatch) continue;
        for (auto [b, end] : w.phys)
            if (overlaps(m.addr, len, b, end - b)) return WatchHit{w.kind, w.addr};
    }
    return std::nullopt;
}

void BreakpointManager::set_protection(Protection p) {
    protection_ = p;
    sync_memslots();
}

std::vector<std::vector<std::uint8_t>> BreakpointManager::watched_bytes() const {
    std::vector<std::vector<std::uint8_t>> all;
    for (const auto& w : page_watches_) {
        std::vector<std::uint8_t> bytes;
        for (auto [b, e] : w.phys) {
            const std::size_t at = bytes.size();
            bytes.resize(at + (e - b));
            mem_.read(b, std::span<std::uint8_t>(bytes).subspan(at));
        }
        all.push_back(std::move(bytes));
    }
    return all;
}

std::optional<WatchHit> BreakpointManager::changed_watch(const std::vector<std::vector<std::uint8_t>>& before) const {
    const auto now = watched_bytes();
    for (std::size_t i = 0; i < page_watches_.size() && i < before.size(); ++i)
        if (now[i] != before[i]) return WatchHit{page_watches_[i].kind, page_watches_[i].addr};
    return std::nullopt;
}

std::optional<WatchHit> BreakpointManager::first_access_watch() const {
    for (const auto& w : page_watches_)
        if (w.kind == BreakpointKind::AccessWatch) return WatchHit{w.kind, w.addr};
    return std::nullopt;
}

void BreakpointManager::repatch() {
    bool any = false;
    for (auto& [phys, b] : patched_) {
        const std::uint8_t now = mem_.read8(phys);
        if (now != b.value) {
            b.original = now;
            mem_.write8(phys, b.value);
            any = true;
        }
    }
    if (any) refit_patches();
}

// An access watchpoint under page protection takes whole pages out of the memslots,
// and KVM cannot fetch instructions from a hole (the vCPU would stop with an
// emulation failure). So the pages must hold no code: none of the image's executable
// segments and not the page a vCPU executes now. Says why when they do.
std::optional<std::string> BreakpointManager::code_on_watched_pages(const PageWatch& w,
                                                                    const InsertContext& ctx) const {
    const std::vector<std::uint64_t> pcs = ctx.pcs_phys ? ctx.pcs_phys() : std::vector<std::uint64_t>{};
    for (const auto& [b, e] : w.phys) {
        const std::uint64_t first = b & ~(kPageSize - 1);
        const std::uint64_t end = (e + kPageSize - 1) & ~(kPageSize - 1);
        auto refuse = [&](const std::string& what) {
            return "cannot watch accesses to " + hex(w.addr) + " by page protection: its page " + hex(first) +
                   " holds " + what +
                   ", which must stay in guest memory for the vCPU to run; use a write watchpoint (gdb `watch`) "
                   "or move the data to a page of its own";
        };
        for (const auto& seg : image_.segments) {
            if (!(seg.flags & PF_X)) continue;
            if (overlaps(first, end - first, seg.paddr, seg.memsz))
                return refuse("code (the executable segment at " + hex(seg.paddr) + ")");
        }
        for (std::uint64_t pc : pcs)
            if (overlaps(first, end - first, pc, 1)) return refuse("the code running now (pc)");
        if (area_.size && overlaps(first, end - first, area_.base, area_.size))
            return refuse("kvmgdb's GDT and page tables");
    }
    return std::nullopt;
}

// Lays guest RAM out as memslots: plain RAM, a read-only slot per run of pages that
// are watched for writes or hold a patched breakpoint (so a guest write over the
// patch byte exits and is not lost), and no slot (a hole: every access exits) for
// pages watched for access. KVM cannot resize a slot, so when the set of protected
// pages changed every old slot is deleted first; when it did not (gdb removes and
// re-inserts its breakpoints around every stop), nothing is done.
void BreakpointManager::sync_memslots() {
    std::map<std::uint64_t, bool> want;
    for (const auto& w : page_watches_) {
        bool hole = w.kind == BreakpointKind::AccessWatch;
        if (protection_ == Protection::None || (protection_ == Protection::HolesOnly && !hole)) continue;
        for (auto [b, e] : w.phys) {
            for (std::uint64_t p = b & ~(kPageSize - 1); p < e; p += kPageSize) want[p] |= hole;
        }
    }
    if (protection_ == Protection::Full) {
        for (const auto& [phys, b] : patched_) want.emplace(phys & ~(kPageSize - 1), false);
        for (std::uint64_t page : spare_patch_pages_) want.emplace(page, false);
    }
    if (want == protected_pages_) return;
    try {
        lay_out_memslots(want);
        protected_pages_ = std::move(want);
    } catch (...) {
        // KVM refused a slot (say, too many of them): never leave RAM half
        // unmapped. Fall back to one plain slot, which always fits, and say so by
        // the exception (the caller undoes the breakpoint or watchpoint).
        lay_out_memslots({});
        protected_pages_.clear();
        throw;
    }
}

void BreakpointManager::lay_out_memslots(const std::map<std::uint64_t, bool>& pages) {
    for (std::uint32_t s : slots_) sink_(s, 0, 0, 0);
    slots_.clear();
    std::uint32_t next = 0;
    auto add = [&](std::uint64_t b, std::uint64_t e, std::uint32_t flags) {
        if (b >= e) return;
        sink_(next, flags, b, e - b);
        slots_.push_back(next++);
    };
    std::uint64_t start = 0;
    for (auto it = pages.begin(); it != pages.end();) {
        std::uint64_t b = it->first;
        bool hole = it->second;
        std::uint64_t e = b + kPageSize;
        ++it;
        while (it != pages.end() && it->first == e && it->second == hole) {
            e += kPageSize;
            ++it;
        }
        add(start, b, 0);
        if (!hole) add(b, e, KVM_MEM_READONLY);
        start = e;
    }
    add(start, mem_.size(), 0);
}

}  // namespace kvmgdb::debug
