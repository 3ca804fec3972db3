// CMOS RAM and the MC146818 real-time clock at 0x70/0x71, with an injected clock
// so every register has one right answer. Expected bytes follow Motorola's
// MC146818 datasheet (register formats in BCD and binary, 12/24-hour modes) and
// Ralf Brown's CMOS.LST (memory-size bytes, checksum, century at 0x32).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>

#include "devices/cmos.hpp"

using namespace kvmgdb;

namespace {
constexpr std::int64_t kNsPerSecond = 1'000'000'000;
constexpr std::int64_t kNsPerMs = 1'000'000;
// Thursday 2026-12-03 10:11:12 UTC (date -u -d '2026-12-03 10:11:12' +%s).
constexpr std::int64_t k20261203_101112 = 1796292672;
// Thursday 2026-12-03 00:30:00 and 12:05:00 UTC.
constexpr std::int64_t k20261203_003000 = 1796257800;
constexpr std::int64_t k20261203_120500 = 1796299500;
// Friday 1999-12-31 23:59:59 UTC.
constexpr std::int64_t k19991231_235959 = 946684799;

constexpr std::uint64_t MiB = 1024 * 1024;

// Registers.
constexpr std::uint8_t SEC = 0x00, MIN = 0x02, HOUR = 0x04, WDAY = 0x06, MDAY = 0x07, MON = 0x08, YEAR = 0x09,
                       REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d, CENTURY = 0x32;

// A clock the test moves by hand.
struct FixedClock {
    std::shared_ptr<std::int64_t> ns;
    explicit FixedClock(std::int64_t start) : ns(std::make_shared<std::int64_t>(start)) {}
    Cmos::Clock fn() const {
        return [p = ns] { return *p; };
    }
    void set(std::int64_t v) { *ns = v; }
};

struct Rig {
    FixedClock clock;
    Cmos cmos;
    explicit Rig(std::int64_t now_ns, std::uint64_t ram = 256 * MiB) : clock(now_ns), cmos(ram, clock.fn()) {}
    // A guest's access: index to 0x70, then data at 0x71.
    std::uint8_t get(std::uint8_t index) {
        cmos.out(kCmosIndexPort, index);
        return cmos.in(kCmosDataPort);
    }
    void put(std::uint8_t index, std::uint8_t v) {
        cmos.out(kCmosIndexPort, index);
        cmos.out(kCmosDataPort, v);
    }
};

constexpr std::int64_t at(std::int64_t seconds, std::int64_t extra_ns = 0) { return seconds * kNsPerSecond + extra_ns; }

struct Expect {
    std::uint8_t index, value;
};
void expect_registers(Rig& r, std::initializer_list<Expect> table) {
    for (const auto& e : table)
        EXPECT_EQ(r.get(e.index), e.value) << "CMOS register 0x" << std::hex << int{e.index};
}
}  // namespace

TEST(Cmos, HandlesOnlyPorts70And71) {
    Rig r(0);
    EXPECT_TRUE(r.cmos.handles(0x70));
    EXPECT_TRUE(r.cmos.handles(0x71));
    EXPECT_FALSE(r.cmos.handles(0x72));
    EXPECT_FALSE(r.cmos.handles(0x6f));
}

TEST(Cmos, PowerOnStatusRegisters) {
    Rig r(at(k20261203_101112, 500 * kNsPerMs));
    expect_registers(r, {
                            {REG_A, 0x26},  // 32.768 kHz time base, 1024 Hz rate, UIP clear mid-second
                            {REG_B, 0x02},  // 24-hour, BCD, no interrupts, SET clear
                            {REG_C, 0x00},  // no interrupt flags
                            {REG_D, 0x80},  // VRT: battery good
                        });
}

TEST(Cmos, BcdTwentyFourHourClock) {
    Rig r(at(k20261203_101112, 500 * kNsPerMs));  // 10:11:12.5
    expect_registers(r, {
                            {SEC, 0x12},
                            {MIN, 0x11},
                            {HOUR, 0x10},
                            {WDAY, 0x05},  // Thursday; 1 is Sunday
                            {MDAY, 0x03},
                            {MON, 0x12},
                            {YEAR, 0x26},
                            {CENTURY, 0x20},
                        });
}

TEST(Cmos, BinaryModeWhenRegisterBBit2IsSet) {
    Rig r(at(k20261203_101112, 500 * kNsPerMs));
    r.put(REG_B, 0x06);  // 24-hour, binary
    expect_registers(r, {
                            {REG_B, 0x06},
                            {SEC, 12},
                            {MIN, 11},
                            {HOUR, 10},
                            {WDAY, 5},
                            {MDAY, 3},
                            {MON, 12},
                            {YEAR, 26},
                            {CENTURY, 20},
                        });
}

TEST(Cmos, TwelveHourModeMarksPmInBit7) {
    struct Case {
        std::int64_t seconds;
        std::uint8_t reg_b, hour, minute;
        const char* what;
    };
    const Case table[] = {
        {k20261203_101112, 0x00, 0x10, 0x11, "10 AM, BCD"},
        {k20261203_101112, 0x04, 0x0a, 11, "10 AM, binary"},
        {k20261203_003000, 0x00, 0x12, 0x30, "00:30 is 12 AM, BCD"},
        {k20261203_003000, 0x04, 0x0c, 30, "00:30 is 12 AM, binary"},
        {k20261203_120500, 0x00, 0x92, 0x05, "12:05 is 12 PM, BCD"},
        {k20261203_120500, 0x04, 0x8c, 5, "12:05 is 12 PM, binary"},
        {k19991231_235959, 0x00, 0x91, 0x59, "23:59 is 11 PM, BCD"},
        {k19991231_235959, 0x04, 0x8b, 59, "23:59 is 11 PM, binary"},
        {k20261203_120500, 0x02, 0x12, 0x05, "24-hour BCD has no PM flag"},
        {k19991231_235959, 0x06, 23, 59, "24-hour binary has no PM flag"},
    };
    for (const auto& c : table) {
        Rig r(at(c.seconds, 500 * kNsPerMs));
        r.put(REG_B, c.reg_b);
        EXPECT_EQ(r.get(HOUR), c.hour) << c.what;
        EXPECT_EQ(r.get(MIN), c.minute) << c.what << ": the 12-hour flag leaves the minutes alone";
    }
}

TEST(Cmos, LastSecondOf1999RollsOverToYear2000) {
    Rig r(at(k19991231_235959, 999 * kNsPerMs));
    expect_registers(r, {
                            {SEC, 0x59},
                            {MIN, 0x59},
                            {HOUR, 0x23},
                            {WDAY, 0x06},  // Friday
                            {MDAY, 0x31},
                            {MON, 0x12},
                            {YEAR, 0x99},
                            {CENTURY, 0x19},
                        });
    r.clock.set(at(k19991231_235959 + 1, 500 * kNsPerMs));  // Saturday 2000-01-01 00:00:00.5
    expect_registers(r, {
                            {SEC, 0x00},
                            {MIN, 0x00},
                            {HOUR, 0x00},
                            {WDAY, 0x07},
                            {MDAY, 0x01},
                            {MON, 0x01},
                            {YEAR, 0x00},
                            {CENTURY, 0x20},
                        });
}

TEST(Cmos, TimesBeforeTheEpochRoundDown) {
    Rig r(-1);  // one nanosecond before 1970: Wednesday 1969-12-31 23:59:59.999999999
    expect_registers(r, {
                            {SEC, 0x59},
                            {MIN, 0x59},
                            {HOUR, 0x23},
                            {WDAY, 0x04},
                            {MDAY, 0x31},
                            {MON, 0x12},
                            {YEAR, 0x69},
                            {CENTURY, 0x19},
                            {REG_A, 0x26},  // 999.999999 ms into the second: no update in progress
                        });
}

TEST(Cmos, ClockFollowsTheHostClockAtEveryRead) {
    Rig r(at(k20261203_101112, 500 * kNsPerMs));
    EXPECT_EQ(r.get(SEC), 0x12);
    r.clock.set(at(k20261203_101112 + 47, 500 * kNsPerMs));  // 10:11:59
    EXPECT_EQ(r.get(SEC), 0x59);
    EXPECT_EQ(r.get(MIN), 0x11);
    r.clock.set(at(k20261203_101112 + 48, 500 * kNsPerMs));  // 10:12:00
    EXPECT_EQ(r.get(SEC), 0x00);
    EXPECT_EQ(r.get(MIN), 0x12);
}

TEST(Cmos, UpdateInProgressOnlyInTheFirstTwoMillisecondsOfASecond) {
    const std::pair<std::int64_t, std::uint8_t> table[] = {
        {0, 0xa6},                    // the update cycle starts at the second boundary
        {1, 0xa6},
        {500'000, 0xa6},
        {1'999'999, 0xa6},            // the datasheet's 1984 us, rounded up to 2 ms
        {2'000'000, 0x26},
        {2'500'000, 0x26},
        {500 * kNsPerMs, 0x26},
        {kNsPerSecond - 1, 0x26},
    };
    for (auto [ns_into_second, reg_a] : table) {
        Rig r(at(k20261203_101112, ns_into_second));
        EXPECT_EQ(r.get(REG_A), reg_a) << ns_into_second << " ns into the second";
    }
}

TEST(Cmos, UpdateInProgressReadsZeroWhileSetHoldsTheClock) {
    Rig r(at(k20261203_101112, 500'000));
    EXPECT_EQ(r.get(REG_A), 0xa6);
    r.put(REG_B, 0x82);  // SET, 24-hour BCD
    EXPECT_EQ(r.get(REG_A), 0x26);
    r.put(REG_B, 0x02);
    EXPECT_EQ(r.get(REG_A), 0xa6);
}

TEST(Cmos, RegisterAUipBitIsReadOnly) {
    Rig r(at(k20261203_101112, 500 * kNsPerMs));
    r.put(REG_A, 0xff);
    EXPECT_EQ(r.get(REG_A), 0x7f);
    r.put(REG_A, 0x26);
    EXPECT_EQ(r.get(REG_A), 0x26);
}

TEST(Cmos, RegistersCAndDIgnoreWrites) {
    Rig r(at(k20261203_101112, 500 * kNsPerMs));
    r.put(REG_C, 0xff);
    r.put(REG_D, 0x00);
    expect_registers(r, {{REG_C, 0x00}, {REG_D, 0x80}});
}

TEST(Cmos, WritesToClockRegistersAreIgnored) {
    Rig r(at(k20261203_101112, 500 * kNsPerMs));
    r.put(REG_B, 0x82);  // SET, as a guest setting the clock would
    for (std::uint8_t index : {SEC, MIN, HOUR, WDAY, MDAY, MON, YEAR, CENTURY}) r.put(index, 0x01);
    r.put(REG_B, 0x02);
    expect_registers(r, {
                            {SEC, 0x12},
                            {MIN, 0x11},
                            {HOUR, 0x10},
                            {WDAY, 0x05},
                            {MDAY, 0x03},
                            {MON, 0x12},
                            {YEAR, 0x26},
                            {CENTURY, 0x20},
                        });
}

TEST(Cmos, AlarmAndPlainRamBytesKeepWhatIsWritten) {
    Rig r(0);
    const std::pair<std::uint8_t, std::uint8_t> table[] = {
        {0x01, 0x45},  // seconds alarm
        {0x03, 0x30},  // minutes alarm
        {0x05, 0xc0},  // hours alarm ("don't care")
        {0x0e, 0x00},  // diagnostic status
        {0x0f, 0x0a},  // shutdown status: what a warm-reset path writes
        {0x40, 0xa5},
        {0x7f, 0x5a},
    };
    for (auto [index, v] : table) r.put(index, v);
    for (auto [index, v] : table) EXPECT_EQ(r.get(index), v) << "CMOS byte 0x" << std::hex << int{index};
}

TEST(Cmos, MemorySizeBytesFor256MiB) {
    Rig r(0, 256 * MiB);
    expect_registers(r, {
                            {0x15, 0x80}, {0x16, 0x02},  // 640 KiB base memory
                            {0x17, 0xff}, {0x18, 0xff},  // 255 MiB extended, capped at 0xFFFF KiB
                            {0x30, 0xff}, {0x31, 0xff},
                            {0x34, 0x00}, {0x35, 0x0f},  // 240 MiB above 16 MiB: 3840 x 64 KiB
                            {0x5b, 0x00}, {0x5c, 0x00}, {0x5d, 0x00},  // nothing above 4 GiB
                            {0x14, 0x02},                // equipment: coprocessor, no floppy
                            {0x2e, 0x02}, {0x2f, 0x82},  // 0x02 + 0x80 + 0x02 + 0xFF + 0xFF = 0x0282
                        });
}

TEST(Cmos, MemorySizeBytesFor32MiB) {
    Rig r(0, 32 * MiB);
    expect_registers(r, {
                            {0x15, 0x80}, {0x16, 0x02},
                            {0x17, 0x00}, {0x18, 0x7c},  // 31 MiB = 31744 KiB = 0x7C00
                            {0x30, 0x00}, {0x31, 0x7c},
                            {0x34, 0x00}, {0x35, 0x01},  // 16 MiB above 16 MiB: 256 x 64 KiB
                            {0x2e, 0x01}, {0x2f, 0x00},  // 0x02 + 0x80 + 0x02 + 0x00 + 0x7C = 0x0100
                        });
}

TEST(Cmos, MemorySizeBytesFor16MiBHaveNothingAbove16MiB) {
    Rig r(0, 16 * MiB);
    expect_registers(r, {
                            {0x17, 0x00}, {0x18, 0x3c},  // 15 MiB = 15360 KiB = 0x3C00
                            {0x30, 0x00}, {0x31, 0x3c},
                            {0x34, 0x00}, {0x35, 0x00},
                            {0x2e, 0x00}, {0x2f, 0xc0},  // 0x02 + 0x80 + 0x02 + 0x00 + 0x3C = 0x00C0
                        });
}

TEST(Cmos, MemorySizeBytesAbove4GiB) {
    Rig r(0, 6144 * MiB);  // 6 GiB: 2 GiB above 4 GiB = 0x8000 x 64 KiB
    expect_registers(r, {
                            {0x17, 0xff}, {0x18, 0xff},  // capped at 0xFFFF KiB
                            {0x34, 0x00}, {0x35, 0xff},  // (4096 - 16) MiB / 64 KiB = 65280 = 0xFF00
                            {0x5b, 0x00}, {0x5c, 0x80}, {0x5d, 0x00},
                        });
}

TEST(Cmos, ChecksumCoversBytes10To2D) {
    for (std::uint64_t ram : {1 * MiB, 2 * MiB, 64 * MiB, 65 * MiB, 3072 * MiB}) {
        Rig r(0, ram);
        unsigned sum = 0;
        for (std::uint8_t i = 0x10; i <= 0x2d; ++i) sum += r.cmos.read(i);
        EXPECT_EQ(r.cmos.read(0x2e), static_cast<std::uint8_t>(sum >> 8)) << ram;
        EXPECT_EQ(r.cmos.read(0x2f), static_cast<std::uint8_t>(sum)) << ram;
        EXPECT_EQ(r.cmos.read(0x15) | r.cmos.read(0x16) << 8, 640) << ram;
        const int extended_kib = static_cast<int>(std::min<std::uint64_t>((ram - MiB) / 1024, 0xffff));
        EXPECT_EQ(r.cmos.read(0x17) | r.cmos.read(0x18) << 8, extended_kib) << ram;
    }
}

TEST(Cmos, IndexPortBit7IsTheNmiFlagNotPartOfTheIndex) {
    Rig r(at(k20261203_101112, 500 * kNsPerMs));
    EXPECT_FALSE(r.cmos.nmi_disabled());
    r.cmos.out(kCmosIndexPort, 0x80 | REG_D);  // Linux's CMOS_READ with NMI off
    EXPECT_TRUE(r.cmos.nmi_disabled());
    EXPECT_EQ(r.cmos.in(kCmosDataPort), 0x80);
    r.cmos.out(kCmosIndexPort, 0x80 | SEC);
    EXPECT_EQ(r.cmos.in(kCmosDataPort), 0x12);
    r.cmos.out(kCmosIndexPort, 0x80 | 0x40);
    r.cmos.out(kCmosDataPort, 0x99);
    r.cmos.out(kCmosIndexPort, 0x40);
    EXPECT_FALSE(r.cmos.nmi_disabled());
    EXPECT_EQ(r.cmos.in(kCmosDataPort), 0x99) << "0xC0 and 0x40 are the same byte";
}

TEST(Cmos, IndexPortReadsAllOnes) {
    Rig r(0);
    r.cmos.out(kCmosIndexPort, REG_D);
    EXPECT_EQ(r.cmos.in(kCmosIndexPort), 0xff);
    EXPECT_EQ(r.cmos.in(kCmosDataPort), 0x80) << "reading 0x70 leaves the index alone";
}

TEST(Cmos, DataPortReadsRepeatTheSelectedRegister) {
    Rig r(at(k20261203_101112, 500 * kNsPerMs));
    r.cmos.out(kCmosIndexPort, MIN);
    EXPECT_EQ(r.cmos.in(kCmosDataPort), 0x11);
    EXPECT_EQ(r.cmos.in(kCmosDataPort), 0x11);
}

TEST(Cmos, ReadMasksTheIndexToSevenBits) {
    Rig r(at(k20261203_101112, 500 * kNsPerMs));
    EXPECT_EQ(r.cmos.read(0x80 | REG_D), 0x80);
    EXPECT_EQ(r.cmos.read(0x80 | SEC), 0x12);
}
