#!/usr/bin/env python3
"""Benchmark `reads` (make bench B=reads): big list reads and the loop (issue 13).

Starts, on loopback ports, a real etcd and one corrald that leads (API,
controllers and the lease keepalive on one event loop; no Mesos), then for
each size in --requests (default 1000,10000; the sizes grow one run:
documents are added to the same etcd):

1. stores the requests straight into etcd over its JSON gateway, in txns of
   128 puts: per request a SERVICE request of --instances (3) instances, a
   small deploy (command, resources, env), the deploy's submit intent and
   SUCCEEDED status, the request's status (ACTIVE, that deploy active) and
   one TASK_RUNNING task record per instance (the controllers, with no Mesos
   to launch on, add pending tasks and status conditions of their own);
2. waits until corrald's cache holds them and the controllers are quiet
   (cache revision unchanged for 2 s);
3. GET /api/requests once (size of the answer, latency of that first, cold
   list), 10 more one after the other with curl (a warm list's latency:
   wrk reads 8 KiB per call and is the bottleneck of one connection), then
   with wrk (or Python threads without wrk) for --seconds at each connection
   count of --connections (default 1,64): requests/s and latency
   percentiles; while the largest count runs, a prober GETs /healthz every
   20 ms on its own connection (p50/p99/max) and corrald's
   `corral_event_loop_lag_seconds` histogram is read before and after (the
   share of timer ticks later than 100 ms, a bucket-bound p99 of the lag).
   The same is measured with the largest count on /healthz itself: the
   floor that the machine (2 CPUs shared by corrald, etcd, wrk and the
   prober) sets for these figures.

Answers other than 200 (a 429 or 503 from a limit, say) are counted and
shown, never asserted; no timing is asserted. Exits 1 only when it could not
finish (a process died, --timeout). Every process it started is stopped.

    python3 bench/reads.py
    python3 bench/reads.py --requests 1000 --connections 1,8,64 --seconds 5
    CORRAL_BIN=build/me/bin python3 bench/reads.py
    python3 bench/reads.py --corrald-args="--max-list-streams 32"   # corrald flags
"""
import argparse
import base64
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "e2e", "lib"))
import harness  # noqa: E402

PREFIX = "/corral"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Timeout(Exception):
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", default="1000,10000",
                   help="request counts measured, growing (1000,10000)")
    p.add_argument("--connections", default="1,64",
                   help="connection counts of the list load (1,64); the largest also "
                        "measures /healthz and the loop lag")
    p.add_argument("--seconds", type=int, default=10, help="duration of each load run, s (10)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    p.add_argument("--instances", type=int, default=3,
                   help="instances, and task records, per request (3)")
    p.add_argument("--path", default="/api/requests", help="the list read (/api/requests)")
    p.add_argument("--python", action="store_true", help="load with Python threads, not wrk")
    p.add_argument("--no-baseline", dest="baseline", action="store_false",
                   help="skip the run of the largest connection count on /healthz (the "
                        "machine's floor for the /healthz and loop-lag figures)")
    p.add_argument("--corrald-args", default="", help="extra corrald flags (space separated)")
    p.add_argument("--timeout", type=float, default=900, help="bound on the whole run, s (900)")
    a = p.parse_args(argv)
    try:
        a.sizes = [int(x) for x in a.requests.split(",")]
        a.conns = sorted(int(x) for x in a.connections.split(","))
    except ValueError:
        p.error("--requests and --connections are comma-separated integers")
    if (not a.sizes or a.sizes != sorted(a.sizes) or a.sizes[0] < 1 or not a.conns
            or a.conns[0] < 1 or a.seconds < 1 or a.instances < 1):
        p.error("need growing --requests >= 1, --connections >= 1, --seconds >= 1, "
                "--instances >= 1")
    return a


# --- the documents ----------------------------------------------------------

def b64(s):
    return base64.b64encode(s.encode()).decode()


def deploy_doc(rid, did):
    return {"requestId": rid, "id": did, "command": "sleep 3600",
            "resources": {"cpus": 0.1, "memoryMb": 64, "numPorts": 1},
            "env": {"ROLE": "bench"}}


def docs_of(i, now, instances):
    """(key, value) pairs of request i."""
    rid, did = "req-%d" % i, "d1"
    out = [
        ("requests/" + rid, {"id": rid, "requestType": "SERVICE", "instances": instances,
                             "owners": ["team-%d@example.com" % (i % 50)],
                             "rackSensitive": False, "loadBalanced": False}),
        ("deploys/%s/%s" % (rid, did), deploy_doc(rid, did)),
        ("intents/deploys/%s/%s/submit" % (rid, did), {"user": "bench", "timestamp": now}),
        ("status/deploys/%s/%s" % (rid, did), {"requestId": rid, "deployId": did,
                                               "state": "SUCCEEDED"}),
        ("status/requests/" + rid, {"requestId": rid, "state": "ACTIVE", "activeDeployId": did}),
    ]
    for n in range(1, instances + 1):
        # Singularity's task ids hold the host with '-' made '_'
        host, rack = "host_%d" % ((i + n) % 100), "r%d" % (n % 4)
        started = now - 60000 + n
        tid = "%s-%s-%d-%d-%s-%s" % (rid, did, started, n, host, rack)
        out.append(("tasks/%s/%s" % (rid, tid), {
            "taskId": {"id": tid, "requestId": rid, "deployId": did, "startedAt": started,
                       "instanceNo": n, "host": host, "rackId": rack},
            "agentId": "agent-%d" % ((i + n) % 100), "hostname": host,
            "lastTaskState": "TASK_RUNNING", "updatedAt": now, "healthy": True,
            "taskUpdates": [{"taskState": "TASK_STARTING", "timestamp": started},
                            {"taskState": "TASK_RUNNING", "timestamp": now}]}))
    return out


def store(etcd, lo, hi, instances=3, per_txn=128):
    """Puts the documents of requests [lo, hi) into etcd; returns the key count."""
    now = int(time.time() * 1000)
    ops, nkeys = [], 0

    def flush():
        req = urllib.request.Request(etcd + "/v3/kv/txn",
                                     data=json.dumps({"success": ops}).encode(),
                                     headers={"Content-Type": "application/json"})
        with OPENER.open(req, timeout=60) as r:
            if "header" not in json.loads(r.read()):
                raise RuntimeError("etcd txn failed")
        del ops[:]

    for i in range(lo, hi):
        for k, v in docs_of(i, now, instances):
            ops.append({"requestPut": {"key": b64("%s/%s" % (PREFIX, k)),
                                       "value": b64(json.dumps(v))}})
            nkeys += 1
            if len(ops) == per_txn:
                flush()
    if ops:
        flush()
    return nkeys


# --- corrald's metrics ------------------------------------------------------

def metrics(api):
    st, _, body = harness.http("GET", api + "/metrics", timeout=60)
    if st != 200:
        raise RuntimeError("/metrics answered %d" % st)
    return body.decode()


def gauge(text, name):
    m = re.search(r"^%s(?:\{[^}]*\})? ([0-9.e+-]+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def lag_hist(text):
    """{le: count} of corral_event_loop_lag_seconds (cumulative buckets)."""
    out = {}
    for le, v in re.findall(r'^corral_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\d+)$',
                            text, re.M):
        out[float("inf") if le == "+Inf" else float(le)] = int(v)
    return out


def lag_summary(before, after):
    """Ticks, share later than 100 ms, and the bucket bound of the p99."""
    d = {le: after.get(le, 0) - before.get(le, 0) for le in after}
    if not d:
        return "corral_event_loop_lag_seconds not exported"
    total = d[float("inf")]
    if total == 0:
        return "no loop-lag ticks (the loop never ran its timer?)"
    over = total - d.get(0.1, 0)
    p99 = next(le for le in sorted(d) if d[le] >= 0.99 * total)
    return ("loop lag: %d ticks, %d later than 100 ms (%.1f%%), p99 <= %s"
            % (total, over, 100.0 * over / total,
               "inf" if p99 == float("inf") else "%g ms" % (p99 * 1000)))


# --- load -------------------------------------------------------------------

def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


class Prober:
    """GETs /healthz every 20 ms on one keep-alive connection; latencies in ms."""

    def __init__(self, api):
        host, port = api.split("//")[1].split(":")
        self.host, self.port = host, int(port)
        self.lat, self.errors, self.stop = [], 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        conn = None
        while not self.stop.wait(0.02):
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                conn.request("GET", "/healthz")
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    self.errors += 1
                    continue
                self.lat.append((time.monotonic() - t0) * 1000)
            except (OSError, http.client.HTTPException):
                self.errors += 1
                conn = None

    def finish(self):
        self.stop.set()
        self.thread.join()
        return ("/healthz meanwhile: p50 %.1f ms  p99 %.1f ms  max %.1f ms  (n=%d, errors %d)"
                % (pct(self.lat, 0.5), pct(self.lat, 0.99), max(self.lat or [float("nan")]),
                   len(self.lat), self.errors))


def py_load(api, path, conns, seconds):
    """Keep-alive GET loops from `conns` threads; returns (rate, lat ms, statuses)."""
    host, port = api.split("//")[1].split(":")
    lat, statuses, lock = [], {}, threading.Lock()
    end = time.monotonic() + seconds

    def worker():
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        while time.monotonic() < end:
            t0 = time.monotonic()
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                st = r.status
            except (OSError, http.client.HTTPException):
                st = "error"
                conn = http.client.HTTPConnection(host, int(port), timeout=120)
            with lock:
                statuses[st] = statuses.get(st, 0) + 1
                if st == 200:
                    lat.append((time.monotonic() - t0) * 1000)

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(conns)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return len(lat) / (time.monotonic() - t0), lat, statuses


def wrk_load(api, path, conns, seconds, threads, tmp):
    """Returns a one-line summary of a wrk run."""
    out = subprocess.run(["wrk", "-t", str(min(threads, conns)), "-c", str(conns),
                          "-d", "%ds" % seconds, "--timeout", "60s", "--latency", api + path],
                         capture_output=True, text=True, timeout=seconds + 120)
    if out.returncode != 0:
        raise RuntimeError("wrk failed (%d): %s" % (out.returncode, out.stderr[-500:]))
    t = out.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
    lat = dict(re.findall(r"^\s+(50|90|99)%\s+([\d.]+\w+)", t, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    total = re.search(r"(\d+) requests in ([\d.]+\w+)", t)
    return ("%8s req/s  p50 %-8s p90 %-8s p99 %-8s (%s answers; non-2xx %s; socket errors %s)"
            % (rps.group(1) if rps else "?", lat.get("50", "?"), lat.get("90", "?"),
               lat.get("99", "?"), total.group(1) if total else "?",
               non2xx.group(1) if non2xx else 0,
               "/".join(sock.groups()) if sock else 0))


def run_load(args, api, conns, tmp, path=None):
    path = path or args.path
    if args.python or not shutil.which("wrk"):
        rate, lat, statuses = py_load(api, path, conns, args.seconds)
        return ("%8.2f req/s  p50 %.0fms  p90 %.0fms  p99 %.0fms  (statuses %s; Python threads)"
                % (rate, pct(lat, 0.5), pct(lat, 0.9), pct(lat, 0.99),
                   json.dumps(statuses, sort_keys=True)))
    return wrk_load(api, path, conns, args.seconds, args.threads, tmp)


# --- the run ----------------------------------------------------------------

def settle(api, want_keys, deadline):
    """Waits for the cache to hold want_keys and its revision to stay put 2 s."""
    harness.wait_until(lambda: (gauge(metrics(api), "corral_cache_keys") or 0) >= want_keys,
                       max(1, deadline - time.monotonic()), "corrald's cache to hold the keys",
                       interval=0.5)
    last, since = None, time.monotonic()
    while time.monotonic() - since < 2:
        if time.monotonic() > deadline:
            raise Timeout("the controllers did not settle")
        rev = gauge(metrics(api), "corral_cache_revision")
        if rev != last:
            last, since = rev, time.monotonic()
        time.sleep(0.25)


def measure(args, c, api, n, nkeys, t_store, t_ready, tmp, deadline):
    t0 = time.monotonic()
    st, _, body = harness.http("GET", api + args.path, timeout=300)
    one = time.monotonic() - t0
    print("reads: N=%d requests (%d keys stored in %.1f s; cache ready and quiet %.1f s later)"
          % (n, nkeys, t_store, t_ready))
    print("  GET %s: %d, %.0f KB (%.0f bytes per request), the first alone %.0f ms"
          % (args.path, st, len(body) / 1024.0, len(body) / float(n), one * 1000))
    if shutil.which("curl"):
        times = []
        for _ in range(10):
            out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{time_total}",
                                  api + args.path], capture_output=True, text=True, timeout=300)
            times.append(float(out.stdout) * 1000)
        print("  then one at a time (curl): p50 %.0f ms, max %.0f ms (n=10)"
              % (pct(times, 0.5), max(times)))
    sys.stdout.flush()
    runs = [(c, args.path) for c in args.conns]
    if args.baseline:
        runs.insert(len(runs) - 1, (args.conns[-1], "/healthz"))
    for conns, path in runs:
        if time.monotonic() + args.seconds + 30 > deadline:
            raise Timeout("out of time before the %d-connection run" % conns)
        big = conns == args.conns[-1]
        if big:
            before = lag_hist(metrics(api))
            prober = Prober(api)
        line = run_load(args, api, conns, tmp, path)
        print("  %3d conn%s: %s" % (conns, "" if path == args.path else " on " + path, line))
        if big:
            print("            %s" % prober.finish())
            print("            %s" % lag_summary(before, lag_hist(metrics(api))))
        sys.stdout.flush()
        if not all(p.alive() for p in c.procs):
            raise RuntimeError("a process died")
    pid = [p for p in c.procs if p.name == "corrald"][0].pid
    with open("/proc/%d/status" % pid) as f:
        hwm = [ln.split()[1] for ln in f if ln.startswith("VmHWM:")]
    print("  corrald peak RSS %.1f MiB" % (int(hwm[0]) / 1024.0 if hwm else 0))


def run(args, c, tmp):
    deadline = time.monotonic() + args.timeout
    etcd = c.etcd()
    api, have, nkeys = None, 0, 0
    for n in args.sizes:
        t0 = time.monotonic()
        nkeys += store(etcd, have, n, args.instances)
        t_store = time.monotonic() - t0
        have = n
        t1 = time.monotonic()
        if api is None:
            api = c.corrald(args=["--log-level", "warn"] + args.corrald_args.split())
        settle(api, nkeys, deadline)
        measure(args, c, api, n, nkeys, t_store, time.monotonic() - t1, tmp, deadline)
    return 0


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    c = harness.Cluster("bench-reads")
    tmp = tempfile.mkdtemp(prefix="corral-bench-reads-")
    try:
        return run(args, c, tmp)
    except (AssertionError, RuntimeError, Timeout, subprocess.TimeoutExpired) as e:
        print("reads: FAILED: %s" % e)
        for p in c.procs:
            print("--- %s\n%s" % (p.name, p.log()[-3000:]))
        return 1
    finally:
        c.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
