# The gdb extension in long mode (int3-long: its own IDT with a gate for #BP):
# the architecture follows the 64-bit layout, `kvmgdb gdt` decodes kvmgdb's GDT,
# `kvmgdb idt` the guest's gate 3, `kvmgdb walk` the 4-level walk.
connect()
source_extension()
expect_match(r"^gdb architecture: i386:x86-64$", run("kvmgdb mode"), "64-bit layout: i386:x86-64")
run("break before_int3")
run("continue")
expect(pc() == value("&before_int3"), "stopped after lidt")
out = run("kvmgdb gdt")
expect_match(r"^0x0018  base 0x00000000 limit 0xffffffff type 0xb code execute/read, accessed  DPL 0 P 1 L 1 D/B 0 G 1$",
             out, "0x18: 64-bit code (L=1, D=0)")
out = run("kvmgdb idt")
expect_match(r"^vector   3  64-bit interrupt gate  selector 0x%04x offset 0x%x  DPL 0 P 1 IST 0$"
             % (value("$cs"), value("&bp_handler")), out, "gate 3 -> bp_handler through this CS")
out = run("kvmgdb walk &idt")
expect_match(r"=> phys 0x%016x \(2 MiB page, writable, supervisor\)" % value("&idt"), out, "identity, 2 MiB page")
run("delete")
run("continue")
