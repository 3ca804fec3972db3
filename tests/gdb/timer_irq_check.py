# Stepping through an interrupt handler while more interrupts are pending, on the pc
# platform (guests/timer-irq.S: PIT at 100 Hz on IRQ 0, LAPIC timer at 100 Hz on
# vector 0x40, COM1 on IRQ 4). Run as
#   TIMER_IRQ_INPUT=FIFO kvmgdb --gdb-batch timer_irq_check.py timer-irq.elf 0<>FIFO
# (tests/kvm/CMakeLists.txt, gdb.timer_irq_step): kvmgdb's stdin is COM1's input, and
# the script types "hiq" into FIFO a second into the last continue, which makes the
# guest print its counts and exit with 0. A failed stepping check is reported and the
# stepping goes on from where it landed; the script fails at the end.
#
# `break pit_handler` (int3, or HLT patches where a nested KVM's int3 does not trap)
# must stop at pit_handler's first instruction with IF clear and IRQ 0 in service.
# Then, with the PIT's and the LAPIC timer's next interrupts pending before every
# step (30 ms pauses; both tick every 10 ms), each stepi must land on the handler's
# next instruction, also after its sti (KVM_GUESTDBG_BLOCKIRQ: a step never takes an
# interrupt): lapic_ticks must not move, pit_ticks go up by exactly one, pit_work by
# four; the stepi over iret must land on the interrupted instruction of the idle
# loop, and one more stepi there on the loop's next instruction, not in a handler.
# Twice: the second stop is the tick that was pending.
import os
import re
import threading
import time

import gdb


failures = []


def check(condition, what, soft=False):
    """soft: record the failure and go on (the stepping checks: one run shows them all)."""
    print(("ok: " if condition else "FAILED: ") + what)
    if not condition:
        failures.append(what.split("; trace:")[0])
        if not soft:
            raise AssertionError(what)


def value(expr):
    return int(gdb.parse_and_eval(expr)) & 0xFFFFFFFF


def u32(address):
    return value("*(unsigned int *)0x%x" % address)


def pc():
    return value("$pc")


PIT = value("(unsigned int)&pit_handler")
LAPIC = value("(unsigned int)&lapic_handler")
UART = value("(unsigned int)&uart_handler")
IDLE = value("(unsigned int)&idle")
IDLE_END = value("(unsigned int)&idle_end")
PIT_TICKS = value("(unsigned int)&pit_ticks")
LAPIC_TICKS = value("(unsigned int)&lapic_ticks")
PIT_WORK = value("(unsigned int)&pit_work")
IF = 1 << 9
HANDLERS = {PIT: "pit_handler", LAPIC: "lapic_handler", UART: "uart_handler"}


def where(address):
    try:
        return gdb.execute("info symbol 0x%x" % address, to_string=True).strip()
    except gdb.error:
        return "?"


def state():
    return "pc=0x%x (%s) eflags=0x%x esp=0x%x pit_ticks=%d lapic_ticks=%d" % (
        pc(), where(pc()), value("$eflags"), value("$esp"), u32(PIT_TICKS), u32(LAPIC_TICKS))


gdb.execute("break pit_handler")
arch = gdb.selected_inferior().architecture()
insns = arch.disassemble(PIT, count=16)
insns = insns[:[i["asm"].startswith("iret") for i in insns].index(True) + 1]
check(any(i["asm"].startswith("sti") for i in insns), "pit_handler turns interrupts on before its iret: %s"
      % [i["asm"] for i in insns])

for round in (1, 2):
    gdb.execute("continue")
    check(gdb.selected_inferior().pid != 0, "round %d: the guest is still running" % round)
    check(pc() == PIT, "round %d: stopped at pit_handler: %s" % (round, state()))
    check(value("$eflags") & IF == 0, "round %d: IF is clear in the handler" % round)
    irq = gdb.execute("monitor info irq", to_string=True)
    check(re.search(r"8259 master: vectors 0x20-0x27.*in service \(ISR\) 0\b", irq, re.S) is not None,
          "round %d: monitor info irq: IRQ 0 in service at the master PIC" % round)
    esp = value("$esp")
    ret_eip, ret_eflags = u32(esp), u32(esp + 8)
    check(IDLE <= ret_eip < IDLE_END and ret_eflags & IF,
          "round %d: it interrupted the idle loop at 0x%x (%s) with IF set (eflags 0x%x)"
          % (round, ret_eip, where(ret_eip), ret_eflags))
    pit0, lapic0, work0 = u32(PIT_TICKS), u32(LAPIC_TICKS), u32(PIT_WORK)
    trace = [state()]

    def step(want, what):
        time.sleep(0.03)  # the PIT's and the LAPIC timer's next interrupts are pending now
        gdb.execute("stepi")
        trace.append(state())
        landed = pc() == want
        check(landed, "round %d: stepi over %s lands on 0x%x (%s), not further or in a handler%s"
              % (round, what, want, where(want), "" if landed else "; trace:\n    " + "\n    ".join(trace)), soft=True)
        check(u32(LAPIC_TICKS) == lapic0, "round %d: lapic_ticks unchanged (%d) after stepi over %s"
              % (round, lapic0, what), soft=True)

    # One stepi per instruction, each expected on the next one (the one over iret on
    # the interrupted instruction); after a wrong landing, on from where it landed.
    while PIT <= pc() < PIT + 64:
        here = arch.disassemble(pc())[0]
        step(ret_eip if here["asm"].startswith("iret") else here["addr"] + here["length"],
             "'%s' at 0x%x" % (here["asm"], here["addr"]))
    check(u32(PIT_TICKS) == pit0 + 1, "round %d: pit_ticks went up by exactly one across the handler (%d -> %d)"
          % (round, pit0, u32(PIT_TICKS)), soft=True)
    check(u32(PIT_WORK) == work0 + 4, "round %d: pit_work went up by four (%d -> %d)" % (round, work0, u32(PIT_WORK)),
          soft=True)
    check(value("$eflags") & IF, "round %d: iret set IF again" % round, soft=True)
    here = arch.disassemble(pc())[0]
    if not here["asm"].startswith("hlt"):  # a step over hlt would wait for the interrupt
        want = IDLE if here["asm"].startswith("jmp") else here["addr"] + here["length"]
        step(want, "the idle loop's '%s' at 0x%x" % (here["asm"], here["addr"]))
        check(u32(PIT_TICKS) == pit0 + 1, "round %d: no PIT handler ran in that step" % round, soft=True)
    print("round %d trace:\n    %s" % (round, "\n    ".join(trace)))

gdb.execute("delete")


def type_q():  # a second of running first: the LAPIC timer must tick with no debugger in the way
    time.sleep(1.0)
    with open(os.environ["TIMER_IRQ_INPUT"], "w") as f:
        f.write("hiq")


threading.Thread(target=type_q).start()
gdb.execute("continue")
check(gdb.selected_inferior().pid == 0, "the guest ended after 'q'")
check(int(gdb.parse_and_eval("$_exitcode")) == 0, "exit status 0: both timers ticked more than 3 times")
check(not failures, "no stepping check failed (%d did: %s)" % (len(failures), "; ".join(failures)))
print("timer_irq: all checks passed")
