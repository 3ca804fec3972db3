# One figure of scripts/bench, measured inside gdb (gdb -batch -nx -x gdb_figures.py ELF).
#
# tests/bench/bench.py starts the stub (kvmgdb, QEMU or the ceiling stub), then this
# script in a fresh gdb; the same script, so that every stub sees the same commands.
# Times are taken around gdb.execute, so gdb's own start-up is not in them. The
# result is one JSON object written to $BENCH_RESULT:
#   {"value": ..., "check": "..."}  or  {"error": "..."}
# where value is the figure's own unit (s, steps/s, MiB/s, hits/s) and check
# says what was verified, so that a stub that answers wrongly fails instead of
# looking fast.
#
# Environment: BENCH_FIGURE (attach|stepi|dump|breakpoint|conditional),
# BENCH_TARGET (HOST:PORT), BENCH_COUNT (steps, MiB, hits or calls), BENCH_RESULT,
# BENCH_THRESHOLD (the condition's counter > N; 5000 unless the size says less),
# BENCH_STUB (kvmgdb, qemu or ceiling: the ceiling's canned memory never changes).
import json
import os
import time

import gdb

FIGURE = os.environ["BENCH_FIGURE"]
TARGET = os.environ["BENCH_TARGET"]
COUNT = int(os.environ.get("BENCH_COUNT", "0"))
RESULT = os.environ["BENCH_RESULT"]
STUB = os.environ.get("BENCH_STUB", "")
CANNED = STUB == "ceiling"   # its memory never changes
THRESHOLD = int(os.environ.get("BENCH_THRESHOLD", "5000"))
DUMP_START = 0x1000000          # 16 MiB into the guest's 64 MiB of RAM
CONDITION = "by == 3 && counter > %d" % THRESHOLD

exited = []
gdb.events.exited.connect(lambda event: exited.append(getattr(event, "exit_code", None)))


def run(command):
    return gdb.execute(command, to_string=True)


def value(expr):
    return int(gdb.parse_and_eval(expr))


def expected_true_hits(calls):
    """The calls of bump(i % 7) at which CONDITION holds on entry (guests/conditions.c)."""
    counter, hits = 0, 0
    for i in range(calls):
        by = i % 7
        if by == 3 and counter > THRESHOLD:
            hits += 1
        counter += by
    return hits


def go_to_entry():
    """Runs to _start unless the stub is there already. QEMU starts in its firmware,
    which loads the kernel later (kvmgdb starts at the entry, kernel loaded): a
    software breakpoint set before would be overwritten by the load, and the guest's
    variables are not there yet. A hardware breakpoint, then."""
    if value("$pc") == value("(long)&_start"):
        return
    run("hbreak *_start")
    try:
        run("continue")
    except gdb.error as error:   # the guest ran to its end: QEMU exits, gdb loses it
        raise gdb.GdbError("did not stop at _start (%s)" % error)
    if exited or value("$pc") != value("(long)&_start"):
        raise gdb.GdbError("did not stop at _start")
    run("delete")


def measure():
    run("set pagination off")
    run("set confirm off")
    start = time.perf_counter()
    run("target remote " + TARGET)
    attach_s = time.perf_counter() - start
    if FIGURE == "attach":
        return dict(value=attach_s, check="pc %#x" % value("$pc"))

    if FIGURE == "stepi":
        first = value("$pc")
        start = time.perf_counter()
        for _ in range(COUNT):
            run("stepi")
        seconds = time.perf_counter() - start
        if value("$pc") == first and COUNT > 0 and not CANNED:
            raise gdb.GdbError("stepi did not move the pc")
        return dict(value=COUNT / seconds, check="pc at %#x" % value("$pc"))

    if FIGURE == "dump":
        path = "/tmp/kvmgdb-bench-dump.%d" % os.getpid()
        size = COUNT << 20
        # Three words written first and found in the file: a stub that sends the
        # right number of wrong bytes fails (the RAM there is zeros otherwise).
        marks = {0: 0x5a17c0de, size // 2: 0x0ddba11, size - 4: 0x7e57ab1e}
        for offset, word in marks.items():
            run("set var *(unsigned int *)%#x = %#x" % (DUMP_START + offset, word))
        start = time.perf_counter()
        run("dump binary memory %s %#x %#x" % (path, DUMP_START, DUMP_START + size))
        seconds = time.perf_counter() - start
        with open(path, "rb") as f:
            data = f.read()
        os.unlink(path)
        if len(data) != size:
            raise gdb.GdbError("dump wrote %d bytes, not %d" % (len(data), size))
        for offset, word in marks.items():
            if int.from_bytes(data[offset:offset + 4], "little") != word:
                raise gdb.GdbError("the dump's word at +%#x is not the %#x written there" % (offset, word))
        return dict(value=COUNT / seconds, check="%d bytes, 3 marks found" % len(data))

    if FIGURE == "breakpoint":
        go_to_entry()
        run("break bump")
        start = time.perf_counter()
        for _ in range(COUNT):
            run("continue")
            if exited:
                raise gdb.GdbError("the guest exited before %d hits" % COUNT)
        seconds = time.perf_counter() - start
        function = gdb.block_for_pc(value("$pc")).function
        if function is None or function.name != "bump":
            raise gdb.GdbError("after %d hits the pc is %#x, not in bump" % (COUNT, value("$pc")))
        if CANNED:
            return dict(value=COUNT / seconds, check="at bump (canned memory)")
        calls = value("calls")
        if calls != COUNT - 1:
            raise gdb.GdbError("after %d hits calls = %d, not %d" % (COUNT, calls, COUNT - 1))
        return dict(value=COUNT / seconds, check="calls = %d at bump" % calls)

    if FIGURE == "conditional":
        go_to_entry()
        run("set var calls_to_make = %d" % COUNT)
        run("break bump if " + CONDITION)
        # The calls at which it stopped, by the guest's own count. QEMU's TCG once
        # reported one hit twice on a loaded machine: for QEMU that is said in the
        # check; for kvmgdb, and a missing or wrong stop from either, it fails.
        stopped_at, stops = set(), 0
        start = time.perf_counter()
        while not exited:
            try:
                run("continue")
            except gdb.error:
                if exited:
                    break
                raise
            if not exited:
                stops += 1
                if value("by") != 3 or value("counter") <= THRESHOLD:
                    raise gdb.GdbError("stopped with by = %d, counter = %d" % (value("by"), value("counter")))
                stopped_at.add(value("calls"))
        seconds = time.perf_counter() - start
        want = expected_true_hits(COUNT)
        if len(stopped_at) != want:
            raise gdb.GdbError("stopped at %d calls where the condition holds, not %d" % (len(stopped_at), want))
        check = "%d true hits of %d calls" % (want, COUNT)
        if stops != want and STUB == "kvmgdb":
            raise gdb.GdbError("%d stops for %d true hits" % (stops, want))
        if stops != want:
            check += ", %d of them reported twice" % (stops - want)
        return dict(value=seconds, check=check)

    raise gdb.GdbError("unknown BENCH_FIGURE " + FIGURE)


try:
    outcome = measure()
except Exception as error:   # the driver reports it, naming the stub and the figure
    outcome = {"error": str(error)}
with open(RESULT, "w") as out:
    json.dump(outcome, out)
if not exited:
    try:
        run("kill")
    except gdb.error:
        pass
