# A breakpoint at the pc the guest resumes from is hit, not stepped over: gdb does
# its own step-over (z0, vCont;s, Z0) when it wants one, and `jump` onto a
# breakpoint or an inferior call of a function with a breakpoint on its first
# instruction must report that breakpoint (gdb.base/jump, gdb.base/callfuncs).
connect()
run("break *main")
run("continue")
expect(pc() == value("&main"), "stopped at main's first instruction")
run("jump *main")
expect(pc() == value("&main"), "jump *main stopped at the breakpoint on main again")
# A plain continue from there steps over it (gdb's own step-over) and goes on.
run("break factorial")
run("continue")
expect_stopped_in("factorial")
expect(value("n") == 5, "continue from main reached factorial(5)")
run("kill")
