# A triple fault stops the guest with SIGSEGV; it cannot go on, so gdb kills it.
# Registers stay readable. What they hold depends on the host: Intel's KVM leaves
# the state of the faulting instruction; AMD's reinitialises the vCPU on a shutdown
# intercept (the VMCB is undefined after it), so rip reads as the reset vector 0xfff0.
connect()
run("continue")
expect(pc() in (int(value("&fault")), 0xfff0), "stopped at the faulting ud2 or, on AMD, the reset vector")
run("info registers rip")
run("kill")
