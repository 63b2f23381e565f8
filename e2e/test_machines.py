"""Machines (issue 18) through the real binaries: etcd, mesoslite (several
agents, two racks, real processes) and corrald with its machines
controller (docs/machines.md). Changes go through corralctl and the API;
the tests read the agent documents and task records from etcd and the
answers of /api/agents.

- decommission an agent running tasks of a 4-instance service with an HTTP
  health check: polled all along, the request never has fewer than 4
  healthy tasks; the agent ends DECOMMISSIONED with no tasks, gets no new
  ones, and is put in Mesos maintenance (DRAIN_AGENT);
- freeze and activate; an expiring freeze reverts on time, across a leader
  change; DELETE .../expiring makes one permanent;
- decommission a rack (one agent at a time): a rack-sensitive request moves
  onto the other rack without dropping below its count;
- a replacement that cannot be placed: the decommission waits and says why,
  until it is forced;
- an agent lost: DEAD, its tasks replaced, then forgotten;
- SPREAD_ALL_AGENTS follows an agent that registers and one that is lost.
"""
import base64
import json
import random
import time

import harness
from ctl_cases import ML_ARGS, PREFIX, ControllerCase


class T(ControllerCase):

    # ---- plumbing ---------------------------------------------------------------

    def boot(self, agents, racks="r1,r2", cpus=8, faults=False, corrald_args=(), replicas=1,
             attributes=None):
        """Like ControllerCase.start, with corrald flags and replicas."""
        c = self.cluster
        c.etcd()
        base = harness.free_port_range(50 * agents + 200)
        self.port_base = base + 50 * agents  # free ranges for agents added later
        res = "|".join("cpus:%s;mem:8192;disk:65536;ports:[%d-%d]"
                       % (cpus, base + 50 * i, base + 50 * i + 49) for i in range(agents))
        args = ML_ARGS + ["--agent-resources", res]
        if attributes:
            args += ["--agent-attributes", attributes]
        c.mesoslite(agents=agents, racks=racks, faults=faults, args=args)
        self.apis = [c.corrald(args=list(corrald_args), name="corrald-%d" % i)
                     for i in range(replicas)]
        self.api = self.apis[0]
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30,
                           "framework id stored")
        harness.wait_until(lambda: len(self.agent_docs()) == agents, 30, "agents known")
        return c

    def api_call(self, method, path, body=None, api=None):
        st, _, raw = harness.http(method, (api or self.api) + path, body)
        text = raw.decode()
        return st, (json.loads(text) if text.strip() else None)

    def agent_docs(self):
        return {k.rsplit("/", 1)[1]: v
                for k, v in self.cluster.etcd_prefix_json(PREFIX + "/agents/").items()}

    def state(self, aid, kind="agents"):
        d = self.cluster.etcd_get_json("%s/%s/%s" % (PREFIX, kind, aid)) or {}
        return (d.get("currentState") or {}).get("state", "ACTIVE")

    def wait_state(self, aid, want, timeout=60, kind="agents"):
        try:
            harness.wait_until(lambda: self.state(aid, kind) == want, timeout,
                               "%s %s %s" % (kind, aid, want))
        except AssertionError as e:
            raise AssertionError("%s; document now %s" % (
                e, self.cluster.etcd_get_json("%s/%s/%s" % (PREFIX, kind, aid)))) from None

    def on_agent(self, aid, rid=None):
        """Live (non-terminal) task records on agent aid."""
        kv = self.cluster.etcd_prefix_json(PREFIX + "/tasks/" + (rid + "/" if rid else ""))
        return [t for t in kv.values() if t.get("agentId") == aid
                and t["lastTaskState"] not in ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED",
                                               "TASK_LOST", "TASK_ERROR", "TASK_UNREACHABLE",
                                               "TASK_GONE", "TASK_DROPPED", "TASK_UNKNOWN")]

    def healthy_now(self, rid):
        """(running tasks without a kill intent, the controller's healthy
        count) from one consistent read of the prefix."""
        kv = self.cluster.etcd_prefix_json(PREFIX + "/")
        live = sum(1 for k, t in kv.items()
                   if k.startswith("%s/tasks/%s/" % (PREFIX, rid))
                   and t["lastTaskState"] == "TASK_RUNNING"
                   and "%s/cleanups/%s" % (PREFIX, t["taskId"]["id"]) not in kv)
        st = kv.get("%s/status/requests/%s" % (PREFIX, rid)) or {}
        return live, st.get("counts", {}).get("healthy", 0)

    def ctl(self, *args):
        return self.cluster.corralctl(*args, check=True).stdout

    def history(self, aid, kind="agents", noun="agent"):
        st, h = self.api_call("GET", "/api/%s/%s/%s" % (kind, noun, aid))
        self.assertEqual(st, 200, h)
        return h

    def busiest_agent(self, rid):
        per = self.per_agent(rid)
        return max(per, key=lambda a: (per[a], a))

    # ---- tests ------------------------------------------------------------------

    def test_decommission_keeps_capacity_then_drains(self):
        self.boot(agents=4)
        self.request("web", 4)
        self.deploy("web", "v1")
        self.wait_ready("web", "v1", 4)
        victim = self.busiest_agent("web")
        self.assertTrue(self.on_agent(victim, "web"))

        out = self.ctl("decommission", "agent", victim, "-m", "disk failing")
        self.assertIn("decommissioning", out)
        low = (4, 4)
        deadline = time.monotonic() + 120
        while True:
            live, healthy = self.healthy_now("web")
            low = (min(low[0], live), min(low[1], healthy))
            self.assertGreaterEqual(live, 4, "fewer than 4 running tasks during the decommission")
            self.assertGreaterEqual(healthy, 4, "fewer than 4 healthy tasks during the decommission")
            if self.state(victim) == "DECOMMISSIONED" and not self.on_agent(victim):
                break
            self.assertLess(time.monotonic(), deadline, "decommission did not finish: %s"
                            % self.agent_docs().get(victim))
            time.sleep(0.1)  # a poll period, not a synchronisation
        self.wait_ready("web", "v1", 4)
        self.assertEqual(self.on_agent(victim), [])
        self.assertNotIn(victim, self.per_agent("web"))

        hist = self.history(victim)
        states = [u["state"] for u in hist]
        self.assertEqual(states[:3], ["DECOMMISSIONED", "DECOMMISSIONING", "STARTING_DECOMMISSION"])
        self.assertEqual(hist[2]["message"], "disk failing")
        self.assertTrue(all(u["objectId"] == victim and u["timestamp"] > 0 for u in hist))
        st, details = self.api_call("GET", "/api/agents/agent/%s/details" % victim)
        self.assertEqual(details["currentState"]["state"], "DECOMMISSIONED")
        self.assertNotIn("progress", details)
        st, listed = self.api_call("GET", "/api/agents?state=DECOMMISSIONED")
        self.assertEqual([a["id"] for a in listed], [victim])
        st, _ = self.api_call("POST", "/api/agents/agent/%s/decommission" % victim)
        self.assertEqual(st, 409)

        # in Mesos maintenance: DRAIN_AGENT went to the master
        try:
            harness.wait_until(lambda: (self.agent_docs()[victim].get("mesosDrain") or {})
                               .get("state") == "DRAINED", 30, "mesosDrain DRAINED")
        except AssertionError:
            print("DOC", json.dumps(self.agent_docs()[victim], indent=1))
            raise
        ml = harness.http_json("POST", self.cluster.mesos_url + "/api/v1",
                               {"type": "GET_AGENTS"})[1]["get_agents"]["agents"]
        drained = [a for a in ml if a["agent_info"]["id"]["value"] == victim][0]
        self.assertEqual(drained["drain_info"]["state"], "DRAINED")
        self.assertTrue(drained["deactivated"])

        # no new task lands there: a probe request spreads over the others
        self.request("probe", 3, agentPlacement="SEPARATE")
        self.deploy("probe", "p1", health_uri=None)
        harness.wait_until(lambda: len(self.running("probe")) == 3, 60, "probe tasks running")
        self.assertNotIn(victim, self.per_agent("probe"))

        # activated: back in Mesos (REACTIVATE_AGENT) and ACTIVE
        self.ctl("activate", "agent", victim, "-m", "disk replaced")
        self.wait_state(victim, "ACTIVE")
        harness.wait_until(lambda: "mesosDrain" not in self.agent_docs()[victim], 30,
                           "maintenance record gone")
        ml = harness.http_json("POST", self.cluster.mesos_url + "/api/v1",
                               {"type": "GET_AGENTS"})[1]["get_agents"]["agents"]
        back = [a for a in ml if a["agent_info"]["id"]["value"] == victim][0]
        self.assertFalse(back["deactivated"])
        self.assertNotIn("drain_info", back)

    def test_freeze_activate_and_expiring_freeze_across_failover(self):
        self.boot(agents=3, replicas=2)
        a = sorted(self.agent_docs())
        self.ctl("freeze", "agent", a[0], "-m", "investigating")
        self.wait_state(a[0], "FROZEN")
        st, listed = self.api_call("GET", "/api/agents?state=FROZEN")
        self.assertEqual([x["id"] for x in listed], [a[0]])
        self.request("web", 4)
        self.deploy("web", "v1", health_uri=None)
        self.wait_ready("web", "v1", 4)
        self.assertNotIn(a[0], self.per_agent("web"))  # frozen: no new task
        st, body = self.api_call("POST", "/api/agents/agent/%s/freeze" % a[0])
        self.assertEqual(st, 409, body)

        self.ctl("activate", "agent", a[0])
        self.wait_state(a[0], "ACTIVE")
        self.assertEqual([u["state"] for u in self.history(a[0])][:2], ["ACTIVE", "FROZEN"])

        # DELETE .../expiring: the freeze stays
        self.ctl("freeze", "agent", a[1], "--duration", "10m")
        self.wait_state(a[1], "FROZEN")
        st, exp = self.api_call("GET", "/api/agents/expiring")
        self.assertEqual([(x["machineId"], x["revertToState"]) for x in exp], [(a[1], "ACTIVE")])
        self.assertEqual(exp[0]["expiringAPIRequestObject"]["durationMillis"], 600000)
        st, _ = self.api_call("DELETE", "/api/agents/agent/%s/expiring" % a[1])
        self.assertEqual(st, 204)
        self.assertEqual(self.api_call("GET", "/api/slaves/expiring")[1], [])
        self.assertEqual(self.state(a[1]), "FROZEN")

        # an expiring freeze reverts on time, after the leader changed
        self.ctl("freeze", "agent", a[2], "--duration", "6s", "-m", "short")
        self.wait_state(a[2], "FROZEN")
        leader = self.cluster.etcd_get_json(PREFIX + "/leader")["address"]
        old = [p for p in self.cluster.procs if getattr(p, "url", "").endswith(leader)][0]
        old.stop()
        harness.wait_until(lambda: self.cluster.etcd_get_json(PREFIX + "/leader")
                           and self.cluster.etcd_get_json(PREFIX + "/leader")["address"] != leader,
                           30, "another leader")
        self.wait_state(a[2], "ACTIVE", timeout=60)
        doc = self.agent_docs()[a[2]]
        intent = self.cluster.etcd_get_json("%s/intents/agents/%s" % (PREFIX, a[2]))
        self.assertEqual(doc["currentState"].get("cause"), "expired")
        self.assertGreaterEqual(doc["currentState"]["timestamp"], intent["timestamp"] + 6000)
        self.assertEqual(self.state(a[1]), "FROZEN")

    def test_rack_decommission_one_agent_at_a_time(self):
        # agents 0 and 2 in r1, 1 and 3 in r2
        self.boot(agents=4, corrald_args=["--max-decommissioning-agents", "1"])
        docs = self.agent_docs()
        r1 = sorted(a for a, d in docs.items() if d["rackId"] == "r1")
        self.assertEqual(len(r1), 2)
        # both r1 agents run a task: "sep" deploys while r2 is frozen
        self.ctl("freeze", "rack", "r2")
        self.wait_state("r2", "FROZEN", kind="racks")
        self.request("sep", 2, agentPlacement="SEPARATE")
        self.deploy("sep", "s1", health_uri=None)
        self.wait_ready("sep", "s1", 2)
        self.assertEqual(sorted(self.per_agent("sep")), r1)
        self.ctl("activate", "rack", "r2")
        self.wait_state("r2", "ACTIVE", kind="racks")
        self.request("rk", 2, rackSensitive=True)
        self.deploy("rk", "v1")
        self.wait_ready("rk", "v1", 2)

        self.ctl("decommission", "rack", "r1", "-m", "power work")
        deadline = time.monotonic() + 150
        seen = set()
        waited = False  # the other agent seen waiting for its turn
        while True:
            live, healthy = self.healthy_now("rk")
            self.assertGreaterEqual(live, 2)
            self.assertGreaterEqual(healthy, 2)
            docs = self.agent_docs()
            states = {a: (docs[a].get("currentState") or {}).get("state") for a in r1}
            moving = [a for a, s in states.items() if s == "DECOMMISSIONING"]
            self.assertLessEqual(len(moving), 1, states)
            if moving:
                other = [a for a in r1 if a != moving[0]][0]
                if states[other] == "STARTING_DECOMMISSION":
                    waited |= (docs[other].get("progress") or {}).get("reason") == \
                        "WaitingForAdmission"
            seen.update(states.values())
            if (self.state("r1", "racks") == "DECOMMISSIONED"
                    and all(s == "DECOMMISSIONED" for s in states.values())):
                break
            self.assertLess(time.monotonic(), deadline, "rack decommission did not finish: %s %s"
                            % (states, self.cluster.etcd_get_json(PREFIX + "/racks/r1")))
            time.sleep(0.1)
        self.assertIn("DECOMMISSIONING", seen)
        self.assertTrue(waited, "the second agent never showed WaitingForAdmission")
        # one at a time: the second was admitted once the first was done
        hist = {a: {u["state"]: u["timestamp"] for u in self.agent_docs()[a]["stateHistory"]}
                for a in r1}
        first, second = sorted(r1, key=lambda a: hist[a]["DECOMMISSIONING"])
        self.assertGreaterEqual(hist[second]["DECOMMISSIONING"], hist[first]["DECOMMISSIONED"],
                                hist)
        self.wait_ready("rk", "v1", 2)
        self.wait_ready("sep", "s1", 2)
        self.assertFalse(set(self.per_agent("sep")) & set(r1))
        for t in self.live("rk"):
            self.assertEqual(t["taskId"]["rackId"], "r2", t["taskId"])
        hist = self.history("r1", "racks", "rack")
        self.assertEqual([u["state"] for u in hist][:3],
                         ["DECOMMISSIONED", "DECOMMISSIONING", "STARTING_DECOMMISSION"])
        agent_hist = self.history(r1[0])
        self.assertIn("rack r1 is decommissioning: power work",
                      [u.get("message") for u in agent_hist])
        # the rack back: its agents with it
        self.ctl("activate", "rack", "r1")
        self.wait_state("r1", "ACTIVE", kind="racks")
        for a in r1:
            self.wait_state(a, "ACTIVE")

    def test_replacement_that_cannot_be_placed_waits_until_forced(self):
        self.boot(agents=2)
        a = sorted(self.agent_docs())
        self.request("sep", 2, agentPlacement="SEPARATE")
        self.deploy("sep", "v1", health_uri=None)
        self.wait_ready("sep", "v1", 2)
        victim = a[0]
        self.ctl("decommission", "agent", victim)

        def says_why():
            p = self.agent_docs()[victim].get("progress") or {}
            return p.get("reason") == "CannotPlaceReplacements" and p
        p = harness.wait_until(says_why, 60, "the agent says its replacement cannot be placed")
        self.assertRegex(p["message"], "AGENT_ALREADY_USED|AGENT_NOT_ACTIVE")
        self.assertEqual(self.state(victim), "DECOMMISSIONING")
        self.assertEqual(len(self.live("sep")), 2)  # nothing killed
        st, listed = self.api_call("GET", "/api/agents")
        shown = [x for x in listed if x["id"] == victim][0]
        self.assertEqual(shown["progress"]["reason"], "CannotPlaceReplacements")
        out = self.cluster.corralctl("get", "agents", "-o", "wide", check=True).stdout
        self.assertIn("cannot be placed", out)

        self.ctl("decommission", "agent", victim, "--force", "-m", "now")
        self.wait_state(victim, "DECOMMISSIONED", timeout=60)
        self.assertEqual(self.on_agent(victim), [])
        self.assertEqual(len(self.live("sep")), 1)  # the capacity forcing gave up
        self.assertEqual(len(self.pending("sep")), 1)

    def test_agent_lost_is_dead_its_tasks_replaced_then_forgotten(self):
        self.boot(agents=3, faults=True)
        self.request("web", 3)
        self.deploy("web", "v1", health_uri=None)
        self.wait_ready("web", "v1", 3)
        lost = self.busiest_agent("web")
        st, _, body = harness.http("POST", self.cluster.mesos_url + "/__ml/agents/%s/remove" % lost,
                                   b"")
        self.assertEqual(st, 200, body)
        self.wait_state(lost, "DEAD")
        harness.wait_until(lambda: len(self.running("web", "v1")) == 3
                           and lost not in self.per_agent("web"), 60,
                           "tasks replaced on the other agents")
        st, body = self.api_call("POST", "/api/agents/agent/%s/freeze" % lost)
        self.assertEqual(st, 409, body)
        self.assertIn("DEAD", [u["state"] for u in self.history(lost)])
        st, body = self.api_call("DELETE", "/api/agents/dead")
        self.assertEqual((st, body), (200, {"deleted": [lost], "remaining": 0}))
        harness.wait_until(lambda: lost not in self.agent_docs(), 10, "forgotten")
        st, _ = self.api_call("GET", "/api/agents/agent/%s" % lost)
        self.assertEqual(st, 404)

    def test_agent_lost_mid_decommission_is_dead_and_frees_its_turn(self):
        # two agents, one decommission at a time; "sep" (SEPARATE) has nowhere
        # to move, so the first decommission is still under way when its agent
        # is lost
        self.boot(agents=2, faults=True, corrald_args=["--max-decommissioning-agents", "1"])
        a = sorted(self.agent_docs())
        self.request("sep", 2, agentPlacement="SEPARATE")
        self.deploy("sep", "v1", health_uri=None)
        self.wait_ready("sep", "v1", 2)
        self.ctl("decommission", "agent", a[0])
        self.wait_state(a[0], "DECOMMISSIONING")
        self.ctl("decommission", "agent", a[1])
        harness.wait_until(lambda: (self.agent_docs()[a[1]].get("progress") or {})
                           .get("reason") == "WaitingForAdmission", 30, "the second one waits")

        st, _, body = harness.http("POST", self.cluster.mesos_url + "/__ml/agents/%s/remove" % a[0],
                                   b"")
        self.assertEqual(st, 200, body)
        self.wait_state(a[0], "DEAD")
        self.wait_state(a[1], "DECOMMISSIONING")  # the lost agent's turn is free
        doc = self.agent_docs()[a[0]]
        self.assertNotIn("progress", doc)
        self.assertEqual([u["state"] for u in doc["stateHistory"]][-2:],
                         ["DECOMMISSIONING", "DEAD"])
        self.assertEqual(self.cluster.etcd_get_json("%s/intents/agents/%s" % (PREFIX, a[0]))
                         ["state"], "STARTING_DECOMMISSION")  # kept, should it come back
        st, body = self.api_call("DELETE", "/api/agents/dead")
        self.assertEqual((st, body), (200, {"deleted": [a[0]], "remaining": 0}))
        harness.wait_until(lambda: a[0] not in self.agent_docs(), 10, "forgotten")
        self.assertIsNone(self.cluster.etcd_get_json("%s/intents/agents/%s" % (PREFIX, a[0])))

    def test_spread_all_agents_follows_agents(self):
        self.boot(agents=3, faults=True)
        self.request("everywhere", 1, agentPlacement="SPREAD_ALL_AGENTS")
        self.deploy("everywhere", "v1", health_uri=None)

        def one_each(n):
            per = self.per_agent("everywhere")
            return (len(per) == n and set(per.values()) == {1}
                    and self.status("everywhere").get("counts", {}).get("instances") == n and per)
        harness.wait_until(lambda: one_each(3), 60, "one task on each of 3 agents")

        # an agent registers
        res = "cpus:8;mem:8192;disk:65536;ports:[%d-%d]" % (self.port_base, self.port_base + 49)
        st, _, body = harness.http(
            "POST", self.cluster.mesos_url + "/__ml/agents/add?rack=r1&resources=" +
            res.replace(";", "%3B").replace("[", "%5B").replace("]", "%5D"), b"")
        self.assertEqual(st, 200, body)
        added = json.loads(body)["agent_id"]
        harness.wait_until(lambda: added in self.agent_docs(), 120,
                           "the new agent known (GET_AGENTS every 60 s)")
        per = harness.wait_until(lambda: one_each(4), 60, "one task on each of 4 agents")
        self.assertIn(added, per)

        # an agent is lost
        lost = sorted(per)[0]
        st, _, body = harness.http("POST", self.cluster.mesos_url + "/__ml/agents/%s/remove" % lost,
                                   b"")
        self.assertEqual(st, 200, body)
        self.wait_state(lost, "DEAD")
        per = harness.wait_until(lambda: one_each(3), 60, "one task on each of 3 agents")
        self.assertNotIn(lost, per)


class TestMachinesApi(harness.TestCase):
    """The machine endpoints' answers, against a corrald that never leads
    (--api-only: the documents stay as the test writes them)."""

    def setUp(self):
        super().setUp()
        self.addCleanup(self.cluster.close, True)
        self.cluster.etcd()
        self.api = self.cluster.corrald(args=["--api-only"])
        self.cluster.etcdctl("put", PREFIX + "/agents/a1",
                             json.dumps({"id": "a1", "host": "h1", "rackId": "r1",
                                         "currentState": {"state": "ACTIVE", "timestamp": 1}}))
        self.cluster.etcdctl("put", PREFIX + "/agents/a2",
                             json.dumps({"id": "a2", "host": "h2", "rackId": "r1",
                                         "currentState": {"state": "DEAD", "timestamp": 2},
                                         "stateHistory": [{"state": "ACTIVE", "timestamp": 1},
                                                          {"state": "DEAD", "timestamp": 2}]}))
        self.cluster.etcdctl("put", PREFIX + "/racks/r1", json.dumps({"id": "r1"}))
        harness.wait_until(lambda: self.call("GET", "/api/agents/agent/a2")[0] == 200, 10,
                           "corrald sees the agents")

    def call(self, method, path, body=None):
        st, _, raw = harness.http(method, self.api + path, body)
        text = raw.decode()
        return st, (json.loads(text) if text.strip() else None)

    def test_endpoints(self):
        # history newest first, with objectId; details without it
        st, hist = self.call("GET", "/api/slaves/slave/a2")
        self.assertEqual([(u["objectId"], u["state"]) for u in hist],
                         [("a2", "DEAD"), ("a2", "ACTIVE")])
        st, d = self.call("GET", "/api/agents/agent/a2/details")
        self.assertEqual((st, d["currentState"]["state"]), (200, "DEAD"))
        self.assertNotIn("stateHistory", d)
        self.assertEqual(self.call("GET", "/api/agents/agent/zz/details")[0], 404)

        # bodies checked
        for body, needle in (({"revertToState": "DEAD", "durationMillis": 5}, "revertToState"),
                             ({"durationMillis": 0}, "durationMillis"),
                             ({"force": True}, "only a decommission")):
            st, e = self.call("POST", "/api/agents/agent/a1/freeze", body)
            self.assertEqual(st, 400, e)
            self.assertIn(needle, e["message"])
        self.assertEqual(self.call("POST", "/api/agents/agent/a2/decommission")[0], 409)  # DEAD

        # expiring: one at a time, listed, made permanent, updated
        st, _ = self.call("POST", "/api/agents/agent/a1/decommission",
                          {"durationMillis": 600000, "revertToState": "DECOMMISSIONED",
                           "killTasksOnDecommissionTimeout": True, "message": "m"})
        self.assertEqual(st, 204)
        intent = self.cluster.etcd_get_json(PREFIX + "/intents/agents/a1")
        self.assertEqual((intent["state"], intent["revertToState"]),
                         ("STARTING_DECOMMISSION", "DECOMMISSIONED"))
        st, h = self.call("GET", "/api/agents/agent/a1")
        self.assertEqual((h[0]["state"], h[0]["pending"]), ("STARTING_DECOMMISSION", True))
        st, exp = self.call("GET", "/api/agents/expiring")
        self.assertEqual([(x["machineId"], x["killTasksOnDecommissionTimeout"]) for x in exp],
                         [("a1", True)])
        st, e = self.call("POST", "/api/agents/agent/a1/decommission",
                          {"durationMillis": 1000, "force": True})
        self.assertEqual(st, 204, e)  # forcing the one under way
        self.assertTrue(self.cluster.etcd_get_json(PREFIX + "/intents/agents/a1")["force"])
        st, _ = self.call("POST", "/api/agents/agent/a1/decommission/extend",
                          {"durationMillis": 900000})  # Singularity's extendDecommissionAgent
        self.assertEqual(st, 204)
        self.assertEqual(self.call("GET", "/api/agents/expiring")[1][0]
                         ["expiringAPIRequestObject"]["durationMillis"], 900000)
        st, _ = self.call("POST", "/api/agents/agent/a1/decommission/update",
                          {"durationMillis": 950000})  # the name 0.2.0 shipped
        self.assertEqual(st, 204)
        self.assertEqual(self.call("GET", "/api/agents/expiring")[1][0]
                         ["expiringAPIRequestObject"]["durationMillis"], 950000)
        self.assertEqual(self.call("DELETE", "/api/agents/agent/a1/expiring")[0], 204)
        self.assertEqual(self.call("DELETE", "/api/agents/agent/a1/expiring")[0], 404)
        self.assertEqual(self.call("POST", "/api/agents/agent/a1/decommission/extend", {})[0], 404)
        self.assertNotIn("durationMillis",
                         self.cluster.etcd_get_json(PREFIX + "/intents/agents/a1"))

        # forgetting: only DEAD or DECOMMISSIONED
        self.assertEqual(self.call("DELETE", "/api/agents/agent/a1")[0], 409)
        self.assertEqual(self.call("DELETE", "/api/racks/rack/r1")[0], 409)
        self.assertEqual(self.call("DELETE", "/api/agents/agent/a2")[0], 204)
        self.assertIsNone(self.cluster.etcd_get_json(PREFIX + "/agents/a2"))
        self.assertEqual(self.call("DELETE", "/api/slaves/dead"),
                         (200, {"deleted": [], "remaining": 0}))

        # racks
        self.assertEqual(self.call("POST", "/api/racks/rack/r1/freeze",
                                   {"durationMillis": 60000})[0], 204)
        self.assertEqual([x["machineId"] for x in self.call("GET", "/api/racks/expiring")[1]],
                         ["r1"])
        self.assertEqual(self.call("DELETE", "/api/racks/rack/r1/expiring")[0], 204)

        # inactive hosts
        self.assertEqual(self.call("POST", "/api/inactive")[0], 400)
        self.assertEqual(self.call("POST", "/api/inactive?host=h9")[0], 204)
        self.assertEqual(self.call("POST", "/api/inactive?host=h8")[0], 204)
        first = self.cluster.etcd_get_json(PREFIX + "/inactive/h9")
        self.assertEqual(self.call("POST", "/api/inactive?host=h9")[0], 204)
        self.assertEqual(self.cluster.etcd_get_json(PREFIX + "/inactive/h9"), first)
        self.assertEqual(self.call("GET", "/api/inactive"), (200, ["h8", "h9"]))
        self.assertEqual(self.call("DELETE", "/api/inactive?host=h9")[0], 204)
        self.assertEqual(self.call("DELETE", "/api/inactive?host=h9")[0], 404)
        self.assertEqual(self.call("DELETE", "/api/inactive/all")[0], 204)
        self.assertEqual(self.call("GET", "/api/inactive"), (200, []))

    def test_dead_agents_forgotten_in_batches(self):
        # 70 DEAD agents with intents: 3 etcd ops each, more than one txn holds
        ids = ["d%02d" % i for i in range(70)]
        for i in ids:
            for key, doc in ((PREFIX + "/agents/" + i,
                              {"id": i, "host": "h" + i, "observedIntent": 1,
                               "currentState": {"state": "DEAD", "timestamp": 2}}),
                             (PREFIX + "/intents/agents/" + i,
                              {"state": "STARTING_DECOMMISSION", "timestamp": 1})):
                st, _, body = harness.http(
                    "POST", self.cluster.etcd_url + "/v3/kv/put",
                    {"key": base64.b64encode(key.encode()).decode(),
                     "value": base64.b64encode(json.dumps(doc).encode()).decode()})
                self.assertEqual(st, 200, body)
        harness.wait_until(lambda: len(self.call("GET", "/api/agents?state=DEAD")[1]) == 71, 10,
                           "corrald sees the DEAD agents")
        st, body = self.call("DELETE", "/api/agents/dead")
        self.assertEqual(st, 200, body)
        deleted = body["deleted"]
        self.assertEqual((len(deleted), body["remaining"]), (60, 11))  # 1 + 59 * 2 ops of 120
        harness.wait_until(lambda: len(self.call("GET", "/api/agents?state=DEAD")[1]) == 11, 10,
                           "the first batch gone")
        st, body = self.call("DELETE", "/api/agents/dead")
        self.assertEqual((st, len(body["deleted"]), body["remaining"]), (200, 11, 0), body)
        deleted += body["deleted"]
        self.assertEqual(sorted(deleted), sorted(ids + ["a2"]))
        self.assertEqual(self.cluster.etcd_prefix_json(PREFIX + "/intents/agents/"), {})
        self.assertEqual(sorted(self.cluster.etcd_prefix_json(PREFIX + "/agents/")),
                         [PREFIX + "/agents/a1"])


if __name__ == "__main__":
    harness.main()
