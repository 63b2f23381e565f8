#!/usr/bin/env bash
# hack/fuzz.sh build|run [seconds]: builds the libFuzzer targets in fuzz/
# (fuzz/fuzz_<name>.c, corpus in fuzz/corpus/<name>/) and runs each for a
# bounded time over its corpus.
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-build}; secs=${2:-${FUZZ_SECONDS:-20}}
targets=$(ls fuzz/fuzz_*.c 2>/dev/null || true)
if [ -z "$targets" ]; then echo "fuzz: 0 passed, 0 failed"; exit 0; fi
make -s --no-print-directory BUILD=build/fuzz CC=clang \
  CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
  build/fuzz/lib/libapis.a build/fuzz/lib/libbase.a build/fuzz/lib/libcli.a build/fuzz/lib/libmesosbridge.a \
  build/fuzz/lib/libstore.a >/dev/null || exit 1
pass=0 fail=0
for src in $targets; do
  name=$(basename "$src" .c); name=${name#fuzz_}
  out=build/fuzz/bin/fuzz_$name
  mkdir -p build/fuzz/bin
  clang -O1 -g -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I. \
    $(pkg-config --cflags jansson yaml-0.1 libcurl libevent) "$src" \
    build/fuzz/lib/libcli.a build/fuzz/lib/libmesosbridge.a build/fuzz/lib/libstore.a \
    build/fuzz/lib/libapis.a build/fuzz/lib/libbase.a \
    $(pkg-config --libs jansson yaml-0.1 libcurl libevent libevent_openssl openssl) -lm -o "$out" || { fail=$((fail+1)); continue; }
  [ "$mode" = run ] || continue
  corpus=fuzz/corpus/$name; work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  if "$out" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 "$work" >build/fuzz/$name.log 2>&1; then
    pass=$((pass+1)); echo "ok    fuzz_$name (${secs}s)"
  else
    fail=$((fail+1)); echo "FAIL  fuzz_$name"; tail -n 40 build/fuzz/$name.log
  fi
  rm -rf "$work"
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
