# Loaded by run_gdb_test.py before each scenario (gdb -x): helpers the scenario
# scripts share. They run in gdb's Python, in gdb's __main__ namespace.
import os
import re

import gdb

ADDR = os.environ["KVMGDB_ADDR"]  # host:port, or a Unix socket path
GUEST = os.environ.get("KVMGDB_GUEST", "")
# kvmgdb's --mode: real, protected, paged32 or long ("" if the test gave none).
MODE = os.environ.get("KVMGDB_MODE", "")

# The kvmgdb binary under test (for --print-gdb-extension).
KVMGDB_BIN = os.environ.get("KVMGDB_BIN", "")

gdb.execute("set pagination off")
gdb.execute("set confirm off")
gdb.execute("set width 0")


def run(command):
    """Runs a gdb command, echoes it and its output (for the .expect file), returns the output."""
    print("(gdb) " + command)
    out = gdb.execute(command, to_string=True)
    print(out, end="" if out.endswith("\n") or not out else "\n")
    return out


def connect():
    return run("target remote " + ADDR)


def source_extension():
    """Sources kvmgdb's gdb extension from where `kvmgdb --print-gdb-extension` says it is."""
    import subprocess
    path = subprocess.check_output([KVMGDB_BIN, "--print-gdb-extension"], text=True).strip()
    return run("source " + path)


def fail(what):
    # run_gdb_test.py fails any run whose gdb output contains "FAIL: ".
    print("FAIL: " + what)
    raise gdb.GdbError(what)


def expect(condition, what):
    if not condition:
        fail(what)
    print("ok: " + what)


def expect_match(regex, text, what=None):
    m = re.search(regex, text, re.M)
    if not m:
        fail((what or "output matches " + regex) + "; got:\n" + text)
    print("ok: " + (what or "matches " + regex))
    return m


def value(expression):
    return int(gdb.parse_and_eval(expression))


def pc():
    return value("$pc")


def frame_name():
    return gdb.selected_frame().name()


def expect_stopped_in(function):
    expect(frame_name() == function, "stopped in " + function + " (in " + str(frame_name()) + ")")


def expect_on_stack(function):
    names = []
    frame = gdb.newest_frame()
    while frame is not None and len(names) < 16:
        names.append(str(frame.name()))
        try:
            frame = frame.older()
        except gdb.error:  # an unwinder giving up past the outermost C frame ends the walk
            break
    expect(function in names, function + " is on the stack (" + " <- ".join(names) + ")")
