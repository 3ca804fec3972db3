# A triple fault stops the guest with SIGSEGV; it cannot go on, so gdb kills it.
# gdb makes the guest fault by setting how_to_end. Registers stay readable. Where
# the pc is depends on the host: Intel's KVM leaves the state of the faulting
# instruction; AMD's reinitialises the vCPU on a shutdown intercept (the VMCB is
# undefined after it), so the pc reads as the reset vector (f000:fff0).
connect()
run("break main")
run("continue")
run("set var how_to_end = 1")
run("delete")
run("continue")
run("info registers pc")
expect(pc() in (value("&fault"), 0xfff0, 0xfffffff0), "stopped at the faulting int or, on AMD, the reset vector")
run("kill")
