# A guest that faults for good (a triple fault) stops with SIGSEGV; the next resume
# ends it with that signal (`X0b`), as a process killed by the signal it stopped
# with would (gdb.base/exitsignal): gdb prints "Program terminated with signal
# SIGSEGV" and the program is gone. kvmgdb then exits 3 (the guest crashed).
# ($_exitsignal stays void here: gdb fills it only through an OS ABI's signal
# mapping, which a bare-metal target has not.)
connect()
run("break main")
run("continue")
run("set var how_to_end = 1")
run("delete")
run("continue")
run("continue")
out = run("info program")
expect_match(r"not being run", out, "the program is gone")
