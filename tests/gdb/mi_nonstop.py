#!/usr/bin/env python3
"""Non-stop mode through gdb/MI, the way a front end drives it (VS Code's adapters
run gdb over MI, with its event loop running between commands; `gdb -batch` does not,
which makes non-stop scripts in batch mode see every stop one command late).

  mi_nonstop.py --gdb GDB --kvmgdb KVMGDB --guest smp64.elf

Starts `kvmgdb --listen 127.0.0.1:0 --cpus 4 GUEST` and `gdb --interpreter=mi3`,
turns non-stop on, connects, and checks: all four threads stopped after connecting;
a breakpoint hit on thread 2 while the others stay stopped; threads 1, 3, 4 running
while thread 2 stays stopped, with memory read meanwhile (their counters move
between two reads, thread 2's does not); -exec-interrupt of one thread stops it
alone; -exec-interrupt --all stops the rest; the exit once every vCPU halted.
Prints what it checked; exit status 0 = pass.
"""

import argparse
import os
import re
import subprocess
import sys
import threading
import time

TIMEOUT = 60.0


class Fail(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Fail(what)
    print("ok: " + what, flush=True)


class Mi:
    """gdb --interpreter=mi3 on pipes: commands with tokens, records collected by a reader thread."""

    def __init__(self, gdb, guest):
        self.proc = subprocess.Popen([gdb, "--interpreter=mi3", "-nx", "-q", guest], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines = []
        self.cv = threading.Condition()
        self.token = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.lines.append(None)  # gdb went away
            self.cv.notify_all()

    def wait_for(self, pattern, start=0, what=None):
        """The index and text of the first line from `start` on matching `pattern`."""
        deadline = time.monotonic() + TIMEOUT
        rx = re.compile(pattern)
        with self.cv:
            while True:
                for i in range(start, len(self.lines)):
                    if self.lines[i] is None:
                        raise Fail(f"gdb exited while waiting for {what or pattern}")
                    if rx.search(self.lines[i]):
                        return i, self.lines[i]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Fail(f"no {what or pattern!r} within {TIMEOUT:.0f} s; last lines:\n" +
                               "\n".join(str(l) for l in self.lines[-15:]))
                self.cv.wait(left)

    def mark(self):
        with self.cv:
            return len(self.lines)

    def command(self, text, expect="done"):
        """Sends TOKEN-text, waits for TOKEN^expect (or fails on ^error); returns the record."""
        self.token += 1
        token = self.token
        start = self.mark()
        print(f"-> {token}{text}", flush=True)
        self.proc.stdin.write(f"{token}{text}\n")
        self.proc.stdin.flush()
        i, line = self.wait_for(rf"^{token}\^", start, f"the reply to {text}")
        if not line.startswith(f"{token}^{expect}"):
            raise Fail(f"{text}: {line}")
        return line

    def value(self, expression, thread=2):
        line = self.command(f'-data-evaluate-expression --thread {thread} "{expression}"')
        m = re.search(r'value="(-?\d+)"', line)
        if not m:
            raise Fail(f"{expression}: {line}")
        return int(m.group(1))

    def thread_states(self):
        line = self.command("-thread-info")
        return {int(tid): state for tid, state in re.findall(r'\{id="(\d+)",.*?state="(\w+)"', line)}

    def stopped_threads_since(self, start):
        with self.cv:
            lines = [l for l in self.lines[start:] if l]
        return {int(m.group(1)) for l in lines if l.startswith("*stopped")
                for m in [re.search(r'thread-id="(\d+)"', l)] if m}


def wait_until(what, predicate):
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            raise Fail(what + f" (not within {TIMEOUT:.0f} s)")
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gdb", required=True)
    ap.add_argument("--kvmgdb", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--log-packets", help="kvmgdb's --log-packets FILE (for debugging the test)")
    args = ap.parse_args()

    log = ["--log-packets", args.log_packets] if args.log_packets else []
    server = subprocess.Popen([args.kvmgdb, "--listen", "127.0.0.1:0", "--cpus", "4"] + log + [args.guest],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    mi = None
    try:
        line = server.stderr.readline()
        m = re.search(r"listening on (\S+)", line)
        if not m:
            raise Fail(f"kvmgdb did not say where it listens: {line!r}")
        threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
        mi = Mi(args.gdb, args.guest)
        if os.environ.get("KVMGDB_MI_DEBUG"):
            mi.command("-gdb-set debug remote 1")
        mi.command("-gdb-set mi-async on")  # as front ends do: commands are taken while threads run
        mi.command("-gdb-set non-stop on")
        start = mi.mark()
        mi.command(f"-target-select remote {m.group(1)}", expect="connected")
        # gdb 13 takes one stop while it connects and the other three right after
        # (stub/session_threads.cpp), each as a *stopped record.
        wait_until("every thread reported stopped after connecting",
                   lambda: mi.stopped_threads_since(start) >= {1, 2, 3, 4})
        check(mi.thread_states() == {1: "stopped", 2: "stopped", 3: "stopped", 4: "stopped"},
              "four threads, all stopped after connecting")

        mi.command('-data-evaluate-expression "rounds=0"')
        mi.command("-break-insert vcpu1_work")
        start = mi.mark()
        mi.command("-exec-continue --thread 2", expect="running")
        _, stop = mi.wait_for(r'^\*stopped,reason="breakpoint-hit"', start, "the breakpoint hit")
        check('thread-id="2"' in stop and 'func="vcpu1_work"' in stop, "thread 2 stopped at vcpu1_work: " + stop[:120])
        states = mi.thread_states()
        check(states[1] == states[3] == states[4] == "stopped", "the threads not resumed stay stopped")
        check(mi.value("counter[0]") == 0 and mi.value("counter[2]") == 0, "and did not run")

        mi.command("-break-delete")
        for tid in (1, 3, 4):
            mi.command(f"-exec-continue --thread {tid}", expect="running")
        first = [mi.value(f"counter[{i}]") for i in range(4)]
        time.sleep(0.3)
        second = [mi.value(f"counter[{i}]") for i in range(4)]
        check(all(second[i] > first[i] for i in (0, 2, 3)),
              f"threads 1, 3, 4 count while thread 2 is stopped, memory read meanwhile: {first} -> {second}")
        check(second[1] == first[1], "thread 2's counter stays")
        check(mi.thread_states() == {1: "running", 2: "stopped", 3: "running", 4: "running"},
              "-thread-info: 1, 3, 4 running, 2 stopped")
        # The same read with a running thread selected (its paging from when it was resumed).
        check(mi.value("counter[1]", thread=1) == second[1], "memory read with a running thread selected")

        start = mi.mark()
        mi.command("-exec-interrupt --thread 3")
        _, stop = mi.wait_for(r'^\*stopped', start, "thread 3's stop")
        check('thread-id="3"' in stop, "-exec-interrupt --thread 3 stops thread 3: " + stop[:120])
        first = [mi.value(f"counter[{i}]") for i in range(4)]
        time.sleep(0.3)
        second = [mi.value(f"counter[{i}]") for i in range(4)]
        check(second[2] == first[2] and second[0] > first[0] and second[3] > first[3],
              f"thread 3 stopped alone: {first} -> {second}")

        start = mi.mark()
        mi.command("-exec-interrupt --all")
        wait_until("threads 1 and 4 stop on -exec-interrupt --all",
                   lambda: mi.stopped_threads_since(start) >= {1, 4})
        check(set(mi.thread_states().values()) == {"stopped"}, "every thread stopped after -exec-interrupt --all")
        first = [mi.value(f"counter[{i}]") for i in range(4)]
        time.sleep(0.2)
        check([mi.value(f"counter[{i}]") for i in range(4)] == first, "no counter moves")

        mi.command('-data-evaluate-expression "keep_going=0"')
        start = mi.mark()
        mi.command("-exec-continue --all", expect="running")
        _, end = mi.wait_for(r'^\*stopped,reason="exited', start, "the exit")
        check(end.startswith('*stopped,reason="exited-normally"'), "the guest exited normally once every vCPU halted")
        mi.command("-gdb-exit", expect="exit")
        status = server.wait(timeout=TIMEOUT)
        check(status == 0, f"kvmgdb exits 0 (got {status})")
        print("PASSED (mi_nonstop.py)")
        return 0
    except Fail as e:
        print("FAIL: " + str(e), flush=True)
        if mi:
            print("---- gdb/MI ----\n" + "\n".join(str(l) for l in mi.lines[-60:]))
        return 1
    finally:
        for p in (mi.proc if mi else None, server):
            if p and p.poll() is None:
                p.kill()
                p.wait()


if __name__ == "__main__":
    sys.exit(main())
