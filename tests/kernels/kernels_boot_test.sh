#!/usr/bin/env bash
# Real kernels booted by kvmgdb to their documented ends (docs/kernels.md), and
# the Multiboot 2 guest that checks its info. KERNELS is scripts/fetch-kernels' cache.
set -u
kvmgdb=$1 kernels=$2 guests=$3
. "$(dirname "$0")/../cli/lib.sh"

for k in linux/vmlinux xen/xen gnumach/gnumach; do
  check "$k is in $kernels (else: scripts/fetch-kernels)" test -f "$kernels/$k"
done

# Linux through its PVH entry: no root device, so it panics; panic=-1 reboots at once,
# reboot=t by a triple fault (status 3), reboot=k through the 8042 (a reset: status 0).
linux="console=ttyS0 panic=-1"
expect "Linux (PVH) to its root-fs panic, reboot by triple fault" 3 \
  'Kernel panic - not syncing: VFS: Unable to mount root fs' 'guest triple-faulted' -- \
  timeout 300 "$kvmgdb" --cmdline "$linux reboot=t" "$kernels/linux/vmlinux"
cp "$tmp/out" "$tmp/linux.out"
# What Linux's drivers say of kvmgdb's PC devices (docs/guest-abi.md, "Platforms").
seen() { check "Linux: $1" grep -Eq -- "$2" "$tmp/linux.out"; }
seen "COM1 is a 16550A on IRQ 4" 'serial8250: ttyS0 at I/O 0x3f8 \(irq = 4, base_baud = 115200\) is a 16550A'
seen "the 8042 is found (no keyboard or mouse behind it)" 'serio: i8042 KBD port at 0x60,0x64 irq 1'
seen "the RTC gives the time" 'rtc_cmos rtc_cmos: setting system clock to 20[0-9][0-9]-'
seen "kvm-clock from the hypervisor CPUID leaves" 'clocksource: Switched to clocksource kvm-clock'
seen "the e820 map has the PC's low memory and the RAM above 1 MiB" 'BIOS-e820: \[mem 0x0000000000100000-0x000000000fffffff\] usable'
expect "Linux rebooting through the 8042 (reboot=k) is a reset: status 0" 0 \
  'Kernel panic - not syncing: VFS: Unable to mount root fs' 'guest reset through the i8042' -- \
  timeout 300 "$kvmgdb" --cmdline "$linux reboot=k" "$kernels/linux/vmlinux"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
