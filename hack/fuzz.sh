#!/usr/bin/env bash
# hack/fuzz.sh build|run [seconds]|long [executions]: builds the libFuzzer
# targets in fuzz/ (fuzz/fuzz_<name>.c, corpus in fuzz/corpus/<name>/) and
#   run:  runs each for a bounded time over its corpus (FUZZ_SECONDS, 20 s);
#   long: runs each until it has executed N inputs (FUZZ_RUNS, 10,000,000),
#         FUZZ_JOBS targets at a time (default: the number of cores), and
#         prints each target's executions and exec/s. FUZZ_TARGETS="api docs"
#         picks targets. Used by `make fuzz-long`.
# Either fails on any crash, leak or sanitizer report; the input that
# caused it is kept as build/fuzz/crashes/<name>-crash-<sha1>.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
mode=${1:-build}
case $mode in
  build|run) secs=${2:-${FUZZ_SECONDS:-20}} ;;
  long) runs=${2:-${FUZZ_RUNS:-10000000}} ;;
  *) echo "usage: hack/fuzz.sh build|run [seconds]|long [executions]" >&2; exit 2 ;;
esac
targets=$(ls fuzz/fuzz_*.c 2>/dev/null || true)
if [ -n "${FUZZ_TARGETS:-}" ]; then
  targets=$(for t in $FUZZ_TARGETS; do echo "fuzz/fuzz_$t.c"; done)
fi
if [ -z "$targets" ]; then echo "fuzz: 0 passed, 0 failed"; exit 0; fi
# Link order: dependents first (the Makefile's DEPS_*).
libs="apiserver mesosbridge controllers cli store apis base"
libfiles=$(for l in $libs; do printf 'build/fuzz/lib/lib%s.a ' "$l"; done)
# shellcheck disable=SC2086 # $libfiles is a word list
make -s --no-print-directory BUILD=build/fuzz CC=clang \
  CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
  $libfiles >/dev/null || exit 1
pkgs=$(make -s --no-print-directory pkgs) # the Makefile's PKGS: one list
mkdir -p build/fuzz/bin build/fuzz/crashes
pass=0 fail=0 built=""
for src in $targets; do
  name=$(basename "$src" .c); name=${name#fuzz_}
  out=build/fuzz/bin/fuzz_$name
  # shellcheck disable=SC2046,SC2086 # pkg-config flags and $libfiles are word lists
  clang -O1 -g -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I. \
    $(pkg-config --cflags $pkgs) "$src" $libfiles \
    $(pkg-config --libs $pkgs) -lm -o "$out" ||
    { fail=$((fail+1)); echo "FAIL  fuzz_$name (build)"; continue; }
  built="$built $name"
done

# One target: copies its corpus to a scratch dir and runs the fuzzer ($bin,
# default build/fuzz/bin) on it with the extra flags; its output goes to
# $logdir/<name>.log (default build/fuzz) and its exit status to
# $logdir/<name>.rc.
fuzz_one() {
  local name=$1; shift
  local corpus=fuzz/corpus/$name work rc
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  "${bin:-build/fuzz/bin}"/fuzz_"$name" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=build/fuzz/crashes/"$name"- "$@" "$work" >"${logdir:-build/fuzz}/$name".log 2>&1
  rc=$?
  echo "$rc" >"${logdir:-build/fuzz}/$name".rc
  rm -rf "$work"
  return $rc
}

case $mode in
  run)
    for name in $built; do
      if fuzz_one "$name" -max_total_time="$secs"; then
        pass=$((pass+1)); echo "ok    fuzz_$name (${secs}s)"
      else
        fail=$((fail+1)); echo "FAIL  fuzz_$name"; tail -n 40 build/fuzz/"$name".log
      fi
    done
    ;;
  long)
    # The long run keeps its own copies of the binaries and its own logs, so
    # a `hack/fuzz.sh run` (make test) meanwhile does not disturb it.
    jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
    bin=build/fuzz/long; logdir=build/fuzz/long
    mkdir -p "$bin"
    for name in $built; do cp build/fuzz/bin/fuzz_"$name" "$bin"/; rm -f "$logdir/$name".rc; done
    for name in $built; do
      while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
      echo "start fuzz_$name: $runs executions ($(date '+%F %T'))"
      fuzz_one "$name" -runs="$runs" -print_final_stats=1 &
    done
    wait
    for name in $built; do
      rc=$(cat "$logdir/$name".rc 2>/dev/null || echo '?')
      log=$logdir/$name.log
      n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
      speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
      t=$(awk -v n="${n:-0}" -v s="${speed:-0}" 'BEGIN { if (s > 0) printf "%d", n / s; else print "?" }')
      if [ "$rc" = 0 ] && [ "${n:-0}" -ge "$runs" ]; then
        pass=$((pass+1))
        printf 'ok    fuzz_%-14s %12s executions  %6s exec/s  (~%s s)\n' "$name" "$n" "$speed" "$t"
      else
        fail=$((fail+1))
        printf 'FAIL  fuzz_%-14s %12s executions  %6s exec/s  (exit %s; %s)\n' "$name" "${n:-?}" "${speed:-?}" "$rc" "$log"
        tail -n 40 "$log"
      fi
    done
    ;;
esac
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
