#!/usr/bin/env python3
"""Benchmark `api` (make bench B=api): REST API latency under concurrent load.

Starts, on loopback ports, a real etcd and one corrald with --api-only (the
figures are the API's: no controllers or bridge compete for the loop), loads
REQUESTS request documents (default 10,000) straight into etcd in txns of
128 puts, waits until corrald's cache holds them all, then runs wrk:

1. GET /api/requests/request/{id}, cycling over every id;
2. POST /api/deploys, a new deploy of a different request each time (each
   request takes one: a second pending deploy would be a 409), once per
   count of --post-connections, each run with its own share of the ids.
   Each wrk thread owns a slice of its run's ids and stops once it has sent
   its slice, so the run never wraps into 409s (the run is shorter than
   --seconds when the slices run out first).

Then, at a constant rate (bench/loadgen.c, compiled into a temp dir: an
open-loop generator whose latency runs from each request's due time, so
queueing shows, which wrk's closed loop hides):

3. GET /api/requests/request/{id} at --get-rate (10,000) req/s;
4. POST /api/deploys at --post-rate (1,000) req/s, once the deploys of the
   wrk runs are deleted from etcd (so every request takes a new deploy
   again), each id once.

Prints requests/s and p50/p90/p99 for each, the count of non-2xx answers
(any is a failure: exit 1) and, for the POSTs, the etcd txns that carried
them (corrald groups concurrent writes: docs/api.md#performance); for the
constant-rate runs p50/p90/p99/max and the issue's p99 target with the
ratio (never asserted). Everything is bounded by --timeout; every process
it started is stopped.

    python3 bench/api.py
    python3 bench/api.py --requests 1000 --seconds 5 --connections 16
    CORRAL_BIN=build/me/bin python3 bench/api.py
"""
import argparse
import base64
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

GET_LUA = """
local n = %(n)d
local i = 0
setup = function(thread)
  thread:set("first", math.random(0, n - 1))
end
init = function(args)
  i = first
end
request = function()
  i = (i + 1) %% n
  return wrk.format("GET", "/api/requests/request/req-" .. i)
end
"""

# Of the run's ids [base, base + n), thread k of T posts deploys for
# base + [k*m/T, (k+1)*m/T), m = n - spare, then stops. wrk may still send a
# few requests after stop() (connections already writable in the same loop
# turn): those go to the thread's own share of the spare ids, so each
# request still gets exactly one deploy.
POST_LUA = """
local base, n, nthreads, spare = %(base)d, %(n)d, %(threads)d, %(spare)d
local m = n - spare
local k = 0
setup = function(thread)
  thread:set("tid", k)
  k = k + 1
end
local lo, hi, next_id, extra = 0, 0, 0, 0
init = function(args)
  lo = math.floor(tid * m / nthreads)
  hi = math.floor((tid + 1) * m / nthreads)
  next_id = lo
  extra = m + tid * math.floor(spare / nthreads)
end
request = function()
  local r = next_id
  if r >= hi then
    r = extra
    extra = extra + 1
  else
    next_id = next_id + 1
  end
  local body = '{"deploy":{"requestId":"req-' .. (base + r) .. '","id":"b1",' ..
               '"command":"sleep 100","resources":{"cpus":0.1,"memoryMb":32}}}'
  return wrk.format("POST", "/api/deploys", {["Content-Type"] = "application/json"}, body)
end
-- wrk asks for the next request right after a response: stop then once the
-- slice is used up (answers still in flight are not counted).
response = function(status, headers, body)
  if next_id >= hi then wrk.thread:stop() end
end
"""


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=10000, help="request documents in etcd (10000)")
    p.add_argument("--seconds", type=int, default=10,
                   help="duration of each wrk and constant-rate run, s (10)")
    p.add_argument("--connections", type=int, default=32,
                   help="wrk connections of the GETs, and loadgen's of each constant-rate run (32)")
    p.add_argument("--post-connections", default="1,8,32",
                   help="wrk connections of each POST run (1,8,32)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads, at most (2)")
    p.add_argument("--get-rate", type=float, default=10000,
                   help="constant rate of the GETs, req/s; 0 skips them (10000)")
    p.add_argument("--post-rate", type=float, default=1000,
                   help="constant rate of the POSTs, req/s; 0 skips them (1000)")
    p.add_argument("--warmup", type=float, default=0,
                   help="s of requests before each constant-rate run, not counted (0)")
    p.add_argument("--timeout", type=float, default=300, help="bound on the whole run, s (300)")
    a = p.parse_args(argv)
    try:
        a.post_connections = [int(x) for x in a.post_connections.split(",")]
    except ValueError:
        p.error("--post-connections: a list of counts such as 1,8,32")
    share = a.requests // len(a.post_connections)
    if (a.requests < 4 * a.connections or a.seconds < 1 or a.connections < a.threads
            or a.threads < 1 or min(a.post_connections) < 1
            or share < 4 * max(a.post_connections)):
        p.error("need --requests >= 4 x --connections, --requests / (number of POST runs) "
                ">= 4 x each --post-connections, --connections >= --threads >= 1, "
                "--seconds >= 1")
    if a.get_rate < 0 or a.post_rate < 0 or a.warmup < 0:
        p.error("--get-rate, --post-rate and --warmup cannot be negative")
    if a.post_rate * (a.seconds + a.warmup) > a.requests:
        p.error("--post-rate x (--seconds + --warmup) must be <= --requests: each POST "
                "takes a request without a pending deploy")
    return a


def b64(s):
    return base64.b64encode(s.encode()).decode()


def load(etcd, n, per_txn=128):
    """Puts n request documents, per_txn per etcd txn."""
    for lo in range(0, n, per_txn):
        ops = []
        for i in range(lo, min(n, lo + per_txn)):
            doc = {"id": "req-%d" % i, "requestType": "WORKER", "instances": 1 + i % 5,
                   "owners": ["team-%d@example.com" % (i % 50)]}
            ops.append({"requestPut": {"key": b64("%s/requests/req-%d" % (PREFIX, i)),
                                       "value": b64(json.dumps(doc))}})
        req = urllib.request.Request(etcd + "/v3/kv/txn",
                                     data=json.dumps({"success": ops}).encode(),
                                     headers={"Content-Type": "application/json"})
        with OPENER.open(req, timeout=60) as r:
            if "header" not in json.loads(r.read()):
                raise RuntimeError("etcd txn failed")


def wrk(url, script, threads, connections, seconds, tmp, deadline):
    path = os.path.join(tmp, "s.lua")
    with open(path, "w") as f:
        f.write(script)
    budget = deadline - time.monotonic()
    if budget < seconds + 5:
        raise RuntimeError("out of time (--timeout) before a %d s wrk run" % seconds)
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections),
                          "-d", "%ds" % seconds, "--timeout", "10s", "--latency", "-s", path, url],
                         capture_output=True, text=True, timeout=budget)
    if out.returncode != 0:
        raise RuntimeError("wrk failed (%d): %s" % (out.returncode, out.stderr[-500:]))
    return out.stdout


# issue 14's p99 targets of the constant-rate runs, ms
GET_P99_MS, POST_P99_MS = 2.0, 25.0
POST_BODY = ('{"deploy":{"requestId":"{}","id":"c1",'
             '"command":"sleep 100","resources":{"cpus":0.1,"memoryMb":32}}}')


def build_loadgen(dest, sanitize=False):
    """Compiles bench/loadgen.c into dest; returns the binary's path.
    sanitize: ASan + UBSan (e2e/test_loadgen.py)."""
    return harness.build_bench_tool("loadgen", "libevent", dest, sanitize, ["-lm"])


def parse_loadgen(text):
    """loadgen's "loadgen-result name value ..." line as {name: float}, or
    None when it printed none."""
    m = re.search(r"^loadgen-result (.*)$", text, re.M)
    if not m:
        return None
    f = m.group(1).split()
    return {f[i]: float(f[i + 1]) for i in range(0, len(f) - 1, 2)}


def loadgen(binary, url, rate, seconds, warmup, conns, path, ids, tmp, deadline, body=None):
    """One constant-rate run; returns (figures, loadgen's stdout). Raises
    when it printed no figures (it could not connect, bad flags)."""
    ids_path = os.path.join(tmp, "ids")
    with open(ids_path, "w") as f:
        f.write("".join("%s\n" % i for i in ids))
    argv = [binary, "--url", url, "--rate", "%g" % rate, "--duration", "%g" % seconds,
            "--warmup", "%g" % warmup, "--connections", str(conns), "--path", path,
            "--ids", ids_path, "--timeout", "10"]
    if body is not None:
        body_path = os.path.join(tmp, "body")
        with open(body_path, "w") as f:
            f.write(body)
        argv += ["--body", body_path]
    budget = deadline - time.monotonic()
    if budget < seconds + warmup + 15:
        raise RuntimeError("out of time (--timeout) before a %g s loadgen run" % seconds)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=budget)
    figures = parse_loadgen(out.stdout)
    if figures is None:
        raise RuntimeError("loadgen failed (%d): %s%s" % (out.returncode, out.stdout[-500:],
                                                          out.stderr[-500:]))
    return figures, out.stdout


def report_rate(name, fig, text, target_ms):
    """Prints one constant-rate run's figures (two lines); returns its
    failed requests."""
    asked, got, p99 = fig["rate_asked"], fig["rate_achieved"], fig["p99"]
    ratio = p99 / target_ms
    line = ("  %-32s %9.0f req/s   p50 %-8s p90 %-8s p99 %-8s max %-9s target p99 <= %g ms: "
            "%.2fx, %s" % (name, asked, "%.2fms" % fig["p50"], "%.2fms" % fig["p90"],
                           "%.2fms" % p99, "%.2fms" % fig["max"], target_ms, ratio,
                           "met" if ratio <= 1 else "NOT met"))
    if got < 0.9 * asked:
        line += "; could not keep up: %.0f req/s of the %.0f asked" % (got, asked)
    print(line)
    print("  %-32s %d answered at %.0f req/s (non-2xx %d, errors %d, missing %d); %d waited for "
          "a free connection; send lag p99 %.2f ms; loadgen's CPU %.2f s"
          % ("", fig["answered"], got, fig["non2xx"], fig["errors"], fig["missing"],
             fig["waited"], fig["send_lag_p99"], fig.get("cpu_s", 0)))
    for ln in text.splitlines():
        if ln.startswith("loadgen: first") or "warmup requests not answered" in ln:
            print("  %-32s %s" % ("", ln))
    sys.stdout.flush()
    return int(fig["non2xx"] + fig["errors"] + fig["missing"] + fig["warmup_failed"])


def forget_deploys(etcd, api):
    """Deletes every deploy and deploy intent from etcd and waits until
    corrald's cache has no pending deploy left: each request can take a new
    deploy again, and the same requests stay stored."""
    for kind in ("deploys", "intents/deploys"):
        key = "%s/%s/" % (PREFIX, kind)
        end = key[:-1] + chr(ord(key[-1]) + 1)
        req = urllib.request.Request(etcd + "/v3/kv/deleterange",
                                     data=json.dumps({"key": b64(key),
                                                      "range_end": b64(end)}).encode(),
                                     headers={"Content-Type": "application/json"})
        with OPENER.open(req, timeout=60) as r:
            json.loads(r.read())
    wait_no_pending_deploy(api)


def wait_no_pending_deploy(api, timeout=60):
    """Waits until corrald's cache has no pending deploy left (GET
    /api/deploys/pending is empty)."""
    harness.wait_until(lambda: harness.http_json("GET", api + "/api/deploys/pending",
                                                 timeout=30)[1] == [],
                       timeout, "corrald to see no pending deploy", interval=0.2)


class CounterWatch:
    """Samples a corrald counter every 50 ms from now on; finish() gives its
    growth per second up to its last change."""

    def __init__(self, api, series):
        self.api, self.series = api, series
        self.samples, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.t0, self.c0 = time.monotonic(), self._read()
        self.thread.start()

    def _read(self):
        body = harness.http("GET", self.api + "/metrics", timeout=10)[2].decode()
        m = re.search(r"^%s (\d+)" % re.escape(self.series), body, re.M)
        return int(m.group(1)) if m else 0

    def _run(self):
        while not self.stop.wait(0.05):
            try:
                self.samples.append((time.monotonic(), self._read()))
            except Exception:
                pass

    def finish(self):
        self.stop.set()
        self.thread.join()
        if not self.samples:
            return None
        last = self.samples[-1][1]
        t_last = next(t for t, c in self.samples if c == last)
        return (last - self.c0) / max(t_last - self.t0, 1e-3)


def report(name, text, rate=None):
    """Prints one line of figures; returns the number of failed answers."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if rate is not None:
        rps = re.match(r"([\d.]+)", "%.2f" % rate)
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)", text, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sockerr = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                        r"timeout (\d+)", text)
    total = re.search(r"(\d+) requests in ([\d.]+\w+)", text)  # wrk's count: answered ones
    bad = int(non2xx.group(1)) if non2xx else 0
    errs = sum(int(x) for x in sockerr.groups()) if sockerr else 0
    if rate is None:
        where = "%s requests in %s" % (total.group(1), total.group(2)) if total else "?"
    else:
        where = "%s answered; rate from corrald's counter" % (total.group(1) if total else "?")
    print("  %-32s %9s req/s   p50 %-8s p90 %-8s p99 %-8s (%s; non-2xx %d, socket errors %d)"
          % (name, rps.group(1) if rps else "?", lat.get("50", "?"), lat.get("90", "?"),
             lat.get("99", "?"), where, bad, errs))
    sys.stdout.flush()
    return bad + errs


def write_counts(api):
    """corrald's API writes answered and the etcd txns that carried them
    (txns None: a corrald from before group commit, which sent one each)."""
    body = harness.http("GET", api + "/metrics", timeout=10)[2].decode()
    writes = sum(int(n) for n in re.findall(r"^corral_api_etcd_txn_total\{[^}]*\} (\d+)",
                                            body, re.M))
    txns = re.search(r"^corral_api_etcd_txns_sent_total (\d+)", body, re.M)
    return writes, int(txns.group(1)) if txns else None


def report_writes(api, before):
    """Prints the API writes since before (write_counts()) and the etcd txns
    that carried them; nothing from a corrald that does not count txns."""
    writes0, txns0 = before
    writes1, txns1 = write_counts(api)
    if txns1 is not None and txns1 > txns0:
        print("  %-32s %d writes in %d etcd txns (%.1f writes per txn)"
              % ("", writes1 - writes0, txns1 - txns0, (writes1 - writes0) / (txns1 - txns0)))


def post_wrk(api, base, n, threads, conns, seconds, tmp, deadline):
    """One closed-loop wrk run of POST /api/deploys (POST_LUA: deploy "b1" of
    req-<base> .. req-<base + n - 1>, each once); prints its line and the
    etcd txns. Returns (failed answers, req/s). wrk divides by the full -d
    even when its threads stopped early (ids used up), so the rate comes
    from corrald's own counter."""
    counter = CounterWatch(api, 'corral_api_requests_total{op="DEPLOY_POST",code="2xx"}')
    before = write_counts(api)
    out = wrk(api, POST_LUA % {"base": base, "n": n, "threads": threads, "spare": 2 * conns},
              threads, conns, seconds, tmp, deadline)
    rate = counter.finish()
    bad = report("POST /api/deploys c=%d" % conns, out, rate)
    report_writes(api, before)
    return bad, rate


def constant_rate(lg, api, name, rate, seconds, warmup, conns, path, ids, tmp, deadline,
                  target_ms, body=None):
    """One loadgen run (loadgen()) printed by report_rate(), with the etcd
    txns of a POST run. Returns (failed requests, loadgen's figures)."""
    before = write_counts(api) if body is not None else None
    fig, text = loadgen(lg, api, rate, seconds, warmup, conns, path, ids, tmp, deadline,
                        body=body)
    bad = report_rate(name, fig, text, target_ms)
    if before is not None:
        report_writes(api, before)
    return bad, fig


def cache_count(api):
    st, _, body = harness.http("GET", api + "/api/state", timeout=30)
    return json.loads(body).get("allRequests") if st == 200 else None


def run(args, c, tmp):
    deadline = time.monotonic() + args.timeout
    lg = build_loadgen(tmp) if args.get_rate or args.post_rate else None
    etcd = c.etcd()
    t0 = time.monotonic()
    load(etcd, args.requests)
    load_s = time.monotonic() - t0
    api = c.corrald(args=["--api-only", "--log-level", "warn"])
    t1 = time.monotonic()
    harness.wait_until(lambda: cache_count(api) == args.requests,
                       max(1, deadline - time.monotonic()), "corrald's cache to hold the requests",
                       interval=0.2)
    print("api: %d requests in etcd (loaded in %.2f s; corrald's cache ready %.2f s after start); "
          "wrk %d threads, %d connections for the GETs"
          % (args.requests, load_s, time.monotonic() - t1, args.threads, args.connections))
    bad = report("GET /api/requests/request/{id}",
                 wrk(api, GET_LUA % {"n": args.requests}, args.threads, args.connections,
                     args.seconds, tmp, deadline))
    share = args.requests // len(args.post_connections)
    for k, conns in enumerate(args.post_connections):
        bad += post_wrk(api, k * share, share, min(args.threads, conns), conns, args.seconds,
                        tmp, deadline)[0]
    if lg:
        print("  at a constant rate (bench/loadgen, open loop: latency from each request's due "
              "time), %d connections, %g s each:" % (args.connections, args.seconds))
    ids = ["req-%d" % i for i in range(args.requests)]
    if args.get_rate:
        bad += constant_rate(lg, api, "GET /api/requests/request/{id}", args.get_rate,
                             args.seconds, args.warmup, args.connections,
                             "/api/requests/request/{}", ids, tmp, deadline, GET_P99_MS)[0]
    if args.post_rate:
        forget_deploys(etcd, api)
        bad += constant_rate(lg, api, "POST /api/deploys", args.post_rate, args.seconds,
                             args.warmup, args.connections, "/api/deploys", ids, tmp, deadline,
                             POST_P99_MS, body=POST_BODY)[0]
    pid = [p for p in c.procs if p.name == "corrald"][0].pid
    with open("/proc/%d/status" % pid) as f:
        hwm = [ln.split()[1] for ln in f if ln.startswith("VmHWM:")]
    print("  corrald peak RSS: %.1f MiB" % (int(hwm[0]) / 1024.0 if hwm else 0))
    if bad:
        print("api: FAILED: %d failed answers (see above)" % bad)
        return 1
    return 0


def main(argv):
    args = parse_args(argv)
    if not shutil.which("wrk"):
        print("api: wrk not installed; skipped")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    c = harness.Cluster("bench-api")
    tmp = tempfile.mkdtemp(prefix="corral-bench-api-")
    try:
        return run(args, c, tmp)
    except (AssertionError, RuntimeError, subprocess.TimeoutExpired) as e:
        print("api: FAILED: %s" % e)
        for p in c.procs:
            print("--- %s\n%s" % (p.name, p.log()[-3000:]))
        return 1
    finally:
        c.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
