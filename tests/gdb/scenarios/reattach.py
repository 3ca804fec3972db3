# `disconnect` drops the connection without detaching: the guest stays stopped
# where it was and a new connection finds it there.
connect()
run("break factorial")
run("continue")
run("disconnect")
connect()
expect_stopped_in("factorial")
expect(value("n") == 5, "still in factorial(5)")
run("bt")
run("delete")
run("continue")
