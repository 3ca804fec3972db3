# kill: kvmgdb exits (status 0) and the guest never gets further.
connect()
run("break sum_to")
run("continue")
run("kill")
