# selfmod-long writes a nop over the hlt at `site`, where gdb has a breakpoint, then
# jumps there. The stop is at site, gdb reads the guest's new instruction (not the
# old hlt, not kvmgdb's patch byte), and gdb's own step-over of the breakpoint on
# continue runs that nop: the guest exits with 5, which only the nop path reaches.
connect()
run("break *&site")
expect(value("*(unsigned char *)&site") == 0xf4, "before the write: site holds hlt")
run("continue")
expect(pc() == value("&site"), "stopped at site")
expect(value("*(unsigned char *)&site") == 0x90, "site now holds the guest's nop")
run("x/i $pc")
run("info breakpoints")
run("continue")
