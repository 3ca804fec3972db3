#!/usr/bin/env python3
"""LLDB against kvmgdb (`gdb-remote`): Debian's lldb 14, mostly in `lldb --batch`.

  lldb_session.py --lldb LLDB --kvmgdb KVMGDB --guests DIR [--log-packets DIR]

Three sessions per word size (64-bit guests in long mode, 32-bit in protected mode),
each against `kvmgdb --listen 127.0.0.1:0 GUEST`:

* smp64.elf / smp32.elf with --cpus 2: the target description (pc at the entry,
  cr0/efer as kvmgdb's mode setup makes them, ymm0 composed from xmm0 and ymm0h),
  `thread list` (a thread per vCPU), a breakpoint in vcpu1_work hit on thread 2,
  `bt` through vcpu_main, `process detach`.
* cguest64.elf / cguest32.elf: breakpoints by name and by file:line, `continue`,
  `bt` (frame names and arguments), `register read` (pc, rdi, cr0, efer),
  `frame variable` (n = 5 in factorial), `memory read` (a global the guest set, the
  code bytes against the ELF file), `thread step-inst` (pc moves to the next
  instruction), `thread step-over` over a call, `expression`, a write watchpoint
  (`watchpoint set variable`), `memory region` (kvmgdb's qMemoryRegionInfo: the
  pc's region executable, an unmapped one without permissions, the non-canonical
  hole or all above 4 GiB as one region), `process detach`:
  the guest runs to its end and kvmgdb exits 0.
* spin-long.elf / spin32.elf: `process interrupt` of the running guest. --batch
  mode runs commands synchronously: `process continue` returns only at the next
  stop (and a SIGINT to lldb then ends lldb, status 2). So this session runs lldb
  as a user at a terminal would, without --batch, commands written to its stdin
  one at a time once the previous one's output came: interactive LLDB is async,
  `process continue` returns at once and `process interrupt` stops the guest.
  Checked: the stop reason (SIGINT), `bt` in the loop, the counter, a second
  continue and interrupt (the counter moved), `process kill` (kvmgdb exits 0).

Prints what it checked ("ok: ..."); exit status 0 = pass.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from guest_image import Fail, elf_bytes  # noqa: E402

TIMEOUT = 120


def check(condition, what, output=""):
    if not condition:
        raise Fail(what + ("\n---- lldb ----\n" + output if output else ""))
    print("ok: " + what, flush=True)


class Server:
    """kvmgdb --listen 127.0.0.1:0 with its output collected."""

    def __init__(self, args, guest, extra=(), on_stdout=None):
        log = []
        if args.log_packets:
            log = ["--log-packets", os.path.join(args.log_packets, os.path.basename(guest) + ".packets")]
        self.proc = subprocess.Popen([args.kvmgdb, "--listen", "127.0.0.1:0", *extra, *log, guest],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        m = re.search(r"listening on (\S+)", line)
        if not m:
            self.stop()
            raise Fail(f"kvmgdb did not say where it listens: {line!r}")
        self.address = m.group(1)
        self.stdout = []
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

        def read():
            for out in self.proc.stdout:
                self.stdout.append(out.rstrip("\n"))
                if on_stdout:
                    on_stdout(out.rstrip("\n"))
        threading.Thread(target=read, daemon=True).start()

    def exit_status(self):
        try:
            return self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Fail(f"kvmgdb still running {TIMEOUT} s after the session") from None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run_lldb(args, guest, commands):
    """lldb --batch with `commands`; returns (whole output, {index: output of commands[index]})."""
    argv = [args.lldb, "--batch", "--no-lldbinit"]
    for c in commands:
        argv += ["-o", c]
    out = subprocess.run(argv + [guest], capture_output=True, text=True, timeout=TIMEOUT * 2).stdout
    # LLDB echoes each command as "(lldb) COMMAND"; what follows, up to the next, is its output.
    # The first echo is the `target create` LLDB runs for the file argument.
    parts = re.split(r"^\(lldb\) (.*)$", out, flags=re.M)
    echoed = parts[3::2]
    outputs = parts[4::2]
    per_command = {}
    for i, (echo, text) in enumerate(zip(echoed, outputs)):
        if i < len(commands) and echo.strip() == commands[i]:
            per_command[i] = text
    return out, per_command


def mode_registers(long_mode):
    """cr0 and efer as kvmgdb's mode setup makes them (src/x86/cpu_mode.cpp): PE MP ET NE,
    and PG in long mode; EFER.LME|LMA."""
    return ("0x0*80000033", "0x0*500") if long_mode else ("0x0*33", "0x0*0")


def smp_session(args, guest, long_mode):
    server = Server(args, guest, ["--cpus", "2"])
    try:
        pc = "rip" if long_mode else "eip"
        regs = "cr0 efer ymm0" if long_mode else "cr0 efer"
        commands = [f"gdb-remote {server.address}", f"register read {pc}", f"register read {regs}", "thread list",
                    "breakpoint set -n vcpu1_work", "continue", "bt", "process detach"]
        out, _ = run_lldb(args, guest, commands)
        # "Process \d+": LLDB names the process by qProcessInfo's pid when the stub gives one.
        check("error: failed to" not in out and re.search(r"^Process \d+ stopped", out, re.M),
              "LLDB connects and takes the target description", out)
        check(re.search(rf"\b{pc} = 0x0*100000\b", out), f"{pc} is the entry (0x100000)", out)
        cr0, efer = mode_registers(long_mode)
        check(re.search(rf"\bcr0 = {cr0}\b", out), "cr0 as the mode setup makes it", out)
        check(re.search(rf"\befer = {efer}\b", out), "efer as the mode setup makes it", out)
        if long_mode:
            check(re.search(r"\bymm0 = \{(0x00 ){31}0x00\}", out), "ymm0 (AVX) composed from xmm0 and ymm0h", out)
        check(re.search(r"thread #1: tid = 0x0001", out) and re.search(r"thread #2: tid = 0x0002", out),
              "thread list: one thread per vCPU", out)
        check(re.search(r"\* thread #2, stop reason = breakpoint 1\.1", out), "the breakpoint is hit on thread 2", out)
        check(re.search(r"frame #1: .*vcpu_main", out), "bt goes through vcpu_main", out)
        check(re.search(r"^Process \d+ detached", out, re.M), "process detach", out)
        status = server.exit_status()
        check(status == 0, f"kvmgdb exits 0 after the detach (got {status})")
    finally:
        server.stop()


def c_session(args, guest, long_mode):
    """Breakpoints, frames, registers, variables, memory and stepping on the C guest."""
    server = Server(args, guest)
    try:
        pc = "rip" if long_mode else "eip"
        image = os.path.basename(guest)
        commands = [
            f"gdb-remote {server.address}",        # 0
            "breakpoint set -n factorial",         # 1
            "breakpoint set -f cguest.c -l 46",    # 2
            "continue",                            # 3
            "bt",                                  # 4
            "register read",                       # 5
            "register read cr0 efer",              # 6
            "frame variable",                      # 7
            "memory read --size 1 --count 8 &origin",      # 8
            "memory read --size 1 --count 16 factorial",   # 9
            "disassemble -n factorial -c 2",       # 10
            "thread step-inst",                    # 11
            "register read pc",                    # 12
            "continue",                            # 13
            "bt",                                  # 14
            "breakpoint delete 1",                 # 15
            "continue",                            # 16
            "frame variable f",                    # 17
            "thread step-over",                    # 18
            "frame variable s",                    # 19
            "expression counter",                  # 20
            "watchpoint set variable watched_value",   # 21
            "continue",                            # 22
            "watchpoint delete 1",                 # 23
            "memory region $pc",                   # 24: qMemoryRegionInfo
            "memory region 0xfff00000",            # 25: not mapped (above RAM / its page tables)
            # 26: the region past the last mapped one (LLDB's region walk ends in a few steps)
            "memory region 0x800000000000" if long_mode else "memory region 0x100000000",
            "process detach",                      # 27
        ]
        out, o = run_lldb(args, guest, commands)
        check(len(o) == len(commands), f"LLDB ran all {len(commands)} commands (--batch stops at a failing one)", out)

        m = re.search(r"Breakpoint 1: where = \S+`factorial at cguest\.c:\d+:\d+, address = (0x[0-9a-f]+)", o[1])
        check(m, "breakpoint set -n factorial: resolved in cguest.c", out)
        factorial = int(m.group(1), 16)
        check(re.search(r"Breakpoint 2: where = \S+`main \+ \d+ at cguest\.c:46:", o[2]),
              "breakpoint set -f cguest.c -l 46: in main", out)
        check(re.search(r"\* thread #1, stop reason = breakpoint 1\.1", o[3])
              and re.search(rf"frame #0: 0x0*{factorial:x} {re.escape(image)}`factorial\(n=5\) at cguest\.c:", o[3]),
              f"continue: stopped at breakpoint 1.1, factorial(n=5) at {factorial:#x}", out)
        frames = re.findall(r"frame #(\d+): 0x[0-9a-f]+ \S+`(\w+)(\([^)]*\))?(?: at (\S+))?", o[4])
        check([(f[1], f[2]) for f in frames[:2]] == [("factorial", "(n=5)"), ("main", "")]
              and frames[1][3].startswith("cguest.c:41") and len(frames) == 3
              and frames[2][1] in ("_start", "__guest_start"),
              "bt: factorial(n=5), main at cguest.c:41, the entry: "
              + ", ".join(f"{name}{a}" for _, name, a, _ in frames), out)

        check(re.search(rf"^\s*{pc} = 0x0*{factorial:x}\s+\S+`factorial", o[5], re.M),
              f"register read: {pc} = factorial", out)
        if long_mode:
            check(re.search(r"^\s*rdi = 0x0*5$", o[5], re.M), "register read: rdi = 5 (n)", out)
        sp = re.search(rf"^\s*{'rsp' if long_mode else 'esp'} = (0x[0-9a-f]+)", o[5], re.M)
        check(sp and 0x100000 < int(sp.group(1), 16) <= 64 << 20, "register read: the stack pointer in guest RAM", out)
        cr0, efer = mode_registers(long_mode)
        check(re.search(rf"\bcr0 = {cr0}\b", o[6]) and re.search(rf"\befer = {efer}\b", o[6]),
              "register read cr0 efer: as the mode setup makes them: " + " ".join(o[6].split()), out)
        check(re.search(r"^\(int\) n = 5$", o[7], re.M), "frame variable: (int) n = 5", out)

        check(re.search(r"^0x0*102000: 03 00 00 00 04 00 00 00\b", o[8], re.M),
              "memory read &origin: 03 00 00 00 04 00 00 00 (origin = {3, 4}, set by main)", out)
        code = " ".join(f"{b:02x}" for b in elf_bytes(guest, factorial, 16))
        check(re.search(rf"^0x0*{factorial:x}: {code}\b", o[9], re.M),
              f"memory read factorial: the ELF's bytes ({code}) with the breakpoint inserted", out)

        insns = [int(a, 16) for a in re.findall(r"^(?:->)?\s+(0x[0-9a-f]+) <\+\d+>:", o[10], re.M)]
        check(len(insns) == 2 and insns[0] == factorial, f"disassemble: factorial's first two instructions", out)
        check("stop reason = instruction step into" in o[11], "thread step-inst: stop reason instruction step into", out)
        check(re.search(rf"^\s*{pc} = 0x0*{insns[1]:x}\s", o[12], re.M),
              f"thread step-inst: {pc} {factorial:#x} -> {insns[1]:#x}, the next instruction", out)

        check(re.search(r"stop reason = breakpoint 1\.1", o[13]) and "factorial(n=4)" in o[13],
              "continue from the stepped pc: factorial(n=4) hits the breakpoint", out)
        check(re.search(r"frame #0: .*`factorial\(n=4\)", o[14]) and re.search(r"frame #1: .*`factorial\(n=5\)", o[14]),
              "bt: factorial(n=4) called from factorial(n=5)", out)
        check(re.search(r"stop reason = breakpoint 2\.1", o[16]) and re.search(r"`main at cguest\.c:46", o[16]),
              "breakpoint delete 1, continue: breakpoint 2.1 at cguest.c:46", out)
        check(re.search(r"^\(int\) f = 120$", o[17], re.M), "frame variable f: 120 (factorial(5))", out)
        check("stop reason = step over" in o[18] and re.search(r"`main at cguest\.c:47", o[18]),
              "thread step-over: over sum_to(10) to cguest.c:47", out)
        check(re.search(r"^\(int\) s = 55$", o[19], re.M), "frame variable s: 55 (sum_to(10))", out)
        check(re.search(r"\(volatile int\) \$\d+ = 10$", o[20], re.M), "expression counter: 10", out)
        check(re.search(r"Watchpoint created: Watchpoint 1: addr = 0x[0-9a-f]+ size = 4 state = enabled type = w",
                        o[21]), "watchpoint set variable watched_value: a 4-byte write watchpoint", out)
        check(re.search(r"stop reason = watchpoint 1", o[22]) and re.search(r"old value: 0\s+new value: 1", o[22])
              and re.search(r"`main at cguest\.c:54", o[22]),
              "continue: stop reason = watchpoint 1, old value 0, new value 1, after the store (cguest.c:54)", out)
        # kvmgdb's answer to qMemoryRegionInfo: the region holding the pc, executable
        # (long mode: its 2 MiB page; protected mode: all of RAM, no paging).
        m = re.search(r"^\[(0x[0-9a-f]+)-(0x[0-9a-f]+)\) (r.x)", o[24], re.M)
        check(m and int(m.group(1), 16) <= insns[1] < int(m.group(2), 16),
              f"memory region $pc: a readable, executable region around the pc: {o[24].strip()}", out)
        m = re.search(r"^\[(0x[0-9a-f]+)-(0x[0-9a-f]+)\) ---", o[25], re.M)
        check(m and int(m.group(1), 16) <= 0xfff00000 < int(m.group(2), 16) and int(m.group(2), 16) <= 1 << 64,
              f"memory region 0xfff00000: unmapped, no permissions: {o[25].strip()}", out)
        # One region for all the non-canonical hole (long mode), for all above 4 GiB
        # (a 32-bit mode): LLDB's walk over every region reaches 2^64-1 from there.
        hole = (0x800000000000, 0xffff800000000000) if long_mode else (1 << 32, (1 << 64) - 1)
        m = re.search(r"^\[(0x[0-9a-f]+)-(0x[0-9a-f]+)\) ---", o[26], re.M)
        check(m and (int(m.group(1), 16), int(m.group(2), 16)) == hole,
              f"{commands[26]}: one unmapped region [{hole[0]:#x}, {hole[1]:#x}): {o[26].strip()}", out)
        check(re.search(r"^Process \d+ detached", o[27], re.M), "process detach", out)
        # The packets behind it (kvmgdb's --log-packets): LLDB 14's binary-read probe
        # got `b`, not its own dialect's `OK`, so it read memory with `m` (whose data
        # were checked above), and its connect-time queries were answered.
        with open(os.path.join(args.log_packets, os.path.basename(guest) + ".packets"), errors="replace") as f:
            log = f.read()
        check(re.search(r"<- x0,0\n\S+ -> b\n", log), "the x0,0 probe was answered b", log[-3000:])
        check(re.search(r"<- m[0-9a-f]+,[0-9a-f]+\n", log) and not re.search(r"<- x[0-9a-f]+,[1-9a-f]", log),
              "LLDB 14 then read memory with m, never x", log[-3000:])
        check(re.search(r"<- qHostInfo\n\S+ -> triple:[0-9a-f]+;ptrsize:[48];endian:little;\n", log)
              and re.search(r"<- QListThreadsInStopReply\n\S+ -> OK\n", log),
              "qHostInfo and QListThreadsInStopReply answered", log[-3000:])
        status = server.exit_status()
        check(status == 0, f"the guest ran to its end after the detach: kvmgdb exits {status}")
        check("cguest done" in server.stdout, "and printed its last line")
    finally:
        server.stop()


class InteractiveLldb:
    """lldb without --batch, its stdin a pipe: commands sent one at a time, the output
    collected by a reader thread (LLDB reads commands from a pipe as from a terminal,
    in its usual async mode)."""

    def __init__(self, lldb, guest):
        self.proc = subprocess.Popen([lldb, "--no-lldbinit", guest], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.text = ""
        self.closed = False
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            chunk = os.read(self.proc.stdout.fileno(), 65536)  # prompts come without a newline
            with self.cv:
                if not chunk:
                    self.closed = True
                    self.cv.notify_all()
                    return
                self.text += chunk.decode(errors="replace")
                self.cv.notify_all()

    def command(self, text, until):
        """Sends `text`, waits until the output after it matches `until`; returns that output."""
        with self.cv:
            start = len(self.text)
        self.proc.stdin.write((text + "\n").encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + TIMEOUT
        with self.cv:
            while not re.search(until, self.text[start:], re.M):
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise Fail(f"{text}: no {until!r} in LLDB's output within {TIMEOUT} s\n---- lldb ----\n"
                               + self.text)
                self.cv.wait(left)
            return self.text[start:]

    def quit(self):
        self.proc.stdin.write(b"quit\n")
        self.proc.stdin.flush()
        try:
            return self.proc.wait(timeout=TIMEOUT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def interrupt_session(args, guest):
    """process interrupt of the running guest (interactive LLDB, see the top of this file)."""
    spinning = threading.Event()

    def on_stdout(line):
        if line == "spinning":
            spinning.set()
    server = Server(args, guest, on_stdout=on_stdout)
    lldb = InteractiveLldb(args.lldb, guest)
    try:
        lldb.command(f"gdb-remote {server.address}", r"stop reason = signal SIGTRAP")
        lldb.command("process continue", r"^Process \d+ resuming")
        check(spinning.wait(TIMEOUT), "process continue returns at once, and the guest runs: it printed \"spinning\"")
        out = lldb.command("process status", r"^Process \d+ \w+")
        check(re.search(r"^Process \d+ is running", out, re.M), "process status while it runs: the process is running",
              lldb.text)
        out = lldb.command("process interrupt", r"stop reason = signal \w+")
        check(re.search(r"\* thread #1, stop reason = signal SIGINT", out),
              "process interrupt: the process stopped, stop reason = signal SIGINT", lldb.text)
        out = lldb.command("bt", r"frame #\d+: .*`main\b")
        names = re.findall(r"frame #\d+: 0x[0-9a-f]+ \S+`(\w+)", out)
        check("spin_forever" in names, f"bt: in the loop ({', '.join(names)})", lldb.text)
        out = lldb.command("expression spin_counter", r"\$\d+ = \d+")
        count = int(re.search(r"\$\d+ = (\d+)", out).group(1))
        check(count >= 1000, f"spin_counter = {count}: past the announcement")
        lldb.command("process continue", r"^Process \d+ resuming")
        time.sleep(0.5)
        out = lldb.command("process interrupt", r"stop reason = signal \w+")
        check("stop reason = signal SIGINT" in out, "a second continue and interrupt", lldb.text)
        out = lldb.command("expression spin_counter", r"\$\d+ = \d+")
        later = int(re.search(r"\$\d+ = (\d+)", out).group(1))
        check(later > count, f"spin_counter moved in between: {count} -> {later}")
        # kvmgdb answers LLDB's `k` with X09 (killed), as lldb-server does; without a
        # reply LLDB 14 says "exited with status = 6 ... failed to send the k packet".
        out = lldb.command("process kill", r"^Process \d+ \w+")
        check(re.search(r"^Process \d+ exited with status = 9\b", out, re.M) and "failed to send" not in out,
              "process kill: the process exited, killed (X09)", lldb.text)
        status = server.exit_status()
        check(status == 0, f"kvmgdb exits 0 after the kill (got {status})")
        check(lldb.quit() == 0, "quit: lldb exits 0")
    finally:
        if lldb.proc.poll() is None:
            lldb.proc.kill()
            lldb.proc.wait()
        server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lldb", required=True)
    ap.add_argument("--kvmgdb", required=True)
    ap.add_argument("--guests", required=True)
    ap.add_argument("--log-packets", metavar="DIR", help="kvmgdb's packet log of each session, as DIR/GUEST.packets")
    args = ap.parse_args()
    # The packet logs are read back by c_session (what LLDB asked and got).
    scratch = tempfile.TemporaryDirectory(prefix="kvmgdb-lldb-")
    if not args.log_packets:
        args.log_packets = scratch.name
    try:
        for bits, long_mode in ((64, True), (32, False)):
            print(f"== smp{bits}.elf", flush=True)
            smp_session(args, f"{args.guests}/smp{bits}.elf", long_mode)
            print(f"== cguest{bits}.elf", flush=True)
            c_session(args, f"{args.guests}/cguest{bits}.elf", long_mode)
            spin = "spin-long.elf" if long_mode else "spin32.elf"
            print(f"== {spin}", flush=True)
            interrupt_session(args, f"{args.guests}/{spin}")
    except (Fail, subprocess.TimeoutExpired) as e:
        print("FAIL: " + str(e), flush=True)
        return 1
    print("PASSED (lldb_session.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
