"""An unreadable framework document never makes the bridge register a new
framework (which would run every task twice, the old framework's copies
living on for its week-long failover timeout): the bridge stops short of
SUBSCRIBE, says why in status/framework and its log, and proceeds once an
operator fixes the document (the same framework is re-subscribed, its tasks
kept) or deletes it (a deliberate fresh start: a new framework).
"""
import json
import time

import harness

PREFIX = "/corral"
ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]


class T(harness.TestCase):

    def put(self, key, obj):
        self.cluster.etcdctl("put", key, obj if isinstance(obj, str) else json.dumps(obj))

    def status(self):
        return self.cluster.etcd_get_json(PREFIX + "/status/framework") or {}

    def cond(self, st, type_):
        return next((c for c in st.get("conditions", []) if c["type"] == type_), {})

    def wait_state(self, state, timeout=30):
        return harness.wait_until(
            lambda: self.status().get("state") == state and self.status(), timeout,
            "status/framework %s (now %s)" % (state, self.status()))

    def ml_state(self):
        return harness.http_json("GET", self.cluster.mesos_url + "/master/state")[1]

    def ml_frameworks(self):
        st = self.ml_state()
        return [f["id"] for f in st["frameworks"]]

    def running_tasks(self):
        return [t["id"] for f in self.ml_state()["frameworks"] for t in f["tasks"]
                if t["state"] == "TASK_RUNNING"]

    def launch(self, rid):
        """A task through the bridge, as the controllers would ask for it."""
        self.put("%s/requests/%s" % (PREFIX, rid),
                 {"id": rid, "requestType": "ON_DEMAND", "instances": 1})
        self.put("%s/deploys/%s/v1" % (PREFIX, rid),
                 {"requestId": rid, "id": "v1", "command": "sleep 600",
                  "resources": {"cpus": 0.1, "memoryMb": 16}})
        now = int(time.time() * 1000)
        pid = "%s-v1-%d-1-ONEOFF-%d" % (rid, now, now)
        self.put("%s/pending/%s/%s" % (PREFIX, rid, pid), {"pendingTaskId": pid, "user": "e2e"})

    def states(self, rid):
        tasks = self.cluster.etcd_prefix_json("%s/tasks/%s/" % (PREFIX, rid)).values()
        return sorted(t["lastTaskState"] for t in tasks)

    def corrald(self):
        return self.cluster.corrald(args=["--no-controllers"])

    def test_unreadable_document_blocks_until_deleted(self):
        c = self.cluster
        c.etcd()
        c.mesoslite(agents=1, racks="r1", args=ML_ARGS)
        self.put(PREFIX + "/framework", '{"frameworkId":5}')
        self.corrald()
        st = self.wait_state("BLOCKED")
        self.assertIn("frameworkId: must be a string", st["message"])
        valid = self.cond(st, "Valid")
        self.assertEqual((valid["status"], valid["reason"]), ("False", "UnreadableFrameworkDocument"))
        self.assertEqual(self.cond(st, "Subscribed")["status"], "False")
        self.assertGreater(st["observedRevision"], 0)
        # no SUBSCRIBE went out: mesoslite knows no framework, and the
        # document is left as it was for the operator
        self.assertEqual(self.ml_frameworks(), [])
        self.assertEqual(c.etcd_get_json(PREFIX + "/framework"), {"frameworkId": 5})
        proc = [p for p in c.procs if p.name == "corrald"][0]
        self.assertIn("mesosbridge blocked: framework document", proc.log())
        # still something else wrong: the status follows the new revision
        self.put(PREFIX + "/framework", '{"frameworkID":"typo-0000"}')
        harness.wait_until(lambda: "frameworkId: is required" in self.status().get("message", ""),
                           15, "status names the new problem (now %s)" % self.status())
        self.assertEqual(self.ml_frameworks(), [])
        # the operator deletes it: a deliberate fresh start
        c.etcdctl("del", PREFIX + "/framework")
        st = self.wait_state("SUBSCRIBED")
        fid = harness.wait_until(lambda: (c.etcd_get_json(PREFIX + "/framework") or {})
                                 .get("frameworkId"), 15, "the new framework id stored")
        self.assertEqual(st["frameworkId"], fid)
        self.assertEqual(self.ml_frameworks(), [fid])
        self.assertEqual(self.cond(st, "Valid")["status"], "True")
        self.assertEqual(self.cond(st, "Subscribed")["status"], "True")

    def test_new_leader_with_corrupt_id_never_runs_tasks_twice(self):
        c = self.cluster
        c.etcd()
        c.mesoslite(agents=1, racks="r1", args=ML_ARGS)
        self.corrald()
        fid = harness.wait_until(lambda: (c.etcd_get_json(PREFIX + "/framework") or {})
                                 .get("frameworkId"), 30, "framework id stored")
        self.launch("web")
        harness.wait_until(lambda: self.states("web") == ["TASK_RUNNING"], 30, "task running")
        self.assertEqual(len(self.running_tasks()), 1)

        # the leader dies; meanwhile the framework document is damaged
        old = [p for p in c.procs if p.name == "corrald"][0]
        old.kill()
        self.put(PREFIX + "/framework", '{"frameworkId":5}')
        self.corrald()
        self.wait_state("BLOCKED")
        self.assertEqual(self.ml_frameworks(), [fid])
        self.assertEqual(len(self.running_tasks()), 1)

        # the operator puts the id back: the same framework is re-subscribed
        self.put(PREFIX + "/framework", {"frameworkId": fid})
        st = self.wait_state("SUBSCRIBED")
        self.assertEqual(st["frameworkId"], fid)
        harness.wait_until(lambda: self.ml_state()["frameworks"][0]["active"], 15,
                           "framework re-subscribed")
        self.assertEqual(self.ml_frameworks(), [fid])
        self.assertEqual(self.states("web"), ["TASK_RUNNING"])
        self.assertEqual(len(self.running_tasks()), 1)


if __name__ == "__main__":
    harness.main()
