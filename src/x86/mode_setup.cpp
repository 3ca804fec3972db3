#include "x86/mode_setup.hpp"

#include <algorithm>

#include <string>

#include "util/hex.hpp"

namespace kvmgdb {

namespace {

constexpr std::uint64_t kGiB = 1ull << 30, kMiB = 1ull << 20;
constexpr std::uint64_t PTE_P = 1, PTE_RW = 2, PTE_PS = 0x80;

std::uint64_t div_round_up(std::uint64_t a, std::uint64_t b) { return a / b + (a % b != 0); }

bool overlaps(std::uint64_t b, std::uint64_t e, const std::vector<PhysRange>& image) {
    for (const auto& r : image)
        if (r.begin < e && b < r.end) return true;
    return false;
}

// Real mode (SDM 20.1): base = selector * 16, 64 KiB limit, byte granular.
kvm_segment real_segment(std::uint16_t selector, bool code) {
    kvm_segment s{};
    s.selector = selector;
    s.base = std::uint64_t(selector) << 4;
    s.limit = 0xffff;
    s.type = code ? 0xb : 0x3;  // execute/read or read/write, accessed
    s.present = 1;
    s.s = 1;
    return s;
}

void write_gdt(GuestMemory& mem, std::uint64_t gdt) {
    mem.write64(gdt, 0);  // the null descriptor
    for (auto slot : {GdtSlot::Code32, GdtSlot::Data, GdtSlot::Code64})
        mem.write64(gdt + selector_of(slot), encode_descriptor(flat_segment(slot)));
}

// 32-bit paging with CR4.PSE: one page directory whose entries map 4 MiB pages
// (SDM 4.3, table 4-4). Covers all of RAM; the rest of the directory stays zero.
void write_pse_tables(GuestMemory& mem, std::uint64_t pd, std::uint64_t ram) {
    mem.fill(pd, kPageSize, 0);
    for (std::uint64_t i = 0; i < div_round_up(ram, 4 * kMiB); ++i)
        mem.write32(pd + 4 * i, static_cast<std::uint32_t>((i << 22) | PTE_PS | PTE_RW | PTE_P));
}

// 4-level paging (SDM 4.5): PML4[0] -> PDPT, PDPT[j] -> PD j, PD j of 2 MiB pages.
void write_long_tables(GuestMemory& mem, std::uint64_t pml4, std::uint64_t ram) {
    std::uint64_t pdpt = pml4 + kPageSize, pd0 = pdpt + kPageSize;
    std::uint64_t pds = div_round_up(ram, kGiB);
    mem.fill(pml4, (2 + pds) * kPageSize, 0);
    mem.write64(pml4, pdpt | PTE_RW | PTE_P);
    for (std::uint64_t j = 0; j < pds; ++j) mem.write64(pdpt + 8 * j, (pd0 + j * kPageSize) | PTE_RW | PTE_P);
    for (std::uint64_t i = 0; i < div_round_up(ram, 2 * kMiB); ++i)
        mem.write64(pd0 + 8 * i, (i << 21) | PTE_PS | PTE_RW | PTE_P);
}

}  // namespace

std::uint64_t system_area_size(const ModeDescription& mode, std::uint64_t ram) {
    if (!mode.uses_gdt) return 0;
    switch (mode.paging) {
    case Paging::None: return kPageSize;
    case Paging::Pse4M: return 2 * kPageSize;
    case Paging::Long4Level2M: return (3 + div_round_up(ram, kGiB)) * kPageSize;
    }
    return 0;
}

SystemArea place_system_area(const ModeDescription& mode, std::uint64_t ram,
                             const std::vector<PhysRange>& image) {
    SystemArea a;
    a.size = system_area_size(mode, ram);
    if (a.size == 0) {
        a.stack_top = kRealModeStack;
        return a;
    }
    if (ram < kLowSystemBase + a.size)
        throw ModeSetupError(std::string(mode.name) + " mode needs " + std::to_string(a.size / 1024) +
                             " KiB of tables at " + hex(kLowSystemBase) + " but guest RAM is only " +
                             std::to_string(ram / 1024) + " KiB");
    std::uint64_t top = (ram - a.size) & ~(kPageSize - 1);
    if (!overlaps(kLowSystemBase, kLowSystemBase + a.size, image)) {
        a.base = kLowSystemBase;
        a.stack_top = ram;
    } else if (!overlaps(top, top + a.size, image)) {
        a.base = top;
        a.stack_top = top;
    } else {
        throw ModeSetupError("the loaded image overlaps kvmgdb's GDT and page tables (" +
                             std::to_string(a.size) + " bytes) both at " + hex(kLowSystemBase) +
                             " and at the top of RAM " + hex(top) +
                             "; link the guest elsewhere or give it more --memory");
    }
    a.gdt = a.base;
    a.page_tables = mode.paging == Paging::None ? 0 : a.base + kPageSize;
    return a;
}

std::uint64_t encode_descriptor(const kvm_segment& s) {
    std::uint64_t limit = s.g ? (s.limit >> 12) : s.limit;
    std::uint64_t d = (limit & 0xffff) | ((s.base & 0xffffff) << 16);
    d |= std::uint64_t(s.type & 0xf) << 40 | std::uint64_t(s.s & 1) << 44 | std::uint64_t(s.dpl & 3) << 45 |
         std::uint64_t(s.present & 1) << 47;
    d |= ((limit >> 16) & 0xf) << 48 | std::uint64_t(s.avl & 1) << 52 | std::uint64_t(s.l & 1) << 53 |
         std::uint64_t(s.db & 1) << 54 | std::uint64_t(s.g & 1) << 55;
    d |= ((s.base >> 24) & 0xff) << 56;
    return d;
}

kvm_segment flat_segment(GdtSlot slot) {
    kvm_segment s{};
    s.selector = selector_of(slot);
    s.base = 0;
    s.limit = 0xffffffff;  // 4 GiB with 4 KiB granularity
    s.g = 1;
    s.present = 1;
    s.s = 1;
    switch (slot) {
    case GdtSlot::Code32: s.type = 0xb; s.db = 1; break;  // execute/read, accessed
    case GdtSlot::Code64: s.type = 0xb; s.l = 1; break;   // L=1 requires D=0
    case GdtSlot::Data: s.type = 0x3; s.db = 1; break;    // read/write, accessed
    default: s = kvm_segment{}; s.unusable = 1; break;
    }
    // The accessed bit is preset so the CPU never writes the descriptor back.
    return s;
}

void setup_mode(const ModeDescription& mode, const SystemArea& area, std::uint64_t entry,
                GuestMemory& mem, kvm_sregs& sregs, kvm_regs& regs) {
    regs = kvm_regs{};
    regs.rflags = 0x2;  // bit 1 is reserved-1; IF clear: there is no interrupt source
    regs.rsp = area.stack_top;

    if (!mode.uses_gdt) {
        if (entry >= 0x100000) throw ModeSetupError("real-mode entry point " + hex(entry) + " is above 1 MiB");
        auto cs = static_cast<std::uint16_t>((entry & 0xf0000) >> 4);
        regs.rip = entry & 0xffff;
        sregs.cs = real_segment(cs, true);
        for (kvm_segment* s : {&sregs.ds, &sregs.es, &sregs.fs, &sregs.gs, &sregs.ss})
            *s = real_segment(0, false);
        sregs.gdt = {};
        sregs.gdt.limit = 0xffff;
        sregs.idt = {};
        sregs.idt.limit = 0x3ff;  // the real-mode IVT at 0
    } else {
        if (!mem.contains(area.base, area.size))
            throw ModeSetupError("system area " + hex(area.base) + " does not fit in guest RAM");
        write_gdt(mem, area.gdt);
        sregs.gdt.base = area.gdt;
        sregs.gdt.limit = static_cast<std::uint16_t>(selector_of(GdtSlot::Count) - 1);
        // No IDT: any exception escalates to a triple fault, which kvmgdb reports.
        sregs.idt.base = 0;
        sregs.idt.limit = 0;
        sregs.cs = flat_segment(mode.code);
        for (kvm_segment* s : {&sregs.ds, &sregs.es, &sregs.fs, &sregs.gs, &sregs.ss})
            *s = flat_segment(mode.data);
        regs.rip = entry;
    }

    switch (mode.paging) {
    case Paging::None: sregs.cr3 = 0; break;
    case Paging::Pse4M: write_pse_tables(mem, area.page_tables, mem.size()); sregs.cr3 = area.page_tables; break;
    case Paging::Long4Level2M: write_long_tables(mem, area.page_tables, mem.size()); sregs.cr3 = area.page_tables; break;
    }
    sregs.cr0 = mode.cr0;
    sregs.cr4 = mode.cr4;
    sregs.efer = mode.efer;
}

void set_initial_fpu(XsaveArea& area) {
    // Keep the rest of what KVM gave (MXCSR_MASK, the XSAVE header's other bits);
    // registers, tags and pointers are zero as after FNINIT.
    const auto mxcsr_mask = fx::get<std::uint32_t>(area, fx::MXCSR_MASK);
    std::fill(area.bytes.begin(), area.bytes.begin() + fx::XSTATE_BV, std::uint8_t{0});
    fx::put<std::uint16_t>(area, fx::FCW, 0x37f);     // all exceptions masked, 64-bit precision, round to nearest
    fx::put<std::uint32_t>(area, fx::MXCSR, 0x1f80);  // all SSE exceptions masked
    fx::put<std::uint32_t>(area, fx::MXCSR_MASK, mxcsr_mask);
    fx::mark_legacy_present(area);
}

}  // namespace kvmgdb
