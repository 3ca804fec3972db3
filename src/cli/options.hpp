// The kvmgdb command line, parsed with Boost.Program_options into a plain struct.
// Parsing is pure (no I/O besides the help text it returns) so it is unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/machine.hpp"

namespace kvmgdb {

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct CliOptions {
    enum class Action { Run, Help, Version, CheckKvm, PrintGdbExtension };
    Action action = Action::Run;
    GuestConfig guest;
    std::optional<std::string> listen;  // --listen, for the GDB stub
    // --gdb-batch SCRIPT (repeatable): serve gdb on a loopback port of our own and
    // run `gdb -batch` with these scripts in order (cli/gdb_batch.hpp).
    std::vector<std::string> gdb_batch;
    std::string gdb_program = "gdb";         // --gdb, with --gdb-batch
    bool debugging() const { return listen || !gdb_batch.empty(); }
    std::optional<std::string> log_packets;  // --log-packets FILE ("-": stderr), with --listen
    // --breakpoints / --watchpoints: force a mechanism instead of the probe's choice.
    enum class Breakpoints { Auto, Int3, Hlt };
    enum class Watchpoints { Auto, DebugRegisters, PageProtection };
    Breakpoints breakpoints = Breakpoints::Auto;
    Watchpoints watchpoints = Watchpoints::Auto;
    // --gdb-arch: the register layout gdb is served (docs/modes.md). Auto: x86-64
    // for an ELF64 guest whatever mode it starts in, else the CPU mode's.
    enum class GdbArch { Auto, I386, X86_64 };
    GdbArch gdb_arch = GdbArch::Auto;
    std::string help_text;              // filled for Action::Help
};

// "64M", "1G", "512K", "4096", "2MiB": bytes. Throws UsageError naming the text.
std::uint64_t parse_size(std::string_view text);
// "0x100000" or "1048576".
std::uint64_t parse_address(std::string_view text);

CliOptions parse_command_line(const std::vector<std::string>& args);

}  // namespace kvmgdb
