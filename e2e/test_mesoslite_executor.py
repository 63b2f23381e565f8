"""mesoslite runs a custom executor exactly as a Mesos agent would: MESOS_*
environment, POST /api/v1/executor SUBSCRIBE/UPDATE/MESSAGE, events
SUBSCRIBED, LAUNCH, KILL, ACKNOWLEDGED, MESSAGE, SHUTDOWN."""

import json
import os
import sys
import unittest

import harness
from test_mesoslite import MesosliteCase, task

# A minimal custom executor written from the reference sheet (section 5):
# it logs every event to events.jsonl in its sandbox, runs nothing, and
# answers LAUNCH with STARTING+RUNNING, KILL with KILLED, MESSAGE with a
# MESSAGE back, SHUTDOWN by exiting.
EXECUTOR = r'''
import base64, http.client, json, os, sys, uuid
env = dict(os.environ)
with open("env.json", "w") as f:
    json.dump(env, f)
host, port = env["MESOS_AGENT_ENDPOINT"].split(":")
fid, eid = env["MESOS_FRAMEWORK_ID"], env["MESOS_EXECUTOR_ID"]
log = open("events.jsonl", "a", buffering=1)

def call(body):
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    body.update({"executor_id": {"value": eid}, "framework_id": {"value": fid}})
    c.request("POST", "/api/v1/executor", body=json.dumps(body),
              headers={"Content-Type": "application/json"})
    r = c.getresponse(); r.read(); c.close()
    return r.status

def update(tid, state, msg=None):
    u = uuid.uuid4().bytes
    st = {"task_id": {"value": tid}, "state": state, "source": "SOURCE_EXECUTOR",
          "uuid": base64.b64encode(u).decode()}
    if msg:
        st["message"] = msg
    return call({"type": "UPDATE", "update": {"status": st}})

c = http.client.HTTPConnection(host, int(port))
c.request("POST", "/api/v1/executor", body=json.dumps({"type": "SUBSCRIBE",
          "executor_id": {"value": eid}, "framework_id": {"value": fid}, "subscribe": {}}),
          headers={"Content-Type": "application/json", "Accept": "application/json"})
r = c.getresponse()
log.write(json.dumps({"subscribe_status": r.status}) + "\n")
while True:
    n = b""
    while True:
        ch = r.read(1)
        if not ch:
            sys.exit(0)
        if ch == b"\n":
            break
        n += ch
    ev = json.loads(r.read(int(n)))
    log.write(json.dumps(ev) + "\n")
    t = ev["type"]
    if t == "LAUNCH":
        tid = ev["launch"]["task"]["task_id"]["value"]
        update(tid, "TASK_STARTING")
        update(tid, "TASK_RUNNING", "running " + tid)
    elif t == "KILL":
        update(ev["kill"]["task_id"]["value"], "TASK_KILLED", "killed by executor")
    elif t == "MESSAGE":
        call({"type": "MESSAGE", "message": {"data": base64.b64encode(b"pong:" + base64.b64decode(ev["message"]["data"])).decode()}})
    elif t == "SHUTDOWN":
        sys.exit(0)
'''


# Re-subscribes after its first update, replaying it (a duplicate) and an
# update whose POST "was lost" (never sent): the agent keeps one of each.
RESUBSCRIBER = r'''
import base64, http.client, json, os, sys, uuid
host, port = os.environ["MESOS_AGENT_ENDPOINT"].split(":")
ids = {"executor_id": {"value": os.environ["MESOS_EXECUTOR_ID"]},
       "framework_id": {"value": os.environ["MESOS_FRAMEWORK_ID"]}}
def post(body, stream=False):
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    body.update(ids)
    c.request("POST", "/api/v1/executor", body=json.dumps(body),
              headers={"Content-Type": "application/json", "Accept": "application/json"})
    r = c.getresponse()
    if not stream:
        r.read(); c.close()
    return c, r
def events(r):
    while True:
        n = b""
        while True:
            ch = r.read(1)
            if not ch:
                return
            if ch == b"\n":
                break
            n += ch
        yield json.loads(r.read(int(n)))
def status(tid, state):
    return {"task_id": {"value": tid}, "state": state, "source": "SOURCE_EXECUTOR",
            "uuid": base64.b64encode(uuid.uuid4().bytes).decode()}
c, r = post({"type": "SUBSCRIBE", "subscribe": {}}, stream=True)
for ev in events(r):
    if ev["type"] == "LAUNCH":
        task = ev["launch"]["task"]
        tid = task["task_id"]["value"]
        starting = status(tid, "TASK_STARTING")
        post({"type": "UPDATE", "update": {"status": starting}})
        break
c.close()
running = status(tid, "TASK_RUNNING")
c, r = post({"type": "SUBSCRIBE", "subscribe": {"unacknowledged_tasks": [task],
            "unacknowledged_updates": [{"status": starting}, {"status": running}]}}, stream=True)
for ev in events(r):
    if ev["type"] == "SHUTDOWN":
        sys.exit(0)
'''


class ExecutorTest(MesosliteCase):
    # Long enough for a Python executor to start on a loaded machine (an
    # executor that took over 1 s to subscribe under ASan failed a test);
    # RegistrationTimeoutTest below runs with 1 s.
    extra = ["--executor-registration-timeout", "10", "--allocation-interval", "0.1"]
    def exec_task(self, offer, tid, eid="ex1"):
        path = os.path.join(self.cluster.tmpdir, "executor.py")
        with open(path, "w") as f:
            f.write(EXECUTOR)
        t = task(offer, tid, "unused")
        del t["command"]
        t["executor"] = {"type": "CUSTOM", "executor_id": {"value": eid}, "name": "py executor",
                         "command": {"value": "%s %s" % (sys.executable, path),
                                     "environment": {"variables": [{"name": "EXTRA", "value": "1"}]}},
                         "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                                       {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]}
        t["data"] = "eyJqb2IiOjQyfQ=="
        return t

    def sandbox(self, s, eid):
        agent = s.last_offer["agent_id"]["value"]
        return os.path.join(self.cluster.tmpdir, "mesos", "slaves", agent, "frameworks", s.fid,
                            "executors", eid, "runs", "latest")

    def events(self, s, eid):
        try:
            with open(os.path.join(self.sandbox(s, eid), "events.jsonl")) as f:
                return [json.loads(l) for l in f if l.strip()]
        except OSError:
            return []

    def test_custom_executor_lifecycle(self):
        s = self.sched()
        o = s.offers()[0]
        s.last_offer = o
        self.assertEqual(s.launch(o, [self.exec_task(o, "job-1")])[0], 202)
        st = s.stream.update("job-1", "TASK_STARTING")
        self.assertEqual(st["source"], "SOURCE_EXECUTOR")
        self.assertEqual(st["executor_id"]["value"], "ex1")
        self.assertEqual(st["agent_id"], o["agent_id"])
        s.ack(st)
        st = s.stream.update("job-1", "TASK_RUNNING")
        self.assertEqual(st["message"], "running job-1")
        s.ack(st)
        evs = harness.wait_until(
            lambda: (lambda e: e if len([x for x in e if x.get("type") == "ACKNOWLEDGED"]) >= 2 else None)(
                self.events(s, "ex1")), 10, "two ACKNOWLEDGED events")
        self.assertEqual(evs[0], {"subscribe_status": 200})
        sub = evs[1]
        self.assertEqual(sub["type"], "SUBSCRIBED")
        self.assertEqual(sub["subscribed"]["executor_info"]["executor_id"]["value"], "ex1")
        self.assertEqual(sub["subscribed"]["framework_info"]["id"]["value"], s.fid)
        self.assertEqual(sub["subscribed"]["agent_info"]["id"], o["agent_id"])
        self.assertIn("value", sub["subscribed"]["container_id"])
        launch = evs[2]
        self.assertEqual(launch["type"], "LAUNCH")
        self.assertEqual(launch["launch"]["task"]["task_id"]["value"], "job-1")
        self.assertEqual(launch["launch"]["task"]["data"], "eyJqb2IiOjQyfQ==")
        acked = [e for e in evs if e.get("type") == "ACKNOWLEDGED"]
        self.assertEqual(len(acked), 2)
        self.assertEqual(acked[0]["acknowledged"]["task_id"]["value"], "job-1")

        # Environment of section 4.3.
        with open(os.path.join(self.sandbox(s, "ex1"), "env.json")) as f:
            env = json.load(f)
        sandbox = os.path.realpath(self.sandbox(s, "ex1"))
        self.assertEqual(env["MESOS_FRAMEWORK_ID"], s.fid)
        self.assertEqual(env["MESOS_EXECUTOR_ID"], "ex1")
        self.assertEqual(env["MESOS_SLAVE_ID"], o["agent_id"]["value"])
        self.assertEqual(env["MESOS_DIRECTORY"], sandbox)
        self.assertEqual(env["MESOS_SANDBOX"], sandbox)
        self.assertEqual(env["MESOS_AGENT_ENDPOINT"], "127.0.0.1:%d" % o["url"]["address"]["port"])
        self.assertEqual(env["MESOS_SLAVE_PID"], "slave(1)@127.0.0.1:%d" % o["url"]["address"]["port"])
        self.assertEqual(env["MESOS_CHECKPOINT"], "1")
        self.assertEqual(env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"], "5secs")
        self.assertEqual(env["MESOS_RECOVERY_TIMEOUT"], "15mins")
        self.assertEqual(env["MESOS_SUBSCRIPTION_BACKOFF_MAX"], "2secs")
        self.assertEqual(env["LIBPROCESS_PORT"], "0")
        self.assertEqual(env["EXTRA"], "1")
        self.assertNotIn("MESOS_ALLOCATION_ROLE", env)
        # mesoslite's own environment is inherited (as a Mesos agent's is).
        self.assertEqual(env.get("HOME"), os.environ.get("HOME"))

        # The next offer lists the running executor.
        s.call("REVIVE")
        o2 = s.offers()[0]
        self.assertEqual(o2["executor_ids"], [{"value": "ex1"}])

        # A second task on the running executor: LAUNCH right away, and the
        # executor's resources are not counted again.
        self.assertEqual(s.launch(o2, [self.exec_task(o2, "job-1b")], filters={"refuse_seconds": 0})[0], 202)
        s.ack(s.stream.update("job-1b", "TASK_STARTING"))
        s.ack(s.stream.update("job-1b", "TASK_RUNNING"))
        launches = [e for e in self.events(s, "ex1") if e.get("type") == "LAUNCH"]
        self.assertEqual([e["launch"]["task"]["task_id"]["value"] for e in launches], ["job-1", "job-1b"])
        # The same executor id with a different ExecutorInfo is refused.
        o3 = s.offers()[0]
        other = self.exec_task(o3, "job-1c")
        other["executor"]["name"] = "changed"
        s.launch(o3, [other], filters={"refuse_seconds": 0})
        st = s.stream.update("job-1c")
        self.assertEqual((st["state"], st["reason"]), ("TASK_ERROR", "REASON_TASK_INVALID"))
        self.assertEqual(st["message"], "ExecutorInfo is not compatible with existing ExecutorInfo")
        s.call("KILL", {"task_id": {"value": "job-1b"}})
        s.ack(s.stream.update("job-1b", "TASK_KILLED"))

        # MESSAGE both ways.
        self.assertEqual(s.call("MESSAGE", {"agent_id": o["agent_id"], "executor_id": {"value": "ex1"},
                                            "data": "cGluZw=="})[0], 202)
        m = s.stream.next(10, ("MESSAGE",))
        self.assertEqual(m["message"]["executor_id"]["value"], "ex1")
        self.assertEqual(m["message"]["agent_id"], o["agent_id"])
        self.assertEqual(m["message"]["data"], "cG9uZzpwaW5n")  # "pong:ping"

        # KILL goes to the executor, which answers TASK_KILLED.
        s.call("KILL", {"task_id": {"value": "job-1"}, "agent_id": o["agent_id"],
                        "kill_policy": {"grace_period": {"nanoseconds": 2000000000}}})
        st = s.stream.update("job-1", "TASK_KILLED")
        self.assertEqual(st["message"], "killed by executor")
        s.ack(st)
        kill = [e for e in self.events(s, "ex1")
                if e.get("type") == "KILL" and e["kill"]["task_id"]["value"] == "job-1"][0]
        self.assertEqual(kill["kill"]["kill_policy"]["grace_period"]["nanoseconds"], 2000000000)

        # SHUTDOWN: the executor gets the event and exits; a FAILURE follows.
        s.call("SHUTDOWN", {"executor_id": {"value": "ex1"}, "agent_id": o["agent_id"]})
        f = s.stream.next(10, ("FAILURE",))
        self.assertEqual(f["failure"]["executor_id"]["value"], "ex1")
        self.assertEqual(f["failure"]["status"], 0)
        self.assertTrue(any(e.get("type") == "SHUTDOWN" for e in self.events(s, "ex1")))

    def test_executor_death_fails_tasks(self):
        s = self.sched()
        o = s.offers()[0]
        s.last_offer = o
        t = self.exec_task(o, "job-2", "ex2")
        t["executor"]["command"]["value"] = "exit 7"
        s.launch(o, [t])
        st = s.stream.update("job-2", "TASK_FAILED")
        self.assertEqual(st["reason"], "REASON_EXECUTOR_TERMINATED")
        self.assertEqual(st["source"], "SOURCE_AGENT")
        self.assertIn("uuid", st)
        f = s.stream.next(10, ("FAILURE",))
        self.assertEqual(f["failure"]["status"], 7 << 8)

    def test_resubscribe_replays_unacknowledged_updates(self):
        s = self.sched()
        o = s.offers()[0]
        s.last_offer = o
        t = self.exec_task(o, "job-4", "ex4")
        path = os.path.join(self.cluster.tmpdir, "resub.py")
        with open(path, "w") as f:
            f.write(RESUBSCRIBER)
        t["executor"]["command"]["value"] = "%s %s" % (sys.executable, path)
        s.launch(o, [t])
        s.ack(s.stream.update("job-4", "TASK_STARTING"))
        s.ack(s.stream.update("job-4", "TASK_RUNNING"))
        s.call("RECONCILE", {"tasks": [{"task_id": {"value": "job-4"}}]})
        s.stream.update("job-4", "TASK_RUNNING")   # the reconciliation answer
        starts = [e for e in s.stream.seen if e["type"] == "UPDATE"
                  and e["update"]["status"]["state"] == "TASK_STARTING"]
        self.assertEqual(len(starts), 1)

    def test_executor_api_errors(self):
        s = self.sched()
        o = s.offers()[0]
        agent = "http://127.0.0.1:%d/api/v1/executor" % o["url"]["address"]["port"]
        from test_mesoslite import post
        st, _, body = post(agent, {"type": "SUBSCRIBE", "executor_id": {"value": "x"},
                                   "framework_id": {"value": "nope"}, "subscribe": {}})
        self.assertEqual((st, body), (400, "Framework cannot be found"))
        st, _, body = post(agent, {"type": "SUBSCRIBE", "executor_id": {"value": "x"},
                                   "framework_id": {"value": s.fid}, "subscribe": {}})
        self.assertEqual((st, body), (400, "Executor cannot be found"))
        st, _, body = post(agent, {"type": "SUBSCRIBE", "executor_id": {"value": "x"},
                                   "framework_id": {"value": s.fid}})
        self.assertEqual((st, body), (400, "Failed to validate executor::Call: Expecting 'subscribe' to be present"))
        st, _, _ = post(agent, {"type": "SUBSCRIBE"}, {"Content-Type": "text/plain"})
        self.assertEqual(st, 415)
        st, _, _ = harness.http("GET", agent)
        self.assertEqual(st, 405)


class RegistrationTimeoutTest(MesosliteCase):
    extra = ["--executor-registration-timeout", "1", "--allocation-interval", "0.1"]
    exec_task = ExecutorTest.exec_task

    def test_registration_timeout(self):
        s = self.sched()
        o = s.offers()[0]
        s.last_offer = o
        t = self.exec_task(o, "job-3", "ex3")
        t["executor"]["command"]["value"] = "sleep 60"   # never subscribes
        s.launch(o, [t])
        st = s.stream.update("job-3")
        self.assertEqual((st["state"], st["reason"]), ("TASK_FAILED", "REASON_EXECUTOR_REGISTRATION_TIMEOUT"))


if __name__ == "__main__":
    unittest.main()
