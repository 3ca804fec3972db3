#!/usr/bin/env python3
"""Runs one real-gdb scenario against kvmgdb and checks what came out.

  run_gdb_test.py --kvmgdb BUILD/kvmgdb --guest GUEST.elf --script scenarios/X.py
                  --expect scenarios/X.expect [--status N] [--unix] [--interrupt-on REGEX]
                  [--timeout SECS] [-- KVMGDB_ARGS...]
  run_gdb_test.py --check-expect FILE.expect...   (only parse them)
  run_gdb_test.py --self-test                     (the parser and matcher on made-up input)

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
   Each of the three headers must appear exactly once, every expectation under
   one of them: a section with nothing to check is written as its header alone,
   so that a forgotten section is an error rather than silently unchecked. Any
   other line of the form [word] is an error (a mistyped header would otherwise
   become a regex of the section before it); blank lines and # comments are
   ignored. Expectations should match what only kvmgdb can make gdb print
   (values, addresses, stop reports), not gdb's echo of a command or what gdb
   prints whatever the stub answers.
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


SECTIONS = ("gdb", "stdout", "stderr")


class ExpectFileError(Exception):
    pass


def parse_expectations(path):
    """{section: [(negative, pattern, regex, line number)]}; raises ExpectFileError."""
    sections = {}
    current = None
    with open(path) as f:
        for number, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            m = re.fullmatch(r"\[([A-Za-z0-9_ -]*)\]", line.strip())
            if m:
                name = m.group(1)
                if name not in SECTIONS:
                    raise ExpectFileError(f"{path}:{number}: unknown section [{name}] (the sections are "
                                          + ", ".join(f"[{s}]" for s in SECTIONS)
                                          + "; a regex for a whole line in brackets needs a \\[)")
                if name in sections:
                    raise ExpectFileError(f"{path}:{number}: section [{name}] appears twice")
                current = name
                sections[name] = []
                continue
            if current is None:
                raise ExpectFileError(f"{path}:{number}: expectation before the first section header")
            negative = line.startswith("!")
            pattern = line[1:] if negative else line
            try:
                regex = re.compile(pattern)
            except re.error as e:
                raise ExpectFileError(f"{path}:{number}: bad regex {pattern!r}: {e}") from None
            sections[current].append((negative, pattern, regex, number))
    missing = [f"[{s}]" for s in SECTIONS if s not in sections]
    if missing:
        raise ExpectFileError(f"{path}: no section {', '.join(missing)} (write the header alone if there is "
                              "nothing to check there)")
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


def check_files(paths):
    """--check-expect: every file parses; run where no KVM is (label unit)."""
    bad = 0
    for path in paths:
        try:
            parse_expectations(path)
            print(f"ok   {path}")
        except ExpectFileError as e:
            print(f"FAIL {e}")
            bad += 1
    print(f"expect files: {len(paths) - bad} good, {bad} bad")
    return 1 if bad or not paths else 0


def self_test():
    """--self-test: the parser refuses what it must and the matcher can fail."""
    failures = []
    with tempfile.TemporaryDirectory(prefix="kvmgdb-expect-") as tmp:
        def parse_text(text):
            path = os.path.join(tmp, "t.expect")
            with open(path, "w") as f:
                f.write(text)
            return parse_expectations(path)

        good = "[gdb]\nBreakpoint 1\n[stdout]\n[stderr]\n!error\n"
        try:
            sections = parse_text(good)
            if [p for _, p, _, _ in sections["gdb"]] != ["Breakpoint 1"] or sections["stdout"] != [] \
                    or sections["stderr"][0][:2] != (True, "error"):
                failures.append(f"good file parsed as {sections}")
        except ExpectFileError as e:
            failures.append(f"good file refused: {e}")
        for text, why in (("[gdb]\nx\n[stdot]\ny\n[stdout]\n[stderr]\n", "unknown section"),
                          ("[gdb]\nx\n[stdout]\n", "no section [stderr]"),
                          ("x\n[gdb]\n[stdout]\n[stderr]\n", "expectation before the first section"),
                          ("[gdb]\n[stdout]\n[gdb]\n[stderr]\n", "appears twice"),
                          ("[gdb]\n(\n[stdout]\n[stderr]\n", "bad regex")):
            try:
                parse_text(text)
                failures.append(f"accepted a file with {why}: {text!r}")
            except ExpectFileError as e:
                if why not in str(e):
                    failures.append(f"refused {text!r} but said {e}, not {why!r}")
    exp = [(False, "b", re.compile("b"), 1), (False, "a", re.compile("a"), 2)]
    if check_section("gdb", "a\nb\n", exp)[0]:
        failures.append("lines out of order matched")
    if not check_section("gdb", "b\na\n", exp)[0]:
        failures.append("lines in order did not match")
    if check_section("gdb", "ok\nerror here\n", [(True, "error", re.compile("error"), 1)])[0]:
        failures.append("a forbidden line went unnoticed")
    for f in failures:
        print("FAIL " + f)
    print("self-test: " + ("FAILED" if failures else "passed"))
    return 1 if failures else 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--check-expect":
        return check_files(sys.argv[2:])
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
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

    try:
        expectations = parse_expectations(args.expect)
    except ExpectFileError as e:
        print(f"FAILED: bad expectations file: {e}")
        return 1
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
                   KVMGDB_BIN=args.kvmgdb, PYTHONDONTWRITEBYTECODE="1")
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
    for name in ("gdb", "stdout", "stderr"):
        print(f"---- {name} ----")
        print(text[name], end="" if text[name].endswith("\n") or not text[name] else "\n")
    print(f"PASSED ({os.path.basename(args.script)}, kvmgdb status {kvmgdb.returncode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
