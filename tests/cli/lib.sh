# Shared by the CLI tests: run a command, compare its exit status and output.
# Prints one line per check and a closing "N passed, N failed" line.
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect NAME STATUS STDOUT_REGEX STDERR_REGEX -- CMD...
expect() {
  local name=$1 want_status=$2 want_out=$3 want_err=$4
  shift 5
  "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local status=$?
  local ok=1
  [ "$status" -eq "$want_status" ] || ok=0
  grep -Eq -- "$want_out" "$tmp/out" || { [ -z "$want_out" ] && [ ! -s "$tmp/out" ]; } || ok=0
  grep -Eq -- "$want_err" "$tmp/err" || { [ -z "$want_err" ] && [ ! -s "$tmp/err" ]; } || ok=0
  if [ $ok -eq 1 ]; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name: status $status (want $want_status)"
    echo "  stdout: $(head -c 600 "$tmp/out")"; echo "  stderr: $(head -c 600 "$tmp/err")"
  fi
}

finish() {
  echo "cli: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
