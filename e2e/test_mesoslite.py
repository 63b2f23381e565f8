"""mesoslite protocol conformance: a scheduler written from the reference
sheet alone, speaking raw HTTP (http.client) to bin/mesoslite. Also the
shared client used by the other test_mesoslite_*.py files."""

import base64
import http.client
import json
import os
import queue
import threading
import time
import unittest
import urllib.parse

import harness

# The recorded Mesos exchanges, copied into the tree so a clone is self-contained.
TRANSCRIPTS = os.path.join(harness.ROOT, "test", "mesoslite", "fixtures")


def post(url, body, headers=None, raw=False):
    """POSTs JSON (or raw bytes/str when raw) to url; returns (status, headers, body str)."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    h = {k: v for k, v in h.items() if v is not None}
    data = body if raw else json.dumps(body)
    c.request("POST", u.path + ("?" + u.query if u.query else ""), body=data, headers=h)
    r = c.getresponse()
    out = r.read().decode()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, out


class Stream:
    """A SUBSCRIBE stream (scheduler or executor): a thread reads RecordIO
    records into a queue; None in the queue means the stream closed."""

    def __init__(self, url, body, headers=None):
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        h.update(headers or {})
        self.conn.request("POST", u.path, body=json.dumps(body), headers=h)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self.events = queue.Queue()
        self.seen = []
        self.backlog = []
        self.closed = False
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.body = self.resp.read().decode()

    def _read(self):
        try:
            while True:
                digits = b""
                while True:
                    c = self.resp.read(1)
                    if not c:
                        raise EOFError
                    if c == b"\n":
                        if digits:
                            break
                        continue
                    digits += c
                n = int(digits)
                data = self.resp.read(n)
                if len(data) != n:
                    raise EOFError
                self.events.put(json.loads(data))
        except Exception:
            pass
        self.closed = True
        self.events.put(None)

    def next(self, timeout=10.0, types=None, pred=None):
        """Returns the oldest event whose type is in types and that satisfies
        pred; events that do not match stay queued for later calls. Raises
        AssertionError on timeout, EOFError once the stream closed."""
        def match(ev):
            return (types is None or ev["type"] in types) and (pred is None or pred(ev))
        for i, ev in enumerate(self.backlog):
            if match(ev):
                return self.backlog.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s event within %.1fs" % (types, timeout))
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if ev is None:
                self.events.put(None)
                raise EOFError("stream closed")
            self.seen.append(ev)
            if match(ev):
                return ev
            self.backlog.append(ev)

    def update(self, task_id, state=None, timeout=10.0):
        return self.next(timeout, ("UPDATE",), lambda e: e["update"]["status"]["task_id"]["value"] == task_id
                         and (state is None or e["update"]["status"]["state"] == state))["update"]["status"]

    def wait_closed(self, timeout=10.0):
        harness.wait_until(lambda: self.closed, timeout, "stream closed")

    def close(self):
        try:
            self.conn.sock and self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()


def fw_info(name="ml-test", caps=("MULTI_ROLE", "PARTITION_AWARE", "TASK_KILLING_STATE"),
            failover=60.0, fid=None, checkpoint=True):
    info = {"user": "root", "name": name, "roles": ["*"], "failover_timeout": failover,
            "checkpoint": checkpoint, "capabilities": [{"type": c} for c in caps]}
    if fid:
        info["id"] = {"value": fid}
    return info


class Scheduler:
    """The scheduler side of the sheet: subscribe, then calls on other
    connections with the Mesos-Stream-Id."""

    def __init__(self, master, info=None, fid=None):
        self.master = master
        self.url = master + "/api/v1/scheduler"
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info or fw_info(fid=fid)}}
        if fid:
            body["framework_id"] = {"value": fid}
        self.stream = Stream(self.url, body)
        assert self.stream.status == 200, self.stream.status
        self.stream_id = self.stream.headers["mesos-stream-id"]
        ev = self.stream.next(10, ("SUBSCRIBED", "ERROR"))
        self.subscribed = ev
        self.fid = ev["subscribed"]["framework_id"]["value"] if ev["type"] == "SUBSCRIBED" else fid

    def call(self, type_, sub=None, key=None, stream_id="current"):
        body = {"type": type_, "framework_id": {"value": self.fid}}
        if sub is not None:
            body[key or type_.lower()] = sub
        sid = self.stream_id if stream_id == "current" else stream_id
        return post(self.url, body, {"Mesos-Stream-Id": sid})

    def offers(self, timeout=10.0, n=1):
        got = []
        while len(got) < n:
            got += self.stream.next(timeout, ("OFFERS",))["offers"]["offers"]
        return got

    def launch(self, offer, tasks, filters=None):
        body = {"offer_ids": [offer["id"]],
                "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]}
        if filters is not None:
            body["filters"] = filters
        return self.call("ACCEPT", body)

    def ack(self, status):
        return self.call("ACKNOWLEDGE", {"agent_id": status["agent_id"], "task_id": status["task_id"],
                                         "uuid": status["uuid"]})

    def close(self):
        self.stream.close()


def task(offer, tid, cmd, cpus=0.1, mem=32, ports=None, env=None, kill_grace_ns=None, shell=True,
         arguments=None):
    res = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
           {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}]
    if ports:
        res.append({"name": "ports", "type": "RANGES",
                    "ranges": {"range": [{"begin": p, "end": p} for p in ports]}})
    t = {"name": tid, "task_id": {"value": tid}, "agent_id": offer["agent_id"], "resources": res,
         "command": {"value": cmd, "shell": shell}}
    if arguments is not None:
        t["command"]["arguments"] = arguments
    if env:
        t["command"]["environment"] = {"variables": [{"name": k, "value": v} for k, v in env.items()]}
    if kill_grace_ns is not None:
        t["kill_policy"] = {"grace_period": {"nanoseconds": kill_grace_ns}}
    return t


def load_transcript(name):
    with open(os.path.join(TRANSCRIPTS, name)) as f:
        return json.load(f)


def shape(v):
    """The shape of a JSON value: keys and types, not values."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return type(v).__name__


class MesosliteCase(harness.TestCase):
    agents = 1
    faults = False
    extra = []

    def setUp(self):
        super().setUp()
        self.master = self.cluster.mesoslite(agents=self.agents, racks="r1,r2", faults=self.faults,
                                             args=list(self.extra))
        self.scheds = []

    def tearDown(self):
        for s in self.scheds:
            s.close()
        super().tearDown()

    def sched(self, **kw):
        s = Scheduler(self.master, **kw)
        self.scheds.append(s)
        return s


UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class ProtocolTest(MesosliteCase):
    extra = ["--heartbeat-interval", "0.3", "--allocation-interval", "0.1",
             "--update-retry-interval", "0.5"]

    def test_subscribe_response_and_first_events(self):
        tr = load_transcript("launch-reconcile-kill-files.json")
        s = self.sched()
        self.assertEqual(s.stream.status, 200)
        self.assertRegex(s.stream_id, UUID_RE)
        self.assertEqual(s.stream.headers["content-type"], "application/json")
        self.assertEqual(s.stream.headers["transfer-encoding"], "chunked")
        self.assertNotIn("content-length", s.stream.headers)
        ev = s.subscribed
        want = tr["events"][0]
        self.assertEqual(shape(ev), shape(want))
        self.assertEqual(ev["subscribed"]["heartbeat_interval_seconds"], 0.3)
        self.assertTrue(ev["subscribed"]["framework_id"]["value"].startswith(
            ev["subscribed"]["master_info"]["id"] + "-"))
        # HEARTBEAT right after SUBSCRIBED, then every interval.
        self.assertEqual(s.stream.next(5), {"type": "HEARTBEAT"})
        s.stream.next(5, ("HEARTBEAT",))
        s.stream.next(5, ("HEARTBEAT",))
        offer = s.offers()[0]
        want_offer = dict(tr["events"][2]["offers"]["offers"][0])
        self.assertEqual(list(offer.keys()), list(want_offer.keys())[:5] + ["resources", "attributes", "allocation_info"])
        self.assertEqual(offer["attributes"], [{"name": "rack", "type": "TEXT", "text": {"value": "r1"}}])
        self.assertEqual(shape(offer["resources"][0]), shape(want_offer["resources"][0]))
        self.assertEqual(shape(offer["resources"][1]), shape(want_offer["resources"][1]))
        self.assertEqual([r["name"] for r in offer["resources"]], ["ports", "cpus", "mem", "disk"])
        self.assertEqual(offer["url"]["path"], "/slave(1)")

    def test_error_statuses_and_bodies_match_transcript(self):
        tr = load_transcript("launch-reconcile-kill-files.json")["errors"]
        s = self.sched()
        url = s.url
        kill = {"type": "KILL", "framework_id": {"value": s.fid}, "kill": {"task_id": {"value": "x"}}}

        def check(name, got, fid=None):
            want = tr[name]
            body = want["body"]
            if fid:
                body = body.replace("2bac3981-7f68-4d65-bdd4-dc4a4f7092be-0001", fid)
            self.assertEqual((got[0], got[2]), (want["status"], body), name)
            if "headers" in want:
                self.assertEqual(got[1]["content-type"], want["headers"]["Content-Type"], name)
                self.assertEqual(int(got[1]["content-length"]), len(body.encode()), name)

        check("no_stream_id", post(url, kill))
        check("wrong_stream_id", post(url, kill, {"Mesos-Stream-Id": "bogus"}), s.fid)
        check("charset_content_type", post(url, kill, {"Mesos-Stream-Id": s.stream_id,
                                                       "Content-Type": "application/json; charset=utf-8"}))
        check("bad_json", post(url, "not json", {"Mesos-Stream-Id": s.stream_id}, raw=True))
        check("unknown_framework", post(url, dict(kill, framework_id={"value": "no-such-fw"}),
                                        {"Mesos-Stream-Id": s.stream_id}))
        check("lowercase_enum", post(url, dict(kill, type="kill"), {"Mesos-Stream-Id": s.stream_id}))
        check("subscribe_with_stream_id",
              post(url, {"type": "SUBSCRIBE", "subscribe": {"framework_info": fw_info()}},
                   {"Mesos-Stream-Id": s.stream_id}))
        st, _, body = harness.http("GET", url)
        self.assertEqual((st, body.decode()), (405, tr["get_method"]["body"]))
        # Sheet facts beyond the transcript.
        st, _, body = post(url, kill, {"Content-Type": None})
        self.assertEqual((st, body), (400, "Expecting 'Content-Type' to be present"))
        st, _, body = post(url, {"type": "KILL", "kill": {"task_id": {"value": "x"}}},
                           {"Mesos-Stream-Id": s.stream_id})
        self.assertEqual((st, body), (400, "Failed to validate scheduler::Call: Expecting 'framework_id' to be present"))
        st, _, body = post(url, {"type": "ACCEPT", "framework_id": {"value": s.fid}},
                           {"Mesos-Stream-Id": s.stream_id})
        self.assertEqual((st, body), (400, "Failed to validate scheduler::Call: Expecting 'accept' to be present"))
        st, _, body = post(url, {"type": "SUBSCRIBE", "framework_id": {"value": s.fid},
                                 "subscribe": {"framework_info": fw_info()}})
        self.assertEqual((st, body), (400, "Failed to validate scheduler::Call: 'framework_id' differs from 'subscribe.framework_info.id'"))
        st, _, body = post(url, {"type": 7})
        self.assertEqual(st, 400)
        self.assertIn("Not expecting a JSON number for field 'type'", body)
        st, _, body = s.call("ACKNOWLEDGE", {"agent_id": {"value": "a"}, "task_id": {"value": "t"},
                                             "uuid": base64.b64encode(b"x" * 16).decode()})
        self.assertEqual((st, body), (400, "Failed to validate scheduler::Call: Not a valid UUID"))
        st, _, body = post(url, {"type": "SUBSCRIBE", "subscribe": {"framework_info": fw_info()}},
                           {"Accept": "text/html"})
        self.assertEqual(st, 406)
        # Nothing above changed the framework: it still works.
        self.assertEqual(s.call("REVIVE")[0], 202)

    def test_launch_run_finish_acknowledge(self):
        tr = load_transcript("launch-reconcile-kill-files.json")
        s = self.sched()
        o = s.offers()[0]
        st, hdrs, body = s.launch(o, [task(o, "hello", "echo hello")])
        self.assertEqual((st, body), (202, ""))
        self.assertEqual(hdrs["content-length"], "0")
        self.assertNotIn("content-type", hdrs)
        starting = s.stream.update("hello", "TASK_STARTING")
        self.assertEqual(shape(starting), shape(tr["events"][3]["update"]["status"]))
        s.ack(starting)
        running = s.stream.update("hello", "TASK_RUNNING")
        self.assertEqual(list(running.keys()), list(tr["events"][5]["update"]["status"].keys()))
        s.ack(running)
        fin = s.stream.update("hello", "TASK_FINISHED")
        self.assertEqual(fin["message"], "Command exited with status 0")
        self.assertEqual(fin["source"], "SOURCE_EXECUTOR")
        self.assertEqual(fin["executor_id"], {"value": "hello"})
        self.assertEqual(len(base64.b64decode(fin["uuid"])), 16)
        # Unacknowledged terminal task stays in `tasks`; after the ACK it is completed.
        state = json.loads(harness.http("GET", self.master + "/master/state")[2])
        fw = [f for f in state["frameworks"] if f["id"] == s.fid][0]
        self.assertEqual([t["state"] for t in fw["tasks"]], ["TASK_FINISHED"])
        s.ack(fin)

        def completed():
            st = json.loads(harness.http("GET", self.master + "/master/state")[2])
            f = [f for f in st["frameworks"] if f["id"] == s.fid][0]
            return not f["tasks"] and [t["state"] for t in f["completed_tasks"]] == ["TASK_FINISHED"]
        harness.wait_until(completed, 10, "task completed after ACK")
        code, body = harness.http_json("POST", self.master + "/api/v1", {"type": "GET_TASKS"})
        done = body["get_tasks"]["completed_tasks"]
        self.assertEqual([(t["task_id"]["value"], t["state"]) for t in done], [("hello", "TASK_FINISHED")])
        # The agent's /state keeps the finished executor and its sandbox.
        agent = json.loads(harness.http("GET", "http://127.0.0.1:%d/state" % o["url"]["address"]["port"])[2])
        self.assertEqual(sorted(agent.keys()), load_transcript("launch-reconcile-kill-files.json")["agent_state_keys"])
        ex = agent["frameworks"][0]["completed_executors"][0]
        self.assertEqual(ex["id"], "hello")
        self.assertTrue(ex["directory"].endswith("/runs/" + fin["container_status"]["container_id"]["value"]))
        self.assertEqual(ex["completed_tasks"][0]["state"], "TASK_FINISHED")

    def test_failed_task_exit_code(self):
        tr = load_transcript("launch-reconcile-kill-files.json")
        s = self.sched()
        o = s.offers()[0]
        s.launch(o, [task(o, "fail", "exit 3")])
        s.ack(s.stream.update("fail", "TASK_STARTING"))
        s.ack(s.stream.update("fail", "TASK_RUNNING"))
        st = s.stream.update("fail", "TASK_FAILED")
        want = tr["events"][7]["update"]["status"]
        self.assertEqual(st["message"], want["message"])
        self.assertEqual(list(st.keys()), list(want.keys()))
        self.assertEqual(shape(st), shape(want))

    def test_updates_resent_until_acknowledged(self):
        s = self.sched()
        o = s.offers()[0]
        s.launch(o, [task(o, "slow", "sleep 60")])
        first = s.stream.update("slow", "TASK_STARTING")
        again = s.stream.update("slow", timeout=10)
        # The same update again (same uuid); RUNNING waits for the ACK.
        self.assertEqual(again["state"], "TASK_STARTING")
        self.assertEqual(again["uuid"], first["uuid"])
        # A stale or foreign uuid does not advance the stream.
        s.ack(dict(first, uuid=base64.b64encode(bytes([0] * 6 + [0x40] + [0] * 9)).decode()))
        self.assertEqual(s.stream.update("slow", timeout=10)["state"], "TASK_STARTING")
        self.assertEqual(s.ack(first)[0], 202)
        running = s.stream.update("slow", "TASK_RUNNING")
        self.assertNotEqual(running["uuid"], first["uuid"])
        s.ack(running)

    def test_reconciliation_answers(self):
        tr = load_transcript("launch-reconcile-kill-files.json")
        s = self.sched()
        o = s.offers()[0]
        s.launch(o, [task(o, "web", "sleep 60")])
        for state in ("TASK_STARTING", "TASK_RUNNING"):
            s.ack(s.stream.update("web", state))
        st, _, body = s.call("RECONCILE", {"tasks": [{"task_id": {"value": "web"}, "agent_id": o["agent_id"]},
                                                     {"task_id": {"value": "no-such-task"}}]})
        self.assertEqual((st, body), (202, ""))
        known = s.stream.update("web")
        want_known = tr["events"][8]["update"]["status"]
        self.assertEqual(list(known.keys()), list(want_known.keys()))
        for k in ("state", "message", "source", "reason"):
            self.assertEqual(known[k], want_known[k])
        self.assertNotIn("uuid", known)
        unknown = s.stream.update("no-such-task")
        want_unknown = tr["events"][9]["update"]["status"]
        self.assertEqual(list(unknown.keys()), list(want_unknown.keys()))
        for k in ("state", "message", "source", "reason"):
            self.assertEqual(unknown[k], want_unknown[k])
        # A known agent but an unknown task: TASK_GONE for PA frameworks.
        s.call("RECONCILE", {"tasks": [{"task_id": {"value": "ghost"}, "agent_id": o["agent_id"]}]})
        self.assertEqual(s.stream.update("ghost")["state"], "TASK_GONE")
        # Implicit: every task the master knows.
        s.call("RECONCILE", {})
        imp = s.stream.update("web")
        self.assertEqual((imp["state"], imp["reason"]), ("TASK_RUNNING", "REASON_RECONCILIATION"))
        # Without PARTITION_AWARE the answer is TASK_LOST.
        s2 = self.sched(info=fw_info(name="old", caps=()))
        s2.call("RECONCILE", {"tasks": [{"task_id": {"value": "no-such-task"}}]})
        lost = s2.stream.update("no-such-task")
        self.assertEqual((lost["state"], lost["reason"]), ("TASK_LOST", "REASON_RECONCILIATION"))

    def test_kill_with_killing_state(self):
        tr = load_transcript("launch-reconcile-kill-files.json")
        s = self.sched()
        o = s.offers()[0]
        s.launch(o, [task(o, "web", "sleep 60")])
        for state in ("TASK_STARTING", "TASK_RUNNING"):
            s.ack(s.stream.update("web", state))
        st, _, body = s.call("KILL", {"task_id": {"value": "web"}, "agent_id": o["agent_id"]})
        self.assertEqual((st, body), (202, ""))
        killing = s.stream.update("web", "TASK_KILLING")
        self.assertEqual(list(killing.keys()), list(tr["events"][11]["update"]["status"].keys()))
        s.ack(killing)
        killed = s.stream.update("web", "TASK_KILLED")
        self.assertEqual(killed["message"], tr["events"][12]["update"]["status"]["message"])
        s.ack(killed)
        # KILL of an unknown task answers like a reconciliation.
        s.call("KILL", {"task_id": {"value": "nope"}})
        st = s.stream.update("nope")
        self.assertEqual((st["state"], st["reason"]), ("TASK_UNKNOWN", "REASON_RECONCILIATION"))

    def test_kill_without_killing_capability(self):
        s = self.sched(info=fw_info(caps=("MULTI_ROLE",)))
        o = s.offers()[0]
        s.launch(o, [task(o, "web", "sleep 60")])
        for state in ("TASK_STARTING", "TASK_RUNNING"):
            s.ack(s.stream.update("web", state))
        s.call("KILL", {"task_id": {"value": "web"}})
        st = s.stream.update("web")
        self.assertEqual(st["state"], "TASK_KILLED")
        # Without MULTI_ROLE offers carry no allocation_info.
        s3 = self.sched(info=fw_info(name="plain", caps=()))
        s.call("TEARDOWN")   # its outstanding offers go back to the pool
        offer = s3.offers(timeout=15)[0]
        self.assertNotIn("allocation_info", offer)
        self.assertNotIn("allocation_info", offer["resources"][0])

    def test_framework_failover(self):
        tr = load_transcript("failover-agent-loss.json")
        a = self.sched()
        o = a.offers()[0]
        a.launch(o, [task(o, "long", "sleep 60")])
        starting = a.stream.update("long", "TASK_STARTING")   # not acknowledged by a
        b = self.sched(info=fw_info(fid=a.fid), fid=a.fid)
        self.assertEqual(b.stream.status, tr["b_status"])
        self.assertEqual(shape(b.subscribed), shape(tr["b_first_event"]))
        self.assertEqual(b.fid, a.fid)
        self.assertNotEqual(b.stream_id, a.stream_id)
        self.assertEqual(a.stream.next(10, ("ERROR",)), tr["a_events_after_failover"][0])
        a.stream.wait_closed()
        st, _, body = a.call("REVIVE")
        self.assertEqual(st, 400)
        self.assertEqual(body, tr["old_stream_call"]["body"]
                         .replace("4d015e66-c0a5-437c-905b-7d21a8500817", a.stream_id)
                         .replace("6f47d13a-cadf-48d2-ae28-efdbb969230a-0000", a.fid))
        # The unacknowledged update goes to the new subscriber.
        again = b.stream.update("long", "TASK_STARTING")
        self.assertEqual(again["uuid"], starting["uuid"])
        b.ack(again)
        b.ack(b.stream.update("long", "TASK_RUNNING"))

    def test_disconnect_keeps_tasks_until_resubscribe(self):
        a = self.sched(info=fw_info(failover=60))
        o = a.offers()[0]
        a.launch(o, [task(o, "keep", "sleep 60")])
        a.ack(a.stream.update("keep", "TASK_STARTING"))
        a.close()

        def disconnected():
            st = json.loads(harness.http("GET", self.master + "/master/state")[2])
            return [f for f in st["frameworks"] if f["id"] == a.fid and not f["connected"]]
        harness.wait_until(disconnected, 10, "framework disconnected")
        st, _, body = a.call("REVIVE")
        self.assertEqual((st, body), (403, "Framework is not subscribed"))
        b = self.sched(info=fw_info(fid=a.fid), fid=a.fid)
        self.assertEqual(b.subscribed["type"], "SUBSCRIBED")
        running = b.stream.update("keep", "TASK_RUNNING")   # held while disconnected
        b.ack(running)
        b.call("RECONCILE", {"tasks": [{"task_id": {"value": "keep"}}]})
        self.assertEqual(b.stream.update("keep")["state"], "TASK_RUNNING")

    def test_failover_timeout_removes_framework(self):
        a = self.sched(info=fw_info(failover=0.5))
        o = a.offers()[0]
        a.launch(o, [task(o, "doomed", "echo $$ > pid; exec sleep 60")])
        a.ack(a.stream.update("doomed", "TASK_STARTING"))
        a.ack(a.stream.update("doomed", "TASK_RUNNING"))
        a.close()

        def removed():
            st = json.loads(harness.http("GET", self.master + "/master/state")[2])
            done = [f for f in st["completed_frameworks"] if f["id"] == a.fid]
            return done and done[0]["completed_tasks"][-1]["state"] == "TASK_KILLED"
        harness.wait_until(removed, 10, "framework removed after failover_timeout")
        b = Stream(a.url, {"type": "SUBSCRIBE", "framework_id": {"value": a.fid},
                           "subscribe": {"framework_info": fw_info(fid=a.fid)}})
        self.assertEqual(b.status, 200)
        self.assertEqual(b.next(10), {"type": "ERROR", "error": {"message": "Framework has been removed"}})
        b.wait_closed()
        b.close()
        st, _, body = a.call("REVIVE")
        self.assertEqual((st, body), (400, "Framework cannot be found"))

    def test_update_framework(self):
        s = self.sched()
        s.offers()
        info = fw_info(name="renamed", fid=s.fid)
        st, _, body = s.call("UPDATE_FRAMEWORK", {"framework_info": info, "suppressed_roles": ["*"]})
        self.assertEqual((st, body), (200, ""))
        state = json.loads(harness.http("GET", self.master + "/master/state")[2])
        self.assertEqual([f["name"] for f in state["frameworks"] if f["id"] == s.fid], ["renamed"])
        st, _, body = s.call("UPDATE_FRAMEWORK", {"framework_info": dict(info, user="other")})
        self.assertEqual((st, body), (400, "Updating 'FrameworkInfo.user' is unsupported"))
        st, _, _ = s.call("UPDATE_FRAMEWORK", {"framework_info": fw_info(fid="someone-else")})
        self.assertEqual(st, 400)

    def test_teardown(self):
        s = self.sched()
        o = s.offers()[0]
        s.launch(o, [task(o, "t1", "sleep 60")])
        s.stream.update("t1", "TASK_STARTING")
        self.assertEqual(s.call("TEARDOWN")[0], 202)
        s.stream.wait_closed()
        st = json.loads(harness.http("GET", self.master + "/master/state")[2])
        done = [f for f in st["completed_frameworks"] if f["id"] == s.fid]
        self.assertEqual(done[0]["completed_tasks"][0]["state"], "TASK_KILLED")

    def test_decline_filters_suppress_revive(self):
        s = self.sched()
        o = s.offers()[0]
        self.assertEqual(s.call("DECLINE", {"offer_ids": [o["id"]], "filters": {"refuse_seconds": 3600}})[0], 202)
        with self.assertRaises(AssertionError):
            s.offers(timeout=1.0)   # ten allocation intervals: filtered
        s.call("REVIVE")            # clears the filters
        o = s.offers()[0]
        s.call("DECLINE", {"offer_ids": [o["id"]], "filters": {"refuse_seconds": 0.3}})
        o = s.offers(timeout=5)[0]  # short filter expires
        s.call("SUPPRESS")
        s.call("DECLINE", {"offer_ids": [o["id"]], "filters": {"refuse_seconds": 0}})
        with self.assertRaises(AssertionError):
            s.offers(timeout=1.0)
        s.call("REVIVE")
        s.offers()

    def test_resource_accounting(self):
        s = self.sched()
        o = s.offers()[0]
        s.launch(o, [task(o, "big", "sleep 60", cpus=1.5, mem=1000, ports=[31000, 31002])],
                 filters={"refuse_seconds": 0})
        o2 = s.offers()[0]
        res = {r["name"]: r for r in o2["resources"]}
        self.assertEqual(res["cpus"]["scalar"]["value"], 2.5)
        self.assertEqual(res["mem"]["scalar"]["value"], 8192 - 1000)
        self.assertEqual(res["ports"]["ranges"]["range"],
                         [{"begin": 31001, "end": 31001}, {"begin": 31003, "end": 32000}])
        # Asking for more than offered: TASK_ERROR, no uuid.
        s.launch(o2, [task(o2, "huge", "true", cpus=100)], filters={"refuse_seconds": 0})
        err = s.stream.update("huge")
        self.assertEqual((err["state"], err["reason"], err["source"]),
                         ("TASK_ERROR", "REASON_TASK_INVALID", "SOURCE_MASTER"))
        self.assertNotIn("uuid", err)
        # A rescinded/used offer: TASK_DROPPED (PA) with REASON_INVALID_OFFERS.
        s.launch(o2, [task(o2, "late", "true")])
        lost = s.stream.update("late")
        self.assertEqual((lost["state"], lost["reason"]), ("TASK_DROPPED", "REASON_INVALID_OFFERS"))
        self.assertNotIn("uuid", lost)
        # Killing the task returns its resources.
        s.call("KILL", {"task_id": {"value": "big"}})

        def used():
            st = json.loads(harness.http("GET", self.master + "/master/state")[2])
            return st["slaves"][0]["used_resources"]
        harness.wait_until(lambda: used()["cpus"] == 0 and used()["mem"] == 0 and "ports" not in used(),
                           10, "resources returned")

    def test_invalid_task_both_command_and_executor(self):
        s = self.sched(info=fw_info(caps=("MULTI_ROLE",)))
        o = s.offers()[0]
        t = task(o, "both", "true")
        t["executor"] = {"executor_id": {"value": "e"}, "command": {"value": "true"}}
        s.launch(o, [t], filters={"refuse_seconds": 0})
        st = s.stream.update("both")
        self.assertEqual(st["state"], "TASK_ERROR")
        self.assertEqual(st["message"], "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present")
        s.launch(o, [task(o, "x", "true")])
        self.assertEqual(s.stream.update("x")["state"], "TASK_LOST")   # not PA

    def test_operator_api_state_and_redirect(self):
        tr = load_transcript("launch-reconcile-kill-files.json")
        s = self.sched()
        o = s.offers()[0]
        s.launch(o, [task(o, "op", "sleep 60", ports=[31000])])
        s.stream.update("op", "TASK_STARTING")
        st = json.loads(harness.http("GET", self.master + "/master/state")[2])
        self.assertEqual(sorted(st.keys()), tr["master_state_keys"])
        fw = [f for f in st["frameworks"] if f["id"] == s.fid][0]
        self.assertTrue(set(tr["master_state_framework"].keys()) <= set(fw.keys()))
        self.assertEqual(fw["capabilities"], ["MULTI_ROLE", "PARTITION_AWARE", "TASK_KILLING_STATE"])
        self.assertEqual(fw["tasks"][0]["resources"]["ports"], "[31000-31000]")
        agent = st["slaves"][0]
        self.assertTrue(set(tr["master_state_agent"].keys()) <= set(agent.keys()))
        self.assertEqual(agent["attributes"], {"rack": "r1"})
        self.assertEqual(agent["pid"], "slave(1)@127.0.0.1:%d" % agent["port"])
        self.assertEqual(st["recovered_slaves"], [])
        # The older v0 endpoints.
        code, body = harness.http_json("GET", self.master + "/master/slaves")
        self.assertEqual([a["id"] for a in body["slaves"]], [o["agent_id"]["value"]])
        code, body = harness.http_json("GET", self.master + "/master/frameworks")
        self.assertEqual([f["id"] for f in body["frameworks"]], [s.fid])
        code, body = harness.http_json("GET", self.master + "/master/tasks?limit=10")
        self.assertEqual([t["id"] for t in body["tasks"]], ["op"])
        code, body = harness.http_json("GET", self.master + "/master/tasks?offset=1")
        self.assertEqual(body["tasks"], [])
        code, body = harness.http_json("POST", self.master + "/api/v1", {"type": "GET_AGENTS"})
        self.assertEqual(code, 200)
        ag = body["get_agents"]["agents"][0]
        self.assertEqual(ag["agent_info"]["id"], o["agent_id"])
        self.assertEqual(ag["agent_info"]["port"], o["url"]["address"]["port"])
        code, body = harness.http_json("POST", self.master + "/api/v1", {"type": "GET_TASKS"})
        t = body["get_tasks"]["tasks"][0]
        self.assertEqual(t["task_id"], {"value": "op"})
        self.assertEqual(t["framework_id"], {"value": s.fid})
        self.assertIn(t["state"], ("TASK_STARTING", "TASK_RUNNING"))
        self.assertEqual(t["status_update_state"], "TASK_STARTING")
        code, hdrs, _ = harness.http("POST", self.master + "/api/v1", "{}",
                                     {"Content-Type": "text/plain"})
        self.assertEqual(code, 415)
        # /redirect: 307 to the leader, protocol-relative.
        import http.client as hc
        port = int(self.master.rsplit(":", 1)[1])
        c = hc.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/redirect")
        r = c.getresponse()
        self.assertEqual(r.status, 307)
        self.assertEqual(r.getheader("Location"), "//127.0.0.1:%d" % port)
        c.close()


class RecoveryTest(MesosliteCase):
    """Resources that come back wait for the next batch allocation, as in
    Mesos' allocator, which does not allocate on recovery (MESOS-3078)."""
    extra = ["--allocation-interval", "86400", "--update-retry-interval", "0.5"]

    def offers_seen(self, s):
        return [e for e in s.stream.seen if e["type"] == "OFFERS"]

    def marker(self, s, name):
        """A reconciliation's answer: every event the master sent before it
        has been read once it is."""
        s.call("RECONCILE", {"tasks": [{"task_id": {"value": name}}]})
        s.stream.update(name)

    def test_declined_and_finished_resources_wait_for_the_next_allocation(self):
        def cpus(offer):
            return [r for r in offer["resources"] if r["name"] == "cpus"][0]["scalar"]["value"]
        s = self.sched()
        o = s.offers()[0]  # SUBSCRIBE allocates at once
        total = cpus(o)
        s.call("DECLINE", {"offer_ids": [o["id"]], "filters": {"refuse_seconds": 0}})
        self.marker(s, "after-decline")
        self.assertEqual(len(self.offers_seen(s)), 1)
        s.call("REVIVE")  # allocates at once
        o = s.offers()[0]
        s.launch(o, [task(o, "quick", "true")], filters={"refuse_seconds": 0})
        for state in ("TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"):
            s.ack(s.stream.update("quick", state))
        self.marker(s, "after-finish")
        self.assertEqual(len(self.offers_seen(s)), 2)  # neither the leftover nor the task's
        s.call("REVIVE")
        self.assertEqual(cpus(s.offers()[0]), total)  # all of it back


class AgentConfigTest(MesosliteCase):
    agents = 3
    extra = ["--agent-resources", "cpus:2;mem:100;disk:10;ports:[1000-1001]|cpus:1;mem:50",
             "--agent-attributes", "zone:a;gen:3|zone:b;slots:[1-4]", "--allocation-interval", "0.1"]

    def setUp(self):
        harness.TestCase.setUp(self)
        self.master = self.cluster.mesoslite(agents=3, racks="r1,7", args=list(self.extra))
        self.scheds = []

    def test_per_agent_resources_and_attributes(self):
        s = self.sched()
        offers = sorted(s.offers(n=3), key=lambda o: o["agent_id"]["value"])
        res = [{r["name"]: r for r in o["resources"]} for o in offers]
        self.assertEqual([r["cpus"]["scalar"]["value"] for r in res], [2, 1, 2])
        self.assertEqual(res[0]["ports"]["ranges"]["range"], [{"begin": 1000, "end": 1001}])
        self.assertNotIn("ports", res[1])
        self.assertEqual(offers[0]["attributes"], [
            {"name": "rack", "type": "TEXT", "text": {"value": "r1"}},
            {"name": "zone", "type": "TEXT", "text": {"value": "a"}},
            {"name": "gen", "type": "SCALAR", "scalar": {"value": 3.0}}])
        # A rack named 7 is a SCALAR, as Mesos parses --attributes.
        self.assertEqual(offers[1]["attributes"][0], {"name": "rack", "type": "SCALAR", "scalar": {"value": 7.0}})
        self.assertEqual(offers[1]["attributes"][2],
                         {"name": "slots", "type": "RANGES", "ranges": {"range": [{"begin": 1, "end": 4}]}})


if __name__ == "__main__":
    unittest.main()
