#!/usr/bin/env bash
# kvmgdb on bad command lines and bad guest images: status 2 and a message that
# names the file and the problem. None of these reach KVM, so they run anywhere.
set -u
kvmgdb=$1 guests=$2
. "$(dirname "$0")/lib.sh"

expect "--help documents the options" 0 'Usage: kvmgdb.*' '' -- "$kvmgdb" --help
expect "--help has examples" 0 'kvmgdb --mode paged32 my-kernel.elf' '' -- "$kvmgdb" --help
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
finish
