#include "devices/uart16550.hpp"

namespace kvmgdb {

namespace {
// Register offsets and bits from the PC16550D datasheet (National, 1995).
constexpr std::uint16_t RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;
constexpr std::uint8_t IER_RDA = 0x01, IER_THRE = 0x02, IER_MSI = 0x08;
// IIR identifications, highest priority first; receiver line status (0x06) never
// happens here: no parity, framing or overrun errors, no break.
constexpr std::uint8_t IIR_RDA = 0x04, IIR_THRE = 0x02, IIR_MSI = 0x00, IIR_NONE = 0x01;
constexpr std::uint8_t IIR_FIFOS_ENABLED = 0xc0;  // what Linux and Xen test to find a 16550A
constexpr std::uint8_t FCR_ENABLE = 0x01, FCR_CLEAR_RX = 0x02;
constexpr std::uint8_t LCR_DLAB = 0x80;
constexpr std::uint8_t MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08, MCR_LOOP = 0x10;
constexpr std::uint8_t LSR_DR = 0x01, LSR_THRE = 0x20, LSR_TEMT = 0x40;
constexpr std::uint8_t MSR_DCTS = 0x01, MSR_DDSR = 0x02, MSR_TERI = 0x04, MSR_DDCD = 0x08;
constexpr std::uint8_t MSR_CTS = 0x10, MSR_DSR = 0x20, MSR_RI = 0x40, MSR_DCD = 0x80;
// Outside loopback the far end is always there: carrier, data set ready, clear to send.
constexpr std::uint8_t MSR_LINE_UP = MSR_DCD | MSR_DSR | MSR_CTS;
}  // namespace

Uart16550::Uart16550(std::uint16_t base, TextSink console, IrqLine irq)
    : base_(base), console_(std::move(console)), irq_(std::move(irq)) {}

void Uart16550::out(std::uint16_t port, std::uint8_t v) {
    std::lock_guard lock(mu_);
    const bool dlab = lcr_ & LCR_DLAB;
    switch (port - base_) {
    case RBR_THR:
        if (dlab) {
            divisor_ = static_cast<std::uint16_t>((divisor_ & 0xff00) | v);
            break;
        }
        // Writing THR clears the THRE interrupt; the byte leaves at once, so THR is
        // empty again and the interrupt is back. The line drops and rises in
        // between: the PIC's IRQ 4 is edge triggered, and a driver's ISR that
        // refills THR counts on a new edge for the next round.
        thre_pending_ = false;
        update_irq();
        if (mcr_ & MCR_LOOP) rx_.push_back(v);
        else if (console_) console_(std::string_view(reinterpret_cast<const char*>(&v), 1));
        thre_pending_ = true;
        break;
    case IER:
        if (dlab) {
            divisor_ = static_cast<std::uint16_t>((divisor_ & 0xff) | (v << 8));
            break;
        }
        // Enabling the THRE interrupt while THR is empty (always, here) raises it:
        // Linux's 8250 startup checks exactly that, twice.
        if ((v & IER_THRE) && !(ier_ & IER_THRE)) thre_pending_ = true;
        // A 16550A has four IER bits; the rest read 0 (Linux's autoconfig tells an
        // XScale UART by IER bit 6 sticking).
        ier_ = v & 0x0f;
        break;
    case IIR_FCR:
        // Turning the FIFOs on or off resets them, as do the two clear bits. The
        // transmit FIFO is always empty here, so only the receive side matters.
        if (((v ^ fcr_) & FCR_ENABLE) || (v & FCR_CLEAR_RX)) rx_.clear();
        fcr_ = v & 0xc9;  // enable, DMA mode, trigger level: the clear bits self-clear
        break;
    case LCR: lcr_ = v; break;
    case MCR: set_mcr(v & 0x1f); break;  // bits 5-7 are 0 on a 16550A
    case SCR: scr_ = v; break;
    default: break;  // LSR and MSR writes are for factory test; dropped
    }
    update_irq();
}

std::uint8_t Uart16550::in(std::uint16_t port) {
    std::lock_guard lock(mu_);
    const bool dlab = lcr_ & LCR_DLAB;
    std::uint8_t v = 0;
    switch (port - base_) {
    case RBR_THR:
        if (dlab) {
            v = static_cast<std::uint8_t>(divisor_);
        } else if (!rx_.empty()) {
            v = rx_.front();
            rx_.pop_front();
        }
        break;
    case IER: v = dlab ? static_cast<std::uint8_t>(divisor_ >> 8) : ier_; break;
    case IIR_FCR:
        v = iir();
        // Reading IIR while it names THRE is what acknowledges that interrupt.
        if ((v & 0x0f) == IIR_THRE) thre_pending_ = false;
        break;
    case LCR: v = lcr_; break;
    case MCR: v = mcr_; break;
    case LSR: v = static_cast<std::uint8_t>((rx_.empty() ? 0 : LSR_DR) | LSR_THRE | LSR_TEMT); break;
    case MSR:
        v = static_cast<std::uint8_t>(msr() | msr_delta_);
        msr_delta_ = 0;
        break;
    case SCR: v = scr_; break;
    default: v = 0xff; break;
    }
    update_irq();
    return v;
}

void Uart16550::receive(std::string_view bytes) {
    std::lock_guard lock(mu_);
    for (char c : bytes) rx_.push_back(static_cast<std::uint8_t>(c));
    update_irq();
}

bool Uart16550::irq_level() const {
    std::lock_guard lock(mu_);
    return line_;
}

std::uint8_t Uart16550::iir() const {
    const std::uint8_t fifos = (fcr_ & FCR_ENABLE) ? IIR_FIFOS_ENABLED : 0;
    // Received data stands for both "trigger level reached" and the FIFO's
    // character timeout (0x0C): drivers handle the two alike, by reading LSR.DR.
    if ((ier_ & IER_RDA) && !rx_.empty()) return fifos | IIR_RDA;
    if ((ier_ & IER_THRE) && thre_pending_) return fifos | IIR_THRE;
    if ((ier_ & IER_MSI) && msr_delta_) return fifos | IIR_MSI;
    return fifos | IIR_NONE;
}

std::uint8_t Uart16550::msr() const {
    if (!(mcr_ & MCR_LOOP)) return MSR_LINE_UP;
    // Loopback wires the modem outputs to the inputs: DTR to DSR, RTS to CTS, OUT1
    // to RI, OUT2 to DCD. Xen's and Linux's probes write MCR and check these.
    return static_cast<std::uint8_t>(((mcr_ & MCR_DTR) ? MSR_DSR : 0) | ((mcr_ & MCR_RTS) ? MSR_CTS : 0) |
                                     ((mcr_ & MCR_OUT1) ? MSR_RI : 0) | ((mcr_ & MCR_OUT2) ? MSR_DCD : 0));
}

void Uart16550::set_mcr(std::uint8_t v) {
    const std::uint8_t before = msr();
    mcr_ = v;
    const std::uint8_t after = msr();
    const auto changed = static_cast<std::uint8_t>(before ^ after);
    // The delta bits: CTS, DSR and DCD on any change, RI on its trailing edge only.
    if (changed & MSR_CTS) msr_delta_ |= MSR_DCTS;
    if (changed & MSR_DSR) msr_delta_ |= MSR_DDSR;
    if ((before & MSR_RI) && !(after & MSR_RI)) msr_delta_ |= MSR_TERI;
    if (changed & MSR_DCD) msr_delta_ |= MSR_DDCD;
}

void Uart16550::update_irq() {
    // A PC routes INTR to the PIC through a buffer that MCR OUT2 enables; drivers
    // set OUT2 to turn the port's interrupt on.
    const bool level = (iir() & IIR_NONE) == 0 && (mcr_ & MCR_OUT2);
    if (level == line_) return;
    line_ = level;
    if (irq_) irq_(level);
}

}  // namespace kvmgdb
