// Converting between gdb's i386 and x86-64 register layouts (RegisterView), for a
// guest that switches mode under a connected gdb.
#include "stub/register_view.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "stub/hex.hpp"
#include "stub/rsp_codec.hpp"
#include "stub/session.hpp"
#include "stub/target_description.hpp"
#include "tests/stub/fake_target.hpp"

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


constexpr RegisterFeatures kAvx512{true, true};

// A fake target on a host with AVX and AVX-512: registers in those layouts.
class Avx512Target : public testing::FakeTarget {
public:
    explicit Avx512Target(Arch a) { relayout(a); }
    // The guest switched mode: the new layout, all zero.
    void relayout(Arch a) {
        arch_ = a;
        regs.clear();
        for (const auto& r : register_layout(a, kAvx512)) regs.emplace_back(reg_size(r), std::uint8_t{0});
    }
    RegisterFeatures register_features() const override { return kAvx512; }
};

std::vector<std::uint8_t> bytes(std::uint64_t v, std::size_t n) {
    std::vector<std::uint8_t> b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i < 8 ? v >> (8 * i) : 0);
    return b;
}

TEST(RegisterView, CounterpartsOfTheAvxAndSystemRegisters) {
    const RegisterLayout& n = register_layout(Arch::I386, kAvx512);
    const RegisterLayout& w = register_layout(Arch::X86_64, kAvx512);
    for (std::string_view both : {"ymm0h", "ymm7h", "k0", "k7", "zmm0h", "zmm7h", "dr0", "dr7", "xcr0"}) {
        const RegisterInfo* got = counterpart(*w.find(both), n);
        ASSERT_NE(got, nullptr) << both;
        EXPECT_EQ(got->name, both);
    }
    for (std::string_view wide_only : {"ymm8h", "ymm31h", "xmm16", "xmm31", "zmm8h", "zmm31h"}) {
        EXPECT_EQ(counterpart(*w.find(wide_only), n), nullptr) << wide_only;
    }
}

// gdb's layout carries the register sets the target's host offers, in the mode
// gdb connected in; after a switch to long mode they are converted by name like
// the rest.
TEST(RegisterView, TheLayoutCarriesTheTargetsRegisterSetsAcrossAModeSwitch) {
    Avx512Target t(Arch::I386);
    RegisterView view(t);
    EXPECT_EQ(&view.layout(), &register_layout(Arch::I386, kAvx512));
    EXPECT_EQ(view.read_all().size(), register_layout(Arch::I386, kAvx512).g_size());
    t.relayout(Arch::X86_64);
    const RegisterLayout& n = view.layout();
    const RegisterLayout& w = register_layout(Arch::X86_64, kAvx512);
    EXPECT_EQ(&n, &register_layout(Arch::I386, kAvx512));
    ASSERT_TRUE(view.converting());
    t.set_reg(w.find("ymm3h")->regnum, 0x3333);
    t.set_reg(w.find("k1")->regnum, 0x1111);
    t.set_reg(w.find("zmm7h")->regnum, 0x7777);
    t.set_reg(w.find("zmm8h")->regnum, 0x8888);  // no room for it in the i386 layout
    t.set_reg(w.find("dr7")->regnum, 0xabcd000000000401);
    std::vector<std::uint8_t> g = view.read_all();
    ASSERT_EQ(g.size(), n.g_size());
    EXPECT_EQ(get(g, n, "ymm3h"), 0x3333u);
    EXPECT_EQ(get(g, n, "k1"), 0x1111u);
    EXPECT_EQ(get(g, n, "zmm7h"), 0x7777u);
    EXPECT_EQ(get(g, n, "dr7"), 0x401u);
    EXPECT_EQ(view.read(n.find("zmm7h")->regnum), bytes(0x7777, 32));
    // Writes reach the wide registers; what the narrow layout cannot hold stays.
    ASSERT_TRUE(view.write(n.find("dr7")->regnum, bytes(0x403, 4)).is_ok());
    EXPECT_EQ(t.reg(w.find("dr7")->regnum), 0xabcd000000000403u);
    put(g, n, "k1", 0x2222);
    ASSERT_TRUE(view.write_all(g).is_ok());
    EXPECT_EQ(t.reg(w.find("k1")->regnum), 0x2222u);
    EXPECT_EQ(t.reg(w.find("zmm8h")->regnum), 0x8888u);
}

// The session serves that layout: target.xml with the avx and avx512 features,
// `g` of its size, `G` and `p`/`P` checked against it.
TEST(RegisterView, TheSessionServesTheTargetsRegisterSets) {
    Avx512Target t(Arch::X86_64);
    Session session(t, [](StopEvent) {}, SessionOptions{});
    auto send = [&session](std::string_view payload) {
        std::string frame = encode_packet(payload);
        auto out = session.on_bytes(std::span(reinterpret_cast<const std::uint8_t*>(frame.data()), frame.size()));
        std::string reply = out.bytes;
        if (!reply.empty() && reply[0] == '+') reply.erase(0, 1);
        // "$payload#cc" -> payload
        return reply.size() >= 4 ? reply.substr(1, reply.size() - 4) : reply;
    };
    ASSERT_EQ(send("QStartNoAckMode"), "OK");
    const RegisterLayout& w = register_layout(Arch::X86_64, kAvx512);
    std::string xml;
    for (std::size_t off = 0;; off += 0x800) {
        std::string chunk = send("qXfer:features:read:target.xml:" + format_hex_u64(off) + ",800");
        ASSERT_FALSE(chunk.empty());
        xml += chunk.substr(1);
        if (chunk[0] == 'l') break;
    }
    EXPECT_EQ(xml, target_xml(w));
    EXPECT_EQ(send("g").size(), 2 * w.g_size());
    const RegisterInfo& last = w.at(static_cast<unsigned>(w.size() - 1));
    EXPECT_EQ(last.name, "zmm31h");
    EXPECT_EQ(send("P" + format_hex_u64(last.regnum) + "=" + to_hex(bytes(0x5a, 32))), "OK");
    EXPECT_EQ(t.reg(last.regnum), 0x5au);
    EXPECT_EQ(send("p" + format_hex_u64(last.regnum)), to_hex(bytes(0x5a, 32)));
    EXPECT_EQ(send("p" + format_hex_u64(last.regnum + 1)).substr(0, 1), "E");
    // A G of the layout without the register sets is too short.
    EXPECT_EQ(send("G" + to_hex(std::vector<std::uint8_t>(register_layout(Arch::X86_64).g_size()))).substr(0, 1), "E");
    EXPECT_EQ(send("G" + to_hex(std::vector<std::uint8_t>(w.g_size()))), "OK");
}

}  // namespace
}  // namespace kvmgdb::stub
