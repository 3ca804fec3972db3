#!/usr/bin/env bash
# scripts/setup's package decision against a fake dpkg-query (no root, no apt):
# each case is a dpkg database and the exact list `setup --print-missing` must print.
set -u
setup=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# The fake answers `dpkg-query -W -f=FORMAT PATTERN...` from $FAKE_DPKG_DB
# ("NAME VERSION STATUS..." lines, VERSION - for none) like dpkg-query does: shell-glob patterns,
# ${Package} ${Version} ${Status} in FORMAT, and status 1 with a message on stderr
# for a pattern that matches no package it knows.
mkdir "$tmp/bin"
cat >"$tmp/bin/dpkg-query" <<'FAKE'
#!/usr/bin/env bash
format='${Package}\n' status=0 patterns=()
for a in "$@"; do
  case $a in
    -W|--show) ;;
    -f=*|--showformat=*) format=${a#*=} ;;
    -*) echo "fake dpkg-query: unexpected option $a" >&2; exit 2 ;;
    *) patterns+=("$a") ;;
  esac
done
for pat in "${patterns[@]}"; do
  found=0
  while read -r name version st; do
    # shellcheck disable=SC2053  # the pattern is a glob on purpose
    [[ $name == $pat ]] || continue
    found=1
    [ "$version" != - ] || version=
    line=${format//'${Package}'/$name}
    line=${line//'${Version}'/$version}
    line=${line//'${Status}'/$st}
    printf "$line"
  done <"$FAKE_DPKG_DB"
  [ $found = 1 ] || { echo "dpkg-query: no packages found matching $pat" >&2; status=1; }
done
exit $status
FAKE
chmod +x "$tmp/bin/dpkg-query"

base="build-essential 12.9 install ok installed
cmake 3.25.1-1 install ok installed
libgtest-dev 1.12.1-0.2 install ok installed
libgmock-dev 1.12.1-0.2 install ok installed
gdb 13.1-3 install ok installed
python3 3.11.2-1 install ok installed
lldb 1:14.0-55.7 install ok installed
qemu-system-x86 1:7.2+dfsg-7 install ok installed
busybox-static 1:1.35.0-4 install ok installed
xz-utils 5.4.1-0.2 install ok installed
cpio 2.13+dfsg-7.1 install ok installed
clang 1:14.0-55.7 install ok installed
libclang-rt-dev 1:14.0-55.7 install ok installed
nodejs 18.19.0+dfsg-6~deb12u2 install ok installed
npm 9.2.0~ds1-1 install ok installed"
boost174="libboost-dev 1.74.0.3 install ok installed
libboost1.74-dev 1.74.0+ds1-21 install ok installed
libboost-program-options-dev 1.74.0.3 install ok installed
libboost-program-options1.74-dev 1.74.0+ds1-21 install ok installed"

# check NAME EXPECTED DB
check() {
  printf '%s\n' "$3" >"$tmp/db"
  local got
  got=$(PATH="$tmp/bin:$PATH" FAKE_DPKG_DB="$tmp/db" "$setup" --print-missing 2>"$tmp/err")
  local rc=$?
  if [ $rc -ne 0 ] || [ "$got" != "$2" ]; then
    echo "FAIL: $1: status $rc, printed '$got', expected '$2'"; cat "$tmp/err"
    failures=$((failures + 1))
  else
    echo "ok: $1"
  fi
}

check "everything there (Debian's default Boost 1.74)" "" "$base
$boost174"

check "Boost 1.81 dev packages instead of the defaults (issue 7 item 9)" "" "$base
libboost1.81-dev 1.81.0-5+deb12u1 install ok installed
libboost-program-options1.81-dev 1.81.0-5+deb12u1 install ok installed
libboost1.74-dev - unknown ok not-installed
libboost-program-options-dev - unknown ok not-installed
libboost-program-options1.74-dev - unknown ok not-installed"

check "Boost 1.81 headers only: that version's program options, not the defaults" \
  "libboost-program-options1.81-dev" "$base
libboost1.81-dev 1.81.0-5+deb12u1 install ok installed
libboost1.74-tools-dev - unknown ok not-installed"

check "no Boost at all: the defaults" "libboost-dev libboost-program-options-dev" "$base"

check "a Boost older than 1.74 does not count" "libboost-dev libboost-program-options-dev" "$base
libboost1.71-dev 1.71.0-7 install ok installed
libboost-program-options1.71-dev 1.71.0-7 install ok installed"

check "removed, config files left: not installed" "gdb" "$(printf '%s\n' "$base" | grep -v '^gdb ')
gdb 13.1-3 deinstall ok config-files
$boost174"

check "only what is missing, in the list's order" "cmake qemu-system-x86 clang libclang-rt-dev" \
  "$(printf '%s\n' "$base" | grep -Ev '^(cmake|qemu-system-x86|clang|libclang-rt-dev) ')
$boost174"

check "Debian's nodejs without npm: npm" "npm" "$(printf '%s\n' "$base" | grep -v '^npm ')
$boost174"

check "NodeSource's nodejs (npm built in): no npm package" "" "$(printf '%s\n' "$base" | grep -Ev '^(nodejs|npm) ')
nodejs 20.20.2-1nodesource1+repack1 install ok installed
$boost174"

check "nothing installed" "build-essential cmake libgtest-dev libgmock-dev gdb python3 lldb qemu-system-x86 busybox-static xz-utils cpio clang libclang-rt-dev nodejs npm libboost-dev libboost-program-options-dev" ""

[ $failures -eq 0 ] || { echo "$failures case(s) failed"; exit 1; }
echo "all cases passed"
