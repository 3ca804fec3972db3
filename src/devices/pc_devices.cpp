#include "devices/pc_devices.hpp"

#include <string>

namespace kvmgdb {

namespace {
// COM2-COM4 at their conventional bases: no UART, so reads float to all ones and
// Linux's 8250 probe (IER must read back 0 after writing 0) finds nothing.
constexpr std::uint16_t kAbsentComBases[] = {0x2f8, 0x3e8, 0x2e8};
// 0xCF9 (Intel's Reset Control Register, ICH/PCH datasheets): bit 2 starts the
// reset, bit 1 picks hard over soft, bit 3 a full power cycle. Linux's "pci"
// reboot writes 0x02 then 0x06 (warm) or 0x0E (cold); QEMU's PIIX resets on bit 2.
constexpr std::uint8_t RCR_RESET_CPU = 0x04, RCR_KEPT = 0x0a;
// Port 0x92 (IBM PS/2's System Control Port A): bit 0 fast reset, bit 1 A20.
constexpr std::uint8_t PORT_A_FAST_RESET = 0x01;

PortEnd reset(const char* how) { return PortEnd{PortEnd::Kind::Reset, 0, std::string("guest reset through ") + how}; }
}  // namespace

PcDevices::PcDevices(TextSink console, IrqSink set_irq, std::uint64_t ram, Cmos::Clock now_ns)
    : set_irq_(std::move(set_irq)),
      com1_(kCom1Base, std::move(console),
            [this](bool level) {
                if (set_irq_) set_irq_(kCom1Irq, level);
            }),
      cmos_(ram, std::move(now_ns)),
      i8042_([this](unsigned irq, bool level) {
          if (set_irq_) set_irq_(irq, level);
      }) {}

bool PcDevices::handles(std::uint16_t port) const {
    if (com1_.handles(port) || cmos_.handles(port) || i8042_.handles(port)) return true;
    for (std::uint16_t base : kAbsentComBases)
        if (port >= base && port < base + 8) return true;
    return port == kResetControlPort || port == kSystemControlPortA || port == kPostCodePort;
}

std::optional<PortEnd> PcDevices::out(std::uint16_t port, std::uint8_t size, std::span<const std::uint8_t> data) {
    if (size == 0) return std::nullopt;
    for (std::size_t i = 0; i < data.size(); ++i)
        if (auto end = out8(static_cast<std::uint16_t>(port + i % size), data[i])) return end;
    return std::nullopt;
}

void PcDevices::in(std::uint16_t port, std::uint8_t size, std::span<std::uint8_t> data) {
    if (size == 0) return;
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = in8(static_cast<std::uint16_t>(port + i % size));
}

std::optional<PortEnd> PcDevices::out8(std::uint16_t port, std::uint8_t v) {
    if (com1_.handles(port)) {
        com1_.out(port, v);
    } else if (cmos_.handles(port)) {
        cmos_.out(port, v);
    } else if (i8042_.handles(port)) {
        if (i8042_.out(port, v))
            return reset(port == kI8042CommandPort ? "the i8042 (port 0x64)" : "the i8042's output port (port 0x60)");
    } else if (port == kResetControlPort) {
        if (v & RCR_RESET_CPU) return reset("port 0xcf9");
        reset_control_ = v & RCR_KEPT;
    } else if (port == kSystemControlPortA) {
        if (v & PORT_A_FAST_RESET) return reset("port 0x92");
        port_a_ = v;
    }
    // Absent COM ports, POST codes and ports past a wide access's device: dropped.
    return std::nullopt;
}

std::uint8_t PcDevices::in8(std::uint16_t port) {
    if (com1_.handles(port)) return com1_.in(port);
    if (cmos_.handles(port)) return cmos_.in(port);
    if (i8042_.handles(port)) return i8042_.in(port);
    if (port == kResetControlPort) return reset_control_;
    if (port == kSystemControlPortA) return port_a_;
    return 0xff;
}

}  // namespace kvmgdb
