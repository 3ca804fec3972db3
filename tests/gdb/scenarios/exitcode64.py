# The exit port: the guest writes 7; gdb sees the exit code, kvmgdb exits with it.
connect()
run("continue")
