# higher-half-long (--breakpoints hlt --watchpoints pageprot, what CI's nested KVM
# uses): the guest's own 4-level tables map linear 0xffffffff80000000 + n*4K onto
# physical 0x100000 + n*4K. Through gdb: memory at a higher-half address is the
# frame's (written linearly, read back physically with monitor phys on), monitor
# translate shows the guest's entries, a breakpoint in the higher half hits and a
# write watchpoint on a higher-half variable fires three times.
connect()
run("break *paging_on")
run("continue")
expect(pc() == value("&paging_on"), "stopped at paging_on, on the guest's own tables")
run("delete")
run("monitor translate 0xffffffff80009000")
expect(value("&hh_value") == 0xffffffff80009000, "hh_value is linked in the higher half")
run("set var hh_value = 0x1122334455667788")
linear = bytes(gdb.selected_inferior().read_memory(0xffffffff80009000, 16))
run("x/2xg &hh_value")
run("monitor phys on")
physical = bytes(gdb.selected_inferior().read_memory(0x109000, 16))
run("x/2xg 0x109000")
expect(linear == physical, "the same 16 bytes through the linear and the physical address")
run("set var *(unsigned long *)0x109000 = 1")
run("monitor phys off")
run("print hh_value")
expect(value("hh_value") == 1, "a physical write is seen at the linear address")
run("break higher_half_main")
run("continue")
expect_stopped_in("higher_half_main")
expect(pc() >= 0xffffffff80000000, "the pc is a higher-half address")
run("watch hh_value")
for expected in (4, 13, 40):
    run("continue")
    expect(value("hh_value") == expected, "hh_value == %d" % expected)
run("delete")
run("continue")
