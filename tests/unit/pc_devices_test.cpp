// The PC platform's port devices together (PcDevices), as a guest's IN and OUT
// instructions reach them, and the BIOS data area written into guest RAM.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "boot/boot_layout.hpp"
#include "devices/bios_data_area.hpp"
#include "devices/pc_devices.hpp"
#include "devices/port_io.hpp"
#include "mem/guest_memory.hpp"

using namespace kvmgdb;

namespace {
constexpr std::uint64_t MiB = 1024 * 1024;
// Thursday 2026-12-03 10:11:12.5 UTC.
constexpr std::int64_t kNow = 1796292672LL * 1'000'000'000 + 500'000'000;

using IrqEvent = std::pair<unsigned, bool>;

struct Rig {
    std::string console;
    std::vector<IrqEvent> irq;
    PcDevices pc{[this](std::string_view s) { console += s; },
                 [this](unsigned line, bool level) { irq.emplace_back(line, level); }, 256 * MiB,
                 [] { return kNow; }};

    std::optional<PortEnd> out8(std::uint16_t port, std::uint8_t v) {
        return pc.out(port, 1, std::span<const std::uint8_t>(&v, 1));
    }
    std::optional<PortEnd> out16(std::uint16_t port, std::uint16_t v) {
        const std::array<std::uint8_t, 2> b{static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8)};
        return pc.out(port, 2, b);
    }
    std::uint8_t in8(std::uint16_t port) {
        std::uint8_t v = 0;
        pc.in(port, 1, std::span<std::uint8_t>(&v, 1));
        return v;
    }
    std::uint16_t in16(std::uint16_t port) {
        std::array<std::uint8_t, 2> b{};
        pc.in(port, 2, b);
        return static_cast<std::uint16_t>(b[0] | b[1] << 8);
    }
    // A write that must not end the run.
    void put(std::uint16_t port, std::uint8_t v) {
        auto end = out8(port, v);
        EXPECT_FALSE(end.has_value()) << "port 0x" << std::hex << port << ": " << (end ? end->reason : "");
    }
};

void expect_reset(const std::optional<PortEnd>& end, const std::string& reason) {
    ASSERT_TRUE(end.has_value()) << "expected a reset: " << reason;
    EXPECT_EQ(end->kind, PortEnd::Kind::Reset);
    EXPECT_EQ(end->status, 0);
    EXPECT_EQ(end->reason, reason);
}
}  // namespace

TEST(PcDevices, HandlesThePlatformPortsAndNothingElse) {
    Rig r;
    using Ports = std::initializer_list<std::uint16_t>;
    for (std::uint16_t p : Ports{0x3f8, 0x3ff, 0x2f8, 0x2ff, 0x3e8, 0x3ef, 0x2e8, 0x2ef, 0x70, 0x71, 0x60, 0x64, 0xcf9,
                                 0x92, 0x80})
        EXPECT_TRUE(r.pc.handles(p)) << "port 0x" << std::hex << p;
    // The debug console and exit port stay PortBus's; the PIC, PIT and speaker are
    // KVM's; the rest is empty bus.
    for (std::uint16_t p : Ports{0xe9, 0xf4, 0x20, 0x21, 0x40, 0x43, 0x61, 0x72, 0x3f7, 0x400, 0x2f7, 0x3f0, 0xcf8,
                                 0xcfa, 0xcfc, 0x91, 0x93, 0x81, 0x1f0})
        EXPECT_FALSE(r.pc.handles(p)) << "port 0x" << std::hex << p;
}

TEST(PcDevices, ResetControlRegisterResetsOnBit2) {
    Rig r;
    expect_reset(r.out8(0xcf9, 0x06), "guest reset through port 0xcf9");  // Linux's warm "pci" reboot
}

TEST(PcDevices, ResetControlRegisterKeepsBits1And3WithoutResetting) {
    Rig r;
    const std::pair<std::uint8_t, std::uint8_t> table[] = {
        {0x02, 0x02},  // Linux's first write: hard reset selected, not started
        {0x08, 0x08},  // full reset selected
        {0x0a, 0x0a},
        {0xfb, 0x0a},  // every bit but 2: only 1 and 3 are kept
        {0x00, 0x00},
    };
    EXPECT_EQ(r.in8(0xcf9), 0x00);
    for (auto [written, reads] : table) {
        r.put(0xcf9, written);
        EXPECT_EQ(r.in8(0xcf9), reads) << "wrote 0x" << std::hex << int{written};
    }
}

TEST(PcDevices, ResetControlRegisterLinuxPciRebootSequences) {
    for (std::uint8_t second : std::initializer_list<std::uint8_t>{0x06, 0x0e, 0x04, 0xff}) {
        Rig r;
        r.put(0xcf9, 0x02);
        expect_reset(r.out8(0xcf9, second), "guest reset through port 0xcf9");
    }
}

TEST(PcDevices, SystemControlPortAResetsOnBit0AndKeepsA20) {
    Rig r;
    EXPECT_EQ(r.in8(0x92), 0x02) << "A20 on at power-on";
    r.put(0x92, 0x00);
    EXPECT_EQ(r.in8(0x92), 0x00);
    r.put(0x92, 0x02);
    EXPECT_EQ(r.in8(0x92), 0x02);
    expect_reset(r.out8(0x92, 0x03), "guest reset through port 0x92");
    expect_reset(r.out8(0x92, 0x01), "guest reset through port 0x92");
}

TEST(PcDevices, I8042PulseCommandResets) {
    Rig r;
    expect_reset(r.out8(0x64, 0xfe), "guest reset through the i8042 (port 0x64)");
}

TEST(PcDevices, I8042OutputPortWriteResets) {
    Rig r;
    r.put(0x64, 0xd1);
    expect_reset(r.out8(0x60, 0xfe), "guest reset through the i8042's output port (port 0x60)");
}

TEST(PcDevices, AbsentComPortsFloatToAllOnes) {
    Rig r;
    for (std::uint16_t base : std::initializer_list<std::uint16_t>{0x2f8, 0x3e8, 0x2e8}) {
        // Linux's 8250 probe: IER written 0 must read back 0; here it reads 0xFF.
        r.put(static_cast<std::uint16_t>(base + 1), 0x00);
        for (std::uint16_t off = 0; off < 8; ++off) {
            r.put(static_cast<std::uint16_t>(base + off), 0x5a);
            EXPECT_EQ(r.in8(static_cast<std::uint16_t>(base + off)), 0xff)
                << "port 0x" << std::hex << base + off;
        }
    }
    EXPECT_EQ(r.console, "") << "a COM2 THR write is not COM1's";
    EXPECT_TRUE(r.irq.empty());
}

TEST(PcDevices, PostCodePortDropsWritesAndReadsAllOnes) {
    Rig r;
    // Linux's io_delay writes 0.
    for (std::uint8_t v : std::initializer_list<std::uint8_t>{0x00, 0x55, 0xff}) r.put(0x80, v);
    EXPECT_EQ(r.in8(0x80), 0xff);
    EXPECT_EQ(r.console, "");
    EXPECT_TRUE(r.irq.empty());
}

TEST(PcDevices, Com1ThrGoesToTheConsole) {
    Rig r;
    for (char c : std::string("ok\n")) r.put(0x3f8, static_cast<std::uint8_t>(c));
    EXPECT_EQ(r.console, "ok\n");
    EXPECT_EQ(r.in8(0x3fd), 0x60);
}

TEST(PcDevices, RepOutsbToCom1SendsEveryByte) {
    Rig r;
    const std::string text = "rep outsb";
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(text.data());
    EXPECT_FALSE(r.pc.out(0x3f8, 1, std::span<const std::uint8_t>(bytes, text.size())).has_value());
    EXPECT_EQ(r.console, text);
}

TEST(PcDevices, Com1InterruptReachesTheIrqSinkAsIrq4) {
    Rig r;
    r.put(0x3f9, 0x01);  // IER: received data
    r.put(0x3fc, 0x0b);  // MCR: DTR, RTS, OUT2
    EXPECT_TRUE(r.irq.empty());
    r.pc.serial_input("x");
    EXPECT_EQ(r.irq, (std::vector<IrqEvent>{{4, true}}));
    EXPECT_EQ(r.in8(0x3fa), 0x04);
    EXPECT_EQ(r.in8(0x3f8), 'x');
    EXPECT_EQ(r.irq, (std::vector<IrqEvent>{{4, true}, {4, false}}));
    EXPECT_EQ(r.in8(0x3fa), 0x01);
}

TEST(PcDevices, I8042InterruptsReachTheIrqSinkAsIrq1And12) {
    Rig r;
    r.put(0x64, 0xaa);
    EXPECT_EQ(r.in8(0x60), 0x55);
    r.put(0x64, 0xd3);
    r.put(0x60, 0x5a);
    EXPECT_EQ(r.in8(0x64), 0x35);
    EXPECT_EQ(r.in8(0x60), 0x5a);
    EXPECT_EQ(r.irq, (std::vector<IrqEvent>{{1, true}, {1, false}, {12, true}, {12, false}}));
}

TEST(PcDevices, CmosReadsTheInjectedClockAndRamSize) {
    Rig r;
    const std::pair<std::uint8_t, std::uint8_t> table[] = {
        {0x00, 0x12}, {0x02, 0x11}, {0x04, 0x10}, {0x06, 0x05}, {0x07, 0x03}, {0x08, 0x12},
        {0x09, 0x26}, {0x32, 0x20}, {0x0a, 0x26}, {0x0b, 0x02}, {0x0d, 0x80},
        {0x15, 0x80}, {0x16, 0x02}, {0x17, 0xff}, {0x18, 0xff}, {0x34, 0x00}, {0x35, 0x0f},
    };
    for (auto [index, v] : table) {
        r.put(0x70, index);
        EXPECT_EQ(r.in8(0x71), v) << "CMOS 0x" << std::hex << int{index};
    }
}

TEST(PcDevices, SixteenBitInAtCmosSplitsIntoIndexAndDataBytes) {
    Rig r;
    r.put(0x70, 0x0d);
    // Low byte from 0x70 (write-only: all ones), high byte from 0x71 (register D).
    EXPECT_EQ(r.in16(0x70), 0x80ff);
    r.put(0x70, 0x00);
    EXPECT_EQ(r.in16(0x70), 0x12ff);
}

TEST(PcDevices, SixteenBitOutAtCmosWritesIndexThenData) {
    Rig r;
    EXPECT_FALSE(r.out16(0x70, 0xab40).has_value());  // index 0x40, then 0xAB into it
    r.put(0x70, 0x40);
    EXPECT_EQ(r.in8(0x71), 0xab);
    EXPECT_FALSE(r.pc.cmos().nmi_disabled());
}

TEST(PcDevices, RepInswRepeatsThePortPairForEachValue) {
    Rig r;
    r.put(0x70, 0x0d);
    std::array<std::uint8_t, 6> b{};
    r.pc.in(0x70, 2, b);  // three 16-bit values from 0x70/0x71
    EXPECT_EQ(b, (std::array<std::uint8_t, 6>{0xff, 0x80, 0xff, 0x80, 0xff, 0x80}));
}

TEST(PcDevices, WideAccessPastTheDeviceEndFloatsAndDrops) {
    Rig r;
    // A 16-bit access at COM1's SCR (0x3FF): the high byte is port 0x400, no device.
    EXPECT_FALSE(r.out16(0x3ff, 0xee77).has_value());
    EXPECT_EQ(r.in8(0x3ff), 0x77);
    EXPECT_EQ(r.in16(0x3ff), 0xff77);
}

TEST(PcDevices, ZeroSizeAccessDoesNothing) {
    Rig r;
    const std::array<std::uint8_t, 1> w{0x06};
    EXPECT_FALSE(r.pc.out(0xcf9, 0, w).has_value());
    std::array<std::uint8_t, 1> b{0x42};
    r.pc.in(0x92, 0, b);
    EXPECT_EQ(b[0], 0x42);
}

TEST(PcDevices, ResetInTheMiddleOfARepOutStopsThere) {
    Rig r;
    const std::array<std::uint8_t, 3> bytes{0x02, 0x06, 0x00};
    expect_reset(r.pc.out(0xcf9, 1, bytes), "guest reset through port 0xcf9");
    EXPECT_EQ(r.in8(0xcf9), 0x02) << "the byte after the reset was never written";
}

TEST(PcDevices, PortBusSendsPlatformPortsToTheAttachedDevices) {
    std::string console, log;
    PortBus bus([&](std::string_view s) { console += s; }, [&](std::string_view s) { log += s; }, false);
    std::vector<IrqEvent> irq;
    bus.attach_pc(std::make_unique<PcDevices>([&](std::string_view s) { console += s; },
                                              [&](unsigned line, bool level) { irq.emplace_back(line, level); },
                                              64 * MiB, [] { return kNow; }));
    ASSERT_NE(bus.pc(), nullptr);
    auto out8 = [&](std::uint16_t port, std::uint8_t v) {
        return bus.out(port, 1, std::span<const std::uint8_t>(&v, 1));
    };
    auto in8 = [&](std::uint16_t port) {
        std::uint8_t v = 0;
        bus.in(port, 1, std::span<std::uint8_t>(&v, 1));
        return v;
    };
    EXPECT_FALSE(out8(0x3f8, 'a').has_value());
    EXPECT_FALSE(out8(0xe9, 'b').has_value());  // the debug console stays
    EXPECT_EQ(console, "ab");
    EXPECT_EQ(in8(0x2f9), 0xff);
    EXPECT_EQ(in8(0x92), 0x02);
    out8(0x70, 0x0d);
    EXPECT_EQ(in8(0x71), 0x80);
    auto end = out8(0xcf9, 0x06);
    ASSERT_TRUE(end.has_value());
    EXPECT_EQ(end->kind, PortEnd::Kind::Reset);
    auto exit = out8(0xf4, 0x07);  // the exit port stays
    ASSERT_TRUE(exit.has_value());
    EXPECT_EQ(exit->kind, PortEnd::Kind::ExitPort);
    EXPECT_EQ(exit->status, 7);
    EXPECT_TRUE(bus.unknown_ports().empty()) << "every port above has a device";
}

// ---------------------------------------------------------------------------
// The BIOS data area.

namespace {
constexpr std::uint64_t kBda = 0x400;

// The 256-byte BDA the writer must leave, over a BDA that held `fill` before.
std::array<std::uint8_t, 256> expected_bda(std::uint8_t fill) {
    std::array<std::uint8_t, 256> e{};
    e.fill(fill);
    auto put16 = [&](std::size_t at, std::uint16_t v) {
        e[at] = static_cast<std::uint8_t>(v);
        e[at + 1] = static_cast<std::uint8_t>(v >> 8);
    };
    put16(0x00, 0x03f8);  // COM1
    put16(0x02, 0x0000);  // COM2-COM4: none
    put16(0x04, 0x0000);
    put16(0x06, 0x0000);
    put16(0x08, 0x0000);  // LPT1-LPT3: none
    put16(0x0a, 0x0000);
    put16(0x0c, 0x0000);
    put16(0x0e, 0x9fc0);  // EBDA segment
    put16(0x10, 0x0222);  // equipment: x87, 80x25 colour, one serial port
    put16(0x13, 0x027f);  // 639 KiB base memory
    e[0x49] = 0x03;       // video mode 3
    put16(0x4a, 80);      // columns
    put16(0x4c, 0x1000);  // page size
    put16(0x63, 0x03d4);  // CRTC port: colour
    e[0x84] = 24;         // rows - 1
    put16(0x85, 16);      // character height
    return e;
}

std::array<std::uint8_t, 256> bda_of(const GuestMemory& mem) {
    std::array<std::uint8_t, 256> got{};
    mem.read(kBda, got);
    return got;
}

void expect_bda(const GuestMemory& mem, std::uint8_t fill) {
    const auto got = bda_of(mem), want = expected_bda(fill);
    for (std::size_t i = 0; i < got.size(); ++i)
        EXPECT_EQ(got[i], want[i]) << "BDA byte 0x" << std::hex << 0x400 + i;
}
}  // namespace

TEST(BiosDataArea, FieldsKernelsReadHaveTheirPcValues) {
    GuestMemory mem(1 * MiB);
    write_bios_data_area(mem, 1 * MiB);
    EXPECT_EQ(mem.read16(0x400), 0x3f8) << "COM1 base";
    EXPECT_EQ(mem.read16(0x40e), 0x9fc0) << "EBDA segment";
    EXPECT_EQ(mem.read16(0x413), 639) << "base memory in KiB";
    EXPECT_EQ(mem.read8(0x9fc00), 1) << "EBDA size in KiB";
    EXPECT_EQ(mem.read8(0x9fc01), 0);
    EXPECT_EQ(std::uint64_t{mem.read16(0x40e)} << 4, boot::kEbdaBase);
    EXPECT_EQ(std::uint64_t{mem.read16(0x413)} * 1024, boot::kEbdaBase) << "base memory ends where the EBDA starts";
}

TEST(BiosDataArea, WholeAreaMatchesByteForByteOnZeroedRam) {
    GuestMemory mem(2 * MiB);
    write_bios_data_area(mem, 2 * MiB);
    expect_bda(mem, 0x00);
}

TEST(BiosDataArea, LeavesBytesItHasNoAnswerForAsTheyWere) {
    GuestMemory mem(4 * MiB);
    mem.fill(kBda, 256, 0xcc);
    mem.fill(boot::kEbdaBase, boot::kLowMemoryEnd - boot::kEbdaBase, 0xcc);
    write_bios_data_area(mem, 4 * MiB);
    expect_bda(mem, 0xcc);
    EXPECT_EQ(mem.read8(0x3ff), 0x00) << "the IVT below the BDA is untouched";
    EXPECT_EQ(mem.read8(0x500), 0x00) << "nothing past the BDA";
    EXPECT_EQ(mem.read16(boot::kEbdaBase), 0x0001) << "EBDA header: 1 KiB, reserved byte 0";
    for (std::uint64_t a = boot::kEbdaBase + 2; a < boot::kLowMemoryEnd; ++a)
        ASSERT_EQ(mem.read8(a), 0xcc) << "EBDA byte 0x" << std::hex << a;
}

TEST(BiosDataArea, BaseMemoryIs639KiBWhateverTheRamSize) {
    for (std::uint64_t ram : {1 * MiB, 16 * MiB, 256 * MiB}) {
        GuestMemory mem(ram);
        write_bios_data_area(mem, ram);
        EXPECT_EQ(mem.read16(0x413), 639) << ram;
        EXPECT_EQ(mem.read16(0x40e), 0x9fc0) << ram;
        EXPECT_EQ(mem.read8(0x9fc00), 1) << ram;
    }
}

TEST(BiosDataArea, RewritingIsIdempotent) {
    GuestMemory mem(1 * MiB);
    write_bios_data_area(mem, 1 * MiB);
    const auto first = bda_of(mem);
    write_bios_data_area(mem, 1 * MiB);
    EXPECT_EQ(bda_of(mem), first);
    expect_bda(mem, 0x00);
}
