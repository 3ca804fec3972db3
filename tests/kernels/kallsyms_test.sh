#!/usr/bin/env bash
# scripts/kallsyms on Debian's stripped vmlinux (docs/kernels.md, "Debugging Linux"):
# the System.map it writes agrees with what the vmlinux says by itself (its section
# headers, its export table), the ELF symbol file resolves names in gdb offline, and a
# file that is not such a kernel gets one line and status 2.
set -u
kallsyms=$1 kernels=$2 guest=$3
. "$(dirname "$0")/../cli/lib.sh"
vmlinux=$kernels/linux/vmlinux
check "linux/vmlinux is in $kernels (else: scripts/fetch-kernels)" test -f "$vmlinux" || { finish; exit; }

"$kallsyms" "$vmlinux" >"$tmp/map"
check "System.map: tens of thousands of symbols" test "$(wc -l <"$tmp/map")" -gt 50000
check "System.map: every line is ADDRESS TYPE NAME" \
  test "$(grep -Evc '^[0-9a-f]{16} [A-Za-z] [^ ]+$' "$tmp/map")" -eq 0
check "System.map: sorted by address, as kallsyms keeps it" \
  sh -c "cut -c1-16 '$tmp/map' | sort -c"
# The vmlinux's own section headers (readelf) say where .text and .init.text are.
sect() { readelf -SW "$vmlinux" | awk -v s="$1" '{ for (i = 1; i < NF; i++) if ($i == s) print $(i + 2) }'; }
text=$(sect .text)
check "readelf finds .text" test -n "$text"
check "_text and startup_64 are at .text ($text)" \
  grep -Eq "^$text T _text$" "$tmp/map"
check "startup_64 too" grep -Eq "^$text T startup_64$" "$tmp/map"
sym() { awk -v n="$1" '$3 == n { print $1; exit }' "$tmp/map"; }
check "start_kernel is a global function" grep -Eq "^[0-9a-f]{16} T start_kernel$" "$tmp/map"
check "linux_banner is data" grep -Eq "^[0-9a-f]{16} D linux_banner$" "$tmp/map"
check "a per-CPU symbol keeps its absolute offset" grep -Eq "^0000000000000000 A fixed_percpu_data$" "$tmp/map"

# gdb with the symbol file, offline: names resolve to the map's addresses, and
# linux_banner's bytes (from the vmlinux's own file contents) are the banner.
"$kallsyms" "$vmlinux" --elf "$tmp/vmlinux.sym"
gdb -batch -nx "$vmlinux" -ex "add-symbol-file $tmp/vmlinux.sym" \
  -ex 'info address start_kernel' -ex "info symbol 0x$(sym start_kernel)+5" \
  -ex 'x/s &linux_banner' >"$tmp/gdb" 2>&1
check "gdb: start_kernel at the map's address" \
  grep -Eq "Symbol \"start_kernel\" is at 0x0*$(sym start_kernel | sed 's/^0*//') " "$tmp/gdb"
check "gdb: an address inside it is start_kernel + 5 in .init.text" \
  grep -Eq '^start_kernel \+ 5 in section \.init\.text' "$tmp/gdb"
check "gdb: x/s &linux_banner is the banner" grep -Eq '"Linux version 6\.' "$tmp/gdb"

# Not a kernel: one line naming the file, status 2.
expect "a guest ELF with no kallsyms" 2 '' "^kallsyms: $guest: no kallsyms token table" -- \
  "$kallsyms" "$guest"
expect "a file that is not ELF" 2 '' "^kallsyms: $0: not a 64-bit little-endian ELF file\$" -- \
  "$kallsyms" "$0"
expect "a file that is not there" 2 '' "^kallsyms: $tmp/none: No such file or directory\$" -- \
  "$kallsyms" "$tmp/none"
check "each error is one line" test "$(wc -l <"$tmp/err")" -eq 1
finish
