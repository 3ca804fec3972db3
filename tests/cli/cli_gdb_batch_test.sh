#!/usr/bin/env bash
# kvmgdb --gdb-batch end to end on real KVM with the real gdb: scripts run in
# order against the stopped guest, their output and the guest's console are
# printed, and kvmgdb's status is gdb's: 0 when every script ran through, 1 when a
# gdb command failed or a Python script raised (the message shown), N for
# sys.exit(N); bad scripts and options are one line and status 2.
set -u
kvmgdb=$1 guests=$2 gdb=${3:-gdb}
. "$(dirname "$0")/lib.sh"
guest=$guests/cguest64.elf

cat >"$tmp/values.py" <<'PY'
import gdb
gdb.execute("break factorial")
gdb.execute("continue")
print("checked: n =", int(gdb.parse_and_eval("n")))
PY
cat >"$tmp/finish.py" <<'PY'
import gdb
gdb.execute("delete")
gdb.execute("continue")
print("checked: exit code", int(gdb.parse_and_eval("$_exitcode")))
PY
printf 'print 6 * 7\n' >"$tmp/first.gdb"
printf 'continue\nprint $_exitcode\n' >"$tmp/exitcode.gdb"
printf 'break sum_to\ncontinue\nprint no_such_variable\nprint 12345\n' >"$tmp/bad.gdb"
printf 'import gdb\nraise RuntimeError("the guest is wrong")\n' >"$tmp/raise.py"
printf 'import sys\nsys.exit(4)\n' >"$tmp/exit4.py"
printf 'print 1\n' >"$tmp/never.gdb"

b=(--gdb "$gdb" --gdb-batch)
expect "two Python scripts in order: stopped at the entry, a breakpoint, the guest's exit" 0 \
  'checked: n = 5' '' -- "$kvmgdb" "${b[@]}" "$tmp/values.py" --gdb-batch "$tmp/finish.py" "$guest"
check "  the guest's console is printed" grep -q '^factorial(5) = 120$' "$tmp/out"
check "  gdb starts connected, at the entry" grep -q '^_start () at .*start64.S' "$tmp/out"
check "  the guest's exit (HLT: code 0) as gdb saw it" grep -q '^checked: exit code 0$' "$tmp/out"
check "  no connection notices" test ! -s "$tmp/err"
expect "a gdb command file" 0 '^\$1 = 42$' '' -- "$kvmgdb" "${b[@]}" "$tmp/first.gdb" "$guest"
check "  the guest was killed at the end" grep -q 'killed' "$tmp/out"
expect "the guest's exit status reaches gdb; kvmgdb's status is gdb's" 0 '^\$1 = 7$' '' -- \
  "$kvmgdb" "${b[@]}" "$tmp/exitcode.gdb" "$guests/exit-code.elf"
expect "a failing gdb command is status 1, named, and the rest do not run" 1 '^\$1 = 42$' \
  "bad.gdb failed: .*bad.gdb:3: Error in sourced command file:" -- \
  "$kvmgdb" "${b[@]}" "$tmp/first.gdb" --gdb-batch "$tmp/bad.gdb" --gdb-batch "$tmp/never.gdb" "$guest"
check "  the commands before it ran" grep -q '^Breakpoint 1, sum_to' "$tmp/out"
check "  gdb's message is shown" grep -q 'No symbol "no_such_variable" in current context' "$tmp/err"
check "  nothing after the failing command ran" bash -c "! grep -q '12345' '$tmp/out'"
check "  nor the next script" bash -c "! grep -Eq '^\\\$[0-9]+ = 1$' '$tmp/out'"
expect "a Python script that raises is status 1, with its traceback" 1 '^_start \(\) at' 'RuntimeError: the guest is wrong' -- \
  "$kvmgdb" "${b[@]}" "$tmp/raise.py" "$guest"
check "  the traceback starts at the script, not at kvmgdb's driver" \
  bash -c "grep -q 'raise.py\", line 2' '$tmp/err' && ! grep -q '<string>' '$tmp/err'"
expect "sys.exit(4) in a script is status 4" 4 '^_start \(\) at' '' -- "$kvmgdb" "${b[@]}" "$tmp/exit4.py" "$guest"
# A script that ends gdb itself: gdb's quit detaches (qAttached says 1), and
# the batch run is over with gdb, even for a guest that never ends.
printf 'quit\n' >"$tmp/quit.gdb"
expect "a script's quit: kvmgdb ends with gdb, the guest it detached from stopped" 0 '^_start \(\) at' \
  '^kvmgdb: --gdb-batch: gdb has ended; the guest it detached from is stopped$' -- \
  timeout 120 "$kvmgdb" "${b[@]}" "$tmp/quit.gdb" "$guests/spin-long.elf"
printf 'import sys\nsys.exit("the guest is wrong")\n' >"$tmp/exit_text.py"
expect "sys.exit(TEXT) is status 1 and TEXT on stderr" 1 '^_start \(\) at' '^the guest is wrong$' -- \
  "$kvmgdb" "${b[@]}" "$tmp/exit_text.py" "$guest"

# SIGTERM to kvmgdb while gdb runs a script: kvmgdb ends (128 + 15) and takes
# gdb with it. sigterm_test NAME SCRIPT: SCRIPT writes gdb's pid to
# $GDB_PID_FILE, then blocks.
sigterm_test() {
  local name=$1 script=$2 batch watchdog status gdb_pid
  rm -f "$tmp/gdb.pid"
  GDB_PID_FILE=$tmp/gdb.pid "$kvmgdb" "${b[@]}" "$script" "$guests/spin-long.elf" >"$tmp/out" 2>"$tmp/err" </dev/null &
  batch=$!
  ( sleep 120; kill -KILL "$batch" ) >/dev/null 2>&1 &  # not holding ctest's pipe
  watchdog=$!
  if check "$name: gdb started the script" wait_for "$tmp/gdb.pid" '^[0-9]+$' 60; then
    sleep 2  # into the script's blocking call (gdb's own output is still buffered)
    kill -TERM "$batch"
  fi
  wait "$batch"
  status=$?
  kill "$watchdog" 2>/dev/null
  check "  kvmgdb ends with status 143 (got $status)" test "$status" -eq 143
  gdb_pid=$(cat "$tmp/gdb.pid" 2>/dev/null || echo 0)
  check "  and gdb ($gdb_pid) is gone with it" bash -c "[ $gdb_pid -gt 0 ] && ! kill -0 $gdb_pid 2>/dev/null"
}
cat >"$tmp/spin.py" <<'PY'
import os
import gdb
with open(os.environ["GDB_PID_FILE"], "w") as f:
    f.write("%d\n" % os.getpid())
gdb.execute("continue")
PY
sigterm_test "SIGTERM while gdb waits in continue on a guest that never stops" "$tmp/spin.py"
# After a script's kill the server has ended (and given SIGTERM back to its
# default action) while gdb runs on.
cat >"$tmp/after_kill.py" <<'PY'
import os
import time
import gdb
gdb.execute("kill")
with open(os.environ["GDB_PID_FILE"], "w") as f:
    f.write("%d\n" % os.getpid())
time.sleep(100)
PY
sigterm_test "SIGTERM while gdb runs on after the guest was killed" "$tmp/after_kill.py"
# Ctrl-C reaching a Python script: KeyboardInterrupt, status 130.
printf 'raise KeyboardInterrupt\n' >"$tmp/interrupt.py"
expect "a KeyboardInterrupt in a script is status 130" 130 '^_start \(\) at' 'interrupt.py interrupted' -- \
  "$kvmgdb" "${b[@]}" "$tmp/interrupt.py" "$guest"
# A script named like an option is still a file (kvmgdb passes absolute paths).
printf 'print 5 * 5\n' >"$tmp/-v.gdb"
expect "a script whose name starts with '-'" 0 '^\$1 = 25$' '' -- \
  bash -c 'cd "$1" && exec "$2" --gdb "$3" --gdb-batch=-v.gdb "$4"' _ "$tmp" "$kvmgdb" "$gdb" "$guest"
# gdb inherits nothing from kvmgdb but stdin, stdout and stderr: not the packet log.
cat >"$tmp/fds.py" <<'PY'
import os
links = []
for n in os.listdir("/proc/self/fd"):
    try:
        links.append(os.readlink("/proc/self/fd/" + n))
    except OSError:  # listdir's own fd, closed by now
        pass
print("packet log open in gdb:", any(l.endswith("fds.packets") for l in links))
PY
expect "gdb does not inherit kvmgdb's packet log" 0 '^packet log open in gdb: False$' '' -- \
  "$kvmgdb" --log-packets "$tmp/fds.packets" "${b[@]}" "$tmp/fds.py" "$guest"

expect "a missing script: one line, status 2, before anything runs" 2 '' \
  "^kvmgdb: --gdb-batch: cannot read '$tmp/nope.py': No such file or directory$" -- \
  "$kvmgdb" "${b[@]}" "$tmp/nope.py" "$guest"
expect "a gdb that cannot be run: one line, status 2" 2 '' \
  '^kvmgdb: --gdb-batch: cannot run /nonexistent/gdb: No such file or directory$' -- \
  "$kvmgdb" --gdb /nonexistent/gdb --gdb-batch "$tmp/first.gdb" "$guest"
expect "--gdb-batch with --listen: one line, status 2" 2 '' \
  '^kvmgdb: --gdb-batch serves gdb on a loopback port of its own: it does not take --listen$' -- \
  "$kvmgdb" --listen 127.0.0.1:0 --gdb-batch "$tmp/first.gdb" "$guest"
expect "--gdb without --gdb-batch: status 2" 2 '' '^kvmgdb: --gdb needs --gdb-batch$' -- \
  "$kvmgdb" --gdb "$gdb" "$guest"
finish
