# The exit port: the guest writes 7; gdb sees the exit code, kvmgdb exits with it.
connect()
run("break main")
run("continue")
expect_stopped_in("main")
expect(value("how_to_end") == 0, "how_to_end is 0: the exit port")
run("delete")
run("continue")
