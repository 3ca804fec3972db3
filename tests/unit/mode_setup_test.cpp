// Mode setup into plain guest memory, checked by decoding what was written:
// control bits, segment attributes, the GDT in RAM, and every page-table entry.
#include <gtest/gtest.h>

#include "x86/mode_setup.hpp"

using namespace kvmgdb;
using namespace kvmgdb::bits;

namespace {

constexpr std::uint64_t MiB = 1ull << 20, GiB = 1ull << 30;

struct Setup {
    GuestMemory mem;
    SystemArea area;
    kvm_sregs sregs{};
    kvm_regs regs{};
};

Setup run_setup(CpuMode m, std::uint64_t ram, std::uint64_t entry, std::vector<PhysRange> image = {}) {
    Setup s{GuestMemory(ram), {}, {}, {}};
    s.mem.fill(0, ram, 0xcc);  // dirty RAM: every table byte must be written, not assumed zero
    s.area = place_system_area(describe(m), ram, image);
    setup_mode(describe(m), s.area, entry, s.mem, s.sregs, s.regs);
    return s;
}

void expect_flat(const kvm_segment& seg, std::uint16_t selector, std::uint8_t type, int db, int l) {
    EXPECT_EQ(seg.selector, selector);
    EXPECT_EQ(seg.base, 0u);
    EXPECT_EQ(seg.limit, 0xffffffffu);
    EXPECT_EQ(seg.type, type);
    EXPECT_EQ(seg.present, 1);
    EXPECT_EQ(seg.s, 1);
    EXPECT_EQ(seg.g, 1);
    EXPECT_EQ(seg.db, db);
    EXPECT_EQ(seg.l, l);
    EXPECT_EQ(seg.dpl, 0);
}

// The GDT in RAM must hold exactly the segments loaded into the registers, so a
// guest that reloads a selector gets the same segment.
void expect_gdt_matches(const Setup& s, const kvm_segment& seg) {
    std::uint64_t desc = s.mem.read64(s.sregs.gdt.base + seg.selector);
    EXPECT_EQ(desc, encode_descriptor(seg)) << "selector " << seg.selector;
}

}  // namespace

TEST(ModeDescription, NamesRoundTrip) {
    for (auto m : {CpuMode::Real, CpuMode::Protected, CpuMode::Paged32, CpuMode::Long})
        EXPECT_EQ(parse_cpu_mode(to_string(m)), m);
    EXPECT_FALSE(parse_cpu_mode("vm86"));
}

TEST(Descriptor, EncodesTheClassicFlatSegments) {
    // The well-known values every OS tutorial's GDT has.
    EXPECT_EQ(encode_descriptor(flat_segment(GdtSlot::Code32)), 0x00cf9b000000ffffull);
    EXPECT_EQ(encode_descriptor(flat_segment(GdtSlot::Data)), 0x00cf93000000ffffull);
    EXPECT_EQ(encode_descriptor(flat_segment(GdtSlot::Code64)), 0x00af9b000000ffffull);
}

TEST(ModeSetup, RealMode) {
    auto s = run_setup(CpuMode::Real, 1 * MiB, 0x8000);
    EXPECT_EQ(s.area.size, 0u);
    EXPECT_EQ(s.sregs.cr0, CR0_MP | CR0_ET | CR0_NE);
    EXPECT_EQ(s.sregs.cr0 & (CR0_PE | CR0_PG | CR0_EM), 0u);
    EXPECT_EQ(s.sregs.cr4, 0u);
    EXPECT_EQ(s.sregs.efer, 0u);
    EXPECT_EQ(s.sregs.cs.selector, 0);
    EXPECT_EQ(s.sregs.cs.base, 0u);
    EXPECT_EQ(s.sregs.cs.limit, 0xffffu);
    EXPECT_EQ(s.regs.rip, 0x8000u);
    EXPECT_EQ(s.regs.rsp, kRealModeStack);
    EXPECT_EQ(s.regs.rflags, 0x2u);
    EXPECT_EQ(s.sregs.idt.limit, 0x3ff);
    EXPECT_EQ(s.mem.read8(0x1000), 0xcc) << "real mode writes no tables";
}

TEST(ModeSetup, RealModeEntryAbove64KUsesCsBaseSelectorTimes16) {
    auto s = run_setup(CpuMode::Real, 1 * MiB, 0x12345);
    EXPECT_EQ(s.sregs.cs.selector, 0x1000);
    EXPECT_EQ(s.sregs.cs.base, 0x10000u);
    EXPECT_EQ(s.regs.rip, 0x2345u);
    EXPECT_EQ(s.sregs.cs.base + s.regs.rip, 0x12345u);
}

TEST(ModeSetup, RealModeRejectsEntryAbove1MiB) {
    EXPECT_THROW(run_setup(CpuMode::Real, 4 * MiB, 0x100000), ModeSetupError);
}

TEST(ModeSetup, ProtectedMode) {
    auto s = run_setup(CpuMode::Protected, 64 * MiB, 0x100000);
    EXPECT_EQ(s.sregs.cr0, CR0_PE | CR0_MP | CR0_ET | CR0_NE);
    EXPECT_EQ(s.sregs.cr4, CR4_OSFXSR | CR4_OSXMMEXCPT);
    EXPECT_EQ(s.sregs.efer, 0u);
    expect_flat(s.sregs.cs, 0x08, 0xb, 1, 0);
    for (auto* seg : {&s.sregs.ds, &s.sregs.es, &s.sregs.fs, &s.sregs.gs, &s.sregs.ss})
        expect_flat(*seg, 0x10, 0x3, 1, 0);
    EXPECT_EQ(s.sregs.gdt.base, kLowSystemBase);
    EXPECT_EQ(s.sregs.gdt.limit, 31);
    EXPECT_EQ(s.sregs.idt.limit, 0);
    expect_gdt_matches(s, s.sregs.cs);
    expect_gdt_matches(s, s.sregs.ds);
    EXPECT_EQ(s.mem.read64(s.sregs.gdt.base), 0u) << "null descriptor";
    EXPECT_EQ(s.regs.rip, 0x100000u);
    EXPECT_EQ(s.regs.rsp, 64 * MiB);
}

TEST(ModeSetup, Paged32MapsAllOfRamWith4MiBPages) {
    const std::uint64_t ram = 64 * MiB + 4096;  // not a multiple of 4 MiB: the last page is covered too
    auto s = run_setup(CpuMode::Paged32, ram, 0x100000);
    EXPECT_EQ(s.sregs.cr0, CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_PG);
    EXPECT_EQ(s.sregs.cr4, CR4_PSE | CR4_OSFXSR | CR4_OSXMMEXCPT);
    EXPECT_EQ(s.sregs.cr4 & CR4_PAE, 0u);
    expect_flat(s.sregs.cs, 0x08, 0xb, 1, 0);
    expect_gdt_matches(s, s.sregs.cs);
    ASSERT_EQ(s.sregs.cr3, s.area.page_tables);
    const std::uint64_t mapped = 17;  // ceil((64 MiB + 4 KiB) / 4 MiB)
    for (std::uint64_t i = 0; i < 1024; ++i) {
        std::uint32_t pde = s.mem.read32(s.sregs.cr3 + 4 * i);
        if (i < mapped)
            EXPECT_EQ(pde, (i << 22) | 0x83) << "PDE " << i;  // present, writable, 4 MiB page
        else
            EXPECT_EQ(pde, 0u) << "PDE " << i;
    }
}

TEST(ModeSetup, LongModeMapsAllOfRamWith2MiBPages) {
    const std::uint64_t ram = 1 * GiB + 6 * MiB;  // spans two page directories
    auto s = run_setup(CpuMode::Long, ram, 0x100000);
    EXPECT_EQ(s.sregs.cr0, CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_PG);
    EXPECT_EQ(s.sregs.cr4, CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT);
    EXPECT_EQ(s.sregs.efer, EFER_LME | EFER_LMA);
    expect_flat(s.sregs.cs, 0x18, 0xb, 0, 1);
    expect_flat(s.sregs.ds, 0x10, 0x3, 1, 0);
    expect_gdt_matches(s, s.sregs.cs);
    expect_gdt_matches(s, s.sregs.ss);

    // Walk every entry: PML4[0] -> PDPT; PDPT[0..1] -> PDs; PD entries identity 2 MiB pages.
    std::uint64_t pml4 = s.sregs.cr3;
    ASSERT_EQ(pml4 % 4096, 0u);
    std::uint64_t pml4e = s.mem.read64(pml4);
    ASSERT_EQ(pml4e & 0xfff, 0x3u);
    for (int i = 1; i < 512; ++i) EXPECT_EQ(s.mem.read64(pml4 + 8 * i), 0u);
    std::uint64_t pdpt = pml4e & ~0xfffull;
    std::uint64_t pages = 0;
    for (std::uint64_t j = 0; j < 512; ++j) {
        std::uint64_t pdpte = s.mem.read64(pdpt + 8 * j);
        if (j >= 2) {
            EXPECT_EQ(pdpte, 0u);
            continue;
        }
        ASSERT_EQ(pdpte & 0xfff, 0x3u) << "PDPTE " << j;
        std::uint64_t pd = pdpte & ~0xfffull;
        for (std::uint64_t k = 0; k < 512; ++k) {
            std::uint64_t pde = s.mem.read64(pd + 8 * k);
            std::uint64_t va = (j << 30) | (k << 21);
            if (va < ram) {
                EXPECT_EQ(pde, va | 0x83) << "PDE for " << std::hex << va;
                ++pages;
            } else {
                EXPECT_EQ(pde, 0u);
            }
        }
    }
    EXPECT_EQ(pages, 515u);  // 1 GiB + 6 MiB in 2 MiB pages
}

TEST(ModeSetup, TablesNeverOverlapTheImage) {
    // An image at the low table spot pushes the tables to the top of RAM.
    std::vector<PhysRange> image{{0x1000, 0x9000}};
    auto s = run_setup(CpuMode::Long, 64 * MiB, 0x1000, image);
    EXPECT_GE(s.area.base, 0x9000u);
    EXPECT_LE(s.area.base + s.area.size, 64 * MiB);
    EXPECT_EQ(s.regs.rsp, s.area.base) << "the stack grows down from below the tables";
    EXPECT_EQ(s.mem.read64(s.sregs.cr3) & 0xfff, 0x3u);
}

TEST(ModeSetup, ImageCoveringBothSpotsIsRefusedWithBothRanges) {
    std::vector<PhysRange> image{{0, 64 * MiB}};
    try {
        place_system_area(describe(CpuMode::Long), 64 * MiB, image);
        FAIL() << "expected ModeSetupError";
    } catch (const ModeSetupError& e) {
        EXPECT_NE(std::string(e.what()).find("overlaps"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("0x1000"), std::string::npos) << e.what();
    }
}

TEST(ModeSetup, TooSmallMemoryIsRejected) {
    EXPECT_THROW(place_system_area(describe(CpuMode::Long), 8192, {}), ModeSetupError);
    EXPECT_THROW(place_system_area(describe(CpuMode::Paged32), 8192, {}), ModeSetupError);
    EXPECT_NO_THROW(place_system_area(describe(CpuMode::Real), 8192, {}));
}

TEST(ModeSetup, InitialFpuIsTheResetState) {
    XsaveArea a;
    a.bytes.fill(0xaa);  // whatever KVM_GET_XSAVE gave
    fx::put<std::uint32_t>(a, fx::MXCSR_MASK, 0xffff);
    fx::put<std::uint64_t>(a, fx::XSTATE_BV, 0x4);  // AVX only: x87 and SSE in their init state
    set_initial_fpu(a);
    EXPECT_EQ(fx::get<std::uint16_t>(a, fx::FCW), 0x37f);
    EXPECT_EQ(fx::get<std::uint16_t>(a, fx::FSW), 0);
    EXPECT_EQ(a.bytes[fx::FTW], 0);  // every register empty
    EXPECT_EQ(fx::get<std::uint32_t>(a, fx::MXCSR), 0x1f80u);
    EXPECT_EQ(fx::get<std::uint32_t>(a, fx::MXCSR_MASK), 0xffffu);  // KVM's, kept
    EXPECT_EQ(fx::st(a, 7)[9], 0);
    EXPECT_EQ(fx::xmm(a, 15)[15], 0);
    // x87 and SSE present, so KVM_SET_XSAVE loads them (MXCSR with SSE); AVX kept.
    EXPECT_EQ(fx::get<std::uint64_t>(a, fx::XSTATE_BV), 0x7u);
    EXPECT_EQ(a.bytes[fx::XSTATE_BV + 8], 0xaa);  // the header past XSTATE_BV is KVM's
}
