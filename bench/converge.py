#!/usr/bin/env python3
"""Benchmark `converge` (make bench B=converge): how fast corrald turns applied
services into RUNNING tasks.

Starts, on loopback ports, a real etcd, `mesoslite --simulate` (agents that
run no processes) and one corrald (API + controllers + Mesos bridge), then:

1. Bulk: applies REQUESTS services of INSTANCES instances (a request and its
   first deploy each) as fast as they are taken, and times until every task
   record in etcd (`P/tasks/...`) is TASK_RUNNING. `--apply api` (default)
   applies them as an operator does, `corralctl apply -f DIR --parallel
   CONCURRENCY` of a file a service (a Request and its Deploy: POSTs to
   /api/requests and /api/deploys; the files are written before the clock
   starts);
   `--apply etcd` writes the same JSON straight into etcd in txns of 128 puts.
   Progress is polled from corrald's /metrics (its cache of etcd, cheap); the
   end is confirmed by one paged range of P/tasks/ and taken from the
   records themselves (the last TASK_RUNNING update), so the poll period
   does not bias the figure.
2. Singles: SINGLES one-instance services applied one after the other on the
   loaded system; for each, from the wall time just before the apply:
   - pending: the controllers' pending task (its createdAt),
   - ACCEPT: the bridge's launch intent (launchedAt; the record is written in
     the txn that precedes the ACCEPT call, docs/mesosbridge.md),
   - RUNNING: the TASK_RUNNING status' own stamp (the record's updatedAt when
     first seen so: Mesos' time, before corrald stores it; bench/idle.py also
     times the write).
   p50 and p99 of each.
Prints tasks/s, the latencies and corrald's peak RSS (VmHWM). Everything is
bounded by --timeout: on expiry it prints how far it got (task states in
etcd, component logs) and exits 1. Every process it started is stopped.

    python3 bench/converge.py                          # the issue's size
    python3 bench/converge.py --requests 200 --agents 100 --singles 20
    CORRAL_BIN=build/me/bin python3 bench/converge.py  # other binaries
"""
import argparse
import base64
import concurrent.futures
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "e2e", "lib"))
import harness  # noqa: E402

PREFIX = "/corral"
PER_TXN = 128  # etcd's default --max-txn-ops
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Timeout(Exception):
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=2000, help="services applied in bulk (2000)")
    p.add_argument("--instances", type=int, default=5, help="instances of each (5)")
    p.add_argument("--agents", type=int, default=1000, help="simulated agents (1000)")
    p.add_argument("--racks", default="r1,r2,r3,r4", help="rack names cycled over agents")
    p.add_argument("--singles", type=int, default=50, help="single applies timed (50)")
    p.add_argument("--apply", choices=("api", "etcd"), default="api",
                   help="bulk and single applies through the REST API or straight into etcd")
    p.add_argument("--concurrency", type=int, default=32,
                   help="corralctl apply --parallel for --apply api (32)")
    p.add_argument("--allocation-interval", type=float, default=1.0,
                   help="mesoslite batch allocation period, s (1, Mesos' default)")
    p.add_argument("--timeout", type=float, default=600, help="bound on the whole run, s (600)")
    p.add_argument("--raw-seconds", type=float, default=3.0,
                   help="length of etcd's raw write-rate run after convergence, s (3; 0 skips)")
    p.add_argument("--raw-threads", type=int, default=4,
                   help="txns in flight in that run (4)")
    a = p.parse_args(argv)
    if min(a.requests, a.instances, a.agents) < 1 or a.singles < 0 or a.concurrency < 1:
        p.error("--requests, --instances, --agents, --concurrency must be >= 1, --singles >= 0")
    return a


# --- etcd through its JSON gateway (no client library in the stdlib) -------

def b64(s):
    return base64.b64encode(s.encode()).decode()


def etcd_call(url, path, body, timeout=60):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with OPENER.open(req, timeout=timeout) as r:
        return json.loads(r.read())


def etcd_put_many(url, kvs, per_txn=128):
    """Puts (key, value) pairs in txns of per_txn ops (etcd's default limit)."""
    for i in range(0, len(kvs), per_txn):
        ops = [{"requestPut": {"key": b64(k), "value": b64(v)}} for k, v in kvs[i:i + per_txn]]
        r = etcd_call(url, "/v3/kv/txn", {"success": ops})
        if "header" not in r:
            raise RuntimeError("etcd txn: %r" % r)


def etcd_range(url, prefix, keys_only=False, page=2000):
    """Every (key, value-or-None) under prefix, in pages of `page` keys."""
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    start = prefix
    while True:
        body = {"key": b64(start), "range_end": b64(end), "limit": page}
        if keys_only:
            body["keys_only"] = True
        r = etcd_call(url, "/v3/kv/range", body)
        kvs = r.get("kvs", [])
        for kv in kvs:
            v = None if keys_only else base64.b64decode(kv.get("value", "")).decode()
            yield base64.b64decode(kv["key"]).decode(), v
        if not r.get("more") or not kvs:
            return
        start = base64.b64decode(kvs[-1]["key"]).decode() + "\0"


# --- the objects applied -----------------------------------------------------

def request_doc(rid, instances):
    return {"id": rid, "requestType": "SERVICE", "instances": instances,
            "owners": ["bench@example.com"]}


def deploy_doc(rid):
    # An hour to become healthy: 10,000 deploys applied at once wait their
    # turn in the launch queue for minutes at ~300 launches/s on the 2-CPU
    # VM, and under the default 120 s the later ones went OVERDUE (and
    # their tasks were killed) once the controllers created every pending
    # task at once (2026-12-07). The benchmark measures convergence, not
    # the deploy timeout.
    return {"requestId": rid, "id": "v1", "command": "sleep 1000000",
            "resources": {"cpus": 0.1, "memoryMb": 64, "numPorts": 0},
            "deployHealthTimeoutSeconds": 3600}


def apply_etcd(etcd, rids, instances):
    kvs = []
    for rid in rids:
        kvs.append(("%s/requests/%s" % (PREFIX, rid), json.dumps(request_doc(rid, instances))))
        kvs.append(("%s/deploys/%s/v1" % (PREFIX, rid), json.dumps(deploy_doc(rid))))
    etcd_put_many(etcd, kvs)


def apply_api_one(api, rid, instances):
    st, _, body = harness.http("POST", api + "/api/requests", request_doc(rid, instances),
                               timeout=60)
    if st != 200:
        raise RuntimeError("POST /api/requests %s: %d %s" % (rid, st, body[:200]))
    st, _, body = harness.http("POST", api + "/api/deploys", {"deploy": deploy_doc(rid)},
                               timeout=60)
    if st != 200:
        raise RuntimeError("POST /api/deploys %s: %d %s" % (rid, st, body[:200]))


def write_manifests(d, rids, instances):
    """A file a service for corralctl apply: its Request and its Deploy."""
    os.makedirs(d)
    for rid in rids:
        docs = [{"apiVersion": "corral/v1", "kind": "Request", "metadata": {"name": rid},
                 "spec": request_doc(rid, instances)},
                {"apiVersion": "corral/v1", "kind": "Deploy", "spec": deploy_doc(rid)}]
        with open(os.path.join(d, rid + ".yaml"), "w") as f:
            f.write("\n---\n".join(json.dumps(x) for x in docs))


def apply_bulk(args, etcd, api, rids, manifests):
    if args.apply == "etcd":
        apply_etcd(etcd, rids, args.instances)
        return
    argv = [os.path.join(harness.BIN, "corralctl"), "--server", api, "apply", "-f", manifests,
            "--parallel", str(args.concurrency)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=args.timeout)
    lines = r.stdout.splitlines()
    if r.returncode != 0 or len(lines) != 2 * len(rids):
        raise RuntimeError("corralctl apply: exit %d, %d lines (want %d)\n%s"
                           % (r.returncode, len(lines), 2 * len(rids), r.stderr[-2000:]))


# --- etcd's own write rate ----------------------------------------------------

class TxnWriter:
    """Puts through etcd's JSON gateway from a small thread pool, one
    keep-alive connection per thread (a new connection per txn would cost
    more than the txn on loopback)."""

    def __init__(self, url, threads):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.local = threading.local()
        self.pool = concurrent.futures.ThreadPoolExecutor(threads)

    def close(self):
        self.pool.shutdown(wait=True)

    def txn(self, kvs):
        """One txn putting every (key, value) of kvs; returns len(kvs)."""
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        ops = [{"requestPut": {"key": b64(k), "value": b64(v)}}
               for k, v in kvs]
        try:
            conn.request("POST", "/v3/kv/txn", json.dumps({"success": ops}),
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            body = r.read()
        except (OSError, http.client.HTTPException):
            self.local.conn = None
            conn.close()
            raise
        if r.status != 200 or b'"header"' not in body:
            raise RuntimeError("etcd txn: %d %s" % (r.status, body[:300]))
        return len(kvs)

    def put_all(self, kvs):
        """Every (key, value) in txns of PER_TXN, several in flight."""
        futs = [self.pool.submit(self.txn, kvs[i:i + PER_TXN])
                for i in range(0, len(kvs), PER_TXN)]
        return sum(f.result() for f in futs)


def raw_write_rate(url, threads=4, seconds=3.0, prefix="/bench-raw"):
    """puts/s and txns/s etcd at url takes from TxnWriter: txns of PER_TXN
    puts of a 1 KiB value under prefix (outside Corral's), threads in
    flight, for seconds."""
    w = TxnWriter(url, threads)
    value = "x" * 1024
    stop = time.monotonic() + seconds
    counter = [0]
    lock = threading.Lock()

    def worker(t):
        n = 0
        while time.monotonic() < stop:
            w.txn([("%s/%d/%08d" % (prefix, t, n + i), value) for i in range(PER_TXN)])
            n += PER_TXN
        with lock:
            counter[0] += n

    t0 = time.monotonic()
    try:
        for f in [w.pool.submit(worker, t) for t in range(threads)]:
            f.result()
    finally:
        w.close()
    el = time.monotonic() - t0
    return counter[0] / el, counter[0] / PER_TXN / el


def etcd_counters(etcd):
    """etcd's cumulative write counters and db size from its /metrics."""
    out = {}
    try:
        body = harness.http("GET", etcd + "/metrics", timeout=10)[2].decode()
    except Exception:
        return out
    for name in ("etcd_mvcc_put_total", "etcd_mvcc_delete_total", "etcd_mvcc_txn_total",
                 "etcd_mvcc_db_total_size_in_bytes"):
        m = re.search(r"^%s (\S+)" % name, body, re.M)
        if m:
            out[name] = float(m.group(1))
    return out


def cpu_s(pid):
    """User + system CPU seconds pid has used (0 when it is gone): on a
    shared machine a steadier figure of a process's own work than wall time."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def raw_write_cost(url, etcd_pid, threads=4, seconds=3.0):
    """raw_write_rate, and etcd's CPU microseconds per put meanwhile (the
    load generator's own CPU is not counted)."""
    c0, t0 = cpu_s(etcd_pid), time.monotonic()
    puts, txns = raw_write_rate(url, threads, seconds)
    el = time.monotonic() - t0
    return puts, txns, 1e6 * (cpu_s(etcd_pid) - c0) / max(puts * el, 1.0)


def build_rawgrpc(dest):
    """Compiles bench/rawgrpc.c into dest; returns the binary's path."""
    return harness.build_bench_tool("rawgrpc", "libcurl", dest)


def raw_grpc_cost(url, etcd_pid, tmpdir, threads=4, seconds=3.0):
    """The raw run over etcd's gRPC service (bench/rawgrpc.c: the same txns
    of PER_TXN puts of 1 KiB, `threads` in flight, sent as corrald sends its
    own): (puts/s, txns/s, etcd's CPU us a put)."""
    binary = build_rawgrpc(tmpdir)
    c0 = cpu_s(etcd_pid)
    r = subprocess.run([binary, "--url", url, "--seconds", "%g" % seconds, "--clients",
                        str(threads), "--per-txn", str(PER_TXN), "--value-bytes", "1024"],
                       capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"rawgrpc puts (\d+) txns (\d+) seconds ([\d.]+)", r.stdout)
    if r.returncode != 0 or not m:
        raise RuntimeError("rawgrpc: %s%s" % (r.stdout, r.stderr))
    puts, txns, el = int(m.group(1)), int(m.group(2)), float(m.group(3))
    return puts / el, txns / el, 1e6 * (cpu_s(etcd_pid) - c0) / max(puts, 1)


def cpu_budget_lines(cpu, tasks, tasks_s, raw_puts, etcd_us_put):
    """What the convergence cost in CPU ({name: seconds} of corrald, etcd,
    mesoslite from the apply to the end) and the ceiling it implies: the
    tasks/s this machine's CPUs could do at that cost, and the ratio there.
    On a machine where the three share few CPUs, that ceiling, not etcd's
    raw rate, bounds the ratio."""
    ncpu = os.cpu_count() or 1
    total = sum(cpu.values())
    per_task = total / max(tasks, 1)
    ceiling = ncpu / max(per_task, 1e-9)
    lines = ["  CPU from the apply to convergence: corrald %.1f s, etcd %.1f s, mesoslite %.1f s "
             "= %.0f us a task; %.2f of %d CPUs busy"
             % (cpu.get("corrald", 0), cpu.get("etcd", 0), cpu.get("mesoslite", 0),
                1e6 * per_task, total / max(tasks / max(tasks_s, 1e-9), 1e-9), ncpu)]
    if etcd_us_put:
        lines.append("  etcd's CPU a task: %.0f us = %.1f raw puts' worth (its raw run: %.0f us a "
                     "put); at this cost %d CPUs converge at most %.0f tasks/s = ratio %.2f"
                     % (1e6 * cpu.get("etcd", 0) / max(tasks, 1),
                        1e6 * cpu.get("etcd", 0) / max(tasks, 1) / etcd_us_put, etcd_us_put,
                        ncpu, ceiling, 3.0 * ceiling / max(raw_puts, 1e-9)))
    return lines


# --- observation ---------------------------------------------------------------

def metric(api, name, labels=""):
    st, _, body = harness.http("GET", api + "/metrics", timeout=10)
    if st != 200:
        return None
    m = re.search(r"^%s%s (\d+)" % (re.escape(name), re.escape(labels)), body.decode(), re.M)
    return int(m.group(1)) if m else 0


def task_states(etcd):
    """{lastTaskState: count} over every task record, and the newest
    TASK_RUNNING write time (epoch ms) among them."""
    states, last_run = {}, 0
    for _, v in etcd_range(etcd, PREFIX + "/tasks/"):
        try:
            rec = json.loads(v)
        except ValueError:
            states["<bad json>"] = states.get("<bad json>", 0) + 1
            continue
        s = rec.get("lastTaskState", "?")
        states[s] = states.get(s, 0) + 1
        if s == "TASK_RUNNING":
            ts = [u.get("timestamp", 0) for u in rec.get("taskUpdates", [])
                  if u.get("taskState") == "TASK_RUNNING"]
            last_run = max([last_run, rec.get("updatedAt", 0)] + ts[-1:])
    return states, last_run


def peak_rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pct(xs, p):
    """Nearest-rank percentile."""
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, -(-len(xs) * p // 100) - 1))
    return xs[int(k)]


def fmt_lat(name, xs):
    if not xs:
        return "  %-34s (none)" % name
    return "  %-34s p50 %6.0f ms   p99 %6.0f ms   (n=%d)" % (name, pct(xs, 50), pct(xs, 99),
                                                            len(xs))


def single(apply, etcd, api, rid, deadline):
    """Applies one 1-instance service (apply: "api" or "etcd"); returns
    (pending, accept, running) ms."""
    t0 = time.time() * 1000.0
    if apply == "etcd":
        apply_etcd(etcd, [rid], 1)
    else:
        apply_api_one(api, rid, 1)
    while True:
        for _, v in etcd_range(etcd, "%s/tasks/%s/" % (PREFIX, rid)):
            rec = json.loads(v)
            if rec.get("lastTaskState") == "TASK_RUNNING":
                created = rec.get("pendingTask", {}).get("pendingTaskId", {}).get("createdAt")
                return ((created - t0) if created else None, rec["launchedAt"] - t0,
                        rec["updatedAt"] - t0)
            if rec.get("lastTaskState") not in ("TASK_LAUNCHED", "TASK_STAGING", "TASK_STARTING"):
                raise RuntimeError("single apply %s: task ended %s"
                                   % (rid, rec.get("lastTaskState")))
        if time.monotonic() > deadline:
            raise Timeout("single apply %s: no TASK_RUNNING record" % rid)
        time.sleep(0.01)


def singles(apply, etcd, api, rids, deadline, lat):
    """single() for each of rids, one after the other, appending to lat, a
    tuple of three lists (pending, ACCEPT, RUNNING ms; pending only when the
    record has its createdAt). Raises Timeout as single() does; lat then
    holds the applies done."""
    for rid in rids:
        p, a, r = single(apply, etcd, api, rid, deadline)
        if p is not None:
            lat[0].append(p)
        lat[1].append(a)
        lat[2].append(r)


def report_singles(lat, accept_goal_ms=None):
    """Prints the p50/p99 of singles()' lat; with accept_goal_ms, the ACCEPT
    line ends with that p99 target and the ratio (never asserted)."""
    print("  single apply latency on the loaded system (from just before the apply):")
    print(fmt_lat("-> pending task (controllers)", lat[0]))
    line = fmt_lat("-> launch intent / ACCEPT (bridge)", lat[1])
    if accept_goal_ms and lat[1]:
        ratio = pct(lat[1], 99) / accept_goal_ms
        line += "   target p99 <= %g ms: %.2fx, %s" % (accept_goal_ms, ratio,
                                                       "met" if ratio <= 1 else "NOT met")
    print(line)
    print(fmt_lat("-> TASK_RUNNING (Mesos' stamp)", lat[2]))


def stall_report(c, etcd, api):
    print("  reached:")
    try:
        states, _ = task_states(etcd)
        print("    task records by state: %s" % json.dumps(states, sort_keys=True))
        pend = sum(1 for _ in etcd_range(etcd, PREFIX + "/pending/", keys_only=True))
        print("    pending task documents: %d" % pend)
        reqs = sum(1 for _ in etcd_range(etcd, PREFIX + "/requests/", keys_only=True))
        print("    request documents: %d" % reqs)
    except Exception as e:  # etcd itself may be the stall
        print("    etcd unreadable: %s" % e)
    try:
        body = harness.http("GET", api + "/metrics", timeout=5)[2].decode()
        keep = [ln for ln in body.splitlines()
                if ln.startswith(("corral_mesos", "corral_tasks", "corral_pending",
                                  "corral_leader"))]
        print("    corrald metrics:\n      " + "\n      ".join(keep))
    except Exception as e:
        print("    corrald metrics unavailable: %s" % e)
    for p in c.procs:
        lines = [ln for ln in p.log().splitlines() if ln.strip()]
        print("    --- %s log (%s), last lines:" % (p.name, p.log_path))
        for ln in lines[-15:]:
            print("      " + ln[:300])


def run(args, c):
    deadline = time.monotonic() + args.timeout
    total = args.requests * args.instances
    etcd = c.etcd()
    c.mesoslite(agents=args.agents, racks=args.racks,
                args=["--simulate", "--allocation-interval", str(args.allocation_interval),
                      "--log-level", "warn"])
    api = c.corrald(args=["--log-level", "warn"])
    corrald = [p for p in c.procs if p.name == "corrald"][0]
    harness.wait_until(lambda: metric(api, "corral_mesos_subscribed") == 1,
                       max(1, deadline - time.monotonic()), "corrald leading and subscribed")
    print("converge: %d requests x %d instances = %d tasks on %d simulated agents "
          "(apply via %s, allocation every %.1f s)"
          % (args.requests, args.instances, total, args.agents, args.apply,
             args.allocation_interval))
    sys.stdout.flush()

    rids = ["svc%05d" % i for i in range(args.requests)]
    pids = {p.name: p.pid for p in c.procs if p.name in ("corrald", "etcd", "mesoslite")}
    cpu0 = {n: cpu_s(pid) for n, pid in pids.items()}
    manifests = os.path.join(c.tmpdir, "manifests")
    if args.apply == "api":
        write_manifests(manifests, rids, args.instances)
    etcd0 = etcd_counters(etcd)
    t0 = time.time() * 1000.0
    m0 = time.monotonic()
    try:
        apply_bulk(args, etcd, api, rids, manifests)
    except Exception as e:
        print("  FAILED while applying: %s" % e)
        stall_report(c, etcd, api)
        return 1
    applied_s = time.monotonic() - m0
    print("  applied %d requests + deploys in %.2f s (%.0f objects/s)"
          % (args.requests, applied_s, 2 * args.requests / max(applied_s, 1e-9)))
    sys.stdout.flush()

    last_print, running = time.monotonic(), 0
    while True:
        try:
            running = metric(api, "corral_tasks", '{state="TASK_RUNNING"}') or 0
        except Exception:
            pass  # a slow scrape under load is not fatal: keep the last count
        if running >= total:
            states, last_run = task_states(etcd)
            if states.get("TASK_RUNNING", 0) >= total:
                break
        now = time.monotonic()
        if now > deadline:
            print("  TIMEOUT after %.0f s: %d of %d tasks RUNNING (corrald's count)"
                  % (now - m0, running, total))
            stall_report(c, etcd, api)
            return 1
        if now - last_print >= 10:
            print("  ... %.0f s: %d/%d RUNNING" % (now - m0, running, total))
            sys.stdout.flush()
            last_print = now
        time.sleep(0.5)
    cpu = {n: cpu_s(pid) - cpu0[n] for n, pid in pids.items()}
    etcd1 = etcd_counters(etcd)
    conv_s = (last_run - t0) / 1000.0
    print("  all %d tasks TASK_RUNNING in etcd %.2f s after the first apply "
          "(%d records; seen by the poller after %.2f s)"
          % (total, conv_s, sum(states.values()), time.monotonic() - m0))
    print("  throughput: %.0f tasks/s" % (total / max(conv_s, 1e-9)))
    writes = sum(etcd1.get(k, 0) - etcd0.get(k, 0)
                 for k in ("etcd_mvcc_put_total", "etcd_mvcc_delete_total"))
    txns = etcd1.get("etcd_mvcc_txn_total", 0) - etcd0.get("etcd_mvcc_txn_total", 0)
    if txns:
        print("  etcd writes (apply included): %d puts+deletes in %d txns (%.1f a task, %.1f a txn)"
              % (writes, txns, writes / max(total, 1), writes / txns))
    try:  # offer churn: what each launch cost in OFFERS events decoded
        offers = metric(api, "corral_mesos_offers_received_total") or 0
        print("  offers received: %d (%.1f per task)" % (offers, offers / max(total, 1)))
    except Exception as e:
        print("  offers received: unavailable (%s)" % e)
    sys.stdout.flush()

    lat = ([], [], [])
    try:
        singles(args.apply, etcd, api, ["single%03d" % i for i in range(args.singles)], deadline,
                lat)
    except Timeout as e:
        print("  TIMEOUT during single applies (%d done): %s" % (len(lat[2]), e))
        stall_report(c, etcd, api)
        return 1
    if args.singles:
        report_singles(lat)
    rss = {p.name: peak_rss_kb(p.pid) / 1024.0 for p in c.procs}
    print("  peak RSS: corrald %.1f MiB (mesoslite %.1f MiB, etcd %.1f MiB)"
          % (peak_rss_kb(corrald.pid) / 1024.0, rss.get("mesoslite", 0), rss.get("etcd", 0)))
    if args.raw_seconds > 0:
        # the limit Corral is measured against, on the same etcd, same
        # machine, same minute (corrald watches only its own prefix)
        puts, txns, us_put = raw_write_cost(etcd, pids["etcd"], args.raw_threads,
                                            args.raw_seconds)
        tasks_s = total / max(conv_s, 1e-9)
        print("  etcd raw batched writes (same etcd, after the run): %.0f puts/s "
              "(%.0f txns/s of %d puts, %d clients, %.0f s)"
              % (puts, txns, PER_TXN, args.raw_threads, args.raw_seconds))
        print("  ratio tasks/s / (raw puts/s / 3) = %.2f (goal >= 0.5; 3: the pending task, "
              "the task record, its RUNNING state)" % (tasks_s / max(puts / 3.0, 1e-9)))
        for line in cpu_budget_lines(cpu, total, tasks_s, puts, us_put):
            print(line)
        # corrald's txns go over gRPC: the same raw run there
        gputs, gtxns, gus = raw_grpc_cost(etcd, pids["etcd"], c.tmpdir, args.raw_threads,
                                          args.raw_seconds)
        print("  etcd raw batched writes over gRPC (bench/rawgrpc.c, same etcd): %.0f puts/s "
              "(%.0f txns/s), etcd %.0f us a put (JSON above: %.0f)" % (gputs, gtxns, gus, us_put))
        print("  ratio against the gRPC raw rate = %.2f (the ratio above is against the JSON "
              "gateway's)" % (tasks_s / max(gputs / 3.0, 1e-9)))
    else:
        print(cpu_budget_lines(cpu, total, total / max(conv_s, 1e-9), 0, None)[0])
    return 0


def main(argv):
    args = parse_args(argv)
    # SIGTERM (e.g. from a timeout wrapper) unwinds through `finally` so the
    # processes started here are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    c = harness.Cluster("bench-converge")
    try:
        return run(args, c)
    except (AssertionError, RuntimeError) as e:  # a component never came up, or refused
        print("converge: FAILED: %s" % e)
        for p in c.procs:
            print("--- %s\n%s" % (p.name, p.log()[-3000:]))
        return 1
    finally:
        c.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
