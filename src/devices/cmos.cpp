#include "devices/cmos.hpp"

#include <algorithm>
#include <ctime>

namespace kvmgdb {

namespace {
// MC146818 registers (Motorola's datasheet; Ralf Brown's CMOS list, CMOS.LST).
constexpr std::uint8_t SECONDS = 0x00, MINUTES = 0x02, HOURS = 0x04, WEEKDAY = 0x06, DAY = 0x07, MONTH = 0x08,
                       YEAR = 0x09, REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d;
constexpr std::uint8_t CENTURY = 0x32;  // IBM PS/2's place for it, where ACPI's FADT default points
constexpr std::uint8_t A_UIP = 0x80;
constexpr std::uint8_t A_DEFAULT = 0x26;  // 32.768 kHz time base, 1024 Hz periodic rate
constexpr std::uint8_t B_SET = 0x80, B_BINARY = 0x04, B_24H = 0x02;
constexpr std::uint8_t B_DEFAULT = B_24H;  // 24-hour BCD, every interrupt off
constexpr std::uint8_t D_VRT = 0x80;       // valid RAM and time: the battery is good
constexpr std::uint8_t HOUR_PM = 0x80;     // 12-hour mode's PM flag
// The update cycle: the datasheet's 1984 us, rounded to 2 ms, at the start of each
// second. Readers wait for UIP to be 0 (Linux, Xen) or to fall (GNU Mach, hwclock).
constexpr std::int64_t kUpdateNs = 2'000'000;
constexpr std::int64_t kNsPerSecond = 1'000'000'000;

bool is_clock_register(std::uint8_t index) {
    return index == SECONDS || index == MINUTES || index == HOURS || index == WEEKDAY || index == DAY ||
           index == MONTH || index == YEAR || index == CENTURY;
}

std::int64_t realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * kNsPerSecond + ts.tv_nsec;
}

// Whole seconds since the epoch, rounding down for times before 1970 too.
std::int64_t floor_seconds(std::int64_t ns) { return ns / kNsPerSecond - (ns % kNsPerSecond < 0 ? 1 : 0); }

void put16(std::array<std::uint8_t, 128>& mem, std::uint8_t at, std::uint64_t v) {
    mem[at] = static_cast<std::uint8_t>(v);
    mem[at + 1] = static_cast<std::uint8_t>(v >> 8);
}
}  // namespace

Cmos::Cmos(std::uint64_t ram, Clock now_ns) : now_ns_(now_ns ? std::move(now_ns) : Clock(realtime_ns)) {
    mem_[REG_A] = A_DEFAULT;
    mem_[REG_B] = B_DEFAULT;
    mem_[REG_D] = D_VRT;

    // The memory-size bytes as SeaBIOS reads them and QEMU's pc_cmos_init writes
    // them. RAM is flat from 0, so "below 4 GiB" is RAM up to 4 GiB and the rest
    // is above it (kvmgdb caps RAM at 3 GiB today, so that is always 0).
    constexpr std::uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;
    const std::uint64_t below_4g = std::min(ram, 4 * GiB), above_4g = ram - below_4g;
    put16(mem_, 0x15, 640);  // base memory, KiB
    // Extended memory above 1 MiB in KiB, twice: 0x17 the configured size, 0x30 the
    // size POST found (Ralf Brown's list); the same here. 16 bits: 64 MiB at most.
    const std::uint64_t extended = below_4g > MiB ? std::min<std::uint64_t>((below_4g - MiB) / KiB, 0xffff) : 0;
    put16(mem_, 0x17, extended);
    put16(mem_, 0x30, extended);
    // RAM between 16 MiB and 4 GiB in 64 KiB units (SeaBIOS sizes RAM from it without fw_cfg).
    const std::uint64_t above_16m =
        below_4g > 16 * MiB ? std::min<std::uint64_t>((below_4g - 16 * MiB) / (64 * KiB), 0xffff) : 0;
    put16(mem_, 0x34, above_16m);
    // RAM above 4 GiB in 64 KiB units, three bytes.
    const std::uint64_t high = std::min<std::uint64_t>(above_4g / (64 * KiB), 0xffffff);
    put16(mem_, 0x5b, high);
    mem_[0x5d] = static_cast<std::uint8_t>(high >> 16);

    // The AT equipment byte: a math coprocessor, no floppies, EGA/VGA display.
    mem_[0x14] = 0x02;
    // The AT BIOS checksum: the 16-bit sum of 0x10-0x2D, big-endian at 0x2E.
    unsigned sum = 0;
    for (std::size_t i = 0x10; i <= 0x2d; ++i) sum += mem_[i];
    mem_[0x2e] = static_cast<std::uint8_t>(sum >> 8);
    mem_[0x2f] = static_cast<std::uint8_t>(sum);
}

void Cmos::out(std::uint16_t port, std::uint8_t v) {
    if (port == kCmosIndexPort) {
        nmi_disabled_ = v & 0x80;
        index_ = v & 0x7f;
    } else if (port == kCmosDataPort) {
        write(index_, v);
    }
}

std::uint8_t Cmos::in(std::uint16_t port) {
    // The index port is write-only; chipsets (and QEMU) read it as all ones.
    if (port == kCmosDataPort) return read(index_);
    return 0xff;
}

std::uint8_t Cmos::read(std::uint8_t index) const {
    index &= 0x7f;
    if (is_clock_register(index)) return clock_register(index);
    if (index == REG_A) {
        // UIP reads 0 while SET holds the clock (the datasheet's rule).
        const std::int64_t ns = now_ns_();
        const bool uip = !(mem_[REG_B] & B_SET) && ns - floor_seconds(ns) * kNsPerSecond < kUpdateNs;
        return static_cast<std::uint8_t>(mem_[REG_A] | (uip ? A_UIP : 0));
    }
    return mem_[index];
}

void Cmos::write(std::uint8_t index, std::uint8_t v) {
    // Setting the clock is ignored: the guest always reads the host's time (Linux
    // writes it back every 11 minutes under NTP, and at shutdown; both harmless).
    if (is_clock_register(index)) return;
    switch (index) {
    case REG_A: mem_[REG_A] = v & 0x7f; break;  // UIP is read-only
    case REG_C:                                  // the interrupt flags and VRT are read-only
    case REG_D: break;
    default: mem_[index] = v; break;  // register B, the alarm bytes, and plain CMOS RAM
    }
}

std::uint8_t Cmos::clock_register(std::uint8_t index) const {
    const std::time_t t = static_cast<std::time_t>(floor_seconds(now_ns_()));
    std::tm tm{};
    gmtime_r(&t, &tm);
    const std::uint8_t b = mem_[REG_B];
    auto encode = [b](int v) {
        return static_cast<std::uint8_t>((b & B_BINARY) ? v : ((v / 10) << 4) | (v % 10));
    };
    switch (index) {
    case SECONDS: return encode(tm.tm_sec);
    case MINUTES: return encode(tm.tm_min);
    case HOURS: {
        if (b & B_24H) return encode(tm.tm_hour);
        // 12-hour mode: 12, 1, ..., 11 with bit 7 set for PM, in BCD or binary.
        const int h12 = tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12;
        return static_cast<std::uint8_t>(encode(h12) | (tm.tm_hour >= 12 ? HOUR_PM : 0));
    }
    case WEEKDAY: return encode(tm.tm_wday + 1);  // 1 is Sunday
    case DAY: return encode(tm.tm_mday);
    case MONTH: return encode(tm.tm_mon + 1);
    case YEAR: return encode((tm.tm_year + 1900) % 100);
    case CENTURY: return encode((tm.tm_year + 1900) / 100);
    default: return 0xff;
    }
}

}  // namespace kvmgdb
