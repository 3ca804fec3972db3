#!/usr/bin/env python3
"""VS Code's cppdbg (ms-vscode.cpptools, its MIEngine) against kvmgdb: gdb driven over
MI the way cppdbg drives it for a launch with "miDebuggerServerAddress".

  mi_cppdbg.py --gdb GDB --kvmgdb KVMGDB --guests DIR [--bits 64|32|both]

MIEngine's sequence (src/MIDebugEngine/Engine.Impl/DebuggedProcess.cs and
src/MICore/CommandFactories/*.cs in microsoft/MIEngine): `-gdb-set mi-async on`
(`-gdb-set target-async on` on gdb before 11), the launch.json template's setup
commands (`-enable-pretty-printing`, `-gdb-set disassembly-flavor intel`),
`-interpreter-exec console "set pagination off"`, `-file-exec-and-symbols`,
`show architecture` (how it picks x86 or x64), `-break-insert main`,
`-target-select remote HOST:PORT`; then the editor's breakpoints with
`-break-insert -f`, the launch's `-exec-continue`, and on each stop what the call
stack, variables, watch, registers and memory views ask: `-thread-info`,
`-stack-list-frames 0 1000`, `-stack-list-variables`, `-var-create - * "EXPR"`,
`-var-evaluate-expression`, `-var-list-children --simple-values`,
`-data-list-register-names`, `-data-list-register-values x`,
`-data-read-memory-bytes`. The entry breakpoint (main) is hit and then deleted, as
MIEngine's OnEntrypointHit does. Pause is `-exec-interrupt`, and MIEngine takes the
stop as its own pause only for reason "signal-received" with signal-name "SIGINT"
(MICommandFactory.IsAsyncBreakSignal), so that is checked exactly. Step over is
`-exec-next`, Disconnect is `-target-detach`, Stop is `kill`.

Two sessions per word size: cguest (breakpoints, frames, variables, registers,
memory, next, detach: kvmgdb exits 0 once the guest ran to its end) and spin
(-exec-interrupt of the running guest, twice, then kill: kvmgdb exits 0). gdb
starts with no file (`gdb --interpreter=mi3 -nx`), as cppdbg starts it, and gets
the guest from -file-exec-and-symbols. Prints what it checked ("ok: ..."); on a
failure, the tail of the MI transcript. Exit status 0 = pass.
"""

import argparse
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from guest_image import Fail, elf_bytes  # noqa: E402

TIMEOUT = 90.0  # per wait; the with-kvm VM runs the guest under TCG
SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "guests", "cguest.c")


def check(condition, what):
    if not condition:
        raise Fail(what)
    print("ok: " + what, flush=True)


# ---- MI output syntax (gdb manual, "GDB/MI Output Syntax") ----

def parse_results(text):
    """`a="1",b={c="2"},d=[...]` -> dict. Lists of results (stack=[frame={...},...])
    become lists of their values; tuples become dicts."""
    pos = 0

    def cstring():
        nonlocal pos
        pos += 1  # opening quote
        out = []
        while text[pos] != '"':
            c = text[pos]
            if c == "\\":
                pos += 1
                c = text[pos]
                if c in "01234567":
                    digits = re.match(r"[0-7]{1,3}", text[pos:]).group(0)
                    out.append(chr(int(digits, 8)))
                    pos += len(digits)
                    continue
                c = {"n": "\n", "t": "\t", "r": "\r"}.get(c, c)
            out.append(c)
            pos += 1
        pos += 1
        return "".join(out)

    def value():
        nonlocal pos
        c = text[pos]
        if c == '"':
            return cstring()
        close = "}" if c == "{" else "]"
        pos += 1
        items = []
        named = {}
        while text[pos] != close:
            if text[pos] == ",":
                pos += 1
            if text[pos] in '"{[':
                items.append(value())
            else:
                name, v = result()
                named[name] = v
                items.append(v)
        pos += 1
        return named if c == "{" else items

    def result():
        nonlocal pos
        eq = text.index("=", pos)
        name = text[pos:eq]
        pos = eq + 1
        return name, value()

    out = {}
    while pos < len(text):
        if text[pos] == ",":
            pos += 1
        name, v = result()
        out[name] = v
    return out


def record(line):
    """'12^done,a="b"' or '*stopped,...' -> (class, dict)."""
    m = re.match(r"^\d*[\^*=]([a-z-]+),?(.*)$", line)
    return m.group(1), parse_results(m.group(2))


class Mi:
    """gdb --interpreter=mi3 on pipes: tokens on commands, output collected by a reader thread."""

    def __init__(self, gdb):
        self.proc = subprocess.Popen([gdb, "--interpreter=mi3", "-nx", "-q"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines = []        # gdb's output
        self.transcript = []   # both directions, for the failure report
        self.cv = threading.Condition()
        self.token = 1000      # MIEngine numbers its commands from 1001
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.transcript.append(line.rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.lines.append(None)  # gdb went away
            self.cv.notify_all()

    def mark(self):
        with self.cv:
            return len(self.lines)

    def wait_for(self, pattern, start, what):
        """The index and text of the first line from `start` on matching `pattern`."""
        deadline = time.monotonic() + TIMEOUT
        rx = re.compile(pattern)
        with self.cv:
            while True:
                for i in range(start, len(self.lines)):
                    if self.lines[i] is None:
                        raise Fail(f"gdb exited while waiting for {what}")
                    if rx.search(self.lines[i]):
                        return i, self.lines[i]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Fail(f"no {what} within {TIMEOUT:.0f} s")
                self.cv.wait(left)

    def command(self, text, expect="done"):
        """Sends TOKEN-text and waits for TOKEN^...; fails unless the class is `expect`
        (None: any, as for MIEngine's ignoreFailures commands). Returns (class, results)."""
        self.token += 1
        token = self.token
        start = self.mark()
        with self.cv:
            self.transcript.append(f"<- {token}{text}")
        self.proc.stdin.write(f"{token}{text}\n")
        self.proc.stdin.flush()
        _, line = self.wait_for(rf"^{token}\^", start, f"the reply to {text}")
        cls, results = record(line)
        if expect is not None and cls != expect:
            raise Fail(f"{text}: {line}")
        self.last_start = start
        return cls, results

    def console_since(self, start):
        """The console stream (~"...") gdb wrote since `start`, unescaped."""
        with self.cv:
            return "".join(parse_results('s=' + l[1:])["s"] for l in self.lines[start:] if l and l[0] == "~")

    def stopped(self, start, what):
        """The next *stopped record from `start` on, parsed."""
        _, line = self.wait_for(r"^\*stopped", start, what)
        return record(line)[1]


class Kvmgdb:
    def __init__(self, kvmgdb, guest):
        self.proc = subprocess.Popen([kvmgdb, "--listen", "127.0.0.1:0", guest],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        m = re.search(r"listening on (\S+)", line)
        if not m:
            raise Fail(f"kvmgdb did not say where it listens: {line!r}")
        self.address = m.group(1)
        self.stdout = []
        self.stderr = [line.rstrip("\n")]
        for stream, sink in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr)):
            threading.Thread(target=lambda s=stream, k=sink: [k.append(l.rstrip("\n")) for l in s],
                             daemon=True).start()

    def printed(self, line):
        """Whether the guest prints `line` (waits up to TIMEOUT for it)."""
        deadline = time.monotonic() + TIMEOUT
        while line not in self.stdout and time.monotonic() < deadline:
            time.sleep(0.05)
        return line in self.stdout

    def exit_status(self):
        try:
            return self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Fail(f"kvmgdb still running {TIMEOUT:.0f} s after the session ended") from None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def setup(mi, guest, bits, async_option):
    """MIEngine's launch commands before its entry breakpoint and the connection."""
    mi.command(f"-gdb-set {async_option} on")
    mi.command("-enable-pretty-printing", expect=None)
    mi.command("-gdb-set disassembly-flavor intel")
    mi.command('-interpreter-exec console "set pagination off"')
    mi.command(f"-file-exec-and-symbols {guest}")
    mi.command('-interpreter-exec console "show architecture"')
    arch = mi.console_since(mi.last_start)
    # ParseTargetArchitectureResult looks for "x86-64", then "i386".
    want = "x86-64" if bits == 64 else "i386"
    check(want in arch and (bits == 32) == ("x86-64" not in arch),
          f"show architecture names {want}, as MIEngine needs: {arch.strip()}")


def value_of(mi, expression):
    return mi.command(f'-data-evaluate-expression "{expression}"')[1]["value"]


def address_of(mi, expression):
    """The address gdb prints for `&x`: '(int (*)(int)) 0x100016 <factorial>' -> 0x100016."""
    value = value_of(mi, "&" + expression)
    m = re.search(r"\b0x[0-9a-f]+\b", value)
    if not m:
        raise Fail(f"no address in gdb's &{expression}: {value}")
    return int(m.group(0), 16)


def no_entry_values(variables):
    """Without gdb's `n@entry` (the value at entry, from DWARF call-site info; gdb adds
    it where it can, with its default `set print entry-values default`)."""
    return [v for v in variables if "@" not in v["name"]]


def frame_line(frame):
    return int(frame.get("line", 0))


def cguest_session(args, bits):
    guest = os.path.join(args.guests, f"cguest{bits}.elf")
    print(f"== cguest{bits}.elf", flush=True)
    server = Kvmgdb(args.kvmgdb, guest)
    mi = Mi(args.gdb)
    try:
        setup(mi, guest, bits, "mi-async")
        _, main_bp = mi.command("-break-insert main", expect=None)
        check(main_bp.get("bkpt", {}).get("func") == "main", "-break-insert main (the entry breakpoint) before connecting")
        mi.command(f"-target-select remote {server.address}", expect="connected")
        _, info = mi.command("-thread-info")
        threads = info["threads"]
        check(len(threads) == 1 and threads[0]["state"] == "stopped" and info.get("current-thread-id") == "1",
              "-thread-info after connecting: one thread, stopped, current")
        entry = int(threads[0]["frame"]["addr"], 16)
        check(entry == address_of(mi, "_start"), f"the thread is at _start ({entry:#x})")
        mi.command('-interpreter-exec console "info sharedlibrary"')  # MIEngine's CheckModules

        # The editor's breakpoints: a function and a file:line (the full path, as VS Code sends it).
        _, bp = mi.command("-break-insert -f factorial")
        check(bp["bkpt"]["func"] == "factorial" and bp["bkpt"]["number"] == "2", "-break-insert -f factorial")
        _, bp = mi.command(f"-break-insert -f {SOURCE}:46")
        check(bp["bkpt"]["line"] == "46" and bp["bkpt"]["func"] == "main", f"-break-insert -f {SOURCE}:46 (in main)")

        start = mi.mark()
        mi.command("-exec-continue", expect="running")
        stop = mi.stopped(start, "the stop at main")
        check(stop["reason"] == "breakpoint-hit" and stop["bkptno"] == "1" and stop["frame"]["func"] == "main",
              "*stopped at main: reason breakpoint-hit, bkptno 1")
        mi.command("-break-delete 1")  # OnEntrypointHit deletes the entry breakpoint

        start = mi.mark()
        mi.command("-exec-continue", expect="running")
        stop = mi.stopped(start, "the stop in factorial")
        frame = stop["frame"]
        check(stop["reason"] == "breakpoint-hit" and stop["bkptno"] == "2" and frame["func"] == "factorial"
              and no_entry_values(frame["args"]) == [{"name": "n", "value": "5"}] and frame["file"].endswith("cguest.c")
              and 19 <= frame_line(frame) <= 20 and stop["thread-id"] == "1",
              f"*stopped in factorial(n=5) at cguest.c:{frame_line(frame)}, thread 1, breakpoint-hit bkptno 2")
        factorial = address_of(mi, "factorial")
        check(int(frame["addr"], 16) == factorial, f"the frame's addr is factorial's ({factorial:#x})")

        # What MIEngine asks on a stop, thread and frame selected first (ThreadFrameCmdAsync).
        mi.command("-thread-select 1")
        _, frames = mi.command("-stack-list-frames 0 1000")
        names = [f["func"] for f in frames["stack"]]
        # gdb stops at main (`set backtrace past-main` is off), as for a program.
        check(names == ["factorial", "main"], f"-stack-list-frames: {names}")
        check(frame_line(frames["stack"][1]) == 41, "frame 1 is main at cguest.c:41 (the call)")
        _, args_ = mi.command("-stack-list-arguments 2 0 1")  # the call stack window's parameters
        check(no_entry_values(args_["stack-args"][0]["args"]) == [{"name": "n", "type": "int", "value": "5"}],
              "-stack-list-arguments 2: n = 5 in frame 0")
        _, variables = mi.command("-stack-list-variables --simple-values")
        check(no_entry_values(variables["variables"]) == [{"name": "n", "arg": "1", "type": "int", "value": "5"}],
              "-stack-list-variables --simple-values: n = 5 (an argument)")
        _, names_only = mi.command("-stack-list-variables 0")  # what GetLocalsAndParameters asks
        check([v["name"] for v in no_entry_values(names_only["variables"])] == ["n"], "-stack-list-variables 0: n")

        _, var = mi.command('-var-create - * "n"')
        check(var["value"] == "5" and var["type"] == "int", '-var-create - * "n": 5, int')
        _, ev = mi.command(f"-var-evaluate-expression {var['name']}")
        check(ev["value"] == "5", f"-var-evaluate-expression {var['name']}: 5")
        _, var = mi.command('-var-create - * "origin"')
        check(var["numchild"] == "2", '-var-create - * "origin": a struct with 2 children')
        _, children = mi.command(f'-var-list-children --simple-values "{var["name"]}" 0 1000')
        fields = {c["exp"]: c["value"] for c in children["children"]}
        check(fields == {"x": "3", "y": "4"}, f"-var-list-children: origin = {fields}")
        _, var = mi.command('-var-create - * "n * 2 + 1"')
        check(var["value"] == "11", "a watch expression: n * 2 + 1 = 11")

        _, reg_names = mi.command("-data-list-register-names")
        reg_names = reg_names["register-names"]
        _, regs = mi.command("-data-list-register-values x")
        regs = {reg_names[int(r["number"])]: r["value"] for r in regs["register-values"]}
        pc = "rip" if bits == 64 else "eip"
        check(int(regs[pc], 16) == factorial, f"-data-list-register-values x: {pc} = {regs[pc]} (factorial)")
        if bits == 64:
            check(int(regs["rdi"], 16) == 5, f"rdi = {regs['rdi']} (n, the first argument)")
        sp = "rsp" if bits == 64 else "esp"
        check(0x100000 < int(regs[sp], 16) <= 64 << 20, f"{sp} = {regs[sp]}: in guest RAM above the image")
        # As kvmgdb's mode setup makes them (src/x86/cpu_mode.cpp): PE MP ET NE (+PG), EFER.LME|LMA.
        cr0, efer = (0x80000033, 0x500) if bits == 64 else (0x33, 0)
        check("cr0" in regs and int(regs["cr0"], 16) == cr0, f"cr0 = {regs.get('cr0')} from the target description")
        check("efer" in regs and int(regs["efer"], 16) == efer, f"efer = {regs.get('efer')}")

        _, mem = mi.command('-data-read-memory-bytes "&origin" 8')
        check(mem["memory"][0]["contents"] == "0300000004000000", "-data-read-memory-bytes &origin 8: {3, 4}")
        _, mem = mi.command(f"-data-read-memory-bytes {factorial:#x} 16")
        want = elf_bytes(guest, factorial, 16).hex()
        check(mem["memory"][0]["contents"] == want, f"-data-read-memory-bytes factorial 16: the ELF's bytes ({want})")

        # Step over: from the first line of factorial to another line of it.
        before = frame_line(frame)
        start = mi.mark()
        mi.command("-exec-next", expect="running")
        stop = mi.stopped(start, "the stop after -exec-next")
        check(stop["reason"] == "end-stepping-range" and stop["frame"]["func"] == "factorial"
              and frame_line(stop["frame"]) != before,
              f"-exec-next: end-stepping-range, factorial line {before} -> {frame_line(stop['frame'])}")

        # On to cguest.c:46, then step over the call to sum_to (its breakpoint-free body runs).
        mi.command("-break-delete 2")
        start = mi.mark()
        mi.command("-exec-continue", expect="running")
        stop = mi.stopped(start, "the stop at cguest.c:46")
        check(stop["reason"] == "breakpoint-hit" and stop["bkptno"] == "3" and frame_line(stop["frame"]) == 46,
              "*stopped at cguest.c:46, breakpoint-hit bkptno 3")
        _, variables = mi.command("-stack-list-variables --simple-values")
        values = {v["name"]: v.get("value") for v in variables["variables"]}
        check(values.get("f") == "120", f"-stack-list-variables in main: f = {values.get('f')}")
        start = mi.mark()
        mi.command("-exec-next", expect="running")
        stop = mi.stopped(start, "the stop after stepping over sum_to")
        check(stop["reason"] == "end-stepping-range" and frame_line(stop["frame"]) == 47
              and stop["frame"]["func"] == "main", "-exec-next over sum_to(10): main, line 46 -> 47")
        check(value_of(mi, "s") == "55" and value_of(mi, "counter") == "10", "s = 55 and counter = 10 after it")

        mi.command("-target-detach")
        status = server.exit_status()
        check(status == 0, f"-target-detach: the guest ran on, kvmgdb exited {status}")
        check(server.printed("cguest done"), "the guest printed its last line after the detach")
        mi.command("-gdb-exit", expect="exit")
    except Exception:
        report(mi, server)
        raise
    finally:
        mi.proc.kill()
        mi.proc.wait()
        server.stop()


def spin_session(args, bits):
    name = "spin-long.elf" if bits == 64 else "spin32.elf"
    guest = os.path.join(args.guests, name)
    print(f"== {name}", flush=True)
    server = Kvmgdb(args.kvmgdb, guest)
    mi = Mi(args.gdb)
    try:
        # MIEngine's fallback for gdb before 11; gdb 13 still takes it (an alias).
        setup(mi, guest, bits, "target-async")
        mi.command("-break-insert main", expect=None)
        mi.command(f"-target-select remote {server.address}", expect="connected")
        start = mi.mark()
        mi.command("-exec-continue", expect="running")
        stop = mi.stopped(start, "the stop at main")
        check(stop["reason"] == "breakpoint-hit" and stop["frame"]["func"] == "main", "*stopped at main")
        mi.command("-break-delete 1")  # OnEntrypointHit: the entry breakpoint goes
        start = mi.mark()
        mi.command("-exec-continue", expect="running")
        mi.wait_for(r'^\*running,thread-id="all"', start, "*running")
        # Nothing else is sent while it runs: a remote all-stop target takes no commands
        # then, and MIEngine sends none (GdbMICommandFactory.AllowCommandsWhileRunning).
        check(server.printed("spinning"), "*running, and the guest runs its loop (it printed \"spinning\")")

        start = mi.mark()
        mi.command("-exec-interrupt")
        stop = mi.stopped(start, "the stop after -exec-interrupt")
        check(stop["reason"] == "signal-received" and stop.get("signal-name") == "SIGINT"
              and stop.get("thread-id") == "1",
              f"-exec-interrupt: *stopped, reason signal-received, SIGINT (MIEngine's pause): "
              f"{stop.get('signal-meaning')} in {stop['frame'].get('func')}")
        _, frames = mi.command("-stack-list-frames 0 1000")
        names = [f.get("func") for f in frames["stack"]]
        check("spin_forever" in names and "main" in names, f"-stack-list-frames: in the loop ({names})")
        count = int(value_of(mi, "spin_counter"))
        check(count >= 1000, f"spin_counter = {count}: past the announcement")
        # Resume and pause a second time: the loop ran on in between.
        start = mi.mark()
        mi.command("-exec-continue", expect="running")
        mi.wait_for(r"^\*running", start, "*running")
        time.sleep(0.5)
        start = mi.mark()
        mi.command("-exec-interrupt")
        stop = mi.stopped(start, "the second stop")
        check(stop["reason"] == "signal-received" and stop.get("signal-name") == "SIGINT", "a second pause")
        later = int(value_of(mi, "spin_counter"))
        check(later > count, f"spin_counter moved in between: {count} -> {later}")

        mi.command("kill")  # MIEngine's Terminate (Stop): gdb's CLI kill
        status = server.exit_status()
        check(status == 0, f"kill: kvmgdb exited {status}")
        mi.command("-gdb-exit", expect="exit")
    except Exception:
        report(mi, server)
        raise
    finally:
        mi.proc.kill()
        mi.proc.wait()
        server.stop()


def report(mi, server):
    print("---- gdb/MI transcript (last 80 lines; <- what was sent) ----")
    with mi.cv:
        print("\n".join(str(l) for l in mi.transcript[-80:]))
    print("---- kvmgdb stderr ----\n" + "\n".join(server.stderr[-20:]))
    print("---- guest output ----\n" + "\n".join(server.stdout[-10:]), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gdb", required=True)
    ap.add_argument("--kvmgdb", required=True)
    ap.add_argument("--guests", required=True, help="the built guests (cguest64.elf, spin-long.elf, ...)")
    ap.add_argument("--bits", choices=("64", "32", "both"), default="both")
    args = ap.parse_args()
    try:
        for bits in ((64, 32) if args.bits == "both" else (int(args.bits),)):
            cguest_session(args, bits)
            spin_session(args, bits)
    except Fail as e:
        print("FAIL: " + str(e), flush=True)
        return 1
    print("PASSED (mi_cppdbg.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
