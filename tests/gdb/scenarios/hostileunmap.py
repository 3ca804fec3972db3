# hostile-unmap-long loads its own page tables, in which the page of `secret` is
# not present. While they are loaded, gdb cannot read `secret` (kvmgdb answers the m
# packet with an error), `monitor translate` shows the not-present entry, and
# breakpoints on code that stays mapped still work. Once the guest restores
# kvmgdb's tables, `secret` reads again.
connect()
secret = value("&secret")
run("x/gx 0x%x" % secret)
run("break unmapped_phase")
run("break restored")
run("continue")
expect(pc() == value("&unmapped_phase"), "stopped at unmapped_phase, under the guest's page tables")
expect(value("$cr3") == value("&new_pml4"), "cr3 is the guest's new_pml4")
try:
    run("x/gx 0x%x" % secret)
    fail("secret was readable while unmapped")
except gdb.error as e:
    print("gdb error: %s" % e)
expect_match(r"not present", run("monitor translate 0x%x" % secret), "translate: secret's PTE is not present")
expect_match(r"=> phys 0x0*100000 ", run("monitor translate 0x100000"), "translate: the code page is still mapped")
run("continue")
expect(pc() == value("&restored"), "stopped at restored, back on kvmgdb's page tables")
expect(value("*(unsigned long long *)0x%x" % secret) == 0x5ec2e7, "secret reads 0x5ec2e7 again")
run("x/gx 0x%x" % secret)
run("delete")
run("continue")
