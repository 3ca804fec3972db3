# Registers of the mode's description: pc at _start, the control registers and
# EFER as kvmgdb set up the mode, a general register written and read back, and
# the mode as `monitor info mode` names it.
connect()
run("info registers pc")
expect(pc() == value("&_start"), "pc at _start after connect")

run("p/x $cr0")
cr0 = value("$cr0")
expect(bool(cr0 & 0x1) == (MODE != "real"), "cr0.PE set iff not real mode")
expect(bool(cr0 & 0x80000000) == (MODE in ("paged32", "long")), "cr0.PG set iff paging")
run("p/x $cr4")
cr4 = value("$cr4")
if MODE == "paged32":
    expect(cr4 & 0x10 and not cr4 & 0x20, "cr4.PSE without PAE (4 MiB pages)")
if MODE == "long":
    expect(cr4 & 0x20, "cr4.PAE")
run("p $efer")
expect((value("$efer") & 0x500 == 0x500) == (MODE == "long"), "efer.LME|LMA iff long mode")
run("p/x $cr3")
if MODE in ("paged32", "long"):
    expect(value("$cr3") != 0, "cr3 points at the page tables")

run("p/x $cs")
run("p/x $ss")
expect((value("$cs") == 0) == (MODE == "real"), "cs is 0 in real mode, a selector otherwise")
run("info registers eflags")
expect(value("$eflags") & 0x2, "eflags bit 1 (always 1)")
run("p/x $sp")
expect(value("$sp") != 0, "a stack pointer")

if MODE == "long":
    run("set var $rax = 0x1122334455667788")
    expect(value("$rax") == 0x1122334455667788, "rax written and read back")
else:
    run("set var $eax = 0x11223344")
    expect(value("$eax") == 0x11223344, "eax written and read back")
run("set var $ecx = 0x5a5a")
expect(value("$ecx") == 0x5a5a, "ecx written and read back")

names = {"real": "real mode", "protected": "protected mode", "paged32": "protected mode", "long": "long mode (64-bit)"}
expect_match(re.escape(names[MODE]), run("monitor info mode"), "monitor info mode says " + names[MODE])
run("continue")
