# stepi / nexti / step / next / until / advance.
connect()
start = pc()
run("stepi")
expect(pc() != start, "stepi moved the pc")
run("break main")
run("continue")
expect_stopped_in("main")
run("step")      # into factorial(5)? main's first lines are stores: step until a call
for _ in range(5):
    if frame_name() == "factorial":
        break
    run("step")
expect_stopped_in("factorial")
expect(value("n") == 5, "step entered factorial(5)")
run("finish")
before = pc()
run("nexti")
expect(pc() != before, "nexti moved the pc")
run("next")
run("next")
expect_stopped_in("main")
run("advance sum_to")
expect_stopped_in("sum_to")
# until: run to a line after the loop (no stop at each iteration).
# The line of `return sum;`, looked up in the source so edits to cguest.c don't break it.
source = gdb.lookup_global_symbol("sum_to").symtab.fullname()
line = next(i for i, text in enumerate(open(source), 1) if "return sum;" in text)
run("until %d" % line)
expect_stopped_in("sum_to")
expect(value("sum") == 55, "until ran the whole loop")
run("delete")
run("continue")
