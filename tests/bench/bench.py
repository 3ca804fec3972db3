#!/usr/bin/env python3
"""scripts/bench: kvmgdb side by side with QEMU's gdbstub, and with what gdb allows.

Every figure is measured on the same guest (guests/bench32.elf: an ELF32 with a
Multiboot header, so QEMU's -kernel boots the very file kvmgdb runs), by the same gdb
running the same script (tests/bench/gdb_figures.py), against three stubs in turn:

  kvmgdb   this build's kvmgdb --listen
  QEMU     Debian's qemu-system-i386 -accel kvm -gdb tcp:...,-S (-accel tcg for the
           breakpoint figures when this KVM does not trap QEMU's breakpoints: nested
           KVM without int3 / DR0-DR3 exits, the with-kvm sandbox)
  ceiling  tests/bench/ceiling_stub.cpp: answers at once from canned registers and a
           memory buffer, with kvmgdb's qSupported; what gdb and loopback TCP allow

The stubs alternate run by run (kvmgdb, QEMU, ceiling; then the other way round),
so that a machine that slows down in the middle slows all of them. The limits beside
them come from tests/bench/kvm_limits.cpp: raw KVM single-step exits per second,
loopback TCP round trips per second, and a process that creates a VM and runs to HLT.

Prints a table (median, min-max, ratio, goal) and writes JSON (--json) and the
Markdown of docs/performance.md (--markdown).
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GDB_SCRIPT = os.path.join(HERE, "gdb_figures.py")

# Per size: stepi count, dump MiB, breakpoint hits, calls for the conditional figure
# and its threshold (counter > N: 5000 is the issue's; smoke's few calls need less).
# "full" is the issue's; "nested" keeps a run within minutes where every VM exit costs
# a few milliseconds (nested KVM under TCG); "smoke" only shows that every path works.
SIZES = {
    "full":   {"stepi": 2000, "dump": 16, "breakpoint": 2000, "conditional": 20000, "threshold": 5000},
    "nested": {"stepi": 500,  "dump": 16, "breakpoint": 200,  "conditional": 2000, "threshold": 5000},
    "smoke":  {"stepi": 20,   "dump": 1,  "breakpoint": 10,   "conditional": 100, "threshold": 50},
}


class BenchError(Exception):
    pass


def fail(message):
    raise BenchError(message)


# --- processes --------------------------------------------------------------

def timed_run(limits, argv):
    """Runs argv to its end (no input or output) under bench_kvm_limits run, which
    forks it, so that its peak RSS is its own; returns (seconds, status, RSS KiB)."""
    out = subprocess.run([limits, "run"] + argv, check=True, capture_output=True,
                         text=True, timeout=120).stdout
    result = json.loads(out)
    return result["seconds"], result["status"], result["max_rss_kib"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """Whether some socket listens on 127.0.0.1:port (without connecting to it: QEMU
    takes a connection as its one gdb session)."""
    want = ":%04X" % port
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[1].endswith(want) and fields[3] == "0A":
                        return True
        except FileNotFoundError:
            pass
    return False


def announced(proc, stream, pattern):
    """The address a stub's first line of output gives (pattern's group 1)."""
    line = stream.readline()
    match = re.search(pattern, line)
    if not match:
        proc.kill()
        fail("%s said %r, not %r" % (os.path.basename(proc.args[0]), line, pattern))
    return match.group(1)


def wait_listening(proc, port, timeout=60):
    deadline = time.monotonic() + timeout
    while not listening(port):
        if proc.poll() is not None:
            fail("%s ended (status %d) before listening on port %d"
                 % (os.path.basename(proc.args[0]), proc.returncode, port))
        if time.monotonic() > deadline:
            fail("%s did not listen on port %d within %d s" % (proc.args[0], port, timeout))
        time.sleep(0.005)


# --- the stubs --------------------------------------------------------------

class Setup:
    def __init__(self, args):
        self.build = os.path.abspath(args.build)
        self.kvmgdb = os.path.join(self.build, "kvmgdb")
        self.guest = os.path.join(self.build, "guests", "bench32.elf")
        self.ceiling = os.path.join(self.build, "tests", "bench", "bench_ceiling_stub")
        self.limits = os.path.join(self.build, "tests", "bench", "bench_kvm_limits")
        for path in (self.kvmgdb, self.guest, self.ceiling, self.limits):
            if not os.path.exists(path):
                fail("%s is missing: build first (scripts/build)" % path)
        self.qemu = shutil.which(args.qemu) or fail("no %s (apt-get install qemu-system-x86)" % args.qemu)
        self.gdb = shutil.which(args.gdb) or fail("no %s" % args.gdb)
        self.symbols = self.read_symbols()
        self.qemu_traps = None   # whether QEMU-KVM takes a breakpoint here (probed once)

    def read_symbols(self):
        out = subprocess.run(["nm", self.guest], check=True, capture_output=True, text=True).stdout
        symbols = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3:
                symbols[parts[2]] = int(parts[0], 16)
        for name in ("_start", "bump", "stack_top"):
            if name not in symbols:
                fail("%s has no symbol %s" % (self.guest, name))
        return symbols

    def qemu_argv(self, accel, port=None):
        argv = [self.qemu, "-accel", accel, "-m", "64M", "-nodefaults", "-display", "none",
                "-no-reboot", "-kernel", self.guest,
                "-device", "isa-debug-exit,iobase=0xf4,iosize=1",
                "-debugcon", "null"]
        if port is not None:
            argv += ["-gdb", "tcp:127.0.0.1:%d" % port, "-S"]
        return argv

    def start(self, stub, accel="kvm"):
        """Starts a stub for one gdb session; returns (proc, "HOST:PORT")."""
        if stub == "kvmgdb":
            proc = subprocess.Popen([self.kvmgdb, "--listen", "127.0.0.1:0", self.guest],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            return proc, announced(proc, proc.stderr, r"listening on (\S+)")
        if stub == "qemu":
            port = free_port()
            proc = subprocess.Popen(self.qemu_argv(accel, port), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            wait_listening(proc, port)
            return proc, "127.0.0.1:%d" % port
        if stub == "ceiling":
            proc = subprocess.Popen([self.ceiling, "--elf", self.guest,
                                     "--pc", hex(self.symbols["_start"]),
                                     "--sp", hex(self.symbols["stack_top"])],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            return proc, "127.0.0.1:" + announced(proc, proc.stdout, r"^port (\d+)")
        raise ValueError(stub)

    def gdb_session(self, stub, figure, count, accel="kvm", threshold=5000):
        """One gdb session on a fresh stub: returns (the figure's value, what was checked)."""
        proc, target = self.start(stub, accel)
        with tempfile.NamedTemporaryFile(prefix="kvmgdb-bench-", suffix=".json") as result:
            env = dict(os.environ, BENCH_STUB=stub, BENCH_FIGURE=figure, BENCH_TARGET=target,
                       BENCH_COUNT=str(count), BENCH_RESULT=result.name,
                       BENCH_THRESHOLD=str(threshold))
            gdb = subprocess.run([self.gdb, "-batch", "-nx", "-q", "-x", GDB_SCRIPT, self.guest],
                                 env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                 text=True, timeout=3600)
            try:
                status = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                fail("%s did not end within 30 s of gdb's kill" % stub)
            finally:
                stub_err = proc.stderr.read()
            text = open(result.name).read()
        outcome = json.loads(text) if text else {"error": "gdb wrote no result"}
        if status < 0 and "error" not in outcome:   # gdb's kill ends a stub with a status
            outcome = {"error": "the stub died of signal %d" % -status}
        if "error" in outcome:
            fail("%s, %s: %s\n--- gdb:\n%s%s\n--- %s:\n%s" % (
                stub, figure, outcome["error"], gdb.stdout[-2000:], gdb.stderr[-2000:],
                stub, stub_err[-2000:]))
        return outcome["value"], outcome.get("check", "")

    def probe_qemu_traps(self):
        """Whether QEMU with -accel kvm stops at a breakpoint on this KVM: nested KVM
        without int3 exits lets the guest run past it to its end."""
        if self.qemu_traps is None:
            try:
                self.gdb_session("qemu", "breakpoint", 2, "kvm")
                self.qemu_traps = True
            except BenchError as error:
                # Only a breakpoint that did not stop it means "does not trap".
                if "did not stop at _start" not in str(error) and "exited before" not in str(error):
                    raise
                self.qemu_traps = False
        return self.qemu_traps


# --- the figures ------------------------------------------------------------

# name: (title, unit, higher is better, goal vs QEMU, goal vs ceiling)
FIGURES = {
    "start":       ("start to guest exit", "s", False, 1 / 8, None),
    "attach":      ("attach (target remote)", "s", False, 1 / 2, None),
    "stepi":       ("single-step (stepi)", "steps/s", True, 3.0, 0.8),
    "dump":        ("memory read (dump binary memory)", "MiB/s", True, 5.0, 0.8),
    "breakpoint":  ("breakpoint round trip (continue)", "hits/s", True, 2.0, None),
    "conditional": ("conditional breakpoint (by == 3 && counter > N)", "s", False, 1 / 20, None),
    "rss":         ("peak RSS, 64 MiB guest", "MiB", False, 1 / 5, None),
}
STUBS = ("kvmgdb", "qemu", "ceiling")
GDB_FIGURES = ("attach", "stepi", "dump", "breakpoint", "conditional")  # one gdb session each
CEILING_FIGURES = ("attach", "stepi", "dump", "breakpoint")  # the rest happen in the target
BREAKPOINT_FIGURES = ("breakpoint", "conditional")  # QEMU's TCG where its KVM cannot trap


def measure_all(setup, runs, size, only, log):
    samples = {name: {stub: [] for stub in STUBS} for name in FIGURES}
    notes = {}
    limits = {}
    counts = SIZES[size]

    def order(run):
        return STUBS if run % 2 == 0 else tuple(reversed(STUBS))

    if "start" in only or "rss" in only:
        log("start to guest exit, %d runs" % runs)
        for run in range(runs):
            for stub in order(run):
                if stub == "kvmgdb":
                    argv, want = [setup.kvmgdb, setup.guest], 0
                elif stub == "qemu":
                    argv, want = setup.qemu_argv("kvm"), 1   # isa-debug-exit: (0 << 1) | 1
                else:
                    argv, want = [setup.limits, "hlt"], 0    # the floor
                seconds, status, rss = timed_run(setup.limits, argv)
                if status != want:
                    fail("%s ran bench32.elf to status %d, not %d (run it by hand to see why)"
                         % (stub, status, want))
                samples["start"][stub].append(seconds)
                if stub != "ceiling":
                    samples["rss"][stub].append(rss / 1024)
        empty = [timed_run(setup.limits, ["/bin/true"])[0] for _ in range(runs)]
        limits["empty_process_s"] = statistics.median(empty)
        limits["kvm_create_to_hlt_s"] = statistics.median(samples["start"]["ceiling"])

    gdb_figures = [f for f in GDB_FIGURES if f in only]
    if any(f in gdb_figures for f in BREAKPOINT_FIGURES):
        traps = setup.probe_qemu_traps()
        notes["qemu_breakpoints"] = ("QEMU -accel kvm stops at breakpoints here" if traps else
                                     "QEMU -accel kvm does not stop at breakpoints on this KVM "
                                     "(no int3 / DR exits, nested); its breakpoint figures are "
                                     "QEMU -accel tcg")
    for figure in gdb_figures:
        count = counts.get(figure, 0)
        log("%s (%s), %d runs" % (figure, count, runs))
        for run in range(runs):
            for stub in order(run):
                if stub == "ceiling" and figure not in CEILING_FIGURES:
                    continue   # no host-side ceiling for work done in the target
                accel = "kvm"
                if stub == "qemu" and figure in BREAKPOINT_FIGURES and not setup.qemu_traps:
                    accel = "tcg"
                value, check = setup.gdb_session(stub, figure, count, accel, counts["threshold"])
                samples[figure][stub].append(value)
                if stub == "kvmgdb" and run == 0:
                    notes.setdefault("checks", {})[figure] = check

    log("limits: raw KVM single-step, loopback TCP")
    steps = json.loads(subprocess.run([setup.limits, "step", "20000"], check=True,
                                      capture_output=True, text=True).stdout)
    tcp = json.loads(subprocess.run([setup.limits, "tcp", "20000"], check=True,
                                    capture_output=True, text=True).stdout)
    limits["kvm_single_steps_per_s"] = steps["steps_per_s"]
    limits["tcp_round_trips_per_s"] = tcp["round_trips_per_s"]
    return samples, notes, limits, counts


def summarize(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": len(values)}


def build_report(samples, notes, limits, counts, args, setup):
    figures = {}
    for name, (title, unit, higher, goal_qemu, goal_ceiling) in FIGURES.items():
        stats = {stub: summarize(samples[name][stub]) for stub in STUBS}
        if not stats["kvmgdb"]:
            continue
        if name == "conditional":
            title = title.replace("> N", "> %d" % counts["threshold"])
        entry = {"title": title, "unit": unit, "higher_is_better": higher, **stats}
        k = stats["kvmgdb"]["median"]
        if stats["qemu"]:
            q = stats["qemu"]["median"]
            entry["ratio_to_qemu"] = k / q
            entry["goal_ratio_to_qemu"] = goal_qemu
            entry["meets_qemu_goal"] = (k / q >= goal_qemu) if higher else (k / q <= goal_qemu)
        if stats["ceiling"] and name != "start":
            c = stats["ceiling"]["median"]
            entry["fraction_of_ceiling"] = k / c if higher else c / k
            entry["goal_fraction_of_ceiling"] = goal_ceiling
            if goal_ceiling is not None:
                entry["meets_ceiling_goal"] = entry["fraction_of_ceiling"] >= goal_ceiling
        if name == "start":
            floor = stats["ceiling"]["median"]
            entry["floor_s"] = floor
            entry["ratio_to_floor"] = k / floor
            entry["meets_floor_goal"] = k / floor <= 2.0
            entry.pop("ceiling")
        if name in BREAKPOINT_FIGURES and not setup.qemu_traps:
            entry["qemu_accel"] = "tcg"
        figures[name] = entry
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(),
        "size": args.size, "counts": counts, "runs": args.runs,
        "kvmgdb": version_of([setup.kvmgdb, "--version"]),
        "qemu": version_of([setup.qemu, "--version"]),
        "gdb": version_of([setup.gdb, "--version"]),
        "figures": figures, "limits": limits, "notes": notes,
    }


def check_complete(report, only):
    """Every figure asked for has a positive value from each stub that it compares."""
    for name in only:
        entry = report["figures"].get(name)
        if entry is None:
            fail("no result for figure %s" % name)
        wanted = ["kvmgdb", "qemu"] + (["ceiling"] if name in CEILING_FIGURES else [])
        for stub in wanted:
            if not entry.get(stub) or entry[stub]["median"] <= 0:
                fail("figure %s has no value from %s" % (name, stub))
    for limit in ("kvm_single_steps_per_s", "tcp_round_trips_per_s"):
        if report["limits"].get(limit, 0) <= 0:
            fail("no value for the limit %s" % limit)


def version_of(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def machine_description():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    nested = os.environ.get("KVMGDB_WITH_KVM_GUEST") == "1"
    return {"cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(),
            "kvm": "nested KVM in scripts/with-kvm's TCG VM" if nested else "/dev/kvm of this machine"}


# --- output -----------------------------------------------------------------

def fmt(value, unit):
    if value is None:
        return "-"
    if unit == "s":
        return "%.3f s" % value if value < 10 else "%.1f s" % value
    if value >= 100:
        return "%.0f %s" % (value, unit)
    return "%.2f %s" % (value, unit)


def cell(stats, unit):
    if not stats:
        return "-"
    if stats["runs"] == 1:
        return fmt(stats["median"], unit)
    lo, hi = fmt(stats["min"], unit).split()[0], fmt(stats["max"], unit).split()[0]
    return "%s (%s-%s)" % (fmt(stats["median"], unit), lo, hi)


def goal_text(entry):
    parts = []
    if "ratio_to_qemu" in entry:
        g = entry["goal_ratio_to_qemu"]
        want = (">= %gx" % g) if entry["higher_is_better"] else ("<= 1/%g" % round(1 / g))
        parts.append("%s %s" % (want, "met" if entry["meets_qemu_goal"] else "NOT met"))
    if entry.get("goal_fraction_of_ceiling") is not None:
        parts.append(">= %g of ceiling %s" % (entry["goal_fraction_of_ceiling"],
                                            "met" if entry["meets_ceiling_goal"] else "NOT met"))
    if "ratio_to_floor" in entry:
        parts.append("<= 2x floor %s" % ("met" if entry["meets_floor_goal"] else "NOT met"))
    return "; ".join(parts)


def table(report):
    header = ("| figure | kvmgdb | QEMU | kvmgdb/QEMU | ceiling | of ceiling | goal |\n"
              "|---|---|---|---|---|---|---|\n")
    rows = []
    for name, e in report["figures"].items():
        unit = e["unit"]
        qemu = cell(e.get("qemu"), unit)
        if e.get("qemu_accel") == "tcg":
            qemu += " (TCG)"
        ratio = "%.3g" % e["ratio_to_qemu"] if "ratio_to_qemu" in e else "-"
        if name == "start":
            ceiling, frac = "floor " + fmt(e["floor_s"], "s"), "%.2gx floor" % e["ratio_to_floor"]
        else:
            ceiling = cell(e.get("ceiling"), unit)
            frac = "%.2f" % e["fraction_of_ceiling"] if "fraction_of_ceiling" in e else "-"
        rows.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            e["title"], cell(e["kvmgdb"], unit), qemu, ratio, ceiling, frac, goal_text(e)))
    limits = report["limits"]
    extra = []
    if "kvm_single_steps_per_s" in limits:
        extra.append("raw KVM single-step: %.0f exits/s on one vCPU" % limits["kvm_single_steps_per_s"])
    if "tcp_round_trips_per_s" in limits:
        extra.append("loopback TCP: %.0f round trips/s" % limits["tcp_round_trips_per_s"])
    if "empty_process_s" in limits:
        extra.append("empty process: %.1f ms; create a VM and run to HLT: %.1f ms" % (
            limits["empty_process_s"] * 1e3, limits["kvm_create_to_hlt_s"] * 1e3))
    return header + "\n".join(rows) + "\n\nLimits: " + "; ".join(extra) + ".\n"


def markdown(report, command):
    m = report["machine"]
    c = report["counts"]
    notes = report["notes"]
    lines = [
        "## The latest run",
        "",
        "Written by `scripts/bench` (tests/bench/bench.py) between the two markers; the rest "
        "of this file is not. Run it again with:",
        "",
        "    " + command,
        "",
        "- **When and where:** %s; %s, %d CPU(s), Linux %s; %s." % (
            report["date"], m["cpu"], m["cpus"], m["kernel"], m["kvm"]),
        "- **Versions:** %s; %s; %s." % (report["kvmgdb"], report["qemu"], report["gdb"]),
        "- **Runs:** %d per stub and figure, alternating; median (min-max). Size `%s`: %d stepi, "
        "%d MiB dumped, %d breakpoint hits, %d calls for the conditional breakpoint." % (
            report["runs"], report["size"], c["stepi"], c["dump"], c["breakpoint"], c["conditional"]),
        "- **Ratios:** kvmgdb/QEMU of the medians, in each figure's own unit (for times "
        "lower is better, for rates higher). \"of ceiling\" is kvmgdb's share of what the "
        "ceiling stub reaches with the same gdb.",
    ]
    if "qemu_breakpoints" in notes:
        lines.append("- **QEMU's breakpoints:** %s." % notes["qemu_breakpoints"])
    lines += ["", table(report)]
    return "\n".join(lines)


BEGIN, END = "<!-- scripts/bench: begin -->", "<!-- scripts/bench: end -->"


def write_markdown(path, generated):
    """Replaces what lies between BEGIN and END in path (the hand-written analysis
    around it stays), or writes a new file holding only the generated part."""
    block = BEGIN + "\n" + generated.rstrip("\n") + "\n" + END + "\n"
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = block
    with open(path, "w") as out:
        out.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", choices=sorted(SIZES), default=None,
                        help="full (the issue's counts), nested (default inside the with-kvm VM) or smoke")
    parser.add_argument("--only", default=",".join(FIGURES),
                        help="comma-separated figures: " + ",".join(FIGURES))
    parser.add_argument("--json", help="write the results as JSON to this file")
    parser.add_argument("--markdown", help="write the Markdown report (docs/performance.md)")
    parser.add_argument("--qemu", default="qemu-system-i386")
    parser.add_argument("--gdb", default="gdb")
    parser.add_argument("--command", default="scripts/bench",
                        help="the command line the Markdown report names")
    args = parser.parse_args()
    if args.size is None:
        args.size = "nested" if os.environ.get("KVMGDB_WITH_KVM_GUEST") == "1" else "full"
    only = set(args.only.split(","))
    unknown = only - set(FIGURES)
    if unknown or args.runs < 1:
        print("bench: unknown figure %s" % ",".join(sorted(unknown)) if unknown
              else "bench: --runs must be at least 1", file=sys.stderr)
        return 2
    try:
        setup = Setup(args)
        log = lambda text: print("bench: " + text, file=sys.stderr, flush=True)
        samples, notes, limits, counts = measure_all(setup, args.runs, args.size, only, log)
        report = build_report(samples, notes, limits, counts, args, setup)
        check_complete(report, only)
    except BenchError as error:
        print("bench: %s" % error, file=sys.stderr)
        return 1
    print(table(report))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2)
    if args.markdown:
        write_markdown(args.markdown, markdown(report, args.command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
