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

# Multiboot 1: Xen 4.17 with no dom0 kernel (no --module) panics, and reboots when
# the panic's five seconds are up ("Reboot in five seconds...": a reset, status 0).
expect "Xen (Multiboot 1) to its 'dom0 kernel not specified' panic" 0 \
  'dom0 kernel not specified' 'guest reset through' -- \
  timeout 300 "$kvmgdb" --cmdline "console=com1 com1=115200,8n1" "$kernels/xen/xen"
cp "$tmp/out" "$tmp/xen.out"
check "Xen: the command line arrives without the file name Xen strips" grep -Eq "^\(XEN\) Command line: console=com1 com1=115200,8n1[[:cntrl:]]?$" "$tmp/xen.out"
check "Xen: the boot loader name" grep -Eq "^\(XEN\) Bootloader: kvmgdb[[:cntrl:]]?$" "$tmp/xen.out"
# GNU Mach with no bootstrap modules panics and resets the machine.
expect "GNU Mach (Multiboot 1) to its 'No bootstrap code loaded' panic and reset" 0 \
  'No bootstrap code loaded' 'guest reset through' -- \
  timeout 300 "$kvmgdb" --cmdline "console=com0" "$kernels/gnumach/gnumach"

# Multiboot 2: our own kernel checks every field of its boot information.
printf 'module one\n' >"$tmp/m1"
printf 'module two, longer\n' >"$tmp/m2"
expect "multiboot2-check: every field of the Multiboot 2 information" 0 \
  '^multiboot2-check: 0 failures$' '' -- \
  "$kvmgdb" --memory 256M --cmdline "mb2 check=yes" --module "$tmp/m1,first module" --module "$tmp/m2" \
  "$guests/multiboot2-check.elf"
check "multiboot2-check: no check failed" bash -c "! grep -q '^FAIL' '$tmp/out'"

# Several vCPUs start as on hardware: only the BSP at the entry; vCPU 1 when the BSP
# sends it INIT-SIPI-SIPI through its LAPIC. Without the second vCPU nothing answers.
expect "smp-sipi --cpus 2: vCPU 1 starts in real mode at the SIPI's vector" 0 \
  '^smp-sipi: vCPU 1 started at 0800:0000 after INIT-SIPI-SIPI$' '' -- \
  timeout 60 "$kvmgdb" --cpus 2 "$guests/smp-sipi.elf"
expect "smp-sipi --cpus 1: no vCPU 1 to start" 1 '^smp-sipi: vCPU 1 never ran$' '' -- \
  timeout 60 "$kvmgdb" "$guests/smp-sipi.elf"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
