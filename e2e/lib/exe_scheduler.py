"""A tiny Mesos v1 scheduler (JSON over HTTP) for driving mesoslite or a
real master from tests: SUBSCRIBE, take offers, ACCEPT with LAUNCH of a
task that uses a custom executor, KILL, ACKNOWLEDGE every update.

    s = Scheduler(master_url, capabilities=["TASK_KILLING_STATE"])
    offer = s.wait_offer()
    s.launch(offer, taskinfo)
    s.wait_update(task_id, "TASK_RUNNING")
    s.close()
"""

import http.client
import json
import threading
import time
import urllib.parse


class Scheduler:
    def __init__(self, master_url, name="corral-e2e", capabilities=("TASK_KILLING_STATE",),
                 checkpoint=True):
        u = urllib.parse.urlsplit(master_url)
        self.host, self.port = u.hostname, u.port
        self.lock = threading.Lock()
        self.offers = []
        self.updates = []       # every TaskStatus, in arrival order
        self.events = []
        self.framework_id = None
        self.stream_id = None
        self.closed = False
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {
            "user": "root", "name": name, "checkpoint": checkpoint, "failover_timeout": 60,
            "capabilities": [{"type": c} for c in capabilities]}}}
        self.conn.request("POST", "/api/v1/scheduler", json.dumps(body),
                          {"Content-Type": "application/json", "Accept": "application/json"})
        resp = self.conn.getresponse()
        if resp.status != 200:
            raise AssertionError("SUBSCRIBE: %d %s" % (resp.status, resp.read()))
        self.stream_id = resp.getheader("Mesos-Stream-Id")
        self.resp = resp
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while self.framework_id is None:
            if time.monotonic() > deadline:
                raise AssertionError("no SUBSCRIBED event")
            time.sleep(0.02)

    def _read(self):
        buf = b""
        try:
            while not self.closed:
                chunk = self.resp.read1(65536)
                if not chunk:
                    break
                buf += chunk
                while True:
                    nl = buf.find(b"\n")
                    if nl < 0:
                        break
                    n = int(buf[:nl] or b"0")
                    if len(buf) < nl + 1 + n:
                        break
                    rec, buf = buf[nl + 1:nl + 1 + n], buf[nl + 1 + n:]
                    self._event(json.loads(rec))
        except (OSError, ValueError, http.client.HTTPException):
            pass

    def _event(self, ev):
        t = ev.get("type")
        with self.lock:
            self.events.append(ev)
        if t == "SUBSCRIBED":
            self.framework_id = ev["subscribed"]["framework_id"]["value"]
        elif t == "OFFERS":
            with self.lock:
                self.offers.extend(ev["offers"]["offers"])
        elif t == "UPDATE":
            st = ev["update"]["status"]
            with self.lock:
                self.updates.append(st)
            if st.get("uuid"):
                self.call({"type": "ACKNOWLEDGE", "acknowledge": {
                    "agent_id": st["agent_id"], "task_id": st["task_id"], "uuid": st["uuid"]}})

    def call(self, body):
        body = dict(body)
        body["framework_id"] = {"value": self.framework_id}
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            c.request("POST", "/api/v1/scheduler", json.dumps(body),
                      {"Content-Type": "application/json", "Mesos-Stream-Id": self.stream_id})
            r = c.getresponse()
            data = r.read()
            if r.status != 202:
                raise AssertionError("%s: %d %s" % (body["type"], r.status, data))
        finally:
            c.close()

    def wait_offer(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.offers:
                    return self.offers.pop(0)
            time.sleep(0.05)
        raise AssertionError("no offer within %ss" % timeout)

    def launch(self, offer, task):
        self.call({"type": "ACCEPT", "accept": {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
            "filters": {"refuse_seconds": 0.1}}})

    def kill(self, task_id, agent_id, grace_ms=None):
        k = {"task_id": {"value": task_id}, "agent_id": {"value": agent_id}}
        if grace_ms is not None:
            k["kill_policy"] = {"grace_period": {"nanoseconds": int(grace_ms) * 1000000}}
        self.call({"type": "KILL", "kill": k})

    def states(self, task_id):
        with self.lock:
            return [u["state"] for u in self.updates if u["task_id"]["value"] == task_id]

    def wait_update(self, task_id, state, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for u in self.updates:
                    if u["task_id"]["value"] == task_id and u["state"] == state:
                        return u
            time.sleep(0.05)
        raise AssertionError("no %s for %s within %ss (got %s)"
                             % (state, task_id, timeout, self.states(task_id)))

    def close(self):
        self.closed = True
        try:
            self.conn.sock and self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()


def take_ports(offer, n):
    """The first n ports of the offer's port ranges."""
    out = []
    for r in offer.get("resources", []):
        if r["name"] != "ports":
            continue
        for rg in r["ranges"]["range"]:
            p = rg["begin"]
            while p <= rg["end"] and len(out) < n:
                out.append(p)
                p += 1
    return out
