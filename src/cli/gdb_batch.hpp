// kvmgdb --gdb-batch: `gdb -batch` as a child of kvmgdb, connected to kvmgdb's own
// stub on a loopback port, running the user's scripts in order (docs/scripting.md).
// The command is built by a pure function (unit-tested); GdbChild runs it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace kvmgdb {

struct GdbBatchCommand {
    std::vector<std::string> argv;
    std::vector<std::string> env;  // NAME=VALUE, added to kvmgdb's own environment
};

// gdb -batch -nx, the guest's ELF loaded (none for a raw image), and the driver
// (kGdbBatchDriver, passed in the environment) that connects to `address`
// (host:port), sources `scripts` in order and sets gdb's exit status. `kvmgdb` is
// the running kvmgdb, for scripts that ask it things (--print-gdb-extension).
GdbBatchCommand gdb_batch_command(const std::string& gdb, const std::string& address,
                                  const std::optional<std::string>& elf, const std::vector<std::string>& scripts,
                                  const std::string& kvmgdb);

// The driver's Python source (what gdb runs first).
extern const char* const kGdbBatchDriver;

// The exit status a shell would show for a waitpid() status: the code, or 128 + the signal.
int exit_status_of(int wait_status);

// A started gdb; killed and reaped if it is still running when destroyed.
class GdbChild {
public:
    // Throws std::system_error ("cannot run PROGRAM") when it cannot be started.
    explicit GdbChild(const GdbBatchCommand& command);
    ~GdbChild();
    GdbChild(const GdbChild&) = delete;
    GdbChild& operator=(const GdbChild&) = delete;
    // Waits for gdb to end; its exit_status_of(). Once (from any one thread).
    int wait();
    // Kills gdb if it has not ended (thread-safe against wait()).
    void kill();

private:
    pid_t pid_ = -1;
    std::mutex mu_;       // kill() against wait() noticing the end
    bool ended_ = false;  // under mu_: gdb ended (a zombie, or reaped)
    std::atomic<bool> reaped_{false};
};

}  // namespace kvmgdb
