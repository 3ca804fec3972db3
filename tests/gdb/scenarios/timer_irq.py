# guests/timer-irq.S on the pc platform, what tests/gdb/timer_irq_check.py (the
# stepping test) leaves out:
# 1. Ctrl-C (run_gdb_test.py sends it once the guest printed "timer-irq: ready")
#    stops the vCPU that waits in HLT with interrupts on, inside KVM (the in-kernel
#    LAPIC keeps a halted vCPU there).
# 2. The timers go on: a breakpoint in the PIT's handler is hit, and `monitor info
#    irq` shows IRQ 0 in service at the master PIC (the handler's EOI is still to come)
#    and the LAPIC timer's vector programmed.
# 3. A watchpoint on pit_ticks fires in the PIT's handler, on the instruction after
#    the increment, with the count one higher.
connect()
run("continue")
idle = value("&idle")
expect(pc() in (idle, value("&idle_after_hlt")), "Ctrl-C stopped the vCPU in its HLT loop (pc %#x)" % pc())
expect(value("$eflags") & 0x200 != 0, "it waited with interrupts on")
before = value("*(int *)&pit_ticks")

run("break pit_handler")
run("continue")
expect(pc() == value("&pit_handler"), "stopped at the PIT's interrupt handler")
expect(value("$eflags") & 0x200 == 0, "the interrupt gate cleared IF")
expect(value("*(int *)&pit_ticks") >= before, "pit_ticks kept counting")
irq = run("monitor info irq")
expect_match(r"8259 master: vectors 0x20-0x27.*in service \(ISR\) 0\b", irq,
             "monitor info irq: IRQ 0 in service at the master PIC")
expect_match(r"(?i)timer.*0x40", irq, "monitor info irq: the LAPIC timer at vector 0x40")
run("delete")
ticks = value("*(int *)&pit_ticks")
run("watch *(int *)&pit_ticks")
run("continue")
handler = value("&pit_handler")
expect(handler < pc() <= handler + 16, "the watchpoint stopped in pit_handler (pc %#x)" % pc())
expect(value("*(int *)&pit_ticks") == ticks + 1, "pit_ticks is one higher")
run("delete")
run("kill")
