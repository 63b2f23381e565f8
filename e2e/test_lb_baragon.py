"""The Baragon-compatible LB provider end to end (docs/loadbalancing.md):
real etcd, corrald with --lb-provider baragon, mesoslite running real
processes, and a small BaragonService stand-in written for this test that
records every BaragonRequest and answers with BaragonResponses.

Checked: the exact body of each request (loadBalancerRequestId,
loadBalancerService, addUpstreams, removeUpstreams as UpstreamInfo with the
tasks' real host:port); a deploy's swap is one request adding the new
tasks and removing the old; while Baragon has not confirmed it the old
tasks keep running (their kills wait in the LB cleanup queue); once it
says SUCCESS they are killed; a change Baragon FAILs is recorded and sent
again as a new request.
"""
import http.server
import json
import threading
import unittest

import harness

PREFIX = "/corral"
ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]
APP = r'''
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(sys.argv[2].encode())
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''


class Baragon:
    """BaragonService's request API, in memory: POST /baragon/v2/request
    takes a BaragonRequest (WAITING); GET /baragon/v2/request/{id} answers
    its state: SUCCESS once released (all are, unless `hold`), or FAILED
    for ids in `fail`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []  # bodies, in order
        self.states = {}
        self.hold = False
        self.fail_next = False
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def answer(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                if self.path != "/baragon/v2/request":
                    return self.answer(404, {"message": "no such path"})
                n = int(self.headers.get("Content-Length", "0"))
                req = json.loads(self.rfile.read(n))
                with outer.lock:
                    outer.requests.append(req)
                    rid = req["loadBalancerRequestId"]
                    if outer.fail_next:
                        outer.fail_next = False
                        outer.states[rid] = "FAILED"
                    else:
                        outer.states[rid] = "WAITING"
                self.answer(200, {"loadBalancerRequestId": rid, "loadBalancerState": "WAITING",
                                  "message": None, "agentResponses": {}})

            def do_GET(self):
                prefix = "/baragon/v2/request/"
                if not self.path.startswith(prefix):
                    return self.answer(404, {"message": "no such path"})
                rid = self.path[len(prefix):]
                with outer.lock:
                    st = outer.states.get(rid)
                    if st == "WAITING" and not outer.hold:
                        st = outer.states[rid] = "SUCCESS"
                if st is None:
                    return self.answer(404, {"message": "unknown request"})
                self.answer(200, {"loadBalancerRequestId": rid, "loadBalancerState": st,
                                  "message": "agent said no" if st == "FAILED" else None,
                                  "agentResponses": {}})

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/baragon/v2" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self):
        with self.lock:
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class T(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.baragon = Baragon()
        self.addCleanup(self.baragon.close)

    def start(self):
        c = self.cluster
        c.etcd()
        base = harness.free_port_range(100)
        res = "cpus:8;mem:8192;disk:65536;ports:[%d-%d]" % (base, base + 99)
        c.mesoslite(agents=1, racks="r1", args=ML_ARGS + ["--agent-resources", res])
        c.corrald(args=["--lb-provider", "baragon", "--lb-baragon-url", self.baragon.url,
                        "--lb-drain-ms", "500"])
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30,
                           "framework id stored")
        import os
        self.app = os.path.join(c.tmpdir, "app.py")
        with open(self.app, "w") as f:
            f.write(APP)

    def put(self, key, obj):
        self.cluster.etcdctl("put", key, json.dumps(obj))

    def deploy(self, did):
        self.put("%s/deploys/web/%s" % (PREFIX, did), {
            "requestId": "web", "id": did,
            "command": "exec python3 %s $PORT0 %s" % (self.app, did),
            "resources": {"cpus": 0.05, "memoryMb": 16, "numPorts": 1},
            "serviceBasePath": "/web/", "loadBalancerGroups": ["web", "edge"],
            "deployHealthTimeoutSeconds": 60,
            "healthcheck": {"uri": "/", "startupIntervalSeconds": 1, "intervalSeconds": 1,
                            "responseTimeoutSeconds": 2, "startupTimeoutSeconds": 30}})

    def lb(self):
        return self.cluster.etcd_get_json(PREFIX + "/status/lb/web") or {}

    def tasks(self):
        return list(self.cluster.etcd_prefix_json(PREFIX + "/tasks/web/").values())

    def addrs(self, did):
        return sorted("%s:%d" % (t["hostname"], t["ports"][0]) for t in self.tasks()
                      if t["taskId"]["deployId"] == did)

    def served(self, did, n):
        lb = self.lb()
        ups = lb.get("upstreams", [])
        return (lb.get("state") == "SUCCESS" and len(ups) == n
                and all(u["taskId"].split("-")[1] == did for u in ups))

    def expect_request(self, body, add, remove):
        rid = body["loadBalancerRequestId"]
        self.assertRegex(rid, r"^web-\d+$")
        self.assertEqual(body["loadBalancerService"],
                         {"serviceId": "web", "owners": ["team@example.com"],
                          "serviceBasePath": "/web/", "loadBalancerGroups": ["web", "edge"],
                          "options": {}})
        for name, want in (("addUpstreams", add), ("removeUpstreams", remove)):
            got = body[name]
            self.assertEqual(sorted(u["upstream"] for u in got), want, name)
            for u in got:
                self.assertEqual(u, {"upstream": u["upstream"], "requestId": rid,
                                     "rackId": None, "group": "default"})
        self.assertEqual(set(body), {"loadBalancerRequestId", "loadBalancerService",
                                     "addUpstreams", "removeUpstreams"})

    def test_bodies_swap_wait_for_confirmation_and_failure(self):
        self.start()
        self.put(PREFIX + "/requests/web", {"id": "web", "requestType": "SERVICE",
                                            "instances": 2, "loadBalanced": True,
                                            "owners": ["team@example.com"]})
        self.deploy("v1")
        harness.wait_until(lambda: self.served("v1", 2), 90, "v1 served through Baragon")
        bodies = self.baragon.bodies()
        # tasks may become healthy one pass apart: one or two ADD requests
        added = sorted(u["upstream"] for b in bodies for u in b["addUpstreams"])
        self.assertEqual(added, self.addrs("v1"))
        for b in bodies:
            self.expect_request(b, sorted(u["upstream"] for u in b["addUpstreams"]), [])
        self.assertEqual(self.lb()["loadBalancerRequestId"], bodies[-1]["loadBalancerRequestId"])

        # v2: the swap is one request; Baragon holds it, so v1 keeps running
        self.baragon.hold = True
        n = len(bodies)
        v1 = self.addrs("v1")
        self.deploy("v2")
        harness.wait_until(lambda: len(self.baragon.bodies()) > n and self.lb().get("state")
                           == "WAITING", 90, "the swap sent")
        swap = self.baragon.bodies()[n]
        self.expect_request(swap, self.addrs("v2"), v1)
        self.assertEqual(len(self.lb()["pending"]), 2)
        # not confirmed: the old tasks wait in the LB cleanup queue, alive
        harness.wait_until(
            lambda: len(self.cluster.etcd_prefix_json(PREFIX + "/lbcleanups/web/")) == 2, 30,
            "v1 waiting for the load balancer")
        self.assertEqual(self.addrs("v1"), v1)
        self.assertEqual(self.cluster.etcd_prefix_json(PREFIX + "/cleanups/"), {})
        self.assertTrue(all(t["lastTaskState"] == "TASK_RUNNING" for t in self.tasks()))
        # confirmed: served by v2 only, and v1 killed after the drain
        self.baragon.hold = False
        harness.wait_until(lambda: self.served("v2", 2), 30, "swap confirmed")
        harness.wait_until(lambda: self.addrs("v1") == [], 60, "v1 killed and archived")
        self.assertEqual(len(self.baragon.bodies()), n + 1)

        # Baragon fails a scale-down's change: recorded, nothing killed, sent
        # again later as a new request that succeeds
        self.baragon.fail_next = True
        self.put(PREFIX + "/requests/web", {"id": "web", "requestType": "SERVICE",
                                            "instances": 1, "loadBalanced": True,
                                            "owners": ["team@example.com"]})
        harness.wait_until(lambda: self.lb().get("state") == "FAILED", 30, "change failed")
        self.assertIn("agent said no", self.lb()["message"])
        self.assertEqual(len(self.lb()["upstreams"]), 2)
        self.assertEqual(len(self.addrs("v2")), 2)
        harness.wait_until(lambda: self.served("v2", 1), 60, "retried and confirmed")
        failed, retry = self.baragon.bodies()[-2:]
        self.assertNotEqual(failed["loadBalancerRequestId"], retry["loadBalancerRequestId"])
        self.assertEqual(failed["removeUpstreams"], [dict(u, requestId=failed[
            "loadBalancerRequestId"]) for u in retry["removeUpstreams"]])
        harness.wait_until(lambda: len(self.addrs("v2")) == 1, 60, "scaled down")


if __name__ == "__main__":
    harness.main()
