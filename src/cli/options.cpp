#include "cli/options.hpp"

#include <boost/program_options.hpp>

#include <cctype>
#include <charconv>
#include <sstream>

namespace po = boost::program_options;

namespace kvmgdb {

namespace {

std::optional<std::uint64_t> parse_number(std::string_view text, int base) {
    std::uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
    if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
    return v;
}

const char* kExamples = R"(
Examples:
  kvmgdb guests/hello-long.elf              run a 64-bit guest in long mode
  kvmgdb --mode paged32 my-kernel.elf       32-bit paging (4 MiB pages)
  kvmgdb --mode real boot.elf               16-bit real mode (CS:IP = 0:entry)
  kvmgdb --format raw --load-addr 0 --entry 0 --mode long payload.bin
  kvmgdb --cmdline console=ttyS0 vmlinux    boot Linux (PVH) on the pc platform
  kvmgdb --module initrd.img,args kernel    a Multiboot kernel with a module
  kvmgdb --listen :1234 guest.elf           wait for gdb (target remote :1234)
  kvmgdb --gdb-batch check.py guest.elf     run a gdb script against the guest

Exit status: 0 when the guest executes HLT (pc platform: resets, or every
vCPU halts with interrupts off); N when it writes byte N to port 0xF4; 1 when
KVM is unusable; 2 for a bad command line or guest image; 3 when the guest
crashes (triple fault, failed VM entry); with --gdb-batch, gdb's.
Port 0xE9 and COM1 (0x3F8) print to stdout. No /dev/kvm here? Run kvmgdb under
kvmgdb-with-kvm (scripts/with-kvm in a checkout).
)";

// Program_options pads a wrapped description's lines with a trailing space.
std::string without_trailing_spaces(const std::string& text) {
    std::string out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        line.erase(line.find_last_not_of(' ') + 1);
        out += line + "\n";
    }
    return out;
}

}  // namespace

std::uint64_t parse_size(std::string_view text) {
    std::string_view digits = text;
    std::uint64_t unit = 1;
    auto strip = [&](std::string_view suffix) {
        if (digits.size() > suffix.size() && digits.substr(digits.size() - suffix.size()) == suffix) {
            digits.remove_suffix(suffix.size());
            return true;
        }
        return false;
    };
    if (!strip("iB")) strip("B");
    if (!digits.empty()) {
        switch (std::toupper(static_cast<unsigned char>(digits.back()))) {
        case 'K': unit = 1ull << 10; break;
        case 'M': unit = 1ull << 20; break;
        case 'G': unit = 1ull << 30; break;
        case 'T': unit = 1ull << 40; break;
        default: break;
        }
        if (unit != 1) digits.remove_suffix(1);
    }
    auto n = parse_number(digits, 10);
    std::uint64_t bytes = 0;
    if (!n || __builtin_mul_overflow(*n, unit, &bytes))
        throw UsageError("invalid size '" + std::string(text) + "' (expected e.g. 64M, 1G, 512K or bytes)");
    return bytes;
}

std::uint64_t parse_address(std::string_view text) {
    std::optional<std::uint64_t> v;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
        v = parse_number(text.substr(2), 16);
    else
        v = parse_number(text, 10);
    if (!v) throw UsageError("invalid address '" + std::string(text) + "' (expected 0x... or decimal)");
    return *v;
}

CliOptions parse_command_line(const std::vector<std::string>& args) {
    // 80 columns, descriptions at least 44 wide: Program_options wraps them at word
    // boundaries itself (a newline inside one would restart its wrapping mid-line).
    po::options_description visible("Usage: kvmgdb [options] GUEST\n\nOptions", 80, 44);
    visible.add_options()
        ("help,h", "show this help and exit")
        ("version,V", "show the version and exit")
        ("check-kvm", "run a tiny guest in each CPU mode on this host's KVM, say which work, "
                      "exit 0 only if all do")
        ("print-gdb-extension", "print the path of kvmgdb's gdb extension (kvmgdb.py: `source` it "
                                "in gdb) and exit")
        ("mode", po::value<std::string>()->value_name("MODE"),
         "CPU mode at entry: real, protected, paged32 or long (default: long for ELF64, protected for ELF32)")
        ("memory,m", po::value<std::string>()->value_name("SIZE"),
         "guest RAM, 1M to 3G; K/M/G suffixes (default: 64M, 256M on the pc platform)")
        ("cpus", po::value<std::string>()->value_name("N")->default_value("1"),
         "vCPUs, 1 to 64; each starts at the entry with edi/rdi = its index (docs/guest-abi.md)")
        ("boot", po::value<std::string>()->value_name("PROTO")->default_value("auto"),
         "how the kernel is booted: auto (its Multiboot header, else its PVH note, else "
         "none), none (the ELF's entry in --mode), pvh, multiboot (1, else 2), multiboot1 or multiboot2 (docs/kernels.md)")
        ("platform", po::value<std::string>()->value_name("PLAT")->default_value("auto"),
         "the machine: pc (in-kernel APIC, IOAPIC, PIC and PIT, a 16550 COM1 reading stdin, "
         "CMOS, i8042, resets; HLT waits for an interrupt), minimal (HLT ends the run) or "
         "auto (pc for a kernel with a boot protocol, else minimal)")
        ("cmdline", po::value<std::string>()->value_name("TEXT"),
         "the kernel command line its boot protocol hands it")
        ("initrd", po::value<std::string>()->value_name("FILE"),
         "an initial ramdisk, the boot protocol's first module")
        ("module", po::value<std::vector<std::string>>()->value_name("FILE[,ARGS]"),
         "a Multiboot module (repeat for more, in order); ARGS is its string "
         "(default: FILE)")
        ("format", po::value<std::string>()->value_name("FMT")->default_value("elf"),
         "guest image format: elf or raw (flat binary)")
        ("load-addr", po::value<std::string>()->value_name("ADDR"),
         "raw images: guest-physical load address")
        ("entry", po::value<std::string>()->value_name("ADDR"),
         "raw images: entry point (default: the load address)")
        ("listen", po::value<std::string>()->value_name("ADDR"),
         "serve the GDB remote protocol on ADDR (HOST:PORT, :PORT or unix:PATH); "
         "the guest waits at its entry for gdb's first continue")
        ("gdb-batch", po::value<std::vector<std::string>>()->value_name("SCRIPT"),
         "serve gdb on a free loopback port and run gdb -batch on the guest with "
         "SCRIPT (.py: Python, else gdb commands; repeat for more, run in order); "
         "exit with gdb's status, non-zero when a script failed")
        ("gdb", po::value<std::string>()->value_name("PROGRAM")->default_value("gdb"),
         "with --gdb-batch: the gdb to run")
        ("log-packets", po::value<std::string>()->value_name("FILE"),
         "with --listen or --gdb-batch: log every RSP packet, timestamped, to FILE "
         "(- for stderr)")
        ("breakpoints", po::value<std::string>()->value_name("HOW")->default_value("auto"),
         "with --listen or --gdb-batch: auto (what this host's KVM traps), int3 (int3 for break, "
         "debug registers for hbreak) or hlt (the patch for both: HLT, or on the pc platform "
         "`out 0xe5, al` over instructions of two bytes or more)")
        ("gdb-arch", po::value<std::string>()->value_name("ARCH")->default_value("auto"),
         "with --listen or --gdb-batch: the register layout gdb gets from its first packet: "
         "auto (x86-64 for an ELF64, else the CPU mode's), i386 or x86-64 "
         "(every mode, upper halves zero outside long mode)")
        ("watchpoints", po::value<std::string>()->value_name("HOW")->default_value("auto"),
         "with --listen or --gdb-batch: auto, debugreg (DR0-DR3, page protection past four "
         "or for long ranges) or pageprot (read-only/removed memslots)")
        ("verbose,v", "log unhandled ports and MMIO (once each) to stderr");
    po::options_description hidden;
    hidden.add_options()("guest", po::value<std::string>(), "guest image");
    po::options_description all;
    all.add(visible).add(hidden);
    po::positional_options_description positional;
    positional.add("guest", 1);

    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw UsageError(e.what());
    }

    CliOptions out;
    if (vm.count("help")) {
        std::ostringstream help;
        help << visible << kExamples;
        out.action = CliOptions::Action::Help;
        out.help_text = without_trailing_spaces(help.str());
        return out;
    }
    if (vm.count("version")) {
        out.action = CliOptions::Action::Version;
        return out;
    }
    if (vm.count("check-kvm")) {
        out.action = CliOptions::Action::CheckKvm;
        return out;
    }
    if (vm.count("print-gdb-extension")) {
        out.action = CliOptions::Action::PrintGdbExtension;
        return out;
    }
    if (!vm.count("guest")) throw UsageError("no guest image given");
    GuestConfig& g = out.guest;
    g.path = vm["guest"].as<std::string>();
    if (vm.count("mode")) {
        auto name = vm["mode"].as<std::string>();
        g.mode = parse_cpu_mode(name);
        if (!g.mode) throw UsageError("unknown --mode '" + name + "' (expected real, protected, paged32 or long)");
    }
    if (vm.count("memory")) {
        const auto memory = vm["memory"].as<std::string>();
        g.memory = parse_size(memory);
        g.memory_given = true;
        if (g.memory < kMinMemory || g.memory > kMaxMemory || g.memory % kPageSize != 0)
            throw UsageError("--memory '" + memory +
                             "': guest RAM must be a multiple of 4 KiB between 1 MiB and 3 GiB");
    }
    const auto boot = vm["boot"].as<std::string>();
    const auto boot_choice = boot::parse_boot_choice(boot);
    if (!boot_choice)
        throw UsageError("unknown --boot '" + boot + "' (expected auto, none, pvh, multiboot, multiboot1 or multiboot2)");
    g.boot = *boot_choice;
    const auto platform = vm["platform"].as<std::string>();
    if (platform == "pc") g.platform = Platform::Pc;
    else if (platform == "minimal") g.platform = Platform::Minimal;
    else if (platform != "auto") throw UsageError("unknown --platform '" + platform + "' (expected auto, pc or minimal)");
    if (vm.count("cmdline")) g.cmdline = vm["cmdline"].as<std::string>();
    if (vm.count("initrd")) {
        g.initrd = vm["initrd"].as<std::string>();
        if (g.initrd->empty()) throw UsageError("--initrd needs a file name");
    }
    if (vm.count("module")) {
        for (const std::string& arg : vm["module"].as<std::vector<std::string>>()) {
            // FILE[,ARGS]: the first comma ends the file name (GRUB's `module FILE ARGS`
            // has the same split at the first space).
            const auto comma = arg.find(',');
            ModuleArg m{arg.substr(0, comma), std::nullopt};
            if (comma != std::string::npos) m.cmdline = arg.substr(comma + 1);
            if (m.path.empty()) throw UsageError("--module '" + arg + "' needs a file name before the comma");
            g.modules.push_back(std::move(m));
        }
    }
    const auto cpus = vm["cpus"].as<std::string>();
    auto n = parse_number(cpus, 10);
    if (!n || *n < 1 || *n > kMaxCpus) throw UsageError("--cpus '" + cpus + "': the number of vCPUs must be 1 to 64");
    g.cpus = static_cast<unsigned>(*n);
    auto format = vm["format"].as<std::string>();
    if (format == "raw") g.format = ImageFormat::Raw;
    else if (format != "elf") throw UsageError("unknown --format '" + format + "' (expected elf or raw)");
    if (vm.count("load-addr")) g.load_addr = parse_address(vm["load-addr"].as<std::string>());
    if (vm.count("entry")) g.entry = parse_address(vm["entry"].as<std::string>());
    if (g.format == ImageFormat::Raw && !g.load_addr) throw UsageError("--format raw needs --load-addr");
    if (g.format == ImageFormat::Elf && (g.load_addr || g.entry))
        throw UsageError("--load-addr and --entry are for --format raw; an ELF says where it goes");
    if (vm.count("listen")) out.listen = vm["listen"].as<std::string>();
    if (vm.count("gdb-batch")) {
        out.gdb_batch = vm["gdb-batch"].as<std::vector<std::string>>();
        if (out.listen)
            throw UsageError("--gdb-batch serves gdb on a loopback port of its own: it does not take --listen");
        for (const std::string& script : out.gdb_batch) {
            // gdb gets the list in one environment variable, a name per line.
            if (script.empty() || script.find('\n') != std::string::npos)
                throw UsageError("--gdb-batch needs a script file name (without newlines)");
        }
    }
    out.gdb_program = vm["gdb"].as<std::string>();
    if (out.gdb_batch.empty() && !vm["gdb"].defaulted()) throw UsageError("--gdb needs --gdb-batch");
    if (vm.count("log-packets")) {
        if (!out.debugging()) throw UsageError("--log-packets needs --listen or --gdb-batch");
        out.log_packets = vm["log-packets"].as<std::string>();
        if (out.log_packets->empty()) throw UsageError("--log-packets needs a file name (or - for stderr)");
    }
    auto breakpoints = vm["breakpoints"].as<std::string>();
    if (breakpoints == "int3") out.breakpoints = CliOptions::Breakpoints::Int3;
    else if (breakpoints == "hlt") out.breakpoints = CliOptions::Breakpoints::Hlt;
    else if (breakpoints != "auto")
        throw UsageError("unknown --breakpoints '" + breakpoints + "' (expected auto, int3 or hlt)");
    auto watchpoints = vm["watchpoints"].as<std::string>();
    if (watchpoints == "debugreg") out.watchpoints = CliOptions::Watchpoints::DebugRegisters;
    else if (watchpoints == "pageprot") out.watchpoints = CliOptions::Watchpoints::PageProtection;
    else if (watchpoints != "auto")
        throw UsageError("unknown --watchpoints '" + watchpoints + "' (expected auto, debugreg or pageprot)");
    if (!out.debugging() && (!vm["breakpoints"].defaulted() || !vm["watchpoints"].defaulted()))
        throw UsageError("--breakpoints and --watchpoints need --listen or --gdb-batch");
    auto gdb_arch = vm["gdb-arch"].as<std::string>();
    if (gdb_arch == "i386") out.gdb_arch = CliOptions::GdbArch::I386;
    else if (gdb_arch == "x86-64") out.gdb_arch = CliOptions::GdbArch::X86_64;
    else if (gdb_arch != "auto")
        throw UsageError("unknown --gdb-arch '" + gdb_arch + "' (expected auto, i386 or x86-64)");
    if (!out.debugging() && !vm["gdb-arch"].defaulted())
        throw UsageError("--gdb-arch needs --listen or --gdb-batch");
    g.verbose = vm.count("verbose") > 0;
    return out;
}

}  // namespace kvmgdb
