# Ctrl-C: run_gdb_test.py sends SIGINT to gdb once the guest printed "spinning",
# which the guest does from inside its endless loop after 1000 rounds. The stop
# may land anywhere in that loop, console_write included, so the check is that
# spin_forever is on the stack, not that it is the innermost frame.
connect()
run("continue")
run("info program")
expect_on_stack("spin_forever")
count = value("spin_counter")
expect(count >= 1000, "spin_counter advanced past the announcement (%d)" % count)
run("p spin_counter")
run("stepi")
run("kill")
