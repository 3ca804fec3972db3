// The boot protocols (src/boot: Multiboot 1, Multiboot 2, PVH) on arbitrary files,
// as --boot auto reads a kernel: header search, header and tag parsing, then the
// info block written into 16 MiB of guest RAM with a command line and two modules.
// Properties:
//  - prepare_boot either throws ImageError naming the file, returns nullopt (no
//    protocol: the ELF path), or returns an image whose segments lie in RAM and the
//    file, with the entry inside one of them;
//  - write_info either throws ImageError (nothing fits) or returns an info block in
//    RAM below 4 GiB, outside every segment, with the protocol's magic in EAX;
//  - every allocation of the arena is in RAM, off page 0, and overlaps no segment.
// Anything else escaping (std::out_of_range, GuestMemoryError...) is a crash.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "boot/boot_protocol.hpp"
#include "boot/multiboot1.hpp"
#include "boot/multiboot2.hpp"
#include "mem/guest_memory.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace kvmgdb;
using namespace kvmgdb::boot;

namespace {

const std::string kName = "fuzz.kernel";

bool names_file(const ImageError& e) { return std::string(e.what()).rfind(kName + ": ", 0) == 0; }

bool overlaps(const PhysRange& a, const PhysRange& b) { return a.begin < b.end && b.begin < a.end; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static GuestMemory mem(16 * 1024 * 1024);
    const std::span<const std::uint8_t> file(data, size);
    BootRequest request;
    request.cmdline = "console=ttyS0 fuzz";
    request.modules.push_back({"m1", {1, 2, 3}, "first"});
    request.modules.push_back({"m2", {}, "m2"});

    std::optional<PreparedBoot> boot;
    try {
        boot = prepare_boot(file, kName, mem.size(), BootChoice::Auto, request);
    } catch (const ImageError& e) {
        FUZZ_CHECK(names_file(e));
        return 0;
    }
    if (!boot) return 0;
    FUZZ_CHECK(boot->protocol != BootProtocol::None && boot->write_info);
    std::vector<PhysRange> occupied;
    bool entry_inside = false;
    for (const LoadSegment& s : boot->image.segments) {
        FUZZ_CHECK(s.memsz > 0 && s.filesz <= s.memsz);
        FUZZ_CHECK(s.paddr < mem.size() && s.memsz <= mem.size() - s.paddr);
        FUZZ_CHECK(s.offset <= file.size() && s.filesz <= file.size() - s.offset);
        entry_inside = entry_inside || (boot->image.entry >= s.paddr && boot->image.entry - s.paddr < s.memsz);
        occupied.push_back({s.paddr, s.paddr + s.memsz});
    }
    FUZZ_CHECK(entry_inside);

    BootArena arena(mem.size(), occupied);
    BootEntry entry;
    try {
        entry = boot->write_info(mem, arena);
    } catch (const ImageError&) {
        return 0;  // the image leaves no room for the info block or the modules
    }
    FUZZ_CHECK(entry.entry == boot->image.entry);
    FUZZ_CHECK(entry.ebx != 0 && entry.ebx < mem.size());
    switch (boot->protocol) {
    case BootProtocol::Multiboot1: FUZZ_CHECK(entry.eax == kMultiboot1BootMagic); break;
    case BootProtocol::Multiboot2: FUZZ_CHECK(entry.eax == kMultiboot2BootMagic); break;
    default: FUZZ_CHECK(entry.eax == 0); break;
    }
    for (const PhysRange& a : arena.allocations()) {
        FUZZ_CHECK(a.begin >= kPageSize && a.begin < a.end && a.end <= mem.size());
        for (const PhysRange& s : occupied) FUZZ_CHECK(!overlaps(a, s));
    }
    return 0;
}
