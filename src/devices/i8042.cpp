#include "devices/i8042.hpp"

namespace kvmgdb {

namespace {
// Status register bits (IBM PS/2 Technical Reference; Linux's i8042.h names).
constexpr std::uint8_t STR_OBF = 0x01, STR_SYS = 0x04, STR_CMD = 0x08, STR_UNLOCKED = 0x10, STR_AUXDATA = 0x20,
                       STR_TIMEOUT = 0x40;
// Config ("command") byte bits.
constexpr std::uint8_t CTR_KBDINT = 0x01, CTR_AUXINT = 0x02, CTR_SYS = 0x04, CTR_KBDDIS = 0x10,
                       CTR_AUXDIS = 0x20, CTR_XLATE = 0x40;
// Output port: bit 0 drives the CPU's reset line (low = reset), bit 1 gates A20;
// the unused bits read as ones, as on QEMU's model.
constexpr std::uint8_t OUT_RESET = 0x01, OUT_DEFAULT = 0xcf;
// What a PS/2 controller puts in its output buffer when the device it sent to
// never clocked the byte in: "resend", flagged as a timeout.
constexpr std::uint8_t NO_DEVICE = 0xfe;
// A guest that writes without reading cannot grow the buffer without bound.
constexpr std::size_t kMaxOutput = 16;
}  // namespace

// Power-on state before any BIOS: both ports' interrupts on, translation on (what
// a BIOS leaves and atkbd expects), aux disabled, and the system flag clear until
// a self-test (0xAA) or a config write sets it.
I8042::I8042(IrqLine irq)
    : irq_(std::move(irq)), config_(CTR_XLATE | CTR_AUXDIS | CTR_AUXINT | CTR_KBDINT), output_port_(OUT_DEFAULT) {}

bool I8042::out(std::uint16_t port, std::uint8_t v) {
    const bool reset = port == kI8042CommandPort ? command(v) : data(v);
    update_irq();
    return reset;
}

std::uint8_t I8042::in(std::uint16_t port) {
    if (port == kI8042CommandPort) {
        // Bit 1 (input buffer full) is never set: every write is taken at once.
        std::uint8_t s = STR_UNLOCKED;
        if (config_ & CTR_SYS) s |= STR_SYS;
        if (last_was_command_) s |= STR_CMD;
        if (!output_.empty()) {
            s |= STR_OBF;
            if (output_.front().aux) s |= STR_AUXDATA;
            if (output_.front().timeout) s |= STR_TIMEOUT;
        }
        return s;
    }
    // An empty buffer reads as the last byte again, as the real latch does.
    if (!output_.empty()) {
        last_read_ = output_.front().value;
        output_.pop_front();
        update_irq();
    }
    return last_read_;
}

bool I8042::command(std::uint8_t cmd) {
    last_was_command_ = true;
    pending_ = 0;  // a new command drops one still waiting for its data byte
    switch (cmd) {
    case 0x20: push(config_, false); break;  // read the config byte
    case 0x60:                                // write it: the next data byte
    case 0xd1:                                // write the output port
    case 0xd2:                                // write the keyboard output buffer
    case 0xd3:                                // write the aux output buffer (Linux's aux loop test)
    case 0xd4: pending_ = cmd; break;         // send the next byte to the aux device
    case 0xa7: config_ |= CTR_AUXDIS; break;
    case 0xa8: config_ &= static_cast<std::uint8_t>(~CTR_AUXDIS); break;
    case 0xad: config_ |= CTR_KBDDIS; break;
    case 0xae: config_ &= static_cast<std::uint8_t>(~CTR_KBDDIS); break;
    case 0xa9: push(0x00, false); break;  // aux interface test: no error
    case 0xab: push(0x00, false); break;  // keyboard interface test: no error
    case 0xaa:                            // self-test: passed, and the system flag is set
        config_ |= CTR_SYS;
        push(0x55, false);
        break;
    case 0xd0: push(output_port_, false); break;
    default:
        // 0xF0-0xFF pulse the output-port bits whose command bit is 0; bit 0 is
        // the CPU's reset (0xFE, Linux's and Xen's "kbd" reboot). Other commands
        // (password, input port, vendor extensions) are ignored.
        if (cmd >= 0xf0 && !(cmd & OUT_RESET)) return true;
        break;
    }
    return false;
}

bool I8042::data(std::uint8_t v) {
    last_was_command_ = false;
    const std::uint8_t cmd = pending_;
    pending_ = 0;
    switch (cmd) {
    case 0x60: config_ = v; break;
    case 0xd1:
        // Bit 1 (A20) is kept for reading back only: KVM's A20 is always on.
        output_port_ = v;
        return !(v & OUT_RESET);
    case 0xd2: push(v, false); break;
    case 0xd3: push(v, true); break;
    case 0xd4: push(NO_DEVICE, true, true); break;  // no mouse
    default: push(NO_DEVICE, false, true); break;   // a byte for the keyboard: none attached
    }
    return false;
}

void I8042::push(std::uint8_t value, bool aux, bool timeout) {
    if (output_.size() < kMaxOutput) output_.push_back({value, aux, timeout});
}

void I8042::update_irq() {
    const bool full = !output_.empty(), aux = full && output_.front().aux;
    const bool kbd_level = full && !aux && (config_ & CTR_KBDINT);
    const bool aux_level = aux && (config_ & CTR_AUXINT);
    if (kbd_level != kbd_line_) {
        kbd_line_ = kbd_level;
        if (irq_) irq_(kI8042KeyboardIrq, kbd_level);
    }
    if (aux_level != aux_line_) {
        aux_line_ = aux_level;
        if (irq_) irq_(kI8042AuxIrq, aux_level);
    }
}

}  // namespace kvmgdb
