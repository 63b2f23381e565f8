"""The node agent's S3 uploader with a real S3-compatible server (s3rver,
e2e/lib/s3rver.py) on loopback, real etcd, mesoslite, corrald and
corral-executor: rotated logs of running tasks and every log of finished
tasks reach S3 byte for byte, are listed by corrald's
GET /api/logs/{task,request,deploy}/... with working presigned URLs, and a
node agent SIGKILLed in the middle of an upload and started again loses
nothing and stores nothing twice. docs/nodeagent.md, "Upload guarantees"."""

import os
import signal
import time
import urllib.parse

import harness
import nodeagent
import s3rver

EXECUTOR = os.path.join(harness.BIN, "corral-executor")
ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]


def q(s):
    return urllib.parse.quote(s, safe="")


class T(harness.TestCase):

    @classmethod
    def setUpClass(cls):
        # one s3rver for the class: task ids (in every key) differ per test
        cls.s3 = s3rver.for_class(cls, bucket="logs")

    def setUp(self):
        super().setUp()
        s3rver.need(self)
        c = self.cluster
        c.etcd()
        c.mesoslite(agents=2, racks="r1,r2", args=ML_ARGS)
        self.na_port = harness.free_port()
        saved = dict(os.environ)
        os.environ.update(self.s3.env())
        os.environ["CORRAL_NODEAGENT_PORT"] = str(self.na_port)
        try:
            self.api = c.corrald()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.na = None

    def start_na(self, *args):
        self.na, self.na_url = nodeagent.start(
            self.cluster, os.path.join(self.cluster.tmpdir, "mesos"), port=self.na_port,
            env=self.s3.env(),
            args=["--corrald", self.api, "--s3-bucket", "logs", "--s3-prefix", "corral",
                  "--upload-interval-ms", "200", "--multipart-threshold-mb", "5",
                  "--part-size-mb", "5"] + list(args))

    def get(self, path):
        st, body = harness.http_json("GET", self.api + path)
        return body if st == 200 else None

    def run_task(self, rid, cmd, extra):
        st, body = harness.http_json("POST", self.api + "/api/requests",
                                     {"id": rid, "requestType": "RUN_ONCE", "instances": 1})
        self.assertEqual(st, 200, body)
        data = {"cmd": cmd}
        data.update(extra)
        st, body = harness.http_json("POST", self.api + "/api/deploys", {"deploy": {
            "requestId": rid, "id": "v1", "customExecutorCmd": EXECUTOR,
            "resources": {"cpus": 0.1, "memoryMb": 64}, "executorData": data}})
        self.assertEqual(st, 200, body)
        def launched():
            for sb in self.get_na("/v1/sandboxes") or []:
                if sb["taskId"].startswith(rid + "-"):
                    return sb["taskId"]
            return None
        return harness.wait_until(launched, 60, "a task of " + rid)

    def sandbox(self, tid):
        def find():
            for s in self.get_na("/v1/sandboxes") or []:
                if s["taskId"] == tid:
                    return s["directory"]
            return None
        return harness.wait_until(find, 30, "the sandbox of " + tid)

    def get_na(self, path):
        st, body = harness.http_json("GET", self.na_url + path)
        return body if st == 200 else None

    def records(self, tid):
        st, body = harness.http_json("GET", self.api + "/api/nodeagent/uploads/" + q(tid))
        return body["records"] if st == 200 else []

    def finished(self, tid, box):
        h = self.get("/api/history/task/" + q(tid)) or {}
        return (any(u["taskState"] == "TASK_FINISHED" for u in h.get("taskUpdates", []))
                or os.path.exists(os.path.join(box, "corral-task.json")))

    def wait_all_uploaded(self, tid, n_min, timeout=120):
        def done():
            recs = self.records(tid)
            return (len(recs) >= n_min and all(r["state"] == "UPLOADED" for r in recs)
                    and recs)
        return harness.wait_until(done, timeout, "every log of %s uploaded" % tid, interval=0.2)

    def fetch(self, url):
        st, _, body = harness.http("GET", url, timeout=60)
        self.assertEqual(st, 200, body[:300])
        return body

    def test_rotated_logs_reach_s3_byte_for_byte_and_are_listed(self):
        self.start_na()
        n = 60000
        tid = self.run_task("chatty", "seq 1 %d | sed 's/^/line /'; echo bye >&2" % n,
                            {"logMaxBytes": 64 * 1024, "logKeep": 1000})
        box = self.sandbox(tid)
        harness.wait_until(lambda: self.finished(tid, box), 90, "the task finished")
        local = self.get_na("/v1/tasks/%s/files" % q(tid))["files"]
        recs = self.wait_all_uploaded(tid, len(local))
        self.assertEqual(sorted(r["fileName"] for r in recs), sorted(f["name"] for f in local))
        # the API lists them with presigned URLs that work, bytes equal
        logs = self.get("/api/logs/task/" + q(tid))
        self.assertEqual(len(logs), len(local))
        by_name = {lg["fileName"]: lg for lg in logs}
        for f in local:
            lg = by_name[f["name"]]
            self.assertTrue(lg["key"].startswith("corral/chatty/%s/" % tid), lg["key"])
            want = open(os.path.join(box, f["path"]), "rb").read()
            self.assertEqual(lg["size"], len(want))
            self.assertEqual(self.fetch(lg["getUrl"]), want, f["name"])
            self.assertEqual(self.s3.stored(lg["key"]), 1, lg["key"])
        st, hdrs, body = harness.http("GET", by_name["service.log"]["downloadUrl"])
        self.assertEqual(st, 200)
        self.assertIn("attachment", hdrs.get("content-disposition", ""))
        # rotated files in order, then service.log: every line once
        rotated = sorted((f for f in local if f["rotated"]),
                         key=lambda f: int(f["name"].rsplit(".", 1)[1]))
        self.assertGreater(len(rotated), 5)
        text = b"".join(self.fetch(by_name[f["name"]]["getUrl"])
                        for f in rotated + [{"name": "service.log"}]).decode()
        self.assertEqual([ln for ln in text.splitlines() if ln.startswith("line ")],
                         ["line %d" % i for i in range(1, n + 1)])
        # request and deploy listings; list=true leaves the URLs out
        self.assertEqual(len(self.get("/api/logs/request/chatty")), len(local))
        self.assertEqual(len(self.get("/api/logs/request/chatty/deploy/v1")), len(local))
        self.assertEqual(self.get("/api/logs/request/chatty/deploy/v2"), [])
        self.assertNotIn("getUrl", self.get("/api/logs/task/%s?list=true" % q(tid))[0])
        # (s3rver does not check query-string signatures; the presigner is
        # checked against AWS's published example in test/base/test_s3.c)

    def test_killed_mid_upload_nothing_lost_nothing_twice(self):
        """Four 6 MiB rotated files and more (multipart: 5 MiB parts). The
        node agent is SIGKILLed while a file is claimed (UPLOADING), then
        started again: every file ends UPLOADED, each object was stored
        exactly once, and the bytes are the task's output. With a disk
        budget of 0, local copies go once (and only once) they are
        uploaded."""
        self.start_na("--disk-budget-mb", "0")
        n = 2400000
        tid = self.run_task("big", "seq 1 %d | sed 's/^/line /'" % n,
                            {"logMaxBytes": 6 * 1024 * 1024, "logKeep": 1000})
        box = self.sandbox(tid)

        def claimed():
            return [r for r in self.records(tid) if r["state"] == "UPLOADING"]
        first = harness.wait_until(claimed, 120, "a claimed upload", interval=0.02)[0]
        self.na.kill()
        # claimed, not confirmed: the local copy is still there
        self.assertTrue(os.path.exists(os.path.join(box, first["path"])), first)
        harness.wait_until(lambda: self.finished(tid, box), 120, "the task finished")
        self.start_na("--disk-budget-mb", "0")
        local_names = None

        def all_done():
            recs = self.records(tid)
            done = [r for r in recs if r["state"] == "UPLOADED"]
            # rotated files, service.log, stdout, stderr
            return len(done) == len(recs) and len(recs) >= 7 and recs
        recs = harness.wait_until(all_done, 240, "every file uploaded after the restart",
                                  interval=0.3)
        local_names = sorted(r["fileName"] for r in recs)
        # the claimed file was finished by the second node agent: sent
        # again (S3 did not have it) or found complete and only recorded
        log2 = self.na.log()
        self.assertTrue("/%s to s3://" % first["fileName"] in log2 or
                        "/%s: already in S3" % first["fileName"] in log2, log2[-3000:])
        logs = {lg["fileName"]: lg for lg in self.get("/api/logs/task/" + q(tid))}
        self.assertEqual(sorted(logs), local_names)
        for lg in logs.values():
            self.assertEqual(self.s3.stored(lg["key"]), 1, (lg["key"], self.s3.stored_keys()))
        rotated = sorted((x for x in logs if x.startswith("service.log.")),
                         key=lambda x: int(x.rsplit(".", 1)[1]))
        self.assertGreaterEqual(len(rotated), 4)
        text = b"".join(self.fetch(logs[x]["getUrl"]) for x in rotated + ["service.log"])
        want = "".join("line %d\n" % i for i in range(1, n + 1)).encode()
        self.assertEqual(len(text), len(want))
        self.assertTrue(text == want)
        # uploaded rotated copies are gone from the disk (budget 0)
        harness.wait_until(lambda: not any(os.path.exists(os.path.join(box, "logs", x))
                                           for x in rotated), 30, "local copies removed")
        metrics = harness.http("GET", self.na_url + "/metrics")[2].decode()
        self.assertIn("corral_nodeagent_local_deleted_total", metrics)

    def test_finished_sandbox_removed_after_retention_logs_stay_in_s3(self):
        self.start_na("--retention-s", "2")
        tid = self.run_task("short", "echo short-lived output; echo err >&2", {})
        box = self.sandbox(tid)
        harness.wait_until(lambda: self.finished(tid, box), 60, "the task finished")
        # not before its logs are uploaded and the retention passed
        harness.wait_until(lambda: not os.path.exists(box), 60, "the sandbox removed",
                           interval=0.2)
        logs = {lg["fileName"]: lg for lg in self.get("/api/logs/task/" + q(tid))}
        self.assertIn("service.log", logs)
        self.assertIn(b"short-lived output", self.fetch(logs["service.log"]["getUrl"]))
        report = self.get_na("/v1/cleanup")
        self.assertTrue(any(r["action"] == "removed sandbox of" and r["taskId"] == tid
                            for r in report), report)
        metrics = harness.http("GET", self.na_url + "/metrics")[2].decode()
        self.assertIn("corral_nodeagent_sandboxes_removed_total 1", metrics)


if __name__ == "__main__":
    harness.main()
