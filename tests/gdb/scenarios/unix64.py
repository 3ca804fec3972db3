# --listen unix:PATH, and --log-packets - (every packet on stderr).
connect()
run("break factorial")
run("continue")
expect_stopped_in("factorial")
run("delete")
run("continue")
