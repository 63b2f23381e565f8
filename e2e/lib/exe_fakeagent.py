"""A minimal Mesos agent executor endpoint (v1 executor HTTP API, JSON) for
testing corral-executor where mesoslite cannot reach: disconnects,
re-subscription with unacknowledged updates, withheld acknowledgements.

It listens on 127.0.0.1 only. SUBSCRIBE opens a RecordIO stream; queued
events are written to it; UPDATE calls are recorded and (unless auto_ack is
off) acknowledged on the stream.

    agent = FakeAgent()            # starts serving
    proc = cluster.spawn("executor", [exe], env=agent.executor_env(sandbox))
    agent.wait_subscribed()
    agent.launch(taskinfo)
    agent.wait_state("TASK_RUNNING")
    agent.stop()
"""

import base64
import http.server
import json
import threading
import time


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        agent = self.server.agent
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        if self.headers.get("Content-Type") != "application/json":
            self._reply(415, b"")
            return
        agent._record_call(body)
        t = body.get("type")
        if t == "SUBSCRIBE":
            if "subscribe" not in body:
                self._reply(400, b"Expecting 'subscribe' to be present")
                return
            self._stream(agent, body)
        elif t in ("UPDATE", "MESSAGE", "HEARTBEAT"):
            if t == "UPDATE":
                st = body["update"]["status"]
                if st.get("source") != "SOURCE_EXECUTOR" or len(base64.b64decode(st["uuid"])) != 16:
                    self._reply(400, b"bad update")
                    return
                agent._on_update(st)
            self._reply(202, b"")
        else:
            self._reply(400, b"unknown call")

    def _reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, agent, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sub = body.get("subscribe", {})
        gen = agent._attach(sub)
        try:
            while True:
                ev = gen.next_event(timeout=0.1)
                if ev is None:
                    if gen.closed:
                        break
                    continue
                data = json.dumps(ev).encode()
                rec = str(len(data)).encode() + b"\n" + data
                self.wfile.write(b"%x\r\n%s\r\n" % (len(rec), rec))
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


class _Stream:
    def __init__(self):
        self.events = []
        self.closed = False
        self.cv = threading.Condition()

    def push(self, ev):
        with self.cv:
            self.events.append(ev)
            self.cv.notify_all()

    def close(self):
        with self.cv:
            self.closed = True
            self.cv.notify_all()

    def next_event(self, timeout):
        with self.cv:
            if not self.events and not self.closed:
                self.cv.wait(timeout)
            if self.events:
                return self.events.pop(0)
            return None


class FakeAgent:
    def __init__(self, framework_caps=("TASK_KILLING_STATE",), hostname="agent1.local",
                 attributes=None, auto_ack=True):
        self.framework_id = "fw-0001"
        self.agent_id = "agent-S1"
        self.hostname = hostname
        self.caps = list(framework_caps)
        self.attributes = attributes or [{"name": "rackid", "type": "TEXT", "text": {"value": "r1"}}]
        self.auto_ack = auto_ack
        self.lock = threading.Lock()
        self.calls = []
        self.updates = []
        self.subscribes = []
        self.stream = None
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *a: None  # clients hanging up are normal
        self.server.agent = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def executor_env(self, sandbox, executor_id="exec-1", checkpoint=False, extra=None):
        env = {
            "MESOS_AGENT_ENDPOINT": "127.0.0.1:%d" % self.port,
            "MESOS_FRAMEWORK_ID": self.framework_id,
            "MESOS_EXECUTOR_ID": executor_id,
            "MESOS_DIRECTORY": sandbox,
            "MESOS_SANDBOX": sandbox,
            "MESOS_SLAVE_ID": self.agent_id,
            "MESOS_CHECKPOINT": "1" if checkpoint else "0",
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "5secs",
        }
        if checkpoint:
            env["MESOS_RECOVERY_TIMEOUT"] = "15secs"
            env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = "1secs"
        env.update(extra or {})
        return env

    # -- server side -------------------------------------------------------
    def _record_call(self, body):
        with self.lock:
            self.calls.append(body)

    def _attach(self, sub):
        with self.lock:
            if self.stream:
                self.stream.close()
            self.subscribes.append(sub)
            s = _Stream()
            self.stream = s
            # Replay what the executor says the agent has not acknowledged.
            for u in sub.get("unacknowledged_updates", []):
                self._on_update_locked(u["status"])
        s.push({"type": "SUBSCRIBED", "subscribed": {
            "executor_info": {"executor_id": {"value": "exec-1"},
                              "framework_id": {"value": self.framework_id},
                              "command": {"value": "corral-executor"}},
            "framework_info": {"id": {"value": self.framework_id}, "user": "root",
                               "name": "test", "checkpoint": True,
                               "capabilities": [{"type": c} for c in self.caps]},
            "agent_info": {"hostname": self.hostname, "id": {"value": self.agent_id},
                           "attributes": self.attributes}}})
        return s

    def _on_update(self, st):
        with self.lock:
            self._on_update_locked(st)

    def _on_update_locked(self, st):
        if any(u["uuid"] == st["uuid"] for u in self.updates):
            return  # duplicate (re-sent): already recorded
        self.updates.append(st)
        if self.auto_ack and self.stream:
            self.stream.push({"type": "ACKNOWLEDGED", "acknowledged": {
                "task_id": st["task_id"], "uuid": st["uuid"]}})

    # -- test side ---------------------------------------------------------
    def send(self, ev):
        with self.lock:
            s = self.stream
        assert s, "no subscription"
        s.push(ev)

    def launch(self, task):
        self.send({"type": "LAUNCH", "launch": {"task": task}})

    def kill(self, task_id, grace_ms=None):
        k = {"task_id": {"value": task_id}}
        if grace_ms is not None:
            k["kill_policy"] = {"grace_period": {"nanoseconds": int(grace_ms) * 1000000}}
        self.send({"type": "KILL", "kill": k})

    def ack(self, st):
        self.send({"type": "ACKNOWLEDGED", "acknowledged": {"task_id": st["task_id"],
                                                            "uuid": st["uuid"]}})

    def disconnect(self):
        with self.lock:
            s, self.stream = self.stream, None
        if s:
            s.close()

    def states(self):
        with self.lock:
            return [u["state"] for u in self.updates]

    def update(self, state):
        with self.lock:
            for u in self.updates:
                if u["state"] == state:
                    return u
        return None

    def wait_subscribed(self, n=1, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.subscribes) >= n and self.stream:
                    return self.subscribes[n - 1]
            time.sleep(0.05)
        raise AssertionError("executor did not subscribe %d time(s)" % n)

    def wait_state(self, state, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            u = self.update(state)
            if u:
                return u
            time.sleep(0.05)
        raise AssertionError("no %s update within %ss (got %s)" % (state, timeout, self.states()))

    def stop(self):
        self.disconnect()
        self.server.shutdown()
        self.server.server_close()


def taskinfo(task_id, executor_data, executor_id="exec-1", env=None, ports=None, kill_ms=None):
    """A TaskInfo with a custom executor whose data is executor_data (JSON)."""
    t = {
        "name": task_id.split("-")[0],
        "task_id": {"value": task_id},
        "agent_id": {"value": "agent-S1"},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
        "executor": {"executor_id": {"value": executor_id}, "type": "CUSTOM",
                     "command": {"value": "corral-executor", "environment": {"variables": [
                         {"name": k, "value": v} for k, v in (env or {}).items()]}}},
        "data": base64.b64encode(json.dumps(executor_data).encode()).decode(),
    }
    if ports:
        t["resources"].append({"name": "ports", "type": "RANGES", "ranges": {
            "range": [{"begin": p, "end": p} for p in ports]}})
    if kill_ms is not None:
        t["kill_policy"] = {"grace_period": {"nanoseconds": kill_ms * 1000000}}
    return t
