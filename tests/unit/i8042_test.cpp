// The 8042 keyboard controller at 0x60/0x64 with nothing plugged in, driven with
// the command sequences Linux's i8042 driver (drivers/input/serio/i8042.c) and
// its reboot paths use. Status bits: 0 OBF, 2 SYS, 3 CMD/DATA, 4 keyboard
// unlocked, 5 aux data, 6 timeout (IBM PS/2 Technical Reference).
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include "devices/i8042.hpp"

using namespace kvmgdb;

namespace {
using IrqEvent = std::pair<unsigned, bool>;

struct Rig {
    std::vector<IrqEvent> irq;  // every (line, level) call, in order
    I8042 kbc{[this](unsigned line, bool level) { irq.emplace_back(line, level); }};

    // Writes that must not reset.
    void cmd(std::uint8_t c) { EXPECT_FALSE(kbc.out(kI8042CommandPort, c)) << "command 0x" << std::hex << int{c}; }
    void data(std::uint8_t v) { EXPECT_FALSE(kbc.out(kI8042DataPort, v)) << "data 0x" << std::hex << int{v}; }
    std::uint8_t status() { return kbc.in(kI8042CommandPort); }
    std::uint8_t read() { return kbc.in(kI8042DataPort); }
    // Reads every waiting byte.
    void drain() {
        for (int i = 0; i < 64 && (status() & 0x01); ++i) read();
    }
};

constexpr std::uint8_t kPowerOnConfig = 0x63;  // XLATE | AUXDIS | AUXINT | KBDINT
}  // namespace

TEST(I8042, HandlesOnlyPorts60And64) {
    Rig r;
    EXPECT_TRUE(r.kbc.handles(0x60));
    EXPECT_TRUE(r.kbc.handles(0x64));
    for (std::uint16_t p : std::initializer_list<std::uint16_t>{0x61, 0x62, 0x63, 0x65, 0x5f})
        EXPECT_FALSE(r.kbc.handles(p)) << p;
}

TEST(I8042, PowerOnStatusIsUnlockedWithNothingWaiting) {
    Rig r;
    EXPECT_EQ(r.status(), 0x10);
    EXPECT_TRUE(r.irq.empty());
}

TEST(I8042, ReadConfigCommandReturnsPowerOnConfig) {
    Rig r;
    r.cmd(0x20);
    EXPECT_EQ(r.status(), 0x19);  // OBF | CMD | unlocked
    EXPECT_EQ(r.read(), kPowerOnConfig);
    EXPECT_EQ(r.status(), 0x18);
}

TEST(I8042, SelfTestAnswers55AndSetsTheSystemFlag) {
    Rig r;
    r.cmd(0xaa);
    EXPECT_EQ(r.status(), 0x1d);  // OBF | SYS | CMD | unlocked
    EXPECT_EQ(r.read(), 0x55);
    EXPECT_EQ(r.status(), 0x1c);
    r.cmd(0x20);
    EXPECT_EQ(r.read(), kPowerOnConfig | 0x04) << "the config byte's SYS bit is set too";
}

TEST(I8042, WriteConfigCommandTakesTheNextDataByte) {
    Rig r;
    r.cmd(0x60);
    EXPECT_EQ(r.status(), 0x18) << "nothing to read; the last write was a command";
    r.data(0x47);  // Linux's usual CTR: XLATE | SYS | AUXINT | KBDINT
    EXPECT_EQ(r.status(), 0x14) << "SYS from the new config; the last write was data";
    r.cmd(0x20);
    EXPECT_EQ(r.read(), 0x47);
    r.cmd(0x60);
    r.data(0x00);
    EXPECT_EQ(r.status(), 0x10);
    r.cmd(0x20);
    EXPECT_EQ(r.read(), 0x00);
}

TEST(I8042, InterfaceTestsReportNoError) {
    Rig r;
    r.cmd(0xab);  // keyboard interface test
    EXPECT_EQ(r.status(), 0x19);
    EXPECT_EQ(r.read(), 0x00);
    r.cmd(0xa9);  // aux interface test
    EXPECT_EQ(r.status(), 0x19) << "the answer comes from the controller, not the aux port";
    EXPECT_EQ(r.read(), 0x00);
    EXPECT_EQ(r.status(), 0x18);
}

TEST(I8042, PortEnableAndDisableCommandsEditTheConfigByte) {
    Rig r;
    const std::pair<std::uint8_t, std::uint8_t> table[] = {
        {0xa8, 0x43},  // enable aux: AUXDIS clear
        {0xad, 0x53},  // disable keyboard: KBDDIS set
        {0xae, 0x43},  // enable keyboard
        {0xa7, 0x63},  // disable aux
    };
    for (auto [command, config] : table) {
        r.cmd(command);
        EXPECT_EQ(r.status() & 0x01, 0) << "no answer to 0x" << std::hex << int{command};
        r.cmd(0x20);
        EXPECT_EQ(r.read(), config) << "after 0x" << std::hex << int{command};
    }
}

TEST(I8042, ByteForTheAbsentKeyboardTimesOutWithFE) {
    Rig r;
    r.data(0xf2);  // atkbd's GET ID
    EXPECT_EQ(r.status(), 0x51);  // OBF | unlocked | timeout; not aux
    EXPECT_EQ(r.read(), 0xfe);
    EXPECT_EQ(r.status(), 0x10);
}

TEST(I8042, ByteForTheAbsentAuxDeviceTimesOutWithFEOnTheAuxSide) {
    Rig r;
    r.cmd(0xd4);
    EXPECT_EQ(r.status(), 0x18);
    r.data(0xf2);  // psmouse's GET ID
    EXPECT_EQ(r.status(), 0x71);  // OBF | unlocked | aux data | timeout
    EXPECT_EQ(r.read(), 0xfe);
    EXPECT_EQ(r.status(), 0x10);
    // The 0xD4 applies to one byte only: the next goes to the keyboard.
    r.data(0xf4);
    EXPECT_EQ(r.status(), 0x51);
    EXPECT_EQ(r.read(), 0xfe);
}

TEST(I8042, AuxLoopbackEchoesTheByteAsAuxData) {
    // i8042_check_aux: I8042_CMD_AUX_LOOP with 0x5A, and the answer must carry
    // I8042_STR_AUXDATA.
    Rig r;
    r.cmd(0xd3);
    r.data(0x5a);
    EXPECT_EQ(r.status(), 0x31);  // OBF | unlocked | aux data; no timeout
    EXPECT_EQ(r.read(), 0x5a);
    EXPECT_EQ(r.status(), 0x10);
}

TEST(I8042, KeyboardLoopbackEchoesTheByteAsKeyboardData) {
    Rig r;
    r.cmd(0xd2);
    r.data(0xa5);
    EXPECT_EQ(r.status(), 0x11);
    EXPECT_EQ(r.read(), 0xa5);
}

TEST(I8042, OutputBufferIsFirstInFirstOutAndRereadsItsLastByteWhenEmpty) {
    Rig r;
    r.cmd(0xaa);
    r.cmd(0xab);
    r.cmd(0xd3);
    r.data(0x77);
    EXPECT_EQ(r.status(), 0x15);  // OBF | SYS | unlocked; the last write was data
    EXPECT_EQ(r.read(), 0x55);
    EXPECT_EQ(r.status(), 0x15);  // next: the 0xAB answer
    EXPECT_EQ(r.read(), 0x00);
    EXPECT_EQ(r.status(), 0x35);  // next: the aux echo
    EXPECT_EQ(r.read(), 0x77);
    EXPECT_EQ(r.status(), 0x14);
    EXPECT_EQ(r.read(), 0x77) << "an empty buffer reads the last byte again";
    EXPECT_EQ(r.read(), 0x77);
}

TEST(I8042, OutputBufferHoldsAtMostSixteenBytes) {
    Rig r;
    r.cmd(0x60);
    r.data(0x00);  // no interrupts, so the IRQ log stays short
    for (int i = 0; i < 20; ++i) {
        r.cmd(0xd2);
        r.data(static_cast<std::uint8_t>(i));
    }
    for (int i = 0; i < 16; ++i) {
        EXPECT_EQ(r.status() & 0x01, 0x01) << i;
        EXPECT_EQ(r.read(), i);
    }
    EXPECT_EQ(r.status() & 0x01, 0x00) << "bytes 16-19 were dropped";
    EXPECT_TRUE(r.irq.empty());
}

TEST(I8042, NewCommandCancelsOneWaitingForItsDataByte) {
    Rig r;
    r.cmd(0x60);
    r.cmd(0xab);  // replaces the config write
    r.data(0x00);  // so this goes to the (absent) keyboard
    EXPECT_EQ(r.read(), 0x00);
    EXPECT_EQ(r.status(), 0x51);
    EXPECT_EQ(r.read(), 0xfe);
    r.cmd(0x20);
    EXPECT_EQ(r.read(), kPowerOnConfig) << "config unchanged";
}

TEST(I8042, PulseCommandFEResetsTheCpu) {
    Rig r;
    EXPECT_TRUE(r.kbc.out(kI8042CommandPort, 0xfe));
}

TEST(I8042, PulseCommandsResetExactlyWhenBit0IsClear) {
    for (unsigned c = 0xf0; c <= 0xff; ++c) {
        Rig r;
        EXPECT_EQ(r.kbc.out(kI8042CommandPort, static_cast<std::uint8_t>(c)), (c & 1) == 0)
            << "command 0x" << std::hex << c;
    }
}

TEST(I8042, OtherCommandsAndDataNeverReset) {
    Rig r;
    for (unsigned c = 0x00; c < 0xf0; ++c) {
        if (c == 0xd1) continue;  // its data byte can reset: see below
        EXPECT_FALSE(r.kbc.out(kI8042CommandPort, static_cast<std::uint8_t>(c))) << "command 0x" << std::hex << c;
        EXPECT_FALSE(r.kbc.out(kI8042DataPort, 0x00)) << "data after command 0x" << std::hex << c;
        r.drain();
    }
}

TEST(I8042, OutputPortWriteWithBit0ClearResets) {
    Rig r;
    r.cmd(0xd0);
    EXPECT_EQ(r.read(), 0xcf) << "power-on output port: reset high, A20 on, unused bits ones";
    r.cmd(0xd1);
    EXPECT_TRUE(r.kbc.out(kI8042DataPort, 0xfe));  // the classic "0xD1, 0xFE" reboot
}

TEST(I8042, OutputPortWriteWithBit0SetIsKeptAndReadsBack) {
    Rig r;
    r.cmd(0xd1);
    r.data(0xdd);  // A20 off, reset line high
    r.cmd(0xd0);
    EXPECT_EQ(r.read(), 0xdd);
    r.cmd(0xd1);
    r.data(0xdf);  // A20 on again: the classic A20 gate sequence
    r.cmd(0xd0);
    EXPECT_EQ(r.read(), 0xdf);
    EXPECT_FALSE(r.kbc.out(kI8042DataPort, 0x00)) << "with no 0xD1 before it, 0x00 goes to the keyboard";
}

TEST(I8042, KeyboardIrqFollowsTheOutputBufferWithKbdIntSet) {
    Rig r;
    r.cmd(0xaa);  // power-on config has KBDINT
    EXPECT_EQ(r.irq, (std::vector<IrqEvent>{{1, true}}));
    r.cmd(0xab);  // a second byte behind it: the line stays up
    EXPECT_EQ(r.read(), 0x55);
    EXPECT_EQ(r.irq, (std::vector<IrqEvent>{{1, true}}));
    EXPECT_EQ(r.read(), 0x00);
    EXPECT_EQ(r.irq, (std::vector<IrqEvent>{{1, true}, {1, false}}));
    r.read();  // an empty re-read changes nothing
    EXPECT_EQ(r.irq.size(), 2u);
}

TEST(I8042, AuxIrqFollowsAuxBytesWithAuxIntSet) {
    Rig r;
    r.cmd(0xd4);
    r.data(0xff);  // psmouse's reset, to nobody
    EXPECT_EQ(r.irq, (std::vector<IrqEvent>{{12, true}}));
    EXPECT_EQ(r.read(), 0xfe);
    EXPECT_EQ(r.irq, (std::vector<IrqEvent>{{12, true}, {12, false}}));
}

TEST(I8042, IrqLinesSwitchAsKeyboardAndAuxBytesAlternate) {
    Rig r;
    r.cmd(0xd2);
    r.data(0x01);
    r.cmd(0xd3);
    r.data(0x02);
    r.cmd(0xd2);
    r.data(0x03);
    EXPECT_EQ(r.irq, (std::vector<IrqEvent>{{1, true}}));
    r.read();  // 0x01 gone: the aux byte is at the front
    EXPECT_EQ(r.irq, (std::vector<IrqEvent>{{1, true}, {1, false}, {12, true}}));
    r.read();
    EXPECT_EQ(r.irq, (std::vector<IrqEvent>{{1, true}, {1, false}, {12, true}, {1, true}, {12, false}}));
    r.read();
    EXPECT_EQ(r.irq.back(), (IrqEvent{1, false}));
    EXPECT_EQ(r.irq.size(), 6u);
}

TEST(I8042, NoIrqsWhenTheConfigByteDisablesThem) {
    Rig r;
    r.cmd(0x60);
    r.data(0x44);  // XLATE | SYS, both interrupts off
    r.cmd(0xaa);
    r.cmd(0xd3);
    r.data(0x5a);
    r.cmd(0xd4);
    r.data(0xf2);
    r.data(0xf2);
    EXPECT_EQ(r.status(), 0x15);
    r.drain();
    EXPECT_TRUE(r.irq.empty());
}

TEST(I8042, ConfigWriteRaisesAndDropsTheLineForAWaitingByte) {
    Rig r;
    r.cmd(0x60);
    r.data(0x44);  // interrupts off
    r.cmd(0xd2);
    r.data(0x99);
    EXPECT_TRUE(r.irq.empty());
    r.cmd(0x60);
    r.data(0x45);  // KBDINT on while 0x99 waits
    EXPECT_EQ(r.irq, (std::vector<IrqEvent>{{1, true}}));
    r.cmd(0x60);
    r.data(0x44);  // and off again
    EXPECT_EQ(r.irq, (std::vector<IrqEvent>{{1, true}, {1, false}}));
    EXPECT_EQ(r.read(), 0x99);
    EXPECT_EQ(r.irq.size(), 2u);
}

TEST(I8042, AuxIntAloneDoesNotRaiseIrq1ForKeyboardBytes) {
    Rig r;
    r.cmd(0x60);
    r.data(0x46);  // AUXINT only
    r.cmd(0xd2);
    r.data(0x11);
    EXPECT_TRUE(r.irq.empty());
    r.read();
    r.cmd(0xd3);
    r.data(0x22);
    EXPECT_EQ(r.irq, (std::vector<IrqEvent>{{12, true}}));
}

TEST(I8042, LinuxControllerProbeSequence) {
    // i8042_controller_check, _selftest and _init, then the aux and keyboard port
    // probes, with the answers a driver needs to find both ports empty.
    Rig r;
    r.drain();                                  // i8042_flush
    EXPECT_EQ(r.status(), 0x10);
    r.cmd(0xaa);                                // I8042_CMD_CTL_TEST
    EXPECT_EQ(r.read(), 0x55);
    r.cmd(0x20);                                // I8042_CMD_CTL_RCTR
    const std::uint8_t ctr = r.read();
    EXPECT_EQ(ctr, 0x67);
    // The power-on config has KBDINT: the two answers so far each raised IRQ 1.
    const std::vector<IrqEvent> before_wctr{{1, true}, {1, false}, {1, true}, {1, false}};
    EXPECT_EQ(r.irq, before_wctr);
    r.cmd(0x60);                                // I8042_CMD_CTL_WCTR: interrupts off while probing
    r.data(static_cast<std::uint8_t>(ctr & ~0x03));
    r.cmd(0xa8);                                // I8042_CMD_AUX_ENABLE
    r.cmd(0x20);
    EXPECT_EQ(r.read() & 0x20, 0x00) << "AUXDIS cleared: the controller has an aux port";
    r.cmd(0xa9);                                // I8042_CMD_AUX_TEST
    EXPECT_EQ(r.read(), 0x00);
    r.cmd(0xd3);                                // I8042_CMD_AUX_LOOP
    r.data(0x5a);
    EXPECT_EQ(r.status() & 0x21, 0x21);
    EXPECT_EQ(r.read(), 0x5a);
    r.cmd(0xab);                                // I8042_CMD_KBD_TEST
    EXPECT_EQ(r.read(), 0x00);
    r.cmd(0xd4);                                // psmouse: to the aux device
    r.data(0xf2);
    EXPECT_EQ(r.status(), 0x75);
    EXPECT_EQ(r.read(), 0xfe);
    r.data(0xf2);                               // atkbd: to the keyboard
    EXPECT_EQ(r.status(), 0x55);
    EXPECT_EQ(r.read(), 0xfe);
    EXPECT_EQ(r.irq, before_wctr) << "both interrupt bits were off for the port probes";
}
