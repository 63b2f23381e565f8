"""The node agent's S3 uploader with a real S3-compatible server (s3rver,
e2e/lib/s3rver.py) on loopback, real etcd, mesoslite, corrald and
corral-executor: rotated logs of running tasks and every log of finished
tasks reach S3 byte for byte, are listed by corrald's
GET /api/logs/{task,request,deploy}/... with working presigned URLs, and a
node agent SIGKILLed in the middle of an upload and started again loses
nothing and stores nothing twice. docs/nodeagent.md, "Upload guarantees"."""

import os
import urllib.parse

import harness
import nodeagent
import s3gate
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
        """Rotated files of 11 MiB go multipart in 5 MiB parts (3 parts
        each). A gate in front of s3rver (e2e/lib/s3gate.py) holds the
        first part 2 the node agent sends: the agent is then inside a
        multipart upload (the file claimed UPLOADING, the upload created,
        part 1 stored) and is SIGKILLed there. Started again, it finds the
        claim, HEADs the key (nothing: the upload never completed) and
        sends the file again, in parts: every object stored exactly once,
        bytes equal to what the task wrote, multipart used for every file
        above the threshold (s3rver's log). With a disk budget of 0, local
        copies go once (and only once) they are uploaded."""
        gate = s3gate.start(self, self.s3.url)
        gate.hold(lambda method, path, query: method == "PUT" and "partNumber=2&" in query)
        self.start_na("--disk-budget-mb", "0", "--s3-endpoint", gate.url)
        n = 3000000
        tid = self.run_task("big", "seq 1 %d | sed 's/^/line /'" % n,
                            {"logMaxBytes": 11 * 1024 * 1024, "logKeep": 1000})
        box = self.sandbox(tid)
        _, path, query = harness.wait_until(gate.held, 120, "part 2 of a multipart upload held")
        key = path[len("/logs/"):]
        name = key.rsplit("/", 1)[1]
        # the node agent is in the middle of it: claimed, created, part 1 in
        claim = harness.wait_until(
            lambda: [r for r in self.records(tid)
                     if r["fileName"] == name and r["state"] == "UPLOADING"],
            30, "the UPLOADING record of " + name, interval=0.1)[0]
        self.assertEqual(claim["key"], key)
        mp = self.s3.multipart(key)
        self.assertEqual((mp["created"], mp["parts"], mp["completed"], mp["puts"]), (1, 1, 0, 0),
                         mp)
        self.assertEqual(self.s3.stored(key), 0)
        self.na.kill()
        gate.release()  # the held part is answered 502, to no one
        # claimed, not confirmed: the local copy is still there
        self.assertTrue(os.path.exists(os.path.join(box, claim["path"])), claim)
        harness.wait_until(lambda: self.finished(tid, box), 120, "the task finished")
        self.start_na("--disk-budget-mb", "0", "--s3-endpoint", gate.url)

        def all_done():
            recs = self.records(tid)
            done = [r for r in recs if r["state"] == "UPLOADED"]
            # rotated files, service.log, stdout, stderr
            return len(done) == len(recs) and len(recs) >= 6 and recs
        recs = harness.wait_until(all_done, 240, "every file uploaded after the restart",
                                  interval=0.3)
        # the second node agent found no object and sent the file again
        log2 = self.na.log()
        self.assertIn("/%s to s3://logs/%s" % (name, key), log2, log2[-3000:])
        self.assertNotIn("/%s: already in S3" % name, log2)
        logs = {lg["fileName"]: lg for lg in self.get("/api/logs/task/" + q(tid))}
        self.assertEqual(sorted(logs), sorted(r["fileName"] for r in recs))
        for lg in logs.values():
            self.assertEqual(self.s3.stored(lg["key"]), 1, (lg["key"], self.s3.stored_keys()))
            mp = self.s3.multipart(lg["key"])
            if lg["size"] > 5 * 1024 * 1024:
                # in parts, completed once; parts of 5 MiB: at least 2 each
                self.assertEqual(mp["completed"], 1, (lg["key"], mp))
                self.assertEqual(mp["puts"], 0, (lg["key"], mp))
                self.assertGreaterEqual(mp["parts"], 2, (lg["key"], mp))
            else:
                self.assertEqual((mp["puts"], mp["created"]), (1, 0), (lg["key"], mp))
        # the interrupted file: two uploads created, one completed; part 1
        # of the first, then every part of the second
        mp = self.s3.multipart(key)
        nparts = -(-logs[name]["size"] // (5 * 1024 * 1024))
        self.assertGreaterEqual(nparts, 3)
        self.assertEqual((mp["created"], mp["completed"], mp["parts"]), (2, 1, 1 + nparts), mp)
        rotated = sorted((x for x in logs if x.startswith("service.log.")),
                         key=lambda x: int(x.rsplit(".", 1)[1]))
        self.assertGreaterEqual(len(rotated), 3)
        text = b"".join(self.fetch(logs[x]["getUrl"]) for x in rotated + ["service.log"])
        want = "".join("line %d\n" % i for i in range(1, n + 1)).encode()
        self.assertEqual(len(text), len(want))
        self.assertTrue(text == want)
        # uploaded rotated copies are gone from the disk (budget 0)
        harness.wait_until(lambda: not any(os.path.exists(os.path.join(box, "logs", x))
                                           for x in rotated), 30, "local copies removed")
        metrics = harness.http("GET", self.na_url + "/metrics")[2].decode()
        self.assertIn("corral_nodeagent_local_deleted_total", metrics)

    def test_budget_holds_while_an_upload_is_in_flight(self):
        """The disk budget is enforced while uploads go on, not only when
        nothing is left to upload (under a steady stream of rotations, or
        during one long upload, that never happens). The gate lets the
        first rotated file's PUT through and holds the next one: the first
        file, uploaded, is removed (budget 0) while the second's upload is
        still in flight; the second, not uploaded, stays."""
        gate = s3gate.start(self, self.s3.url)
        gate.hold_each(lambda method, path, query: method == "PUT" and "/drip-" in path)
        self.start_na("--disk-budget-mb", "0", "--s3-endpoint", gate.url)
        tid = self.run_task("drip", "seq 1 30000 | sed 's/^/line /'; exec sleep 600",
                            {"logMaxBytes": 64 * 1024, "logKeep": 1000})
        box = self.sandbox(tid)
        def held_file():
            held = gate.held()
            return held and held[1].rsplit("/", 1)[1]
        first = harness.wait_until(held_file, 60, "the first PUT held")
        harness.wait_until(lambda: len(os.listdir(os.path.join(box, "logs"))) > 3, 30,
                           "several rotated files")
        gate.release_one()
        second = harness.wait_until(lambda: held_file() not in (None, first) and held_file(),
                                    60, "the next PUT held")
        self.assertTrue(first.startswith("service.log.") and second.startswith("service.log."),
                        (first, second))
        harness.wait_until(lambda: not os.path.exists(os.path.join(box, "logs", first)), 30,
                           "%s removed while %s is uploading" % (first, second))
        # still in flight; its file is not uploaded, so it stays
        self.assertEqual(held_file(), second)
        self.assertTrue(os.path.exists(os.path.join(box, "logs", second)))
        recs = {r["fileName"]: r["state"] for r in self.records(tid)}
        self.assertEqual((recs.get(first), recs.get(second)), ("UPLOADED", "UPLOADING"), recs)
        gate.release()

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
