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
    run("monitor no-such-command")
    fail("an unknown monitor command was accepted")
except gdb.error as e:
    print("error: " + str(e))
run("continue")
