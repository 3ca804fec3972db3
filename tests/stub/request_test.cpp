// Tables for parse_request (stub/request): valid packets -> typed values,
// malformed known packets -> Malformed, unknown packets -> Unsupported.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "stub/request.hpp"
#include "stub/rsp_codec.hpp"

namespace {

using namespace kvmgdb::stub;
using Bytes = std::vector<std::uint8_t>;

// Variant index plus the reason for Malformed: enough to read a failure.
std::string show(const Request& r) {
    std::string s = "alternative #" + std::to_string(r.index());
    if (const auto* m = std::get_if<Malformed>(&r)) s += " Malformed{" + m->reason + "}";
    return s;
}

ThreadId tid(std::uint64_t t) { return {std::nullopt, Id::specific(t)}; }
ThreadId ptid(std::uint64_t p, std::uint64_t t) { return {Id::specific(p), Id::specific(t)}; }

struct Valid {
    std::string payload;
    Request expected;
};

TEST(ParseRequest, ValidPackets) {
    using K = VContAction::Kind;
    using F = Feature::Kind;
    using BT = BreakpointType;
    const ThreadId any{std::nullopt, Id::any()};
    const ThreadId all{std::nullopt, Id::all()};
    const std::vector<Valid> cases = {
        {"?", QueryHaltReason{}},
        {"g", ReadRegisters{}},
        {"G00ff10", WriteRegisters{Bytes{0x00, 0xff, 0x10}}},
        {"p0", ReadRegister{0}},
        {"p10", ReadRegister{0x10}},
        {"P10=efbeadde", WriteRegister{0x10, Bytes{0xef, 0xbe, 0xad, 0xde}}},
        {"PA=00", WriteRegister{0xa, Bytes{0x00}}},
        {"m0,4", ReadMemory{0, 4}},
        {"mffffffff81000000,40", ReadMemory{0xffffffff81000000ull, 0x40}},
        {"mffffffffffffffff,ffffffffffffffff", ReadMemory{~0ull, ~0ull}},
        {"m1000,0", ReadMemory{0x1000, 0}},
        {"x1000,40", ReadMemory{0x1000, 0x40, true}},
        {"x0,0", ReadMemory{0, 0, true}},
        {"M1000,2:abCD", WriteMemory{0x1000, Bytes{0xab, 0xcd}, false}},
        {"M1000,0:", WriteMemory{0x1000, {}, false}},
        {"X1000,0:", WriteMemory{0x1000, {}, true}},  // gdb's X probe
        {"X20,3:a:b", WriteMemory{0x20, Bytes{'a', ':', 'b'}, true}},
        {std::string("X20,4:\x00}#$", 10), WriteMemory{0x20, Bytes{0x00, '}', '#', '$'}, true}},
        {"c", Continue{std::nullopt, std::nullopt}},
        {"c401000", Continue{std::nullopt, 0x401000}},
        {"s", Step{std::nullopt, std::nullopt}},
        {"s2000", Step{std::nullopt, 0x2000}},
        {"C05", Continue{5, std::nullopt}},
        {"C0b;401000", Continue{0xb, 0x401000}},
        {"S02", Step{2, std::nullopt}},
        {"S1e;10", Step{0x1e, 0x10}},
        {"vCont?", VContQuery{}},
        {"vCont;c", VCont{{{K::Continue, std::nullopt, std::nullopt}}}},
        {"vCont;s:1;c", VCont{{{K::Step, std::nullopt, tid(1)}, {K::Continue, std::nullopt, std::nullopt}}}},
        {"vCont;C05:p1.2;S0b:-1;t:0",
         VCont{{{K::Continue, 5, ptid(1, 2)}, {K::Step, 0xb, all}, {K::Stop, std::nullopt, any}}}},
        {"vCont;c:p1.-1", VCont{{{K::Continue, std::nullopt, ThreadId{Id::specific(1), Id::all()}}}}},
        {"vCont;c:p1", VCont{{{K::Continue, std::nullopt, ThreadId{Id::specific(1), Id::all()}}}}},
        {"vCont;r1000,2000:1", VCont{{{K::RangeStep, std::nullopt, tid(1), 0x1000, 0x2000}}}},
        {"k", Kill{}},
        {"vKill;1", VKill{1}},
        {"vKill;a2", VKill{0xa2}},
        {"D", Detach{}},
        {"D;1", Detach{1}},
        {"Hg0", SetThread{SetThread::Op::General, any}},
        {"Hc-1", SetThread{SetThread::Op::Continue, all}},
        {"Hg1f", SetThread{SetThread::Op::General, tid(0x1f)}},
        {"Hgp1.2", SetThread{SetThread::Op::General, ptid(1, 2)}},
        {"Hgp-1.-1", SetThread{SetThread::Op::General, ThreadId{Id::all(), Id::all()}}},
        {"T1", ThreadAlive{tid(1)}},
        {"Tp2.3", ThreadAlive{ptid(2, 3)}},
        {"vCtrlC", CtrlC{}},
        {"vStopped", VStopped{}},
        {"QNonStop:1", SetNonStop{true}},
        {"QNonStop:0", SetNonStop{false}},
        {"qC", QueryCurrentThread{}},
        {"qfThreadInfo", ThreadInfoFirst{}},
        {"qsThreadInfo", ThreadInfoNext{}},
        {"qThreadExtraInfo,1", ThreadExtraInfo{tid(1)}},
        {"qThreadExtraInfo,p1.a", ThreadExtraInfo{ptid(1, 0xa)}},
        {"qAttached", QueryAttached{}},
        {"qAttached:1", QueryAttached{1}},
        {"qSupported", QuerySupported{}},
        {"qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vfork-events+;"
         "exec-events+;vContSupported+;QThreadEvents+;no-resumed+;memory-tagging+;"
         "xmlRegisters=i386;foo-;bar?",
         QuerySupported{{{"multiprocess", F::Supported, ""}, {"swbreak", F::Supported, ""},
                         {"hwbreak", F::Supported, ""}, {"qRelocInsn", F::Supported, ""},
                         {"fork-events", F::Supported, ""}, {"vfork-events", F::Supported, ""},
                         {"exec-events", F::Supported, ""}, {"vContSupported", F::Supported, ""},
                         {"QThreadEvents", F::Supported, ""}, {"no-resumed", F::Supported, ""},
                         {"memory-tagging", F::Supported, ""},
                         {"xmlRegisters", F::Value, "i386"}, {"foo", F::Unsupported, ""},
                         {"bar", F::Query, ""}}}},
        {"qSupported:a=b=c;", QuerySupported{{{"a", F::Value, "b=c"}}}},
        {"QStartNoAckMode", StartNoAckMode{}},
        {"QThreadEvents:1", SetThreadEvents{true}},
        {"QThreadEvents:0", SetThreadEvents{false}},
        {"qXfer:features:read:target.xml:0,ffb", XferRead{"features", "target.xml", 0, 0xffb}},
        {"qXfer:features:read:64bit-core.xml:1000,7fd",
         XferRead{"features", "64bit-core.xml", 0x1000, 0x7fd}},
        {"qXfer:auxv:read::0,1000", XferRead{"auxv", "", 0, 0x1000}},
        {"qXfer:x:read:a:b:10,20", XferRead{"x", "a:b", 0x10, 0x20}},
        {"qRcmd,7265736574", MonitorCommand{"reset"}},
        {"qRcmd,", MonitorCommand{""}},
        {"qRcmd,68656c6c6f20776f726c64", MonitorCommand{"hello world"}},
        {"Z0,401000,1", InsertBreakpoint{BT::Software, 0x401000, 1, {}, std::nullopt}},
        {"Z1,401000,1", InsertBreakpoint{BT::Hardware, 0x401000, 1, {}, std::nullopt}},
        {"Z2,1000,8", InsertBreakpoint{BT::WriteWatch, 0x1000, 8, {}, std::nullopt}},
        {"Z3,1000,4", InsertBreakpoint{BT::ReadWatch, 0x1000, 4, {}, std::nullopt}},
        {"Z4,1000,2", InsertBreakpoint{BT::AccessWatch, 0x1000, 2, {}, std::nullopt}},
        {"z0,401000,1", RemoveBreakpoint{BT::Software, 0x401000, 1}},
        {"z4,1000,2", RemoveBreakpoint{BT::AccessWatch, 0x1000, 2}},
        {"Z0,10,1;X2,2201", InsertBreakpoint{BT::Software, 0x10, 1, {"X2,2201"}, std::nullopt}},
        {"Z0,10,1;X2,2201X1,27", InsertBreakpoint{BT::Software, 0x10, 1, {"X2,2201", "X1,27"}, std::nullopt}},
        {"Z0,10,1;X1,27;X0,", InsertBreakpoint{BT::Software, 0x10, 1, {"X1,27", "X0,"}, std::nullopt}},
        {"Z0,10,1;X1,27;cmds:0,X3,aabbcc",
         InsertBreakpoint{BT::Software, 0x10, 1, {"X1,27"}, std::string("0,X3,aabbcc")}},
        {"qOffsets", QueryOffsets{}},
        {"qSymbol::", QuerySymbol{std::nullopt, ""}},
        {"qSymbol::6d61696e", QuerySymbol{std::nullopt, "main"}},
        {"qSymbol:401000:6d61696e", QuerySymbol{0x401000, "main"}},
        {"vMustReplyEmpty", MustReplyEmpty{}},
        {"qHostInfo", HostInfo{}},
        {"qProcessInfo", ProcessInfo{}},
        {"QListThreadsInStopReply", ListThreadsInStopReply{}},
        {"QEnableErrorStrings", EnableErrorStrings{}},
        {"qMemoryRegionInfo:7fff0000", MemoryRegionInfo{0x7fff0000}},
        {"qProcessInfoPID:1", Unsupported{}},  // another packet (LLDB's platform mode)
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.payload);
        Request got = parse_request(c.payload);
        EXPECT_TRUE(got == c.expected) << "got " << show(got) << ", want " << show(c.expected);
    }
}

TEST(ParseRequest, MalformedPackets) {
    const std::vector<std::string> cases = {
        // extra bytes after a packet that takes none
        "?x", "gg", "k1", "qC:1", "qC,1", "qfThreadInfo,", "QStartNoAckMode:1", "qOffsets:",
        "vMustReplyEmpty;", "vCtrlC;1",
        // registers
        "G", "G0", "Gzz", "p", "pzz", "p-1", "p10000000000000000", "P", "P1", "P=00", "Pzz=00",
        "P1=0", "P1=", "P1=zz",
        // memory: missing, empty, non-hex and overflowing numbers
        "m", "m1", "m1,", "m,1", "m,", "mffffffffffffffffff,1", "m10000000000000000,1",
        "m1,10000000000000000", "mzz,1", "m1,zz", "m-1,1", "m1;1", "m 1,1",
        "M", "M0,2", "M0,2:00", "M0,1:0", "M0,1:0000", "M0,1:zz", "M0:00", "Mzz,1:00",
        "X", "X0,1", "X0,2:a", "X0,0:a", "X,1:a", "Xzz,1:a", "x", "x1", "x1,", "x,1", "xzz,1", "x1,zz",
        // LLDB's
        "qHostInfo:", "qProcessInfo,1", "QListThreadsInStopReply:1", "QEnableErrorStrings;",
        "qMemoryRegionInfo", "qMemoryRegionInfo:", "qMemoryRegionInfo:zz", "qMemoryRegionInfo,10",
        // resume
        "cz", "c-1", "c1,2", "sz", "C", "Czz", "C100", "C05;", "C05;zz", "S", "S05;zz", "C;1",
        // vCont
        "vCont", "vCont;", "vCont;q", "vCont;c;", "vCont;;c", "vCont;x", "vCont;C", "vCont;Czz",
        "vCont;C100", "vCont;c1", "vCont;t05", "vCont;c:", "vCont;c:zz", "vCont;c:p", "vCont;c:p1.",
        "vCont;r1000", "vCont;r,1", "vCont?x",
        // kill / detach / threads
        "vKill", "vKill;", "vKill;zz", "vKill:1", "D1", "D;", "D;zz",
        "H", "Hg", "Hx1", "Hgzz", "Hg-2", "Hgp", "Hgp1.", "Hg1.2", "T", "Tzz",
        "qThreadExtraInfo", "qThreadExtraInfo,", "qThreadExtraInfo,zz", "qThreadExtraInfo:1",
        "qAttached:", "qAttached:zz", "qAttached,1",
        // queries
        "qSupported:foo", "qSupported:+", "qSupported:=1", "qSupported,foo+",
        "QThreadEvents", "QThreadEvents:2", "QThreadEvents:",
        "QNonStop", "QNonStop:2", "QNonStop:", "QNonStop:1;", "vStopped;1", "vStopped:",
        "qXfer", "qXfer:", "qXfer:features", "qXfer:features:read", "qXfer:features:read:target.xml",
        "qXfer:features:read:target.xml:0", "qXfer:features:read:target.xml:0,",
        "qXfer:features:read:target.xml:,1", "qXfer:features:read:target.xml:zz,1",
        "qXfer:features:read:target.xml:0,fffffffffffffffff", "qXfer::read:a:0,1",
        "qRcmd", "qRcmd,zz", "qRcmd,abc", "qRcmd:7265",
        "qSymbol", "qSymbol:", "qSymbol:zz:6d", "qSymbol::zz", "qSymbol::6",
        // breakpoints
        "Z", "Z,0,1", "z,1,1", "Z0", "Z0,", "Z0,1", "Z0,1,", "Z0,zz,1", "Z0,1,zz",
        "Z0,fffffffffffffffff,1", "z", "z0,1", "z0,1,1;X1,27",
        "Z0,1,1;Y", "Z0,1,1;X", "Z0,1,1;X1", "Z0,1,1;X2,27", "Z0,1,1;X1,zz", "Z0,1,1;Xzz,00",
        "Z0,1,1;X1,2700",
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c);
        Request got = parse_request(c);
        const auto* m = std::get_if<Malformed>(&got);
        EXPECT_TRUE(m != nullptr) << "got " << show(got);
        if (m) {
            EXPECT_FALSE(m->reason.empty());
        }
    }
}

TEST(ParseRequest, UnsupportedPackets) {
    for (const std::string c : {"", "qFoo", "vFoo", "!", "qTStatus", "qTfV", "qCRC:0,4", "qC0x",
                                "vFile:open:2f,0,0", "vRun;", "vAttach;1", "qL1200",
                                "qXfer:features:write:target.xml:0:abc", "A", "b", "B", "i", "R00",
                                "r", "t", "\x03", "qfThreadInfoX", "vContinue", "vContc", "vKillx",
                                "vKill1",
                                // "Packets", Z: an unrecognized type gets an empty reply
                                "Z5,0,1", "z9,0,1", "Z9", "Zx", "zq,0,1", "Z00,0,1", "Z10,1000,1",
                                "z5,0,1;X1,27"}) {
        SCOPED_TRACE(c);
        Request got = parse_request(c);
        EXPECT_TRUE(std::holds_alternative<Unsupported>(got)) << "got " << show(got);
    }
}

// The decoder un-escapes the whole frame, so X data may hold any byte and the
// parser must split on the first ':' only ("Binary data").
TEST(ParseRequest, BinaryWriteThroughTheDecoder) {
    std::string data;
    for (int b = 0; b < 256; ++b) data.push_back(static_cast<char>(b));
    const std::string wire = encode_packet("X1000,100:" + data);
    Decoder d;
    auto events = d.feed(wire);
    ASSERT_EQ(events.size(), 1u);
    const auto& payload = std::get<Packet>(events[0]).payload;
    Request got = parse_request(payload);
    ASSERT_TRUE(std::holds_alternative<WriteMemory>(got)) << show(got);
    const auto& w = std::get<WriteMemory>(got);
    EXPECT_EQ(w.addr, 0x1000u);
    EXPECT_TRUE(w.binary);
    EXPECT_EQ(w.data, Bytes(data.begin(), data.end()));
}

TEST(ThreadIds, ParseAndFormat) {
    struct C {
        std::string text;
        ThreadId id;
        std::string formatted;
    };
    const std::vector<C> cases = {
        {"0", {std::nullopt, Id::any()}, "0"},
        {"00", {std::nullopt, Id::any()}, "0"},
        {"-1", {std::nullopt, Id::all()}, "-1"},
        {"1f", {std::nullopt, Id::specific(0x1f)}, "1f"},
        {"p1", {Id::specific(1), Id::all()}, "p1.-1"},
        {"p1.2", {Id::specific(1), Id::specific(2)}, "p1.2"},
        {"p-1.0", {Id::all(), Id::any()}, "p-1.0"},
        {"pA.B", {Id::specific(0xa), Id::specific(0xb)}, "pa.b"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        EXPECT_EQ(parse_thread_id(c.text), c.id);
        EXPECT_EQ(format_thread_id(c.id), c.formatted);
    }
    for (const char* bad : {"", "p", "p.", "p1.", "p.1", "-2", "-", "1.2", "zz", "p1.2.3",
                            "11111111111111111"}) {
        SCOPED_TRACE(bad);
        EXPECT_EQ(parse_thread_id(bad), std::nullopt);
    }
}

}  // namespace
