# An inferior call of a function whose first instruction holds a breakpoint stops
# there (gdb.base/callfuncs): kvmgdb must not step over a breakpoint gdb inserted
# at the pc it resumes from (gdb's call starts the function at that pc).
connect()
run("break main")
run("continue")
run("break *factorial")
try:
    run("call factorial(3)")
    fail("the call returned instead of stopping at the breakpoint on factorial")
except gdb.error as e:
    print("call stopped: " + str(e).splitlines()[0])
expect(pc() == value("&factorial"), "the called factorial stopped on its first instruction")
run("kill")
