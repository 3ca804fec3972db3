// Converting between gdb's i386 and x86-64 register layouts (RegisterView), for a
// guest that switches mode under a connected gdb.
#include "stub/register_view.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace kvmgdb::stub {
namespace {

const RegisterLayout& narrow() { return register_layout(Arch::I386); }
const RegisterLayout& wide() { return register_layout(Arch::X86_64); }

void put(std::vector<std::uint8_t>& g, const RegisterLayout& l, std::string_view name, std::uint64_t v) {
    const RegisterInfo* r = l.find(name);
    ASSERT_NE(r, nullptr) << name;
    for (std::size_t i = 0; i < reg_size(*r); ++i) g[r->offset + i] = static_cast<std::uint8_t>(i < 8 ? v >> (8 * i) : 0);
}

std::uint64_t get(const std::vector<std::uint8_t>& g, const RegisterLayout& l, std::string_view name) {
    const RegisterInfo* r = l.find(name);
    EXPECT_NE(r, nullptr) << name;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < std::min<std::size_t>(reg_size(*r), 8); ++i) v |= std::uint64_t{g[r->offset + i]} << (8 * i);
    return v;
}

TEST(RegisterView, CounterpartsByName) {
    struct Case { std::string_view from; const RegisterLayout* to; std::string_view want; };
    const Case cases[] = {
        {"eax", &wide(), "rax"}, {"rax", &narrow(), "eax"}, {"esp", &wide(), "rsp"}, {"rbp", &narrow(), "ebp"},
        {"eip", &wide(), "rip"}, {"rip", &narrow(), "eip"}, {"eflags", &wide(), "eflags"},
        {"cs", &narrow(), "cs"}, {"st7", &narrow(), "st7"}, {"xmm7", &narrow(), "xmm7"},
        {"cr0", &narrow(), "cr0"}, {"efer", &wide(), "efer"}, {"fs_base", &narrow(), "fs_base"},
        {"r8", &narrow(), ""}, {"r15", &narrow(), ""}, {"xmm8", &narrow(), ""},
    };
    for (const Case& c : cases) {
        const RegisterLayout& from = c.to == &wide() ? narrow() : wide();
        const RegisterInfo* reg = from.find(c.from);
        ASSERT_NE(reg, nullptr) << c.from;
        const RegisterInfo* got = counterpart(*reg, *c.to);
        EXPECT_EQ(got ? got->name : std::string_view{}, c.want) << c.from;
    }
}

TEST(RegisterView, WideToNarrowTakesTheLowHalves) {
    std::vector<std::uint8_t> g(wide().g_size(), 0);
    put(g, wide(), "rax", 0x1122334455667788);
    put(g, wide(), "rip", 0x0000000100000010);
    put(g, wide(), "r8", 0xffff);
    put(g, wide(), "cr0", 0x80000033);
    put(g, wide(), "efer", 0x500);
    put(g, wide(), "xmm7", 0x0102030405060708);
    auto n = convert_registers(wide(), g, narrow());
    ASSERT_EQ(n.size(), narrow().g_size());
    EXPECT_EQ(get(n, narrow(), "eax"), 0x55667788u);
    EXPECT_EQ(get(n, narrow(), "eip"), 0x10u);
    EXPECT_EQ(get(n, narrow(), "cr0"), 0x80000033u);
    EXPECT_EQ(get(n, narrow(), "efer"), 0x500u);
    EXPECT_EQ(get(n, narrow(), "xmm7"), 0x0102030405060708u);
}

TEST(RegisterView, NarrowToWideZeroExtendsAndLeavesTheRestZero) {
    std::vector<std::uint8_t> g(narrow().g_size(), 0xff);
    auto w = convert_registers(narrow(), g, wide());
    ASSERT_EQ(w.size(), wide().g_size());
    EXPECT_EQ(get(w, wide(), "rax"), 0xffffffffu);
    EXPECT_EQ(get(w, wide(), "rip"), 0xffffffffu);
    EXPECT_EQ(get(w, wide(), "r8"), 0u);
    EXPECT_EQ(get(w, wide(), "xmm15"), 0u);
    EXPECT_EQ(get(w, wide(), "efer"), 0xffffffffffffffffu);  // 64 bits in both layouts
}

TEST(RegisterView, OverlayKeepsWhatTheNarrowLayoutCannotHold) {
    std::vector<std::uint8_t> current(wide().g_size(), 0);
    put(current, wide(), "rax", 0x1122334455667788);
    put(current, wide(), "r9", 0x99);
    std::vector<std::uint8_t> gdb = convert_registers(wide(), current, narrow());
    put(gdb, narrow(), "eax", 0xaabbccdd);
    auto out = overlay_registers(wide(), current, narrow(), gdb);
    EXPECT_EQ(get(out, wide(), "rax"), 0x11223344aabbccddu);
    EXPECT_EQ(get(out, wide(), "r9"), 0x99u);
    // Round trip: nothing else changed.
    put(gdb, narrow(), "eax", 0x55667788);
    EXPECT_EQ(overlay_registers(wide(), current, narrow(), gdb), current);
}

}  // namespace
}  // namespace kvmgdb::stub
