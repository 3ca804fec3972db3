# Shared by the CLI tests: run a command, compare its exit status and output.
# Prints one line per check and a closing "N passed, N failed" line.
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# matches FILE REGEX: some line of FILE matches REGEX (grep -E); an empty REGEX
# means FILE must be empty (grep -E '' would match any line at all).
matches() {
  if [ -z "$2" ]; then [ ! -s "$1" ]; else grep -Eq -- "$2" "$1"; fi
}

# expect NAME STATUS STDOUT_REGEX STDERR_REGEX -- CMD...
# STDOUT_REGEX / STDERR_REGEX: '' means that output must be empty.
expect() {
  local name=$1 want_status=$2 want_out=$3 want_err=$4
  if [ "$#" -lt 6 ] || [ "$5" != -- ]; then
    echo "expect: '$name': usage: expect NAME STATUS STDOUT_REGEX STDERR_REGEX -- CMD..." >&2
    exit 2
  fi
  shift 5
  "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local status=$?
  local ok=1
  [ "$status" -eq "$want_status" ] || ok=0
  matches "$tmp/out" "$want_out" || ok=0
  matches "$tmp/err" "$want_err" || ok=0
  if [ $ok -eq 1 ]; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name: status $status (want $want_status)"
    echo "  stdout: $(head -c 600 "$tmp/out")"; echo "  stderr: $(head -c 600 "$tmp/err")"
  fi
}

# wait_for FILE REGEX [SECONDS]: until a line of FILE matches REGEX (a process
# writing FILE announced something), at most SECONDS (default 60). Polls: the
# writer is another process and bash has no way to wait on a file's contents.
wait_for() {
  local file=$1 regex=$2 deadline=$((SECONDS + ${3:-60}))
  until grep -Eq -- "$regex" "$file" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# check NAME CONDITION...: one more passed or failed check, by the exit status
# of the command CONDITION... (e.g. check "socket removed" test ! -e "$sock");
# returns that status too.
check() {
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"
    return 1
  fi
}

finish() {
  echo "cli: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
