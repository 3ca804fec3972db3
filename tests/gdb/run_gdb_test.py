#!/usr/bin/env python3
"""Runs one real-gdb scenario against kvmgdb and checks what came out.

  run_gdb_test.py --kvmgdb BUILD/kvmgdb --guest GUEST.elf --script scenarios/X.py
                  --expect scenarios/X.expect [--status N] [--unix] [--interrupt-on REGEX]
                  [--timeout SECS] [-- KVMGDB_ARGS...]

1. starts `kvmgdb --listen 127.0.0.1:0 KVMGDB_ARGS GUEST` (or unix:TMPDIR/kvmgdb.sock
   with --unix) and waits for its "listening on ADDR" line on stderr (no sleeps);
2. runs `gdb -batch -nx -x gdbtest_prelude.py -x SCRIPT GUEST` with KVMGDB_ADDR=ADDR
   and KVMGDB_MODE (kvmgdb's --mode argument) in the environment (the prelude
   defines connect(), run(), expect(), MODE, ...);
3. with --interrupt-on, sends SIGINT to gdb (a Ctrl-C) once kvmgdb's stdout (the
   guest's console) matches REGEX;
4. checks gdb's exit status (0), kvmgdb's (--status, default 0), and the
   expectations file: under [gdb], [stdout] (guest console) and [stderr]
   (kvmgdb's own), one regex per line, which must match lines of that output in
   that order (re.search); a line starting with `!` is a regex no line may match.
On failure it prints every output with the lines that matched marked, and
which expectation failed. Exit status 0 = pass, 1 = fail.
"""

import argparse
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# How long kvmgdb may run on once gdb has exited (detach lets a guest finish on its own).
AFTER_GDB = 30.0


def parse_expectations(path):
    sections = {"gdb": [], "stdout": [], "stderr": []}
    current = "gdb"
    with open(path) as f:
        for number, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            m = re.fullmatch(r"\[(gdb|stdout|stderr)\]", line.strip())
            if m:
                current = m.group(1)
                continue
            negative = line.startswith("!")
            pattern = line[1:] if negative else line
            try:
                regex = re.compile(pattern)
            except re.error as e:
                sys.exit(f"{path}:{number}: bad regex {pattern!r}: {e}")
            sections[current].append((negative, pattern, regex, number))
    return sections


def check_section(name, text, expectations):
    """Returns (ok, report lines)."""
    lines = text.splitlines()
    matched = {}
    problems = []
    position = 0
    for negative, pattern, regex, number in expectations:
        if negative:
            for i, line in enumerate(lines):
                if regex.search(line):
                    problems.append(f"line {i + 1} of {name} matches forbidden `!{pattern}` (expect line {number})")
                    matched[i] = "!"
            continue
        for i in range(position, len(lines)):
            if regex.search(lines[i]):
                matched[i] = "="
                position = i + 1
                break
        else:
            problems.append(f"{name}: no line after line {position} matches `{pattern}` (expect line {number})")
    report = []
    if problems:
        report.append(f"---- {name} (= matched an expectation, ! matched a forbidden one) ----")
        for i, line in enumerate(lines):
            report.append(f"{matched.get(i, ' ')} {i + 1:4} | {line}")
        report.extend("  " + p for p in problems)
    return not problems, report


def mode_of(kvmgdb_args):
    """The --mode given to kvmgdb ("" when none): scenarios shared by the four modes read it."""
    for i, arg in enumerate(kvmgdb_args):
        if arg == "--mode" and i + 1 < len(kvmgdb_args):
            return kvmgdb_args[i + 1]
        if arg.startswith("--mode="):
            return arg[len("--mode="):]
    return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kvmgdb", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--script", required=True)
    ap.add_argument("--expect", required=True)
    ap.add_argument("--status", type=int, default=0, help="kvmgdb's expected exit status")
    ap.add_argument("--unix", action="store_true", help="listen on a Unix socket instead of TCP")
    ap.add_argument("--interrupt-on", help="SIGINT gdb once the guest console matches this regex")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--gdb", default=os.environ.get("GDB", "gdb"))
    ap.add_argument("kvmgdb_args", nargs="*")
    args = ap.parse_args()

    expectations = parse_expectations(args.expect)
    deadline = time.monotonic() + args.timeout
    tmp = tempfile.TemporaryDirectory(prefix="kvmgdb-gdb-")
    listen = f"unix:{tmp.name}/kvmgdb.sock" if args.unix else "127.0.0.1:0"
    kvmgdb_cmd = [args.kvmgdb, "--listen", listen, *args.kvmgdb_args, args.guest]
    kvmgdb = subprocess.Popen(kvmgdb_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    outputs = {"stdout": b"", "stderr": b"", "gdb": b""}
    failures = []
    gdb = None
    interrupted = False

    sel = selectors.DefaultSelector()
    sel.register(kvmgdb.stdout, selectors.EVENT_READ, "stdout")
    sel.register(kvmgdb.stderr, selectors.EVENT_READ, "stderr")

    def pump(timeout):
        """Reads what is ready; returns False once every stream hit EOF."""
        nonlocal interrupted
        if not sel.get_map():
            return False
        for key, _ in sel.select(timeout):
            data = os.read(key.fileobj.fileno(), 65536)
            if not data:
                sel.unregister(key.fileobj)
                continue
            outputs[key.data] += data
        if (args.interrupt_on and gdb and not interrupted and gdb.poll() is None
                and re.search(args.interrupt_on, outputs["stdout"].decode(errors="replace"))):
            gdb.send_signal(signal.SIGINT)  # what Ctrl-C at gdb's prompt does
            interrupted = True
        return True

    # 1. Wait for "listening on ADDR".
    address = None
    while address is None:
        m = re.search(rb"^listening on (\S+)$", outputs["stderr"], re.M)
        if m:
            address = m.group(1).decode()
            break
        if time.monotonic() > deadline or not pump(max(0.0, deadline - time.monotonic())):
            break
    if address is None:
        failures.append("kvmgdb never printed 'listening on ADDR'")
    else:
        # gdb's own syntax: host:port, or the socket path for a Unix socket.
        target = address[len("unix:"):] if address.startswith("unix:") else address
        env = dict(os.environ, KVMGDB_ADDR=target, KVMGDB_GUEST=args.guest, KVMGDB_MODE=mode_of(args.kvmgdb_args),
                   PYTHONDONTWRITEBYTECODE="1")
        gdb_cmd = [args.gdb, "-batch", "-nx", "-x", os.path.join(HERE, "gdbtest_prelude.py"), "-x", args.script,
                   args.guest]
        gdb = subprocess.Popen(gdb_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=env)
        sel.register(gdb.stdout, selectors.EVENT_READ, "gdb")

    # 2. Pump until both exit (or the deadline). Once gdb has gone, kvmgdb gets
    # AFTER_GDB seconds to end too: a scenario that failed half-way leaves a guest
    # running, and waiting out the whole deadline for it only costs CI minutes.
    gdb_gone_at = None
    while time.monotonic() < deadline:
        if gdb is not None and gdb_gone_at is None and gdb.poll() is not None:
            gdb_gone_at = time.monotonic()
            deadline = min(deadline, gdb_gone_at + AFTER_GDB)
        if not pump(min(0.5, max(0.0, deadline - time.monotonic()))):
            break
    timed_out = bool(sel.get_map())
    for name, proc in (("gdb", gdb), ("kvmgdb", kvmgdb)):
        if proc is None:
            continue
        try:
            proc.wait(timeout=0 if timed_out else 10)
        except subprocess.TimeoutExpired:
            when = (f"{AFTER_GDB:.0f} s after gdb exited" if name == "kvmgdb" and gdb_gone_at is not None
                    else f"after {args.timeout:.0f} s")
            failures.append(f"{name} still running {when}: killed")
            proc.kill()
            proc.wait()
    drain_until = time.monotonic() + 5  # a stream held open by some stray process must not hang us
    while time.monotonic() < drain_until and pump(0.1):
        pass

    text = {k: v.decode(errors="replace") for k, v in outputs.items()}
    if gdb is not None and gdb.returncode != 0 and not any("still running" in f for f in failures):
        failures.append(f"gdb exited with status {gdb.returncode}")
    if kvmgdb.returncode != args.status and not any("kvmgdb still running" in f for f in failures):
        failures.append(f"kvmgdb exited with status {kvmgdb.returncode}, expected {args.status}")
    if args.interrupt_on and not interrupted:
        failures.append(f"the guest console never matched --interrupt-on {args.interrupt_on!r}")
    for bad in ("Traceback", "Python Exception", "FAIL: "):
        if bad in text["gdb"]:
            failures.append(f"gdb's output contains {bad!r}")
    report = []
    for name in ("gdb", "stdout", "stderr"):
        ok, lines = check_section(name, text[name], expectations[name])
        if not ok:
            failures.append(f"{name} does not match {os.path.basename(args.expect)}")
            report.extend(lines)

    print("$ " + " ".join(kvmgdb_cmd))
    if failures:
        for name in ("gdb", "stdout", "stderr"):
            if not any(line.startswith(f"---- {name} ") for line in report):
                print(f"---- {name} ----")
                print(text[name], end="" if text[name].endswith("\n") or not text[name] else "\n")
        print("\n".join(report))
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print(text["gdb"], end="")
    print(f"PASSED ({os.path.basename(args.script)}, kvmgdb status {kvmgdb.returncode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
