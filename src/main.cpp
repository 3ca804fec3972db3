// kvmgdb: run a bare-metal guest ELF on KVM (and, with --listen, debug it with gdb).
#include <signal.h>
#include <unistd.h>

#include <utility>  // before Asio (Boost 1.74 uses std::exchange unincluded)

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "cli/gdb_batch.hpp"
#include "cli/gdb_extension.hpp"
#include "cli/listen_check.hpp"
#include "cli/options.hpp"
#include "debug/kvm_target.hpp"
#include "stub/listen_address.hpp"
#include "stub/server.hpp"
#include "vmm/machine.hpp"
#include "vmm/stdin_serial.hpp"

using namespace kvmgdb;

namespace {

// Unbuffered, so guest output interleaves correctly with kvmgdb's own stderr.
void write_all(int fd, std::string_view s) {
    while (!s.empty()) {
        ssize_t n = ::write(fd, s.data(), s.size());
        if (n < 0 && errno == EINTR) continue;  // a vCPU thread's kick or halt poll
        if (n <= 0) return;
        s.remove_prefix(static_cast<std::size_t>(n));
    }
}

// kvmgdb's exit status once the guest ended while (or after) being debugged.
int status_of_end(const stub::StopEvent& end) {
    if (end.kind == stub::StopEvent::Kind::Exited) return end.exit_status;
    return kExitGuestCrashed;  // terminated, or a fault stop the guest cannot go on from
}

// --breakpoints / --watchpoints as the KVM target's options (Auto: the probe decides).
debug::TargetOptions target_options(const CliOptions& options) {
    debug::TargetOptions t;
    switch (options.breakpoints) {
    case CliOptions::Breakpoints::Auto: break;
    case CliOptions::Breakpoints::Int3:  // the native paths: int3 for Z0, DR0-DR3 for Z1
        t.software = debug::BreakMechanism::Int3;
        t.hardware = debug::BreakMechanism::DebugRegisters;
        break;
    case CliOptions::Breakpoints::Hlt:
        t.software = t.hardware = debug::BreakMechanism::HltPatch;
        break;
    }
    switch (options.watchpoints) {
    case CliOptions::Watchpoints::Auto: break;
    case CliOptions::Watchpoints::DebugRegisters: t.watch = debug::WatchMechanism::DebugRegisters; break;
    case CliOptions::Watchpoints::PageProtection: t.watch = debug::WatchMechanism::PageProtection; break;
    }
    return t;
}

// This kvmgdb's own path, for gdb scripts that ask it things (empty if unknown).
std::string own_path() {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::string{} : exe.string();
}

// --gdb-batch: every script must be readable before anything starts (a typo is
// one line and status 2, not a gdb error after the guest booted).
volatile std::sig_atomic_t late_signal = 0;
extern "C" void note_late_signal(int signal) { late_signal = signal; }

// --gdb-batch once the server has ended but gdb runs on: until gdb ends, a
// SIGINT or SIGTERM is caught here (the server has given them back to their
// default actions) and returned, so that gdb can be ended with kvmgdb; 0 when
// gdb ended first. Polls: gdb's end is an atomic set by the waiter thread.
int wait_for_gdb_or_signal(const std::atomic<bool>& gdb_ended) {
    struct sigaction catch_it {}, old_int{}, old_term{};
    catch_it.sa_handler = note_late_signal;
    sigemptyset(&catch_it.sa_mask);
    late_signal = 0;
    ::sigaction(SIGINT, &catch_it, &old_int);
    ::sigaction(SIGTERM, &catch_it, &old_term);
    while (!gdb_ended && late_signal == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    return late_signal;
}

bool gdb_batch_scripts_readable(const CliOptions& options) {
    for (const std::string& script : options.gdb_batch) {
        if (::access(script.c_str(), R_OK) != 0) {
            std::fprintf(stderr, "kvmgdb: --gdb-batch: cannot read '%s': %s\n", script.c_str(), std::strerror(errno));
            return false;
        }
    }
    return true;
}

// --listen: the guest waits at its entry for gdb; the io thread serves gdb while the
// KVM target runs the vCPU on its own thread (docs/gdb.md). The address and the
// packet log are command-line values: checked before the guest and KVM, and a
// problem with them is status 2 (a port in use included).
// --gdb-batch: the same server on a free loopback port, with gdb as our child; its
// exit status is ours, and when it ends the server ends with it.
int run_debug_server(const CliOptions& options) {
    const bool batch = !options.gdb_batch.empty();
    if (batch && !gdb_batch_scripts_readable(options)) return kExitBadInput;
    stub::ServerOptions server_options;
    if (batch) {
        // The user reads gdb's output and the guest's: no "listening on", no
        // connection notices (warnings and errors still go to stderr).
        server_options.announce = [](std::string_view) {};
        server_options.log = [](std::string_view line) {
            if (line.starts_with("kvmgdb: gdb connected") || line.starts_with("kvmgdb: gdb disconnected")) return;
            write_all(2, line);
        };
    }
    try {
        server_options.address = stub::parse_listen_address(batch ? "127.0.0.1:0" : *options.listen);
    } catch (const stub::ListenAddressError& e) {
        std::fprintf(stderr, "kvmgdb: --listen: %s\n", e.what());
        return kExitBadInput;
    }
    if (auto problem = listen_problem(server_options.address)) {
        std::fprintf(stderr, "kvmgdb: --listen: %s\n", problem->c_str());
        return kExitBadInput;
    }
    switch (options.gdb_arch) {
    case CliOptions::GdbArch::I386: server_options.session.gdb_arch = stub::Arch::I386; break;
    case CliOptions::GdbArch::X86_64: server_options.session.gdb_arch = stub::Arch::X86_64; break;
    case CliOptions::GdbArch::Auto: break;  // decided below, once the image is read
    }
    if (options.log_packets) {
        try {
            server_options.session.log_packet = stub::open_packet_log(*options.log_packets);
        } catch (const std::system_error& e) {
            std::fprintf(stderr, "kvmgdb: --log-packets: %s\n", e.what());
            return kExitBadInput;
        }
    }

    auto machine = std::make_unique<Machine>(options.guest, [](std::string_view s) { write_all(1, s); },
                                             [](std::string_view s) { write_all(2, s); });
    // --gdb-arch auto: gdb with an ELF64 loaded refuses a 32-bit description, so an
    // ELF64 gets the 64-bit layout even when it starts in a 32-bit mode.
    if (options.gdb_arch == CliOptions::GdbArch::Auto && machine->image().image_class == ImageClass::Elf64)
        server_options.session.gdb_arch = stub::Arch::X86_64;
    // Declared in this order so that the server (which holds the target and posts
    // to io) goes first, then the target (which joins the vCPU thread).
    boost::asio::io_context io;
    Machine* guest = machine.get();
    debug::KvmTarget target(std::move(machine), target_options(options));
    // COM1 reads kvmgdb's stdin on the PC platform (gdb, a child here with
    // --gdb-batch, reads its scripts, not stdin); gone before the target.
    std::optional<StdinToSerial> serial_input;
    if (guest->platform() == Platform::Pc)
        serial_input.emplace(0, [guest](std::string_view bytes) { guest->serial_input(bytes); });
    std::optional<stub::ServerResult> result;
    {
        std::optional<stub::Server> server;
        try {
            server.emplace(io, target, std::move(server_options));
        } catch (const std::system_error& e) {  // taken since listen_problem() looked
            std::fprintf(stderr, "kvmgdb: --listen: %s\n", e.what());
            return kExitBadInput;
        }
        server->start();
        std::optional<GdbChild> gdb;
        std::optional<int> gdb_status;
        std::atomic<bool> gdb_ended{false};
        std::thread gdb_waiter;
        if (batch) {
            // Absolute paths: gdb would read a name that starts with `-` as an
            // option, and a script may change gdb's directory.
            auto absolute = [](const std::string& path) {
                std::error_code ec;
                std::filesystem::path a = std::filesystem::absolute(path, ec);
                return ec ? path : a.string();
            };
            std::optional<std::string> elf;
            if (options.guest.format == ImageFormat::Elf) elf = absolute(options.guest.path);
            std::vector<std::string> scripts;
            for (const std::string& script : options.gdb_batch) scripts.push_back(absolute(script));
            try {
                gdb.emplace(gdb_batch_command(options.gdb_program, server->local_address(), elf, scripts,
                                              own_path()));
            } catch (const std::system_error& e) {
                std::fprintf(stderr, "kvmgdb: --gdb-batch: %s\n", e.what());
                return kExitBadInput;
            }
            // gdb's end ends the server too (a gdb that died without detaching
            // would otherwise leave it waiting for the next one).
            gdb_waiter = std::thread([&] {
                gdb_status = gdb->wait();
                gdb_ended = true;
                // Signal 0: this is gdb's end, not a signal to kvmgdb (a SIGTERM
                // that came first keeps its number in the result).
                boost::asio::post(io, [&] {
                    if (!server->result()) server->shutdown(0);
                });
            });
        }
        try {
            io.run();
        } catch (...) {
            if (gdb_waiter.joinable()) {
                gdb->kill();
                gdb_waiter.join();
            }
            throw;
        }
        result = server->result();
        if (batch) {
            // kvmgdb was told to stop (SIGINT, SIGTERM): so is gdb, which may be
            // waiting on a guest that no longer runs. Otherwise the server may end
            // first (gdb killed the guest, then quits): gdb is waited for.
            int signal = result && result->kind == stub::ServerResult::Kind::Signal ? result->signal : 0;
            // The server no longer handles SIGINT and SIGTERM (stop_listening): one
            // that comes while gdb runs on (after a script's kill or detach) must
            // end gdb too, not kvmgdb alone.
            if (signal == 0) signal = wait_for_gdb_or_signal(gdb_ended);
            if (signal != 0) gdb->kill();
            gdb_waiter.join();
            // The batch run is over when gdb is. A guest that gdb detached from
            // (a script's `quit` or `detach`) is stopped with the target, not
            // waited for: it may never end.
            if (result && !result->guest_end && result->kind == stub::ServerResult::Kind::Detached)
                std::fputs("kvmgdb: --gdb-batch: gdb has ended; the guest it detached from is stopped\n", stderr);
            return signal != 0 ? 128 + signal : *gdb_status;
        }
    }
    if (!result) return kExitHostError;  // io ran out of work without an ending: a bug
    using Kind = stub::ServerResult::Kind;
    if (result->guest_end) return status_of_end(*result->guest_end);
    switch (result->kind) {
    case Kind::Killed:
        return 0;
    case Kind::Signal:
        return 128 + result->signal;
    case Kind::Detached: {
        // The target removed its breakpoints and resumed the guest: wait for its end.
        target.wait_stopped();
        stub::StopEvent end = target.last_stop();
        return status_of_end(end);
    }
    case Kind::GuestEnded:
        break;
    }
    return kExitHostError;
}

}  // namespace

int main(int argc, char** argv) {
    CliOptions options;
    try {
        options = parse_command_line(std::vector<std::string>(argv + 1, argv + argc));
    } catch (const UsageError& e) {
        std::fprintf(stderr, "kvmgdb: %s\nTry 'kvmgdb --help' for more information.\n", e.what());
        return kExitBadInput;
    }
    if (options.action == CliOptions::Action::Help) {
        std::fputs(options.help_text.c_str(), stdout);
        return 0;
    }
    if (options.action == CliOptions::Action::Version) {
        std::printf("kvmgdb %s\n", KVMGDB_VERSION);
        return 0;
    }
    if (options.action == CliOptions::Action::PrintGdbExtension) {
        std::error_code ec;
        auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
        std::printf("%s\n", gdb_extension_path(ec ? std::filesystem::path{} : exe, KVMGDB_GDB_EXTENSION_SOURCE).c_str());
        return 0;
    }
    if (options.action == CliOptions::Action::CheckKvm) {
        try {
            return check_kvm([](std::string_view s) { write_all(1, s); }) ? 0 : kExitGuestCrashed;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "kvmgdb: %s\n", e.what());
            return kExitHostError;
        }
    }
    try {
        if (options.debugging()) return run_debug_server(options);
        Machine machine(options.guest, [](std::string_view s) { write_all(1, s); },
                        [](std::string_view s) { write_all(2, s); });
        std::optional<StdinToSerial> serial_input;
        if (machine.platform() == Platform::Pc)
            serial_input.emplace(0, [&machine](std::string_view bytes) { machine.serial_input(bytes); });
        RunOutcome outcome = machine.run_to_end();
        serial_input.reset();
        if (!outcome.message.empty()) std::fprintf(stderr, "kvmgdb: %s\n", outcome.message.c_str());
        return outcome.exit_status;
    } catch (const ImageError& e) {
        std::fprintf(stderr, "kvmgdb: %s\n", e.what());
        return kExitBadInput;
    } catch (const KvmError& e) {
        std::fprintf(stderr, "kvmgdb: %s\n", e.what());
        return kExitHostError;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kvmgdb: %s\n", e.what());
        return kExitHostError;
    }
}
