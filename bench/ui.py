#!/usr/bin/env python3
"""Benchmark `ui` (make bench B=ui): the web UI with many requests stored.

Starts, on loopback ports, a real etcd and one corrald (--api-only, with
--auth), loads REQUESTS request documents (default 10,000) straight into
etcd (bench/api.py's loader), waits until corrald's cache holds them, then
drives headless chromium (e2e/lib/browser.py) and prints, for ROUNDS rounds:

1. first render: from navigating to /ui/#/requests until the virtualised
   list shows its rows and the count of all requests (the whole list was
   fetched, parsed and laid out), measured in the page
   (performance.now() from navigation start);
2. live update: from an etcd put that changes one request's instances
   (straight into etcd, as GitOps would) until the row shows the new
   count, without a reload (the change arrives on /api/watch, the page
   re-reads that one request);
3. scrolling: the time to jump the list to 20 places and paint each (the
   rows in view only; a frame per jump).

Prints median and max of each. A benchmark, not a test: it fails only
when something does not happen within --timeout. Every process it started
(browser included) is stopped.

    python3 bench/ui.py
    python3 bench/ui.py --requests 2000 --rounds 3
"""
import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "e2e", "lib"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import browser  # noqa: E402
import harness  # noqa: E402
from api import load, PREFIX  # noqa: E402

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def etcd_put(etcd, key, value):
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    req = urllib.request.Request(etcd + "/v3/kv/put", data=json.dumps(
        {"key": b64(key), "value": b64(json.dumps(value))}).encode(),
        headers={"Content-Type": "application/json"})
    with OPENER.open(req, timeout=30) as r:
        r.read()


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--timeout", type=float, default=600)
    a = p.parse_args(argv)
    why = browser.available()
    if why:
        print("bench ui: skipped: " + why)
        return 0
    deadline = time.monotonic() + a.timeout
    cluster = harness.Cluster("bench-ui")
    b = None
    try:
        token = "tok-bench-" + os.urandom(16).hex()
        path = os.path.join(cluster.tmpdir, "tokens")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("%s bench admins\n" % token)
        etcd = cluster.etcd()
        api = cluster.corrald(args=["--api-only", "--auth", "--auth-token-file", path])
        t0 = time.monotonic()
        load(etcd, a.requests)
        auth = {"Authorization": "Bearer " + token}
        harness.wait_until(lambda: harness.http_json("GET", api + "/api/state", headers=auth)[1]
                           ["allRequests"] == a.requests, max(10, deadline - time.monotonic()),
                           "corrald's cache holds every request")
        print("loaded %d requests in %.1f s" % (a.requests, time.monotonic() - t0))
        b = browser.Browser(cluster.tmpdir)
        b.goto(api + "/ui/#/login")
        b.wait("#token")
        b.fill("#token", token)
        b.click("#login")
        b.wait_js("location.hash.startsWith('#/dashboard')", 60)
        first, live, scroll = [], [], []
        for rnd in range(a.rounds):
            # First render: a fresh page load of the list.
            b.goto("about:blank")
            b.goto(api + "/ui/#/requests")
            ms = b.wait_js("document.querySelector('#count') && "
                           "document.querySelector('#count').textContent.endsWith('of %d') && "
                           "document.querySelectorAll('.vrow').length > 0 && performance.now()"
                           % a.requests, max(10, deadline - time.monotonic()))
            first.append(ms)
            rows = b.js("document.querySelectorAll('.vrow').length")
            # Live update of one request from etcd.
            rid = "req-%d" % (rnd * 7)
            want = 10 + rnd
            b.js("document.querySelector('#search').value = %s; "
                 "document.querySelector('#search').dispatchEvent(new Event('input'))"
                 % json.dumps(rid))
            b.wait(".vrow[data-key='%s']" % rid)
            start = time.monotonic()
            etcd_put(etcd, "%s/requests/%s" % (PREFIX, rid),
                     {"id": rid, "requestType": "WORKER", "instances": want})
            b.wait_text(".vrow[data-key='%s'] [data-col='instances']" % rid, "/%d" % want,
                        max(10, deadline - time.monotonic()))
            live.append((time.monotonic() - start) * 1000)
            # Scrolling the whole list: 20 jumps, a frame each.
            b.js("document.querySelector('#search').value = ''; "
                 "document.querySelector('#search').dispatchEvent(new Event('input'))")
            b.wait_js("document.querySelector('#count').textContent.startsWith('%d of')" % a.requests)
            scroll.append(b.wait_js("""(async () => {
                const vp = document.querySelector('.vbody');
                const t = performance.now();
                for (let i = 1; i <= 20; i++) {
                  vp.scrollTop = vp.scrollHeight * i / 21;
                  await new Promise(r => requestAnimationFrame(() => r()));
                }
                return (performance.now() - t) / 20;
            })()""", 60))
            print("round %d: first render %.0f ms (%d rows in the DOM), live update %.0f ms, "
                  "scroll %.1f ms/jump" % (rnd + 1, first[-1], rows, live[-1], scroll[-1]))
        fmt = lambda xs: "median %.0f ms, max %.0f ms" % (statistics.median(xs), max(xs))  # noqa
        print("requests page, %d requests: first render %s" % (a.requests, fmt(first)))
        print("live update after an etcd change: %s" % fmt(live))
        print("scroll: median %.1f ms per jump (a frame is 16.7 ms)" % statistics.median(scroll))
        return 0
    finally:
        if b:
            b.close()
        cluster.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
