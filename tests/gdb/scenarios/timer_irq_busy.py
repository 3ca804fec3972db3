# guests/timer-irq.S with --cmdline busy: a loop that runs with interrupts on while
# the LAPIC timer ticks at 2 kHz. A breakpoint there is hit again and again with
# interrupts pending. The patch (--breakpoints hlt, what the nested KVM gets anyway)
# must stop the vCPU before the instruction, every time: a HLT patch that an
# interrupt woke would return into the middle of `addl $3, busy_sum` (seven bytes),
# and the loop's sum would go wrong or the guest would fault (#UD, seen).
connect()
busy_add = value("&busy_add")
busy_next = value("&busy_next")
run("break *&busy_add")
ticks_before = value("*(int *)&lapic_ticks")
stops = 0
for _ in range(40):
    gdb.execute("continue", to_string=True)
    if pc() != busy_add:
        fail("stop %d at %#x, not busy_add %#x" % (stops, pc(), busy_add))
    if value("$eflags") & 0x200 == 0:
        fail("stop %d with interrupts off" % stops)
    s, r = value("*(int *)&busy_sum"), value("*(int *)&busy_rounds")
    if s != 3 * r:
        fail("stop %d: busy_sum %d after busy_rounds %d" % (stops, s, r))
    stops += 1
expect(stops == 40, "40 stops at busy_add, each with interrupts on and busy_sum == 3 * busy_rounds")
expect(value("*(int *)&lapic_ticks") > ticks_before, "the LAPIC timer's interrupts came between the stops")
run("monitor info debug")

# A step from the breakpoint runs exactly the seven-byte add.
s = value("*(int *)&busy_sum")
run("stepi")
expect(pc() == busy_next, "stepi from busy_add stops at busy_next")
expect(value("*(int *)&busy_sum") == s + 3, "busy_sum is 3 higher")

# The Z1 fallback shares the patch: an hbreak on the next instruction.
run("delete")
run("hbreak *&busy_next")
for _ in range(10):
    gdb.execute("continue", to_string=True)
    if pc() != busy_next:
        fail("hbreak stop at %#x, not busy_next %#x" % (pc(), busy_next))
    s, r = value("*(int *)&busy_sum"), value("*(int *)&busy_rounds")
    if s != 3 * (r + 1):
        fail("hbreak stop: busy_sum %d before round %d" % (s, r + 1))
expect(True, "10 hbreak stops at busy_next, each with busy_sum == 3 * (busy_rounds + 1)")
run("delete")
run("continue")
