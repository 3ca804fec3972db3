#!/usr/bin/env bash
# Hostile or broken guests, plain runs of the kvmgdb executable on real KVM: each
# ends with its documented status and message (docs/reliability.md "Hostile guests").
set -u
kvmgdb=$1 guests=$2
. "$(dirname "$0")/lib.sh"

# 1. An exception with no IDT: a triple fault, status 3, the message on stderr.
expect "ud2 with no IDT (long): triple fault, status 3" 3 '^hostile: ud2 with no IDT$' \
  '^kvmgdb: guest triple-faulted \(KVM_EXIT_SHUTDOWN\) at cs:rip' -- "$kvmgdb" "$guests/hostile-ud2-long.elf"
expect "ud2 with no IDT (protected): triple fault, status 3" 3 '^hostile: ud2 with no IDT$' \
  '^kvmgdb: guest triple-faulted \(KVM_EXIT_SHUTDOWN\) at cs:rip' -- "$kvmgdb" "$guests/hostile-ud2-32.elf"
expect "divide by zero with no IDT: triple fault, status 3" 3 '^hostile: divide by zero with no IDT$' \
  '^kvmgdb: guest triple-faulted \(KVM_EXIT_SHUTDOWN\) at cs:rip' -- "$kvmgdb" "$guests/hostile-div0-long.elf"

# 2. MMIO far beyond RAM: all ones, writes dropped, the guest halts (0); nothing on
# stderr unless --verbose, which names the page once.
expect "MMIO at 0xd0000000 (protected): all ones, status 0" 0 '^mmio: all ones, writes dropped$' '' \
  -- "$kvmgdb" "$guests/hostile-mmio32.elf"
expect "MMIO at 0x200000000 (long): all ones, status 0" 0 '^mmio: all ones, writes dropped$' '' \
  -- "$kvmgdb" "$guests/hostile-mmio-long.elf"
expect "MMIO --verbose names the page" 0 '^mmio: all ones, writes dropped$' \
  '^kvmgdb: MMIO read from 0x200000000: no RAM or device there$' -- "$kvmgdb" --verbose "$guests/hostile-mmio-long.elf"
check "MMIO --verbose: one line for the page, not one per access" \
  test "$(grep -c MMIO "$tmp/err")" -eq 1

# 7. Own page tables that unmap one of its pages for a while: runs to its end.
expect "own page tables without a data page: status 0" 0 '^secret ok$' '' -- "$kvmgdb" "$guests/hostile-unmap-long.elf"

# 3. cli; jmp . : nothing inside stops it; SIGTERM to kvmgdb does (death by the
# signal, 128 + 15, as for any process without --listen).
"$kvmgdb" "$guests/hostile-spin-cli.elf" >"$tmp/spin.out" 2>"$tmp/spin.err" </dev/null &
pid=$!
if check "spin with interrupts off: it announced the loop" wait_for "$tmp/spin.out" '^spinning with interrupts off$'; then
  kill -TERM "$pid"
fi
wait "$pid"
status=$?
check "spin with interrupts off: SIGTERM ends kvmgdb (status $status, want 143)" test "$status" -eq 143

# 4. A megabyte of `rep outsb` to port 0xE9: all of it on stdout, byte for byte, then
# the guest halts. KVM exits to user space once per byte of a `rep outs` (about 2 s
# on bare-metal KVM, minutes in the nested KVM under TCG): bounded by 400 s here.
python3 - "$tmp/flood.want" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    f.write(b"flooding\n")
    for line in range(16384):
        f.write(bytes([ord("A") + line % 26]) * 63 + b"\n")
    f.write(b"flood done\n")
PY
start=$SECONDS
timeout -s KILL 400 "$kvmgdb" "$guests/hostile-flood.elf" >"$tmp/flood.out" 2>"$tmp/flood.err" </dev/null
status=$?
echo "     (the flood took $((SECONDS - start)) s)"
check "flood: status 0 (got $status)" test "$status" -eq 0
check "flood: stdout is 9 + 1048576 + 11 bytes (got $(wc -c <"$tmp/flood.out"))" \
  test "$(wc -c <"$tmp/flood.out")" -eq 1048596
check "flood: stdout is exactly the guest's megabyte" cmp -s "$tmp/flood.want" "$tmp/flood.out"
check "flood: nothing on stderr" test ! -s "$tmp/flood.err"

finish
