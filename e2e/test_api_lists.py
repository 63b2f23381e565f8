"""List answers written in pieces (issue 13), against a real etcd and an
API-only corrald: GET /api/requests comes as a chunked reply holding every
request parent exactly as GET /api/requests/request/{id} shows it; a client
that stops reading a big list holds neither the loop (/healthz, other lists
and whole-cache reads still answer) nor more than its own list; many lists
at once all come out whole; one list more than --max-list-streams gets a 503
with Retry-After (docs/api.md, "Big answers and limits").
"""
import base64
import http.client
import json
import socket
import threading
import unittest

import harness

PREFIX = "/corral"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def store_requests(etcd, n, pad=0):
    """Puts n WORKER requests (each with a `pad`-byte description) in txns
    of 128."""
    ops = []
    for i in range(n):
        doc = {"id": "r%04d" % i, "requestType": "WORKER", "instances": 1 + i % 3}
        if pad:
            doc["description"] = "x" * pad
        ops.append({"requestPut": {"key": b64("%s/requests/r%04d" % (PREFIX, i)),
                                   "value": b64(json.dumps(doc))}})
    for lo in range(0, len(ops), 128):
        st, _, body = harness.http("POST", etcd + "/v3/kv/txn", {"success": ops[lo:lo + 128]},
                                   timeout=30)
        assert st == 200 and "header" in json.loads(body), body


def metric(api, name):
    body = harness.http("GET", api + "/metrics", timeout=30)[2].decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def stalled_client(api, path):
    """A connection that asks for path and never reads (tiny receive
    buffer), so the server's side fills up and its answer stays open."""
    host, port = api.split("//")[1].split(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    s.connect((host, int(port)))
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    return s


class ListCase(harness.TestCase):
    def start(self, n, pad=0, args=()):
        etcd = self.cluster.etcd()
        store_requests(etcd, n, pad)
        self.api = self.cluster.corrald(args=["--api-only"] + list(args))
        harness.wait_until(lambda: (metric(self.api, "corral_cache_keys") or 0) >= n, 30,
                           "corrald's cache to hold the requests")

    def get_json(self, path):
        st, hdrs, body = harness.http("GET", self.api + path, timeout=60)
        self.assertEqual(st, 200, body[:300])
        return hdrs, json.loads(body)


class TestLists(ListCase):
    def test_list_is_chunked_and_whole(self):
        self.start(300, pad=2000)  # about 700 KB: several pieces
        host, port = self.api.split("//")[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        conn.request("GET", "/api/requests")
        r = conn.getresponse()
        raw = r.read()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        self.assertTrue(raw.endswith(b"]\n"))
        listed = json.loads(raw)
        self.assertEqual([p["request"]["id"] for p in listed], ["r%04d" % i for i in range(300)])
        for i in (0, 1, 150, 299):
            _, one = self.get_json("/api/requests/request/r%04d" % i)
            self.assertEqual(listed[i], one)
        # The same connection serves the next request (keep-alive).
        conn.request("GET", "/api/requests?limit=2&requestType=WORKER")
        r = conn.getresponse()
        self.assertEqual(len(json.loads(r.read())), 2)
        conn.close()
        st, _, body = harness.http("HEAD", self.api + "/api/requests")
        self.assertEqual((st, body), (200, b""))
        st, _, body = harness.http("GET", self.api + "/api/requests?limit=x")
        self.assertEqual(st, 400)
        self.assertIn("limit", json.loads(body)["message"])

    def test_slow_reader_holds_only_its_list(self):
        self.start(2000, pad=3000)  # a 6 MB list: more than a socket takes
        s = stalled_client(self.api, "/api/requests")
        try:
            harness.wait_until(lambda: metric(self.api, "corral_api_list_streams") == 1, 10,
                               "the stalled list to be in progress")
            for _ in range(5):
                self.assertEqual(harness.http("GET", self.api + "/healthz", timeout=5)[0], 200)
            _, listed = self.get_json("/api/requests")
            self.assertEqual(len(listed), 2000)
            _, state = self.get_json("/api/state")
            self.assertEqual(state["allRequests"], 2000)
            self.assertEqual(metric(self.api, "corral_api_list_streams"), 1)
        finally:
            s.close()
        harness.wait_until(lambda: metric(self.api, "corral_api_list_streams") == 0, 10,
                           "the abandoned list to be dropped")

    def test_many_lists_at_once(self):
        self.start(500, pad=500)
        want = self.get_json("/api/requests")[1]
        got, errors = [], []

        def client():
            try:
                for path in ("/api/requests", "/api/requests/active", "/api/state"):
                    st, _, body = harness.http("GET", self.api + path, timeout=60)
                    got.append((path, st, json.loads(body)))
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=client) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(got), 48)
        for path, st, body in got:
            self.assertEqual(st, 200, (path, body))
            if path != "/api/state":
                self.assertEqual(body, want)
        self.assertEqual(metric(self.api, "corral_api_parent_cache_misses_total"), 500)


class TestListLimit(ListCase):
    def test_one_list_too_many_is_a_503(self):
        self.start(2000, pad=3000, args=["--max-list-streams", "1"])
        if metric(self.api, "corral_api_list_streams_max") != 1:
            self.skipTest("this corrald does not pass --max-list-streams to its API server")
        s = stalled_client(self.api, "/api/requests")
        try:
            harness.wait_until(lambda: metric(self.api, "corral_api_list_streams") == 1, 10,
                               "the stalled list to be in progress")
            st, hdrs, body = harness.http("GET", self.api + "/api/tasks/active")
            self.assertEqual(st, 503)
            self.assertEqual(hdrs.get("retry-after"), "1")
            self.assertIn("max-list-streams", json.loads(body)["message"])
            # Single objects and probes are not lists.
            self.get_json("/api/requests/request/r0001")
            self.assertEqual(harness.http("GET", self.api + "/healthz")[0], 200)
            self.assertGreaterEqual(metric(self.api, "corral_api_reads_rejected_total"), 1)
        finally:
            s.close()
        harness.wait_until(lambda: harness.http("GET", self.api + "/api/tasks/active")[0] == 200,
                           10, "a list once the slow client went away")


if __name__ == "__main__":
    unittest.main(verbosity=2)
