#!/usr/bin/env bash
# Runs test executables given as arguments; prints each one's result and a
# final "N passed, N failed" line. RUNNER=valgrind wraps each in memcheck.
set -u
pass=0 fail=0 failed=()
for t in "$@"; do
  [ -x "$t" ] || continue
  case "${RUNNER:-}" in
    valgrind) cmd=(valgrind -q --leak-check=full --show-leak-kinds=definite,indirect
                   --errors-for-leak-kinds=definite,indirect --error-exitcode=99
                   --trace-children=no "$t") ;;
    *) cmd=("$t") ;;
  esac
  log=$(mktemp)
  if CR_SRCDIR="${CR_SRCDIR:-$PWD}" "${cmd[@]}" >"$log" 2>&1; then
    pass=$((pass + 1)); echo "ok    $t"
  else
    fail=$((fail + 1)); failed+=("$t"); echo "FAIL  $t"; sed 's/^/    /' "$log" | tail -n 60
  fi
  rm -f "$log"
done
echo "${RUNNER:-unit}: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
