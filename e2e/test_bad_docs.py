"""Issue 21, through the real binaries (etcd, mesoslite, corrald, corralctl):

1. a garbage value at an intent key (written straight into etcd, at the
   keys apis/keys.h gives) asks for nothing: the request keeps its tasks,
   the API and the controllers agree it is ACTIVE, and its status names the
   key and why (DocumentsValid=False); every intent kind is checked;
2. deploy ids "." and ".." (and any id the rules refuse) are refused by the
   API, corralctl and manifest validation, and a document written straight
   into etcd under such an id is reported, never launched;
3. a document whose body names another object than its key (a request under
   requests/mis whose "id" is "other") is reported invalid, in its status
   and through the API."""
import json
import os
import random

import harness

PREFIX = "/corral"


class BadDocuments(harness.TestCase):
    def start(self, tasks=True):
        c = self.cluster
        c.etcd()
        if tasks:
            base = harness.free_port_range(100)
            c.mesoslite(agents=1, args=["--heartbeat-interval", "1", "--allocation-interval",
                                        "0.2", "--agent-resources",
                                        "cpus:8;mem:8192;disk:65536;ports:[%d-%d]"
                                        % (base, base + 99)])
        self.api = c.corrald()
        if tasks:
            harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30, "framework id")
        return c

    def call(self, method, path, body=None):
        return harness.http_json(method, self.api + path, body)

    def ok(self, method, path, body=None):
        status, data = self.call(method, path, body)
        self.assertEqual(status, 200, "%s %s -> %d %r" % (method, path, status, data))
        return data

    def status(self, rid):
        return self.cluster.etcd_get_json("%s/status/requests/%s" % (PREFIX, rid)) or {}

    def condition(self, rid, ctype):
        for cond in self.status(rid).get("conditions", []):
            if cond.get("type") == ctype:
                return cond
        return None

    def wait_condition(self, rid, ctype, status, needle="", timeout=30):
        def check():
            cond = self.condition(rid, ctype) or {}
            return (cond.get("status") == status and needle in cond.get("message", "")
                    and cond)
        return harness.wait_until(check, timeout, "%s %s=%s %r" % (rid, ctype, status, needle))

    def running(self, rid):
        """{taskId: lastTaskState} of the request's task records."""
        tasks = self.cluster.etcd_prefix_json("%s/tasks/%s/" % (PREFIX, rid))
        return {k.rsplit("/", 1)[1]: t.get("lastTaskState") for k, t in tasks.items()}

    def worker(self, rid, instances):
        self.ok("POST", "/api/requests", {"id": rid, "requestType": "WORKER",
                                          "instances": instances})
        self.ok("POST", "/api/deploys", {"deploy": {"requestId": rid, "id": "v1",
                                                    "command": "sleep 600",
                                                    "resources": {"cpus": 0.1, "memoryMb": 16}}})

        def all_running():
            r = self.running(rid)
            return len(r) == instances and all(s == "TASK_RUNNING" for s in r.values()) and r
        return harness.wait_until(all_running, 60, "%d tasks of %s running" % (instances, rid))

    def test_invalid_intents_ask_for_nothing(self):
        c = self.start()
        before = self.worker("web", 2)
        ready = self.wait_condition("web", "Ready", "True")
        self.assertTrue(ready)

        # The bug: garbage at the pause intent key paused the request and
        # killed its tasks while the API said ACTIVE.
        pause_key = PREFIX + "/intents/requests/web/pause"
        c.etcdctl("put", pause_key, "garbage")
        cond = self.wait_condition("web", "DocumentsValid", "False", pause_key + ": not JSON")
        self.assertIn("1 invalid document ignored", cond["message"])
        # Nothing changed: same tasks, still running, no kill intent, ACTIVE
        # for the controllers and for the API.
        self.assertEqual(self.running("web"), before)
        self.assertEqual(c.etcd_prefix_json(PREFIX + "/cleanups/"), {})
        self.assertEqual(self.status("web").get("state"), "ACTIVE")
        parent = self.ok("GET", "/api/requests/request/web")
        self.assertEqual(parent["state"], "ACTIVE")
        self.assertIn("DocumentsValid", [x["type"] for x in parent.get("conditions", [])])
        self.assertEqual([p["request"]["id"] for p in self.ok("GET", "/api/requests/paused")], [])

        # Every other kind, each invalid in its own way: all are ignored, all
        # are counted, and the loops keep running.
        bad = {
            "intents/requests/web/bounce": {"user": "x"},               # no token
            "intents/requests/web/exit-cooldown": {"timestamp": "now"},
            "intents/requests/web/scale": {"instances": 0, "timestamp": 1},
            "intents/requests/web/skip-healthchecks": {"timestamp": 1},
            "intents/requests/web/paws": {"timestamp": 1},             # no such kind
            "intents/deploys/web/v1/cancel": [1],
            "intents/deploys/web/v1/update": {"targetActiveInstances": 0},
            "intents/requests/web/pause": {"requestId": "api"},         # another request's
        }
        for key, value in bad.items():
            c.etcdctl("put", "%s/%s" % (PREFIX, key), json.dumps(value))
        cond = self.wait_condition("web", "DocumentsValid", "False", "8 invalid documents ignored")
        self.assertIn("; and 3 more", cond["message"])
        # Named in key order, five of them; the deploy intents are counted.
        self.assertIn(PREFIX + "/intents/requests/web/bounce: timestamp: required and > 0",
                      cond["message"])
        self.assertIn(PREFIX + "/intents/requests/web/paws: the key's intent kind \"paws\"",
                      cond["message"])
        self.assertEqual(self.running("web"), before)
        self.assertEqual(c.etcd_prefix_json(PREFIX + "/cleanups/"), {})
        st = self.status("web")
        self.assertEqual(st.get("state"), "ACTIVE")
        self.assertEqual(st.get("lastBounce", 0), 0)
        self.assertEqual(self.ok("GET", "/api/requests/request/web")["state"], "ACTIVE")
        self.assertEqual(self.ok("GET", "/api/deploys/pending"), [])

        # Cleared, the condition says so; and a real pause (through the API,
        # over the invalid intent still there) pauses.
        for key in bad:
            if not key.endswith("/pause"):
                c.etcdctl("del", "%s/%s" % (PREFIX, key))
        self.wait_condition("web", "DocumentsValid", "False", "1 invalid document ignored")
        self.ok("POST", "/api/requests/request/web/pause", {"killTasks": True})
        self.assertEqual(c.etcd_get_json(pause_key).get("killTasks"), True)
        harness.wait_until(lambda: self.status("web").get("state") == "PAUSED", 30, "PAUSED")
        self.wait_condition("web", "DocumentsValid", "True")
        harness.wait_until(lambda: not [s for s in self.running("web").values()
                                        if s == "TASK_RUNNING"], 60, "tasks killed by the pause")

    def test_dot_deploy_ids_are_refused_everywhere(self):
        c = self.start()
        self.worker("web", 1)
        # The API.
        for did in (".", "..", "...", "v-1", "a/b", ""):
            status, data = self.call("POST", "/api/deploys", {"deploy": {
                "requestId": "web", "id": did, "command": "sleep 600"}})
            self.assertEqual(status, 400, (did, data))
            self.assertIn("deploy.id", json.dumps(data), (did, data))
        status, data = self.call("GET", "/api/history/request/web/deploy/...")
        self.assertEqual(status, 400, data)
        self.ok("POST", "/api/requests", {"id": "od", "requestType": "ON_DEMAND"})
        status, data = self.call("POST", "/api/requests/request/od/run", {"runId": "r.1"})
        self.assertEqual(status, 400, data)
        self.assertIn("runId", data["message"])
        self.assertEqual(c.etcd_prefix_json(PREFIX + "/runs/"), {})
        self.assertIsNone(c.etcd_get_json(PREFIX + "/deploys/web/.."))
        self.assertIsNone(c.etcd_get_json(PREFIX + "/deploys/web/..."))

        # corralctl: manifest validation (offline) and names on the command line.
        path = os.path.join(c.tmpdir, "dots.yaml")
        with open(path, "w") as f:
            f.write("apiVersion: corral/v1\nkind: Deploy\nmetadata: {name: \"..\"}\n"
                    "spec: {requestId: web, command: sleep 600}\n")
        r = c.corralctl("validate", "-f", path, server=False)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("must be 1-50 characters of [a-zA-Z0-9_.] (no '-', not only dots)", r.stderr)
        r = c.corralctl("apply", "-f", path)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIsNone(c.etcd_get_json(PREFIX + "/deploys/web/.."))
        for name in ("web/..", "web/.", "we.b/v1"):
            r = c.corralctl("delete", "deploy", name)
            self.assertNotEqual(r.returncode, 0, name)
            self.assertIn("invalid deploy name", r.stderr, name)
        r = c.corralctl("delete", "request", "..")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("invalid request id", r.stderr)

        # Written straight into etcd: reported (the deploy FAILED with the
        # rule), nothing launched for it, the active deploy keeps serving.
        before = self.running("web")
        c.etcdctl("put", PREFIX + "/deploys/web/...",
                  json.dumps({"requestId": "web", "id": "...", "command": "sleep 600"}))
        dst = harness.wait_until(
            lambda: (c.etcd_get_json(PREFIX + "/status/deploys/web/...") or {}).get("state")
            == "FAILED" and c.etcd_get_json(PREFIX + "/status/deploys/web/..."),
            30, "deploy ... FAILED")
        self.assertIn("not only dots", json.dumps(dst))
        self.assertEqual(self.running("web"), before)
        self.assertEqual(c.etcd_prefix_json(PREFIX + "/pending/web/"), {})
        # A run whose key names a run id the rules refuse is reported too.
        c.etcdctl("put", PREFIX + "/runs/web/r.1", "{}")
        self.wait_condition("web", "DocumentsValid", "False",
                            "the key's run id \"r.1\" must be 1-100 characters")

    def test_body_must_match_its_key(self):
        c = self.start()
        c.etcdctl("put", PREFIX + "/requests/mis",
                  json.dumps({"id": "other", "requestType": "WORKER", "instances": 1}))
        c.etcdctl("put", PREFIX + "/deploys/mis/v1",
                  json.dumps({"requestId": "mis", "id": "v1", "command": "sleep 600"}))
        cond = self.wait_condition("mis", "Valid", "False",
                                   "id: \"other\" does not match the key's request id \"mis\"")
        self.assertEqual(cond["reason"], "InvalidRequest")
        # The API reports it too (the status' conditions with the request).
        parent = self.ok("GET", "/api/requests/request/mis")
        valid = [x for x in parent.get("conditions", []) if x["type"] == "Valid"]
        self.assertEqual([x["status"] for x in valid], ["False"], parent)
        self.assertEqual(c.etcd_prefix_json(PREFIX + "/pending/mis/"), {})

        # A deploy under one id whose body says another: FAILED, with why.
        c.etcdctl("put", PREFIX + "/requests/ok",
                  json.dumps({"id": "ok", "requestType": "WORKER", "instances": 1}))
        c.etcdctl("put", PREFIX + "/deploys/ok/v9",
                  json.dumps({"requestId": "ok", "id": "v8", "command": "sleep 600"}))
        dst = harness.wait_until(
            lambda: (c.etcd_get_json(PREFIX + "/status/deploys/ok/v9") or {}).get("state")
            == "FAILED" and c.etcd_get_json(PREFIX + "/status/deploys/ok/v9"),
            30, "mismatched deploy FAILED")
        self.assertIn("does not match the key's deploy id", json.dumps(dst))
        self.assertEqual(c.etcd_prefix_json(PREFIX + "/pending/ok/"), {})

        # Fixed in place, it becomes valid (level-triggered).
        c.etcdctl("put", PREFIX + "/requests/mis",
                  json.dumps({"id": "mis", "requestType": "WORKER", "instances": 1}))
        self.wait_condition("mis", "Valid", "True")


if __name__ == "__main__":
    harness.main()
