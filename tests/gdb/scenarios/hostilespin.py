# A guest spinning on `cli; jmp .` (hostile-spin-cli): nothing inside the guest can
# stop it, yet Ctrl-C does. run_gdb_test.py sends SIGINT to gdb once the guest
# printed "spinning with interrupts off"; the stop is on the one-instruction loop,
# with IF clear, and a stepi lands on it again.
connect()
run("continue")
expect(pc() == value("&spin_here"), "stopped on the loop at spin_here")
expect(value("$eflags") & 0x200 == 0, "IF is clear")
run("info registers eflags")
run("stepi")
expect(pc() == value("&spin_here"), "stepi of jmp . lands on spin_here again")
run("kill")
