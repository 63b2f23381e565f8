"""Load balancing end to end (docs/loadbalancing.md): real etcd, corrald
(controllers, LB loop with the nginx provider, Mesos bridge), mesoslite
running real processes, and a real nginx (Debian's nginx-light) started by
the test on loopback with its own config dir.

A client sends requests through nginx the whole time while the service is
deployed again, bounced and scaled; not one may fail, and every answer
comes from a task of a deploy that was healthy. A deploy whose health
check fails never reaches nginx. A change nginx refuses (nginx -t fails)
changes nothing: the tasks it would have removed keep serving and are not
killed until a valid change took them out.
"""
import json
import os
import re
import signal
import threading
import time
import unittest

import browser
import harness
import lbnginx

PREFIX = "/corral"
ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]
# Answers every GET with "<version> <task id>"; /fail answers 500, and
# /health 503 once a file sick-<task id> exists next to the script.
APP = r'''
import http.server, os, sys
SICK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sick-" + os.environ.get("TASK_ID", "?"))
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        code = 500 if self.path.startswith("/fail") else 200
        if self.path.startswith("/health") and os.path.exists(SICK):
            code = 503
        body = ("%s %s\n" % (sys.argv[2], os.environ.get("TASK_ID", "?"))).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''


class Client(threading.Thread):
    """Sends GETs through nginx back to back until stopped; counts answers
    by version and keeps every failure."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url = url
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.versions = {}
        self.failures = []
        self.count = 0

    def run(self):
        while not self.stop_ev.is_set():
            try:
                status, _, body = harness.http("GET", self.url, timeout=10)
                text = body.decode(errors="replace").strip()
                with self.lock:
                    self.count += 1
                    if status != 200:
                        self.failures.append("%d %s" % (status, text[:200]))
                    else:
                        v = text.split(" ")[0]
                        self.versions[v] = self.versions.get(v, 0) + 1
            except Exception as e:  # a refused or reset connection is a failure too
                with self.lock:
                    self.count += 1
                    self.failures.append(repr(e))
            time.sleep(0.005)

    def seen(self, version):
        with self.lock:
            return self.versions.get(version, 0)

    def total(self):
        with self.lock:
            return self.count

    def stop(self):
        self.stop_ev.set()
        self.join(15)


@unittest.skipUnless(lbnginx.available(), "nginx is not installed (Debian: nginx-light)")
class T(harness.TestCase):

    def start(self, drain_ms=1500, replicas=1):
        c = self.cluster
        c.etcd()
        base = harness.free_port_range(100)
        res = "cpus:8;mem:8192;disk:65536;ports:[%d-%d]" % (base, base + 99)
        c.mesoslite(agents=1, racks="r1", args=ML_ARGS + ["--agent-resources", res])
        self.nginx, conf, self.lbdir = lbnginx.start(c)
        self.apis = [c.corrald(name="corrald%d" % i,
                               args=["--lb-provider", "nginx", "--lb-nginx-dir", self.lbdir,
                                     "--lb-nginx-conf", conf, "--lb-nginx-bin", lbnginx.NGINX,
                                     "--lb-drain-ms", str(drain_ms),
                                     "--leader-lease-ttl", "3"])
                     for i in range(replicas)]
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30,
                           "framework id stored")
        self.app = os.path.join(c.tmpdir, "app.py")
        with open(self.app, "w") as f:
            f.write(APP)
        return c

    def put(self, key, obj):
        self.cluster.etcdctl("put", key, json.dumps(obj))

    def request(self, rid, instances):
        self.put("%s/requests/%s" % (PREFIX, rid),
                 {"id": rid, "requestType": "SERVICE", "instances": instances,
                  "loadBalanced": True})

    def deploy(self, rid, did, health_uri="/health", failure_codes=None):
        self.put("%s/deploys/%s/%s" % (PREFIX, rid, did), {
            "requestId": rid, "id": did,
            "command": "exec python3 %s $PORT0 %s" % (self.app, did),
            "resources": {"cpus": 0.05, "memoryMb": 16, "numPorts": 1},
            "serviceBasePath": "/%s/" % rid, "loadBalancerGroups": ["web"],
            "deployHealthTimeoutSeconds": 60,
            "healthcheck": {"uri": health_uri, "startupIntervalSeconds": 1,
                            "intervalSeconds": 1, "responseTimeoutSeconds": 2,
                            "startupTimeoutSeconds": 30,
                            "failureStatusCodes": failure_codes or []}})

    def status(self, rid):
        return self.cluster.etcd_get_json("%s/status/requests/%s" % (PREFIX, rid)) or {}

    def lb(self, rid):
        return self.cluster.etcd_get_json("%s/status/lb/%s" % (PREFIX, rid)) or {}

    def tasks(self, rid):
        return list(self.cluster.etcd_prefix_json("%s/tasks/%s/" % (PREFIX, rid)).values())

    def upstream_deploys(self, rid):
        return sorted(u["taskId"].split("-")[1] for u in self.lb(rid).get("upstreams", []))

    def settled(self, rid, did, n):
        """The request is ready on did with n tasks, nginx serves exactly
        those n, and no other task is left."""
        s = self.status(rid)
        ready = [c for c in s.get("conditions", []) if c["type"] == "Ready"]
        live = [t for t in self.tasks(rid)]
        return (s.get("activeDeployId") == did and ready and ready[0]["status"] == "True"
                and self.upstream_deploys(rid) == [did] * n
                and self.lb(rid).get("state") == "SUCCESS"
                and len(live) == n)

    def wait_settled(self, rid, did, n, timeout=90):
        try:
            harness.wait_until(lambda: self.settled(rid, did, n), timeout,
                               "%s settled on %s x%d behind nginx" % (rid, did, n))
        except AssertionError as e:
            raise AssertionError("%s; status %s; lb %s" % (e, self.status(rid), self.lb(rid))) \
                from None

    def wait_serving(self, url, version):
        """nginx -s reload returns once the signal is sent, and workers of
        the configuration before the first change (no location for the
        request at all) may take a connection or two while they stop: wait
        until 20 answers in a row come from version."""
        def twenty():
            return all(harness.http("GET", url, timeout=5)[2].startswith(version.encode() + b" ")
                       for _ in range(20))
        harness.wait_until(twenty, 15, "nginx serving " + version)

    def check_api_shows_lb(self, n):
        """The API and corralctl show what nginx serves."""
        api = self.cluster.api_url
        st, parent = harness.http_json("GET", api + "/api/requests/request/web")
        self.assertEqual(st, 200)
        self.assertEqual(len(parent["loadBalancer"]["upstreams"]), n)
        self.assertEqual(len(parent["taskIds"]["loadBalanced"]), n)
        tid = parent["loadBalancer"]["upstreams"][0]["taskId"]
        st, hist = harness.http_json("GET", api + "/api/history/task/" + tid)
        self.assertEqual(st, 200)
        upd = hist["loadBalancerUpdates"]
        self.assertEqual([(u["state"], u["loadBalancerRequestId"]["requestType"]) for u in upd],
                         [("SUCCESS", "ADD")])
        out = self.cluster.corralctl("describe", "request", "web", check=True).stdout
        self.assertRegex(out, r"Load balancer:\s+nginx SUCCESS, serving %d, draining 0" % n)
        if browser.available() is None:
            # the UI's request page lists what the load balancer serves
            b = browser.Browser(self.cluster.tmpdir)
            try:
                b.goto(api + "/ui/#/request/web")
                b.wait("#load-balancer tr[data-lb-task]", 30)
                rows = b.js("Array.from(document.querySelectorAll('#load-balancer tr"
                            "[data-lb-task]')).map((r) => r.dataset.lbTask + ' ' + r.innerText)")
                self.assertEqual(sorted(r.split(" ")[0] for r in rows),
                                 sorted(u["taskId"] for u in parent["loadBalancer"]["upstreams"]))
                self.assertTrue(all("SERVING" in r for r in rows), rows)
                self.assertIn("nginx", b.js("document.querySelector('#load-balancer')"
                                            ".innerText"))
            finally:
                b.close()

    def test_sighup_turns_the_load_balancer_on(self):
        """corrald started with --lb-provider none in its settings file;
        the file then names nginx and SIGHUP makes the LB loop anew: the
        load-balanced request gets its upstream without a restart."""
        c = self.cluster
        c.etcd()
        base = harness.free_port_range(100)
        res = "cpus:8;mem:8192;disk:65536;ports:[%d-%d]" % (base, base + 99)
        c.mesoslite(agents=1, racks="r1", args=ML_ARGS + ["--agent-resources", res])
        self.nginx, nconf, self.lbdir = lbnginx.start(c)
        conf = os.path.join(c.tmpdir, "corrald.yaml")
        with open(conf, "w") as f:
            f.write("lb-provider: none\nlb-drain-ms: 1500\n")
        c.corrald(args=["--config", conf])
        proc = next(p for p in c.procs if p.name == "corrald")
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30, "framework id")
        self.app = os.path.join(c.tmpdir, "app.py")
        with open(self.app, "w") as f:
            f.write(APP)
        self.request("web", 1)
        self.deploy("web", "v1")
        harness.wait_until(lambda: any(t.get("lastTaskState") == "TASK_RUNNING"
                                       for t in self.tasks("web")), 60, "web running")
        self.assertEqual(self.lb("web"), {})   # no provider: nothing served
        with open(conf, "w") as f:
            f.write("lb-provider: nginx\nlb-nginx-dir: %s\nlb-nginx-conf: %s\n"
                    "lb-nginx-bin: %s\nlb-drain-ms: 2500\n" % (self.lbdir, nconf, lbnginx.NGINX))
        proc.signal(signal.SIGHUP)
        harness.wait_until(lambda: "SIGHUP: load balancer reloaded: provider nginx" in proc.log(),
                           15, "the reload line")
        self.assertIn("SIGHUP: lb-drain-ms 1500 -> 2500", proc.log())
        self.wait_settled("web", "v1", 1)
        self.wait_serving(self.nginx + "/web/", "v1")
        # a file that no longer validates changes nothing
        with open(conf, "w") as f:
            f.write("lb-provider: nginx\nlb-nginx-dir: %s\nlb-nginx-conf: %s\n"
                    "lb-drain-ms: soon\n" % (self.lbdir, nconf))
        proc.signal(signal.SIGHUP)
        harness.wait_until(lambda: "SIGHUP: settings not reloaded" in proc.log(), 15, "refused")
        self.wait_serving(self.nginx + "/web/", "v1")

    def test_deploy_bounce_scale_with_zero_failed_requests(self):
        self.start()
        self.request("web", 3)
        self.deploy("web", "v1")
        self.wait_settled("web", "v1", 3)
        url = self.nginx + "/web/"
        self.wait_serving(url, "v1")
        with open(os.path.join(self.lbdir, "upstreams", "corral_web.conf")) as f:
            self.assertEqual(f.read().count("server 127.0.0.1:"), 3)
        self.check_api_shows_lb(3)

        client = Client(url)
        client.start()
        try:
            # deploy v2: new tasks in and old out in one change, old killed after
            self.deploy("web", "v2")
            self.wait_settled("web", "v2", 3)
            harness.wait_until(lambda: client.seen("v2") > 20, 30, "answers from v2")
            v1_before_bounce = client.seen("v1")

            # bounce: fresh tasks in before the old ones leave
            before = {t["taskId"]["id"] for t in self.tasks("web")}
            self.put("%s/intents/requests/web/bounce" % PREFIX,
                     {"user": "e2e", "timestamp": 42})
            harness.wait_until(lambda: self.status("web").get("lastBounce") == 42, 90,
                               "bounce finished")
            self.wait_settled("web", "v2", 3)
            self.assertFalse(before & {t["taskId"]["id"] for t in self.tasks("web")})

            # scale 3 -> 5 -> 2
            self.request("web", 5)
            self.wait_settled("web", "v2", 5)
            self.request("web", 2)
            self.wait_settled("web", "v2", 2)

            # a served task whose health check starts failing is taken out
            # of nginx, then killed and replaced (liveness checks)
            sick = self.lb("web")["upstreams"][0]["taskId"]
            open(os.path.join(self.cluster.tmpdir, "sick-" + sick), "w").close()
            harness.wait_until(lambda: sick not in {t["taskId"]["id"] for t in self.tasks("web")}
                               and self.settled("web", "v2", 2), 60,
                               "the sick task replaced behind nginx")
            n = client.total()
            harness.wait_until(lambda: client.total() > n + 20, 30, "more answers")
        finally:
            client.stop()
        self.assertEqual(client.failures, [], "requests failed through nginx")
        self.assertGreater(client.total(), 100)
        self.assertEqual(set(client.versions), {"v1", "v2"})
        # once v2 was live, v1 answered nothing new
        self.assertEqual(client.seen("v1"), v1_before_bounce)
        # every task killed went out of nginx first: history has no
        # task killed while it was an upstream (the LB status lists none left)
        self.assertEqual(self.lb("web").get("removed"), [])

    def test_failing_deploy_never_added_and_refused_change_changes_nothing(self):
        self.start()
        self.request("web", 2)
        self.deploy("web", "v2")
        self.wait_settled("web", "v2", 2)
        url = self.nginx + "/web/"
        self.wait_serving(url, "v2")
        client = Client(url)
        client.start()
        try:
            # v3's health check answers 500: it fails and never reaches nginx
            self.deploy("web", "v3", health_uri="/fail", failure_codes=[500])
            harness.wait_until(
                lambda: (self.cluster.etcd_get_json(
                    "%s/status/deploys/web/v3" % PREFIX) or {}).get("state") == "FAILED",
                90, "v3 failed")
            self.wait_settled("web", "v2", 2)

            # an operator's file that breaks nginx -t: a scale-down is refused
            # by nginx, so the tasks stay in and keep running
            bad = os.path.join(self.lbdir, "locations", "web", "zz-broken.conf")
            with open(bad, "w") as f:
                f.write("location /broken/ { this_is_not_a_directive; }\n")
            self.request("web", 1)
            harness.wait_until(lambda: self.lb("web").get("state") == "FAILED", 30,
                               "the change refused")
            lbst = self.lb("web")
            self.assertIn("nginx -t failed", lbst.get("message", ""))
            self.assertEqual(len(lbst["upstreams"]), 2)
            with open(os.path.join(self.lbdir, "upstreams", "corral_web.conf")) as f:
                self.assertEqual(f.read().count("server 127.0.0.1:"), 2)
            live = [t for t in self.tasks("web") if t["lastTaskState"] == "TASK_RUNNING"]
            self.assertEqual(len(live), 2)
            self.assertEqual(len(self.cluster.etcd_prefix_json(PREFIX + "/lbcleanups/web/")), 1)
            self.assertEqual(self.cluster.etcd_prefix_json(PREFIX + "/cleanups/"), {})
            api = self.cluster.api_url
            state = harness.http_json("GET", api + "/api/state")[1]
            self.assertEqual((state["lbCleanupTasks"], state["lbCleanupRequests"]), (1, 1))
            waiting = harness.http_json("GET", api + "/api/tasks/lbcleanup")[1]
            self.assertEqual([t["requestId"] for t in waiting], ["web"])
            self.assertEqual(harness.http_json("GET", api + "/api/requests/lbcleanup")[1],
                             ["web"])

            # fixed: the retry goes through and the task leaves, then dies
            os.unlink(bad)
            self.wait_settled("web", "v2", 1, timeout=60)
        finally:
            client.stop()
        self.assertEqual(client.failures, [], "requests failed through nginx")
        self.assertNotIn("v3", client.versions)
        self.assertGreater(client.seen("v2"), 20)

    def test_leader_killed_mid_swap_standby_finishes(self):
        self.start(drain_ms=4000, replicas=2)
        self.request("web", 2)
        self.deploy("web", "v1")
        self.wait_settled("web", "v1", 2)
        url = self.nginx + "/web/"
        self.wait_serving(url, "v1")
        client = Client(url)
        client.start()
        try:
            self.deploy("web", "v2")
            # the swap decided: v1's tasks wait in the LB cleanup queue
            harness.wait_until(
                lambda: len(self.cluster.etcd_prefix_json(PREFIX + "/lbcleanups/web/")) == 2,
                90, "v1 tasks waiting for the load balancer")
            leader = self.cluster.etcd_get_json(PREFIX + "/leader")["address"]
            port = int(re.search(r":(\d+)$", leader).group(1))
            victim = [p for p in self.cluster.procs
                      if getattr(p, "url", "").endswith(":%d" % port)][0]
            victim.signal(signal.SIGKILL)
            self.cluster.api_url = [u for u in self.apis if not u.endswith(":%d" % port)][0]
            # the standby takes over and finishes: v2 served, v1 killed after its drain
            self.wait_settled("web", "v2", 2, timeout=120)
            harness.wait_until(lambda: client.seen("v2") > 20, 30, "answers from v2")
        finally:
            client.stop()
        self.assertEqual(client.failures, [], "requests failed through nginx")
        history = self.cluster.etcd_prefix_json(PREFIX + "/history/tasks/web/")
        self.assertEqual(sorted(h["lastTaskState"] for h in history.values()),
                         ["TASK_KILLED"] * 2)


if __name__ == "__main__":
    harness.main()
