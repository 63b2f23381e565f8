"""A convergence burst through the real binaries (issue 13): 1,000 tasks
applied at once on mesoslite --simulate. The bridge posts at most 32
scheduler calls at a time (the rest wait in order) and batches its launch
txns with the loops' writes, and still every task is launched once and
runs; the calls that waited are counted and none is left over."""
import base64
import json
import unittest

import harness

PREFIX = "/corral"
REQUESTS, INSTANCES = 100, 10


def b64(s):
    return base64.b64encode(s.encode()).decode()


def metric(api, name):
    body = harness.http("GET", api + "/metrics", timeout=30)[2].decode()
    total = None
    for line in body.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total = (total or 0) + float(line.split()[-1])
    return total


class BurstTest(harness.TestCase):
    def test_thousand_tasks_at_once(self):
        c = self.cluster
        etcd = c.etcd()
        c.mesoslite(agents=100, racks="r1,r2", args=["--simulate", "--allocation-interval", "0.2"])
        api = c.corrald()
        harness.wait_until(lambda: metric(api, "corral_mesos_subscribed") == 1, 30, "subscribed")
        ops = []
        for i in range(REQUESTS):
            rid = "burst%03d" % i
            ops.append({"requestPut": {"key": b64("%s/requests/%s" % (PREFIX, rid)), "value": b64(json.dumps(
                {"id": rid, "requestType": "SERVICE", "instances": INSTANCES}))}})
            ops.append({"requestPut": {"key": b64("%s/deploys/%s/v1" % (PREFIX, rid)), "value": b64(json.dumps(
                {"requestId": rid, "id": "v1", "command": "sleep 1000000",
                 "resources": {"cpus": 0.1, "memoryMb": 16, "numPorts": 0}}))}})
        for lo in range(0, len(ops), 128):
            st, _, body = harness.http("POST", etcd + "/v3/kv/txn", {"success": ops[lo:lo + 128]}, timeout=30)
            self.assertEqual(st, 200, body)

        def running():
            recs = c.etcd_prefix_json(PREFIX + "/tasks/")
            return len(recs) == REQUESTS * INSTANCES and all(
                r.get("lastTaskState") == "TASK_RUNNING" for r in recs.values())
        harness.wait_until(running, 180, "every task RUNNING", interval=1.0)

        # launched once each: as many ACCEPTed tasks as records, none pending
        self.assertEqual(metric(api, "corral_mesos_tasks_launched_total"), REQUESTS * INSTANCES)
        self.assertEqual(c.etcd_prefix_json(PREFIX + "/pending/"), {})
        tasks = harness.http_json("POST", c.mesos_url + "/api/v1", {"type": "GET_TASKS"})[1]
        tasks = tasks["get_tasks"]["tasks"]
        self.assertEqual(len(tasks), REQUESTS * INSTANCES)
        self.assertEqual(len({t["task_id"]["value"] for t in tasks}), REQUESTS * INSTANCES)
        # the bound held, and was needed
        peak = metric(api, "corral_mesos_calls_in_flight_max")
        self.assertGreater(peak, 1)
        self.assertLessEqual(peak, 32)
        self.assertGreater(metric(api, "corral_mesos_calls_waited_total"), 0)
        harness.wait_until(lambda: metric(api, "corral_mesos_calls_in_flight") == 0, 30,
                           "no call left in flight")


if __name__ == "__main__":
    unittest.main()
