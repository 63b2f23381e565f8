"""Webhooks end to end (docs/webhooks.md): real etcd, mesoslite and corrald;
the receiver is a small HTTP server this file starts on 127.0.0.1.

- /api/webhooks: add, list (no secret), summary, queues, delete; bad input
  is refused and writes nothing.
- a deploy: the receiver sees its REQUEST, DEPLOY and TASK events, every
  task's states in order, each TASK body signed with the webhook's secret.
- the receiver down, then up: every queued event arrives, none is lost,
  and the failures were counted and backed off.
- the leader SIGKILLed with events queued: the standby delivers every one
  of them, and generates the events of changes after the failover.
- with --auth: a deploy's events name the caller who made it
  (deployMarker.user), not the OS user its tasks run as (the deploy's
  user), and a webhook records its maker, whatever its body says.
"""
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import harness

PREFIX = "/corral"
ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]
SECRET = "s3cret-for-tests"
RANK = {s: i for i, s in enumerate(["TASK_LAUNCHED", "TASK_STAGING", "TASK_STARTING",
                                    "TASK_RUNNING", "TASK_CLEANING", "TASK_KILLING"])}


class Receiver:
    """Records every POST: (headers, body bytes). Answers 200."""

    def __init__(self, port):
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        self.posts = []
        self.fail_with = None  # a status to answer instead of 200
        self.lock = threading.Lock()
        self.server = None

    def start(self):
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                if rec.fail_with:
                    msg = b"busy, try later " * 40
                    self.send_response(rec.fail_with)
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                with rec.lock:
                    rec.posts.append(({k.lower(): v for k, v in self.headers.items()},
                                      self.path, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def events(self, kind=None):
        with self.lock:
            out = []
            for h, path, body in self.posts:
                if kind and h.get("x-corral-webhook-type") != kind:
                    continue
                out.append((h, path, json.loads(body), body))
            return out

    def event_ids(self):
        return {h.get("x-corral-webhook-event") for h, _, _, _ in self.events()}


def is_leader(url):
    try:
        st, _, raw = harness.http("GET", url + "/metrics", timeout=2)
    except OSError:
        return False
    return st == 200 and re.search(r"^corral_leader\{[^}]*\} 1$", raw.decode(), re.M) is not None


class T(harness.TestCase):

    def start(self, replicas=1):
        c = self.cluster
        c.etcd()
        base = harness.free_port_range(50)
        res = "cpus:8;mem:8192;disk:65536;ports:[%d-%d]" % (base, base + 49)
        c.mesoslite(agents=1, racks="r1", args=ML_ARGS + ["--agent-resources", res])
        self.apis = [c.corrald(name="corrald%d" % i) for i in range(replicas)]
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30,
                           "framework id stored")
        self.api = self.apis[0]
        return c

    def call(self, method, path, body=None, api=None):
        st, _, raw = harness.http(method, (api or self.api) + path,
                                  json.dumps(body).encode() if body is not None else None,
                                  {"Content-Type": "application/json"})
        return st, (json.loads(raw) if raw else None)

    def ok(self, method, path, body=None, api=None):
        st, j = self.call(method, path, body, api)
        self.assertEqual(st, 200, "%s %s: %s" % (method, path, j))
        return j

    def add_hook(self, hid, url, kind, secret=None):
        body = {"id": hid, "uri": url, "type": kind}
        if secret:
            body["secret"] = secret
        self.assertEqual(self.ok("POST", "/api/webhooks", body), "CREATED")

    def service(self, rid, instances, did="v1"):
        self.ok("POST", "/api/requests", {"id": rid, "requestType": "WORKER",
                                          "instances": instances})
        self.ok("POST", "/api/deploys", {"deploy": {
            "requestId": rid, "id": did, "command": "exec sleep 600",
            "resources": {"cpus": 0.05, "memoryMb": 16},
            "considerHealthyAfterRunningForSeconds": 1}})

    def tasks(self, rid):
        return list(self.cluster.etcd_prefix_json("%s/tasks/%s/" % (PREFIX, rid)).values())

    def running(self, rid, n):
        ts = self.tasks(rid)
        return len(ts) == n and all(t.get("lastTaskState") == "TASK_RUNNING" for t in ts)

    def queue(self, hid):
        return self.cluster.etcd_prefix_json("%s/queues/webhooks/%s/" % (PREFIX, hid))

    def hook_status(self, hid):
        return self.cluster.etcd_get_json("%s/status/webhooks/%s" % (PREFIX, hid)) or {}

    def summary(self, hid):
        for s in self.ok("GET", "/api/webhooks/summary"):
            if s["webhook"]["id"] == hid:
                return s
        return None

    def assert_task_order(self, rec, want_running):
        """Every task's states arrive in order (repeats allowed: at least
        once); want_running tasks reached TASK_RUNNING."""
        seen = {}
        for h, _, p, _ in rec.events("TASK"):
            up = p["taskUpdate"]
            seen.setdefault(up["taskId"]["id"], []).append(up["taskState"])
            self.assertEqual(p["task"]["taskId"]["id"], up["taskId"]["id"])
        for tid, states in seen.items():
            ranks = [RANK.get(s, 99) for s in states]
            self.assertEqual(ranks, sorted(ranks), "%s: states out of order: %s" % (tid, states))
        self.assertEqual(sum(1 for s in seen.values() if "TASK_RUNNING" in s), want_running,
                         seen)
        return seen

    # -- tests --------------------------------------------------------------------

    def test_api_resource(self):
        c = self.cluster
        c.etcd()
        self.api = c.corrald(args=["--api-only"])
        before = c.etcd_prefix_json(PREFIX + "/webhooks/")
        for bad in [{"uri": "ftp://x", "type": "TASK"}, {"uri": "http://127.0.0.1:1/", "type": "X"},
                    {"type": "TASK"}, {"id": "a/b", "uri": "http://127.0.0.1:1/", "type": "TASK"}]:
            st, j = self.call("POST", "/api/webhooks", bad)
            self.assertEqual(st, 400, j)
            self.assertIn("message", j)
        self.assertEqual(c.etcd_prefix_json(PREFIX + "/webhooks/"), before)
        self.add_hook("h1", "http://127.0.0.1:1/x/$REQUEST_ID", "DEPLOY", SECRET)
        self.assertEqual(self.ok("POST", "/api/webhooks", {"id": "h1", "uri": "http://127.0.0.1:2/",
                                                           "type": "TASK"}), "EXISTED")
        # Singularity's derived id when none is given; unknown fields ignored
        self.assertEqual(self.ok("POST", "/api/webhooks", {"uri": "http://127.0.0.1:1/y",
                                                           "type": "REQUEST", "extra": 1}),
                         "CREATED")
        hooks = {h["id"]: h for h in self.ok("GET", "/api/webhooks")}
        self.assertEqual(set(hooks), {"h1", "REQUEST-http%3A%2F%2F127.0.0.1%3A1%2Fy"})
        self.assertEqual(hooks["h1"]["type"], "DEPLOY")
        self.assertNotIn("secret", json.dumps(self.ok("GET", "/api/webhooks")))
        self.assertNotIn(SECRET, json.dumps(self.ok("GET", "/api/webhooks/summary")))
        self.assertEqual(c.etcd_get_json(PREFIX + "/webhooks/h1")["secret"], SECRET)
        self.assertEqual(self.ok("GET", "/api/webhooks/deploy?webhookId=h1"), [])
        self.assertEqual(self.ok("GET", "/api/webhooks/task/h1"), [])
        self.assertEqual(self.call("GET", "/api/webhooks/task?webhookId=nope")[0], 404)
        self.assertEqual(self.call("GET", "/api/webhooks/task")[0], 400)
        self.assertEqual(self.ok("DELETE", "/api/webhooks?webhookId=h1"), "DELETED")
        self.assertEqual(self.ok("DELETE", "/api/webhooks/h1"), "DIDNT_EXIST")
        self.assertIsNone(c.etcd_get_json(PREFIX + "/webhooks/h1"))

        # corralctl webhooks add|list|delete
        secret_file = os.path.join(c.tmpdir, "secret")
        with open(secret_file, "w") as f:
            f.write("from-a-file\n")
        r = c.corralctl("webhooks", "add", "--type", "TASK", "--uri", "http://127.0.0.1:1/t",
                        "--id", "cli1", "--secret-file", secret_file, check=True)
        self.assertIn("CREATED", r.stdout)
        again = c.corralctl("webhooks", "add", "--type", "TASK", "--uri", "http://127.0.0.1:1/u",
                            "--id", "cli1")
        self.assertEqual(again.returncode, 1)
        self.assertIn("EXISTED", again.stdout)
        self.assertEqual(c.etcd_get_json(PREFIX + "/webhooks/cli1")["secret"], "from-a-file")
        r = c.corralctl("webhooks", "list", check=True)
        self.assertRegex(r.stdout, r"cli1\s+TASK\s+http://127.0.0.1:1/t\s+0\s+0\s+0")
        self.assertNotIn("from-a-file", r.stdout)
        self.assertEqual(c.corralctl("webhooks", "add", "--type", "TASK").returncode, 2)
        bad = c.corralctl("webhooks", "add", "--type", "NOPE", "--uri", "http://127.0.0.1:1/")
        self.assertEqual(bad.returncode, 1)
        self.assertIn("type", bad.stderr)
        self.assertEqual(c.corralctl("webhooks", "delete", "cli1", check=True).returncode, 0)
        self.assertEqual(c.corralctl("webhooks", "delete", "cli1").returncode, 1)
        self.assertNotIn("cli1", c.corralctl("webhooks", "list", check=True).stdout)

    def test_deploy_events_in_order_and_signed(self):
        self.start()
        rec = Receiver(harness.free_port())
        rec.start()
        self.addCleanup(rec.stop)
        self.add_hook("tasks", rec.url + "/task/$TASK_ID", "TASK", SECRET)
        self.add_hook("deploys", rec.url + "/deploy/$REQUEST_ID/$DEPLOY_ID", "DEPLOY")
        self.add_hook("requests", rec.url + "/request/$REQUEST_ID", "REQUEST")
        # an invalid webhook written straight into etcd: reported, the others keep working
        self.cluster.etcdctl("put", PREFIX + "/webhooks/broken",
                             json.dumps({"id": "broken", "uri": "ftp://x", "type": "TASK"}))
        harness.wait_until(lambda: "uri" in (self.hook_status("broken").get("invalid") or ""),
                           20, "the invalid webhook reported in its status")
        self.assertIn("uri", self.summary("broken")["invalid"])
        self.service("web", 2)
        harness.wait_until(lambda: self.running("web", 2), 60, "2 tasks running")
        harness.wait_until(lambda: any(p.get("eventType") == "FINISHED"
                                       for _, _, p, _ in rec.events("DEPLOY")),
                           60, "the deploy's FINISHED event")
        harness.wait_until(lambda: sum(1 for _, _, p, _ in rec.events("TASK")
                                       if p["taskUpdate"]["taskState"] == "TASK_RUNNING") >= 2,
                           30, "both tasks' TASK_RUNNING events")
        self.assert_task_order(rec, 2)
        for h, path, p, body in rec.events("TASK"):
            want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            self.assertEqual(h.get("x-corral-signature"), want)
            self.assertEqual(path, "/task/" + p["taskUpdate"]["taskId"]["id"])
        deploys = rec.events("DEPLOY")
        self.assertEqual([p["eventType"] for _, _, p, _ in deploys], ["STARTING", "FINISHED"])
        self.assertEqual(deploys[1][2]["deployResult"]["deployState"], "SUCCEEDED")
        self.assertEqual(deploys[0][2]["deployMarker"]["deployId"], "v1")
        self.assertEqual(deploys[0][1], "/deploy/web/v1")
        self.assertNotIn("x-corral-signature", deploys[0][0])
        reqs = [p for _, _, p, _ in rec.events("REQUEST")]
        self.assertEqual(reqs[0]["eventType"], "CREATED")
        self.assertEqual(reqs[0]["request"]["id"], "web")
        # a request written straight into etcd (no history event): reported too,
        # and the API's change above only once (its history event)
        self.cluster.etcdctl("put", PREFIX + "/requests/direct",
                             json.dumps({"id": "direct", "requestType": "WORKER",
                                         "instances": 0}))
        harness.wait_until(lambda: any(p["request"].get("id") == "direct"
                                       for _, _, p, _ in rec.events("REQUEST")),
                           20, "the direct write's REQUEST event")
        direct = [p for _, _, p, _ in rec.events("REQUEST") if p["request"]["id"] == "direct"]
        self.assertEqual([p["eventType"] for p in direct], ["CREATED"])
        self.assertEqual(sum(1 for _, _, p, _ in rec.events("REQUEST")
                             if p["request"]["id"] == "web" and p["eventType"] == "CREATED"), 1)
        harness.wait_until(lambda: not self.queue("tasks"), 20, "the task queue drained")
        self.assertEqual(self.summary("tasks")["queueSize"], 0)
        self.assertEqual(self.summary("tasks")["dropped"], 0)
        self.assertFalse(self.queue("broken"))

    def test_receiver_down_then_up(self):
        self.start()
        rec = Receiver(harness.free_port())  # not listening yet: connections refused
        self.addCleanup(rec.stop)
        self.add_hook("tasks", rec.url + "/t", "TASK")
        self.service("down", 2)
        harness.wait_until(lambda: self.running("down", 2), 60, "2 tasks running")
        harness.wait_until(lambda: self.hook_status("tasks").get("failures", 0) >= 2, 30,
                           "failed attempts counted")
        st = self.hook_status("tasks")
        self.assertTrue(st.get("lastError"))
        self.assertGreater(st["nextAttemptAt"], st["lastFailureAt"])  # backing off
        queued = set(self.queue("tasks"))
        self.assertTrue(queued)
        # up, but answering 503: still failures, with the receiver's answer
        rec.fail_with = 503
        rec.start()
        harness.wait_until(lambda: "answered 503 busy" in
                           (self.hook_status("tasks").get("lastError") or ""), 60,
                           "the 503 recorded")
        self.assertEqual(rec.events(), [])
        self.assertLessEqual(len(self.hook_status("tasks")["lastError"]), 300)
        rec.fail_with = None
        harness.wait_until(lambda: not self.queue("tasks"), 90, "the queue drained")
        ids = rec.event_ids()
        for k in queued:
            self.assertIn(k.rsplit("/", 1)[1], ids, "queued event never delivered")
        self.assertEqual(len(ids), self.hook_status("tasks")["queued"])  # none lost
        self.assertEqual(self.hook_status("tasks")["failures"], 0)
        self.assert_task_order(rec, 2)
        metrics = harness.http("GET", self.api + "/metrics")[2].decode()

        def metric(name):
            m = re.search(r"^%s(?:\{[^}]*\})? (\d+)$" % name, metrics, re.M)
            self.assertIsNotNone(m, name)
            return int(m.group(1))
        self.assertGreaterEqual(metric("corral_webhook_deliveries_total"), len(ids))
        self.assertGreaterEqual(metric("corral_webhook_delivery_failures_total"), 3)
        self.assertEqual(metric("corral_webhook_events_dropped_total"), 0)
        self.assertEqual(metric("corral_webhook_deliveries_in_flight"), 0)

    def test_leader_killed_with_events_queued(self):
        c = self.start(replicas=2)
        harness.wait_until(lambda: any(is_leader(u) for u in self.apis), 30, "a leader")
        leader = next(u for u in self.apis if is_leader(u))
        standby = next(u for u in self.apis if u != leader)
        self.api = standby
        rec = Receiver(harness.free_port())  # down while the leader queues
        self.addCleanup(rec.stop)
        self.add_hook("tasks", rec.url + "/t", "TASK")
        self.service("fo", 2)
        harness.wait_until(lambda: self.running("fo", 2), 60, "2 tasks running")
        # every event of the tasks so far is queued once the cursor passed them
        last = max(json.loads(c.etcdctl("get", "%s/tasks/fo/" % PREFIX, "--prefix", "-w",
                                        "json"))["kvs"], key=lambda kv: kv["mod_revision"])
        harness.wait_until(lambda: self.hook_status("tasks").get("cursorRevision", 0)
                           >= int(last["mod_revision"]), 30, "events queued")
        queued = set(self.queue("tasks"))
        self.assertTrue(queued)
        proc = next(p for p in c.procs if getattr(p, "url", None) == leader)
        proc.signal(signal.SIGKILL)
        harness.wait_until(lambda: not proc.alive(), 10, "leader gone")
        harness.wait_until(lambda: is_leader(standby), 90, "the standby leads")
        rec.start()
        # a change after the failover: the new leader generates its events
        self.ok("PUT", "/api/requests/request/fo/scale", {"instances": 3})
        harness.wait_until(lambda: self.running("fo", 3), 60, "3 tasks running")
        harness.wait_until(lambda: sum(1 for _, _, p, _ in rec.events("TASK")
                                       if p["taskUpdate"]["taskState"] == "TASK_RUNNING") >= 3
                           and not self.queue("tasks"), 60, "every event delivered")
        ids = rec.event_ids()
        for k in queued:
            self.assertIn(k.rsplit("/", 1)[1], ids, "an event queued before the kill was lost")
        self.assert_task_order(rec, 3)

    def test_actor_with_auth(self):
        c = self.cluster
        c.etcd()
        c.mesoslite(agents=1, racks="r1", args=ML_ARGS)
        tokens = {"root": "tok-root-" + secrets.token_hex(16),
                  "dev": "tok-dev-" + secrets.token_hex(16)}
        path = os.path.join(c.tmpdir, "tokens")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("%s root admins\n%s devuser team-d\n" % (tokens["root"], tokens["dev"]))
        self.api = c.corrald(args=["--auth", "--auth-token-file", path])
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30,
                           "framework id stored")

        def call(who, method, p, body=None):
            st, _, raw = harness.http(method, self.api + p,
                                      json.dumps(body).encode() if body is not None else None,
                                      {"Content-Type": "application/json",
                                       "Authorization": "Bearer " + tokens[who]})
            self.assertLess(st, 300, "%s %s as %s: %d %s" % (method, p, who, st, raw))
            return json.loads(raw) if raw else None

        rec = Receiver(harness.free_port())
        rec.start()
        self.addCleanup(rec.stop)
        # The body's user is not the actor: the caller is.
        self.assertEqual(call("root", "POST", "/api/webhooks",
                              {"id": "deploys", "uri": rec.url + "/d", "type": "DEPLOY",
                               "user": "mallory"}), "CREATED")
        self.assertEqual([h["user"] for h in call("root", "GET", "/api/webhooks")], ["root"])
        self.assertEqual(c.etcd_get_json(PREFIX + "/webhooks/deploys")["user"], "root")
        # A deploy by devuser whose tasks would run as OS user "nobody"; it
        # cannot be placed (too big), and is cancelled.
        call("dev", "POST", "/api/requests", {"id": "act", "requestType": "WORKER",
                                              "instances": 1, "group": "team-d"})
        call("dev", "POST", "/api/deploys", {"deploy": {
            "requestId": "act", "id": "v1", "command": "exec sleep 600", "user": "nobody",
            "resources": {"cpus": 40, "memoryMb": 16}}})
        harness.wait_until(lambda: rec.events("DEPLOY"), 30, "the STARTING event")
        call("dev", "DELETE", "/api/deploys/deploy/v1/request/act")
        harness.wait_until(lambda: len(rec.events("DEPLOY")) >= 2, 60, "the FINISHED event")
        got = [p for _, _, p, _ in rec.events("DEPLOY")]
        self.assertEqual([p["eventType"] for p in got], ["STARTING", "FINISHED"])
        for p in got:
            self.assertEqual(p["deployMarker"]["user"], "devuser", p)
            self.assertEqual(p["deploy"]["user"], "nobody")  # the tasks' OS user stays there
        self.assertEqual(got[1]["deployResult"]["deployState"], "CANCELED")


if __name__ == "__main__":
    harness.main()
