# detach: breakpoints go, the guest runs to its end, kvmgdb exits with its status.
connect()
run("break sum_to")
run("continue")
expect_stopped_in("sum_to")
run("detach")
