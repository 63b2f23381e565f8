"""mesoslite's fault injection (/__ml/..., only with --faults): agent loss and
return, lost and delayed updates, a broken scheduler stream, master
failover, a task exiting with a given code."""

import json
import unittest

import harness
from test_mesoslite import MesosliteCase, Scheduler, fw_info, load_transcript, post, task


class FaultsTest(MesosliteCase):
    agents = 2
    faults = True
    extra = ["--allocation-interval", "0.1", "--update-retry-interval", "0.3",
             "--heartbeat-interval", "0.5"]

    def fault(self, path, **q):
        qs = "&".join("%s=%s" % kv for kv in q.items())
        code, body = harness.http_json("POST", self.master + "/__ml/" + path + ("?" + qs if qs else ""), b"")
        self.assertEqual(code, 200, body)
        return body

    def running(self, s, o, tid, cmd="sleep 60"):
        s.launch(o, [task(o, tid, cmd)], filters={"refuse_seconds": 0})
        for state in ("TASK_STARTING", "TASK_RUNNING"):
            st = s.stream.update(tid, state)
            s.ack(st)
        return st

    def test_agent_loss_partition_aware(self):
        tr = load_transcript("failover-agent-loss.json")
        s = self.sched()
        o = s.offers(n=2)[0]
        self.running(s, o, "long")
        agent = o["agent_id"]["value"]
        # The agent's unused resources come back as a new offer...
        again = s.stream.next(10, ("OFFERS",), lambda e: any(
            x["agent_id"]["value"] == agent for x in e["offers"]["offers"]))
        oid = [x["id"] for x in again["offers"]["offers"] if x["agent_id"]["value"] == agent][0]
        self.fault("agents/%s/remove" % agent)
        # ...which is rescinded when the agent goes away.
        self.assertEqual(s.stream.next(10, ("RESCIND",)), {"type": "RESCIND", "rescind": {"offer_id": oid}})
        st = s.stream.update("long", "TASK_UNREACHABLE")
        want = tr["b_events_after_agent_kill"][1]["update"]["status"]
        self.assertEqual(list(st.keys()), list(want.keys()))
        for k in ("state", "message", "source", "reason"):
            self.assertEqual(st[k], want[k])
        self.assertGreater(st["unreachable_time"]["nanoseconds"], 2 ** 53)
        f = s.stream.next(10, ("FAILURE",))
        self.assertEqual(f, {"type": "FAILURE", "failure": {"agent_id": {"value": agent}}})
        # Reconcile by id alone: TASK_UNKNOWN (transcript); with the agent: UNREACHABLE.
        s.call("RECONCILE", {"tasks": [{"task_id": {"value": "long"}}]})
        rec = s.stream.update("long")
        self.assertEqual(list(rec.keys()), list(tr["reconcile_unreachable"]["update"]["status"].keys()))
        self.assertEqual(rec["state"], "TASK_UNKNOWN")
        s.call("RECONCILE", {"tasks": [{"task_id": {"value": "long"}, "agent_id": {"value": agent}}]})
        self.assertEqual(s.stream.update("long")["state"], "TASK_UNREACHABLE")
        st = json.loads(harness.http("GET", self.master + "/master/state")[2])
        self.assertEqual([a["id"] for a in st["unreachable_slaves"]], [agent])
        # Restore: the task is RUNNING again.
        self.fault("agents/%s/restore" % agent)
        back = s.stream.update("long", "TASK_RUNNING")
        self.assertEqual(back["reason"], "REASON_AGENT_REREGISTERED")
        s.call("RECONCILE", {})
        self.assertEqual(s.stream.update("long")["state"], "TASK_RUNNING")

    def test_agent_loss_not_partition_aware(self):
        s = self.sched(info=fw_info(caps=()))
        o = s.offers(n=2)[0]
        self.running(s, o, "long")
        self.fault("agents/0/remove" if o["agent_id"]["value"].endswith("-S0") else "agents/1/remove")
        st = s.stream.update("long")
        self.assertEqual((st["state"], st["reason"]), ("TASK_LOST", "REASON_AGENT_REMOVED"))
        self.assertNotIn("uuid", st)

    def test_dropped_update_is_resent(self):
        s = self.sched()
        o = s.offers()[0]
        self.fault("updates/drop", count=1)
        s.launch(o, [task(o, "t", "sleep 60")])
        st = s.stream.update("t", "TASK_STARTING", timeout=10)   # the retry
        s.ack(st)
        s.ack(s.stream.update("t", "TASK_RUNNING"))
        state = harness.http_json("GET", self.master + "/__ml/state")[1]
        self.assertEqual(state["drop_updates"], 0)

    def test_delayed_updates(self):
        s = self.sched()
        o = s.offers()[0]
        self.fault("updates/delay", ms=200)
        s.launch(o, [task(o, "t", "true")])
        s.ack(s.stream.update("t", "TASK_STARTING"))
        self.fault("updates/delay", ms=0)
        s.ack(s.stream.update("t", "TASK_RUNNING"))
        self.assertEqual(s.stream.update("t")["state"], "TASK_FINISHED")

    def test_break_stream(self):
        a = self.sched()
        self.fault("frameworks/%s/break-stream" % a.fid)
        a.stream.wait_closed()
        self.assertFalse([e for e in a.stream.seen if e["type"] == "ERROR"])
        code, _, body = a.call("REVIVE")
        self.assertEqual((code, body), (403, "Framework is not subscribed"))
        b = self.sched(info=fw_info(fid=a.fid), fid=a.fid)
        self.assertEqual(b.subscribed["type"], "SUBSCRIBED")
        b.offers()

    def test_master_failover(self):
        a = self.sched()
        o = a.offers(n=2)[0]
        self.running(a, o, "survivor")
        self.fault("master/failover", reregister_ms=800)
        a.stream.wait_closed()
        b = self.sched(info=fw_info(fid=a.fid), fid=a.fid)
        self.assertNotEqual(b.subscribed["subscribed"]["master_info"]["id"],
                            a.subscribed["subscribed"]["master_info"]["id"])
        self.assertEqual(b.fid, a.fid)
        # Until the agent re-registers the master stays silent, so reconcile
        # with retries, as the sheet's algorithm does.
        agents = harness.http_json("POST", self.master + "/api/v1", {"type": "GET_AGENTS"})[1]
        self.assertEqual(len(agents["get_agents"]["recovered_agents"]), 2)

        def answer():
            b.call("RECONCILE", {"tasks": [{"task_id": {"value": "survivor"}}]})
            try:
                return b.stream.update("survivor", timeout=0.3)
            except AssertionError:
                return None
        st = harness.wait_until(answer, 10, "reconciliation answer after re-registration")
        self.assertEqual((st["state"], st["reason"]), ("TASK_RUNNING", "REASON_RECONCILIATION"))
        b.offers()

    def test_master_restart_registry_lost(self):
        tr = load_transcript("launch-reconcile-kill-files.json")
        a = self.sched()
        o = a.offers(n=2)[0]
        self.running(a, o, "survivor")
        agent = o["agent_id"]["value"]
        self.fault("master/restart", reregister_ms=1500)
        a.stream.wait_closed()
        b = self.sched(info=fw_info(fid=a.fid), fid=a.fid)
        # the new master knows no agent: listed nowhere, and the task is
        # TASK_UNKNOWN (the shape of the recorded unknown-task answer)
        agents = harness.http_json("POST", self.master + "/api/v1", {"type": "GET_AGENTS"})[1]
        self.assertEqual((agents["get_agents"].get("agents", []),
                          agents["get_agents"].get("recovered_agents", [])), ([], []))
        b.call("RECONCILE", {"tasks": [{"task_id": {"value": "survivor"},
                                        "agent_id": {"value": agent}}]})
        st = b.stream.update("survivor")
        self.assertEqual((st["state"], st["reason"], st["source"]),
                         ("TASK_UNKNOWN", "REASON_RECONCILIATION", "SOURCE_MASTER"))
        self.assertNotIn("uuid", st)
        unknown = [e["update"]["status"] for e in tr["events"] if e.get("type") == "UPDATE"
                   and e["update"]["status"]["state"] == "TASK_UNKNOWN"]
        if unknown:
            self.assertEqual(sorted(st.keys()), sorted(unknown[0].keys()))
        # once the agent re-registers the same task is RUNNING again; the
        # master sends nothing of its own for that: reconcile until it answers
        def answer():
            b.call("RECONCILE", {"tasks": [{"task_id": {"value": "survivor"},
                                            "agent_id": {"value": agent}}]})
            try:
                got = b.stream.update("survivor", timeout=0.3)
            except AssertionError:
                return None
            return got if got["state"] == "TASK_RUNNING" else None
        st = harness.wait_until(answer, 15, "TASK_RUNNING after re-registration")
        self.assertEqual(st["reason"], "REASON_RECONCILIATION")
        agents = harness.http_json("POST", self.master + "/api/v1", {"type": "GET_AGENTS"})[1]
        self.assertEqual(len(agents["get_agents"]["agents"]), 2)
        self.assertFalse([e for e in b.stream.seen if e["type"] == "UPDATE"
                          and e["update"]["status"].get("reason") == "REASON_AGENT_REREGISTERED"])

    def test_partition_heals_by_itself(self):
        s = self.sched()
        o = s.offers(n=2)[0]
        self.running(s, o, "long")
        self.fault("agents/%s/remove" % o["agent_id"]["value"], restore_after_ms=500)
        self.assertEqual(s.stream.update("long")["state"], "TASK_UNREACHABLE")
        back = s.stream.update("long", "TASK_RUNNING", timeout=10)
        self.assertEqual(back["reason"], "REASON_AGENT_REREGISTERED")

    def test_agent_gone_for_good(self):
        s = self.sched()
        o = s.offers(n=2)[0]
        self.running(s, o, "doomed")
        agent = o["agent_id"]["value"]
        self.fault("agents/%s/remove" % agent, gone_after_ms=300)
        self.assertEqual(s.stream.update("doomed")["state"], "TASK_UNREACHABLE")
        st = s.stream.update("doomed", "TASK_GONE", timeout=10)
        self.assertEqual(st["source"], "SOURCE_MASTER")
        self.assertNotIn("uuid", st)  # a master's update: nothing to ACK
        s.call("RECONCILE", {"tasks": [{"task_id": {"value": "doomed"},
                                        "agent_id": {"value": agent}}]})
        self.assertEqual(s.stream.update("doomed")["state"], "TASK_GONE")
        for path in ("restore", "remove"):
            code, _, body = harness.http("POST", self.master + "/__ml/agents/%s/%s" % (agent, path),
                                         b"")
            self.assertEqual(code, 400, body)
        code, _, _ = harness.http("POST", self.master + "/__ml/agents/%s/remove"
                                  "?restore_after_ms=1&gone_after_ms=1" % o["agent_id"]["value"], b"")
        self.assertEqual(code, 400)

    def test_task_exit_code(self):
        s = self.sched()
        o = s.offers()[0]
        self.running(s, o, "t")
        self.fault("tasks/t/exit", code=5)
        st = s.stream.update("t")
        self.assertEqual((st["state"], st["message"]), ("TASK_FAILED", "Command exited with status 5"))

    def test_unknown_targets(self):
        for path in ("agents/nope/remove", "tasks/nope/exit", "frameworks/nope/break-stream", "nothing"):
            code, _, _ = harness.http("POST", self.master + "/__ml/" + path, b"")
            self.assertEqual(code, 404, path)


class NoFaultsTest(MesosliteCase):
    def test_surface_off_without_flag(self):
        code, _, _ = harness.http("POST", self.master + "/__ml/master/failover", b"")
        self.assertEqual(code, 404)


if __name__ == "__main__":
    unittest.main()
