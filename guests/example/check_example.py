# A gdb test of the example guest, run by kvmgdb itself: the template to copy.
#
#   kvmgdb --gdb-batch guests/example/check_example.py build/guests/example.elf
#
# kvmgdb starts gdb connected to the guest, stopped at its entry, and runs this
# file in gdb's Python. A failed check raises, which makes kvmgdb exit 1 with the
# message; a run that gets to the end exits 0. docs/scripting.md explains the
# patterns used here. (ctest runs it as gdb.example_check.)
import gdb


def check(condition, what):
    """One check: printed when it holds, an exception (status 1) when not."""
    if not condition:
        raise AssertionError("FAILED: " + what)
    print("ok: " + what)


def value(expression):
    return int(gdb.parse_and_eval(expression))


# 1. A breakpoint by function name: the guest runs to it.
gdb.execute("break square")
gdb.execute("continue")
check(gdb.selected_frame().name() == "square", "stopped in square()")
check(value("x") == 1, "the first call is square(1)")

# 2. Up the stack: the caller's locals.
caller = gdb.selected_frame().older()
check(caller.name() == "sum_of_squares", "called from sum_of_squares()")
check(int(caller.read_var("n")) == 4, "sum_of_squares(4)")

# 3. finish: the return value as gdb computes it from rax ("$", the value history).
gdb.execute("delete")
gdb.execute("finish")
check(value("$") == 1, "square(1) returned 1")

# 4. A watchpoint on a global: the store of the sum.
gdb.execute("watch total")
gdb.execute("continue")
check(value("total") == 30, "total = 1 + 4 + 9 + 16 = 30")
gdb.execute("delete")

# 5. Pretend to be the user who releases the guest: break in the wait loop,
#    set the guest's local, and change a global it prints.
gdb.execute("break wait_for_debugger")
gdb.execute("continue")
gdb.execute("next 2")  # past the announcement, into the loop's frame
gdb.execute("set var released = 1")
gdb.execute("set var message[0] = 'U'")
gdb.execute("delete")

# 6. To the end: the guest writes 7 to its exit port, gdb sees the exit code.
gdb.execute("continue")
exit_code = gdb.parse_and_eval("$_exitcode")
check(exit_code.type.code != gdb.TYPE_CODE_VOID and int(exit_code) == 7, "the guest exited with status 7")
print("example: all checks passed")
