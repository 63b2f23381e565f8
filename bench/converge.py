#!/usr/bin/env python3
"""Benchmark `converge`: how fast the controllers and the Mesos bridge turn
applied services into RUNNING tasks.

Real etcd, corrald (API + controllers + bridge) and mesoslite --simulate
(agents that run no processes). Applies REQUESTS services of INSTANCES
instances each (written straight to etcd in batched txns), and times until
every task is TASK_RUNNING in etcd; then measures single applies: the
latency to the launch intent (the bridge writes it just before ACCEPT) and
to TASK_RUNNING, p50 and p99. Prints tasks/s, the latencies and corrald's
peak RSS.

    python3 bench/converge.py            # 2000 x 5 on 1000 agents (the issue's size)
    CONVERGE_REQUESTS=200 CONVERGE_AGENTS=100 python3 bench/converge.py
    CORRAL_BIN=dir                       # binaries to use (default bin/)
"""
import base64
import json
import os
import sys
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "e2e", "lib"))
import harness  # noqa: E402

REQUESTS = int(os.environ.get("CONVERGE_REQUESTS", "2000"))
INSTANCES = int(os.environ.get("CONVERGE_INSTANCES", "5"))
AGENTS = int(os.environ.get("CONVERGE_AGENTS", "1000"))
SINGLES = int(os.environ.get("CONVERGE_SINGLES", "20"))
TIMEOUT = float(os.environ.get("CONVERGE_TIMEOUT", "900"))
PREFIX = "/corral"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def etcd_call(url, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def put_many(url, kvs, per_txn=100):
    for i in range(0, len(kvs), per_txn):
        ops = [{"requestPut": {"key": b64(k), "value": b64(v)}} for k, v in kvs[i:i + per_txn]]
        etcd_call(url, "/v3/kv/txn", {"success": ops})


def range_prefix(url, prefix, keys_only=False):
    """Every (key, value) under prefix, paged."""
    out, start = [], prefix
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    while True:
        body = {"key": b64(start), "range_end": b64(end), "limit": 5000}
        if keys_only:
            body["keys_only"] = True
        r = etcd_call(url, "/v3/kv/range", body)
        kvs = r.get("kvs", [])
        for kv in kvs:
            k = base64.b64decode(kv["key"]).decode()
            v = base64.b64decode(kv.get("value", "")).decode() if not keys_only else ""
            out.append((k, v))
        if not r.get("more"):
            return out
        start = base64.b64decode(kvs[-1]["key"]).decode() + "\0"


def service(rid, instances):
    req = {"id": rid, "requestType": "SERVICE", "instances": instances}
    dep = {"requestId": rid, "id": "v1", "command": "sleep 1000000",
           "resources": {"cpus": 0.01, "memoryMb": 1, "numPorts": 0},
           "considerHealthyAfterRunningForSeconds": 0}
    return [("%s/requests/%s" % (PREFIX, rid), json.dumps(req)),
            ("%s/deploys/%s/v1" % (PREFIX, rid), json.dumps(dep))]


def running_total(url):
    n = 0
    for _, v in range_prefix(url, PREFIX + "/status/requests/"):
        try:
            n += json.loads(v)["counts"]["running"]
        except (ValueError, KeyError):
            pass
    return n


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
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def main():
    with open(os.path.join(harness.BIN, "corrald"), "rb") as f:
        if b"ctl_manager_start" not in f.read():
            print("converge: skipped (corrald does not start the controllers yet)")
            return 0
    c = harness.Cluster("converge")
    try:
        etcd = c.etcd()
        c.mesoslite(agents=AGENTS, racks="r1,r2,r3,r4",
                    args=["--simulate", "--allocation-interval", "0.1",
                          "--heartbeat-interval", "5"])
        c.corrald(args=["--log-level", "warn"])
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 60, "framework id")
        corrald = [p for p in c.procs if p.name == "corrald"][0]

        total = REQUESTS * INSTANCES
        kvs = []
        for i in range(REQUESTS):
            kvs += service("svc%05d" % i, INSTANCES)
        t0 = time.monotonic()
        put_many(etcd, kvs)
        t_applied = time.monotonic() - t0
        harness.wait_until(lambda: running_total(etcd) >= total, TIMEOUT,
                           "%d tasks running" % total, interval=1.0)
        t_all = time.monotonic() - t0
        # cross-check on the task records themselves
        states = [json.loads(v)["lastTaskState"] for _, v in range_prefix(etcd, PREFIX + "/tasks/")]
        running = states.count("TASK_RUNNING")

        planned, accept, run = [], [], []
        for i in range(SINGLES):
            rid = "single%03d" % i
            t1 = time.monotonic()
            put_many(etcd, service(rid, 1))
            seen_accept = seen_plan = None
            while True:
                if seen_plan is None:
                    if range_prefix(etcd, "%s/pending/%s/" % (PREFIX, rid), keys_only=True):
                        seen_plan = time.monotonic() - t1
                recs = range_prefix(etcd, "%s/tasks/%s/" % (PREFIX, rid))
                now = time.monotonic()
                if recs and seen_plan is None:
                    seen_plan = now - t1
                if recs and seen_accept is None:
                    seen_accept = now - t1
                if recs and json.loads(recs[0][1])["lastTaskState"] == "TASK_RUNNING":
                    run.append(now - t1)
                    break
                if now - t1 > 60:
                    raise AssertionError("single apply %s never ran" % rid)
                time.sleep(0.005)
            accept.append(seen_accept)
            planned.append(seen_plan)

        print("converge: %d requests x %d instances on %d simulated agents"
              % (REQUESTS, INSTANCES, AGENTS))
        print("  applied in %.2f s; all %d tasks RUNNING after %.2f s (%d RUNNING records)"
              % (t_applied, total, t_all, running))
        print("  throughput: %.0f tasks/s" % (total / t_all))
        print("  single apply -> pending task (controllers): p50 %.0f ms, p99 %.0f ms"
              % (pct(planned, 50) * 1000, pct(planned, 99) * 1000))
        print("  single apply -> launch intent (ACCEPT): p50 %.0f ms, p99 %.0f ms"
              % (pct(accept, 50) * 1000, pct(accept, 99) * 1000))
        print("  single apply -> TASK_RUNNING:          p50 %.0f ms, p99 %.0f ms"
              % (pct(run, 50) * 1000, pct(run, 99) * 1000))
        print("  corrald peak RSS: %.1f MiB" % (peak_rss_kb(corrald.pid) / 1024.0))
        return 0
    finally:
        c.close()


if __name__ == "__main__":
    sys.exit(main())
