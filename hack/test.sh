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
# The whole e2e suite twice, against the plain and against the ASan+UBSan
# binaries, side by side: e2e tests mostly wait (on processes, timers,
# polls), so two runs share the 2 cores with little loss, and make test
# stays within its 30 minutes. Each run's output is printed once it ends.
stage asan-bins make -s --no-print-directory asan-bins
pair() {
  local t0=$SECONDS out; out=$(mktemp -d)
  echo "=== e2e and e2e-asan (side by side; their outputs follow)"
  python3 e2e/run.py > "$out/e2e" 2>&1 & local p1=$!
  make -s --no-print-directory e2e-asan-full > "$out/e2e-asan" 2>&1 & local p2=$!
  local r1=0 r2=0
  wait $p1 || r1=$?
  wait $p2 || r2=$?
  for n in e2e e2e-asan; do
    echo "=== $n"; cat "$out/$n"
  done
  if [ $r1 -eq 0 ]; then stages+=("e2e:ok"); else stages+=("e2e:FAIL"); status=1; fi
  if [ $r2 -eq 0 ]; then stages+=("e2e-asan:ok"); else stages+=("e2e-asan:FAIL"); status=1; fi
  echo "=== e2e and e2e-asan took $((SECONDS - t0)) s"
  rm -rf "$out"
}
pair
stage fuzz      hack/fuzz.sh run
echo "=== summary: ${stages[*]}"
passed=0 failed=0
for s in "${stages[@]}"; do case $s in *:ok) passed=$((passed+1));; *) failed=$((failed+1));; esac; done
echo "stages: $passed passed, $failed failed"
exit $status
