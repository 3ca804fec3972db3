# Real mode with another CS: the guest starts at 0000:7c00 and far-jumps to
# 0800:0000. The pc gdb sees is linear (CS.base + IP), so a breakpoint on
# `routine` (linear 0x8000) hits, and with the extension sourced gdb disassembles
# 16-bit code and steps with linear pcs.
connect()
source_extension()
run("show architecture")  # set when the extension was sourced, connected
expect(pc() == 0x7c00, "pc at 0x7c00 (CS = 0)")
expect_match(r"real mode", run("kvmgdb mode"), "the extension sees real mode")
run("break routine")
run("continue")
expect(pc() == value("&routine") == 0x8000, "stopped at routine, linear 0x8000")
run("info registers cs eip")
expect(value("$cs") == 0x800, "cs is 0x800 after the far jump")
out = run("x/3i $pc")
# 16-bit code: mov %cs,%ax is 2 bytes (8c c8), mov %ax,%ds 2 bytes, mov $imm16,%si 3 bytes.
expect_match(r"0x8000 <routine>:\s+mov\s+%cs,%ax", out, "first instruction decoded as 16-bit")
expect_match(r"0x8004 <routine\+4>:\s+mov\s+\$0x\w+,%si", out, "third at +4: 16-bit operand sizes")
run("stepi")
expect(pc() == 0x8002, "stepi: linear pc 0x8002")
run("stepi")
expect(pc() == 0x8004, "stepi: linear pc 0x8004")
expect(value("$ds") == 0x800, "ds loaded from cs")
run("info registers eip")
# Writing the pc sets IP relative to CS; outside the segment it is refused.
run("set $pc = 0x8004")
expect(pc() == 0x8004, "pc write inside CS accepted")
try:
    gdb.execute("set $pc = 0x7000")
    fail("a pc below CS.base was accepted")
except gdb.error as e:
    print("refused: " + str(e))
run("maintenance flush register-cache")
expect(pc() == 0x8004, "pc unchanged after the refused write")
expect_match(r"^cs:ip 0800:0004 \(linear 0x8004\)$", run("monitor info sregs"), "info sregs: CS:IP")
expect_match(r"^0800:0010 = linear 0x8010$", run("monitor linear 0x0800:0x0010"), "monitor linear")
expect_match(r"^0x8010 = 0800:0010$", run("monitor segoff 0x8010"), "monitor segoff, relative to CS")
try:
    gdb.execute("monitor segoff 0x20000", to_string=True)
    fail("segoff outside CS accepted")
except gdb.error as e:
    print("refused: " + str(e))
run("kvmgdb idt")
run("kvmgdb gdt")
run("kvmgdb walk $pc")
run("break routine_exit")
run("continue")
expect(value("$bx") == 0x1236, "bx = 0x1236 at routine_exit")
expect(value("*(unsigned short *)0x8400") == 0x1236, "stored at linear 0x8400 (DS = 0x800, offset 0x400)")
run("delete")
run("continue")
