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
expect "triple fault is status 3 with a message" 3 'about to triple-fault' 'guest triple-faulted' -- "$kvmgdb" "$guests/triple-fault-long.elf"
expect "--memory 128M" 0 '^Hello, world!$' '' -- "$kvmgdb" --memory 128M "$guests/hello-long.elf"
# A flat binary: the hello guest's loadable bytes, loaded where it was linked.
objcopy -O binary "$guests/hello-long.elf" "$tmp/hello.bin"
expect "raw image" 0 '^Hello, world!$' '' -- "$kvmgdb" --format raw --load-addr 0x100000 --mode long "$tmp/hello.bin"
expect "--check-kvm runs all four modes" 0 'paged32: ok' '' -- "$kvmgdb" --check-kvm
finish
