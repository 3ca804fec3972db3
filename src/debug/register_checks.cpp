#include "debug/register_checks.hpp"

#include <cstring>

#include "util/hex.hpp"
#include "x86/fxsave.hpp"

namespace kvmgdb::debug {

namespace {

// SDM Vol. 1 13.1: the state components whose XCR0 bits come in pairs or sets.
constexpr std::uint64_t kX87 = fx::XFEATURE_X87, kSse = fx::XFEATURE_SSE, kAvx = fx::XFEATURE_AVX;
constexpr std::uint64_t kBndregs = 1u << 3, kBndcsr = 1u << 4;
constexpr std::uint64_t kAvx512 = fx::XFEATURE_OPMASK | fx::XFEATURE_ZMM_HI256 | fx::XFEATURE_HI16_ZMM;
constexpr std::uint64_t kXtile = (1u << 17) | (1u << 18);

// Both or neither of the bits of `set`.
bool all_or_none(std::uint64_t v, std::uint64_t set) { return (v & set) == 0 || (v & set) == set; }

std::uint64_t xcr0_of(const kvm_xcrs& x) {
    for (std::uint32_t i = 0; i < x.nr_xcrs && i < KVM_MAX_XCRS; ++i)
        if (x.xcrs[i].xcr == 0) return x.xcrs[i].value;
    return 0;
}

}  // namespace

std::uint64_t supported_xcr0(std::span<const kvm_cpuid_entry2> cpuid) {
    for (const kvm_cpuid_entry2& e : cpuid)
        if (e.function == 0xd && e.index == 0) return std::uint64_t(e.edx) << 32 | e.eax;
    return 0;
}

std::optional<std::string> xcr0_problem(std::uint64_t xcr0, std::uint64_t supported) {
    const std::string v = "XCR0 " + hex(xcr0) + ": ";
    if (supported == 0) return v + "the host's CPUID offers no XSAVE (no leaf 0xD), so XCR0 cannot change";
    if (!(xcr0 & kX87)) return v + "bit 0 (x87) must be set";
    if ((xcr0 & kAvx) && !(xcr0 & kSse)) return v + "AVX (bit 2) needs SSE (bit 1)";
    if (!all_or_none(xcr0, kBndregs | kBndcsr)) return v + "BNDREGS and BNDCSR (bits 3, 4) go together";
    if (!all_or_none(xcr0, kAvx512)) return v + "the AVX-512 bits 5-7 go together";
    if ((xcr0 & kAvx512) && !(xcr0 & kAvx)) return v + "AVX-512 (bits 5-7) needs AVX (bit 2)";
    if (!all_or_none(xcr0, kXtile)) return v + "XTILECFG and XTILEDATA (bits 17, 18) go together";
    if (std::uint64_t extra = xcr0 & ~(supported | kX87))
        return v + "bits " + hex(extra) + " are not offered by the host (CPUID leaf 0xD: " + hex(supported) + ")";
    return std::nullopt;
}

std::optional<std::string> store_problem(const CpuState& before, const CpuState& after, std::uint64_t supported) {
    if (before.fpu.bytes != after.fpu.bytes) {
        std::uint32_t mask = fx::get<std::uint32_t>(after.fpu, fx::MXCSR_MASK);
        if (mask == 0) mask = 0xffbf;  // SDM Vol. 1 11.6.6: the default when FXSAVE stores 0
        if (fx::get<std::uint32_t>(after.fpu, fx::MXCSR) & ~mask)
            return "MXCSR reserved bits set (MXCSR_MASK " + hex(mask) + ")";
    }
    if (std::memcmp(&before.debugregs, &after.debugregs, sizeof after.debugregs) != 0) {
        // SDM Vol. 3B 18.2.4/18.2.5: bits 63:32 of DR6 and DR7 are reserved, must be 0.
        if (after.debugregs.dr6 >> 32) return "DR6 " + hex(after.debugregs.dr6) + ": bits 63:32 must be 0";
        if (after.debugregs.dr7 >> 32) return "DR7 " + hex(after.debugregs.dr7) + ": bits 63:32 must be 0";
    }
    if (std::memcmp(&before.xcrs, &after.xcrs, sizeof after.xcrs) != 0) return xcr0_problem(xcr0_of(after.xcrs), supported);
    return std::nullopt;
}

}  // namespace kvmgdb::debug
