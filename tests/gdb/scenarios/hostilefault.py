# A guest that raises an exception with no IDT (hostile-ud2-long, hostile-ud2-32,
# hostile-div0-long): a triple fault, reported to gdb as SIGSEGV. Registers and
# memory stay readable; on AMD, KVM reinitialises the vCPU on the shutdown, so the
# pc may read as the reset vector (f000:fff0, CS.base 0xffff0000: the real-mode pc
# gdb sees is linear, 0xfffffff0, docs/modes.md) instead of `fault`. The next continue
# ends it: "Program terminated with signal SIGSEGV", kvmgdb exits 3.
connect()
run("continue")
run("info registers pc")
expect(pc() in (value("&fault"), 0xfffffff0), "stopped at fault or, on AMD, the reset vector")
expect_match(r"0x[0-9a-f]+ <[^>]+>:\s+0x(0f|f7)", run("x/1xb &fault"), "the faulting instruction's bytes read")
run("continue")
