#!/usr/bin/env python3
"""API latency under load (make bench B=api).

Starts etcd and one corrald (--api-only: the figures are the API's, not the
controllers'), loads N requests (default 10,000) straight into etcd through
its JSON gateway, then runs wrk against:
  1. GET /api/requests/request/{id}   (cycling over all ids)
  2. POST /api/deploys                (a new deploy of a different request each time)
and prints requests/s and latency percentiles. Environment: BENCH_REQUESTS,
BENCH_SECONDS (per run, default 10), BENCH_CONNECTIONS (default 32).
"""
import base64
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e", "lib"))
import harness  # noqa: E402

N = int(os.environ.get("BENCH_REQUESTS", "10000"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNS = int(os.environ.get("BENCH_CONNECTIONS", "32"))

GET_LUA = """
local n = %d
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/api/requests/request/req-" .. (i %% n))
end
"""

POST_LUA = """
local n = %d
local counter = 0
local threads = {}
setup = function(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
init = function(args)
  -- Two threads: each deploys its own half of the requests, one deploy per
  -- request (a second one would be a 409: one pending deploy at a time).
  counter = tid * math.floor(n / 2)
end
request = function()
  counter = counter + 1
  local r = counter %% n
  local body = '{"deploy":{"requestId":"req-' .. r .. '","id":"b' .. counter ..
               '","command":"sleep 100","resources":{"cpus":0.1,"memoryMb":32}}}'
  return wrk.format("POST", "/api/deploys", {["Content-Type"] = "application/json"}, body)
end
"""


def load(etcd, n):
    def put(i):
        doc = {"id": "req-%d" % i, "requestType": "WORKER", "instances": 1 + i % 5,
               "owners": ["team-%d@example.com" % (i % 50)]}
        body = {"key": base64.b64encode(("/corral/requests/req-%d" % i).encode()).decode(),
                "value": base64.b64encode(json.dumps(doc).encode()).decode()}
        st, _, raw = harness.http("POST", etcd + "/v3/kv/put", body)
        if st != 200:
            raise RuntimeError("etcd put: %d %s" % (st, raw[:200]))
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        list(ex.map(put, range(n)))


def wrk(url, script, seconds, conns, tmp):
    path = os.path.join(tmp, "s.lua")
    with open(path, "w") as f:
        f.write(script)
    out = subprocess.run(["wrk", "-t", "2", "-c", str(conns), "-d", "%ds" % seconds, "--latency",
                          "-s", path, url], capture_output=True, text=True, timeout=seconds + 60)
    return out.stdout


def report(name, text):
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)", text, re.M))
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    total = re.search(r"(\d+) requests in", text)
    print("%-28s %8s req/s  p50 %-8s p75 %-8s p90 %-8s p99 %-8s requests %s non-2xx %s" % (
        name, rps.group(1) if rps else "?", pct.get("50", "?"), pct.get("75", "?"),
        pct.get("90", "?"), pct.get("99", "?"), total.group(1) if total else "?",
        errs.group(1) if errs else "0"))
    sys.stdout.flush()


def main():
    if not shutil.which("wrk"):
        print("bench api: wrk not installed; skipped")
        return 0
    cluster = harness.Cluster("bench-api")
    tmp = tempfile.mkdtemp(prefix="corral-bench-api-")
    try:
        etcd = cluster.etcd()
        load(etcd, N)
        api = cluster.corrald(args=["--api-only"])
        harness.wait_until(lambda: json.loads(harness.http("GET", api + "/api/state")[2])
                           .get("allRequests") == N, 60, "cache loaded")
        print("requests in etcd: %d; %d connections, %ds per run" % (N, CONNS, SECONDS))
        report("GET one request", wrk(api, GET_LUA % N, SECONDS, CONNS, tmp))
        # At most N deploys can succeed (one per request): keep the run short
        # enough not to wrap around.
        report("POST deploy", wrk(api, POST_LUA % N, min(SECONDS, 5), CONNS, tmp))
        return 0
    finally:
        cluster.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
