// The register layouts gdb expects from an x86 stub, one per architecture the
// guest can be in. The names, sizes, types and order are gdb's own
// (gdb/features/i386/{32,64}bit-{core,sse,segments,avx,avx512}.xml) so that gdb's
// i386/amd64 code recognises every register it knows; what gdb has no feature for
// (control, debug and extended control registers, EFER, segment bases) is in a
// feature of ours. The same
// table produces the target description (target_description.hpp), the `g`
// packet layout and the p/P register numbers, so they cannot disagree.
// No KVM here: this header must never include <linux/kvm.h>.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

namespace kvmgdb::stub {

// What gdb should think the CPU is. Real mode is i8086 (gdb then disassembles
// 16-bit code) but keeps the i386 register set: gdb's i386 tdep serves both and
// always validates the 32-bit core feature. Protected mode, with or without
// paging, is i386; long mode is i386:x86-64.
enum class Arch { I8086, I386, X86_64 };

// The BFD architecture name for <architecture>: "i8086", "i386", "i386:x86-64".
std::string_view architecture_name(Arch arch);

// Target-description feature names. The first three are gdb's and make gdb's x86
// code take over those registers; unknown features such as the last are accepted
// by gdb, which shows their registers by name. gdb 13's i386 code decides
// register groups itself and ignores a description's group="system", so these
// appear in plain `info registers` (checked by hand with gdb 13.1); the group
// is still there for clients that honour it.
inline constexpr std::string_view kFeatureCore = "org.gnu.gdb.i386.core";
inline constexpr std::string_view kFeatureSse = "org.gnu.gdb.i386.sse";
inline constexpr std::string_view kFeatureSegments = "org.gnu.gdb.i386.segments";
inline constexpr std::string_view kFeatureAvx = "org.gnu.gdb.i386.avx";
inline constexpr std::string_view kFeatureAvx512 = "org.gnu.gdb.i386.avx512";
inline constexpr std::string_view kFeatureSystem = "org.kvmgdb.x86.system";

struct RegisterInfo {
    std::string_view name;     // gdb's name: "rax", "eflags", "st0", "xmm3", "cr3"...
    unsigned bitsize;          // 32, 64, 80, 128 or 256
    std::string_view type;     // a gdb predefined type or one the feature defines
    std::string_view group;    // "float", "vector", "system", or "" for the client's default
    std::string_view feature;  // which <feature> the register belongs to
    unsigned regnum;           // gdb's remote register number: p/P packets, stop replies
    std::size_t offset;        // byte offset of the register in the `g` packet
};

// Bytes the register occupies in `g`, `p` and `P` (little-endian, x86 order).
constexpr std::size_t reg_size(const RegisterInfo& reg) { return reg.bitsize / 8; }

// The register sets beyond SSE that the layouts can carry, as gdb's features of
// the same names (gdb/features/i386/{32,64}bit-avx{,512}.xml). Which ones a
// target serves depends on the host CPU (DebugTarget::register_features), not on
// the mode: they are fixed for a connection, as gdb reads the description once.
struct RegisterFeatures {
    bool avx = false;     // org.gnu.gdb.i386.avx: ymm0h-ymm15h (ymm0h-7h in 32-bit layouts)
    bool avx512 = false;  // org.gnu.gdb.i386.avx512: needs avx (gdb refuses it alone)

    // avx512 without avx is dropped: gdb's i386_validate_tdesc_p rejects the
    // whole description when avx512 comes without avx.
    constexpr RegisterFeatures normalized() const { return {avx, avx && avx512}; }
    friend constexpr bool operator==(const RegisterFeatures&, const RegisterFeatures&) = default;
};

class RegisterLayout {
public:
    // Numbers the registers 0, 1, 2... in order and packs them without gaps,
    // which is how gdb lays out `g` when the description gives no offsets.
    RegisterLayout(Arch arch, std::vector<RegisterInfo> registers, RegisterFeatures features = {});

    Arch arch() const { return arch_; }
    RegisterFeatures features() const { return features_; }
    std::span<const RegisterInfo> registers() const { return registers_; }
    std::vector<RegisterInfo>::const_iterator begin() const { return registers_.begin(); }
    std::vector<RegisterInfo>::const_iterator end() const { return registers_.end(); }
    std::size_t size() const { return registers_.size(); }  // number of registers
    std::size_t g_size() const { return g_size_; }          // bytes in a `g` reply

    // nullptr when there is no such register.
    const RegisterInfo* find(std::string_view name) const;
    const RegisterInfo* find(unsigned regnum) const;
    // Like find(regnum) but throws std::out_of_range.
    const RegisterInfo& at(unsigned regnum) const;

private:
    Arch arch_;
    RegisterFeatures features_;
    std::vector<RegisterInfo> registers_;
    std::size_t g_size_ = 0;
};

// The layout for `arch` with the register sets of `features` (normalized), built
// once per combination. I8086 and I386 have the same registers. The features'
// registers come after the system feature, so every other register keeps its
// number and offset whatever the host offers.
const RegisterLayout& register_layout(Arch arch, RegisterFeatures features = {});

}  // namespace kvmgdb::stub
