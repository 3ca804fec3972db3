#!/usr/bin/env python3
"""LLDB against kvmgdb (`gdb-remote`): LLDB must accept kvmgdb's target description
(general, x87/SSE, AVX, and the system registers) and its threads.

  lldb_session.py --lldb LLDB --kvmgdb KVMGDB --guests DIR

For smp64.elf (long mode) and smp32.elf (protected mode), each with --cpus 2:
starts `kvmgdb --listen 127.0.0.1:0 --cpus 2 GUEST`, runs `lldb --batch` with
`gdb-remote`, `register read` of the pc and of cr0/efer (values as kvmgdb's mode
setup makes them), ymm0 in long mode (LLDB composes it from xmm0 and ymm0h),
`thread list` (two threads), a breakpoint in vcpu1_work hit on thread 2, `bt`
through vcpu_main, and `process detach`; then checks kvmgdb exits 0 (the guest ran
to its end after the detach). Prints what it checked; exit status 0 = pass.
"""

import argparse
import re
import subprocess
import sys
import threading

TIMEOUT = 120


class Fail(Exception):
    pass


def check(condition, what, output=""):
    if not condition:
        raise Fail(what + ("\n---- lldb ----\n" + output if output else ""))
    print("ok: " + what, flush=True)


def session(lldb, kvmgdb, guest, long_mode):
    server = subprocess.Popen([kvmgdb, "--listen", "127.0.0.1:0", "--cpus", "2", guest],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline()
        m = re.search(r"listening on (\S+)", line)
        if not m:
            raise Fail(f"kvmgdb did not say where it listens: {line!r}")
        threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
        pc = "rip" if long_mode else "eip"
        regs = "cr0 efer ymm0" if long_mode else "cr0 efer"
        commands = [f"gdb-remote {m.group(1)}", f"register read {pc}", f"register read {regs}", "thread list",
                    "breakpoint set -n vcpu1_work", "continue", "bt", "process detach"]
        argv = [lldb, "--batch", "--no-lldbinit"]
        for c in commands:
            argv += ["-o", c]
        out = subprocess.run(argv + [guest], capture_output=True, text=True, timeout=TIMEOUT).stdout
        check("error: failed to" not in out and "Process 1 stopped" in out,
              "LLDB connects and takes the target description", out)
        check(re.search(rf"\b{pc} = 0x0*100000\b", out), f"{pc} is the entry (0x100000)", out)
        # PE MP ET NE (and PG in long mode), EFER.LME|LMA: src/x86/cpu_mode.cpp.
        cr0 = "0x0*80000033" if long_mode else "0x0*33"
        check(re.search(rf"\bcr0 = {cr0}\b", out), "cr0 as the mode setup makes it", out)
        efer = "0x0*500" if long_mode else "0x0*0"
        check(re.search(rf"\befer = {efer}\b", out), "efer as the mode setup makes it", out)
        if long_mode:
            check(re.search(r"\bymm0 = \{(0x00 ){31}0x00\}", out), "ymm0 (AVX) composed from xmm0 and ymm0h", out)
        check(re.search(r"thread #1: tid = 0x0001", out) and re.search(r"thread #2: tid = 0x0002", out),
              "thread list: one thread per vCPU", out)
        check(re.search(r"\* thread #2, stop reason = breakpoint 1\.1", out), "the breakpoint is hit on thread 2", out)
        check(re.search(r"frame #1: .*vcpu_main", out), "bt goes through vcpu_main", out)
        check("Process 1 detached" in out, "process detach", out)
        status = server.wait(timeout=TIMEOUT)
        check(status == 0, f"kvmgdb exits 0 after the detach (got {status})")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lldb", required=True)
    ap.add_argument("--kvmgdb", required=True)
    ap.add_argument("--guests", required=True)
    args = ap.parse_args()
    try:
        for name, long_mode in (("smp64.elf", True), ("smp32.elf", False)):
            print(f"== {name}", flush=True)
            session(args.lldb, args.kvmgdb, f"{args.guests}/{name}", long_mode)
    except (Fail, subprocess.TimeoutExpired) as e:
        print("FAIL: " + str(e), flush=True)
        return 1
    print("PASSED (lldb_session.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
