// The PC's 8042 keyboard controller at 0x60/0x64, with no keyboard and no mouse
// behind it: enough for Linux's i8042 driver to find the controller, test it and
// find both ports empty without waiting for a timeout, and for the reset kernels
// do through it (command 0xFE, or an output-port write with bit 0 clear).
// Not thread safe: the caller serializes.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>

namespace kvmgdb {

inline constexpr std::uint16_t kI8042DataPort = 0x60;
inline constexpr std::uint16_t kI8042CommandPort = 0x64;  // status on reads
inline constexpr unsigned kI8042KeyboardIrq = 1;
inline constexpr unsigned kI8042AuxIrq = 12;

class I8042 {
public:
    // The controller's two interrupt outputs: IRQ 1 for a keyboard byte, IRQ 12 for
    // an aux (mouse) byte, each while the byte waits and the config byte enables it.
    using IrqLine = std::function<void(unsigned irq, bool level)>;
    explicit I8042(IrqLine irq = {});

    bool handles(std::uint16_t port) const { return port == kI8042DataPort || port == kI8042CommandPort; }
    // True when the write asks the controller to pull the CPU's reset line.
    [[nodiscard]] bool out(std::uint16_t port, std::uint8_t v);
    std::uint8_t in(std::uint16_t port);

private:
    struct Byte {
        std::uint8_t value;
        bool aux;      // from the aux port: status bit 5, IRQ 12
        bool timeout;  // the device did not answer: status bit 6
    };
    bool command(std::uint8_t cmd);
    bool data(std::uint8_t v);
    void push(std::uint8_t value, bool aux, bool timeout = false);
    void update_irq();

    IrqLine irq_;
    std::deque<Byte> output_;  // the output buffer; a real 8042 holds one byte
    std::uint8_t last_read_ = 0;
    std::uint8_t config_;       // the "command byte" at internal RAM 0
    std::uint8_t output_port_;  // bit 0: CPU reset (active low), bit 1: A20
    std::uint8_t pending_ = 0;  // a command waiting for its data byte on 0x60
    bool last_was_command_ = false;
    bool kbd_line_ = false, aux_line_ = false;
};

}  // namespace kvmgdb
