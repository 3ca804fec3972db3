# A write watchpoint: each of main's three stores to watched_value stops with
# the old and new values.
connect()
run("break main")
run("continue")
run("watch watched_value")
for expected in (1, 2, 3):
    run("continue")
    expect(value("watched_value") == expected, "watched_value == %d" % expected)
run("delete")
run("continue")
