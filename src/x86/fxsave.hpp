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
// XSTATE_BV bits (SDM Vol. 1 13.1): x87 and SSE (XMM registers and MXCSR).
inline constexpr std::uint64_t XFEATURE_X87 = 1, XFEATURE_SSE = 2;

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

// Marks the x87 and SSE components as present, so that KVM_SET_XSAVE (XRSTOR)
// loads them from the area instead of putting them in their initial state; a
// component whose XSTATE_BV bit is clear would make a written register vanish.
inline void mark_legacy_present(XsaveArea& a) {
    put<std::uint64_t>(a, XSTATE_BV, get<std::uint64_t>(a, XSTATE_BV) | XFEATURE_X87 | XFEATURE_SSE);
}
}  // namespace fx

}  // namespace kvmgdb
