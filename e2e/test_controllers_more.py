"""More of issue 6 end to end: placement (rack sensitivity, SEPARATE,
required attributes, resources), stepped deploys, a superseded deploy and
the loss of an agent. Real etcd, corrald and mesoslite running real
processes; intents are written with etcdctl (the documented interface) and
the tests read task records and the controllers' status documents
(docs/controllers.md, docs/mesosbridge.md).

Every agent gets its own port range (`--agent-resources 'A|B|...'`), so two
tasks never get the same port.
"""
from ctl_cases import LOST, ControllerCase
import harness


class T(ControllerCase):
    # -- tests ----------------------------------------------------------------

    def test_rack_sensitive_spreads_evenly_across_racks(self):
        # three agents on r1, one on r2: spreading by agent alone would put
        # three tasks on r1; rack sensitivity allows at most ceil(4/2) per rack
        self.start(agents=4, racks="r1,r1,r1,r2")
        self.request("rk", 4, rackSensitive=True)
        self.deploy("rk", "v1", health_uri=None)
        self.wait_ready("rk", "v1", 4)
        agents = self.agents()
        per_rack = {}
        for t in self.live("rk"):
            rack = agents[t["agentId"]]["rack"]
            self.assertEqual(t["taskId"]["rackId"], rack, t["taskId"])
            per_rack[rack] = per_rack.get(rack, 0) + 1
        self.assertEqual(per_rack, {"r1": 2, "r2": 2})

    def test_separate_uses_distinct_agents_and_leaves_the_extra_pending(self):
        self.start(agents=3)
        self.request("sep", 4, agentPlacement="SEPARATE")
        self.deploy("sep", "v1", health_uri=None)
        harness.wait_until(lambda: len(self.running("sep", "v1")) == 3, 30, "3 tasks running")
        self.wait_absent_while_probe_runs("probe")
        live = self.live("sep")
        self.assertEqual(len(live), 3, live)
        self.assertEqual(len({t["agentId"] for t in live}), 3, [t["agentId"] for t in live])
        self.assertEqual(sorted(t["taskId"]["instanceNo"] for t in live), [1, 2, 3])
        pend = self.pending("sep")
        self.assertEqual([p["pendingTaskId"]["instanceNo"] for p in pend], [4], pend)
        s = self.settled_status("sep", {"pending": 1, "running": 3})
        self.assertEqual(self.cond("sep", "Ready").get("status"), "False", s)

    def test_required_agent_attributes(self):
        self.start(agents=4, attributes="tier:gold|tier:bronze")
        self.request("gold", 4, requiredAgentAttributes={"tier": "gold"})
        self.deploy("gold", "v1", health_uri=None)
        self.wait_ready("gold", "v1", 4)
        agents = self.agents()
        self.assertEqual(sorted(a["tier"] for a in agents.values()),
                         ["bronze", "bronze", "gold", "gold"])
        used = [agents[t["agentId"]]["tier"] for t in self.live("gold")]
        self.assertEqual(used, ["gold"] * 4)

    def test_deploy_larger_than_any_agent_launches_nothing(self):
        self.start(agents=2, cpus=2)
        self.request("big", 1)
        self.deploy("big", "v1", health_uri=None, cpus=3)
        harness.wait_until(lambda: len(self.pending("big")) == 1, 30, "pending task written")
        self.wait_absent_while_probe_runs("probe")
        self.assertEqual(self.tasks("big"), [])
        self.assertEqual(len(self.pending("big")), 1)
        # the status follows its tasks within STATUS_COALESCE_MS
        harness.wait_until(lambda: self.status("big")["counts"]["pending"] == 1, 5,
                           "status counts the pending task")
        s = self.status("big")
        self.assertEqual(s["counts"]["running"], 0, s)
        self.assertEqual(self.cond("big", "Ready").get("status"), "False", s)
        self.assertEqual(self.deploy_status("big", "v1").get("state"), "WAITING")

    def test_stepped_deploy_advances_one_instance_at_a_time(self):
        self.start(agents=2)
        self.request("st", 3)
        self.deploy("st", "v1")
        self.wait_ready("st", "v1", 3)
        self.deploy("st", "v2", deployInstanceCountPerStep=1, autoAdvanceDeploySteps=True,
                    deployStepWaitTimeMs=0)
        seen = []  # (new running, old running), in the order observed

        def done():
            old, new = self.running_counts("st", "v1", "v2")
            if not seen or seen[-1] != (new, old):
                seen.append((new, old))
            return self.deploy_status("st", "v2").get("state") == "SUCCEEDED"
        harness.wait_until(done, 90, "v2 SUCCEEDED")
        news = [n for n, _ in seen]
        # one new task at a time: 1 then 2 then 3, never going back
        self.assertEqual(news, sorted(news), seen)
        self.assertTrue({1, 2, 3} <= set(news), seen)
        # a moment with exactly one new task while all the old ones still serve
        self.assertIn((1, 3), seen, seen)
        # never below capacity, and at most one step (1 task) of extra capacity
        self.assertTrue(all(3 <= n + o <= 4 for n, o in seen if n), seen)
        self.wait_ready("st", "v2", 3)
        harness.wait_until(lambda: self.running("st", "v1") == [], 30, "v1 tasks retired")

    def test_newer_deploy_supersedes_an_unfinished_one(self):
        self.start(agents=2)
        self.request("sup", 2)
        self.deploy("sup", "v1")
        self.wait_ready("sup", "v1", 2)
        # v2 never gets healthy: its check answers 404 (retried), long timeouts
        self.deploy("sup", "v2", health_uri="/missing", deployHealthTimeoutSeconds=300)
        harness.wait_until(lambda: len(self.running("sup", "v2")) == 2, 30, "v2 tasks running")
        self.deploy("sup", "v3")
        low = []

        def v3_active():
            old, new = self.running_counts("sup", "v1", "v3")
            if old < 2 and new < 2:
                low.append((old, new))
            return self.status("sup").get("activeDeployId") == "v3"
        harness.wait_until(v3_active, 60, "v3 active")
        self.assertEqual(low, [], "v1 dropped below 2 running tasks before v3 served")
        self.assertEqual(self.deploy_status("sup", "v2").get("state"), "SUPERSEDED")
        self.wait_ready("sup", "v3", 2)
        self.assertEqual(self.deploy_status("sup", "v3").get("state"), "SUCCEEDED")
        harness.wait_until(lambda: self.running("sup", "v2") == [] and
                           self.running("sup", "v1") == [], 30, "v1 and v2 tasks retired")

    def test_lost_agent_tasks_are_replaced_elsewhere(self):
        c = self.start(agents=3, faults=True)
        self.request("lost", 2, agentPlacement="SEPARATE")
        self.deploy("lost", "v1", health_uri=None)
        self.wait_ready("lost", "v1", 2)
        victim = [t for t in self.live("lost") if t["taskId"]["instanceNo"] == 1][0]
        vid, agent = victim["taskId"]["id"], victim["agentId"]
        st, _, body = harness.http("POST", c.mesos_url + "/__ml/agents/%s/remove" % agent, b"")
        self.assertEqual(st, 200, body)

        def lost_state():
            for t in self.tasks("lost") + self.history("lost"):
                if t["taskId"]["id"] == vid and t["lastTaskState"] in LOST:
                    return t["lastTaskState"]
            return None
        harness.wait_until(lost_state, 30, "lost task recorded")
        self.assertIn(lost_state(), ("TASK_UNREACHABLE", "TASK_LOST"))

        def replaced():
            live = self.live("lost")
            return (sorted(t["taskId"]["instanceNo"] for t in live) == [1, 2]
                    and vid not in [t["taskId"]["id"] for t in live])
        harness.wait_until(replaced, 60, "instance 1 replaced")
        self.wait_ready("lost", "v1", 2)
        for t in self.live("lost"):
            self.assertNotEqual(t["agentId"], agent, t["taskId"])


if __name__ == "__main__":
    harness.main()
