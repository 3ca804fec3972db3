#include "devices/bios_data_area.hpp"

#include <algorithm>

#include "boot/boot_layout.hpp"
#include "devices/port_io.hpp"

namespace kvmgdb {

// Offsets and meanings from Ralf Brown's list of the BIOS data area (MEMORY.LST,
// "Format of BIOS Data Segment at segment 40h") unless said otherwise.
void write_bios_data_area(GuestMemory& mem, std::uint64_t ram) {
    constexpr std::uint64_t kBda = 0x400;
    // 00h-07h: base I/O ports of COM1-COM4, 0 for absent. Only COM1 is there.
    mem.write16(kBda + 0x00, kCom1Base);
    for (std::uint64_t i = 1; i < 4; ++i) mem.write16(kBda + 2 * i, 0);
    // 08h-0Dh: LPT1-LPT3 base ports: none.
    for (std::uint64_t i = 0; i < 3; ++i) mem.write16(kBda + 0x08 + 2 * i, 0);
    // 0Eh: the EBDA's segment (PS/2 and later). Linux's reserve_bios_regions
    // (arch/x86/kernel/ebda.c) and its MP-table scan read it, as does Xen.
    mem.write16(kBda + 0x0e, static_cast<std::uint16_t>(boot::kEbdaBase >> 4));
    // 10h: the equipment word (INT 11h): bit 1 an x87, bits 4-5 = 10b initial video
    // mode 80x25 colour, bits 9-11 the number of serial ports (1); no floppy (bit 0),
    // no printer (bits 14-15).
    constexpr std::uint16_t kEquipFpu = 1u << 1, kEquip80x25Colour = 2u << 4, kEquipOneSerial = 1u << 9;
    mem.write16(kBda + 0x10, kEquipFpu | kEquip80x25Colour | kEquipOneSerial);
    // 13h: base memory in KiB (INT 12h): RAM below the EBDA. Linux's ebda.c reads it
    // next to 0Eh and takes the lower of the two.
    mem.write16(kBda + 0x13, static_cast<std::uint16_t>(std::min(ram, boot::kEbdaBase) / 1024));
    // The video fields of a VGA BIOS in mode 3, what VGA text-console drivers
    // that skip the BIOS read: 49h mode, 4Ah columns, 4Ch bytes per page, 63h the
    // CRTC's port (0x3D4: colour), 84h rows minus one, 85h character height.
    mem.write8(kBda + 0x49, 0x03);
    mem.write16(kBda + 0x4a, 80);
    mem.write16(kBda + 0x4c, 4096);  // 80 x 25 x 2 = 4000 bytes, rounded up to 4 KiB
    mem.write16(kBda + 0x63, 0x3d4);
    mem.write8(kBda + 0x84, 24);
    mem.write16(kBda + 0x85, 16);
    // The EBDA's first byte is its size in KiB (Ralf Brown's "Format of Extended
    // BIOS Data Area"); the byte after it is reserved, zero. The rest of the EBDA is
    // left to whoever puts tables there.
    if (mem.contains(boot::kEbdaBase, 2)) mem.write16(boot::kEbdaBase, static_cast<std::uint16_t>((boot::kLowMemoryEnd - boot::kEbdaBase) / 1024));
}

}  // namespace kvmgdb
