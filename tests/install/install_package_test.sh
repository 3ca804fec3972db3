#!/usr/bin/env bash
# tests/install/install_package_test.sh BUILD_DIR SOURCE_DIR VERSION
#
# What a user gets from `cmake --install` and from the .deb of `cpack -G DEB`,
# made from an already built BUILD_DIR (its kvmgdb is reused: a build of its own
# would cost minutes). Nothing is written outside a temporary directory except
# BUILD_DIR/install_manifest.txt, which every `cmake --install` leaves. No root,
# no VM: the .deb is unpacked with dpkg-deb -x, and the installed sandbox is only
# asked what it would use (--help) and run in its direct mode.
set -uo pipefail

if [[ $# -ne 3 ]]; then
    echo "usage: $0 BUILD_DIR SOURCE_DIR VERSION" >&2
    exit 2
fi
build=$(readlink -f "$1")
src=$(readlink -f "$2")
version=$3

passed=0
failed=0
ok() { echo "ok:   $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
# check NAME CMD... — ok when CMD succeeds
check() {
    local name=$1; shift
    if "$@"; then ok "$name"; else fail "$name"; fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The files an installation under PREFIX must hold (relative to it), and where
# each comes from in the source tree; "-" for the built binary.
expected_files() {
    echo "bin/kvmgdb -"
    echo "bin/kvmgdb-with-kvm scripts/with-kvm"
    echo "bin/kvmgdb-kallsyms scripts/kallsyms"
    echo "share/kvmgdb/kvmgdb.py scripts/gdb/kvmgdb.py"
    echo "share/doc/kvmgdb/README.md README.md"
    local d
    for d in "$src"/docs/*.md; do
        echo "share/doc/kvmgdb/docs/${d##*/} docs/${d##*/}"
    done
}

# check_tree WHAT ROOT — the expected files under ROOT, each a copy of its
# source, the commands executable, and no file besides.
check_tree() {
    local what=$1 root=$2 rel from bad=0
    while read -r rel from; do
        if [[ ! -f $root/$rel ]]; then
            fail "$what: $rel is missing"; bad=1; continue
        fi
        if [[ $from != - ]] && ! cmp -s "$src/$from" "$root/$rel"; then
            fail "$what: $rel differs from $from"; bad=1
        fi
        if [[ $rel == bin/* && ! -x $root/$rel ]]; then
            fail "$what: $rel is not executable"; bad=1
        fi
    done < <(expected_files)
    local extra
    extra=$(comm -13 <(expected_files | cut -d' ' -f1 | sort) \
                     <(cd "$root" && find . -type f -o -type l | sed 's|^\./||' | sort))
    if [[ -n $extra ]]; then
        fail "$what: unexpected files: $(tr '\n' ' ' <<<"$extra")"; bad=1
    fi
    if (( !bad )); then ok "$what: $(expected_files | wc -l) files where they belong, copies of their sources"; fi
}

# check_installed WHAT PREFIX — the installed commands work from PREFIX.
check_installed() {
    local what=$1 prefix=$2 out rc
    out=$("$prefix/bin/kvmgdb" --help 2>&1); rc=$?
    if [[ $rc == 0 && $out == *"Usage: kvmgdb"* ]]; then ok "$what: kvmgdb --help runs"
    else fail "$what: kvmgdb --help: status $rc, output: ${out:0:300}"; fi

    out=$("$prefix/bin/kvmgdb" --print-gdb-extension 2>&1); rc=$?
    if [[ $rc == 0 && $out == "$prefix/share/kvmgdb/kvmgdb.py" ]]; then
        ok "$what: kvmgdb --print-gdb-extension names the installed copy ($out)"
    else
        fail "$what: kvmgdb --print-gdb-extension: status $rc, printed '$out', want $prefix/share/kvmgdb/kvmgdb.py"
    fi

    # The sandbox says which kvmgdb would judge this machine's /dev/kvm: the one
    # beside it, not a checkout's build/kvmgdb. (--help boots nothing.)
    out=$("$prefix/bin/kvmgdb-with-kvm" --help 2>&1); rc=$?
    local want
    want="kvmgdb for --check-kvm: $(readlink -f "$prefix/bin/kvmgdb")"
    if [[ $rc == 0 && $out == *"$want"* ]]; then
        ok "$what: kvmgdb-with-kvm --help finds the installed kvmgdb"
    else
        fail "$what: kvmgdb-with-kvm --help: status $rc, want '$want', got: $(grep -m1 'kvmgdb for' <<<"$out" || echo "${out:0:300}")"
    fi
    want="manual: $(readlink -f "$prefix/share/doc/kvmgdb/docs/with-kvm.md")"
    if [[ $out == *"$want"* ]]; then ok "$what: kvmgdb-with-kvm --help points to the installed manual"
    else fail "$what: no '$want' in kvmgdb-with-kvm --help"; fi

    # Its direct mode (a working /dev/kvm) execs the command as given.
    out=$(KVMGDB_WITH_KVM=direct "$prefix/bin/kvmgdb-with-kvm" "$prefix/bin/kvmgdb" --version 2>&1); rc=$?
    if [[ $rc == 0 && $out == *"$version"* ]]; then ok "$what: kvmgdb-with-kvm runs a command (direct mode)"
    else fail "$what: KVMGDB_WITH_KVM=direct kvmgdb-with-kvm kvmgdb --version: status $rc, output: $out"; fi

    # Its messages carry the name it is installed under.
    out=$("$prefix/bin/kvmgdb-with-kvm" 2>&1); rc=$?
    if [[ $rc == 125 && $out == "kvmgdb-with-kvm: usage: kvmgdb-with-kvm CMD"* ]]; then
        ok "$what: kvmgdb-with-kvm without a command: status 125, usage under its own name"
    else fail "$what: kvmgdb-with-kvm without a command: status $rc, output: $out"; fi
}

if [[ ! -x $build/kvmgdb ]]; then
    fail "$build/kvmgdb is not built (cmake --build $build --target kvmgdb)"
    exit 1
fi

echo "== cmake --install $build (DESTDIR, prefix /usr/local)"
if DESTDIR=$tmp/dest cmake --install "$build" --prefix /usr/local >"$tmp/install.log" 2>&1; then
    ok "cmake --install succeeds"
    check_tree "cmake --install" "$tmp/dest/usr/local"
    check_installed "cmake --install" "$tmp/dest/usr/local"
else
    fail "cmake --install: $(cat "$tmp/install.log")"
fi

echo "== cpack -G DEB --config $build/CPackConfig.cmake"
arch=$(dpkg --print-architecture)
deb=$tmp/pkg/kvmgdb_${version}_${arch}.deb
if cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1; then
    ok "cpack -G DEB succeeds"
else
    fail "cpack -G DEB: $(cat "$tmp/cpack.log")"
fi
if [[ -f $deb && $(find "$tmp/pkg" -maxdepth 1 -name '*.deb' | wc -l) == 1 ]]; then
    ok "cpack made ${deb##*/} and no other .deb"
else
    fail "no ${deb##*/} alone in $tmp/pkg: $(find "$tmp/pkg" -maxdepth 1 -name '*.deb' | tr '\n' ' ')"
    echo "$passed passed, $failed failed"
    exit 1
fi

# field NAME — one field of the package's control file (dpkg-deb --info's).
field() { dpkg-deb --field "$deb" "$1"; }
dpkg-deb --field "$deb" | sed 's/^/    /'
check "Package: kvmgdb" test "$(field Package)" = kvmgdb
check "Version: $version" test "$(field Version)" = "$version"
check "Architecture: $arch" test "$(field Architecture)" = "$arch"
check "Maintainer is 'Name <address>'" grep -Eq '^[^<]+ <[^@> ]+@[^> ]+>$' <<<"$(field Maintainer)"
check "Description has a summary line and more" \
    test "$(field Description | head -n 1 | wc -w)" -gt 3 -a "$(field Description | wc -l)" -gt 1
depends=$(field Depends)
check "Depends names Boost program options, libstdc++ and libc, with versions" \
    grep -Eq 'libboost-program-options[0-9.]+ \(>= [^)]+\).*libc6 \(>= [^)]+\).*libstdc\+\+6 \(>= [^)]+\)' <<<"$depends"
# ...and every shared library the binary loads here belongs to a package Depends
# names (dpkg -S; usrmerge: the package may list the /lib or the /usr/lib path).
uncovered=""
for lib in $(ldd "$build/kvmgdb" | awk '$3 ~ /^\// { print $3 }'); do
    pkg=$( { dpkg -S "$lib" || dpkg -S "/usr$lib" || dpkg -S "${lib#/usr}"; } 2>/dev/null | head -n 1 | cut -d: -f1)
    if [[ -z $pkg ]] || ! tr '|' ',' <<<"$depends" | tr ',' '\n' | awk '{ print $1 }' | grep -Fxq -- "$pkg"; then
        uncovered+=" $lib (${pkg:-no package})"
    fi
done
check "Depends covers every library kvmgdb loads${uncovered:+; not:$uncovered}" test -z "$uncovered"
check "Recommends what kvmgdb-with-kvm boots its VM with (qemu-system-x86, busybox-static, xz-utils)" \
    grep -Eq '^qemu-system-x86, busybox-static, xz-utils$' <<<"$(field Recommends)"

# Every entry owned by root (a user's cpack does not leak its uid), all under /usr.
listing=$(dpkg-deb -c "$deb")
check "every packaged file is owned by root/root" test -z "$(awk '$2 != "root/root"' <<<"$listing")"
check "every packaged path is under /usr" test -z "$(awk '$6 !~ /^\.\/(usr\/.*)?$/' <<<"$listing")"

echo "== dpkg-deb -x into a temporary root"
root=$tmp/root
if dpkg-deb -x "$deb" "$root"; then
    ok "dpkg-deb -x succeeds"
    check_tree ".deb" "$root/usr"
    check_installed ".deb" "$root/usr"
    # CPACK_STRIP_FILES: the packaged binary has no symbol table (a third of the size).
    check ".deb: kvmgdb is stripped" bash -c "! readelf -S '$root/usr/bin/kvmgdb' | grep -q '\.symtab'"
    # The packaged binary finds its libraries on this system, which Depends covers.
    check ".deb: kvmgdb's libraries resolve" bash -c "! ldd '$root/usr/bin/kvmgdb' | grep -q 'not found'"
else
    fail "dpkg-deb -x $deb"
fi

echo "$passed passed, $failed failed"
(( failed == 0 ))
