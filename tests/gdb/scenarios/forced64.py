# --breakpoints hlt --watchpoints pageprot: monitor info debug says they were forced;
# five watchpoints at once (more than DR0-DR3 could hold), one of them 64 bytes
# long; an access watchpoint on a code page is refused with the reason on
# kvmgdb's stderr, and the session goes on.
connect()
out = run("monitor info debug")
expect_match(r"^software breakpoints \(Z0\): HLT patch.*\(forced by --breakpoints\)", out)
expect_match(r"^watchpoints .*page protection.*\(forced by --watchpoints\)", out)
run("break sum_to")
run("continue")
expect_stopped_in("sum_to")
run("delete")
try:
    run("awatch *(int *)factorial")
    run("continue")
    fail("an access watchpoint on a code page was accepted")
except gdb.error as e:
    print("error: " + str(e))
run("delete")
expect_stopped_in("sum_to")
# Five at once; the fifth covers 64 bytes from &counter (counter and what follows).
run("watch watched_value")
run("watch origin.x")
run("watch origin.y")
run("awatch counter")
run("watch -l *(char (*)[64]) &counter")
run("info watchpoints")
run("continue")
expect_stopped_in("sum_to")
expect(value("counter") == 0, "stopped at the read of the first counter++")
run("continue")
expect_stopped_in("sum_to")
expect(value("counter") == 1, "stopped at its write (counter %d)" % value("counter"))
run("delete")
run("watch watched_value")
run("continue")
expect(value("watched_value") == 1, "watched_value == 1")
run("delete")
run("continue")
