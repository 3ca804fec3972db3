# The gdb extension in 32-bit paged mode (cguest32, --mode paged32): the
# architecture is i386, `kvmgdb gdt` decodes kvmgdb's GDT, `kvmgdb idt` says there
# is none, `kvmgdb walk` shows the 4 MiB page of a variable.
connect()
source_extension()
expect_match(r"^gdb architecture: i386$", run("kvmgdb mode"), "32-bit mode: i386")
run("break main")
run("continue")
out = run("kvmgdb gdt")
expect_match(r"^0x0008  base 0x00000000 limit 0xffffffff type 0xb code execute/read, accessed  DPL 0 P 1 L 0 D/B 1 G 1$",
             out, "0x08: flat 32-bit code")
run("kvmgdb idt")
out = run("kvmgdb walk &main")
expect_match(r"=> phys 0x%016x \(4 MiB page, writable, supervisor\)" % value("&main"), out, "identity, 4 MiB page")
out = run("kvmgdb walk 0xfffff000")
expect_match(r"=> no translation", out, "past RAM: no translation")
run("delete")
run("continue")
