# paged-scatter32 (--mode protected --breakpoints hlt --watchpoints pageprot): the
# guest turns on 32-bit paging itself, linear 0x400000 + i*4K on the frames
# 0x200000 + (7-i)*8K. Through gdb: reads across linear pages take each from its
# own frame, monitor phys on reads the frame, monitor translate shows the PDE and
# PTE, a breakpoint on the remapped code page hits, a write watchpoint on the
# remapped data page fires.
connect()
run("break *paging_on")
run("continue")
run("delete")
run("monitor translate 0x401000")
run("monitor translate 0x407ffc")
run("x/2xw 0x401000")
run("x/4xw 0x403ff8")
linear = bytes(gdb.selected_inferior().read_memory(0x401000, 8))
run("monitor phys on")
physical = bytes(gdb.selected_inferior().read_memory(0x20c000, 8))
run("x/2xw 0x20c000")
run("x/2xw 0x401000")
expect(linear == physical, "scatter_value's 8 bytes through the linear and the physical address")
run("monitor phys off")
run("break *scatter_store")
run("continue")
expect(pc() == 0x40000e, "stopped at scatter_store on the remapped code page")
expect(value("$eax") == 4, "about to store 4")
run("delete")
run("watch *(int *)&scatter_value")
for expected in (4, 13, 40):
    run("continue")
    expect(value("*(int *)&scatter_value") == expected, "scatter_value == %d" % expected)
run("delete")
run("continue")
