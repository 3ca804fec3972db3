// --gdb-arch (SessionOptions::gdb_arch): the layout served from the first packet
// whatever the CPU's mode, byte-exact against a FakeTarget.
#include "stub/target_description.hpp"
#include "tests/stub/session_harness.hpp"

namespace kvmgdb::stub::testing {
namespace {

class GdbArchTest : public SessionTest {
protected:
    void start_fixed(Arch layout, Arch cpu) {
        SessionOptions options;
        options.gdb_arch = layout;
        start(options, cpu);
        no_ack();
    }
    static std::string payload(std::string_view bytes) {
        auto events = Decoder().feed(bytes);
        if (events.size() != 1 || !std::holds_alternative<Packet>(events[0])) return "<not one packet>";
        return std::get<Packet>(events[0]).payload;
    }
};

// A real-mode CPU under --gdb-arch x86-64: the 64-bit description and `g` from the
// first packet; rip is the CPU's (linear) eip, zero-extended; r8-r15 read as 0.
TEST_F(GdbArchTest, X86_64FromTheFirstPacketInRealMode) {
    start_fixed(Arch::X86_64, Arch::I8086);
    const RegisterLayout& narrow = register_layout(Arch::I8086);
    t().set_reg(narrow.find("eip")->regnum, 0x8010);
    t().set_reg(narrow.find("eax")->regnum, 0x1234);
    EXPECT_EQ(send("qXfer:features:read:target.xml:0,ffff"), pkt("l" + target_xml(Arch::X86_64)));
    const RegisterLayout& wide = register_layout(Arch::X86_64);
    std::string g = payload(send("g"));
    ASSERT_EQ(g.size(), wide.g_size() * 2);
    EXPECT_EQ(g.substr(0, 16), "3412000000000000");  // rax
    EXPECT_EQ(g.substr(wide.find("rip")->offset * 2, 16), "1080000000000000");
    EXPECT_EQ(g.substr(wide.find("r8")->offset * 2, 16), "0000000000000000");
    // Writing rip writes the CPU's eip.
    EXPECT_EQ(send("P" + format_hex_u64(wide.find("rip")->regnum) + "=0480000000000000"), pkt("OK"));
    EXPECT_EQ(t().reg(narrow.find("eip")->regnum), 0x8004u);
    // monitor info mode says the layout is fixed.
    EXPECT_NE(payload(send("qRcmd," + text_to_hex("info mode"))), "OK");
}

// --gdb-arch i386 on a long-mode CPU: the 32-bit description, the low halves.
TEST_F(GdbArchTest, I386InLongMode) {
    start_fixed(Arch::I386, Arch::X86_64);
    t().set_reg(register_layout(Arch::X86_64).find("rax")->regnum, 0x1122334455667788);
    EXPECT_EQ(send("qXfer:features:read:target.xml:0,ffff"), pkt("l" + target_xml(Arch::I386)));
    std::string g = payload(send("g"));
    EXPECT_EQ(g.size(), register_layout(Arch::I386).g_size() * 2);
    EXPECT_EQ(g.substr(0, 8), "88776655");
}

// Without it, the CPU's layout at connect time (here i8086, the i386 register set).
TEST_F(GdbArchTest, NoneMeansTheCpusLayout) {
    start({}, Arch::I8086);
    no_ack();
    EXPECT_EQ(send("qXfer:features:read:target.xml:0,ffff"), pkt("l" + target_xml(Arch::I8086)));
}

}  // namespace
}  // namespace kvmgdb::stub::testing
