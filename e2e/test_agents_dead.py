"""Agents are known from the master (operator API GET_AGENTS), not from
offers: an idle cluster shows its agents, agents of a master that is gone
are marked DEAD (their documents kept), agents that come back are ACTIVE
again, and states an operator set (FROZEN, ...) are left alone while
listed; a lost agent is DEAD whatever its state (but DECOMMISSIONED) and
comes back in the state it had (docs/machines.md, "Agents lost").
"""
import base64
import json
import time

import harness

PREFIX = "/corral"
ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]


class T(harness.TestCase):

    def agents(self):
        """{agentId: document} from etcd."""
        return {k.rsplit("/", 1)[1]: v
                for k, v in self.cluster.etcd_prefix_json(PREFIX + "/agents/").items()}

    def states(self):
        return {a: (d.get("currentState") or {}).get("state") for a, d in self.agents().items()}

    def api_state(self):
        return harness.http_json("GET", self.api + "/api/state")[1]

    def wait_counts(self, active, dead, timeout=30):
        def ok():
            st = self.api_state()
            return st["activeAgents"] == active and st["deadAgents"] == dead and st
        return harness.wait_until(ok, timeout, "activeAgents %d, deadAgents %d (now %s)"
                                  % (active, dead, {k: v for k, v in self.api_state().items()
                                                    if k.endswith("Agents")}))

    def ml_agents(self):
        return harness.http_json("POST", self.cluster.mesos_url + "/api/v1",
                                 {"type": "GET_AGENTS"})[1]["get_agents"]

    def restart_mesoslite(self):
        """Stops mesoslite and starts a new one at the same address: a new
        master, new agent ids."""
        c = self.cluster
        old = [p for p in c.procs if p.name.startswith("mesoslite") and p.alive()][0]
        old.stop()
        c.spawn("mesoslite", old.argv)
        harness.wait_until(lambda: harness.http("GET", c.mesos_url + "/master/state",
                                                timeout=1)[0] == 200, 15, "mesoslite again")
        return {a["agent_info"]["id"]["value"] for a in self.ml_agents()["agents"]}

    def test_idle_cluster_and_master_restarts(self):
        c = self.cluster
        c.etcd()
        c.mesoslite(agents=3, racks="r1,r2,r3", args=ML_ARGS)
        self.api = c.corrald()
        # nothing pending: the bridge suppresses offers, yet knows the agents
        st = self.wait_counts(3, 0)
        self.assertEqual(st["activeRacks"], 3)
        first = set(self.agents())
        self.assertEqual(first, {a["agent_info"]["id"]["value"] for a in self.ml_agents()["agents"]})
        listed = harness.http_json("GET", self.api + "/api/agents")[1]
        self.assertEqual(sorted(a["currentState"]["state"] for a in listed), ["ACTIVE"] * 3)
        doc = self.agents()[sorted(first)[0]]
        self.assertEqual(doc["resources"]["cpus"], 4)
        self.assertTrue(doc["agentUrl"].startswith("http://127.0.0.1:"))

        before = int(time.time() * 1000)
        second = self.restart_mesoslite()
        self.wait_counts(3, 3)
        docs = self.agents()
        for a in first:
            self.assertEqual(docs[a]["currentState"]["state"], "DEAD")
            self.assertGreaterEqual(docs[a]["currentState"]["timestamp"], before)
            self.assertIn("rackId", docs[a])  # the document is kept
        for a in second:
            self.assertEqual(docs[a]["currentState"]["state"], "ACTIVE")
        dead = harness.http_json("GET", self.api + "/api/agents?state=DEAD")[1]
        self.assertEqual({a["id"] for a in dead}, first)

        self.restart_mesoslite()
        st = self.wait_counts(3, 6)
        self.assertEqual(st["activeRacks"], 3)  # same racks, new agents

    def test_lost_agent_comes_back_operator_states_kept(self):
        c = self.cluster
        c.etcd()
        c.mesoslite(agents=2, racks="r1,r2", faults=True, args=ML_ARGS)
        # the bridge alone: the test writes the pending task by hand
        self.api = c.corrald(args=["--no-controllers"])
        self.wait_counts(2, 0)
        a0, a1 = sorted(self.agents())
        # an operator froze a1 (the state lives in its document)
        doc = self.agents()[a1]
        doc["currentState"] = {"state": "FROZEN", "timestamp": int(time.time() * 1000),
                               "user": "ops"}
        c.etcdctl("put", PREFIX + "/agents/" + a1, json.dumps(doc))
        self.assertEqual(self.states()[a1], "FROZEN")

        # both agents lost (partitioned): both DEAD, a1's FROZEN kept in its history
        for a in (a0, a1):
            st, _, body = harness.http("POST", c.mesos_url + "/__ml/agents/%s/remove" % a, b"")
            self.assertEqual(st, 200, body)
        harness.wait_until(lambda: self.states()[a0] == self.states()[a1] == "DEAD", 30,
                           "lost agents DEAD (now %s)" % self.states())
        # (its first state, ACTIVE, came with the document the bridge made)
        self.assertEqual([(u["state"], u.get("user")) for u in self.agents()[a1]["stateHistory"]],
                         [("ACTIVE", None), ("FROZEN", "ops")])

        # they come back; work arrives, offers flow from a0: ACTIVE again
        for a in (a0, a1):
            st, _, body = harness.http("POST", c.mesos_url + "/__ml/agents/%s/restore" % a, b"")
            self.assertEqual(st, 200, body)
        c.etcdctl("put", PREFIX + "/requests/web",
                  json.dumps({"id": "web", "requestType": "ON_DEMAND", "instances": 1}))
        c.etcdctl("put", PREFIX + "/deploys/web/v1",
                  json.dumps({"requestId": "web", "id": "v1", "command": "sleep 600",
                              "resources": {"cpus": 0.1, "memoryMb": 16}}))
        now = int(time.time() * 1000)
        pid = "web-v1-%d-1-ONEOFF-%d" % (now, now)
        c.etcdctl("put", "%s/pending/web/%s" % (PREFIX, pid),
                  json.dumps({"pendingTaskId": pid, "user": "e2e"}))
        harness.wait_until(lambda: self.states()[a0] == "ACTIVE" and self.states()[a1] != "DEAD",
                           30, "agents back (now %s)" % self.states())
        self.assertEqual(self.states()[a1], "FROZEN")  # as it was, never ACTIVE
        # the task went to the ACTIVE agent, never the FROZEN one
        tasks = harness.wait_until(
            lambda: [t for t in c.etcd_prefix_json(PREFIX + "/tasks/web/").values()
                     if t["lastTaskState"] == "TASK_RUNNING"], 30, "task running")
        self.assertEqual(tasks[0]["agentId"], a0)

    def test_master_failover_keeps_agents(self):
        """After a master failover the agents are listed as recovered (plain
        AgentInfo, as Mesos does) until they re-register: not DEAD."""
        c = self.cluster
        c.etcd()
        c.mesoslite(agents=2, racks="r1,r2", faults=True, args=ML_ARGS)
        self.api = c.corrald(args=["--no-controllers"])
        self.wait_counts(2, 0)
        revs = {k: v["mod_revision"] for k, v in self.mod_revisions().items()}
        st, _, body = harness.http("POST", c.mesos_url + "/__ml/master/failover?reregister_ms=3000",
                                   b"")
        self.assertEqual(st, 200, body)
        rec = self.ml_agents()["recovered_agents"]
        self.assertEqual(len(rec), 2)
        for a in rec:
            self.assertNotIn("agent_info", a)
            self.assertEqual(set(a) - {"attributes", "resources"}, {"hostname", "port", "id"})
        # the bridge re-subscribes meanwhile, then the agents re-register
        harness.wait_until(lambda: not self.ml_agents().get("recovered_agents"), 15,
                           "agents re-registered")
        harness.wait_until(
            lambda: (c.etcd_get_json(PREFIX + "/status/framework") or {}).get("state")
            == "SUBSCRIBED", 15, "bridge subscribed again")
        self.assertEqual(set(self.states().values()), {"ACTIVE"})
        self.assertEqual({k: v["mod_revision"] for k, v in self.mod_revisions().items()}, revs)

    def mod_revisions(self):
        out = json.loads(self.cluster.etcdctl("get", PREFIX + "/agents/", "--prefix", "-w", "json"))
        return {base64.b64decode(kv["key"]).decode(): {"mod_revision": int(kv["mod_revision"])}
                for kv in out.get("kvs", [])}


if __name__ == "__main__":
    harness.main()
