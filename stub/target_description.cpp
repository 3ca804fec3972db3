// target.xml generation. The document is derived from register_layout(), so the
// description, the `g` packet and the p/P numbers come from one table.
#include "stub/target_description.hpp"

#include <algorithm>
#include <initializer_list>
#include <utility>

namespace kvmgdb::stub {

namespace {

// A flag (one bit: name, bit) or, with `last`, a bit field from `bit` to `last`.
struct Field {
    std::string_view name;
    unsigned bit;
    unsigned last = 0;
};

void flags(std::string& out, std::string_view id, unsigned bytes, std::initializer_list<Field> fields) {
    out += "    <flags id=\"" + std::string(id) + "\" size=\"" + std::to_string(bytes) + "\">\n";
    for (const Field& f : fields) {
        out += "      <field name=\"" + std::string(f.name) + "\" start=\"" + std::to_string(f.bit) + "\" end=\"" +
               std::to_string(std::max(f.bit, f.last)) + "\"/>\n";
    }
    out += "    </flags>\n";
}

// Types as gdb's 32bit-core.xml/64bit-core.xml define them: EFLAGS as named
// flags (Intel SDM Vol. 1 3.4.3); bit 1 is the reserved always-1 bit, unnamed.
void core_types(std::string& out) {
    flags(out, "i386_eflags", 4,
          {{"CF", 0}, {"", 1}, {"PF", 2}, {"AF", 4}, {"ZF", 6}, {"SF", 7}, {"TF", 8}, {"IF", 9}, {"DF", 10},
           {"OF", 11}, {"NT", 14}, {"RF", 16}, {"VM", 17}, {"AC", 18}, {"VIF", 19}, {"VIP", 20}, {"ID", 21}});
}

// As gdb 13's {32,64}bit-sse.xml: the vec128 union gdb shows for an xmm register
// (64bit-avx512.xml repeats it for xmm16-31: types belong to their feature).
// bfloat16 and ieee_half need gdb 12 or later.
void vec128_type(std::string& out) {
    struct Vector {
        std::string_view id, element;
        unsigned count;
        std::string_view field;  // its name in vec128
    };
    static constexpr Vector kVectors[] = {
        {"v8bf16", "bfloat16", 8, "v8_bfloat16"}, {"v8h", "ieee_half", 8, "v8_half"},
        {"v4f", "ieee_single", 4, "v4_float"},    {"v2d", "ieee_double", 2, "v2_double"},
        {"v16i8", "int8", 16, "v16_int8"},        {"v8i16", "int16", 8, "v8_int16"},
        {"v4i32", "int32", 4, "v4_int32"},        {"v2i64", "int64", 2, "v2_int64"},
    };
    for (const Vector& v : kVectors) {
        out += "    <vector id=\"" + std::string(v.id) + "\" type=\"" + std::string(v.element) + "\" count=\"" +
               std::to_string(v.count) + "\"/>\n";
    }
    out += "    <union id=\"vec128\">\n";
    for (const Vector& v : kVectors) {
        out += "      <field name=\"" + std::string(v.field) + "\" type=\"" + std::string(v.id) + "\"/>\n";
    }
    out += "      <field name=\"uint128\" type=\"uint128\"/>\n";
    out += "    </union>\n";
}

// MXCSR as flags, as {32,64}bit-sse.xml.
void sse_types(std::string& out) {
    vec128_type(out);
    flags(out, "i386_mxcsr", 4,
          {{"IE", 0}, {"DE", 1}, {"ZE", 2}, {"OE", 3}, {"UE", 4}, {"PE", 5}, {"DAZ", 6}, {"IM", 7}, {"DM", 8},
           {"ZM", 9}, {"OM", 10}, {"UM", 11}, {"PM", 12}, {"FZ", 15}});
}

// Our control-register flags (Intel SDM Vol. 3A 2.5, Figures 2-7; 2.2.1 Table
// 2-1 for EFER), sized like the registers that use them.
void system_types(std::string& out, bool wide) {
    const unsigned cr_bytes = wide ? 8 : 4;
    flags(out, "kvmgdb_cr0", cr_bytes,
          {{"PE", 0}, {"MP", 1}, {"EM", 2}, {"TS", 3}, {"ET", 4}, {"NE", 5}, {"WP", 16}, {"AM", 18}, {"NW", 29},
           {"CD", 30}, {"PG", 31}});
    flags(out, "kvmgdb_cr4", cr_bytes,
          {{"VME", 0},    {"PVI", 1},      {"TSD", 2},   {"DE", 3},     {"PSE", 4},    {"PAE", 5},
           {"MCE", 6},    {"PGE", 7},      {"PCE", 8},   {"OSFXSR", 9}, {"OSXMMEXCPT", 10}, {"UMIP", 11},
           {"LA57", 12},  {"VMXE", 13},    {"SMXE", 14}, {"FSGSBASE", 16}, {"PCIDE", 17}, {"OSXSAVE", 18},
           {"SMEP", 20},  {"SMAP", 21},    {"PKE", 22},  {"CET", 23},   {"PKS", 24}});
    flags(out, "kvmgdb_efer", 8, {{"SCE", 0}, {"LME", 8}, {"LMA", 10}, {"NXE", 11}});
    // SDM Vol. 3B 18.2.3 (DR6) and 18.2.4 (DR7, with its 2-bit R/W and LEN fields).
    flags(out, "kvmgdb_dr6", cr_bytes,
          {{"B0", 0}, {"B1", 1}, {"B2", 2}, {"B3", 3}, {"BLD", 11}, {"BD", 13}, {"BS", 14}, {"BT", 15}, {"RTM", 16}});
    flags(out, "kvmgdb_dr7", cr_bytes,
          {{"L0", 0},       {"G0", 1},       {"L1", 2},       {"G1", 3},       {"L2", 4},       {"G2", 5},
           {"L3", 6},       {"G3", 7},       {"LE", 8},       {"GE", 9},       {"RTM", 11},     {"GD", 13},
           {"RW0", 16, 17}, {"LEN0", 18, 19}, {"RW1", 20, 21}, {"LEN1", 22, 23}, {"RW2", 24, 25}, {"LEN2", 26, 27},
           {"RW3", 28, 29}, {"LEN3", 30, 31}});
    // SDM Vol. 1 13.3: the XCR0 state-component bits.
    flags(out, "kvmgdb_xcr0", 8,
          {{"X87", 0}, {"SSE", 1}, {"AVX", 2}, {"BNDREG", 3}, {"BNDCSR", 4}, {"OPMASK", 5}, {"ZMM_Hi256", 6},
           {"Hi16_ZMM", 7}, {"PKRU", 9}, {"TILECFG", 17}, {"TILEDATA", 18}});
}

// As {32,64}bit-avx512.xml: xmm16-31 are vec128 (long mode only), zmmNh two uint128.
void avx512_types(std::string& out, bool wide) {
    if (wide) vec128_type(out);
    out += "    <vector id=\"v2ui128\" type=\"uint128\" count=\"2\"/>\n";
}

// The avx feature needs no types of its own: ymmNh are the predefined uint128.
void feature_types(std::string& out, std::string_view feature, bool wide) {
    if (feature == kFeatureCore) core_types(out);
    if (feature == kFeatureSse) sse_types(out);
    if (feature == kFeatureSystem) system_types(out, wide);
    if (feature == kFeatureAvx512) avx512_types(out, wide);
}

void reg(std::string& out, const RegisterInfo& r) {
    out += "    <reg name=\"" + std::string(r.name) + "\" bitsize=\"" + std::to_string(r.bitsize) + "\" type=\"" +
           std::string(r.type) + "\" regnum=\"" + std::to_string(r.regnum) + "\"";
    if (!r.group.empty()) out += " group=\"" + std::string(r.group) + "\"";
    out += "/>\n";
}

}  // namespace

std::string target_xml(Arch arch, RegisterFeatures features) { return target_xml(register_layout(arch, features)); }

std::string target_xml(const RegisterLayout& layout) {
    const Arch arch = layout.arch();
    const bool wide = arch == Arch::X86_64;
    // The DOCTYPE names gdb's DTD, which gdb carries built in. <osabi>none</osabi>
    // tells gdb the guest runs no OS it knows: without it a Linux-hosted gdb
    // assumes GNU/Linux for an ELF that does not say otherwise and applies Linux
    // conventions (signal trampolines, orig_rax, TLS) to bare metal. An ELF's own
    // OS ABI note still takes precedence over the description.
    std::string out = "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n";
    out += "  <architecture>" + std::string(architecture_name(arch)) + "</architecture>\n";
    out += "  <osabi>none</osabi>\n";
    // A 64-bit layout while gdb holds a 32-bit ELF (a kernel whose ELF32 entry code
    // switches to long mode, then a new connection): BFD calls i386 and x86-64
    // incompatible, and gdb would fall back to the ELF's i386 layout and reject our
    // registers. <compatible> tells gdb this description runs i386 code too.
    if (wide) out += "  <compatible>i386</compatible>\n";
    std::string_view open;  // the feature being written; registers of one feature are contiguous
    for (const RegisterInfo& r : layout) {
        if (r.feature != open) {
            if (!open.empty()) out += "  </feature>\n";
            open = r.feature;
            out += "  <feature name=\"" + std::string(open) + "\">\n";
            feature_types(out, open, wide);
        }
        reg(out, r);
    }
    if (!open.empty()) out += "  </feature>\n";
    out += "</target>\n";
    return out;
}

}  // namespace kvmgdb::stub
