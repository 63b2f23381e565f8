"""Bursts through the real binaries (issues 13 and 14), on mesoslite
--simulate:

- 1,000 tasks applied at once: the bridge posts at most 32 scheduler calls
  at a time (the rest wait in order) and batches its launch txns with the
  loops' writes, and still every task is launched once and runs; the calls
  that waited are counted and none is left over.
- A queue whose head fits no offer, longer than what one offer cycle tries
  (the launch queue hands the plan a window of it): the cycles go round the
  queue, so the tasks behind the head still launch.
- OFFERS events of 600 agents (over 256 KiB each) are decoded on a thread,
  and the updates that come meanwhile wait their turn: every task is
  launched once and reaches RUNNING."""
import base64
import json
import unittest

import harness

PREFIX = "/corral"
REQUESTS, INSTANCES = 100, 10


def b64(s):
    return base64.b64encode(s.encode()).decode()


def put_all(etcd, docs):
    """Puts {key: doc} straight into etcd, in txns of 128."""
    ops = [{"requestPut": {"key": b64(k), "value": b64(json.dumps(v))}} for k, v in docs.items()]
    for lo in range(0, len(ops), 128):
        st, _, body = harness.http("POST", etcd + "/v3/kv/txn", {"success": ops[lo:lo + 128]}, timeout=30)
        assert st == 200, body


def service(rid, instances, cpus):
    return {"%s/requests/%s" % (PREFIX, rid): {"id": rid, "requestType": "SERVICE", "instances": instances},
            "%s/deploys/%s/v1" % (PREFIX, rid): {"requestId": rid, "id": "v1", "command": "sleep 1000000",
                                                 "resources": {"cpus": cpus, "memoryMb": 16, "numPorts": 0}}}


def metric(api, name):
    body = harness.http("GET", api + "/metrics", timeout=30)[2].decode()
    total = None
    for line in body.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total = (total or 0) + float(line.split()[-1])
    return total


def all_running(c, n):
    """Whether exactly n task records are stored, each TASK_RUNNING."""
    recs = c.etcd_prefix_json(PREFIX + "/tasks/")
    return len(recs) == n and all(r.get("lastTaskState") == "TASK_RUNNING" for r in recs.values())


class BurstTest(harness.TestCase):
    def start(self, agents):
        """etcd, mesoslite --simulate with `agents` agents and a subscribed
        corrald: (cluster, etcd URL, API URL)."""
        c = self.cluster
        etcd = c.etcd()
        c.mesoslite(agents=agents, racks="r1,r2", args=["--simulate", "--allocation-interval", "0.2"])
        api = c.corrald()
        harness.wait_until(lambda: metric(api, "corral_mesos_subscribed") == 1, 30, "subscribed")
        return c, etcd, api

    def test_thousand_tasks_at_once(self):
        c, etcd, api = self.start(100)
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

        harness.wait_until(lambda: all_running(c, REQUESTS * INSTANCES), 180, "every task RUNNING",
                           interval=1.0)

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


    def test_queue_head_that_fits_nothing(self):
        # 1,000 offers: a cycle tries 250 + 50,000 / 1,000 tasks at most
        c, etcd, api = self.start(1000)
        huge, small = {}, {}
        for i in range(20):  # 40 cpus (the most a deploy may ask): no agent has them
            huge.update(service("huge%02d" % i, 20, 40))
        for i in range(5):
            small.update(service("small%d" % i, 20, 0.1))
        put_all(etcd, huge)
        harness.wait_until(lambda: len(c.etcd_prefix_json(PREFIX + "/pending/")) == 400, 60,
                           "the 400 pending tasks that fit nothing")
        put_all(etcd, small)  # due later: behind the 400 in the queue

        harness.wait_until(lambda: all_running(c, 100), 120, "the 100 tasks behind them RUNNING",
                           interval=1.0)
        self.assertTrue(all(k.startswith(PREFIX + "/tasks/small") for k in c.etcd_prefix_json(PREFIX + "/tasks/")))
        self.assertEqual(len(c.etcd_prefix_json(PREFIX + "/pending/")), 400)

    def test_big_events_decoded_off_the_loop(self):
        c, etcd, api = self.start(600)
        harness.wait_until(lambda: metric(api, "corral_mesos_events_offloaded_total") > 0, 30,
                           "an OFFERS event of 600 agents decoded off the loop")
        docs = {}
        for i in range(30):
            docs.update(service("big%02d" % i, 10, 0.1))
        put_all(etcd, docs)

        harness.wait_until(lambda: all_running(c, 300), 120, "the 300 tasks RUNNING", interval=1.0)
        self.assertEqual(metric(api, "corral_mesos_tasks_launched_total"), 300)
        tasks = harness.http_json("POST", c.mesos_url + "/api/v1", {"type": "GET_TASKS"})[1]
        ids = [t["task_id"]["value"] for t in tasks["get_tasks"]["tasks"]]
        self.assertEqual(len(ids), 300)
        self.assertEqual(len(set(ids)), 300)
        self.assertGreater(metric(api, "corral_mesos_events_offloaded_total"), 1)


if __name__ == "__main__":
    unittest.main()
