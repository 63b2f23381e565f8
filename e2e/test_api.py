"""corrald's REST API against a real etcd: every endpoint's status codes,
response shape and effect in etcd, the bad-input cases, and Singularity's
documented request/deploy examples posted with curl.

Documents the bridge and controllers would write (tasks, pending tasks,
agents, statuses) are put straight into etcd with etcdctl, as any writer
could, so these tests need no Mesos.
"""
import json
import os
import signal
import subprocess
import threading
import urllib.request

import harness

ROOT = harness.ROOT
SEED_DEPLOY = os.path.join(ROOT, "test", "apiserver", "fixtures", "seed-deploy-object.json")


class ApiCase(harness.TestCase):
    """Starts etcd and one corrald per test. By default the replica is
    --api-only (never leads), so the documents a test writes in place of the
    controllers and the bridge stay as written."""

    corrald_args = ["--api-only"]

    def setUp(self):
        super().setUp()
        # unittest skips tearDown when setUp fails: stop what started anyway.
        self.addCleanup(self.cluster.close, True)
        self.cluster.etcd()
        self.api = self.cluster.corrald(args=self.corrald_args)
        harness.wait_until(lambda: self.call("GET", "/readyz")[0] == 200, 10, "readyz")

    def call(self, method, path, body=None, headers=None):
        status, hdrs, raw = harness.http(method, self.api + path, body, headers)
        self.last_headers = hdrs
        text = raw.decode()
        return status, (json.loads(text) if text.strip() else None)

    def ok(self, method, path, body=None, status=200):
        got, data = self.call(method, path, body)
        self.assertEqual(got, status, "%s %s -> %d %r" % (method, path, got, data))
        return data

    def err(self, method, path, body, status, needle=None):
        """Asserts an error answer with a JSON message and that nothing
        under the prefix changed."""
        before = self.cluster.etcd_prefix_json("/corral/")
        got, data = self.call(method, path, body)
        self.assertEqual(got, status, "%s %s -> %d %r" % (method, path, got, data))
        self.assertIsInstance(data, dict)
        self.assertIn("message", data)
        if needle:
            self.assertIn(needle, data["message"])
        after = self.cluster.etcd_prefix_json("/corral/")
        before.pop("/corral/leader", None)
        after.pop("/corral/leader", None)
        self.assertEqual(before, after, "an error answer changed etcd")
        return data

    def put(self, key, value):
        self.cluster.etcdctl("put", key, json.dumps(value))

    def get(self, key):
        return self.cluster.etcd_get_json(key)

    def wait_visible(self, path, pred, what):
        return harness.wait_until(lambda: pred(self.call("GET", path)), 10, what)


class TestProbesAndRouting(ApiCase):
    corrald_args = []

    def test_probes_metrics_and_routing(self):
        self.assertEqual(self.ok("GET", "/healthz")["status"], "ok")
        self.assertEqual(self.ok("GET", "/readyz")["status"], "ready")
        self.ok("GET", "/api/requests")
        st, hdrs, raw = harness.http("GET", self.api + "/metrics")
        self.assertEqual(st, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/plain"))
        text = raw.decode()
        for metric in ("corral_leader{", "corral_api_requests_total{op=\"REQ_LIST\",code=\"2xx\"} 1",
                       "corral_cache_revision ", "corral_requests", "# TYPE corral_tasks gauge"):
            self.assertIn(metric, text)
        # Unknown paths, wrong methods.
        self.err("GET", "/api/nope", None, 404, "no such path")
        self.err("GET", "/", None, 404)
        self.err("PUT", "/api/requests", {}, 405)
        self.assertEqual(self.last_headers["allow"], "GET, POST")
        self.err("PATCH", "/api/requests/request/x", {}, 405)
        self.err("GET", "/api/deploys", None, 405)
        # This single replica leads.
        harness.wait_until(lambda: leader_count([self.api]) == 1, 15, "leadership")


class TestRequests(ApiCase):
    def test_request_lifecycle(self):
        # Create: the stored document is the request, canonical.
        parent = self.ok("POST", "/api/requests",
                         {"id": "web", "requestType": "SERVICE", "instances": 2,
                          "owners": ["a@b.c"], "slavePlacement": "SEPARATE"})
        for field in ("request", "state", "requestDeployState", "taskIds"):
            self.assertIn(field, parent)
        self.assertEqual(parent["state"], "ACTIVE")
        self.assertEqual(sorted(parent["taskIds"]),
                         ["cleaning", "healthy", "killed", "loadBalanced", "notYetHealthy", "pending"])
        doc = self.get("/corral/requests/web")
        self.assertEqual(doc["instances"], 2)
        self.assertEqual(doc["agentPlacement"], "SEPARATE")
        self.assertNotIn("slavePlacement", doc)
        # Read-your-writes: the next GET sees it.
        self.assertEqual(self.ok("GET", "/api/requests/request/web")["request"]["id"], "web")
        self.assertEqual([p["request"]["id"] for p in self.ok("GET", "/api/requests")], ["web"])
        self.assertEqual(len(self.ok("GET", "/api/requests/active")), 1)
        # Update.
        self.ok("POST", "/api/requests", {"id": "web", "requestType": "WORKER", "instances": 3})
        self.assertEqual(self.get("/corral/requests/web")["requestType"], "WORKER")
        self.err("POST", "/api/requests", {"id": "web", "requestType": "ON_DEMAND"}, 400,
                 "requestType can not change")

        # Scale edits instances; an expiring scale records an intent.
        p = self.ok("PUT", "/api/requests/request/web/scale", {"instances": 5, "message": "more"})
        self.assertEqual(p["request"]["instances"], 5)
        self.assertEqual(self.get("/corral/requests/web")["instances"], 5)
        self.ok("PUT", "/api/requests/request/web/scale", {"instances": 4, "durationMillis": 60000})
        self.assertEqual(self.get("/corral/intents/requests/web/scale")["previousInstances"], 5)
        self.assertIn("expiringScale", self.ok("GET", "/api/requests/request/web"))
        self.ok("DELETE", "/api/requests/request/web/scale")
        self.assertIsNone(self.get("/corral/intents/requests/web/scale"))
        self.err("DELETE", "/api/requests/request/web/scale", None, 404)
        self.ok("PUT", "/api/requests/request/web/scale", {"instances": 20})
        self.err("PUT", "/api/requests/request/web/scale", {"instances": 2}, 400,
                 "largeScaleDownAcknowledged")
        self.ok("PUT", "/api/requests/request/web/scale?largeScaleDownAcknowledged=true",
                {"instances": 2})

        # Skip health checks edits the request.
        self.ok("PUT", "/api/requests/request/web/skip-healthchecks", {"skipHealthchecks": True})
        self.assertTrue(self.get("/corral/requests/web")["skipHealthchecks"])
        self.ok("PUT", "/api/requests/request/web/skipHealthchecks", {"skipHealthchecks": False})
        self.assertFalse(self.get("/corral/requests/web")["skipHealthchecks"])

        # Pause / unpause.
        p = self.ok("POST", "/api/requests/request/web/pause", {"killTasks": False, "message": "m"})
        self.assertEqual(p["state"], "PAUSED")
        intent = self.get("/corral/intents/requests/web/pause")
        self.assertFalse(intent["killTasks"])
        self.assertEqual(intent["message"], "m")
        self.err("POST", "/api/requests/request/web/pause", None, 409, "paused")
        self.assertEqual(len(self.ok("GET", "/api/requests/paused")), 1)
        cleanup = self.ok("GET", "/api/requests/queued/cleanup")
        self.assertEqual(cleanup[0]["cleanupType"], "PAUSING")
        self.err("POST", "/api/requests/request/web/bounce", None, 409, "paused")
        self.assertEqual(self.ok("POST", "/api/requests/request/web/unpause")["state"], "ACTIVE")
        self.assertIsNone(self.get("/corral/intents/requests/web/pause"))
        self.err("POST", "/api/requests/request/web/unpause", None, 409)

        # Bounce records a token; exit-cooldown needs a cooldown.
        self.ok("POST", "/api/requests/request/web/bounce", {"incremental": True})
        self.assertTrue(self.get("/corral/intents/requests/web/bounce")["incremental"])
        self.assertIn("BOUNCE", [p["pendingType"] for p in self.ok("GET", "/api/requests/queued/pending")])
        self.err("POST", "/api/requests/request/web/bounce", None, 409, "already bouncing")
        self.err("DELETE", "/api/requests/request/web/bounce", None, 404, "expiring")
        self.err("POST", "/api/requests/request/web/exit-cooldown", None, 409, "SYSTEM_COOLDOWN")
        self.put("/corral/status/requests/web", {"requestId": "web", "state": "SYSTEM_COOLDOWN"})
        self.wait_visible("/api/requests/cooldown", lambda r: len(r[1]) == 1, "cooldown list")
        self.ok("POST", "/api/requests/request/web/exit-cooldown", {"message": "ok now"})
        self.assertEqual(self.get("/corral/intents/requests/web/exit-cooldown")["message"], "ok now")

        # History of the request, newest first.
        events = [e["eventType"] for e in self.ok("GET", "/api/history/request/web/requests")]
        self.assertEqual(events[0], "EXITED_COOLDOWN")
        self.assertEqual(events[-1], "CREATED")
        self.assertIn("PAUSED", events)
        self.assertEqual(len(self.ok("GET", "/api/history/request/web/requests?count=2&page=1")), 2)

        # Delete.
        gone = self.ok("DELETE", "/api/requests/request/web", {"message": "bye"})
        self.assertEqual(gone["id"], "web")
        self.assertIsNone(self.get("/corral/requests/web"))
        self.assertEqual(self.cluster.etcd_prefix_json("/corral/intents/requests/web/"), {})
        self.err("GET", "/api/requests/request/web", None, 404)
        self.err("DELETE", "/api/requests/request/web", None, 404)

    def test_run_now(self):
        self.ok("POST", "/api/requests", {"id": "job", "requestType": "ON_DEMAND", "instances": 2})
        self.ok("POST", "/api/requests", {"id": "svc", "requestType": "SERVICE"})
        p = self.ok("POST", "/api/requests/request/job/run",
                    {"runId": "r1", "commandLineArgs": ["--fast"], "envOverrides": {"A": "1"},
                     "message": "go"})
        self.assertEqual(p["pendingRequest"]["pendingType"], "ONEOFF")
        run = self.get("/corral/runs/job/r1")
        self.assertEqual(run["commandLineArgs"], ["--fast"])
        self.assertEqual(run["requestId"], "job")
        p = self.ok("POST", "/api/requests/request/job/run")
        self.assertEqual(len(self.cluster.etcd_prefix_json("/corral/runs/job/")), 2)
        self.assertEqual(len(self.ok("GET", "/api/requests/queued/pending")), 2)
        self.err("POST", "/api/requests/request/job/run", {"runId": "r1"}, 409)
        self.err("POST", "/api/requests/request/svc/run", None, 400, "Can not request")
        self.err("GET", "/api/requests/request/job/run/r1", None, 404)
        # Once a task of the run exists, the run resolves to its task id.
        tid = "job-d1-1000-1-h1-r1"
        self.put("/corral/tasks/job/" + tid, {"taskId": {"id": tid, "requestId": "job"},
                                              "pendingTask": {"runId": "r1"},
                                              "lastTaskState": "TASK_RUNNING"})
        self.wait_visible("/api/requests/request/job/run/r1", lambda r: r[0] == 200, "run task")
        self.assertEqual(self.ok("GET", "/api/requests/request/job/run/r1")["id"], tid)


class TestBadInput(ApiCase):
    corrald_args = ["--api-only", "--max-body-bytes", "2048"]

    def test_bad_input_writes_nothing(self):
        self.ok("POST", "/api/requests", {"id": "web", "requestType": "SERVICE"})
        self.err("POST", "/api/requests", '{"id": "x",', 400, "malformed JSON")
        self.err("POST", "/api/requests", "[]", 400, "JSON object")
        self.err("POST", "/api/requests", "", 400, "required")
        self.err("POST", "/api/requests", {"id": "x", "instances": "2"}, 400, "instances")
        # unknown fields: refused when strict decoding is asked for (lenient
        # bodies are test_singularity_client.py's)
        self.err("POST", "/api/requests?strict=true", {"id": "x", "bogus": True}, 400, "bogus")
        self.err("POST", "/api/requests", {"id": "bad id"}, 400, "id")
        self.err("POST", "/api/requests", {"id": "x" * 101}, 400, "id")
        self.err("POST", "/api/requests", {"id": "x", "requestType": "DAEMON"}, 400, "requestType")
        self.err("POST", "/api/requests", {"id": "x", "instances": 26}, 400, "instances")
        # Oversized body (limit 2048 bytes): a JSON 413, nothing written.
        big = {"id": "big", "owners": ["o%d@example.com" % i for i in range(200)]}
        data = self.err("POST", "/api/requests", big, 413, "too large")
        self.assertEqual(data["status"], 413)
        self.err("PUT", "/api/requests/request/web/scale", {"instances": "3"}, 400, "integer")
        self.err("PUT", "/api/requests/request/web/scale?strict=true",
                 {"instances": 3, "extra": 1}, 400, "unknown field 'extra'")
        self.err("PUT", "/api/requests/request/web/scale", {}, 400, "required")
        self.err("PUT", "/api/requests/request/w%20b/scale", {"instances": 1}, 400,
                 "invalid request id")
        self.err("POST", "/api/requests/request/web/pause", {"killTasks": "yes"}, 400, "boolean")
        self.err("POST", "/api/requests/request/web/bounce", '{"incremental": tru}', 400,
                 "malformed JSON")
        self.err("DELETE", "/api/tasks/task/web-v1-1-1-h-r", {"override": "x"}, 400)
        self.err("POST", "/api/deploys", {"deploy": "x"}, 400)
        self.err("POST", "/api/deploys", {"deploy": {"requestId": "web", "id": "a-b",
                                                     "command": "x"}}, 400, "id")
        self.err("GET", "/api/history/tasks?count=5000", None, 400, "count")
        self.err("GET", "/api/history/tasks?lastTaskStatus=NOPE", None, 400, "lastTaskStatus")
        self.err("GET", "/api/watch?revision=abc", None, 400, "revision")


class TestDeploys(ApiCase):
    def test_singularity_examples_with_curl(self):
        # The request object of the Singularity presentation (slide 16) and
        # the deploy object of slides 18-19, posted verbatim with curl.
        request = ('{ "id": "TestService", "owners": [ "feature_x_team@mycompany.com", '
                   '"developer@mycompany.com" ], "daemon": true, "instances": 3, '
                   '"rackSensitive": true, "loadBalanced": true }')
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                              "-X", "POST", "-H", "Content-Type: application/json",
                              "--data-binary", request, self.api + "/api/requests"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.stdout, "200")
        self.assertEqual(self.get("/corral/requests/TestService")["requestType"], "SERVICE")
        # The deploy object names request MDS_TestService (not load balanced).
        self.ok("POST", "/api/requests", {"id": "MDS_TestService", "owners": ["a@b.c"],
                                          "daemon": True, "instances": 2})
        with open(SEED_DEPLOY) as f:
            deploy = f.read()
        body = '{"deploy": %s, "message": "from the slides"}' % deploy
        out = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", "-X", "POST",
                              "-H", "Content-Type: application/json", "--data-binary", body,
                              self.api + "/api/deploys"], capture_output=True, text=True,
                             timeout=30)
        text, code = out.stdout.rsplit("\n", 1)
        self.assertEqual(code, "200", text)
        parent = json.loads(text)
        self.assertEqual(parent["pendingDeploy"]["id"], "71_7")
        stored = self.get("/corral/deploys/MDS_TestService/71_7")
        self.assertEqual(stored["executorData"]["s3Artifacts"][0]["filesize"], 81055833)
        self.assertEqual(stored["resources"]["numPorts"], 3)
        self.assertEqual(self.get("/corral/intents/deploys/MDS_TestService/71_7/submit")["message"],
                         "from the slides")

    def test_singularity_docs_example_with_curl(self):
        # Singularity's Docs/about/requests-and-deploys.md example (its
        # request has a trailing comma, which Singularity's JSON parser
        # rejects too; it is dropped here), posted with curl.
        request = ('{ "id": "TestService", "requestType": "SERVICE", '
                   '"owners": ["me@test.com"], "instances": 1 }')
        deploy = """{
  "deploy": {
    "requestId":"TestService",
    "id":"5",
    "resources": { "cpus":1, "memoryMb":128, "diskMb": 1024, "numPorts":2 },
    "command":"java -Ddw.server.applicationConnectors[0].port=$PORT0 -Ddw.server.adminConnectors[0].port=$PORT1 -jar singularitytest-1.0-SNAPSHOT.jar server example.yml",
    "uris": [
        "https://github.com/HubSpot/singularity-test-service/releases/download/1.0/singularitytest-1.0-SNAPSHOT.jar",
        "https://github.com/HubSpot/singularity-test-service/releases/download/1.0/example.yml"
    ],
    "healthcheck": { "uri": "/" }
  }
}"""
        for path, body in (("/api/requests", request), ("/api/deploys", deploy)):
            out = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", "-X", "POST",
                                  "-H", "Content-Type: application/json", "--data-binary", body,
                                  self.api + path], capture_output=True, text=True, timeout=30)
            text, code = out.stdout.rsplit("\n", 1)
            self.assertEqual(code, "200", "%s: %s" % (path, text))
        d = self.get("/corral/deploys/TestService/5")
        self.assertEqual(d["healthcheck"]["uri"], "/")
        self.assertEqual(d["resources"]["numPorts"], 2)
        # Scaling as the same document describes.
        self.ok("PUT", "/api/requests/request/TestService/scale", {"instances": 3})
        self.assertEqual(self.get("/corral/requests/TestService")["instances"], 3)

    def test_deploy_rules(self):
        self.ok("POST", "/api/requests", {"id": "web", "requestType": "SERVICE", "instances": 2})
        self.err("POST", "/api/deploys", {"deploy": {"requestId": "nope", "id": "v1", "command": "x"}},
                 404, "nope")
        self.err("POST", "/api/deploys", {"deploy": {"requestId": "web", "id": "v1",
                                                     "command": "x", "resources": {"cpus": 0}}},
                 400, "cpus")
        p = self.ok("POST", "/api/deploys", {"deploy": {"requestId": "web", "id": "v1",
                                                        "command": "sleep 100"}})
        self.assertEqual(p["pendingDeployState"]["currentDeployState"], "WAITING")
        self.assertEqual(p["requestDeployState"]["pendingDeploy"]["deployId"], "v1")
        self.assertIsNotNone(self.get("/corral/deploys/web/v1"))
        self.err("POST", "/api/deploys", {"deploy": {"requestId": "web", "id": "v2", "command": "x"}},
                 409, "Pending deploy already in progress")
        pending = self.ok("GET", "/api/deploys/pending")
        self.assertEqual([d["deployMarker"]["deployId"] for d in pending], ["v1"])
        # Update the pending deploy's target, then cancel it.
        self.err("POST", "/api/deploys/update", {"requestId": "web", "deployId": "v1",
                                                 "targetActiveInstances": 9}, 400)
        p = self.ok("POST", "/api/deploys/update", {"requestId": "web", "deployId": "v1",
                                                    "targetActiveInstances": 1})
        self.assertEqual(p["pendingDeployState"]["deployProgress"]["targetActiveInstances"], 1)
        self.assertEqual(self.get("/corral/intents/deploys/web/v1/update")["targetActiveInstances"], 1)
        self.err("DELETE", "/api/deploys/deploy/v9/request/web", None, 400, "pending deploy")
        self.ok("DELETE", "/api/deploys/deploy/v1/request/web")
        self.assertIsNotNone(self.get("/corral/intents/deploys/web/v1/cancel"))
        self.assertEqual(self.ok("GET", "/api/deploys/pending"), [])
        # Deploy ids are never reused.
        self.err("POST", "/api/deploys", {"deploy": {"requestId": "web", "id": "v1", "command": "x"}},
                 400, "already been deployed")
        # A finished deploy (per the leader's status) no longer blocks.
        self.ok("POST", "/api/deploys", {"deploy": {"requestId": "web", "id": "v2", "command": "x"}})
        self.put("/corral/status/deploys/web/v2", {"requestId": "web", "deployId": "v2",
                                                   "state": "SUCCEEDED"})
        self.put("/corral/status/requests/web", {"requestId": "web", "state": "ACTIVE",
                                                 "activeDeployId": "v2"})
        self.wait_visible("/api/requests/request/web",
                          lambda r: r[1]["requestDeployState"]["activeDeploy"] is not None,
                          "active deploy")
        hist = self.ok("GET", "/api/history/request/web/deploys")
        self.assertEqual(hist[0]["deployMarker"]["deployId"], "v2")
        self.assertEqual(hist[0]["deployResult"]["deployState"], "SUCCEEDED")
        self.assertEqual(self.ok("GET", "/api/history/request/web/deploy/v2")["deploy"]["command"], "x")
        self.err("GET", "/api/history/request/web/deploy/v7", None, 404)
        # Paused requests refuse deploys unless unpauseOnSuccessfulDeploy.
        self.ok("POST", "/api/requests/request/web/pause")
        self.err("POST", "/api/deploys", {"deploy": {"requestId": "web", "id": "v3", "command": "x"}},
                 409, "paused")
        self.ok("POST", "/api/deploys", {"deploy": {"requestId": "web", "id": "v3", "command": "x"},
                                         "unpauseOnSuccessfulDeploy": True})


def leader_count(urls):
    n = 0
    for u in urls:
        text = harness.http("GET", u + "/metrics")[2].decode()
        n += sum(1 for l in text.splitlines() if l.startswith("corral_leader{") and l.endswith(" 1"))
    return n


def task_doc(tid, rid, state, agent="a1", host="h1", started=1000, updated=5000, **extra):
    parts = tid.split("-")
    d = {"taskId": {"id": tid, "requestId": rid, "deployId": parts[-5], "startedAt": started,
                    "instanceNo": int(parts[-3]), "host": host, "rackId": parts[-1]},
         "agentId": agent, "hostname": host, "lastTaskState": state, "updatedAt": updated,
         "taskUpdates": [{"taskState": state, "timestamp": updated}]}
    d.update(extra)
    return d


class TestTasksAndHistory(ApiCase):
    def seed(self):
        self.ok("POST", "/api/requests", {"id": "web", "requestType": "SERVICE", "instances": 2})
        self.ok("POST", "/api/requests", {"id": "job", "requestType": "ON_DEMAND"})
        self.put("/corral/deploys/web/v1", {"requestId": "web", "id": "v1", "command": "sleep 9"})
        self.t1, self.t2 = "web-v1-1000-1-h1-r1", "web-v1-1001-2-h2-r2"
        self.put("/corral/tasks/web/" + self.t1, task_doc(self.t1, "web", "TASK_RUNNING", healthy=True))
        self.put("/corral/tasks/web/" + self.t2, task_doc(self.t2, "web", "TASK_STARTING",
                                                          agent="a2", host="h2", started=1001))
        self.old = "web-v1-900-1-h1-r1"
        self.put("/corral/history/tasks/web/" + self.old,
                 task_doc(self.old, "web", "TASK_FAILED", started=900, updated=950))
        self.pt = "job-j1-3000-1-ONEOFF-2999"
        self.put("/corral/pending/job/" + self.pt, {
            "pendingTaskId": {"id": self.pt, "requestId": "job", "deployId": "j1",
                              "nextRunAt": 3000, "instanceNo": 1, "pendingType": "ONEOFF",
                              "createdAt": 2999}, "runId": "r1"})
        self.wait_visible("/api/tasks/scheduled", lambda r: len(r[1]) == 1, "seeded documents")

    def test_task_endpoints(self):
        self.seed()
        active = self.ok("GET", "/api/tasks/active")
        self.assertEqual(len(active), 2)
        self.assertEqual(active[0]["taskRequest"]["request"]["id"], "web")
        self.assertEqual(active[0]["taskRequest"]["deploy"]["id"], "v1")
        self.assertEqual([t["id"] for t in self.ok("GET", "/api/tasks/active/ids")], [self.t1, self.t2])
        self.assertEqual(len(self.ok("GET", "/api/tasks/active/agent/a2")), 1)
        self.assertEqual(len(self.ok("GET", "/api/tasks/active/slave/a2/ids")), 1)
        ids = self.ok("GET", "/api/tasks/ids/request/web")
        self.assertEqual([t["id"] for t in ids["healthy"]], [self.t1])
        self.assertEqual([t["id"] for t in ids["notYetHealthy"]], [self.t2])
        self.err("GET", "/api/tasks/ids/request/nope", None, 404)
        self.assertEqual(self.ok("GET", "/api/tasks/task/" + self.t1)["lastTaskState"], "TASK_RUNNING")
        self.err("GET", "/api/tasks/task/" + self.old, None, 404, "No active task")
        sched = self.ok("GET", "/api/tasks/scheduled")
        self.assertEqual(sched[0]["pendingTask"]["pendingTaskId"]["id"], self.pt)
        self.assertEqual(sched[0]["request"]["id"], "job")
        self.assertEqual(self.ok("GET", "/api/tasks/scheduled/ids")[0]["id"], self.pt)
        self.assertEqual(len(self.ok("GET", "/api/tasks/scheduled/request/job")), 1)
        self.assertEqual(len(self.ok("GET", "/api/tasks/scheduled/request/web")), 0)
        self.ok("GET", "/api/tasks/scheduled/task/" + self.pt)
        self.err("GET", "/api/tasks/scheduled/task/nope", None, 404)
        self.assertEqual(self.ok("GET", "/api/tasks/cleaning"), [])

        # Kill: a cleanup document, with the kill policy override.
        cl = self.ok("DELETE", "/api/tasks/task/" + self.t1,
                     {"message": "stuck", "killGracePeriodMillis": 0})
        self.assertEqual(cl["cleanupType"], "USER_REQUESTED")
        stored = self.get("/corral/cleanups/" + self.t1)
        self.assertEqual(stored["taskId"]["id"], self.t1)
        self.assertEqual(stored["killGracePeriodMillis"], 0)
        self.assertEqual(stored["message"], "stuck")
        self.assertEqual(len(self.ok("GET", "/api/tasks/cleaning")), 1)
        self.ok("DELETE", "/api/tasks/task/" + self.t1, {"override": True})
        self.assertEqual(self.get("/corral/cleanups/" + self.t1)["cleanupType"], "USER_REQUESTED_DESTROY")
        self.ok("DELETE", "/api/tasks/task/" + self.t2, {"waitForReplacementTask": True})
        self.assertEqual(self.get("/corral/cleanups/" + self.t2)["cleanupType"],
                         "USER_REQUESTED_TASK_BOUNCE")
        self.assertEqual(len(self.ok("GET", "/api/tasks/ids/request/web")["cleaning"]), 2)
        self.err("DELETE", "/api/tasks/task/" + self.old, None, 404)
        # Deleting a scheduled task removes its pending document.
        self.ok("DELETE", "/api/tasks/scheduled/task/" + self.pt)
        self.assertIsNone(self.get("/corral/pending/job/" + self.pt))

    def test_history_endpoints(self):
        self.seed()
        h = self.ok("GET", "/api/history/task/" + self.old)
        self.assertEqual(h["task"]["lastTaskState"], "TASK_FAILED")
        self.assertEqual(h["taskUpdates"][0]["taskId"]["id"], self.old)
        self.assertEqual(self.ok("GET", "/api/history/task/" + self.t1)["task"]["taskId"]["id"], self.t1)
        self.err("GET", "/api/history/task/web-v9-1-1-h-r", None, 404)
        tasks = self.ok("GET", "/api/history/request/web/tasks")
        self.assertEqual([t["taskId"]["id"] for t in tasks], [self.old])
        self.assertEqual(tasks[0]["lastTaskState"], "TASK_FAILED")
        self.assertEqual(len(self.ok("GET", "/api/history/request/web/tasks/active")), 2)
        self.assertEqual(self.ok("GET", "/api/history/request/web/tasks?count=1&page=2"), [])
        found = self.ok("GET", "/api/history/tasks?requestId=web&lastTaskStatus=TASK_FAILED")
        self.assertEqual([t["taskId"]["id"] for t in found], [self.old])
        found = self.ok("GET", "/api/history/tasks?host=h2")
        self.assertEqual([t["taskId"]["id"] for t in found], [self.t2])
        found = self.ok("GET", "/api/history/tasks?startedAfter=950&orderDirection=ASC")
        self.assertEqual([t["taskId"]["id"] for t in found], [self.t1, self.t2])
        self.assertEqual(len(self.ok("GET", "/api/history/tasks?count=1")), 1)


class TestStateAgentsRacks(ApiCase):
    STATE_FIELDS = """activeTasks launchingTasks activeRequests allRequests cooldownRequests
        pausedRequests finishedRequests scheduledTasks pendingRequests cleaningRequests
        cleaningTasks lbCleanupTasks lbCleanupRequests activeAgents deadAgents
        decommissioningAgents unknownAgents activeSlaves deadSlaves decommissioningSlaves
        decomissioningSlaves unknownSlaves activeRacks deadRacks decommissioningRacks
        decomissioningRacks unknownRacks hostStates oldestDeploy numDeploys oldestDeployStep
        activeDeploys lateTasks listLateTasks onDemandLateTasks onDemandListLateTasks
        futureTasks maxTaskLag generatedAt overProvisionedRequestIds underProvisionedRequestIds
        overProvisionedRequests underProvisionedRequests authDatastoreHealthy
        minimumPriorityLevel avgStatusUpdateDelayMs lastHeartbeatAt fireAlarm""".split()

    def test_state(self):
        self.assertEqual(len(self.STATE_FIELDS), 48)
        self.ok("POST", "/api/requests", {"id": "web", "requestType": "SERVICE", "instances": 2})
        self.ok("POST", "/api/requests", {"id": "p", "requestType": "WORKER"})
        self.ok("POST", "/api/requests/request/p/pause")
        self.put("/corral/agents/a1", {"id": "a1", "hostname": "h1"})
        self.put("/corral/agents/a2", {"id": "a2", "hostname": "h2", "currentState": {"state": "DEAD"}})
        self.put("/corral/racks/r1", {"id": "r1"})
        self.put("/corral/tasks/web/web-v1-1-1-h1-r1", task_doc("web-v1-1-1-h1-r1", "web", "TASK_RUNNING"))
        self.put("/corral/status/requests/web", {"requestId": "web", "state": "ACTIVE",
                                                 "activeDeployId": "v1"})
        self.wait_visible("/api/state", lambda r: r[1]["activeTasks"] == 1 and r[1]["activeRacks"] == 1
                          and r[1]["underProvisionedRequests"] == 1, "seeded state")
        st = self.ok("GET", "/api/state?includeRequestIds=true")
        self.assertEqual(sorted(st), sorted(self.STATE_FIELDS))
        self.assertEqual(st["allRequests"], 2)
        self.assertEqual(st["activeRequests"], 1)
        self.assertEqual(st["pausedRequests"], 1)
        self.assertEqual(st["activeSlaves"], 1)
        self.assertEqual(st["activeAgents"], 1)
        self.assertEqual(st["deadSlaves"], 1)
        self.assertEqual(st["underProvisionedRequestIds"], ["web"])
        self.assertEqual(st["underProvisionedRequests"], 1)
        self.assertEqual(len(st["hostStates"]), 1)
        self.assertIn("master", st["hostStates"][0])
        st = self.ok("GET", "/api/state")
        self.assertIsNone(st["underProvisionedRequestIds"])

    def test_agents_and_racks(self):
        self.put("/corral/agents/a1", {"id": "a1", "hostname": "h1", "rackId": "r1"})
        self.put("/corral/agents/a2", {"id": "a2", "hostname": "h2", "rackId": "r1"})
        self.put("/corral/racks/r1", {"id": "r1"})
        self.wait_visible("/api/agents", lambda r: len(r[1]) == 2, "agents")
        agents = self.ok("GET", "/api/agents")
        self.assertEqual(agents[0]["currentState"]["state"], "ACTIVE")
        self.assertEqual(self.ok("GET", "/api/slaves"), agents)
        self.ok("POST", "/api/agents/agent/a1/decommission", {"message": "disk"}, status=204)
        self.assertEqual(self.get("/corral/intents/agents/a1")["state"], "STARTING_DECOMMISSION")
        self.assertEqual(self.ok("GET", "/api/agents/agent/a1")[0]["state"], "STARTING_DECOMMISSION")
        self.assertEqual(len(self.ok("GET", "/api/agents?state=STARTING_DECOMMISSION")), 1)
        self.err("POST", "/api/agents/agent/a1/decommission", None, 409, "already")
        self.err("POST", "/api/agents/agent/a1/freeze", None, 409)
        self.ok("POST", "/api/slaves/slave/a1/activate", status=204)
        self.assertEqual(self.get("/corral/intents/agents/a1")["state"], "ACTIVE")
        self.ok("POST", "/api/agents/agent/a2/freeze", status=204)
        self.assertEqual(self.get("/corral/intents/agents/a2")["state"], "FROZEN")
        self.err("POST", "/api/agents/agent/zz/freeze", None, 404)
        self.err("GET", "/api/agents?state=NAPPING", None, 400)
        self.assertEqual(self.ok("GET", "/api/racks")[0]["id"], "r1")
        self.ok("GET", "/api/racks/rack/r1")
        self.ok("POST", "/api/racks/rack/r1/decommission", {"durationMillis": 60000}, status=204)
        self.assertEqual(self.get("/corral/intents/racks/r1")["durationMillis"], 60000)
        self.ok("POST", "/api/racks/rack/r1/activate", status=204)
        self.ok("POST", "/api/racks/rack/r1/freeze", status=204)
        self.err("GET", "/api/racks/rack/r9", None, 404)


class TestWatch(ApiCase):
    def test_watch_streams_server_sent_events(self):
        rev = self.ok("GET", "/readyz")["revision"]
        events, done = [], threading.Event()

        def reader():
            req = urllib.request.Request(self.api + "/api/watch?prefix=requests/&revision=%d" % (rev + 1))
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(req, timeout=15) as r:
                assert r.headers["Content-Type"] == "text/event-stream"
                block = {}
                for raw in r:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("data: "):
                        block["data"] = json.loads(line[6:])
                    elif line.startswith("event: "):
                        block["event"] = line[7:]
                    elif line == "" and block:
                        events.append(block)
                        block = {}
                        if len(events) >= 2:
                            break
            done.set()

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        self.ok("POST", "/api/requests", {"id": "w1", "requestType": "WORKER"})
        self.ok("DELETE", "/api/requests/request/w1")
        self.assertTrue(done.wait(15), "watch events did not arrive: %r" % events)
        self.assertEqual(events[0]["event"], "put")
        self.assertEqual(events[0]["data"]["key"], "/corral/requests/w1")
        self.assertEqual(events[0]["data"]["value"]["id"], "w1")
        self.assertEqual(events[1]["event"], "delete")
        self.assertEqual(events[1]["data"]["type"], "DELETE")


class TestDaemon(harness.TestCase):
    def test_help_config_and_sigterm(self):
        out = subprocess.run([os.path.join(harness.BIN, "corrald"), "--help"],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0)
        for flag in ("--listen", "--etcd-endpoints", "--mesos-master", "--prefix", "--config",
                     "--replica-id", "--log-level", "--max-body-bytes", "--etcd-ca-file"):
            self.assertIn(flag, out.stdout)
        bad = os.path.join(self.cluster.tmpdir, "bad.yaml")
        with open(bad, "w") as f:
            f.write("listen: 127.0.0.1:1\nlisen: x\n")
        out = subprocess.run([os.path.join(harness.BIN, "corrald"), "--config", bad],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 2)
        self.assertIn("bad.yaml:2: unknown setting 'lisen'", out.stderr)
        out = subprocess.run([os.path.join(harness.BIN, "corrald"), "--log-level", "loud"],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 2)

        # A config file with every connection setting; flags still win.
        etcd = self.cluster.etcd()
        port = harness.free_port()
        conf = os.path.join(self.cluster.tmpdir, "corrald.yaml")
        with open(conf, "w") as f:
            f.write("# corrald settings\nlisten: 127.0.0.1:1\netcd-endpoints: %s\n"
                    "prefix: /other\nreplica-id: r-one\n" % etcd)
        p = self.cluster.spawn("corrald", [os.path.join(harness.BIN, "corrald"), "--config", conf,
                                           "--listen", "127.0.0.1:%d" % port])
        url = "http://127.0.0.1:%d" % port
        harness.wait_until(lambda: harness.http("GET", url + "/readyz")[0] == 200, 15, "corrald")
        self.assertEqual(harness.http("POST", url + "/api/requests",
                                      {"id": "x", "requestType": "WORKER"})[0], 200)
        self.assertIsNotNone(self.cluster.etcd_get_json("/other/requests/x"))
        st = json.loads(harness.http("GET", url + "/api/state")[2])
        self.assertEqual(st["hostStates"][0]["replicaId"], "r-one")
        # Clean exit on SIGTERM.
        p.signal(signal.SIGTERM)
        self.assertEqual(p.popen.wait(10), 0)
        self.assertIn("shutting down", p.log())


class TestReplicas(harness.TestCase):
    def test_two_replicas_share_one_etcd(self):
        self.cluster.etcd()
        a = self.cluster.corrald(name="corrald-a")
        b = self.cluster.corrald(name="corrald-b")
        self.assertEqual(harness.http("POST", a + "/api/requests",
                                      {"id": "shared", "requestType": "WORKER"})[0], 200)
        # The other replica's cache follows etcd.
        harness.wait_until(lambda: harness.http("GET", b + "/api/requests/request/shared")[0] == 200,
                           10, "replica b sees the request")
        st, _, _ = harness.http("PUT", b + "/api/requests/request/shared/scale", {"instances": 3})
        self.assertEqual(st, 200)
        harness.wait_until(lambda: json.loads(harness.http("GET", a + "/api/requests/request/shared")[2])
                           ["request"]["instances"] == 3, 10, "replica a sees the scale")

        harness.wait_until(lambda: leader_count([a, b]) == 1, 15, "exactly one leader")

    def test_concurrent_writes_conflict_cleanly(self):
        """Concurrent scales of one request through two replicas: each answer
        is 200 or 409 (compare-and-swap on the request's mod_revision), or 400
        for a scale to the count the request already has (as Singularity), and
        etcd ends with the count of one of the calls that succeeded."""
        self.cluster.etcd()
        a = self.cluster.corrald(args=["--api-only"], name="corrald-a")
        b = self.cluster.corrald(args=["--api-only"], name="corrald-b")
        self.assertEqual(harness.http("POST", a + "/api/requests",
                                      {"id": "hot", "requestType": "WORKER"})[0], 200)
        harness.wait_until(lambda: harness.http("GET", b + "/api/requests/request/hot")[0] == 200,
                           10, "replica b sees the request")
        results = []

        def scale(i):
            url = (a, b)[i % 2] + "/api/requests/request/hot/scale?largeScaleDownAcknowledged=true"
            st, _, raw = harness.http("PUT", url, {"instances": 1 + i % 20})
            results.append((st, 1 + i % 20, raw))
        threads = [threading.Thread(target=scale, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        codes = sorted(set(st for st, _, _ in results))
        self.assertTrue(set(codes) <= {200, 400, 409}, results)
        for st, _, raw in results:
            if st == 409:
                self.assertIn("conflict", json.loads(raw)["message"])
            if st == 400:
                self.assertIn("nothing to change", json.loads(raw)["message"])
        won = [n for st, n, _ in results if st == 200]
        self.assertTrue(won)
        self.assertIn(self.cluster.etcd_get_json("/corral/requests/hot")["instances"], won)


if __name__ == "__main__":
    harness.main()
