#!/usr/bin/env python3
"""Benchmark `apply` (make bench B=apply): `corralctl apply -f DIR` of many
objects, one call at a time against calls in flight (issue 14, "Bulk apply").

For each --parallel value (default 1 and 16) it starts a fresh etcd and one
corrald that leads (controllers on, no Mesos; --api-only for the API alone),
writes REQUESTS files of one Request and one Deploy each (default 2,000, so
4,000 objects), and times with a wall clock:

1. `corralctl apply -f DIR --parallel N` on the empty cluster (every object
   created);
2. the same again (every object unchanged: reads only).

Before that it times `corralctl validate -f DIR`, the client's own work
(reading and checking the files), which bounds what any --parallel can
reach. Prints objects/s for each, and corralctl's own CPU time (user +
system). A run whose apply fails or prints the
wrong number of lines exits 1; timings are never asserted.

    python3 bench/apply.py
    python3 bench/apply.py --requests 500 --parallel 1,4,16,64
    CORRAL_BIN=$PWD/bin-me python3 bench/apply.py --api-only
"""
import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "e2e", "lib"))
import harness  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=2000, help="files of a request + a deploy")
    p.add_argument("--parallel", default="1,16", help="comma-separated --parallel values")
    p.add_argument("--api-only", action="store_true", help="corrald --api-only (no controllers)")
    p.add_argument("--timeout", type=float, default=300, help="seconds for one apply")
    return p.parse_args(argv)


def write_manifests(d, n):
    os.makedirs(d)
    for i in range(n):
        rid = "bench-%05d" % i
        docs = [{"apiVersion": "corral/v1", "kind": "Request", "metadata": {"name": rid},
                 "spec": {"id": rid, "requestType": "WORKER", "instances": 1}},
                {"apiVersion": "corral/v1", "kind": "Deploy",
                 "spec": {"requestId": rid, "command": "sleep 600",
                          "resources": {"cpus": 0.1, "memoryMb": 64}}}]
        with open(os.path.join(d, rid + ".yaml"), "w") as f:
            f.write("\n---\n".join(json.dumps(x) for x in docs))


def corralctl(args, server, timeout):
    """(wall seconds, corralctl's CPU seconds, CompletedProcess)."""
    argv = [os.path.join(harness.BIN, "corralctl")]
    if server:
        argv += ["--server", server]
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    r = subprocess.run(argv + args, capture_output=True, text=True, timeout=timeout)
    secs = time.monotonic() - start
    ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return secs, (ru2.ru_utime - ru.ru_utime) + (ru2.ru_stime - ru.ru_stime), r


def timed_apply(api, d, parallel, want_verb, nobj, timeout):
    secs, cpu, r = corralctl(["apply", "-f", d, "--parallel", str(parallel)], api, timeout)
    lines = r.stdout.splitlines()
    if r.returncode != 0 or len(lines) != nobj or not all(l.endswith(want_verb) for l in lines):
        raise RuntimeError("apply --parallel %d: exit %d, %d lines (want %d %s)\n%s"
                           % (parallel, r.returncode, len(lines), nobj, want_verb,
                              r.stderr[-2000:]))
    return secs, cpu


def run(args, tmp):
    d = os.path.join(tmp, "manifests")
    write_manifests(d, args.requests)
    nobj = 2 * args.requests
    print("apply: %d requests + %d deploys (%d objects) in %d files; corrald %s"
          % (args.requests, args.requests, nobj, args.requests,
             "--api-only" if args.api_only else "leading (controllers on, no Mesos)"), flush=True)
    secs, cpu, r = corralctl(["validate", "-f", d], None, args.timeout)
    if r.returncode != 0:
        raise RuntimeError("validate: " + r.stderr[-2000:])
    print("  validate (the client alone)     %6.2f s  %6.0f objects/s  (CPU %.2f s)"
          % (secs, nobj / secs, cpu), flush=True)
    for par in [int(x) for x in args.parallel.split(",")]:
        c = harness.Cluster("bench-apply")
        try:
            c.etcd()
            api = c.corrald(args=["--api-only"] if args.api_only else None)
            harness.wait_until(lambda: harness.http("GET", api + "/readyz")[0] == 200, 30,
                               "readyz")
            first, cpu1 = timed_apply(api, d, par, " created", nobj, args.timeout)
            again, cpu2 = timed_apply(api, d, par, " unchanged", nobj, args.timeout)
            print("  --parallel %-3d  first apply %6.2f s  %6.0f objects/s  (CPU %.2f s)   "
                  "re-apply %5.2f s  %6.0f objects/s  (CPU %.2f s)"
                  % (par, first, nobj / first, cpu1, again, nobj / again, cpu2), flush=True)
        except Exception:
            for p in c.procs:
                print("--- %s\n%s" % (p.name, p.log()[-3000:]))
            raise
        finally:
            c.close()


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = tempfile.mkdtemp(prefix="corral-bench-apply-")
    try:
        run(args, tmp)
        return 0
    except (AssertionError, RuntimeError, subprocess.TimeoutExpired) as e:
        print("apply: FAILED: %s" % e)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
