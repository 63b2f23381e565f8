"""The last issue-6 behaviours end to end: the placement strategies
SEPARATE_BY_REQUEST, SPREAD_ALL_AGENTS and OPTIMISTIC (docs/mesosbridge.md,
Placement), the wait between deploy steps (`deployStepWaitTimeMs`, checked on
recorded timestamps), manual steps advanced by an update intent, and the loss
of an agent during a rollout (docs/controllers.md, Deploy rule 5). Real etcd,
corrald and mesoslite running real processes; intents are written with
etcdctl (the documented interface).

Every agent gets its own port range (`--agent-resources 'A|B|...'`), so two
tasks never get the same port.
"""
import json
import random
import time

import harness

PREFIX = "/corral"
ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]
SERVER = "exec python3 -m http.server --bind 127.0.0.1 $PORT0"
LOST = ("TASK_LOST", "TASK_UNREACHABLE", "TASK_GONE", "TASK_DROPPED", "TASK_UNKNOWN",
        "TASK_GONE_BY_OPERATOR")


class T(harness.TestCase):

    # -- helpers ------------------------------------------------------------

    def start(self, agents, racks="r1,r2", cpus=8, attributes=None, faults=False):
        c = self.cluster
        c.etcd()
        base = random.randrange(20000, 30000 - 50 * agents, 50)
        res = "|".join("cpus:%s;mem:8192;disk:65536;ports:[%d-%d]"
                       % (cpus, base + 50 * i, base + 50 * i + 49) for i in range(agents))
        args = ML_ARGS + ["--agent-resources", res]
        if attributes:
            args += ["--agent-attributes", attributes]
        c.mesoslite(agents=agents, racks=racks, faults=faults, args=args)
        c.corrald()
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30,
                           "framework id stored")
        return c

    def put(self, key, obj):
        self.cluster.etcdctl("put", key, json.dumps(obj))

    def request(self, rid, instances, rtype="SERVICE", **extra):
        r = {"id": rid, "requestType": rtype, "instances": instances}
        r.update(extra)
        self.put("%s/requests/%s" % (PREFIX, rid), r)

    def deploy(self, rid, did, health_uri="/", cpus=0.05, **extra):
        d = {"requestId": rid, "id": did, "command": SERVER,
             "resources": {"cpus": cpus, "memoryMb": 16, "numPorts": 1},
             "deployHealthTimeoutSeconds": 60}
        if health_uri:
            d["healthcheck"] = {"uri": health_uri, "startupIntervalSeconds": 1,
                                "intervalSeconds": 1, "responseTimeoutSeconds": 2,
                                "startupTimeoutSeconds": 30}
        d.update(extra)
        self.put("%s/deploys/%s/%s" % (PREFIX, rid, did), d)

    def status(self, rid):
        return self.cluster.etcd_get_json("%s/status/requests/%s" % (PREFIX, rid)) or {}

    def deploy_status(self, rid, did):
        return self.cluster.etcd_get_json("%s/status/deploys/%s/%s" % (PREFIX, rid, did)) or {}

    def cond(self, rid, ctype):
        for c in self.status(rid).get("conditions", []):
            if c["type"] == ctype:
                return c
        return {}

    def tasks(self, rid):
        return list(self.cluster.etcd_prefix_json("%s/tasks/%s/" % (PREFIX, rid)).values())

    def history(self, rid):
        return list(self.cluster.etcd_prefix_json("%s/history/tasks/%s/" % (PREFIX, rid)).values())

    def pending(self, rid):
        return list(self.cluster.etcd_prefix_json("%s/pending/%s/" % (PREFIX, rid)).values())

    def live(self, rid, deploy=None):
        """Running task records without a kill intent."""
        cleanups = self.cluster.etcd_prefix_json(PREFIX + "/cleanups/")
        return [t for t in self.tasks(rid)
                if t["lastTaskState"] == "TASK_RUNNING"
                and (deploy is None or t["taskId"]["deployId"] == deploy)
                and "%s/cleanups/%s" % (PREFIX, t["taskId"]["id"]) not in cleanups]

    def running(self, rid, deploy=None):
        return sorted(t["taskId"]["instanceNo"] for t in self.live(rid, deploy))

    def running_counts(self, rid, *deploys):
        """Running tasks without a kill intent of each deploy, from one
        consistent read of the whole prefix (one etcd revision)."""
        kv = self.cluster.etcd_prefix_json(PREFIX + "/")
        counts = []
        for d in deploys:
            counts.append(sum(1 for k, t in kv.items()
                              if k.startswith("%s/tasks/%s/" % (PREFIX, rid))
                              and t["lastTaskState"] == "TASK_RUNNING"
                              and t["taskId"]["deployId"] == d
                              and "%s/cleanups/%s" % (PREFIX, t["taskId"]["id"]) not in kv))
        return counts

    def agents(self):
        """{agentId: {attribute: value}} from mesoslite's /master/state."""
        st = json.loads(harness.http("GET", self.cluster.mesos_url + "/master/state")[2])
        return {s["id"]: s.get("attributes", {}) for s in st["slaves"]}

    def wait_ready(self, rid, active, instances, timeout=60):
        def ok():
            s = self.status(rid)
            return (s.get("activeDeployId") == active
                    and self.cond(rid, "Ready").get("status") == "True"
                    and s["counts"]["healthy"] == instances
                    and len(self.running(rid, active)) == instances)
        try:
            harness.wait_until(ok, timeout, "%s ready on %s with %d" % (rid, active, instances))
        except AssertionError as e:
            raise AssertionError("%s; status now %s" % (e, self.status(rid))) from None

    def wait_absent_while_probe_runs(self, probe):
        """Proves the bridge had offers and placed tasks after the condition
        under test was set up: a fresh 1-instance request gets launched."""
        self.request(probe, 1)
        self.deploy(probe, "p1", health_uri=None)
        harness.wait_until(lambda: len(self.running(probe)) == 1, 30, "probe task running")

    def update_intent(self, rid, did, target):
        """The manual-step advance (docs/api.md: P/intents/deploys/<r>/<d>/update)."""
        self.put("%s/intents/deploys/%s/%s/update" % (PREFIX, rid, did),
                 {"requestId": rid, "deployId": did, "targetActiveInstances": target,
                  "user": "e2e", "timestamp": int(time.time() * 1000)})

    def per_agent(self, rid):
        counts = {}
        for t in self.live(rid):
            counts[t["agentId"]] = counts.get(t["agentId"], 0) + 1
        return counts

    # -- tests ----------------------------------------------------------------

    def test_separate_by_request_uses_distinct_agents_and_leaves_the_extra_pending(self):
        self.start(agents=2)
        self.request("sbr", 3, agentPlacement="SEPARATE_BY_REQUEST")
        self.deploy("sbr", "v1", health_uri=None)
        harness.wait_until(lambda: len(self.running("sbr", "v1")) == 2, 30, "2 tasks running")
        self.wait_absent_while_probe_runs("probe")
        live = self.live("sbr")
        self.assertEqual(len(live), 2, live)
        self.assertEqual(len({t["agentId"] for t in live}), 2, [t["agentId"] for t in live])
        self.assertEqual(sorted(t["taskId"]["instanceNo"] for t in live), [1, 2])
        pend = self.pending("sbr")
        self.assertEqual([p["pendingTaskId"]["instanceNo"] for p in pend], [3], pend)
        s = self.status("sbr")
        self.assertEqual(s["counts"]["pending"], 1, s)
        self.assertEqual(self.cond("sbr", "Ready").get("status"), "False", s)

    def test_spread_all_agents_puts_one_task_per_agent(self):
        # no two tasks of one request+deploy on an agent: a 4th instance on 3
        # agents stays pending (GREEDY would place it)
        self.start(agents=3)
        self.request("spr", 4, agentPlacement="SPREAD_ALL_AGENTS")
        self.deploy("spr", "v1", health_uri=None)
        harness.wait_until(lambda: len(self.running("spr", "v1")) == 3, 30, "3 tasks running")
        self.wait_absent_while_probe_runs("probe")
        per = self.per_agent("spr")
        self.assertEqual(sorted(per.values()), [1, 1, 1], per)
        self.assertEqual(set(per), set(self.agents()))
        self.assertEqual(self.running("spr"), [1, 2, 3])
        pend = self.pending("spr")
        self.assertEqual([p["pendingTaskId"]["instanceNo"] for p in pend], [4], pend)
        self.assertEqual(self.status("spr")["counts"]["pending"], 1)

    def test_optimistic_stays_within_the_documented_bound(self):
        self.start(agents=2)
        self.request("opt", 4, agentPlacement="OPTIMISTIC")
        self.deploy("opt", "v1", health_uri=None)
        self.wait_ready("opt", "v1", 4)
        per = self.per_agent("opt")
        self.assertEqual(sum(per.values()), 4, per)
        # average per host x (1 + pending x 0.09): 4 / 2 x (1 + 4 x 0.09) = 2.72,
        # so no agent may hold a 3rd task of the request
        bound = 4 / 2 * (1 + 4 * 0.09)
        self.assertTrue(all(n <= bound for n in per.values()), per)
        self.assertEqual(sorted(per.values()), [2, 2], per)
        # unlike SEPARATE, more tasks than agents all run
        self.assertEqual(self.running("opt", "v1"), [1, 2, 3, 4])

    def test_step_wait_separates_a_healthy_step_from_the_next_launch(self):
        wait_ms = 3000
        self.start(agents=2)
        self.request("sw", 3)
        self.deploy("sw", "v1")
        self.wait_ready("sw", "v1", 3)
        self.deploy("sw", "v2", deployInstanceCountPerStep=1, autoAdvanceDeploySteps=True,
                    deployStepWaitTimeMs=wait_ms)
        healthy_at = {}  # step -> stepHealthyAt recorded in the deploy status

        def done():
            ds = self.deploy_status("sw", "v2")
            if ds.get("stepHealthyAt") and ds.get("step"):
                healthy_at.setdefault(ds["step"], ds["stepHealthyAt"])
            return ds.get("state") == "SUCCEEDED"
        harness.wait_until(done, 90, "v2 SUCCEEDED")
        v2 = {}
        for t in self.tasks("sw") + self.history("sw"):
            if t["taskId"]["deployId"] == "v2":
                v2.setdefault(t["taskId"]["instanceNo"], []).append(t)
        self.assertEqual(sorted(v2), [1, 2, 3], v2.keys())

        def created(t):
            return t["pendingTask"]["pendingTaskId"]["createdAt"]

        def running_at(t):
            return min(u["timestamp"] for u in t["taskUpdates"]
                       if u["taskState"] == "TASK_RUNNING")
        for k in (1, 2):
            first_next = min(created(t) for t in v2[k + 1])
            # a step is healthy no sooner than its task runs
            ran = min(running_at(t) for t in v2[k])
            self.assertGreaterEqual(first_next - ran, wait_ms, (k, first_next, ran))
            self.assertIn(k, healthy_at, healthy_at)
            self.assertGreaterEqual(first_next - healthy_at[k], wait_ms,
                                    (k, first_next, healthy_at))
        self.wait_ready("sw", "v2", 3)

    def test_manual_steps_wait_for_the_update_intent(self):
        self.start(agents=2)
        self.request("man", 3)
        self.deploy("man", "v1")
        self.wait_ready("man", "v1", 3)
        self.deploy("man", "v2", deployInstanceCountPerStep=1, autoAdvanceDeploySteps=False)
        harness.wait_until(lambda: self.deploy_status("man", "v2").get("stepHealthyAt"), 60,
                           "step 1 of v2 healthy")
        self.wait_absent_while_probe_runs("probe")
        self.assertEqual(self.running_counts("man", "v1", "v2"), [3, 1])
        v2 = [t for t in self.tasks("man") if t["taskId"]["deployId"] == "v2"]
        self.assertEqual([t["taskId"]["instanceNo"] for t in v2], [1], v2)
        self.assertEqual([p for p in self.pending("man")
                          if p["pendingTaskId"]["deployId"] == "v2"], [])
        ds = self.deploy_status("man", "v2")
        self.assertEqual(ds.get("state"), "WAITING", ds)
        self.assertEqual(ds.get("step"), 1, ds)
        self.assertEqual(self.status("man").get("activeDeployId"), "v1")
        self.update_intent("man", "v2", 3)
        harness.wait_until(lambda: self.deploy_status("man", "v2").get("state") == "SUCCEEDED",
                           60, "v2 SUCCEEDED after the update intent")
        self.wait_ready("man", "v2", 3)
        harness.wait_until(lambda: self.running("man", "v1") == [], 30, "v1 tasks retired")

    def test_agent_lost_during_a_deploy_does_not_fail_it(self):
        c = self.start(agents=3, faults=True)
        self.request("al", 2)
        self.deploy("al", "v1")
        self.wait_ready("al", "v1", 2)
        # a manual step holds the rollout with one v2 task serving
        self.deploy("al", "v2", deployInstanceCountPerStep=1, autoAdvanceDeploySteps=False)
        harness.wait_until(lambda: self.deploy_status("al", "v2").get("stepHealthyAt"), 60,
                           "step 1 of v2 healthy")
        victim = self.live("al", "v2")[0]
        vid, agent = victim["taskId"]["id"], victim["agentId"]
        st, _, body = harness.http("POST", c.mesos_url + "/__ml/agents/%s/remove" % agent, b"")
        self.assertEqual(st, 200, body)

        def lost_state():
            for t in self.tasks("al") + self.history("al"):
                if t["taskId"]["id"] == vid and t["lastTaskState"] in LOST:
                    return t["lastTaskState"]
            return None
        harness.wait_until(lost_state, 30, "lost v2 task recorded")
        self.update_intent("al", "v2", 2)
        harness.wait_until(lambda: self.deploy_status("al", "v2").get("state") in
                           ("SUCCEEDED", "FAILED", "OVERDUE", "CANCELED"), 90, "v2 finished")
        ds = self.deploy_status("al", "v2")
        self.assertEqual(ds.get("state"), "SUCCEEDED", ds)
        self.wait_ready("al", "v2", 2)
        for t in self.live("al"):
            self.assertNotEqual(t["agentId"], agent, t["taskId"])


if __name__ == "__main__":
    harness.main()
