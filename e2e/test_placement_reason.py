"""Why a task cannot be placed (issue 6): the Mesos bridge records, per
unplaced pending task, the reason of its last offer cycle in
<prefix>/status/pending/<requestId>/<pendingTaskId> and deletes it once the
task launches or its pending document goes away (docs/mesosbridge.md).

Real etcd, mesoslite (agents with 2 cpus) and corrald.
"""
import json
import random

import harness

PREFIX = "/corral"
ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]


class T(harness.TestCase):

    def start(self, before=None):
        c = self.cluster
        c.etcd()
        if before:
            before()
        base = harness.free_port_range(100)
        res = "cpus:2;mem:4096;disk:65536;ports:[%d-%d]" % (base, base + 99)
        c.mesoslite(agents=2, racks="r1,r2", args=ML_ARGS + ["--agent-resources", res])
        c.corrald()
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30,
                           "framework id stored")
        return c

    def put(self, key, obj):
        self.cluster.etcdctl("put", key, json.dumps(obj))

    def deploy(self, rid, did, cpus):
        self.put("%s/deploys/%s/%s" % (PREFIX, rid, did),
                 {"requestId": rid, "id": did, "command": "exec sleep 600",
                  "resources": {"cpus": cpus, "memoryMb": 16},
                  "deployHealthTimeoutSeconds": 120})

    def mod_rev(self, key):
        return json.loads(self.cluster.etcdctl("get", key, "-w", "json"))["kvs"][0]["mod_revision"]

    def offers_received(self):
        st, _, body = harness.http("GET", self.cluster.api_url + "/metrics")
        self.assertEqual(st, 200)
        for line in body.decode().splitlines():
            if line.startswith("corral_mesos_offers_received_total"):
                return float(line.split()[-1])
        self.fail("no corral_mesos_offers_received_total in /metrics")

    def reasons(self, rid):
        return self.cluster.etcd_prefix_json("%s/status/pending/%s/" % (PREFIX, rid))

    def test_reason_recorded_then_deleted_on_launch(self):
        c = self.start()
        self.put("%s/requests/web" % PREFIX,
                 {"id": "web", "requestType": "SERVICE", "instances": 1})
        self.deploy("web", "v1", 3)

        # the bridge says why the v1 task waits
        found = {}

        def recorded():
            found.clear()
            found.update(self.reasons("web"))
            return len(found) == 1
        harness.wait_until(recorded, 30, "status/pending of the v1 task")
        key, doc = next(iter(found.items()))
        pend = c.etcd_prefix_json("%s/pending/web/" % PREFIX)
        self.assertEqual(len(pend), 1, pend)
        pid = next(iter(pend.values()))["pendingTaskId"]["id"]
        self.assertEqual(key, "%s/status/pending/web/%s" % (PREFIX, pid))
        self.assertEqual(doc["reason"], "NOT_ENOUGH_RESOURCES")
        self.assertEqual(doc["message"], "needs cpus 3, largest offer has 2")
        self.assertGreaterEqual(doc["offers"], 1)
        self.assertGreater(doc["since"], 0)
        # the request's Ready condition names it
        def ready_names_it():
            st = c.etcd_get_json("%s/status/requests/web" % PREFIX) or {}
            for cd in st.get("conditions", []):
                if cd["type"] == "Ready":
                    return cd.get("message", "").endswith(
                        "1 task cannot be placed: NOT_ENOUGH_RESOURCES "
                        "(needs cpus 3, largest offer has 2)")
            return False
        harness.wait_until(ready_names_it, 30, "Ready message names the reason")
        # nothing launched
        self.assertEqual(c.etcd_prefix_json("%s/tasks/web/" % PREFIX), {})

        # written only on change: later offers (the same reason) leave the
        # document alone
        rev = self.mod_rev(key)
        seen = self.offers_received()
        harness.wait_until(lambda: self.offers_received() >= seen + 2, 30, "more offers")
        self.assertEqual(self.mod_rev(key), rev)

        # a deploy that fits: v1 is superseded (its pending task unpended),
        # v2's task launches, and no reason is left behind
        self.deploy("web", "v2", 1)

        def launched():
            ts = c.etcd_prefix_json("%s/tasks/web/" % PREFIX).values()
            return any(t["taskId"]["deployId"] == "v2" for t in ts)
        harness.wait_until(launched, 30, "v2 task launched")
        harness.wait_until(lambda: self.reasons("web") == {}, 30,
                           "status/pending deleted")
        doc_after = c.etcd_get_json(key)
        self.assertIsNone(doc_after)

    def test_new_leader_clears_stale_reasons(self):
        # a reason left by an earlier leader whose task is long gone
        stale = "%s/status/pending/old/old-v1-1-1" % PREFIX
        self.start(before=lambda: self.put(stale, {"reason": "RACK_SATURATED",
                                                   "message": "x", "since": 1, "offers": 1}))
        harness.wait_until(lambda: self.cluster.etcd_get_json(stale) is None, 30,
                           "stale status/pending cleared")


if __name__ == "__main__":
    harness.main()
