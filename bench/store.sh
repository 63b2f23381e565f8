#!/usr/bin/env bash
# bench/store.sh: the etcd client's throughput and watch latency, beside a
# raw run against the same etcd so the ratio is visible.
#
# Starts its own etcd on free loopback ports in a temp dir (stopped on exit),
# builds bench/store_bench.c against the store library, then prints:
#   corral: puts/s single, 64 in flight, batched; watch event latency
#   raw:    puts/s of a bare keep-alive HTTP client doing the same single and
#           64-in-flight puts (python3 http.client, no client library);
#           with BENCH_FULL=1 also `etcdctl check perf` (takes a minute).
# BENCH_SECS (default 3) sets each timed run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${BENCH_SECS:-3}
build=build/bench-store
tmp=$(mktemp -d /tmp/corral-bench-store-XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill -9 -- "-$pid" 2>/dev/null; [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

make --no-print-directory BUILD=$build BIN=$build/bin \
  $build/lib/libstore.a $build/lib/libbase.a >/dev/null
cc -O2 -std=c11 -D_GNU_SOURCE -I. -o $build/store_bench bench/store_bench.c \
  $build/lib/libstore.a $build/lib/libbase.a \
  $(pkg-config --cflags --libs libcurl jansson yaml-0.1 libevent openssl) -lm

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
cport=$(free_port); pport=$(free_port)
ep=http://127.0.0.1:$cport
setsid etcd --name bench --data-dir "$tmp/data" \
  --listen-client-urls "$ep" --advertise-client-urls "$ep" \
  --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
  --initial-cluster "bench=http://127.0.0.1:$pport" --logger zap --log-outputs "$tmp/etcd.log" \
  >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  curl -fs "$ep/health" 2>/dev/null | grep -q '"true"' && break
  sleep 0.05   # polling an external process
done
curl -fs "$ep/health" | grep -q '"true"' || { echo "etcd did not start; see $tmp/etcd.log"; exit 1; }

echo "etcd $(etcd --version | head -1 | awk '{print $3}') at $ep, $(nproc) cpus, ${secs}s per run"
corral=$($build/store_bench "$ep" "$secs")

raw=$(python3 - "$ep" "$secs" <<'EOF'
import base64, http.client, json, sys, threading, time, urllib.parse
ep, secs = sys.argv[1], float(sys.argv[2])
u = urllib.parse.urlparse(ep)
val = base64.b64encode(b'{"bench":true,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}').decode()
def worker(idx, deadline, counts):
    c = http.client.HTTPConnection(u.hostname, u.port)
    n = 0
    while time.monotonic() < deadline:
        key = base64.b64encode(("/bench/raw/%d/%d" % (idx, n % 10000)).encode()).decode()
        c.request("POST", "/v3/kv/put", json.dumps({"key": key, "value": val}),
                  {"Content-Type": "application/json"})
        r = c.getresponse(); r.read()
        n += 1
    counts[idx] = n
for name, conns in (("puts_single", 1), ("puts_concurrent64", 64)):
    counts = [0] * conns
    t0 = time.monotonic()
    ts = [threading.Thread(target=worker, args=(i, t0 + secs, counts)) for i in range(conns)]
    [t.start() for t in ts]; [t.join() for t in ts]
    print("%s %.0f puts/s" % (name, sum(counts) / (time.monotonic() - t0)))
EOF
)

fig() { echo "$1" | awk -v k="$2" '$1==k {print $2}'; }
printf '%-26s %10s %10s %6s\n' figure corral raw ratio
for k in puts_single puts_concurrent64; do
  c=$(fig "$corral" $k); r=$(fig "$raw" $k)
  printf '%-26s %10s %10s %6s\n' "$k (puts/s)" "$c" "$r" "$(awk -v a="$c" -v b="$r" 'BEGIN{if(b>0)printf "%.2f",a/b; else print "-"}')"
done
printf '%-26s %10s %10s %6s\n' "puts_batched (puts/s)" "$(fig "$corral" puts_batched)" "-" "-"
printf '%-26s %10s %10s %6s\n' "watch p50 (ms)" "$(fig "$corral" watch_p50)" "-" "-"
printf '%-26s %10s %10s %6s\n' "watch p99 (ms)" "$(fig "$corral" watch_p99)" "-" "-"
echo "$corral" | grep '^errors' || true

if [ "${BENCH_FULL:-0}" = 1 ]; then
  echo "--- etcdctl check perf --load=s"
  ETCDCTL_API=3 etcdctl --endpoints="$ep" check perf --load=s 2>&1 | tail -6 || true
fi
