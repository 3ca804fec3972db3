// The four CPU modes a guest can start in, described as data: control-register
// bits, which GDT descriptors the segment registers hold, and which page tables
// to build. One setup function (mode_setup.cpp) interprets these descriptions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kvmgdb {

enum class CpuMode { Real, Protected, Paged32, Long };

enum class Paging {
    None,         // CR0.PG = 0
    Pse4M,        // 32-bit paging, one page directory of 4 MiB pages (CR4.PSE)
    Long4Level2M  // 4-level paging, PML4 -> PDPT -> PD of 2 MiB pages
};

// Control-register and RFLAGS bits (Intel SDM Vol. 3A 2.5, 2.2.1).
namespace bits {
inline constexpr std::uint64_t CR0_PE = 1u << 0, CR0_MP = 1u << 1, CR0_EM = 1u << 2,
                               CR0_ET = 1u << 4, CR0_NE = 1u << 5, CR0_WP = 1u << 16, CR0_PG = 1u << 31;
inline constexpr std::uint64_t CR4_PSE = 1u << 4, CR4_PAE = 1u << 5, CR4_OSFXSR = 1u << 9,
                               CR4_OSXMMEXCPT = 1u << 10, CR4_LA57 = 1u << 12, CR4_SMEP = 1u << 20;
inline constexpr std::uint64_t EFER_LME = 1u << 8, EFER_LMA = 1u << 10, EFER_NXE = 1u << 11;
// RFLAGS (Intel SDM Vol. 1 3.4.3): TF, IF, virtual-8086 mode, and where IOPL's two bits start.
inline constexpr std::uint64_t RFLAGS_TF = 1u << 8, RFLAGS_IF = 1u << 9, RFLAGS_VM = 1u << 17;
inline constexpr unsigned RFLAGS_IOPL_SHIFT = 12;
}  // namespace bits

// GDT slots kvmgdb writes into guest memory (see gdt.hpp); selectors are slot*8.
enum class GdtSlot : std::uint16_t { Null = 0, Code32 = 1, Data = 2, Code64 = 3, Count = 4 };
inline constexpr std::uint16_t selector_of(GdtSlot s) { return static_cast<std::uint16_t>(s) * 8; }

struct ModeDescription {
    CpuMode mode;
    std::string_view name;  // as on the command line: real, protected, paged32, long
    std::uint64_t cr0;
    std::uint64_t cr4;
    std::uint64_t efer;
    Paging paging;
    bool uses_gdt;        // false in real mode: segments are selector*16 bases
    GdtSlot code;         // CS in the protected modes
    GdtSlot data;         // DS, ES, FS, GS, SS in the protected modes
    bool elf64;           // which ELF class the mode runs (64-bit code needs long mode)
};

const ModeDescription& describe(CpuMode mode);
std::optional<CpuMode> parse_cpu_mode(std::string_view name);
std::string_view to_string(CpuMode mode);

}  // namespace kvmgdb
