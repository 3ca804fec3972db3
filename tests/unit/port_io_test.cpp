// The port devices, driven byte by byte as a guest would.
#include <gtest/gtest.h>

#include <array>

#include "devices/port_io.hpp"

using namespace kvmgdb;

namespace {
struct Bus {
    std::string console, log;
    PortBus bus;
    explicit Bus(bool verbose = false)
        : bus([this](std::string_view s) { console += s; }, [this](std::string_view s) { log += s; }, verbose) {}
    std::optional<int> out8(std::uint16_t port, std::uint8_t v) {
        auto end = bus.out(port, 1, std::span<const std::uint8_t>(&v, 1));
        if (!end) return std::nullopt;
        return end->status;
    }
    std::uint8_t in8(std::uint16_t port) {
        std::uint8_t v = 0;
        bus.in(port, 1, std::span<std::uint8_t>(&v, 1));
        return v;
    }
};
}  // namespace

TEST(PortBus, DebugConsolePrintsEveryByte) {
    Bus b;
    const std::array<std::uint8_t, 3> s{'h', 'i', '\n'};
    EXPECT_FALSE(b.bus.out(0xe9, 1, s));  // rep outsb: three bytes in one exit
    EXPECT_EQ(b.console, "hi\n");
}

TEST(PortBus, ExitPortReturnsTheByte) {
    Bus b;
    EXPECT_EQ(b.out8(0xf4, 7), 7);
    EXPECT_EQ(b.out8(0xf4, 0), 0);
}

// kvm-unit-tests end with `outl(status, 0xf4)`: the status is the low byte of the
// value, not its high byte, for every width and for the last of a `rep outs`.
TEST(PortBus, ExitPortTakesTheLowByteOfAWideWrite) {
    Bus b;
    const std::array<std::uint8_t, 4> outl{0x03, 0x00, 0x00, 0x00};  // outl(3)
    EXPECT_EQ(b.bus.out(0xf4, 4, outl)->status, 3);
    const std::array<std::uint8_t, 2> outw{0x01, 0x7f};  // outw(0x7f01)
    EXPECT_EQ(b.bus.out(0xf4, 2, outw)->status, 1);
    const std::array<std::uint8_t, 8> rep_outsl{0x05, 0, 0, 0, 0x09, 0, 0, 0};  // rep outsl of {5, 9}
    EXPECT_EQ(b.bus.out(0xf4, 4, rep_outsl)->status, 9);
}

TEST(PortBus, Com1TransmitsAndReportsTheTransmitterEmpty) {
    Bus b;
    EXPECT_EQ(b.in8(0x3fd) & 0x60, 0x60);  // LSR: THRE | TEMT
    b.out8(0x3f8, 'A');
    EXPECT_EQ(b.console, "A");
    EXPECT_EQ(b.in8(0x3fa), 0x01);  // IIR: no interrupt pending
}

TEST(PortBus, Com1DivisorLatchIsNotOutput) {
    Bus b;
    b.out8(0x3fb, 0x80);  // DLAB
    b.out8(0x3f8, 0x01);
    b.out8(0x3f9, 0x02);
    EXPECT_EQ(b.in8(0x3f8), 0x01);
    EXPECT_EQ(b.in8(0x3f9), 0x02);
    b.out8(0x3fb, 0x03);  // 8N1, DLAB off
    EXPECT_EQ(b.in8(0x3fb), 0x03);
    EXPECT_EQ(b.console, "") << "divisor writes must not print";
    b.out8(0x3ff, 0x5a);
    EXPECT_EQ(b.in8(0x3ff), 0x5a);  // scratch register
}

TEST(PortBus, UnknownPortsReadAllOnesAndAreLoggedOnceWhenVerbose) {
    Bus b(true);
    EXPECT_EQ(b.in8(0x60), 0xff);
    EXPECT_EQ(b.in8(0x60), 0xff);
    EXPECT_FALSE(b.out8(0x80, 1));
    EXPECT_EQ(b.log, "kvmgdb: port 0x60: read from a port with no device\n"
                     "kvmgdb: port 0x80: write to a port with no device\n");
    EXPECT_EQ(b.bus.unknown_ports().size(), 2u);
    std::array<std::uint8_t, 4> wide{};
    b.bus.in(0x64, 4, wide);
    EXPECT_EQ(wide, (std::array<std::uint8_t, 4>{0xff, 0xff, 0xff, 0xff}));
}

TEST(PortBus, QuietWithoutVerbose) {
    Bus b(false);
    b.in8(0x60);
    EXPECT_EQ(b.log, "");
}

TEST(PortBus, MmioReadsAllOnesWritesDropped) {
    Bus b(true);
    std::array<std::uint8_t, 4> d{1, 2, 3, 4};
    b.bus.mmio(0xfee00000, false, d);
    EXPECT_EQ(d, (std::array<std::uint8_t, 4>{0xff, 0xff, 0xff, 0xff}));
    b.bus.mmio(0xfee00004, true, d);  // same page: logged once
    EXPECT_EQ(b.log, "kvmgdb: MMIO read from 0xfee00000: no RAM or device there\n");
}
