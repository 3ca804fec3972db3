#include "devices/port_io.hpp"

#include <cstdio>
#include <string>

#include "devices/pc_devices.hpp"

namespace kvmgdb {

namespace {
// 16550 register offsets from the base port and the bits kvmgdb models.
constexpr std::uint16_t UART_THR = 0, UART_IER = 1, UART_IIR = 2, UART_LCR = 3, UART_MCR = 4,
                        UART_LSR = 5, UART_MSR = 6, UART_SCR = 7;
constexpr std::uint8_t LCR_DLAB = 0x80;
constexpr std::uint8_t LSR_THRE = 0x20, LSR_TEMT = 0x40;  // transmitter always empty
constexpr std::uint8_t IIR_NO_INTERRUPT = 0x01;
}  // namespace

PortBus::PortBus(TextSink console, TextSink log, bool verbose)
    : console_(std::move(console)), log_(std::move(log)), verbose_(verbose) {}

// Out of line: PcDevices is complete only here.
PortBus::~PortBus() = default;
PortBus::PortBus(PortBus&&) noexcept = default;
PortBus& PortBus::operator=(PortBus&&) noexcept = default;

void PortBus::attach_pc(std::unique_ptr<PcDevices> pc) { pc_ = std::move(pc); }

std::optional<PortEnd> PortBus::out(std::uint16_t port, std::uint8_t size, std::span<const std::uint8_t> data) {
    if (port == kDebugConsolePort) {
        // `rep outsb` and wide OUTs: every byte is a character.
        console_(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
        return std::nullopt;
    }
    if (port == kExitPort) {
        // The status is the low byte of the (last) value written, whatever its width:
        // kvm-unit-tests end with `outl(status, 0xf4)`, and QEMU's isa-debug-exit reads
        // it the same way. data holds count values of `size` bytes, little-endian.
        if (size == 0 || data.size() < size) return PortEnd{};
        return PortEnd{PortEnd::Kind::ExitPort, data[data.size() - size], {}};
    }
    if (pc_ && pc_->handles(port)) return pc_->out(port, size, data);
    if (port >= kCom1Base && port < kCom1Base + 8) {
        for (std::size_t i = 0; i < data.size(); i += size) uart_out(port - kCom1Base, data[i]);
        return std::nullopt;
    }
    note_unknown_port(port, "write to");
    return std::nullopt;
}

void PortBus::in(std::uint16_t port, std::uint8_t size, std::span<std::uint8_t> data) {
    if (pc_ && pc_->handles(port)) {
        pc_->in(port, size, data);
        return;
    }
    if (port >= kCom1Base && port < kCom1Base + 8) {
        for (std::size_t i = 0; i < data.size(); ++i)
            data[i] = (i % size == 0) ? uart_in(port - kCom1Base) : 0;
        return;
    }
    for (auto& b : data) b = 0xff;
    note_unknown_port(port, "read from");
}

void PortBus::mmio(std::uint64_t addr, bool is_write, std::span<std::uint8_t> data) {
    if (!is_write)
        for (auto& b : data) b = 0xff;
    if (unknown_mmio_pages_.insert(addr >> 12).second && verbose_) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "kvmgdb: MMIO %s 0x%llx: no RAM or device there\n",
                      is_write ? "write to" : "read from", static_cast<unsigned long long>(addr));
        log_(buf);
    }
}

void PortBus::note_unknown_port(std::uint16_t port, const char* dir) {
    if (unknown_ports_.insert(port).second && verbose_) {
        char buf[80];
        std::snprintf(buf, sizeof buf, "kvmgdb: port 0x%x: %s a port with no device\n", port, dir);
        log_(buf);
    }
}

void PortBus::uart_out(std::uint16_t reg, std::uint8_t v) {
    bool dlab = uart_lcr_ & LCR_DLAB;
    switch (reg) {
    case UART_THR:
        if (dlab) uart_divisor_ = static_cast<std::uint16_t>((uart_divisor_ & 0xff00) | v);
        else console_(std::string_view(reinterpret_cast<const char*>(&v), 1));
        break;
    case UART_IER:
        if (dlab) uart_divisor_ = static_cast<std::uint16_t>((uart_divisor_ & 0xff) | (v << 8));
        else uart_ier_ = v;
        break;
    case UART_LCR: uart_lcr_ = v; break;
    case UART_MCR: uart_mcr_ = v; break;
    case UART_SCR: uart_scratch_ = v; break;
    default: break;  // FCR, LSR, MSR writes have no effect here
    }
}

std::uint8_t PortBus::uart_in(std::uint16_t reg) const {
    bool dlab = uart_lcr_ & LCR_DLAB;
    switch (reg) {
    case UART_THR: return dlab ? static_cast<std::uint8_t>(uart_divisor_) : 0;  // no input
    case UART_IER: return dlab ? static_cast<std::uint8_t>(uart_divisor_ >> 8) : uart_ier_;
    case UART_IIR: return IIR_NO_INTERRUPT;
    case UART_LCR: return uart_lcr_;
    case UART_MCR: return uart_mcr_;
    case UART_LSR: return LSR_THRE | LSR_TEMT;
    case UART_MSR: return 0;
    case UART_SCR: return uart_scratch_;
    default: return 0xff;
    }
}

}  // namespace kvmgdb
