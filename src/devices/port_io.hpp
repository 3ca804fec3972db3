// The guest's port I/O devices: the 0xE9 debug console, a minimal 16550 UART at
// COM1 (0x3F8) for output, and the 0xF4 exit port. Everything else reads as all
// ones and drops writes, as an empty ISA bus does. With the PC platform's devices
// attached (attach_pc), they take the ports they handle, COM1 included; 0xE9 and
// 0xF4 stay.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

namespace kvmgdb {

inline constexpr std::uint16_t kDebugConsolePort = 0xe9;
inline constexpr std::uint16_t kExitPort = 0xf4;
inline constexpr std::uint16_t kCom1Base = 0x3f8;

// Output of the guest's consoles, and diagnostics (--verbose).
using TextSink = std::function<void(std::string_view)>;

// A port write that ends the run: the exit port (status: the guest's), or a reset
// of the PC platform (0xCF9, port 0x92, the i8042's pulse; status 0).
struct PortEnd {
    enum class Kind { ExitPort, Reset };
    Kind kind = Kind::ExitPort;
    int status = 0;
    std::string reason;  // empty for the exit port, "guest reset through port 0xcf9" for a reset
};

class PcDevices;

class PortBus {
public:
    PortBus(TextSink console, TextSink log, bool verbose);
    ~PortBus();
    PortBus(PortBus&&) noexcept;
    PortBus& operator=(PortBus&&) noexcept;

    // Puts the PC platform's devices on the bus: from now on out and in go to them
    // first, for every port they handle. Replaces any attached before.
    void attach_pc(std::unique_ptr<PcDevices> pc);
    // The attached devices, or null.
    PcDevices* pc() const { return pc_.get(); }

    // An OUT of `data` (size * count bytes). Returns how the run ends when the
    // write ends it.
    std::optional<PortEnd> out(std::uint16_t port, std::uint8_t size, std::span<const std::uint8_t> data);
    // An IN: fills `data`.
    void in(std::uint16_t port, std::uint8_t size, std::span<std::uint8_t> data);
    // MMIO to an address with no RAM: reads all ones, writes dropped.
    void mmio(std::uint64_t addr, bool is_write, std::span<std::uint8_t> data);

    // Ports and MMIO pages the guest touched that have no device behind them.
    const std::set<std::uint16_t>& unknown_ports() const { return unknown_ports_; }

private:
    void note_unknown_port(std::uint16_t port, const char* dir);
    void uart_out(std::uint16_t reg, std::uint8_t v);
    std::uint8_t uart_in(std::uint16_t reg) const;

    TextSink console_;
    TextSink log_;
    std::unique_ptr<PcDevices> pc_;
    bool verbose_;
    std::set<std::uint16_t> unknown_ports_;
    std::set<std::uint64_t> unknown_mmio_pages_;
    // 16550 registers kvmgdb keeps so a driver that reads back what it wrote works.
    std::uint8_t uart_lcr_ = 0, uart_ier_ = 0, uart_mcr_ = 0, uart_scratch_ = 0;
    std::uint16_t uart_divisor_ = 12;
};

}  // namespace kvmgdb
