// The PC platform's port devices that kvmgdb models itself, next to KVM's in-kernel
// PICs, IOAPIC, PIT and speaker port (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2 with
// KVM_PIT_SPEAKER_DUMMY: ports 0x20/0x21, 0xA0/0xA1, 0x40-0x43, 0x61, 0x4D0/0x4D1
// never exit to user space). What a kernel booted without firmware probes:
//   COM1 (0x3F8, IRQ 4)  a 16550A, the console, with stdin as its input
//   COM2-COM4            absent: 0x2F8, 0x3E8, 0x2E8 read all ones
//   0x70/0x71            CMOS RAM and the real-time clock
//   0x60/0x64            the 8042 keyboard controller, no keyboard or mouse
//   0xCF9, 0x92          the reset control register and System Control Port A
//   0x80                 POST codes (and Linux's I/O delay): dropped
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>

#include "devices/cmos.hpp"
#include "devices/i8042.hpp"
#include "devices/port_io.hpp"
#include "devices/uart16550.hpp"

namespace kvmgdb {

inline constexpr unsigned kCom1Irq = 4;
inline constexpr std::uint16_t kResetControlPort = 0xcf9;
inline constexpr std::uint16_t kSystemControlPortA = 0x92;
inline constexpr std::uint16_t kPostCodePort = 0x80;

class PcDevices {
public:
    // An ISA interrupt line (GSI `irq`) to `level`: KVM_IRQ_LINE on the in-kernel
    // irqchip. Called from the vCPU thread doing port I/O, or from serial_input's.
    using IrqSink = std::function<void(unsigned irq, bool level)>;

    // `console`: COM1's output. `ram`: guest RAM in bytes, for the CMOS memory
    // sizes. `now_ns`: the RTC's clock (Cmos::Clock; empty: CLOCK_REALTIME).
    PcDevices(TextSink console, IrqSink set_irq, std::uint64_t ram, Cmos::Clock now_ns = {});
    PcDevices(const PcDevices&) = delete;  // the devices' callbacks point back here
    PcDevices& operator=(const PcDevices&) = delete;

    bool handles(std::uint16_t port) const;
    // Like PortBus::out and in: `data` holds count values of `size` bytes. A wide
    // access is split into byte accesses at port, port+1, ..., as the ISA bus does
    // for 8-bit devices. out returns a PortEnd of kind Reset when a write resets.
    std::optional<PortEnd> out(std::uint16_t port, std::uint8_t size, std::span<const std::uint8_t> data);
    void in(std::uint16_t port, std::uint8_t size, std::span<std::uint8_t> data);

    // Host bytes (stdin) for COM1's receiver. Thread safe against out/in.
    void serial_input(std::string_view bytes) { com1_.receive(bytes); }

    Uart16550& com1() { return com1_; }
    Cmos& cmos() { return cmos_; }
    I8042& i8042() { return i8042_; }

private:
    std::optional<PortEnd> out8(std::uint16_t port, std::uint8_t v);
    std::uint8_t in8(std::uint16_t port);

    IrqSink set_irq_;
    Uart16550 com1_;
    Cmos cmos_;
    I8042 i8042_;
    std::uint8_t reset_control_ = 0;  // 0xCF9: bits 1 and 3 (hard/full reset) read back
    std::uint8_t port_a_ = 0x02;      // 0x92: A20 on, as KVM always has it
};

}  // namespace kvmgdb
