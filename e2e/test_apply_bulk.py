"""corralctl apply -f DIR of hundreds of objects with calls in flight
(--parallel): the same objects stored, the same lines and messages, as the
sequential apply (--parallel 1) of the same directory against a second
corrald; a re-apply changes nothing; an object the server refuses gets its
error while the rest apply; --prune deletes the same requests.

Two corrald --api-only on one etcd, under the prefixes /seq and /par.
"""
import json
import os
import re
import shutil

import harness

N = 300
TYPES = ["WORKER", "SERVICE", "ON_DEMAND"]


def request_doc(i):
    rid = "svc-%03d" % i
    spec = {"id": rid, "requestType": TYPES[i % 3]}
    if spec["requestType"] != "ON_DEMAND":
        spec["instances"] = 1 + i % 4
    return {"apiVersion": "corral/v1", "kind": "Request", "metadata": {"name": rid}, "spec": spec}


def deploy_doc(i, rid=None):
    spec = {"requestId": rid or "svc-%03d" % i, "command": "sleep %d" % (100 + i),
            "resources": {"cpus": 0.1, "memoryMb": 32 + i % 5}}
    doc = {"apiVersion": "corral/v1", "kind": "Deploy", "spec": spec}
    if i % 2:  # half named, half with an id derived from the spec
        doc["metadata"] = {"name": "v%d" % i}
    return doc


def normalized(docs, prefix):
    """{key without prefix and timestamps: document without timestamps}."""
    def strip(v):
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items()
                    if not (k == "timestamp" or k.endswith("At"))}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v
    out = {}
    for k, v in docs.items():
        key = re.sub(r"/\d{10,}-", "/T-", k[len(prefix):])
        out.setdefault(key, []).append(strip(v))
    return {k: sorted(v, key=json.dumps) for k, v in out.items()}


class TestApplyBulk(harness.TestCase):
    def setUp(self):
        super().setUp()
        self.cluster.etcd()
        self.seq = self.cluster.corrald(args=["--api-only"], prefix="/seq", name="corrald-seq")
        self.par = self.cluster.corrald(args=["--api-only"], prefix="/par", name="corrald-par")
        self.dir = os.path.join(self.cluster.tmpdir, "manifests")
        os.makedirs(self.dir)
        for i in range(N):
            self.write("svc-%03d.yaml" % i, [request_doc(i), deploy_doc(i)])
        # Valid here, refused by corrald: its request exists nowhere.
        self.write("svc-150-broken.yaml", [deploy_doc(9, rid="nosuch")])

    def write(self, name, docs):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write("\n---\n".join(json.dumps(d) for d in docs))

    def ctl(self, server, *args, rc=0):
        r = self.cluster.corralctl("--server", server, *args, server=False)
        self.assertEqual(r.returncode, rc, "corralctl %s -> %d\nstdout: %s\nstderr: %s"
                         % (" ".join(args), r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
        return r

    def both(self, *args, rc=0):
        """The same command sequentially against /seq and with 16 calls in
        flight against /par: the same output and messages."""
        s = self.ctl(self.seq, *args, "--parallel", "1", rc=rc)
        p = self.ctl(self.par, *args, "--parallel", "16", rc=rc)
        self.assertEqual(p.stdout, s.stdout)
        self.assertEqual(p.stderr.replace(self.par, "URL"), s.stderr.replace(self.seq, "URL"))
        return p

    def stored(self, prefix):
        return normalized(self.cluster.etcd_prefix_json(prefix + "/"), prefix + "/")

    def revisions(self, prefix):
        out = json.loads(self.cluster.etcdctl("get", prefix + "/", "--prefix", "--keys-only",
                                              "-w", "json"))
        return {kv["key"]: kv["mod_revision"] for kv in out.get("kvs", [])}

    def api_calls(self, url):
        st, _, raw = harness.http("GET", url + "/metrics")
        self.assertEqual(st, 200)
        calls = {}
        for m in re.finditer(r'corral_api_requests_total\{op="(\w+)",code="(\w+)"\} (\d+)',
                             raw.decode()):
            calls[m.group(1), m.group(2)] = int(m.group(3))
        return calls

    def test_parallel_apply_stores_what_sequential_apply_stores(self):
        r = self.both("apply", "-f", self.dir, rc=1)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 2 * N)
        self.assertEqual(lines[:N], ["request/svc-%03d created" % i for i in range(N)])
        self.assertTrue(all(l.startswith("deploy/svc-") and l.endswith(" created")
                            for l in lines[N:]), lines[N:N + 5])
        self.assertEqual([l.split("/")[1] for l in lines[N:]], ["svc-%03d" % i for i in range(N)])
        # The refused deploy: its message once, the rest applied.
        self.assertEqual(r.stderr, "corralctl apply: corrald answered 404 for POST /api/deploys: "
                                   "Couldn't find request with id nosuch\n")

        seq, par = self.stored("/seq"), self.stored("/par")
        self.assertEqual(len([k for k in par if k.startswith("requests/")]), N)
        self.assertEqual(len([k for k in par if k.startswith("deploys/")]), N)
        self.assertEqual(sorted(par), sorted(seq))
        for k in seq:
            self.assertEqual(par[k], seq[k], k)
        # The parallel apply read the state in batches, not a GET a request.
        calls = self.api_calls(self.par)
        self.assertGreater(calls.get(("REQ_BATCH", "2xx"), 0), 0)
        self.assertNotIn(("REQ_GET", "2xx"), calls)
        self.assertNotIn(("REQ_GET", "4xx"), calls)
        self.assertEqual(calls[("REQ_POST", "2xx")], N)
        self.assertEqual(calls[("DEPLOY_POST", "2xx")], N)

        # Again: nothing changes, nothing is written.
        before = self.revisions("/par")
        r = self.both("apply", "-f", self.dir, rc=1)
        self.assertTrue(all(l.endswith(" unchanged") for l in r.stdout.splitlines()))
        self.assertEqual(len(r.stdout.splitlines()), 2 * N)
        self.assertEqual(self.revisions("/par"), before)
        # diff finds only the refused deploy.
        r = self.both("diff", "-f", self.dir, rc=1)
        self.assertEqual([l for l in r.stdout.splitlines() if not l.startswith("  ")],
                         ["deploy/nosuch/v9 (created)"])

        # An invalid manifest among them: nothing is sent at all (as before).
        with open(os.path.join(self.dir, "svc-200-invalid.yaml"), "w") as f:
            f.write("kind: Request\napiVersion: corral/v1\nmetadata: {name: bad}\n"
                    "spec: {id: bad, requestType: WORKER, instances: -1}\n")
        r = self.ctl(self.par, "apply", "-f", self.dir, rc=1)
        self.assertIn("svc-200-invalid.yaml", r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual(self.revisions("/par"), before)
        os.remove(os.path.join(self.dir, "svc-200-invalid.yaml"))

        # Without the refused file and 30 requests: --prune deletes them, in order.
        os.remove(os.path.join(self.dir, "svc-150-broken.yaml"))
        for i in range(0, N, 10):
            os.remove(os.path.join(self.dir, "svc-%03d.yaml" % i))
        r = self.both("apply", "--prune", "-f", self.dir)
        pruned = [l for l in r.stdout.splitlines() if l.endswith(" pruned")]
        self.assertEqual(pruned, ["request/svc-%03d pruned" % i for i in range(0, N, 10)])
        seq, par = self.stored("/seq"), self.stored("/par")
        self.assertEqual(len([k for k in par if k.startswith("requests/")]), N - N // 10)
        self.assertEqual(par, seq)

    def test_deploys_of_one_request_stay_in_order(self):
        # A new deploy of a request already holding a pending one is refused
        # (409), so the order of the two deploys decides which is stored;
        # updatedRequest of the later one wins over the request document.
        docs = [request_doc(1)]
        for k in range(3):
            d = deploy_doc(k, rid="svc-001")
            d["metadata"] = {"name": "d%d" % k}
            docs.append(d)
        self.write("svc-001.yaml", docs)
        r = self.both("apply", "-f", os.path.join(self.dir, "svc-001.yaml"), rc=1)
        self.assertEqual(r.stdout.splitlines(), ["request/svc-001 created",
                                                 "deploy/svc-001/d0 created"])
        self.assertEqual(r.stderr.count("answered 409"), 2, r.stderr)
        self.assertEqual(self.stored("/par"), self.stored("/seq"))
        self.assertIsNotNone(self.cluster.etcd_get_json("/par/deploys/svc-001/d0"))
        self.assertIsNone(self.cluster.etcd_get_json("/par/deploys/svc-001/d1"))


if __name__ == "__main__":
    harness.main()
