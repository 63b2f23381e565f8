"""Singularity's request actions acted on by the controllers (issue 20),
through the real binaries: etcd, mesoslite running real processes and
corrald (one or two replicas). Every action goes through the REST API the
way a Singularity client sends it; the tests read task records, kill
intents and status documents back from etcd (docs/controllers.md "Pause,
bounce and expiring actions").

- pause with killTasks false: the tasks keep running; an expiring one
  (durationMillis) unpauses itself, the same tasks still running;
- an incremental bounce: polled all along, never fewer running tasks
  without a kill intent than `instances`, never more than one extra;
- an expiring scale reverts on time after the leader was SIGKILLed (the
  expiry is in etcd), and GET .../request shows it as expiringScale until
  then;
- a deploy with unpauseOnSuccessfulDeploy and updatedRequest unpauses the
  paused request and applies the updated request when it succeeds;
- bounceAfterScale: a scale of such a request replaces every task.
"""
import json
import time

import harness
from ctl_cases import ML_ARGS, PREFIX, ControllerCase

COMMAND = "exec sleep 600"


class T(ControllerCase):

    def boot(self, replicas=1):
        c = self.cluster
        c.etcd()
        base = harness.free_port_range(100)
        c.mesoslite(agents=1, racks="r1", args=ML_ARGS + [
            "--agent-resources", "cpus:8;mem:8192;disk:65536;ports:[%d-%d]" % (base, base + 99)])
        self.apis = [c.corrald(name="corrald-%d" % i) for i in range(replicas)]
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30,
                           "framework id stored")
        return c

    def call(self, method, path, body=None, want=200, api=None):
        st, _, raw = harness.http(method, (api or self.apis[0]) + path, body)
        text = raw.decode()
        self.assertEqual(st, want, "%s %s: %s" % (method, path, text))
        return json.loads(text) if text.strip() else None

    def create(self, rid, instances, did="v1", **extra):
        r = {"id": rid, "requestType": "SERVICE", "instances": instances}
        r.update(extra)
        self.call("POST", "/api/requests", r)
        self.call("POST", "/api/deploys", {"deploy": self.deploy_doc(rid, did)})
        self.wait_ready(rid, did, instances)

    def deploy_doc(self, rid, did):
        return {"requestId": rid, "id": did, "command": COMMAND,
                "resources": {"cpus": 0.05, "memoryMb": 16},
                "considerHealthyAfterRunningForSeconds": 1, "deployHealthTimeoutSeconds": 60}

    def live_ids(self, rid):
        return sorted(t["taskId"]["id"] for t in self.live(rid))

    def snapshot(self, rid):
        """(running without a kill intent, live = not terminal and no kill
        intent), from one read of the whole prefix (one etcd revision)."""
        kv = self.cluster.etcd_prefix_json(PREFIX + "/")
        serving = live = 0
        for k, t in kv.items():
            if not k.startswith("%s/tasks/%s/" % (PREFIX, rid)):
                continue
            if "%s/cleanups/%s" % (PREFIX, t["taskId"]["id"]) in kv:
                continue
            if t["lastTaskState"] in ("TASK_RUNNING", "TASK_STAGING", "TASK_STARTING",
                                      "TASK_LAUNCHED"):
                live += 1
                serving += t["lastTaskState"] == "TASK_RUNNING"
        live += sum(1 for k in kv if k.startswith("%s/pending/%s/" % (PREFIX, rid)))
        return serving, live

    def state(self, rid):
        return self.status(rid).get("state")

    def cleanups(self, ids):
        return [i for i in ids if self.cluster.etcd_get_json("%s/cleanups/%s" % (PREFIX, i))]

    # ---- tests --------------------------------------------------------------------

    def test_pause_without_kill_keeps_tasks_and_expires(self):
        self.boot()
        self.create("keep", 2)
        before = self.live_ids("keep")
        # corralctl sends it (--keep-tasks: killTasks false; --for: durationMillis)
        self.cluster.corralctl("pause", "keep", "--keep-tasks", "--for", "8s", "-m", "hold",
                               check=True)
        harness.wait_until(lambda: self.state("keep") == "PAUSED", 20, "PAUSED")
        # The pass that made it PAUSED would have written the kills too.
        self.assertEqual(self.cleanups(before), [])
        self.assertEqual(self.live_ids("keep"), before)
        parent = self.call("GET", "/api/requests/request/keep")
        self.assertEqual(parent["expiringPause"]["expiringAPIRequestObject"]["durationMillis"],
                         8000)
        self.assertFalse(parent["expiringPause"]["expiringAPIRequestObject"]["killTasks"])
        # The expiry unpauses it; nothing was replaced meanwhile.
        harness.wait_until(lambda: self.state("keep") == "ACTIVE", 30, "unpaused by its expiry")
        self.assertIsNone(self.cluster.etcd_get_json(PREFIX + "/intents/requests/keep/pause"))
        self.wait_ready("keep", "v1", 2)
        self.assertEqual(self.live_ids("keep"), before)
        self.assertNotIn("expiringPause", self.call("GET", "/api/requests/request/keep"))

        # The default still kills.
        self.call("POST", "/api/requests/request/keep/pause", {})
        harness.wait_until(lambda: self.state("keep") == "PAUSED", 20, "PAUSED")
        harness.wait_until(lambda: self.live_ids("keep") == [], 30, "tasks killed")

    def test_incremental_bounce_never_below_capacity(self):
        self.boot()
        self.create("inc", 3)
        before = set(self.live_ids("inc"))
        self.call("POST", "/api/requests/request/inc/bounce", {"incremental": True})
        token = self.cluster.etcd_get_json(PREFIX + "/intents/requests/inc/bounce")["timestamp"]
        samples, most = 0, 0
        deadline = time.monotonic() + 120
        while self.status("inc").get("lastBounce") != token:
            self.assertLess(time.monotonic(), deadline, "bounce did not finish: %s"
                            % self.status("inc"))
            serving, live = self.snapshot("inc")
            self.assertGreaterEqual(serving, 3, "below capacity during the bounce")
            self.assertLessEqual(live, 4, "more than one slot replaced at once")
            most = max(most, live)
            samples += 1
        self.assertGreater(samples, 3)
        self.assertEqual(most, 4)  # a new task ran beside the old ones
        self.wait_ready("inc", "v1", 3)
        self.assertEqual(before & set(self.live_ids("inc")), set())
        harness.wait_until(lambda: before <= {h["taskId"]["id"] for h in self.history("inc")},
                           30, "every old task archived")

    def test_expiring_scale_reverts_across_failover(self):
        c = self.boot(replicas=2)
        self.create("exp", 1)
        self.call("PUT", "/api/requests/request/exp/scale",
                  {"instances": 3, "durationMillis": 20000, "message": "burst"})
        parent = self.call("GET", "/api/requests/request/exp")
        es = parent["expiringScale"]
        self.assertEqual(es["revertToInstances"], 1)
        self.assertEqual(es["expiringAPIRequestObject"]["instances"], 3)
        self.assertEqual(es["requestId"], "exp")
        self.wait_ready("exp", "v1", 3)
        leader = c.etcd_get_json(PREFIX + "/leader")["address"]
        old = [p for p in c.procs if getattr(p, "url", "").endswith(leader)]
        self.assertEqual(len(old), 1, leader)
        old[0].kill()
        intent = c.etcd_get_json(PREFIX + "/intents/requests/exp/scale")
        self.assertIsNotNone(intent, "expired before the leader was killed")
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/leader")
                           and c.etcd_get_json(PREFIX + "/leader")["address"] != leader,
                           40, "another leader")
        harness.wait_until(
            lambda: c.etcd_get_json(PREFIX + "/requests/exp")["instances"] == 1, 60,
            "the scale reverted")
        self.assertGreaterEqual(int(time.time() * 1000), intent["timestamp"] + 20000)
        self.assertIsNone(c.etcd_get_json(PREFIX + "/intents/requests/exp/scale"))
        alive = [a for a in self.apis if a != old[0].url]
        self.assertNotIn("expiringScale", self.call("GET", "/api/requests/request/exp",
                                                    api=alive[0]))
        self.wait_ready("exp", "v1", 1)

    def test_unpause_on_successful_deploy_with_updated_request(self):
        self.boot()
        self.create("up", 1)
        self.call("POST", "/api/requests/request/up/pause", {})
        harness.wait_until(lambda: self.state("up") == "PAUSED" and not self.live("up"), 30,
                           "paused, tasks killed")
        # A plain deploy of a paused request is refused...
        self.call("POST", "/api/deploys", {"deploy": self.deploy_doc("up", "v2")}, want=409)
        # ... one that unpauses on success rolls out, with the updated request.
        self.call("POST", "/api/deploys", {
            "deploy": self.deploy_doc("up", "v2"), "unpauseOnSuccessfulDeploy": True,
            "updatedRequest": {"id": "up", "requestType": "SERVICE", "instances": 2}})
        seen = harness.wait_until(
            lambda: self.state("up") if self.state("up") in ("DEPLOYING_TO_UNPAUSE", "ACTIVE")
            else None, 30, "deploying to unpause")
        self.wait_ready("up", "v2", 2, timeout=60)
        self.assertIn(seen, ("DEPLOYING_TO_UNPAUSE", "ACTIVE"))
        self.assertEqual(self.state("up"), "ACTIVE")
        self.assertIsNone(self.cluster.etcd_get_json(PREFIX + "/intents/requests/up/pause"))
        self.assertEqual(self.cluster.etcd_get_json(PREFIX + "/requests/up")["instances"], 2)
        self.assertEqual(self.deploy_status("up", "v2")["state"], "SUCCEEDED")

    def test_bounce_after_scale(self):
        self.boot()
        self.create("bas", 1, bounceAfterScale=True)
        first = self.live_ids("bas")
        self.call("PUT", "/api/requests/request/bas/scale", {"instances": 2})
        bounce = self.cluster.etcd_get_json(PREFIX + "/intents/requests/bas/bounce")
        self.assertIsNotNone(bounce, "the scale wrote no bounce intent")
        harness.wait_until(lambda: self.status("bas").get("lastBounce") == bounce["timestamp"],
                           60, "bounce done")
        self.wait_ready("bas", "v1", 2)
        self.assertEqual(set(first) & set(self.live_ids("bas")), set())
        # An explicit bounce: false wins over bounceAfterScale.
        self.call("PUT", "/api/requests/request/bas/scale", {"instances": 1, "bounce": False})
        self.assertEqual(self.cluster.etcd_get_json(PREFIX + "/intents/requests/bas/bounce"),
                         bounce)


if __name__ == "__main__":
    harness.main()
