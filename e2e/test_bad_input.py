"""Bad objects written straight into etcd (the documented interface that
GitOps tools and scripts use) get a clear error in their status and change
nothing else; the reconcile loops keep running for everything else."""
import json
import random

import harness

PREFIX = "/corral"


class BadObjectsInEtcd(harness.TestCase):
    def start(self):
        c = self.cluster
        c.etcd()
        base = harness.free_port_range(100)
        c.mesoslite(agents=1, args=["--heartbeat-interval", "1", "--allocation-interval", "0.2",
                                    "--agent-resources",
                                    "cpus:8;mem:8192;disk:65536;ports:[%d-%d]" % (base, base + 99)])
        c.corrald()
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30, "framework id")
        return c

    def condition(self, rid, ctype):
        st = self.cluster.etcd_get_json("%s/status/requests/%s" % (PREFIX, rid)) or {}
        for cond in st.get("conditions", []):
            if cond.get("type") == ctype:
                return cond
        return None

    def test_invalid_requests_and_deploys_get_errors_and_loops_go_on(self):
        c = self.start()
        # Not JSON at all, a typo'd field, an impossible value.
        c.etcdctl("put", PREFIX + "/requests/garbage", "{not json")
        c.etcdctl("put", PREFIX + "/requests/typo",
                  json.dumps({"id": "typo", "requestType": "WORKER", "instancez": 2}))
        c.etcdctl("put", PREFIX + "/requests/negative",
                  json.dumps({"id": "negative", "requestType": "WORKER", "instances": -3}))
        # A valid request whose deploy is invalid (no command, cpus <= 0).
        c.etcdctl("put", PREFIX + "/requests/halfbad",
                  json.dumps({"id": "halfbad", "requestType": "WORKER", "instances": 1}))
        c.etcdctl("put", PREFIX + "/deploys/halfbad/v1",
                  json.dumps({"requestId": "halfbad", "id": "v1",
                              "resources": {"cpus": 0, "memoryMb": 16}}))

        for rid, needle in (("garbage", ""), ("typo", "instancez"), ("negative", "instances")):
            cond = harness.wait_until(
                lambda rid=rid: (self.condition(rid, "Valid") or {}).get("status") == "False"
                and self.condition(rid, "Valid"), 30, "Valid=False on " + rid)
            self.assertIn(needle, cond.get("message", ""), (rid, cond))
            self.assertTrue(cond.get("message"), (rid, cond))

        dst = harness.wait_until(
            lambda: (c.etcd_get_json(PREFIX + "/status/deploys/halfbad/v1") or {}).get("state")
            == "FAILED" and c.etcd_get_json(PREFIX + "/status/deploys/halfbad/v1"),
            30, "invalid deploy FAILED")
        self.assertIn("cpus", json.dumps(dst))

        # The user's documents are untouched, and nothing was launched for them.
        self.assertEqual(c.etcdctl("get", PREFIX + "/requests/garbage", "--print-value-only").strip(),
                         "{not json")
        self.assertEqual(c.etcd_prefix_json(PREFIX + "/tasks/"), {})

        # The loops keep running: a good worker applied afterwards runs.
        c.etcdctl("put", PREFIX + "/requests/good",
                  json.dumps({"id": "good", "requestType": "WORKER", "instances": 1}))
        c.etcdctl("put", PREFIX + "/deploys/good/v1",
                  json.dumps({"requestId": "good", "id": "v1", "command": "sleep 600",
                              "resources": {"cpus": 0.1, "memoryMb": 16}}))

        def good_running():
            tasks = c.etcd_prefix_json(PREFIX + "/tasks/good/")
            return any(t.get("lastTaskState") == "TASK_RUNNING" or t.get("state") == "TASK_RUNNING"
                       for t in tasks.values())
        harness.wait_until(good_running, 60, "valid worker running beside the bad objects")
        # Fixing a bad object in place is picked up (level-triggered).
        c.etcdctl("put", PREFIX + "/requests/typo",
                  json.dumps({"id": "typo", "requestType": "WORKER", "instances": 2}))
        harness.wait_until(lambda: (self.condition("typo", "Valid") or {}).get("status") == "True",
                           30, "fixed request becomes Valid")


if __name__ == "__main__":
    harness.main()
