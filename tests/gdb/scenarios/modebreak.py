# monitor break-on-mode-change (docs/modes.md "Breaking on mode changes") on
# real-to-long.S: a continue stops right after each instruction that changes the
# mode (mov to CR0 setting PE, mov to CR4 setting PAE, wrmsr setting EFER.LME, mov
# to CR0 setting PG, which makes EFER.LMA, and the far jump into 64-bit code), gdb
# shows why (an O packet before the SIGTRAP stop), a stepi checks its one
# instruction, and once it is off a continue runs to the end.
import time

connect()


def last_change():
    """The `last mode change:` line of monitor info mode (gdb prints the O text itself,
    outside what gdb.execute captures, so the .expect file checks that)."""
    return re.search(r"^last mode change: (.*)$", run("monitor info mode"), re.M).group(1)


def bytes_at(addr, n):
    return gdb.selected_inferior().read_memory(addr, n).tobytes()


MOV_EAX_TO_CR0 = b"\x0f\x22\xc0"
MOV_EAX_TO_CR4 = b"\x0f\x22\xe0"
WRMSR = b"\x0f\x30"

expect_match(r"^break-on-mode-change is off", run("monitor break-on-mode-change"), "off by default")
expect_match(r"^last mode change: none seen \(monitor break-on-mode-change on", run("monitor info mode"),
             "info mode: nothing seen yet")
expect_match(r"^break-on-mode-change is on", run("monitor break-on-mode-change on"), "turned on")

start = time.monotonic()
run("continue")
expect(value("$cr0") & 1 == 1, "stopped with CR0.PE set")
expect(bytes_at(pc() - 3, 3) == MOV_EAX_TO_CR0, "pc right after the mov to cr0")
expect(bytes_at(pc(), 2) == b"\x66\xea", "pc at the far jump, not yet taken")
expect_match(r"^last mode change: vCPU 0 at 0x[0-9a-f]+: real mode -> protected mode \(CR0\.PE 0 -> 1\)$",
             run("monitor info mode"), "info mode names the change")

# The far jump reloads CS but changes no mode bit: a stepi is a plain step.
run("stepi")
expect(last_change().endswith("(CR0.PE 0 -> 1)"), "stepi over the far jump: no mode change")
expect(pc() == value("&protected_entry"), "stepi reached protected_entry")

run("continue")
expect(value("$cr4") & 0x20 == 0x20, "stopped with CR4.PAE set")
expect(bytes_at(pc() - 3, 3) == MOV_EAX_TO_CR4, "pc right after the mov to cr4")

run("continue")
expect(value("$efer") & 0x100 == 0x100, "stopped with EFER.LME set")
expect(bytes_at(pc() - 2, 2) == WRMSR, "pc right after the wrmsr")

# CR0.PG by stepping: movl %cr0,%eax; orl $0x80000000,%eax; movl %eax,%cr0.
for i in range(2):
    run("stepi")
    expect(last_change().endswith("(EFER.LME 0 -> 1)"), "stepi %d before the mov to cr0: no mode change" % (i + 1))
run("stepi")
expect(last_change().endswith("(CR0.PG 0 -> 1, EFER.LMA 0 -> 1)"), "the third stepi saw the change")
expect(value("$cr0") & 0x80000000 != 0 and value("$efer") & 0x400 == 0x400,
       "the third stepi: CR0.PG and EFER.LMA set")
expect(bytes_at(pc() - 3, 3) == MOV_EAX_TO_CR0, "pc right after the mov to cr0 that sets PG")

run("continue")
expect(pc() == value("&long_entry"), "the far jump into 64-bit code: stopped at long_entry")
out = run("monitor break-on-mode-change")
steps = int(re.search(r"(\d+) instruction\(s\) stepped", out).group(1))
elapsed = time.monotonic() - start
expect(steps > 5000, "rep stosl and the page-table loop were stepped")
print("rate: %d instructions in %.1f s, %.0f/s" % (steps, elapsed, steps / elapsed))
expect_match(r"long mode \(64-bit\)\s*\(CS\.L 0 -> 1\)$", run("monitor info mode"), "the last change: CS.L")

expect_match(r"^break-on-mode-change is off", run("monitor break-on-mode-change off"), "turned off")
run("continue")
