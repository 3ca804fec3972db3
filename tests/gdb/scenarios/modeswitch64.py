# --gdb-arch x86-64: one session across the guest's own real -> protected -> long
# switches in the 64-bit layout from the first packet (upper halves zero before
# long mode); a breakpoint on the 64-bit code reached after the switch stops with
# the right rip, registers and backtrace.
connect()
source_extension()
run("info registers rip cs")
expect(value("$rip") == value("&_start"), "rip = _start (linear, CS = 0) in real mode")
expect_match(r"gdb's register layout on this connection: i386:x86-64 \(fixed by --gdb-arch",
             run("monitor info mode"), "the layout is fixed")
expect_match(r"^gdb architecture: i386:x86-64$", run("kvmgdb mode"), "gdb stays i386:x86-64 in real mode")
run("break long_entry")
run("break done")
run("continue")
expect(value("$rip") == value("&long_entry"), "stopped at long_entry with rip = &long_entry")
run("info registers rip cs rsp efer")
expect(value("$cs") == 0x18, "cs = 0x18 (64-bit code)")
expect(value("$rsp") == 0x30000, "rsp = 0x30000 (set in protected mode)")
expect(value("$efer") & 0x500 == 0x500, "EFER.LME and LMA")
run("backtrace 1")
run("x/2i $pc")
run("continue")
expect(value("$rip") == value("&done"), "stopped at done")
expect(value("$rax") == 42, "rax = 42")
run("delete")
run("continue")
