# Conditional breakpoints evaluated in the target (ConditionalBreakpoints+), run
# as `kvmgdb --log-packets LOG --gdb-batch conditions_check.py conditions{64,32}.elf`
# with CONDITIONS_PACKET_LOG=LOG and CONDITIONS_CALLS=N (the guest's CALLS).
# guests/conditions.c calls bump(i % 7) N times; `break bump if by == 3 &&
# counter > LIMIT` is true on the last few of the N/7 calls with by == 3. gdb must stop at exactly those, with the values
# it shows, and kvmgdb's packet log must hold one stop reply per such stop:
# the false hits were evaluated and stepped over in kvmgdb, never sent to gdb.
import os
import re

import gdb

CALLS = int(os.environ["CONDITIONS_CALLS"])
LIMIT = sum(i % 7 for i in range(CALLS)) - 90  # true for the last 4 calls with by == 3


def check(condition, what):
    print(("ok: " if condition else "FAILED: ") + what)
    if not condition:
        raise AssertionError(what)


# The hits the condition is true for: (by, counter) at bump's entry.
expected, counter, by3 = [], 0, 0
for i in range(CALLS):
    by = i % 7
    by3 += by == 3
    if by == 3 and counter > LIMIT:
        expected.append((by, counter))
    counter += by

gdb.execute("break bump if by == 3 && counter > %d" % LIMIT)
hits = []
while True:
    gdb.execute("continue")
    if gdb.selected_inferior().pid == 0:
        break
    check(gdb.selected_frame().name() == "bump", "stopped in bump")
    hits.append((int(gdb.parse_and_eval("by")), int(gdb.parse_and_eval("counter"))))
    if len(hits) == 1:  # gdb compiles the bytecode when it inserts the breakpoint
        info = gdb.execute("info breakpoints", to_string=True)
        check("(target evals)" in info, "gdb left the condition to the target: " + " ".join(info.split()))
check(hits == expected, "gdb stopped at the %d true hits of %d calls with by == 3: %s" % (len(expected), by3, hits))
check(int(gdb.parse_and_eval("$_exitcode")) == 0, "the guest ran to its end")

with open(os.environ["CONDITIONS_PACKET_LOG"], errors="replace") as f:
    log = f.read()
z = re.findall(r"<- Z0,[0-9a-f]+,[0-9a-f]+;X[0-9a-f]+,[0-9a-f]+", log)
check(len(z) > 0, "gdb sent the condition as bytecode: %s" % (z[:1],))
# Breakpoint stops (swbreak:); gdb's own steps off the breakpoint are plain T05s.
stops = re.findall(r" -> T05[^\n]*swbreak:", log)
check(len(stops) == len(expected), "%d breakpoint stop replies for %d true hits (none for the %d false ones)"
      % (len(stops), len(expected), by3 - len(expected)))
print("conditions: all checks passed")
