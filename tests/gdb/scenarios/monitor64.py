# monitor commands (qRcmd) of the KVM target.
connect()
out = run("monitor help")
expect_match(r"info mode", out)
run("monitor info mode")
run("monitor info debug")
run("monitor translate 0x100000")
run("monitor phys on")
run("monitor phys off")
try:
    print("(gdb) monitor no-such-command")
    gdb.execute("monitor no-such-command")  # not to_string: kvmgdb's explanation reaches stdout
    fail("an unknown monitor command was accepted")
except gdb.error as e:
    print("error: " + str(e))
run("continue")
