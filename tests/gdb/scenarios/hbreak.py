# A hardware breakpoint (Z1; HLT patching where the host's DR0-DR3 do not trap).
connect()
run("hbreak sum_to")
run("continue")
expect_stopped_in("sum_to")
expect(value("n") == 10, "n == 10")
run("info breakpoints")
run("continue")
