#!/usr/bin/env bash
# shellcheck disable=SC2016 # $... in single quotes is for the guest
# tests/with_kvm_test.sh — checks scripts/with-kvm through its VM path
# (KVMGDB_WITH_KVM=vm), even where this machine has /dev/kvm itself.
# Each check boots a VM (~5 s with a warm cache).  Exits 0 when all pass,
# 1 when one fails or qemu-system-x86_64 is missing (scripts/setup installs it).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
with_kvm=$here/../../scripts/with-kvm

if ! command -v qemu-system-x86_64 >/dev/null; then
    echo "FAIL: qemu-system-x86_64 not installed (scripts/setup installs qemu-system-x86 busybox-static)"
    exit 1
fi

export KVMGDB_WITH_KVM=vm
failures=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# check NAME EXPECTED_STATUS EXPECTED_STDOUT CMD... — run CMD through
# with-kvm, compare its exit status and its stdout (byte for byte).
check() {
    local name=$1 want_rc=$2 want_out=$3; shift 3
    local rc=0 out
    # (the x keeps trailing newlines, which $(...) would strip)
    out=$("$with_kvm" "$@"; s=$?; printf x; exit "$s") || rc=$?
    out=${out%x}
    if [[ $rc == "$want_rc" && $out == "$want_out" ]]; then
        echo "ok:   $name"
    else
        echo "FAIL: $name"
        echo "      want status $want_rc, stdout $(printf %q "$want_out")"
        echo "      got  status $rc, stdout $(printf %q "$out")"
        failures=$((failures + 1))
    fi
}

check "/dev/kvm exists in the VM, exit status comes back" 7 $'inside\n' \
    sh -c 'test -c /dev/kvm && echo inside; exit 7'

# KVM_GET_API_VERSION (0xAE00) must say 12 and KVM_CREATE_VM (0xAE01) must
# give a VM fd.  perl ships with every Debian system (perl-base).
check "KVM works in the VM (API version, KVM_CREATE_VM)" 0 $'api=12 vm=ok\n' \
    perl -e 'open(my $k, "+<", "/dev/kvm") or die "open: $!";
             my $v = ioctl($k, 0xAE00, 0); my $vm = ioctl($k, 0xAE01, 0);
             print "api=", $v + 0, " vm=", (defined $vm ? "ok" : "fail: $!"), "\n"'

check "arguments arrive unchanged" 0 "a b|c'd||\$HOME|x\"y\\z|"$'nl\nx|' \
    printf '%s|' 'a b' "c'd" '' '$HOME' 'x"y\z' $'nl\nx'

KVMGDB_TEST_VAR='v a"l' check "KVMGDB_* environment passes through, same cwd" 0 \
    "v a\"l|$work"$'\n' sh -c 'echo "$KVMGDB_TEST_VAR|$PWD"'

# Writes in the current directory land on the host.
check "writing in the current directory" 0 "" sh -c 'echo written >out.txt'
if [[ $(cat out.txt 2>/dev/null) == written ]]; then
    echo "ok:   file written in the VM is visible outside"
else
    echo "FAIL: file written in the VM is not visible outside"
    failures=$((failures + 1))
fi

# stderr stays stderr; stdout has no CR added by the serial line.
rc=0
"$with_kvm" sh -c 'printf "out\n"; printf "err\n" >&2; exit 3' >stdout.txt 2>stderr.txt || rc=$?
if [[ $rc == 3 ]] && printf 'out\n' | cmp -s - stdout.txt && printf 'err\n' | cmp -s - stderr.txt; then
    echo "ok:   stdout and stderr kept apart, no CRs"
else
    echo "FAIL: stdout/stderr: status $rc, stdout $(od -c stdout.txt | head -2), stderr $(cat stderr.txt)"
    failures=$((failures + 1))
fi

# A guest whose heartbeat stops (as when its kernel locks up) is killed after
# KVMGDB_WITH_KVM_STALL seconds with status 124 and a message, not waited on
# for the full timeout. The loop is the process whose command line ends in
# " heartbeat" (sh -c '...' heartbeat); no pkill: a bare Debian has no procps.
rc=0
KVMGDB_WITH_KVM_STALL=15 "$with_kvm" sh -c '
    for p in /proc/[0-9]*; do
        case "$(tr "\0" " " <"$p/cmdline" 2>/dev/null)" in
            *" heartbeat ") kill -STOP "${p#/proc/}" ;;
        esac
    done
    sleep 600' >stall.out 2>stall.err || rc=$?
if [[ $rc == 124 ]] && grep -q "stopped responding" stall.err; then
    echo "ok:   a VM whose heartbeat stopped is killed (status 124)"
else
    echo "FAIL: stalled VM: status $rc, stderr $(cat stall.err)"
    failures=$((failures + 1))
fi

if (( failures )); then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all with-kvm checks passed"
