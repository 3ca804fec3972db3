// The 16550A UART (COM1) driven register by register, as Linux's 8250 driver and
// the PC16550D datasheet (National, 1995) describe it. Every expected byte is
// worked out from the datasheet's register tables.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "devices/uart16550.hpp"

using namespace kvmgdb;

namespace {
constexpr std::uint16_t kBase = 0x3f8;
// Offsets from the base port.
constexpr std::uint16_t RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5,
                        MSR = 6, SCR = 7;

struct Rig {
    std::string console;
    std::vector<bool> irq;  // every level the IrqLine was called with, in order
    Uart16550 uart{kBase, [this](std::string_view s) { console += s; }, [this](bool level) { irq.push_back(level); }};

    void out(std::uint16_t reg, std::uint8_t v) { uart.out(static_cast<std::uint16_t>(kBase + reg), v); }
    std::uint8_t in(std::uint16_t reg) { return uart.in(static_cast<std::uint16_t>(kBase + reg)); }
};

// One register access and, for a read, the byte it must return.
struct Access {
    bool write;
    std::uint16_t reg;
    std::uint8_t value;  // written, or expected
};
constexpr Access W(std::uint16_t reg, std::uint8_t v) { return {true, reg, v}; }
constexpr Access R(std::uint16_t reg, std::uint8_t expect) { return {false, reg, expect}; }

void play(Rig& r, const std::vector<Access>& script) {
    for (std::size_t i = 0; i < script.size(); ++i) {
        const Access& a = script[i];
        if (a.write) {
            r.out(a.reg, a.value);
        } else {
            EXPECT_EQ(r.in(a.reg), a.value) << "step " << i << ": read of offset " << a.reg;
        }
    }
}
}  // namespace

TEST(Uart16550, HandlesExactlyItsEightPorts) {
    Rig r;
    EXPECT_EQ(r.uart.base(), kBase);
    EXPECT_FALSE(r.uart.handles(kBase - 1));
    for (std::uint16_t p = kBase; p < kBase + 8; ++p) EXPECT_TRUE(r.uart.handles(p)) << p;
    EXPECT_FALSE(r.uart.handles(kBase + 8));
}

TEST(Uart16550, PowerOnRegisterValues) {
    Rig r;
    play(r, {
                R(IER, 0x00),
                R(IIR, 0x01),  // no interrupt pending, FIFOs off
                R(LCR, 0x00),
                R(MCR, 0x00),
                R(LSR, 0x60),  // THRE | TEMT: transmitter empty, nothing received
                R(MSR, 0xb0),  // DCD | DSR | CTS: the far end is there; no deltas
                R(SCR, 0x00),
            });
    EXPECT_TRUE(r.irq.empty());
    EXPECT_FALSE(r.uart.irq_level());
}

TEST(Uart16550, ScratchRegisterReadsBackEveryPattern) {
    Rig r;
    for (std::uint8_t v : std::initializer_list<std::uint8_t>{0x00, 0x55, 0xaa, 0xff, 0x5a, 0x01, 0x80}) {
        r.out(SCR, v);
        EXPECT_EQ(r.in(SCR), v);
    }
}

TEST(Uart16550, DivisorLatchDefaultsTo9600Baud) {
    Rig r;
    play(r, {W(LCR, 0x80), R(DLL, 0x0c), R(DLM, 0x00)});  // 1843200 / (16 * 12) = 9600
}

TEST(Uart16550, DlabRedirectsOffsetsZeroAndOneToTheDivisorLatch) {
    Rig r;
    play(r, {
                W(IER, 0x05),
                W(LCR, 0x83),  // DLAB, 8N1
                W(DLL, 0x01),  // 115200 baud
                W(DLM, 0x02),
                R(DLL, 0x01),
                R(DLM, 0x02),
                R(LCR, 0x83),
                W(LCR, 0x03),  // DLAB off: offsets 0 and 1 are RBR/THR and IER again
                R(IER, 0x05),  // untouched by the DLM write
                R(RBR, 0x00),
                W(LCR, 0x80),
                R(DLL, 0x01),  // the latch kept its value across the DLAB switch
                R(DLM, 0x02),
            });
    EXPECT_EQ(r.console, "") << "divisor writes are not characters";
}

TEST(Uart16550, IerKeepsOnlyItsFourLowBits) {
    Rig r;
    const std::pair<std::uint8_t, std::uint8_t> table[] = {
        {0x00, 0x00}, {0x0f, 0x0f}, {0xff, 0x0f}, {0xf0, 0x00}, {0x45, 0x05}, {0x40, 0x00}, {0x0a, 0x0a},
    };
    for (auto [written, reads] : table) {
        r.out(IER, written);
        EXPECT_EQ(r.in(IER), reads) << "wrote 0x" << std::hex << int{written};
    }
}

TEST(Uart16550, McrKeepsOnlyItsFiveLowBits) {
    Rig r;
    play(r, {W(MCR, 0xff), R(MCR, 0x1f), W(MCR, 0xe3), R(MCR, 0x03), W(MCR, 0x00), R(MCR, 0x00)});
}

TEST(Uart16550, FifoEnableSetsIirTopBitsAndDisableClearsThem) {
    Rig r;
    play(r, {
                R(IIR, 0x01),
                W(FCR, 0x01),  // enable
                R(IIR, 0xc1),  // what Linux's autoconfig reads as "16550A" (IIR >> 6 == 3)
                W(FCR, 0xc7),  // enable, clear both FIFOs, 14-byte trigger
                R(IIR, 0xc1),
                W(FCR, 0x00),
                R(IIR, 0x01),
            });
}

TEST(Uart16550, FifoClearAndFifoToggleDropReceivedBytes) {
    Rig r;
    r.out(FCR, 0x01);
    r.uart.receive("ab");
    EXPECT_EQ(r.in(LSR), 0x61);
    r.out(FCR, 0x01);  // same enable, no clear bit: the FIFO keeps its bytes
    EXPECT_EQ(r.in(LSR), 0x61);
    r.out(FCR, 0x03);  // clear receive FIFO
    EXPECT_EQ(r.in(LSR), 0x60);

    r.uart.receive("cd");
    r.out(FCR, 0x00);  // turning the FIFOs off resets them too
    EXPECT_EQ(r.in(LSR), 0x60);

    r.uart.receive("e");
    r.out(FCR, 0x04);  // transmit clear only, FIFOs still off: receive side untouched
    EXPECT_EQ(r.in(LSR), 0x61);
    EXPECT_EQ(r.in(RBR), 'e');
}

// The sequence of Linux's autoconfig() (drivers/tty/serial/8250/8250_port.c) up to
// the point where it settles on PORT_16550A, and the tests that rule out the
// relatives it would otherwise take the chip for.
TEST(Uart16550, LinuxAutoconfigProbeIdentifiesA16550A) {
    Rig r;
    // IER test: writing 0 reads back 0, writing 0x0F reads back 0x0F.
    const std::uint8_t saved_ier = r.in(IER);
    r.out(IER, 0x00);
    EXPECT_EQ(r.in(IER) & 0x0f, 0x00);
    r.out(IER, 0x0f);
    EXPECT_EQ(r.in(IER) & 0x0f, 0x0f);
    r.out(IER, saved_ier);
    // Loopback test: MCR = LOOP | 0x0A (RTS, OUT2) must read MSR & 0xF0 == 0x90 (CTS, DCD).
    const std::uint8_t saved_mcr = r.in(MCR);
    r.out(MCR, 0x1a);
    EXPECT_EQ(r.in(MSR) & 0xf0, 0x90);
    r.out(MCR, saved_mcr);
    // FIFO test.
    r.out(LCR, 0xbf);
    r.out(2, 0x00);  // EFR under LCR 0xBF on a 16650; FCR here
    r.out(LCR, 0x00);
    r.out(FCR, 0x01);
    EXPECT_EQ(r.in(IIR) >> 6, 3) << "not a 16550A";
    // autoconfig_16550a: no EFR behind LCR 0x80 or 0xBF (it must not read as 0).
    r.out(LCR, 0x80);
    EXPECT_NE(r.in(2), 0x00) << "looks like an ST16C650V1";
    r.out(LCR, 0xbf);
    EXPECT_NE(r.in(2), 0x00) << "looks like an ST16C650V2";
    // 16750 test: the 64-byte FIFO bit must not show in IIR bit 5, with or without DLAB.
    r.out(LCR, 0x00);
    r.out(FCR, 0x21);
    const int status1 = r.in(IIR) >> 5;
    r.out(FCR, 0x01);
    r.out(LCR, 0x80);
    r.out(FCR, 0x21);
    const int status2 = r.in(IIR) >> 5;
    r.out(FCR, 0x01);
    r.out(LCR, 0x00);
    EXPECT_EQ(status1, 6);
    EXPECT_EQ(status2, 6) << "looks like a 16750";
    // XScale test: IER bit 6 (UUE) must not stick.
    r.out(IER, 0x40);
    EXPECT_EQ(r.in(IER), 0x00) << "looks like an XScale UART";
    EXPECT_TRUE(r.irq.empty()) << "OUT2 was never set: no interrupt may reach the PIC";
    EXPECT_EQ(r.console, "");
}

TEST(Uart16550, ConsoleGetsThrBytesOutsideLoopback) {
    Rig r;
    for (char c : std::string("Hi!\n")) r.out(THR, static_cast<std::uint8_t>(c));
    r.out(THR, 0x00);
    r.out(THR, 0xff);
    EXPECT_EQ(r.console, std::string("Hi!\n\0\xff", 6));
    EXPECT_EQ(r.in(LSR), 0x60) << "transmission is instant, and nothing came back";
}

TEST(Uart16550, LoopbackEchoesThrIntoRbrInsteadOfTheConsole) {
    Rig r;
    play(r, {
                W(MCR, 0x10),
                R(LSR, 0x60),
                W(THR, 'A'),
                W(THR, 'B'),
                R(LSR, 0x61),  // DR | THRE | TEMT
                R(RBR, 'A'),
                R(LSR, 0x61),
                R(RBR, 'B'),
                R(LSR, 0x60),
                W(MCR, 0x00),  // leave loopback: THR goes out again
                W(THR, 'C'),
                R(LSR, 0x60),
            });
    EXPECT_EQ(r.console, "C");
}

TEST(Uart16550, LoopbackMapsModemOutputsToModemInputs) {
    // MCR low bits (DTR 0x01, RTS 0x02, OUT1 0x04, OUT2 0x08) with LOOP (0x10), and
    // the MSR high nibble they must show: DTR->DSR 0x20, RTS->CTS 0x10,
    // OUT1->RI 0x40, OUT2->DCD 0x80.
    const std::pair<std::uint8_t, std::uint8_t> table[] = {
        {0x10, 0x00}, {0x11, 0x20}, {0x12, 0x10}, {0x14, 0x40}, {0x18, 0x80},
        {0x13, 0x30}, {0x1a, 0x90}, {0x1c, 0xc0}, {0x15, 0x60}, {0x1f, 0xf0},
    };
    for (auto [mcr, msr_high] : table) {
        Rig r;
        r.out(MCR, mcr);
        EXPECT_EQ(r.in(MSR) & 0xf0, msr_high) << "MCR 0x" << std::hex << int{mcr};
        EXPECT_EQ(r.in(MSR), msr_high) << "deltas cleared by the first read, MCR 0x" << std::hex << int{mcr};
    }
}

TEST(Uart16550, ModemStatusDeltaBitsAreSetByChangesAndClearedByReadingMsr) {
    Rig r;
    play(r, {
                // Into loopback with every output off: CTS, DSR and DCD fall from the
                // line-up state (0xB0) to 0: DCTS | DDSR | DDCD.
                W(MCR, 0x10),
                R(MSR, 0x0b),
                R(MSR, 0x00),
                // All four on: CTS, DSR, DCD change; RI rises, which is no TERI.
                W(MCR, 0x1f),
                R(MSR, 0xfb),
                R(MSR, 0xf0),
                // OUT1 off: RI's trailing edge sets TERI alone.
                W(MCR, 0x1b),
                R(MSR, 0xb4),
                R(MSR, 0xb0),
                // Same MCR again: nothing changes, no deltas.
                W(MCR, 0x1b),
                R(MSR, 0xb0),
                // DTR off: DSR falls.
                W(MCR, 0x1a),
                R(MSR, 0x92),
                R(MSR, 0x90),
                // Out of loopback: back to DCD | DSR | CTS, DSR changed.
                W(MCR, 0x00),
                R(MSR, 0xb2),
                R(MSR, 0xb0),
            });
}

TEST(Uart16550, ModemStatusInterruptIsReportedUntilMsrIsRead) {
    Rig r;
    play(r, {
                W(IER, 0x08),  // modem status interrupt
                R(IIR, 0x01),
                W(MCR, 0x13),  // loopback, DTR, RTS: DCD falls
                R(IIR, 0x00),  // modem status: pending, priority 4
                R(IIR, 0x00),  // reading IIR does not clear it
                R(MSR, 0x38),  // DSR | CTS | DDCD
                R(IIR, 0x01),
            });
}

TEST(Uart16550, LineStatusFollowsTheReceiveQueue) {
    Rig r;
    play(r, {R(LSR, 0x60)});
    r.uart.receive("xyz");
    play(r, {
                R(LSR, 0x61),
                R(RBR, 'x'),
                R(LSR, 0x61),
                R(RBR, 'y'),
                R(RBR, 'z'),
                R(LSR, 0x60),
            });
    r.uart.receive(std::string("\0\x80", 2));  // every byte value survives
    play(r, {R(RBR, 0x00), R(RBR, 0x80), R(LSR, 0x60)});
}

TEST(Uart16550, ReceivedDataRaisesIrqWithRdaEnabledAndOut2Set) {
    Rig r;
    play(r, {W(IER, 0x01), W(MCR, 0x0b)});  // RDA; DTR, RTS, OUT2: what Linux's startup sets
    EXPECT_TRUE(r.irq.empty()) << "nothing received yet";
    EXPECT_FALSE(r.uart.irq_level());

    r.uart.receive("hi");
    EXPECT_EQ(r.irq, std::vector<bool>{true});
    EXPECT_TRUE(r.uart.irq_level());
    play(r, {R(IIR, 0x04), R(LSR, 0x61), R(RBR, 'h'), R(IIR, 0x04)});
    EXPECT_EQ(r.irq, std::vector<bool>{true}) << "still one byte waiting";

    play(r, {R(RBR, 'i'), R(IIR, 0x01), R(LSR, 0x60)});
    EXPECT_EQ(r.irq, (std::vector<bool>{true, false}));
    EXPECT_FALSE(r.uart.irq_level());
}

TEST(Uart16550, ReceivedDataIirCarriesFifoBitsWhenFifosAreOn) {
    Rig r;
    play(r, {W(FCR, 0x07), W(IER, 0x01), W(MCR, 0x08)});
    r.uart.receive("q");
    play(r, {R(IIR, 0xc4), R(RBR, 'q'), R(IIR, 0xc1)});
    EXPECT_EQ(r.irq, (std::vector<bool>{true, false}));
}

TEST(Uart16550, NoIrqWithoutOut2EvenWhenAnInterruptIsPending) {
    Rig r;
    play(r, {W(IER, 0x0f), W(MCR, 0x03)});  // every interrupt enabled, OUT2 clear
    r.uart.receive("z");
    play(r, {R(IIR, 0x04)});  // the UART's INTR is active...
    EXPECT_TRUE(r.irq.empty()) << "...but the PC's OUT2 gate keeps it off the PIC";
    EXPECT_FALSE(r.uart.irq_level());

    r.out(MCR, 0x0b);  // OUT2 on: the pending interrupt reaches the PIC
    EXPECT_EQ(r.irq, std::vector<bool>{true});
    r.out(MCR, 0x03);  // and off again
    EXPECT_EQ(r.irq, (std::vector<bool>{true, false}));
}

TEST(Uart16550, NoIrqWithOut2ButInterruptsDisabled) {
    Rig r;
    r.out(MCR, 0x08);
    r.uart.receive("abc");
    r.out(THR, 'x');
    play(r, {R(IIR, 0x01), R(LSR, 0x61)});
    EXPECT_TRUE(r.irq.empty());
}

TEST(Uart16550, EnablingThreInterruptRaisesItAndReadingIirAcknowledgesIt) {
    Rig r;
    r.out(MCR, 0x08);
    EXPECT_TRUE(r.irq.empty());
    r.out(IER, 0x02);  // THR is empty, so the THRE interrupt is there at once
    EXPECT_EQ(r.irq, std::vector<bool>{true});
    play(r, {R(IIR, 0x02)});  // reading IIR while it names THRE acknowledges it
    EXPECT_EQ(r.irq, (std::vector<bool>{true, false}));
    play(r, {R(IIR, 0x01), R(LSR, 0x60)});

    // Writing THR empties it again (at once, here): a new THRE interrupt, on a new edge.
    r.out(THR, 'x');
    EXPECT_EQ(r.irq, (std::vector<bool>{true, false, true}));
    EXPECT_EQ(r.console, "x");
    play(r, {R(IIR, 0x02), R(IIR, 0x01)});
    EXPECT_EQ(r.irq, (std::vector<bool>{true, false, true, false}));
}

TEST(Uart16550, ThrWriteWithThreStillPendingGivesTheLineAFreshEdge) {
    Rig r;
    play(r, {W(MCR, 0x08), W(IER, 0x02)});
    EXPECT_EQ(r.irq, std::vector<bool>{true});
    // An ISR that refills THR without reading IIR: the line drops and rises again,
    // so the edge-triggered PIC sees the next interrupt.
    r.out(THR, 'a');
    r.out(THR, 'b');
    EXPECT_EQ(r.irq, (std::vector<bool>{true, false, true, false, true}));
    EXPECT_EQ(r.console, "ab");
    EXPECT_TRUE(r.uart.irq_level());
}

TEST(Uart16550, LinuxStartupThreTestSeesTheInterruptTwice) {
    // serial8250_do_startup's UART_BUG_THRE check: enable THRI, read IIR, disable,
    // enable again, read IIR again; both reads must report an interrupt (bit 0 clear).
    Rig r;
    play(r, {
                W(IER, 0x02),
                R(LSR, 0x60),
                R(IIR, 0x02),
                W(IER, 0x00),
                W(IER, 0x02),
                R(IIR, 0x02),
                W(IER, 0x00),
                R(IIR, 0x01),
            });
    EXPECT_TRUE(r.irq.empty()) << "OUT2 clear throughout";
}

TEST(Uart16550, DisablingThreInIerDropsThePendingInterrupt) {
    Rig r;
    play(r, {W(MCR, 0x08), W(IER, 0x02)});
    r.out(IER, 0x00);
    EXPECT_EQ(r.irq, (std::vector<bool>{true, false}));
    play(r, {R(IIR, 0x01)});
}

TEST(Uart16550, ReceivedDataOutranksThreInIir) {
    Rig r;
    play(r, {W(MCR, 0x08), W(IER, 0x03)});  // RDA and THRE
    EXPECT_EQ(r.irq, std::vector<bool>{true});
    r.uart.receive("k");
    play(r, {
                R(IIR, 0x04),  // RDA first, priority 2
                R(IIR, 0x04),  // reading IIR does not acknowledge RDA, nor THRE behind it
                R(RBR, 'k'),
                R(IIR, 0x02),  // then THRE, priority 3, acknowledged by this read
                R(IIR, 0x01),
            });
    EXPECT_EQ(r.irq, (std::vector<bool>{true, false}));
}

TEST(Uart16550, LsrAndMsrWritesAreIgnored) {
    Rig r;
    play(r, {W(LSR, 0x00), W(MSR, 0x00), R(LSR, 0x60), R(MSR, 0xb0), W(LSR, 0xff), R(LSR, 0x60)});
}

TEST(Uart16550, WorksWithoutAConsoleOrIrqLine) {
    Uart16550 uart(0x2f8, {}, {});
    uart.out(0x2f8 + MCR, 0x08);
    uart.out(0x2f8 + IER, 0x03);
    uart.out(0x2f8 + THR, 'x');  // no console: dropped
    uart.receive("y");
    EXPECT_TRUE(uart.irq_level());
    EXPECT_EQ(uart.in(0x2f8 + RBR), 'y');
    EXPECT_EQ(uart.in(0x2f8 + IIR), 0x02);
    EXPECT_FALSE(uart.irq_level());
}
