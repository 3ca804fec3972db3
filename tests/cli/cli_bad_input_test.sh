#!/usr/bin/env bash
# kvmgdb on bad command lines and bad guest images: status 2 and a message that
# names the file and the problem. None of these reach KVM, so they run anywhere.
set -u
kvmgdb=$1 guests=$2
. "$(dirname "$0")/lib.sh"

expect "--help documents the options" 0 'Usage: kvmgdb.*' '' -- "$kvmgdb" --help
expect "--help has examples" 0 'kvmgdb --mode paged32 my-kernel.elf' '' -- "$kvmgdb" --help
# Every line of --help fits 80 columns, with no trailing blanks, and an option's
# description breaks a line only where the next word would not fit in the 79
# columns Program_options fills (it broke them mid-sentence where a description
# held a newline of its own).
"$kvmgdb" --help >"$tmp/help.txt"
check "--help fits 80 columns" awk 'length($0) > 80 { bad = 1; print "  too long: " $0 } END { exit bad }' "$tmp/help.txt"
check "--help has no trailing blanks" bash -c '! grep -n " $" "$1"' _ "$tmp/help.txt"
check "--help breaks descriptions only where a word does not fit" awk '
  function continuation(l) { return substr(l, 1, 30) ~ /^ *$/ && length(l) > 30 && substr(l, 31, 1) != " " }
  continuation($0) && prev != "" {
    if (length(prev) + 1 + length($1) <= 79) { bad = 1; print "  needless break after: " prev }
  }
  { prev = ($0 ~ /^  -/ || continuation($0)) ? $0 : "" }
  END { exit bad }' "$tmp/help.txt"
expect "--version" 0 '^kvmgdb [0-9]+\.[0-9]+' '' -- "$kvmgdb" --version
expect "no guest" 2 '' "no guest image given" -- "$kvmgdb"
expect "unknown option" 2 '' "unrecognised option '--frobnicate'|unrecognized option '--frobnicate'" -- "$kvmgdb" --frobnicate x.elf
expect "bad mode" 2 '' "unknown --mode 'vm86'" -- "$kvmgdb" --mode vm86 "$guests/hello-long.elf"
expect "bad memory size" 2 '' "invalid size 'lots'" -- "$kvmgdb" --memory lots "$guests/hello-long.elf"
expect "memory too large" 2 '' "between 1 MiB and 3 GiB" -- "$kvmgdb" --memory 8G "$guests/hello-long.elf"
expect "missing file" 2 '' "nowhere.elf: .*No such file" -- "$kvmgdb" "$tmp/nowhere.elf"
echo "just text" >"$tmp/text.elf"
expect "not an ELF" 2 '' "text.elf: not an ELF file" -- "$kvmgdb" "$tmp/text.elf"
head -c 30 "$guests/hello-long.elf" >"$tmp/trunc.elf"
expect "truncated ELF" 2 '' "trunc.elf: .*truncated" -- "$kvmgdb" "$tmp/trunc.elf"
expect "ELF64 in a 32-bit mode" 2 '' "hello-long.elf: a 64-bit ELF .*long mode only" -- "$kvmgdb" --mode protected "$guests/hello-long.elf"
expect "ELF32 in long mode" 2 '' "hello-protected.elf: a 32-bit ELF .*cannot start in long mode" -- "$kvmgdb" --mode long "$guests/hello-protected.elf"
expect "segment outside RAM" 2 '' "high-long.elf: .*outside guest RAM" -- "$kvmgdb" --memory 8M "$guests/high-long.elf"
expect "real mode entry above 1 MiB" 2 '' "hello-protected.elf: entry point 0x100000 is above 1 MiB" -- "$kvmgdb" --mode real "$guests/hello-protected.elf"
expect "raw without load address" 2 '' "--format raw needs --load-addr" -- "$kvmgdb" --format raw "$guests/hello-long.elf"

# The harness itself: '' means "must be empty", so both checks in the subshell
# must fail (their report lines are discarded; the counts tell).
if ( passed=0 failed=0
     expect "'' refuses stdout" 0 '' '' -- echo something
     expect "'' refuses stderr" 0 '' '' -- sh -c 'echo oops >&2'
     [ "$failed" -eq 2 ] && [ "$passed" -eq 0 ] ) >/dev/null; then
  passed=$((passed + 1)); echo "ok   harness: '' means the output must be empty"
else
  failed=$((failed + 1)); echo "FAIL harness: '' accepted some output"
fi

# Bad values: one line naming the value and the problem, status 2, before KVM.
hello=$guests/hello-long.elf
expect "--memory 0" 2 '' "^kvmgdb: --memory '0': guest RAM must be a multiple of 4 KiB between 1 MiB and 3 GiB$" -- "$kvmgdb" --memory 0 "$hello"
expect "--memory 1T" 2 '' "^kvmgdb: --memory '1T': .*between 1 MiB and 3 GiB$" -- "$kvmgdb" --memory 1T "$hello"
expect "--cpus 0" 2 '' "^kvmgdb: --cpus '0': the number of vCPUs must be 1 to 64$" -- "$kvmgdb" --cpus 0 "$hello"
expect "--cpus 65" 2 '' "^kvmgdb: --cpus '65': the number of vCPUs must be 1 to 64$" -- "$kvmgdb" --cpus 65 "$hello"
expect "--cpus two" 2 '' "^kvmgdb: --cpus 'two': the number of vCPUs must be 1 to 64$" -- "$kvmgdb" --cpus two "$hello"
expect "--memory not a multiple of 4 KiB" 2 '' "^kvmgdb: --memory '1025K': guest RAM must be a multiple of 4 KiB" -- "$kvmgdb" --memory 1025K "$hello"
expect "--memory 1M is accepted (the file is the problem)" 2 '' "^kvmgdb: .*nowhere.elf: No such file" -- "$kvmgdb" --memory 1M "$tmp/nowhere.elf"
expect "malformed --listen" 2 '' "^kvmgdb: --listen: invalid listen address 'foo': no port" -- "$kvmgdb" --listen foo "$hello"
expect "--listen port out of range" 2 '' "^kvmgdb: --listen: invalid listen address ':99999': port must be a number from 0 to 65535$" -- "$kvmgdb" --listen :99999 "$hello"
expect "--listen unix: without a path" 2 '' "^kvmgdb: --listen: invalid listen address 'unix:': no socket path" -- "$kvmgdb" --listen unix: "$hello"
expect "--listen on an address of no interface" 2 '' "^kvmgdb: --listen: cannot listen on 192\.0\.2\.1:0: Cannot assign requested address$" -- "$kvmgdb" --listen 192.0.2.1:0 "$hello"
expect "--listen in a directory that does not exist" 2 '' "^kvmgdb: --listen: cannot listen on unix:/proc/x/sock: No such file or directory$" -- "$kvmgdb" --listen unix:/proc/x/sock "$hello"
expect "--listen over a file that is not a socket" 2 '' "^kvmgdb: --listen: cannot listen on unix:$tmp/text.elf: the path exists and is not a socket$" -- "$kvmgdb" --listen "unix:$tmp/text.elf" "$hello"
[ -f "$tmp/text.elf" ] || { failed=$((failed + 1)); echo "FAIL --listen removed the file that is not a socket"; }
expect "--log-packets into a missing directory" 2 '' "^kvmgdb: --log-packets: cannot open packet log /proc/x/log: No such file or directory$" -- "$kvmgdb" --listen :0 --log-packets /proc/x/log "$hello"
expect "bad --gdb-arch" 2 '' "^kvmgdb: unknown --gdb-arch 'i8086' \(expected auto, i386 or x86-64\)$" -- "$kvmgdb" --listen :0 --gdb-arch i8086 "$hello"
expect "--gdb-arch without --listen" 2 '' "^kvmgdb: --gdb-arch needs --listen or --gdb-batch$" -- "$kvmgdb" --gdb-arch x86-64 "$hello"

# --print-gdb-extension: the source tree's copy from a build directory, the
# installed one (PREFIX/share/kvmgdb/kvmgdb.py) next to an installed binary.
expect "--print-gdb-extension from the build tree" 0 '^/.*/scripts/gdb/kvmgdb\.py$' '' -- "$kvmgdb" --print-gdb-extension
ext=$("$kvmgdb" --print-gdb-extension)
[ -f "$ext" ] && grep -q 'gdb.events.stop.connect' "$ext" \
  || { failed=$((failed + 1)); echo "FAIL --print-gdb-extension names '$ext', not the extension"; }
mkdir -p "$tmp/prefix/bin" "$tmp/prefix/share/kvmgdb"
cp "$kvmgdb" "$tmp/prefix/bin/kvmgdb" && cp "$ext" "$tmp/prefix/share/kvmgdb/kvmgdb.py"
expect "--print-gdb-extension when installed" 0 "^$tmp/prefix/share/kvmgdb/kvmgdb\.py$" '' -- "$tmp/prefix/bin/kvmgdb" --print-gdb-extension

# A port somebody listens on: python3 holds it and says which (no sleeps: the
# read waits for its line).
coproc holder { exec python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); sys.stdin.read()'; }
if read -r -t 30 port <&"${holder[0]}"; then
  expect "--listen on a port in use" 2 '' "^kvmgdb: --listen: cannot listen on 127\.0\.0\.1:$port: Address already in use$" -- "$kvmgdb" --listen ":$port" "$hello"
else
  failed=$((failed + 1)); echo "FAIL no port from the python3 holder"
fi
exec {holder[1]}>&-
wait "$holder_PID"

# Hostile guest files. timeout: a FIFO must be refused, not read (open blocks
# until a writer comes, which here never does).
mkdir "$tmp/dir.elf"
mkfifo "$tmp/fifo.elf"
: >"$tmp/empty.elf"
expect "missing file: the whole line" 2 '' "^kvmgdb: $tmp/nowhere.elf: No such file or directory$" -- "$kvmgdb" "$tmp/nowhere.elf"
expect "directory" 2 '' "^kvmgdb: $tmp/dir.elf: Is a directory$" -- "$kvmgdb" "$tmp/dir.elf"
expect "FIFO, without blocking" 2 '' "^kvmgdb: $tmp/fifo.elf: not a regular file \(a FIFO\)$" -- timeout 20 "$kvmgdb" "$tmp/fifo.elf"
expect "FIFO with --listen" 2 '' "^kvmgdb: $tmp/fifo.elf: not a regular file \(a FIFO\)$" -- timeout 20 "$kvmgdb" --listen "unix:$tmp/g.sock" "$tmp/fifo.elf"
[ ! -e "$tmp/g.sock" ] || { failed=$((failed + 1)); echo "FAIL the trial socket $tmp/g.sock was left behind"; }
expect "character device" 2 '' "^kvmgdb: /dev/zero: not a regular file \(a character device\)$" -- timeout 20 "$kvmgdb" /dev/zero
expect "0-byte ELF" 2 '' "^kvmgdb: $tmp/empty.elf: empty file \(0 bytes\)$" -- "$kvmgdb" "$tmp/empty.elf"
expect "0-byte raw image" 2 '' "^kvmgdb: $tmp/empty.elf: empty file \(0 bytes\)$" -- "$kvmgdb" --format raw --load-addr 0x100000 "$tmp/empty.elf"
finish
