#!/usr/bin/env bash
# Runs test executables given as arguments; prints each one's result (in
# the order given) and a final "N passed, N failed" line. RUNNER=valgrind
# wraps each in memcheck. JOBS (default: the number of CPUs) run at once:
# the unit tests are pure, and memcheck's 20-50x slowdown is what makes the
# valgrind stage the longest of `make test` but one.
set -u
jobs=${JOBS:-$(nproc 2>/dev/null || echo 1)}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

run_one() { # index, executable: leaves $dir/<index>.log and .rc
  local cmd
  case "${RUNNER:-}" in
    valgrind) cmd=(valgrind -q --leak-check=full --show-leak-kinds=definite,indirect
                   --errors-for-leak-kinds=definite,indirect --error-exitcode=99
                   --trace-children=no "$2") ;;
    *) cmd=("$2") ;;
  esac
  CR_SRCDIR="${CR_SRCDIR:-$PWD}" "${cmd[@]}" >"$dir/$1.log" 2>&1
  echo $? >"$dir/$1.rc"
}

tests=()
for t in "$@"; do
  [ -x "$t" ] && tests+=("$t")
done
running=0
for i in "${!tests[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_one "$i" "${tests[$i]}" &
  running=$((running + 1))
done
wait

pass=0 fail=0 ran=0
for i in "${!tests[@]}"; do
  t=${tests[$i]}
  n=$(sed -n 's/^\[==========\] \([0-9]*\) test(s) run\.$/\1/p' "$dir/$i.log" | tail -n 1)
  ran=$((ran + ${n:-0}))
  if [ "$(cat "$dir/$i.rc" 2>/dev/null)" = 0 ]; then
    pass=$((pass + 1)); echo "ok    $t"
  else
    fail=$((fail + 1)); echo "FAIL  $t"; sed 's/^/    /' "$dir/$i.log" | tail -n 60
  fi
done
echo "${RUNNER:-unit}: $pass passed, $fail failed"
# A filter that matches no test name runs nothing, and nothing fails: say so.
if [ -n "${TEST_FILTER:-}" ] && [ "$ran" -eq 0 ]; then
  echo "${RUNNER:-unit}: TEST_FILTER='$TEST_FILTER' matched no test (it is a glob on test names, e.g. '*withdraw*')"
  exit 1
fi
[ "$fail" -eq 0 ]
