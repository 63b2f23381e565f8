"""Bad objects written straight into etcd (the documented interface that
GitOps tools and scripts use) get a clear error in their status and change
nothing else; the reconcile loops keep running for everything else. Bad
requests to the API (bodies and headers over the limits, framing corrald
does not take) get a JSON error before their bodies are read, and write
nothing."""
import base64
import json
import random
import select
import socket

import harness

PREFIX = "/corral"


class BadObjectsInEtcd(harness.TestCase):
    def start(self):
        c = self.cluster
        c.etcd()
        base = harness.free_port_range(100)
        c.mesoslite(agents=1, args=["--heartbeat-interval", "1", "--allocation-interval", "0.2",
                                    "--agent-resources",
                                    "cpus:8;mem:8192;disk:65536;ports:[%d-%d]" % (base, base + 99)])
        c.corrald()
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30, "framework id")
        return c

    def condition(self, rid, ctype):
        st = self.cluster.etcd_get_json("%s/status/requests/%s" % (PREFIX, rid)) or {}
        for cond in st.get("conditions", []):
            if cond.get("type") == ctype:
                return cond
        return None

    def test_invalid_requests_and_deploys_get_errors_and_loops_go_on(self):
        c = self.start()
        # Not JSON at all, a typo'd field, an impossible value.
        c.etcdctl("put", PREFIX + "/requests/garbage", "{not json")
        c.etcdctl("put", PREFIX + "/requests/typo",
                  json.dumps({"id": "typo", "requestType": "WORKER", "instancez": 2}))
        c.etcdctl("put", PREFIX + "/requests/negative",
                  json.dumps({"id": "negative", "requestType": "WORKER", "instances": -3}))
        # A valid request whose deploy is invalid (no command, cpus <= 0).
        c.etcdctl("put", PREFIX + "/requests/halfbad",
                  json.dumps({"id": "halfbad", "requestType": "WORKER", "instances": 1}))
        c.etcdctl("put", PREFIX + "/deploys/halfbad/v1",
                  json.dumps({"requestId": "halfbad", "id": "v1",
                              "resources": {"cpus": 0, "memoryMb": 16}}))

        for rid, needle in (("garbage", ""), ("typo", "instancez"), ("negative", "instances")):
            cond = harness.wait_until(
                lambda rid=rid: (self.condition(rid, "Valid") or {}).get("status") == "False"
                and self.condition(rid, "Valid"), 30, "Valid=False on " + rid)
            self.assertIn(needle, cond.get("message", ""), (rid, cond))
            self.assertTrue(cond.get("message"), (rid, cond))

        dst = harness.wait_until(
            lambda: (c.etcd_get_json(PREFIX + "/status/deploys/halfbad/v1") or {}).get("state")
            == "FAILED" and c.etcd_get_json(PREFIX + "/status/deploys/halfbad/v1"),
            30, "invalid deploy FAILED")
        self.assertIn("cpus", json.dumps(dst))

        # The user's documents are untouched, and nothing was launched for them.
        self.assertEqual(c.etcdctl("get", PREFIX + "/requests/garbage", "--print-value-only").strip(),
                         "{not json")
        self.assertEqual(c.etcd_prefix_json(PREFIX + "/tasks/"), {})

        # The loops keep running: a good worker applied afterwards runs.
        c.etcdctl("put", PREFIX + "/requests/good",
                  json.dumps({"id": "good", "requestType": "WORKER", "instances": 1}))
        c.etcdctl("put", PREFIX + "/deploys/good/v1",
                  json.dumps({"requestId": "good", "id": "v1", "command": "sleep 600",
                              "resources": {"cpus": 0.1, "memoryMb": 16}}))

        def good_running():
            tasks = c.etcd_prefix_json(PREFIX + "/tasks/good/")
            return any(t.get("lastTaskState") == "TASK_RUNNING" or t.get("state") == "TASK_RUNNING"
                       for t in tasks.values())
        harness.wait_until(good_running, 60, "valid worker running beside the bad objects")
        # Fixing a bad object in place is picked up (level-triggered).
        c.etcdctl("put", PREFIX + "/requests/typo",
                  json.dumps({"id": "typo", "requestType": "WORKER", "instances": 2}))
        harness.wait_until(lambda: (self.condition("typo", "Valid") or {}).get("status") == "True",
                           30, "fixed request becomes Valid")



class TestOversizedRequests(harness.TestCase):
    """Requests over corrald's limits get a JSON answer like every other
    error, decided from the request line and headers before the body is
    read (apiserver/as_gate.h), and write nothing."""

    LIMIT = 1024 * 1024  # --max-body-bytes' default

    def setUp(self):
        super().setUp()
        self.addCleanup(self.cluster.close, True)
        self.cluster.etcd()
        self.api = self.cluster.corrald(args=["--api-only"])
        self.port = int(self.api.rsplit(":", 1)[1])

    def revision(self):
        st, _, raw = harness.http("POST", self.cluster.etcd_url + "/v3/kv/range",
                                  {"key": base64.b64encode(b"/").decode(), "limit": 1})
        self.assertEqual(st, 200, raw)
        return int(json.loads(raw)["header"]["revision"])

    def exchange(self, head, body_len=0, wait_first=False, piece=64 * 1024):
        """Sends head, then up to body_len bytes of body in pieces, and stops
        sending once an answer is there to read (after the first MiB it
        waits up to 10 s for one; with wait_first before any body, as a
        client sending "Expect: 100-continue" does). Returns (body bytes
        sent, status, headers, decoded body)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        sent = 0
        try:
            s.sendall(head)
            while sent < body_len:
                wait = 10 if (wait_first and sent == 0) or sent == self.LIMIT else 0
                if select.select([s], [], [], wait)[0]:
                    break
                n = min(piece, body_len - sent)
                try:
                    s.sendall(b"x" * n)
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += n
            raw = b""
            while True:
                try:
                    got = s.recv(65536)
                except ConnectionResetError:
                    break
                if not got:
                    break
                raw += got
        finally:
            s.close()
        head_raw, _, body = raw.partition(b"\r\n\r\n")
        lines = head_raw.decode(errors="replace").split("\r\n")
        self.assertTrue(lines[0].startswith("HTTP/1.1 "), raw[:200])
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        return sent, int(lines[0].split()[1]), hdrs, body

    def assert_json_error(self, status, hdrs, body, want, needle):
        self.assertEqual(status, want, body)
        self.assertEqual(hdrs.get("content-type"), "application/json", hdrs)
        self.assertEqual(hdrs.get("connection"), "close", hdrs)
        self.assertEqual(len(body), int(hdrs["content-length"]))
        doc = json.loads(body)
        self.assertEqual(doc["status"], want)
        self.assertIn(needle, doc["message"])

    def post_head(self, length, extra=b""):
        return (b"POST /api/requests HTTP/1.1\r\nHost: corrald\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n%s\r\n" % (length, extra))

    def test_bodies_and_headers_over_the_limits(self):
        rev = self.revision()

        # 3 MiB and 20 MiB: the answer comes while the body is still being
        # sent, after the first MiB at most.
        for size in (3 << 20, 20 << 20):
            sent, st, hdrs, body = self.exchange(self.post_head(size), size)
            self.assert_json_error(st, hdrs, body, 413,
                                   "request body too large: %d bytes (limit %d)"
                                   % (size, self.LIMIT))
            self.assertLessEqual(sent, self.LIMIT, "corrald read the body before answering")

        # A client that sends all of it before it reads (urllib) gets the
        # same answer: corrald drops what follows a refusal for a while
        # before it closes, so the answer is not lost to a reset.
        for size in (3 << 20, 20 << 20):
            st, hdrs, body = harness.http("POST", self.api + "/api/requests",
                                          b"{" + b" " * (size - 2) + b"}",
                                          {"Content-Type": "application/json"}, timeout=30)
            self.assert_json_error(st, hdrs, body, 413, "request body too large")

        # "Expect: 100-continue": refused before any of the body is sent.
        sent, st, hdrs, body = self.exchange(
            self.post_head(20 << 20, b"Expect: 100-continue\r\n"), 20 << 20, wait_first=True)
        self.assert_json_error(st, hdrs, body, 413, "limit %d" % self.LIMIT)
        self.assertEqual(sent, 0)

        # One byte over the limit is over it; at the limit the body is read
        # (and judged: not JSON).
        sent, st, hdrs, body = self.exchange(self.post_head(self.LIMIT + 1), self.LIMIT + 1)
        self.assert_json_error(st, hdrs, body, 413, "%d bytes" % (self.LIMIT + 1))
        st, hdrs, body = harness.http("POST", self.api + "/api/requests", b"x" * self.LIMIT,
                                      {"Content-Type": "application/json"})
        self.assertEqual(st, 400, body)
        self.assertIn("malformed JSON", json.loads(body)["message"])

        # Headers: 64 KiB for the request line and headers together (a
        # token included); a 70 KiB header is a 431, a 200 KiB one too.
        for size in (70 * 1024, 200 * 1024):
            _, st, hdrs, body = self.exchange(
                b"GET /api/requests HTTP/1.1\r\nHost: corrald\r\nX-Big: " + b"a" * size +
                b"\r\n\r\n")
            self.assert_json_error(st, hdrs, body, 431, "larger than 65536 bytes")
        _, st, hdrs, body = self.exchange(
            b"GET /api/requests HTTP/1.1\r\nHost: corrald\r\nAuthorization: Bearer " +
            b"t" * (66 * 1024) + b"\r\n\r\n")
        self.assert_json_error(st, hdrs, body, 431, "65536")

        # Framing corrald does not take: JSON too, never libevent's HTML.
        cases = [
            (b"POST /api/requests HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0"
             b"\r\n\r\n", 411, "Content-Length"),
            (b"POST /api/requests HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
             400, "conflicting"),
            (b"POST /api/requests HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello", 400,
             "header name"),
            (b"BREW /pot HTTP/1.1\r\n\r\n", 501, "BREW"),
            (b"GET / HTTP/2.0\r\n\r\n", 505, "version"),
            (b"GET /healthz\r\n\r\n", 400, "request line"),
        ]
        for head, want, needle in cases:
            _, st, hdrs, body = self.exchange(head)
            self.assert_json_error(st, hdrs, body, want, needle)

        # A refused request behind an ordinary one on the same connection:
        # the first is answered, then the refusal.
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: corrald\r\n\r\n" + self.post_head(5 << 20))
            raw = b""
            while b"413" not in raw or not raw.endswith(b"}\n"):
                got = s.recv(65536)
                if not got:
                    break
                raw += got
        finally:
            s.close()
        self.assertTrue(raw.startswith(b"HTTP/1.1 200 OK"), raw)
        self.assertIn(b"HTTP/1.1 413 Payload Too Large", raw)
        self.assertIn(b'"status":413', raw)

        # Nothing was written, and corrald serves on.
        self.assertEqual(self.revision(), rev)
        st, _, body = harness.http("POST", self.api + "/api/requests",
                                   {"id": "after", "requestType": "WORKER"})
        self.assertEqual(st, 200, body)
        self.assertGreater(self.revision(), rev)
        log = self.cluster.procs[-1].log()
        self.assertIn("refused a request from 127.0.0.1", log)
        self.assertNotIn("t" * 100, log)


if __name__ == "__main__":
    harness.main()
