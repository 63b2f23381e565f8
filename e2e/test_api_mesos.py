"""corrald's API with the Mesos bridge against mesoslite: a task launched
through the leader shows in the task views, its sandbox is browsed and read
through the agent's /files API (never outside the sandbox), and a kill from
the API ends it (TASK_KILLED in its history).
"""
import json
import time

import harness


class TestApiWithMesos(harness.TestCase):
    def setUp(self):
        super().setUp()
        # unittest skips tearDown when setUp fails: stop what started anyway.
        self.addCleanup(self.cluster.close, True)
        self.cluster.etcd()
        self.cluster.mesoslite(agents=2, racks="r1,r2")
        self.api = self.cluster.corrald()

    def call(self, method, path, body=None):
        st, _, raw = harness.http(method, self.api + path, body)
        text = raw.decode()
        return st, (json.loads(text) if text.strip() else None)

    def ok(self, method, path, body=None, status=200):
        st, data = self.call(method, path, body)
        self.assertEqual(st, status, "%s %s -> %d %r" % (method, path, st, data))
        return data

    def active_task(self):
        ids = self.ok("GET", "/api/tasks/active")
        running = [t for t in ids if t.get("lastTaskState") == "TASK_RUNNING"]
        return running[0] if running else None

    def launch(self):
        self.ok("POST", "/api/requests", {"id": "web", "requestType": "WORKER", "instances": 1})
        self.ok("POST", "/api/deploys", {"deploy": {
            "requestId": "web", "id": "v1", "command": "echo hello-sandbox; mkdir -p logs; "
            "echo inner > logs/app.log; exec sleep 300",
            "resources": {"cpus": 0.1, "memoryMb": 32}}})
        # The controllers queue the launch once they run in corrald; until
        # then, write the pending task they would write.
        try:
            return harness.wait_until(self.active_task, 5, "a task launched by the controllers")
        except AssertionError:
            pass
        now = int(time.time() * 1000)
        pid = "web-v1-%d-1-NEW_DEPLOY-%d" % (now, now)
        self.cluster.etcdctl("put", "/corral/pending/web/" + pid, json.dumps({
            "pendingTaskId": {"id": pid, "requestId": "web", "deployId": "v1", "nextRunAt": now,
                              "instanceNo": 1, "pendingType": "NEW_DEPLOY", "createdAt": now}}))
        return harness.wait_until(self.active_task, 30, "a running task")

    def test_task_sandbox_and_kill(self):
        task = self.launch()
        tid = task["taskId"]["id"]
        self.assertEqual(task["taskRequest"]["request"]["id"], "web")
        agent = task["agentId"]
        self.assertIn(tid, [t["id"] for t in self.ok("GET", "/api/tasks/active/agent/%s/ids" % agent)])
        agents = self.ok("GET", "/api/agents")
        self.assertEqual(len(agents), 2)
        st = self.ok("GET", "/api/state")
        self.assertGreaterEqual(st["activeTasks"], 1)
        self.assertEqual(st["activeSlaves"], 2)
        self.assertTrue(st["hostStates"][0]["master"])
        harness.wait_until(lambda: self.ok("GET", "/api/state")["hostStates"][0]["mesosConnected"],
                           10, "mesosConnected")

        # Sandbox: browse the root and a subdirectory, read a file.
        def browse_has_stdout():
            st, data = self.call("GET", "/api/sandbox/%s/browse" % tid)
            return st == 200 and "stdout" in [f["name"] for f in data["files"]] and data
        box = harness.wait_until(browse_has_stdout, 10, "sandbox listing")
        self.assertIn("logs", [f["name"] for f in box["files"]])
        self.assertTrue(box["fullPathToRoot"].startswith("/"))
        sub = self.ok("GET", "/api/sandbox/%s/browse?path=logs" % tid)
        self.assertEqual([f["name"] for f in sub["files"]], ["app.log"])
        chunk = self.ok("GET", "/api/sandbox/%s/read?path=stdout&offset=0&length=100" % tid)
        self.assertEqual(chunk["data"], "hello-sandbox\n")
        self.assertEqual(chunk["offset"], 0)
        self.assertEqual(chunk["nextOffset"], 14)
        chunk = self.ok("GET", "/api/sandbox/%s/read?path=stdout&offset=6&length=7" % tid)
        self.assertEqual(chunk["data"], "sandbox")
        self.assertEqual(self.ok("GET", "/api/sandbox/%s/read?path=logs/app.log&grep=inn" % tid)["data"],
                         "inner\n")
        self.assertEqual(self.ok("GET", "/api/sandbox/%s/read?path=logs/app.log&grep=zzz" % tid)["data"], "")
        self.assertEqual(self.call("GET", "/api/sandbox/%s/read?path=nope" % tid)[0], 404)
        for bad in ("../../..", "logs/../../x", "/etc/passwd"):
            st, data = self.call("GET", "/api/sandbox/%s/read?path=%s" % (tid, bad))
            self.assertEqual(st, 400, bad)
        self.assertEqual(self.call("GET", "/api/sandbox/web-v9-1-1-h-r/browse")[0], 404)

        # Kill from the API: the bridge kills it, the record ends TASK_KILLED.
        cl = self.ok("DELETE", "/api/tasks/task/" + tid, {"message": "done", "killGracePeriodMillis": 0})
        self.assertEqual(cl["cleanupType"], "USER_REQUESTED")

        def killed():
            st, h = self.call("GET", "/api/history/task/" + tid)
            return st == 200 and h["task"]["lastTaskState"] == "TASK_KILLED" and h
        hist = harness.wait_until(killed, 20, "TASK_KILLED")
        states = [u["taskState"] for u in hist["taskUpdates"]]
        self.assertIn("TASK_RUNNING", states)
        self.assertEqual(states[-1], "TASK_KILLED")
        self.assertNotIn(tid, [t["id"] for t in self.ok("GET", "/api/tasks/active/ids")])
        found = self.ok("GET", "/api/history/tasks?requestId=web&lastTaskStatus=TASK_KILLED")
        self.assertIn(tid, [t["taskId"]["id"] for t in found])
        # The sandbox of the ended task can still be read (until the agent's GC).
        chunk = self.ok("GET", "/api/sandbox/%s/read?path=stdout&offset=0&length=100" % tid)
        self.assertEqual(chunk["data"], "hello-sandbox\n")

    def test_deploy_scale_pause_through_the_leader(self):
        """The API's documents drive the leader: a deploy rolls out, a scale
        adds a task, a pause stops them all, an unpause brings them back."""
        self.ok("POST", "/api/requests", {"id": "svc", "requestType": "WORKER", "instances": 1})
        self.ok("POST", "/api/deploys", {"deploy": {
            "requestId": "svc", "id": "d1", "command": "exec sleep 300",
            "resources": {"cpus": 0.1, "memoryMb": 16}}})

        def parent():
            return self.ok("GET", "/api/requests/request/svc")

        def running(n):
            ids = self.ok("GET", "/api/tasks/ids/request/svc")
            return len(ids["healthy"]) == n and not ids["notYetHealthy"] and ids
        harness.wait_until(lambda: (parent()["requestDeployState"]["activeDeploy"] or {}).get("deployId") == "d1",
                           60, "deploy d1 active")
        p = parent()
        self.assertNotIn("pendingDeploy", p)
        self.assertEqual(p["activeDeploy"]["command"], "exec sleep 300")
        harness.wait_until(lambda: running(1), 30, "one healthy task")
        hist = self.ok("GET", "/api/history/request/svc/deploys")
        self.assertEqual(hist[0]["deployResult"]["deployState"], "SUCCEEDED")
        self.assertEqual(self.ok("GET", "/api/deploys/pending"), [])

        self.ok("PUT", "/api/requests/request/svc/scale", {"instances": 2})
        harness.wait_until(lambda: running(2), 30, "two healthy tasks")
        self.assertEqual(self.ok("GET", "/api/state")["activeTasks"], 2)

        self.ok("POST", "/api/requests/request/svc/pause")
        harness.wait_until(lambda: not self.ok("GET", "/api/tasks/active/ids"), 30, "tasks stopped")
        self.assertEqual(parent()["state"], "PAUSED")
        self.ok("POST", "/api/requests/request/svc/unpause")
        harness.wait_until(lambda: running(2), 30, "tasks back after unpause")

    def test_run_now_of_an_on_demand_request(self):
        """POST .../run queues a run; the jobs controller launches it with the
        run's arguments and the run resolves to its task."""
        self.ok("POST", "/api/requests", {"id": "job", "requestType": "ON_DEMAND"})
        self.ok("POST", "/api/deploys", {"deploy": {
            "requestId": "job", "id": "j1", "command": "echo ran", "arguments": [],
            "resources": {"cpus": 0.1, "memoryMb": 16}}})
        harness.wait_until(lambda: (self.ok("GET", "/api/requests/request/job")
                                    ["requestDeployState"]["activeDeploy"] or {}).get("deployId") == "j1",
                           30, "deploy j1 active")
        p = self.ok("POST", "/api/requests/request/job/run", {"runId": "r1", "message": "now"})
        self.assertEqual(p["pendingRequest"]["runId"], "r1")
        task = harness.wait_until(lambda: self.call("GET", "/api/requests/request/job/run/r1")[0] == 200
                                  and self.ok("GET", "/api/requests/request/job/run/r1"), 30, "run r1 task")
        tid = task["id"]

        def finished():
            st, h = self.call("GET", "/api/history/task/" + tid)
            return st == 200 and h["task"]["lastTaskState"] == "TASK_FINISHED" and h
        harness.wait_until(finished, 30, "run finished")
        self.assertEqual(self.ok("GET", "/api/sandbox/%s/read?path=stdout" % tid)["data"], "ran\n")


if __name__ == "__main__":
    harness.main()
