"""One watch per corrald: the API, both controller loops and the Mesos
bridge of a leading corrald all read one cache, fed by one etcd watch of the
prefix (plus the leader election's watch of its own key). Counted by etcd
itself (etcd_debugging_mvcc_watcher_total), with a task launched so every
part is known to be running. An /api/watch client following "now" is served
from the cache (no new etcd watch); one asking for past revisions gets an
etcd watch that goes away with it. A second, API-only replica adds exactly
its own cache's watch.
"""
import json
import re
import socket
import unittest

import harness


def etcd_watchers(cluster):
    st, _, raw = harness.http("GET", cluster.etcd_url + "/metrics")
    if st != 200:
        raise AssertionError("etcd /metrics answered %d" % st)
    m = re.search(r"^etcd_debugging_mvcc_watcher_total (\S+)$", raw.decode(), re.M)
    if not m:
        raise AssertionError("etcd has no etcd_debugging_mvcc_watcher_total")
    return int(float(m.group(1)))


def open_stream(url, path):
    """Opens an SSE request and reads its headers; returns the socket."""
    host, port = url[len("http://"):].split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n"
               % (path, host)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise AssertionError("stream %s closed before its headers" % path)
        head += chunk
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise AssertionError("stream %s: %r" % (path, head[:200]))
    return s


class TestOneWatch(harness.TestCase):
    def setUp(self):
        super().setUp()
        self.cluster.etcd()
        self.cluster.mesoslite(agents=1, racks="r1")

    def ok(self, method, path, body=None):
        st, _, raw = harness.http(method, self.api + path, body)
        self.assertIn(st, (200, 201, 202, 204), "%s %s -> %d %r" % (method, path, st, raw))
        text = raw.decode()
        return json.loads(text) if text.strip() else None

    def settle(self, want, what):
        """Waits until etcd counts `want` watchers (they come and go
        asynchronously), then checks it stays there for a few polls."""
        harness.wait_until(lambda: etcd_watchers(self.cluster) == want, 15,
                           "%d etcd watchers (%s)" % (want, what))

    def test_one_watch_for_everything(self):
        self.assertEqual(etcd_watchers(self.cluster), 0)  # a fresh etcd
        self.api = self.cluster.corrald()
        self.ok("POST", "/api/requests", {"id": "w", "requestType": "WORKER", "instances": 1})
        self.ok("POST", "/api/deploys", {"deploy": {
            "requestId": "w", "id": "v1", "command": "exec sleep 300",
            "resources": {"cpus": 0.1, "memoryMb": 32}}})

        def running():
            tasks = self.ok("GET", "/api/tasks/active")
            return any(t.get("lastTaskState") == "TASK_RUNNING" for t in tasks)
        harness.wait_until(running, 60, "a running task (controllers and bridge at work)")
        # The cache's watch of the prefix and the election's watch of its key.
        self.settle(2, "leader: cache + election")

        # Following "now": served from the cache, no etcd watch.
        live = open_stream(self.api, "/api/watch?prefix=requests/")
        self.addCleanup(live.close)
        self.ok("PUT", "/api/requests/request/w/scale", {"instances": 2})
        buf = b""
        while b'"key":"/corral/requests/w"' not in buf:
            chunk = live.recv(65536)
            self.assertTrue(chunk, "the live stream closed")
            buf += chunk
        self.assertEqual(etcd_watchers(self.cluster), 2)

        # From a past revision: etcd replays it, through a watch of its own.
        past = open_stream(self.api, "/api/watch?prefix=requests/&revision=1")
        self.settle(3, "a replaying stream")
        past.close()
        self.settle(2, "the replaying stream closed")

        # An API-only replica: its cache's watch, nothing else.
        self.cluster.corrald(args=["--api-only"], name="corrald-api")
        self.settle(3, "a second, API-only replica")


if __name__ == "__main__":
    harness.main()
