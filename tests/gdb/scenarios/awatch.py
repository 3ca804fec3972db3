# An access watchpoint (Z4): stops on the reads and the writes of counter in
# sum_to's loop (counter++ reads, then writes); gdb shows "Value =" for a read
# and "Old value/New value" for a write.
connect()
run("break sum_to")
run("continue")
expect_stopped_in("sum_to")
run("delete")
run("awatch counter")
values = []
for _ in range(4):
    run("continue")
    expect_stopped_in("sum_to")
    values.append(value("counter"))
expect(values[-1] >= 1, "counter went up while watched (%s)" % values)
run("delete")
run("continue")
