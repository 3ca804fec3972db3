// The x87/SSE register state as the CPU saves it: the 512-byte FXSAVE "legacy
// region" (Intel SDM Vol. 1 10.5.1, Table 10-2) at the start of an XSAVE area
// (SDM Vol. 1 13.4), followed by the XSAVE header whose XSTATE_BV says which
// components the area holds.
//
// kvmgdb reads and writes this state with KVM_GET_XSAVE/KVM_SET_XSAVE, not
// KVM_GET_FPU/KVM_SET_FPU: the kernel's FPU ioctls copy fpr, fcw, fsw, ftwx, fop,
// rip, rdp and xmm but never MXCSR, so through them MXCSR reads 0 and writes are
// lost. Pure data plus accessors; no <linux/kvm.h> (whose C++ sizeof(kvm_xsave) is
// 4100 because of its flexible array, which would give the ioctls the wrong number).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace kvmgdb {

// A legacy-sized XSAVE area, as KVM_GET_XSAVE/KVM_SET_XSAVE take it (4096 bytes).
struct XsaveArea {
    alignas(64) std::array<std::uint8_t, 4096> bytes{};
};
static_assert(sizeof(XsaveArea) == 4096);

namespace fx {
// Byte offsets in the legacy region (SDM Vol. 1 Table 10-2) and the XSAVE header.
inline constexpr std::size_t FCW = 0, FSW = 2, FTW = 4, FOP = 6, FIP = 8, FDP = 16, MXCSR = 24,
                             MXCSR_MASK = 28, ST0 = 32, XMM0 = 160, XSTATE_BV = 512;
inline constexpr std::size_t ST_STRIDE = 16, XMM_STRIDE = 16, ST_SIZE = 10, XMM_SIZE = 16;
// XSTATE_BV bits (SDM Vol. 1 13.1): x87 and SSE (XMM registers and MXCSR), AVX
// (the upper halves of ymm0-15), and AVX-512's opmask (k0-7), ZMM_Hi256 (the upper
// 256 bits of zmm0-15) and Hi16_ZMM (zmm16-31 whole).
inline constexpr std::uint64_t XFEATURE_X87 = 1, XFEATURE_SSE = 2, XFEATURE_AVX = 1u << 2,
                               XFEATURE_OPMASK = 1u << 5, XFEATURE_ZMM_HI256 = 1u << 6,
                               XFEATURE_HI16_ZMM = 1u << 7;
// XSAVE state component numbers (SDM Vol. 1 13.1), the sub-leaves of CPUID leaf 0xD.
inline constexpr unsigned COMPONENT_AVX = 2, COMPONENT_OPMASK = 5, COMPONENT_ZMM_HI256 = 6,
                          COMPONENT_HI16_ZMM = 7;

template <class T>
T get(const XsaveArea& a, std::size_t offset) {
    T v;
    std::memcpy(&v, a.bytes.data() + offset, sizeof v);
    return v;
}

template <class T>
void put(XsaveArea& a, std::size_t offset, T v) {
    std::memcpy(a.bytes.data() + offset, &v, sizeof v);
}

inline std::uint8_t* st(XsaveArea& a, unsigned i) { return a.bytes.data() + ST0 + ST_STRIDE * i; }
inline const std::uint8_t* st(const XsaveArea& a, unsigned i) { return a.bytes.data() + ST0 + ST_STRIDE * i; }
inline std::uint8_t* xmm(XsaveArea& a, unsigned i) { return a.bytes.data() + XMM0 + XMM_STRIDE * i; }
inline const std::uint8_t* xmm(const XsaveArea& a, unsigned i) { return a.bytes.data() + XMM0 + XMM_STRIDE * i; }

// Where the standard (non-compacted) format, which KVM_GET_XSAVE/KVM_SET_XSAVE use,
// keeps a state component: CPUID.(EAX=0DH,ECX=i):EBX is its offset and EAX its
// size (SDM Vol. 1 13.4.3).
struct XsaveComponent {
    std::size_t offset;
    std::size_t size;
};

// The AVX and AVX-512 components. The defaults are the offsets every Intel and AMD
// CPU with these components reports; xsave_support() (debug/register_map.hpp) takes
// them from the host's CPUID where it says. All of them end before byte 2688, inside
// the 4096-byte area KVM_GET_XSAVE fills, so KVM_GET_XSAVE suffices; AMX's TILEDATA
// (component 18, 8 KiB) would not fit and would need KVM_GET_XSAVE2.
struct XsaveLayout {
    XsaveComponent avx{576, 256};         // ymm0h-15h, 16 bytes each
    XsaveComponent opmask{1088, 64};      // k0-7, 8 bytes each
    XsaveComponent zmm_hi256{1152, 512};  // zmm0h-15h (bits 511:256), 32 bytes each
    XsaveComponent hi16_zmm{1664, 1024};  // zmm16-31, 64 bytes each: xmm, ymm upper, zmm upper
};
static_assert(XsaveLayout{}.hi16_zmm.offset + XsaveLayout{}.hi16_zmm.size <= sizeof(XsaveArea));

// Marks the x87 and SSE components as present, so that KVM_SET_XSAVE (XRSTOR)
// loads them from the area instead of putting them in their initial state; a
// component whose XSTATE_BV bit is clear would make a written register vanish.
inline void mark_legacy_present(XsaveArea& a) {
    put<std::uint64_t>(a, XSTATE_BV, get<std::uint64_t>(a, XSTATE_BV) | XFEATURE_X87 | XFEATURE_SSE);
}
}  // namespace fx

}  // namespace kvmgdb
