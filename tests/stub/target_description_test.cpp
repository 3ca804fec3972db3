// Register layouts and target.xml against gdb's own numbering and sizes
// (gdb/features/i386/*.xml, i386-tdep.h/amd64-tdep.h register enums). The
// expected numbers and byte counts below are written out by hand on purpose.
// The documents were also loaded into gdb 13.1 (`set tdesc filename`, `maint
// print remote-registers`) and accepted without a warning.
#include "stub/target_description.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "stub/registers.hpp"

namespace kvmgdb::stub {
namespace {

constexpr Arch kArches[] = {Arch::I8086, Arch::I386, Arch::X86_64};
constexpr RegisterFeatures kNone{}, kAvx{true, false}, kAvx512{true, true};

// Every layout a target can serve: each arch with no AVX, AVX, AVX and AVX-512.
std::vector<std::pair<Arch, RegisterFeatures>> all_layouts() {
    std::vector<std::pair<Arch, RegisterFeatures>> v;
    for (Arch a : kArches)
        for (RegisterFeatures f : {kNone, kAvx, kAvx512}) v.emplace_back(a, f);
    return v;
}

std::string describe(Arch arch, RegisterFeatures f) {
    return std::string(architecture_name(arch)) + (f.avx512 ? "+avx512" : f.avx ? "+avx" : "");
}

std::size_t count(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
}

// Checks that every element is closed in order (self-closing ones included) and
// returns "" or what went wrong. Enough XML to catch generator mistakes.
std::string check_balanced(const std::string& xml) {
    std::vector<std::string> open;
    for (std::size_t at = xml.find('<'); at != std::string::npos; at = xml.find('<', at + 1)) {
        std::size_t end = xml.find('>', at);
        if (end == std::string::npos) return "unterminated tag at " + std::to_string(at);
        std::string tag = xml.substr(at + 1, end - at - 1);
        if (tag.empty()) return "empty tag";
        if (tag[0] == '?' || tag[0] == '!') continue;  // declaration, DOCTYPE
        if (tag[0] == '/') {
            std::string name = tag.substr(1);
            if (open.empty() || open.back() != name) return "unexpected </" + name + ">";
            open.pop_back();
            continue;
        }
        if (tag.back() == '/') continue;
        open.push_back(tag.substr(0, tag.find(' ')));
    }
    return open.empty() ? "" : "unclosed <" + open.back() + ">";
}

TEST(Registers, ArchitectureNames) {
    EXPECT_EQ(architecture_name(Arch::I8086), "i8086");
    EXPECT_EQ(architecture_name(Arch::I386), "i386");
    EXPECT_EQ(architecture_name(Arch::X86_64), "i386:x86-64");
}

TEST(Registers, NumbersAndOffsetsAreContiguous) {
    // Also what LLDB's ProcessGDBRemote needs: regnums 0..n-1 in document order.
    for (const auto& [arch, features] : all_layouts()) {
        SCOPED_TRACE(describe(arch, features));
        const RegisterLayout& layout = register_layout(arch, features);
        EXPECT_EQ(layout.arch(), arch);
        EXPECT_EQ(layout.features(), features);
        std::size_t offset = 0;
        unsigned regnum = 0;
        std::set<std::string_view> names;
        for (const RegisterInfo& r : layout) {
            EXPECT_EQ(r.regnum, regnum++) << r.name;
            EXPECT_EQ(r.offset, offset) << r.name;
            EXPECT_EQ(r.bitsize % 8, 0u) << r.name;
            EXPECT_TRUE(names.insert(r.name).second) << "duplicate " << r.name;
            offset += reg_size(r);
        }
        EXPECT_EQ(layout.g_size(), offset);
        EXPECT_EQ(layout.size(), regnum);
    }
}

TEST(Registers, X86_64OrderIsGdbs) {
    // amd64-tdep.h: AMD64_RAX_REGNUM 0 ... AMD64_RIP_REGNUM 16, AMD64_EFLAGS_REGNUM 17,
    // AMD64_CS_REGNUM 18, AMD64_ST0_REGNUM 24, AMD64_FCTRL_REGNUM 32, AMD64_XMM0_REGNUM 40,
    // AMD64_MXCSR_REGNUM 56 (64bit-sse.xml: xmm0 regnum="40").
    const char* names[] = {"rax",    "rbx",    "rcx",   "rdx",   "rsi",   "rdi",   "rbp",   "rsp",   "r8",
                           "r9",     "r10",    "r11",   "r12",   "r13",   "r14",   "r15",   "rip",   "eflags",
                           "cs",     "ss",     "ds",    "es",    "fs",    "gs",    "st0",   "st1",   "st2",
                           "st3",    "st4",    "st5",   "st6",   "st7",   "fctrl", "fstat", "ftag",  "fiseg",
                           "fioff",  "foseg",  "fooff", "fop",   "xmm0",  "xmm1",  "xmm2",  "xmm3",  "xmm4",
                           "xmm5",   "xmm6",   "xmm7",  "xmm8",  "xmm9",  "xmm10", "xmm11", "xmm12", "xmm13",
                           "xmm14",  "xmm15",  "mxcsr", "fs_base", "gs_base", "cr0", "cr2",   "cr3",   "cr4",
                           "cr8",    "efer",   "cs_base", "ss_base", "ds_base", "es_base", "dr0", "dr1",
                           "dr2",    "dr3",    "dr6",   "dr7",   "xcr0"};
    const RegisterLayout& layout = register_layout(Arch::X86_64);
    ASSERT_EQ(layout.size(), std::size(names));
    for (unsigned i = 0; i < layout.size(); ++i) EXPECT_EQ(layout.at(i).name, names[i]) << i;
}

TEST(Registers, I386OrderIsGdbs) {
    // i386-tdep.h: I386_EAX_REGNUM 0, ECX 1, EDX 2, EBX 3, ESP 4, EBP 5, ESI 6, EDI 7,
    // EIP 8, EFLAGS 9, CS 10 ... GS 15, ST0 16; 32bit-sse.xml: xmm0 regnum="32".
    const char* names[] = {"eax",   "ecx",   "edx",   "ebx",   "esp",   "ebp",     "esi",     "edi",
                           "eip",   "eflags", "cs",   "ss",    "ds",    "es",      "fs",      "gs",
                           "st0",   "st1",   "st2",   "st3",   "st4",   "st5",     "st6",     "st7",
                           "fctrl", "fstat", "ftag",  "fiseg", "fioff", "foseg",   "fooff",   "fop",
                           "xmm0",  "xmm1",  "xmm2",  "xmm3",  "xmm4",  "xmm5",    "xmm6",    "xmm7",
                           "mxcsr", "fs_base", "gs_base", "cr0", "cr2", "cr3",     "cr4",     "cr8",
                           "efer",  "cs_base", "ss_base", "ds_base", "es_base", "dr0",   "dr1",     "dr2",
                           "dr3",   "dr6",   "dr7",   "xcr0"};
    for (Arch arch : {Arch::I386, Arch::I8086}) {
        const RegisterLayout& layout = register_layout(arch);
        ASSERT_EQ(layout.size(), std::size(names));
        for (unsigned i = 0; i < layout.size(); ++i) EXPECT_EQ(layout.at(i).name, names[i]) << i;
    }
}

TEST(Registers, GPacketSizes) {
    const RegisterLayout& l64 = register_layout(Arch::X86_64);
    // core: 17 * 8 (rax..r15, rip) + 4 (eflags) + 6 * 4 (selectors) + 8 * 10 (st) + 8 * 4 = 276
    // sse:  16 * 16 + 4 = 260 -> 536; segments 2 * 8 -> 552; system 17 * 8 -> 688
    EXPECT_EQ(l64.find("xmm0")->offset, 276u);
    EXPECT_EQ(l64.find("fs_base")->offset, 536u);
    EXPECT_EQ(l64.find("cr0")->offset, 552u);
    EXPECT_EQ(l64.find("dr0")->offset, 632u);
    EXPECT_EQ(l64.g_size(), 688u);
    for (Arch arch : {Arch::I386, Arch::I8086}) {
        const RegisterLayout& l32 = register_layout(arch);
        // core: 9 * 4 + 4 + 6 * 4 + 80 + 32 = 176; sse 8 * 16 + 4 = 132 -> 308; segments 2 * 4 -> 316;
        // system: 5 control registers * 4 + efer 8 + 4 bases * 4 = 44 -> 360;
        // 6 debug registers * 4 + xcr0 8 = 32 -> 392
        EXPECT_EQ(l32.find("xmm0")->offset, 176u);
        EXPECT_EQ(l32.find("fs_base")->offset, 308u);
        EXPECT_EQ(l32.find("dr0")->offset, 360u);
        EXPECT_EQ(l32.g_size(), 392u);
        EXPECT_EQ(reg_size(*l32.find("efer")), 8u);
        EXPECT_EQ(reg_size(*l32.find("cr3")), 4u);
        EXPECT_EQ(reg_size(*l32.find("dr7")), 4u);
        EXPECT_EQ(reg_size(*l32.find("xcr0")), 8u);
    }
}

TEST(Registers, SizesAndTypes) {
    const RegisterLayout& l = register_layout(Arch::X86_64);
    EXPECT_EQ(reg_size(*l.find("rip")), 8u);
    EXPECT_EQ(l.find("rip")->type, "code_ptr");
    EXPECT_EQ(reg_size(*l.find("eflags")), 4u);
    EXPECT_EQ(l.find("eflags")->type, "i386_eflags");
    EXPECT_EQ(reg_size(*l.find("cs")), 4u);
    EXPECT_EQ(reg_size(*l.find("st7")), 10u);
    EXPECT_EQ(l.find("st7")->type, "i387_ext");
    EXPECT_EQ(l.find("fop")->group, "float");
    EXPECT_EQ(reg_size(*l.find("xmm15")), 16u);
    EXPECT_EQ(l.find("mxcsr")->group, "vector");
    EXPECT_EQ(l.find("fs_base")->feature, kFeatureSegments);
    EXPECT_EQ(l.find("cr3")->feature, kFeatureSystem);
    EXPECT_EQ(reg_size(*l.find("es_base")), 8u);
    EXPECT_EQ(reg_size(*l.find("dr7")), 8u);
    EXPECT_EQ(l.find("dr7")->type, "kvmgdb_dr7");
    EXPECT_EQ(l.find("dr1")->type, "data_ptr");
    EXPECT_EQ(l.find("xcr0")->feature, kFeatureSystem);
    EXPECT_EQ(l.find("xcr0")->group, "system");
}

TEST(Registers, Lookup) {
    const RegisterLayout& l = register_layout(Arch::I386);
    EXPECT_EQ(l.find("esp")->regnum, 4u);
    EXPECT_EQ(l.find("rax"), nullptr);
    EXPECT_EQ(l.find(8u)->name, "eip");
    EXPECT_EQ(l.find(static_cast<unsigned>(l.size())), nullptr);
    EXPECT_THROW(l.at(1000), std::out_of_range);
    EXPECT_EQ(register_layout(Arch::X86_64).find("rsp")->regnum, 7u);
    EXPECT_EQ(&register_layout(Arch::X86_64), &register_layout(Arch::X86_64));  // built once
}

TEST(TargetXml, WellFormedWithGdbsPreamble) {
    for (Arch arch : kArches) {
        SCOPED_TRACE(architecture_name(arch));
        std::string xml = target_xml(arch);
        EXPECT_EQ(xml.rfind("<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target", 0), 0u);
        EXPECT_EQ(xml.substr(xml.size() - 10), "</target>\n");
        EXPECT_EQ(check_balanced(xml), "");
        EXPECT_EQ(count(xml, "<feature "), 4u);
        EXPECT_EQ(count(xml, "</feature>"), 4u);
        EXPECT_EQ(count(xml, "xi:include"), 0u);
        EXPECT_NE(xml.find("<architecture>" + std::string(architecture_name(arch)) + "</architecture>"),
                  std::string::npos);
        EXPECT_NE(xml.find("<osabi>none</osabi>"), std::string::npos);
        // The 64-bit description also runs i386 code (gdb with an ELF32 accepts it).
        EXPECT_EQ(count(xml, "<compatible>i386</compatible>"), arch == Arch::X86_64 ? 1u : 0u);
        for (std::string_view f : {kFeatureCore, kFeatureSse, kFeatureSegments, kFeatureSystem}) {
            EXPECT_EQ(count(xml, "<feature name=\"" + std::string(f) + "\">"), 1u) << f;
        }
        // The core feature comes first, as gdb numbers it from 0.
        EXPECT_LT(xml.find(std::string(kFeatureCore)), xml.find(std::string(kFeatureSse)));
    }
}

TEST(TargetXml, EveryRegisterExactlyOnceWithItsAttributes) {
    for (const auto& [arch, features] : all_layouts()) {
        SCOPED_TRACE(describe(arch, features));
        std::string xml = target_xml(arch, features);
        const RegisterLayout& layout = register_layout(arch, features);
        EXPECT_EQ(count(xml, "<reg "), layout.size());
        for (const RegisterInfo& r : layout) {
            std::string element = "<reg name=\"" + std::string(r.name) + "\" bitsize=\"" +
                                  std::to_string(r.bitsize) + "\" type=\"" + std::string(r.type) +
                                  "\" regnum=\"" + std::to_string(r.regnum) + "\"";
            if (!r.group.empty()) element += " group=\"" + std::string(r.group) + "\"";
            element += "/>";
            EXPECT_EQ(count(xml, element), 1u) << element;
            // ...inside its own feature.
            std::size_t at = xml.find(element);
            std::size_t feature = xml.rfind("<feature name=\"", at);
            EXPECT_EQ(xml.compare(feature + 15, r.feature.size(), r.feature), 0) << r.name;
        }
    }
}

TEST(TargetXml, DefinesEveryTypeItUsesBeforeUse) {
    const std::set<std::string, std::less<>> predefined = {
        "int", "int8", "int16", "int32", "int64", "int128", "uint8", "uint16", "uint32", "uint64", "uint128",
        "code_ptr", "data_ptr", "ieee_half", "ieee_single", "ieee_double", "i387_ext", "bfloat16"};
    for (const auto& [arch, features] : all_layouts()) {
        SCOPED_TRACE(describe(arch, features));
        std::string xml = target_xml(arch, features);
        for (const RegisterInfo& r : register_layout(arch, features)) {
            if (predefined.count(r.type)) continue;
            // gdb looks a type up in the register's own feature (then among the
            // predefined ones), so the definition must be inside that feature.
            std::size_t at = xml.find("<reg name=\"" + std::string(r.name) + "\"");
            std::size_t feature = xml.rfind("<feature ", at);
            std::size_t def = xml.find("id=\"" + std::string(r.type) + "\"", feature);
            ASSERT_NE(def, std::string::npos) << r.type;
            EXPECT_LT(def, at) << r.type;
        }
        EXPECT_NE(xml.find("<flags id=\"i386_eflags\" size=\"4\">"), std::string::npos);
        EXPECT_NE(xml.find("<flags id=\"i386_mxcsr\" size=\"4\">"), std::string::npos);
        EXPECT_NE(xml.find("<union id=\"vec128\">"), std::string::npos);
        EXPECT_NE(xml.find("<field name=\"ZF\" start=\"6\" end=\"6\"/>"), std::string::npos);
        EXPECT_NE(xml.find("<flags id=\"kvmgdb_efer\" size=\"8\">"), std::string::npos);
    }
    // Control-register flags are as wide as the registers.
    EXPECT_NE(target_xml(Arch::X86_64).find("<flags id=\"kvmgdb_cr0\" size=\"8\">"), std::string::npos);
    EXPECT_NE(target_xml(Arch::I386).find("<flags id=\"kvmgdb_cr0\" size=\"4\">"), std::string::npos);
}

TEST(TargetXml, RealModeDiffersFromI386OnlyInArchitecture) {
    std::string real = target_xml(Arch::I8086);
    std::string prot = target_xml(Arch::I386);
    real.replace(real.find("i8086"), 5, "i386");
    EXPECT_EQ(real, prot);
}


std::vector<std::string> names_from(const RegisterLayout& l, std::size_t first) {
    std::vector<std::string> v;
    for (std::size_t i = first; i < l.size(); ++i) v.emplace_back(l.at(static_cast<unsigned>(i)).name);
    return v;
}

std::vector<std::string> numbered(const std::string& prefix, unsigned from, unsigned to, const std::string& suffix = "") {
    std::vector<std::string> v;
    for (unsigned i = from; i < to; ++i) v.push_back(prefix + std::to_string(i) + suffix);
    return v;
}

TEST(Registers, AvxAndAvx512ComeAfterEverythingElseInGdbsOrder) {
    // gdb/features/i386/{64,32}bit-avx.xml and {64,32}bit-avx512.xml, in their order.
    const RegisterLayout& base64 = register_layout(Arch::X86_64);
    const RegisterLayout& avx64 = register_layout(Arch::X86_64, kAvx);
    const RegisterLayout& zmm64 = register_layout(Arch::X86_64, kAvx512);
    EXPECT_EQ(names_from(avx64, base64.size()), numbered("ymm", 0, 16, "h"));
    std::vector<std::string> expected = numbered("ymm", 0, 16, "h");
    for (auto part : {numbered("xmm", 16, 32), numbered("ymm", 16, 32, "h"), numbered("k", 0, 8),
                      numbered("zmm", 0, 32, "h")}) {
        expected.insert(expected.end(), part.begin(), part.end());
    }
    EXPECT_EQ(names_from(zmm64, base64.size()), expected);
    for (Arch arch : {Arch::I386, Arch::I8086}) {
        const RegisterLayout& base = register_layout(arch);
        EXPECT_EQ(names_from(register_layout(arch, kAvx), base.size()), numbered("ymm", 0, 8, "h"));
        std::vector<std::string> e32 = numbered("ymm", 0, 8, "h");
        for (auto part : {numbered("k", 0, 8), numbered("zmm", 0, 8, "h")}) e32.insert(e32.end(), part.begin(), part.end());
        EXPECT_EQ(names_from(register_layout(arch, kAvx512), base.size()), e32);
    }
    // Sizes and types as gdb's files: ymmNh uint128, xmm16+ vec128, kN uint64, zmmNh v2ui128.
    EXPECT_EQ(reg_size(*zmm64.find("ymm15h")), 16u);
    EXPECT_EQ(zmm64.find("ymm15h")->type, "uint128");
    EXPECT_EQ(zmm64.find("ymm15h")->feature, kFeatureAvx);
    EXPECT_EQ(zmm64.find("xmm31")->type, "vec128");
    EXPECT_EQ(reg_size(*zmm64.find("k7")), 8u);
    EXPECT_EQ(zmm64.find("k7")->type, "uint64");
    EXPECT_EQ(reg_size(*zmm64.find("zmm31h")), 32u);
    EXPECT_EQ(zmm64.find("zmm31h")->type, "v2ui128");
    EXPECT_EQ(zmm64.find("zmm31h")->feature, kFeatureAvx512);
    // 688 + 16 * 16 = 944; + 16 * 16 + 16 * 16 + 8 * 8 + 32 * 32 = 2544
    EXPECT_EQ(avx64.g_size(), 944u);
    EXPECT_EQ(zmm64.g_size(), 2544u);
    // 392 + 8 * 16 = 520; + 8 * 8 + 8 * 32 = 840
    EXPECT_EQ(register_layout(Arch::I386, kAvx).g_size(), 520u);
    EXPECT_EQ(register_layout(Arch::I386, kAvx512).g_size(), 840u);
}

TEST(Registers, FeaturesNeverRenumberTheOtherRegisters) {
    for (const auto& [arch, features] : all_layouts()) {
        SCOPED_TRACE(describe(arch, features));
        const RegisterLayout& base = register_layout(arch);
        const RegisterLayout& l = register_layout(arch, features);
        ASSERT_GE(l.size(), base.size());
        for (const RegisterInfo& r : base) {
            const RegisterInfo& same = l.at(r.regnum);
            EXPECT_EQ(same.name, r.name);
            EXPECT_EQ(same.offset, r.offset);
        }
    }
}

TEST(Registers, Avx512WithoutAvxIsDropped) {
    // gdb's i386_validate_tdesc_p rejects a description with avx512 but not avx.
    RegisterFeatures odd{false, true};
    EXPECT_EQ(odd.normalized(), kNone);
    EXPECT_EQ(&register_layout(Arch::X86_64, odd), &register_layout(Arch::X86_64));
    EXPECT_EQ(&register_layout(Arch::I386, kAvx512), &register_layout(Arch::I386, kAvx512));  // built once
    EXPECT_NE(&register_layout(Arch::I386, kAvx512), &register_layout(Arch::I386, kAvx));
}

TEST(TargetXml, FeaturesOnlyWhereOffered) {
    for (const auto& [arch, features] : all_layouts()) {
        SCOPED_TRACE(describe(arch, features));
        std::string xml = target_xml(arch, features);
        EXPECT_EQ(count(xml, "<feature name=\"org.gnu.gdb.i386.avx\">"), features.avx ? 1u : 0u);
        EXPECT_EQ(count(xml, "<feature name=\"org.gnu.gdb.i386.avx512\">"), features.avx512 ? 1u : 0u);
        EXPECT_EQ(count(xml, "<feature "), 4u + features.avx + features.avx512);
        EXPECT_EQ(check_balanced(xml), "");
        EXPECT_EQ(target_xml(register_layout(arch, features)), xml);
    }
    std::string xml = target_xml(Arch::X86_64, kAvx512);
    EXPECT_NE(xml.find("<flags id=\"kvmgdb_dr7\" size=\"8\">"), std::string::npos);
    EXPECT_NE(xml.find("<field name=\"LEN3\" start=\"30\" end=\"31\"/>"), std::string::npos);
    EXPECT_NE(xml.find("<field name=\"AVX\" start=\"2\" end=\"2\"/>"), std::string::npos);
    EXPECT_NE(xml.find("<vector id=\"v2ui128\" type=\"uint128\" count=\"2\"/>"), std::string::npos);
    EXPECT_NE(target_xml(Arch::I386).find("<flags id=\"kvmgdb_dr6\" size=\"4\">"), std::string::npos);
}

TEST(TargetXml, EveryTypeIsOneLldbKnows) {
    // LLDB's ProcessGDBRemote::ParseRegisters picks an encoding from the type name:
    // int*, data_ptr/code_ptr, float, vec*/i387_ext/uint128 or anything wider than
    // 16 bytes (vectors), or a <flags> id of the document; any other name falls back
    // to an unsigned integer in hex, which is right only for plain integers
    // (uint64: the opmask registers).
    for (const auto& [arch, features] : all_layouts()) {
        SCOPED_TRACE(describe(arch, features));
        std::string xml = target_xml(arch, features);
        for (const RegisterInfo& r : register_layout(arch, features)) {
            std::string_view t = r.type;
            bool known = t.starts_with("int") || t == "data_ptr" || t == "code_ptr" || t.starts_with("vec") ||
                         t == "i387_ext" || t == "uint128" || t == "uint64" || reg_size(r) > 16 ||
                         xml.find("<flags id=\"" + std::string(t) + "\" size=\"" + std::to_string(reg_size(r)) +
                                  "\">") != std::string::npos;
            EXPECT_TRUE(known) << r.name << " has type " << t;
        }
    }
}

// Runs gdb without a program on `xml` (`set tdesc filename`) and returns what it
// printed: the architecture, then the remote registers (gdb's own numbering, its
// remote number and `g` offset for each), then every register, pseudo ones included.
std::string gdb_on_description(const std::string& xml, const std::string& tag) {
    std::string path = ::testing::TempDir() + "kvmgdb-tdesc-" + tag + ".xml";
    std::ofstream(path) << xml;
    std::string cmd = "gdb -nx -batch -ex 'set tdesc filename " + path + "' -ex 'show architecture' "
                      "-ex 'echo ==remote\\n' -ex 'maint print remote-registers' "
                      "-ex 'echo ==all\\n' -ex 'maint print registers' 2>&1";
    std::string out;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char buf[4096];
        while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
        ::pclose(p);
    }
    std::remove(path.c_str());
    return out;
}

// The lines of `section` ("==remote" or "==all"), split into words.
std::vector<std::vector<std::string>> section_rows(const std::string& out, const std::string& section) {
    std::vector<std::vector<std::string>> rows;
    std::istringstream in(out);
    std::string line;
    bool inside = false;
    while (std::getline(in, line)) {
        if (line.rfind("==", 0) == 0) {
            inside = line == section;
            continue;
        }
        if (!inside) continue;
        std::istringstream words(line);
        std::vector<std::string> row;
        for (std::string w; words >> w;) row.push_back(w);
        if (!row.empty() && row[0] != "Name" && row[0] != "''" && row[0][0] != '*') rows.push_back(row);
    }
    return rows;
}

TEST(TargetXml, RealGdbAcceptsEveryDescription) {
    // gdb 13 (installed with the project's packages) loads each document; were one
    // rejected ("Architecture rejected target-supplied description") gdb would fall
    // back to its default registers and every check below would fail.
    for (const auto& [arch, features] : all_layouts()) {
        SCOPED_TRACE(describe(arch, features));
        const RegisterLayout& layout = register_layout(arch, features);
        std::string out = gdb_on_description(target_xml(layout), describe(arch, features));
        ASSERT_NE(out.find("==all"), std::string::npos) << "gdb did not run: " << out;
        EXPECT_EQ(out.find("warning"), std::string::npos) << out.substr(0, 2000);
        EXPECT_EQ(out.find("rejected"), std::string::npos);
        EXPECT_NE(out.find("(currently \"" + std::string(architecture_name(arch)) + "\")"), std::string::npos)
            << out.substr(0, 300);
        // Name Nr Rel Offset Size Type RmtNr g/G-Offset: gdb's remote number and `g`
        // offset of every register are ours.
        std::map<std::string, std::vector<std::string>> remote;
        for (auto& row : section_rows(out, "==remote"))
            if (row.size() == 8) remote[row[0]] = row;
        EXPECT_EQ(remote.size(), layout.size());
        for (const RegisterInfo& r : layout) {
            auto it = remote.find(std::string(r.name));
            ASSERT_NE(it, remote.end()) << r.name;
            EXPECT_EQ(it->second[4], std::to_string(reg_size(r))) << r.name;
            EXPECT_EQ(it->second[6], std::to_string(r.regnum)) << r.name;
            EXPECT_EQ(it->second[7], std::to_string(r.offset)) << r.name;
        }
        // gdb's x86 code took the features over: it builds $ymmN and $zmmN.
        std::set<std::string> all;
        for (auto& row : section_rows(out, "==all")) all.insert(row[0]);
        const bool wide = arch == Arch::X86_64;
        EXPECT_EQ(all.count("ymm0"), features.avx ? 1u : 0u);
        EXPECT_EQ(all.count("ymm7"), features.avx ? 1u : 0u);
        EXPECT_EQ(all.count("ymm15"), features.avx && wide ? 1u : 0u);
        EXPECT_EQ(all.count("ymm31"), features.avx512 && wide ? 1u : 0u);
        EXPECT_EQ(all.count("zmm0"), features.avx512 ? 1u : 0u);
        EXPECT_EQ(all.count("zmm31"), features.avx512 && wide ? 1u : 0u);
        EXPECT_EQ(all.count("k1"), features.avx512 ? 1u : 0u);
        EXPECT_EQ(all.count("xcr0"), 1u);
        EXPECT_EQ(all.count("dr7"), 1u);
    }
}

}  // namespace
}  // namespace kvmgdb::stub
