"""mesoslite --simulate: thousands of agents without processes, 10,000 tasks
going STARTING then RUNNING, ending only when killed, scripted or faulted."""

import http.client
import json
import unittest
import urllib.parse

import harness
from test_mesoslite import MesosliteCase, task

AGENTS = 2000
PER_AGENT = 5


class KeepAlive:
    """Calls on one persistent connection (the sheet allows keep-alive for
    non-subscribe calls)."""

    def __init__(self, sched):
        self.s = sched
        u = urllib.parse.urlsplit(sched.url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def call(self, type_, sub):
        body = json.dumps({"type": type_, "framework_id": {"value": self.s.fid}, type_.lower(): sub})
        self.conn.request("POST", "/api/v1/scheduler", body=body,
                          headers={"Content-Type": "application/json", "Mesos-Stream-Id": self.s.stream_id})
        r = self.conn.getresponse()
        r.read()
        return r.status

    def close(self):
        self.conn.close()


class SimulateTest(MesosliteCase):
    agents = AGENTS
    faults = True
    extra = ["--simulate", "--allocation-interval", "0.2",
             "--agent-resources", "cpus:8;mem:16384;disk:100000;ports:[31000-31100]"]

    def test_ten_thousand_tasks(self):
        s = self.sched()
        calls = KeepAlive(s)
        self.addCleanup(calls.close)
        offers = s.offers(timeout=30, n=AGENTS)
        self.assertEqual(len({o["agent_id"]["value"] for o in offers}), AGENTS)
        self.assertTrue(offers[0]["hostname"].startswith("sim-agent-"))
        n = 0
        for o in offers:
            tasks = []
            for _ in range(PER_AGENT):
                tasks.append(task(o, "sim-%05d" % n, "sleep 1000", cpus=1, mem=128, ports=[31000 + n % PER_AGENT]))
                n += 1
            body = {"offer_ids": [o["id"]], "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}],
                    "filters": {"refuse_seconds": 3600}}
            self.assertEqual(calls.call("ACCEPT", body), 202)
        total = AGENTS * PER_AGENT
        running = set()
        while len(running) < total:
            st = s.stream.next(60, ("UPDATE",))["update"]["status"]
            self.assertIn(st["state"], ("TASK_STARTING", "TASK_RUNNING"))
            self.assertEqual(calls.call("ACKNOWLEDGE", {"agent_id": st["agent_id"], "task_id": st["task_id"],
                                                        "uuid": st["uuid"]}), 202)
            if st["state"] == "TASK_RUNNING":
                running.add(st["task_id"]["value"])
        state = harness.http_json("GET", self.master + "/__ml/state")[1]
        self.assertEqual(state["tasks"], total)
        code, body = harness.http_json("POST", self.master + "/api/v1", {"type": "GET_TASKS"})
        self.assertEqual(len(body["get_tasks"]["tasks"]), total)
        self.assertTrue(all(t["state"] == "TASK_RUNNING" for t in body["get_tasks"]["tasks"]))
        # Kill some, script one exit; the rest keep running.
        for i in range(0, 100):
            calls.call("KILL", {"task_id": {"value": "sim-%05d" % i}})
        harness.http("POST", self.master + "/__ml/tasks/sim-09999/exit?code=2", b"")
        ended = {}
        while len(ended) < 101:
            st = s.stream.next(30, ("UPDATE",))["update"]["status"]
            calls.call("ACKNOWLEDGE", {"agent_id": st["agent_id"], "task_id": st["task_id"], "uuid": st["uuid"]})
            # Updates not yet acknowledged in time are sent again: only ends count.
            if st["state"] not in ("TASK_STARTING", "TASK_RUNNING", "TASK_KILLING"):
                ended[st["task_id"]["value"]] = st["state"]
        self.assertEqual(ended.pop("sim-09999"), "TASK_FAILED")
        self.assertEqual(set(ended.values()), {"TASK_KILLED"})
        harness.wait_until(lambda: harness.http_json("GET", self.master + "/__ml/state")[1]["tasks"] == total - 101,
                           10, "killed tasks completed")

    def test_scripted_run_time(self):
        s = self.sched()
        o = s.offers(timeout=30, n=AGENTS)[0]
        s.launch(o, [task(o, "short", "anything", env={"ML_SIM_RUN_SECONDS": "0.2", "ML_SIM_EXIT_CODE": "0"}),
                     task(o, "bad", "anything", env={"ML_SIM_RUN_SECONDS": "0.1", "ML_SIM_EXIT_CODE": "9"})])
        for tid, final in (("short", "TASK_FINISHED"), ("bad", "TASK_FAILED")):
            while True:
                st = s.stream.update(tid)
                s.ack(st)
                if st["state"] not in ("TASK_STARTING", "TASK_RUNNING"):
                    break
            self.assertEqual(st["state"], final)


if __name__ == "__main__":
    unittest.main()
