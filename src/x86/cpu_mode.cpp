#include "x86/cpu_mode.hpp"

#include <array>

namespace kvmgdb {

namespace {
using namespace bits;

// x87 and SSE usable from the first instruction in every mode: MP and NE set and EM
// clear (SDM 9.2, 13.1); OSFXSR|OSXMMEXCPT in the 32- and 64-bit modes so compiled C
// that uses SSE runs. ET is hard-wired to 1 on every CPU since the i486.
constexpr std::uint64_t kCr0Fpu = CR0_MP | CR0_ET | CR0_NE;
constexpr std::uint64_t kCr4Sse = CR4_OSFXSR | CR4_OSXMMEXCPT;

constexpr std::array<ModeDescription, 4> kModes{{
    {CpuMode::Real, "real", kCr0Fpu, 0, 0, Paging::None, false, GdtSlot::Null, GdtSlot::Null, false},
    {CpuMode::Protected, "protected", kCr0Fpu | CR0_PE, kCr4Sse, 0, Paging::None, true,
     GdtSlot::Code32, GdtSlot::Data, false},
    {CpuMode::Paged32, "paged32", kCr0Fpu | CR0_PE | CR0_PG, kCr4Sse | CR4_PSE, 0, Paging::Pse4M, true,
     GdtSlot::Code32, GdtSlot::Data, false},
    {CpuMode::Long, "long", kCr0Fpu | CR0_PE | CR0_PG, kCr4Sse | CR4_PAE, EFER_LME | EFER_LMA,
     Paging::Long4Level2M, true, GdtSlot::Code64, GdtSlot::Data, true},
}};
}  // namespace

const ModeDescription& describe(CpuMode mode) { return kModes[static_cast<std::size_t>(mode)]; }

std::optional<CpuMode> parse_cpu_mode(std::string_view name) {
    for (const auto& m : kModes)
        if (m.name == name) return m.mode;
    return std::nullopt;
}

std::string_view to_string(CpuMode mode) { return describe(mode).name; }

}  // namespace kvmgdb
