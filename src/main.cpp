// kvmgdb: run a bare-metal guest ELF on KVM (and, with --listen, debug it with gdb).
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "cli/options.hpp"
#include "vmm/machine.hpp"

using namespace kvmgdb;

namespace {

// Unbuffered, so guest output interleaves correctly with kvmgdb's own stderr.
void write_all(int fd, std::string_view s) {
    while (!s.empty()) {
        ssize_t n = ::write(fd, s.data(), s.size());
        if (n <= 0) return;
        s.remove_prefix(static_cast<std::size_t>(n));
    }
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
    if (options.action == CliOptions::Action::CheckKvm) {
        try {
            return check_kvm([](std::string_view s) { write_all(1, s); }) ? 0 : kExitGuestCrashed;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "kvmgdb: %s\n", e.what());
            return kExitHostError;
        }
    }
    if (options.listen) {
        std::fprintf(stderr, "kvmgdb: --listen: the GDB stub is not part of this build yet\n");
        return kExitBadInput;
    }
    try {
        Machine machine(options.guest, [](std::string_view s) { write_all(1, s); },
                        [](std::string_view s) { write_all(2, s); });
        RunOutcome outcome = machine.run_to_end();
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
