// The PC's CMOS RAM and real-time clock (an MC146818 at ports 0x70/0x71): the
// wall-clock time kernels read at boot (Linux's mc146818_get_time, GNU Mach's
// readtodc, Xen's get_cmos_time) and the memory-size bytes a BIOS leaves there.
// The time is the host's, read at each access; there is no periodic, alarm or
// update interrupt (IRQ 8 never fires). Not thread safe: the caller serializes.
#pragma once

#include <array>
#include <cstdint>
#include <functional>

namespace kvmgdb {

inline constexpr std::uint16_t kCmosIndexPort = 0x70;
inline constexpr std::uint16_t kCmosDataPort = 0x71;

class Cmos {
public:
    // Nanoseconds since the Unix epoch, UTC (the RTC holds UTC, as QEMU's default
    // and Linux's assume). Empty: CLOCK_REALTIME.
    using Clock = std::function<std::int64_t()>;

    // `ram`: guest RAM in bytes, flat from address 0, for the memory-size bytes.
    explicit Cmos(std::uint64_t ram, Clock now_ns = {});

    bool handles(std::uint16_t port) const { return port == kCmosIndexPort || port == kCmosDataPort; }
    void out(std::uint16_t port, std::uint8_t v);
    std::uint8_t in(std::uint16_t port);

    // The byte a guest reads at `index` (0-127), the clock's included.
    std::uint8_t read(std::uint8_t index) const;
    // Whether the guest last wrote the index port with bit 7 (NMI disable) set.
    // Recorded only: KVM's NMIs are not gated by it.
    bool nmi_disabled() const { return nmi_disabled_; }

private:
    void write(std::uint8_t index, std::uint8_t v);
    std::uint8_t clock_register(std::uint8_t index) const;

    Clock now_ns_;
    std::array<std::uint8_t, 128> mem_{};
    std::uint8_t index_ = 0;
    bool nmi_disabled_ = false;
};

}  // namespace kvmgdb
