// A 16550A UART as the PC platform's COM port: what Linux's 8250 driver, Xen's
// ns16550 and GNU Mach's com driver probe and drive. Transmission is instant (a
// THR byte goes straight to the console, or to the receive FIFO in loopback);
// input comes from the host (stdin) into an unbounded receive queue, so nothing
// the user types is lost to an overrun.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string_view>

#include "devices/port_io.hpp"

namespace kvmgdb {

class Uart16550 {
public:
    // The UART's interrupt output as a PC wires it: INTR gated by MCR OUT2.
    using IrqLine = std::function<void(bool level)>;

    // `irq` is called with the new level each time the line changes, from
    // whichever thread caused the change (a vCPU's port access, or receive()),
    // with the UART's lock held: it must not call back into the UART.
    Uart16550(std::uint16_t base, TextSink console, IrqLine irq = {});

    std::uint16_t base() const { return base_; }
    bool handles(std::uint16_t port) const { return port >= base_ && port < base_ + 8; }

    // One byte-wide register access at `port` (base..base+7).
    void out(std::uint16_t port, std::uint8_t v);
    std::uint8_t in(std::uint16_t port);

    // Bytes from the host side of the line, queued for RBR. Thread safe.
    void receive(std::string_view bytes);

    // The level last reported to the IrqLine.
    bool irq_level() const;

private:
    std::uint8_t iir() const;
    std::uint8_t msr() const;
    void update_irq();
    void set_mcr(std::uint8_t v);

    const std::uint16_t base_;
    TextSink console_;
    IrqLine irq_;
    mutable std::mutex mu_;
    std::deque<std::uint8_t> rx_;
    std::uint16_t divisor_ = 12;  // 9600 baud from the 1.8432 MHz clock
    std::uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, fcr_ = 0, scr_ = 0;
    std::uint8_t msr_delta_ = 0;   // MSR bits 0-3, set by loopback changes, cleared by reading MSR
    bool thre_pending_ = false;    // the THR-empty interrupt, until IIR reports it or THR is written
    bool line_ = false;
};

}  // namespace kvmgdb
