#include "cli/gdb_batch.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

extern char** environ;

namespace kvmgdb {

// gdb -batch exits 0 after a command or a Python script failed (gdb 13), so the
// scripts run under this driver: a command file's first failing command raises
// gdb.error from `source`; a Python script runs in the driver's hands, because
// gdb's `source` of a .py file prints an exception and reports success. Either
// failure is exit status 1; sys.exit(N) in a script is status N, a Ctrl-C 130.
// A guest still there at the end is killed: the test is over, and gdb's quit
// would otherwise detach and leave it running (kvmgdb stops it anyway once gdb
// has ended, for a script that quit or detached itself).
const char* const kGdbBatchDriver = R"(# kvmgdb --gdb-batch's driver (src/cli/gdb_batch.cpp)
import __main__
import os
import sys
import traceback

import gdb


def _kvmgdb_run_python(path):
    """As gdb's `source` would (in __main__), but an exception reaches us."""
    with open(path) as f:
        code = compile(f.read(), path, "exec")
    namespace = __main__.__dict__
    saved = namespace.get("__file__")
    namespace["__file__"] = path
    try:
        exec(code, namespace)
    finally:
        namespace["__file__"] = saved


def _kvmgdb_batch():
    gdb.execute("set pagination off")
    gdb.execute("set confirm off")
    status = 0
    try:
        gdb.execute("target remote " + os.environ["KVMGDB_ADDR"])
    except gdb.error as e:
        print("kvmgdb --gdb-batch: cannot connect to kvmgdb: %s" % e, file=sys.stderr)
        status = 1
    for script in os.environ["KVMGDB_BATCH_SCRIPTS"].split("\n") if status == 0 else []:
        try:
            if script.endswith(".py"):
                _kvmgdb_run_python(script)
            else:
                gdb.execute("source " + script)
        except SystemExit as e:  # sys.exit(N) in a script: that status, no more scripts
            if e.code is None or isinstance(e.code, int):
                status = e.code or 0
            else:  # sys.exit("message"): Python prints it and exits 1
                print(e.code, file=sys.stderr)
                status = 1
            break
        except KeyboardInterrupt:  # Ctrl-C reached gdb's Python
            print("kvmgdb --gdb-batch: %s interrupted" % script, file=sys.stderr)
            status = 130
            break
        except gdb.error as e:  # a gdb command failed (gdb printed nothing more)
            print("kvmgdb --gdb-batch: %s failed: %s" % (script, e), file=sys.stderr)
            status = 1
            break
        except BaseException:
            # The traceback from the script's own frames down (not the driver's).
            kind, value, tb = sys.exc_info()
            while tb is not None and tb.tb_frame.f_code.co_filename != script:
                tb = tb.tb_next
            traceback.print_exception(kind, value, tb)
            print("kvmgdb --gdb-batch: %s failed" % script, file=sys.stderr)
            status = 1
            break
    if gdb.selected_inferior().pid != 0:
        try:
            gdb.execute("kill")
        except gdb.error:
            pass
    sys.stdout.flush()
    sys.stderr.flush()
    gdb.execute("quit %d" % status)


_kvmgdb_batch()
)";

GdbBatchCommand gdb_batch_command(const std::string& gdb, const std::string& address,
                                  const std::optional<std::string>& elf, const std::vector<std::string>& scripts,
                                  const std::string& kvmgdb) {
    GdbBatchCommand c;
    // -nx: no ~/.gdbinit, so a script behaves the same on every machine.
    c.argv = {gdb, "-batch", "-nx", "-ex", "python exec(__import__('os').environ['KVMGDB_BATCH_DRIVER'])"};
    if (elf) c.argv.push_back(*elf);
    std::string list;
    for (const std::string& s : scripts) list += (list.empty() ? "" : "\n") + s;
    c.env = {"KVMGDB_ADDR=" + address, "KVMGDB_BATCH_SCRIPTS=" + list, "KVMGDB_BIN=" + kvmgdb,
             std::string("KVMGDB_BATCH_DRIVER=") + kGdbBatchDriver};
    return c;
}

int exit_status_of(int wait_status) {
    if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
    return 1;
}

GdbChild::GdbChild(const GdbBatchCommand& command) {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
        std::string_view entry(*e);
        bool replaced = false;
        for (const std::string& add : command.env)
            replaced = replaced || entry.substr(0, entry.find('=') + 1) == add.substr(0, add.find('=') + 1);
        if (!replaced) env_strings.emplace_back(entry);
    }
    env_strings.insert(env_strings.end(), command.env.begin(), command.env.end());
    std::vector<char*> argv, envp;
    for (const std::string& a : command.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (std::string& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    // gdb gets the default SIGINT disposition even if ours is ignored: a Ctrl-C
    // at the terminal reaches it (and kvmgdb's server, which ends the session).
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    // Only stdin, stdout and stderr go to gdb: not the listening socket or the
    // packet log (KVM's fds are close-on-exec already), which a gdb that
    // outlived us would otherwise keep open, the port bound.
    posix_spawn_file_actions_t files;
    int err = posix_spawn_file_actions_init(&files);
    if (err == 0) {
#if defined(__GLIBC__)
#if __GLIBC_PREREQ(2, 34)
        err = posix_spawn_file_actions_addclosefrom_np(&files, 3);
#endif
#endif
        if (err == 0) err = posix_spawnp(&pid_, argv[0], &files, &attr, argv.data(), envp.data());
        posix_spawn_file_actions_destroy(&files);
    }
    posix_spawnattr_destroy(&attr);
    if (err != 0) {
        pid_ = -1;
        throw std::system_error(err, std::generic_category(), "cannot run " + command.argv[0]);
    }
}

int GdbChild::wait() {
    // Wait for the end without reaping (WNOWAIT): until we reap, the pid stays
    // gdb's zombie, so a kill() racing with us never signals a reused pid.
    siginfo_t info{};
    int r;
    do r = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT);
    while (r < 0 && errno == EINTR);
    {
        std::lock_guard lock(mu_);
        ended_ = true;
    }
    int status = 0;
    pid_t reaped;
    do reaped = ::waitpid(pid_, &status, 0);
    while (reaped < 0 && errno == EINTR);
    reaped_ = true;
    return reaped < 0 ? 1 : exit_status_of(status);
}

void GdbChild::kill() {
    std::lock_guard lock(mu_);
    if (!ended_) ::kill(pid_, SIGKILL);
}

GdbChild::~GdbChild() {
    if (pid_ < 0 || reaped_) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
}

}  // namespace kvmgdb
