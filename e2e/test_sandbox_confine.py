"""Sandbox confinement through the real binaries: a task makes symlinks in
its sandbox that lead outside it (`up -> ../../..`, `etc -> /etc`,
`pw -> /etc/passwd`) and some that stay inside (`out -> stdout`,
`inlogs -> logs`, `logs/back -> ../stdout`). Neither corrald's /api/sandbox
nor mesoslite's /files lets anyone browse or read through the outside ones
(404, nothing of the outside in the answer). corrald goes further: it
follows no link at all, so the inside ones are a 404 through it too, where
the agent serves them (corrald lists each directory on the way and refuses
a path through anything listed as a link); listings show links as links.
`..`-style and otherwise malformed paths get a JSON 400 from corrald."""
import json
import os
import urllib.parse

import harness

COMMAND = ("ln -s ../../.. up; ln -s /etc etc; ln -s /etc/passwd pw; ln -s stdout out; "
           "mkdir logs; echo inner > logs/app.log; ln -s ../.. logs/up2; ln -s ../stdout logs/back; "
           "ln -s logs inlogs; echo hello-confined; echo ready; exec sleep 300")
LINKS_OUT = ("up", "etc", "pw", "logs/up2")
# Links that stay inside the sandbox: the agent follows them, corrald not.
LINKS_IN = ("out", "logs/back", "inlogs", "inlogs/app.log", "inlogs/back")


def passwd_line():
    with open("/etc/passwd") as f:
        return f.readline().strip()


class TestSandboxConfine(harness.TestCase):
    def setUp(self):
        super().setUp()
        self.addCleanup(self.cluster.close, True)
        self.cluster.etcd()
        self.mesos = self.cluster.mesoslite(agents=1, racks="r1")
        self.api = self.cluster.corrald()
        harness.wait_until(lambda: harness.http("GET", self.api + "/readyz", timeout=1)[0] == 200,
                           30, "corrald's cache loaded")

    # ---- helpers ----------------------------------------------------------------

    def call(self, method, path):
        st, hdrs, raw = harness.http(method, self.api + path)
        text = raw.decode(errors="replace")
        return st, hdrs, text

    def ok(self, method, path, body=None):
        st, _, raw = harness.http(method, self.api + path, body)
        self.assertEqual(st, 200, "%s %s -> %d %r" % (method, path, st, raw))
        return json.loads(raw) if raw.strip() else None

    def sandbox(self, what, **q):
        return self.call("GET", "/api/sandbox/%s/%s?%s" % (self.tid, what, urllib.parse.urlencode(q)))

    def agent_files(self, what, path, **q):
        q = dict(q, path=path)
        st, _, raw = harness.http("GET", "%s/files/%s?%s" % (self.agent, what, urllib.parse.urlencode(q)))
        return st, raw

    def assert_nothing_outside(self, text, what):
        """No trace of /etc or of the agent's other directories in text."""
        self.assertNotIn(passwd_line(), text, what)
        for leak in ("root:", "executors", "frameworks", "\"files\"", "\"data\""):
            self.assertNotIn(leak, text, what)

    def launch(self):
        self.ok("POST", "/api/requests", {"id": "box", "requestType": "WORKER", "instances": 1})
        self.ok("POST", "/api/deploys", {"deploy": {
            "requestId": "box", "id": "v1", "command": COMMAND,
            "resources": {"cpus": 0.1, "memoryMb": 32}}})

        def running():
            ids = self.ok("GET", "/api/tasks/active")
            up = [t for t in ids if t.get("lastTaskState") == "TASK_RUNNING"]
            return up[0] if up else None
        task = harness.wait_until(running, 60, "the task running")
        self.tid = task["taskId"]["id"]

        def ready():
            st, _, text = self.sandbox("read", path="stdout", offset=0, length=1000)
            return st == 200 and "ready" in json.loads(text)["data"]
        harness.wait_until(ready, 30, "the task's links made")

        # The agent's own address and the sandbox's two names on it.
        state = harness.http_json("GET", self.mesos + "/master/state")[1]
        pid = state["slaves"][0]["pid"]
        self.agent = "http://" + pid.split("@", 1)[1]
        astate = harness.http_json("GET", self.agent + "/state")[1]
        ex = astate["frameworks"][0]["executors"][0]
        self.host_root = ex["directory"]
        self.virt_root = "/frameworks/%s/executors/%s/runs/latest" % (ex["framework_id"], ex["id"])

    # ---- the tests ----------------------------------------------------------------

    def test_links_out_of_the_sandbox_are_refused(self):
        self.launch()

        # The listing shows the links as links (their own size and mode),
        # never what they point at.
        st, _, text = self.sandbox("browse")
        self.assertEqual(st, 200, text)
        box = json.loads(text)
        files = {f["name"]: f for f in box["files"]}
        for name in ("up", "etc", "pw", "out", "inlogs", "stdout", "logs"):
            self.assertIn(name, files)
        for name in ("up", "etc", "pw", "out", "inlogs"):
            self.assertTrue(files[name]["mode"].startswith("l"), files[name])
        self.assertEqual(files["pw"]["size"], len("/etc/passwd"))
        self.assertNotEqual(files["etc"]["mode"][0], "d")

        # Browse and read through a link that leaves: 404, the outside unseen.
        for rel in LINKS_OUT + ("up/" + os.path.basename(os.path.dirname(os.path.dirname(
                self.host_root))), "etc/passwd", "etc/hostname", "etc/.", "up/./.", "logs/up2/up"):
            for what in ("browse", "read"):
                st, _, text = self.sandbox(what, path=rel, offset=0, length=4096)
                self.assertEqual(st, 404, "%s %s -> %d %s" % (what, rel, st, text))
                # Exactly the answer for a missing file: nothing else in it.
                self.assertEqual(json.loads(text), {
                    "status": 404,
                    "message": "no such file or directory in the sandbox (or it leads outside): "
                               + rel})
                self.assertNotIn(passwd_line(), text)

        # A link that stays inside: the agent would follow it (below, and
        # test_agent_files_endpoints_confine_too), corrald does not, read
        # and browse alike, with the same 404 as a missing file.
        for rel in LINKS_IN:
            for what in ("browse", "read"):
                st, _, text = self.sandbox(what, path=rel, offset=0, length=4096)
                self.assertEqual(st, 404, "%s %s -> %d %s" % (what, rel, st, text))
                self.assertEqual(json.loads(text)["message"],
                                 "no such file or directory in the sandbox (or it leads "
                                 "outside): " + rel)
        for rel, data in (("out", "hello-confined\nready\n"), ("inlogs/app.log", "inner\n")):
            st, raw = self.agent_files("read", self.host_root + "/" + rel, offset=0)
            self.assertEqual((st, json.loads(raw)["data"]), (200, data), rel)
        # Files and directories reached without a link work.
        st, _, text = self.sandbox("read", path="logs/app.log")
        self.assertEqual((st, json.loads(text)["data"]), (200, "inner\n"))
        st, _, text = self.sandbox("read", path="./logs//app.log", offset=0)
        self.assertEqual((st, json.loads(text)["data"]), (200, "inner\n"))
        st, _, text = self.sandbox("read", path="stdout", offset=0, length=4096)
        self.assertEqual((st, json.loads(text)["data"]), (200, "hello-confined\nready\n"))
        sub = json.loads(self.sandbox("browse", path="logs")[2])
        self.assertEqual(sorted(f["name"] for f in sub["files"]), ["app.log", "back", "up2"])
        self.assertEqual(sorted(f["name"] for f in sub["files"] if f["mode"].startswith("l")),
                         ["back", "up2"])
        # A missing file is the same 404; deeper than 32 components, a 400.
        st, _, text = self.sandbox("read", path="logs/nothing")
        self.assertEqual(st, 404, text)
        st, _, text = self.sandbox("read", path="/".join(["d"] * 33))
        self.assertEqual(st, 400, text)
        self.assertIn("32 components", json.loads(text)["message"])

        # Paths that try to leave by their text: a JSON 400, before any agent call.
        bad = ["..", "../..", "logs/../../x", "/etc/passwd", "//etc", "..\\..\\etc",
               "%2e%2e/x", "logs/%2e%2e/%2e%2e", "a\nb", "x/" * 2100, "n" * 300]
        for rel in bad:
            for what in ("browse", "read"):
                st, hdrs, text = self.sandbox(what, path=rel)
                self.assertEqual(st, 400, "%s %r -> %d %s" % (what, rel[:40], st, text))
                self.assertIn("json", hdrs.get("content-type", ""))
                body = json.loads(text)
                self.assertIn("path", body["message"])
                self.assert_nothing_outside(text, rel[:40])
        # Percent-encoded on the wire (decoded once by corrald): the same 400.
        for raw in ("%2e%2e", "logs%2f..%2f..", "%2fetc%2fpasswd", "..%5c..", "%252e%252e"):
            st, _, text = self.call("GET", "/api/sandbox/%s/read?path=%s" % (self.tid, raw))
            self.assertEqual(st, 400, "%s -> %d %s" % (raw, st, text))
            self.assertIn("message", json.loads(text))
        # NUL is refused by the query parser.
        st, _, text = self.call("GET", "/api/sandbox/%s/read?path=stdout%%00/../../x" % self.tid)
        self.assertEqual(st, 400, text)
        json.loads(text)

    def test_agent_files_endpoints_confine_too(self):
        self.launch()
        for root in (self.virt_root, self.host_root):
            st, raw = self.agent_files("browse", root)
            self.assertEqual(st, 200, raw)
            listing = {os.path.basename(e["path"]): e for e in json.loads(raw)}
            for e in listing.values():
                self.assertEqual(os.path.dirname(e["path"]), root.rstrip("/"))
            self.assertTrue(listing["up"]["mode"].startswith("l"))
            self.assertEqual(listing["pw"]["size"], len("/etc/passwd"))

            outside = [r + "/" + rel for r in (root,) for rel in
                       LINKS_OUT + ("etc/passwd", "up/..", "logs/up2/..", "..", "../..",
                                    "../../../../../../../../etc/passwd", "logs/../..")]
            for path in outside:
                for what in ("browse", "read", "download"):
                    st, raw = self.agent_files(what, path, offset=0)
                    self.assertEqual((st, raw), (404, b""), "%s %s" % (what, path))

            st, raw = self.agent_files("read", root + "/out", offset=0)
            self.assertEqual(st, 200, raw)
            self.assertEqual(json.loads(raw), {"data": "hello-confined\nready\n", "offset": 0})
            st, raw = self.agent_files("read", root + "/out", offset=-1)
            self.assertEqual(json.loads(raw)["offset"], len("hello-confined\nready\n"))
            st, raw = self.agent_files("download", root + "/out")
            self.assertEqual((st, raw), (200, b"hello-confined\nready\n"))
            st, raw = self.agent_files("browse", root + "/logs/back")
            self.assertEqual(st, 404)  # a file, not a directory
            st, raw = self.agent_files("read", root + "/logs", offset=0)
            self.assertEqual(st, 400)
            self.assertIn(b"directory", raw)

        # Nothing of the agent's but the run directories: not the executor's
        # other directories, not the agent's work dir, not /etc.
        runs = os.path.dirname(self.host_root)
        for path in (runs, os.path.dirname(runs), os.path.dirname(self.virt_root), "/frameworks",
                     "/", "/etc", "/etc/passwd", os.path.join(self.cluster.tmpdir, "mesoslite.log")):
            for what in ("browse", "read"):
                st, raw = self.agent_files(what, path, offset=0)
                self.assertEqual((st, raw), (404, b""), "%s %s" % (what, path))


if __name__ == "__main__":
    harness.main()
