#include "debug/mode_change.hpp"

#include "x86/cpu_mode.hpp"

namespace kvmgdb::debug {

ModeSignature mode_signature(const kvm_sregs& s) {
    ModeSignature m;
    m.pe = (s.cr0 & bits::CR0_PE) != 0;
    m.pg = (s.cr0 & bits::CR0_PG) != 0;
    m.pae = (s.cr4 & bits::CR4_PAE) != 0;
    m.lme = (s.efer & bits::EFER_LME) != 0;
    m.lma = (s.efer & bits::EFER_LMA) != 0;
    m.cs_l = m.lma && s.cs.l != 0;
    return m;
}

std::string mode_name(const ModeSignature& m) {
    if (m.lma) return m.cs_l ? "long mode (64-bit)" : "compatibility mode";
    if (!m.pe) return "real mode";  // CR0.PG without PE is a #GP: never seen
    if (!m.pg) return "protected mode";
    return m.pae ? "protected mode, PAE paging" : "protected mode, 32-bit paging";
}

std::string describe_mode_change(const ModeSignature& before, const ModeSignature& after) {
    std::string bits;
    auto bit = [&](const char* name, bool a, bool b) {
        if (a == b) return;
        if (!bits.empty()) bits += ", ";
        bits += std::string(name) + (a ? " 1 -> " : " 0 -> ") + (b ? "1" : "0");
    };
    bit("CR0.PE", before.pe, after.pe);
    bit("CR0.PG", before.pg, after.pg);
    bit("CR4.PAE", before.pae, after.pae);
    bit("EFER.LME", before.lme, after.lme);
    bit("EFER.LMA", before.lma, after.lma);
    bit("CS.L", before.cs_l, after.cs_l);
    std::string text = mode_name(before) + " -> " + mode_name(after);
    if (!bits.empty()) text += " (" + bits + ")";
    return text;
}

}  // namespace kvmgdb::debug
