#!/usr/bin/env bash
# `make test`: install deps, build, then run every test suite. Each stage
# prints its own "N passed, N failed" line; the final line sums them up.
set -uo pipefail
cd "$(dirname "$0")/.."
hack/deps.sh || exit 1
jobs=$(nproc 2>/dev/null || echo 2)
make -s -j"$jobs" all unit-bins itest-bins || exit 1

status=0 stages=()
stage() {
  local name=$1 t0=$SECONDS; shift
  echo "=== $name"
  if "$@"; then stages+=("$name:ok"); else stages+=("$name:FAIL"); status=1; fi
  echo "=== $name took $((SECONDS - t0)) s"
}
stage lint      make -s --no-print-directory lint
stage unit      make -s --no-print-directory unit
stage valgrind  make -s --no-print-directory valgrind
stage asan      make -s --no-print-directory asan
stage itest     make -s --no-print-directory itest
stage asan-itest make -s --no-print-directory asan-itest
stage e2e       python3 e2e/run.py
stage e2e-asan  make -s --no-print-directory e2e-asan
stage fuzz      hack/fuzz.sh run
echo "=== summary: ${stages[*]}"
passed=0 failed=0
for s in "${stages[@]}"; do case $s in *:ok) passed=$((passed+1));; *) failed=$((failed+1));; esac; done
echo "stages: $passed passed, $failed failed"
exit $status
