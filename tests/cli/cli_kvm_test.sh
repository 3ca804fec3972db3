#!/usr/bin/env bash
# The kvmgdb executable end to end on real KVM: console output and exit statuses.
set -u
kvmgdb=$1 guests=$2
. "$(dirname "$0")/lib.sh"

expect "hello-long prints and exits 0" 0 '^Hello, world!$' '' -- "$kvmgdb" "$guests/hello-long.elf"
expect "hello-real" 0 '^Hello, world!$' '' -- "$kvmgdb" --mode real "$guests/hello-real.elf"
expect "hello-paged32" 0 '^Hello, world!$' '' -- "$kvmgdb" --mode paged32 "$guests/hello-paged32.elf"
expect "32-bit ELF in paged32 (README example)" 0 '^factorial\(5\) = 120$' '' -- "$kvmgdb" --mode paged32 "$guests/cguest32.elf"
expect "exit port gives the status" 7 '^exiting with 7$' '' -- "$kvmgdb" "$guests/exit-code.elf"
expect "exit port: low byte of a 32-bit outl" 5 '^exiting with outl' '' -- "$kvmgdb" "$guests/exit-outl.elf"
expect "--cpus 4: the run ends when every vCPU halted" 0 '' '' -- "$kvmgdb" --cpus 4 "$guests/smp64.elf"
expect "triple fault is status 3 with a message" 3 'about to triple-fault' 'guest triple-faulted' -- "$kvmgdb" "$guests/triple-fault-long.elf"
expect "--memory 128M" 0 '^Hello, world!$' '' -- "$kvmgdb" --memory 128M "$guests/hello-long.elf"
# A flat binary: the hello guest's loadable bytes, loaded where it was linked.
objcopy -O binary "$guests/hello-long.elf" "$tmp/hello.bin"
expect "raw image" 0 '^Hello, world!$' '' -- "$kvmgdb" --format raw --load-addr 0x100000 --mode long "$tmp/hello.bin"
expect "--check-kvm runs all four modes" 0 'paged32: ok' '' -- "$kvmgdb" --check-kvm

# --listen: kvmgdb's own statuses. Each run serves a Unix socket in $tmp; the
# script waits for "listening on" (kvmgdb prints it once the socket listens and
# its SIGINT/SIGTERM handlers are in place), then acts. rsp_client.py speaks the
# protocol where gdb would (tests/cli/rsp_client.py).
rsp="python3 $(dirname "$0")/rsp_client.py"

# listen NAME GUEST: starts kvmgdb in the background ($pid), output in
# $tmp/NAME.out / .err, and waits until it listens on $tmp/NAME.sock.
listen() {
  sock=$tmp/$1.sock out=$tmp/$1.out err=$tmp/$1.err
  "$kvmgdb" --listen "unix:$sock" "$2" >"$out" 2>"$err" </dev/null &
  pid=$!
  check "$1: listening on unix:$sock" wait_for "$err" "^listening on unix:$sock\$" ||
    kill -KILL "$pid"  # the checks that follow then fail instead of waiting for it
}

# ended NAME STATUS: waits for kvmgdb and checks its status and that the socket is gone.
ended() {
  wait "$pid"
  local status=$?
  check "$1: kvmgdb exits with $2 (got $status)" test "$status" -eq "$2"
  check "$1: the socket file is removed" test ! -e "$sock"
  [ "$status" -eq "$2" ] || { echo "  stdout: $(head -c 600 "$out")"; echo "  stderr: $(head -c 600 "$err")"; }
}

# SIGINT while waiting for gdb (the guest has not run): 128 + 2. The "shutting
# down" line tells a handled signal from death by it (which also reads as 130).
listen sigint "$guests/hello-long.elf"
check "sigint: the socket file exists while listening" test -S "$sock"
kill -INT "$pid"
ended sigint 130
check "sigint: kvmgdb said it shut down" grep -q "Interrupt, shutting down" "$err"

# SIGTERM while gdb is connected and the guest runs (it announced 1000 loops):
# 128 + 15; the connection is closed.
listen sigterm "$guests/spin-long.elf"
check "sigterm: the client saw the connection close" \
  $rsp "$sock" 'send:vCont;c' "wait-file:$out:^spinning\$" "kill:$pid:15" eof
ended sigterm 143
check "sigterm: kvmgdb said it shut down" grep -q "Terminated, shutting down" "$err"

# A guest that triple-faults once gdb continues it: the stop is SIGSEGV (T0b);
# gdb detaches from the wreck and kvmgdb exits with 3, the crash status.
listen crash "$guests/triple-fault-long.elf"
check "crash: SIGSEGV stop, detach OK" \
  $rsp "$sock" 'send:vCont;c' 'expect:T0b.*' 'send:D' 'expect:OK' eof
ended crash 3
check "crash: the guest ran up to the fault" grep -q "about to triple-fault" "$out"
check "crash: the reason on stderr" grep -q "guest triple-faulted" "$err"

# Detach at the entry point from a guest that then writes 7 to the exit port:
# the guest runs on to its end and kvmgdb exits with its status.
listen detach7 "$guests/exit-code.elf"
check "detach7: detach OK" $rsp "$sock" 'send:D' 'expect:OK' eof
ended detach7 7
check "detach7: the guest ran after the detach" grep -q "^exiting with 7\$" "$out"
finish
