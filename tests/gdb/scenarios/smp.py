# Several vCPUs (kvmgdb --cpus 4): each vCPU is a gdb thread (vCPU i = thread i+1).
# smp64.elf: every vCPU counts in counter[index]; vCPU 1 alone calls vcpu1_work().
# All-stop: while gdb has the guest stopped no counter moves; with
# scheduler-locking on, stepi moves only the selected thread; Ctrl-C (sent by
# run_gdb_test.py once the guest says "vCPUs spinning") stops every vCPU.
connect()
out = run("info threads")
expect(len(gdb.selected_inferior().threads()) == 4, "four threads, one per vCPU")
expect_match(r"Thread (1\.)?4 .*vCPU 3", out, "thread 4 is vCPU 3")
run("set var rounds = 0")
run("break vcpu1_work")
run("continue")
expect(gdb.selected_thread().num == 2, "the breakpoint in vcpu1_work is reported on thread 2 (vCPU 1)")
expect_stopped_in("vcpu1_work")
expect(value("$rdi") == 1, "vCPU 1's argument is its index")


def counters():
    return [value("counter[%d]" % i) for i in range(4)]


before = counters()
run("delete")
run("set scheduler-locking on")
for _ in range(12):
    gdb.execute("stepi", to_string=True)
after = counters()
expect(after[0] == before[0] and after[2] == before[2] and after[3] == before[3],
       "scheduler-locked stepi on thread 2 moves no other vCPU's counter")
expect(gdb.selected_thread().num == 2, "still on thread 2 after the steps")
run("thread 3")
expect(value("$rip") != 0, "thread 3 has its own registers")
run("set scheduler-locking off")
run("set var announce = 4")  # the cue once all four count (vCPU 3 may start late)
run("continue")
stopped = counters()
frozen = counters()
expect(stopped == frozen, "after Ctrl-C no counter moves while gdb looks")
expect(all(c > 0 for c in stopped), "every vCPU counted")
run("set var keep_going = 0")
run("continue")
