// Register layouts and target.xml against gdb's own numbering and sizes
// (gdb/features/i386/*.xml, i386-tdep.h/amd64-tdep.h register enums). The
// expected numbers and byte counts below are written out by hand on purpose.
// The documents were also loaded into gdb 13.1 (`set tdesc filename`, `maint
// print remote-registers`) and accepted without a warning.
#include "stub/target_description.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "stub/registers.hpp"

namespace kvmgdb::stub {
namespace {

constexpr Arch kArches[] = {Arch::I8086, Arch::I386, Arch::X86_64};

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
    for (Arch arch : kArches) {
        SCOPED_TRACE(architecture_name(arch));
        const RegisterLayout& layout = register_layout(arch);
        EXPECT_EQ(layout.arch(), arch);
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
                           "cr8",    "efer",   "cs_base", "ss_base", "ds_base", "es_base"};
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
                           "efer",  "cs_base", "ss_base", "ds_base", "es_base"};
    for (Arch arch : {Arch::I386, Arch::I8086}) {
        const RegisterLayout& layout = register_layout(arch);
        ASSERT_EQ(layout.size(), std::size(names));
        for (unsigned i = 0; i < layout.size(); ++i) EXPECT_EQ(layout.at(i).name, names[i]) << i;
    }
}

TEST(Registers, GPacketSizes) {
    const RegisterLayout& l64 = register_layout(Arch::X86_64);
    // core: 17 * 8 (rax..r15, rip) + 4 (eflags) + 6 * 4 (selectors) + 8 * 10 (st) + 8 * 4 = 276
    // sse:  16 * 16 + 4 = 260 -> 536; segments 2 * 8 -> 552; system 10 * 8 -> 632
    EXPECT_EQ(l64.find("xmm0")->offset, 276u);
    EXPECT_EQ(l64.find("fs_base")->offset, 536u);
    EXPECT_EQ(l64.find("cr0")->offset, 552u);
    EXPECT_EQ(l64.g_size(), 632u);
    for (Arch arch : {Arch::I386, Arch::I8086}) {
        const RegisterLayout& l32 = register_layout(arch);
        // core: 9 * 4 + 4 + 6 * 4 + 80 + 32 = 176; sse 8 * 16 + 4 = 132 -> 308; segments 2 * 4 -> 316;
        // system: 5 control registers * 4 + efer 8 + 4 bases * 4 = 44 -> 360
        EXPECT_EQ(l32.find("xmm0")->offset, 176u);
        EXPECT_EQ(l32.find("fs_base")->offset, 308u);
        EXPECT_EQ(l32.g_size(), 360u);
        EXPECT_EQ(reg_size(*l32.find("efer")), 8u);
        EXPECT_EQ(reg_size(*l32.find("cr3")), 4u);
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
    for (Arch arch : kArches) {
        SCOPED_TRACE(architecture_name(arch));
        std::string xml = target_xml(arch);
        const RegisterLayout& layout = register_layout(arch);
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
    for (Arch arch : kArches) {
        SCOPED_TRACE(architecture_name(arch));
        std::string xml = target_xml(arch);
        for (const RegisterInfo& r : register_layout(arch)) {
            if (predefined.count(r.type)) continue;
            std::size_t def = xml.find("id=\"" + std::string(r.type) + "\"");
            ASSERT_NE(def, std::string::npos) << r.type;
            EXPECT_LT(def, xml.find("<reg name=\"" + std::string(r.name) + "\"")) << r.type;
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

}  // namespace
}  // namespace kvmgdb::stub
