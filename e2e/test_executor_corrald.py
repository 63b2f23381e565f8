"""corral-executor through the whole system (issue 9's e2e "under mesoslite
through corrald"): real etcd, mesoslite with two agents, corrald (API,
controllers, Mesos bridge). Requests and deploys are posted to corrald's
REST API with `customExecutorCmd` = bin/corral-executor, so the bridge
builds the TaskInfo (docs/executor.md, "What the framework puts in the
TaskInfo") and mesoslite starts the executor; everything is observed
through the API (task history, deploy history, sandbox).

Artifacts come from an HTTP file server and a real S3-compatible server
(s3rver, e2e/lib/s3rver.py; one for the class) on 127.0.0.1. The executor finds
the S3 endpoint and credentials in its environment (docs/executor.md, "S3"),
which it gets from the agent: mesoslite is started with
--executor-environment-variables carrying them, as an operator would
configure a Mesos agent.
"""

import json
import os
import random
import shutil
import unittest
import urllib.parse

import harness
import exe_cases
import s3rver

EXECUTOR = os.path.join(harness.BIN, "corral-executor")

ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]


def agent_resources():
    """Each of the two agents (both on 127.0.0.1) gets its own port range,
    below the kernel's ephemeral range."""
    base = harness.free_port_range(200)
    return ["--agent-resources",
            "cpus:4;mem:8192;disk:65536;ports:[%d-%d]|cpus:4;mem:8192;disk:65536;ports:[%d-%d]"
            % (base, base + 99, base + 100, base + 199)]


def q(s):
    return urllib.parse.quote(s, safe="")


class T(harness.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.s3 = s3rver.for_class(cls, bucket="builds")

    def setUp(self):
        super().setUp()
        self.workdir = self.cluster.tmpdir
        self.running = {}  # task id -> its TASK_RUNNING message
        self.files = exe_cases.FileServer()
        self.addCleanup(self.files.stop)
        # The executor's environment as the agent gives it: PATH and HOME
        # plus the S3 settings (docs/executor.md, "S3").
        exec_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "HOME": os.environ.get("HOME", "/tmp")}
        exec_env.update(exe_cases.s3_env(self.s3))
        c = self.cluster
        c.etcd()
        c.mesoslite(agents=2, racks="r1,r2",
                    args=ML_ARGS + agent_resources() +
                    ["--executor-environment-variables", json.dumps(exec_env)])
        self.api = c.corrald()

    # --- API helpers ---------------------------------------------------------

    def get(self, path):
        st, body = harness.http_json("GET", self.api + path)
        return body if st == 200 else None

    def post_request(self, rid, rtype="SERVICE", instances=1):
        st, body = harness.http_json("POST", self.api + "/api/requests",
                                     {"id": rid, "requestType": rtype, "instances": instances,
                                      "owners": ["e2e@test"]})
        self.assertEqual(st, 200, body)

    def post_deploy(self, deploy):
        st, body = harness.http_json("POST", self.api + "/api/deploys", {"deploy": deploy})
        self.assertEqual(st, 200, body)

    def deploy(self, rid, did, executor_data, env=None, num_ports=0):
        d = {"requestId": rid, "id": did, "customExecutorCmd": EXECUTOR,
             "resources": {"cpus": 0.2, "memoryMb": 128, "numPorts": num_ports},
             "executorData": executor_data}
        if env:
            d["env"] = env
        self.post_deploy(d)

    def tasks(self, rid):
        """[(task id, last state)] of the request's active and finished
        tasks, oldest first, from GET /api/history/tasks."""
        hist = self.get("/api/history/tasks?requestId=%s&orderDirection=ASC&count=100"
                        % q(rid)) or []
        return [(h["taskId"]["id"], h.get("lastTaskState")) for h in hist]

    def first_task(self, rid, timeout=60):
        """Id of the request's first task, once the bridge launched it."""
        return harness.wait_until(lambda: (self.tasks(rid) or [None])[0], timeout,
                                  "a task of " + rid)[0]

    def task_history(self, tid):
        return self.get("/api/history/task/" + q(tid)) or {}

    def states(self, tid):
        return [u["taskState"] for u in self.task_history(tid).get("taskUpdates") or []]

    def wait_state(self, tid, state, timeout=60):
        """Waits for the task's update with that state; returns it."""
        def found():
            for u in self.task_history(tid).get("taskUpdates") or []:
                if u["taskState"] == state:
                    return u
            return None
        try:
            u = harness.wait_until(found, timeout, "%s of %s" % (state, tid))
        except AssertionError as e:
            raise AssertionError("%s; updates seen: %r" % (
                e, [(x["taskState"], x.get("statusMessage"))
                    for x in self.task_history(tid).get("taskUpdates") or []]))
        if state == "TASK_RUNNING":
            self.running[tid] = u.get("statusMessage") or ""
        return u

    def deploy_state(self, rid, did):
        h = self.get("/api/history/request/%s/deploy/%s" % (q(rid), q(did))) or {}
        return (h.get("deployResult") or {}).get("deployState")

    def active_deploy(self, rid):
        p = self.get("/api/requests/request/" + q(rid)) or {}
        return ((p.get("requestDeployState") or {}).get("activeDeploy") or {}).get("deployId")

    def read(self, tid, path):
        """The whole file at path in the task's sandbox, through
        GET /api/sandbox/{taskId}/read (paged)."""
        out, off = [], 0
        while True:
            st, body = harness.http_json(
                "GET", self.api + "/api/sandbox/%s/read?path=%s&offset=%d&length=65536"
                % (q(tid), q(path), off))
            self.assertEqual(st, 200, "read %s of %s: %r" % (path, tid, body))
            data = body.get("data") or ""
            out.append(data)
            nxt = body.get("nextOffset", off + len(data.encode()))
            if not data or nxt <= off:
                return "".join(out)
            off = nxt

    def try_read(self, tid, path):
        try:
            return self.read(tid, path)
        except AssertionError:
            return ""

    def browse(self, tid, path=""):
        st, body = harness.http_json("GET", self.api + "/api/sandbox/%s/browse?path=%s"
                                     % (q(tid), q(path)))
        self.assertEqual(st, 200, "browse %s of %s: %r" % (path, tid, body))
        return body

    def names(self, tid, path=""):
        return sorted(os.path.basename(f["name"]) for f in self.browse(tid, path)["files"])

    def kill(self, tid, body=None):
        st, resp = harness.http_json("DELETE", self.api + "/api/tasks/task/" + q(tid),
                                     body or {"message": "e2e kill"})
        self.assertEqual(st, 200, resp)

    def cleanup_task(self, tid):
        """Test cleanup (after the cluster is stopped): kill what is left of
        the task's process group, named by the executor's TASK_RUNNING
        message, in case the executor died before the task (exe_cases)."""
        if tid in self.running:
            exe_cases.kill_task_group({"message": self.running[tid]}, tid)

    # --- cases ---------------------------------------------------------------

    def test_service_with_all_artifact_kinds(self):
        s3rver.need(self)
        slug = exe_cases.targz({"bin/hello.sh": (b"#!/bin/sh\necho hello from slug\n", 0o755),
                                "lib/data.txt": b"slug data\n"})
        self.s3.put("builds", "svc/slug v1.tar.gz", slug)
        before = [r for r in self.s3.requests() if r[0] == "GET"]
        conf = b"listen: 8080\n"
        jbody = b'{"a": 1}\n'
        url = self.files.put("/files/conf.json", jbody)
        data = {
            "cmd": ("./bin/hello.sh && cat lib/data.txt etc/app.yaml conf.json && "
                    "echo ENV TASK_ID=$TASK_ID REQ=$TASK_REQUEST_ID DEP=$TASK_DEPLOY_ID "
                    "INST=$INSTANCE_NO PORT=$PORT PORT0=$PORT0 PORT1=$PORT1 HOST=$TASK_HOST "
                    "RACK=$TASK_RACK_ID GREETING=$GREETING COLOR=$COLOR && "
                    "echo serving; exec sleep 600"),
            "embeddedArtifacts": [{"name": "config", "filename": "app.yaml",
                                   "targetFolderRelativeToTask": "etc",
                                   "md5sum": exe_cases.md5(conf),
                                   "content": exe_cases.b64(conf)}],
            "externalArtifacts": [{"name": "json", "filename": "conf.json", "url": url,
                                   "md5sum": exe_cases.md5(jbody), "filesize": len(jbody)}],
            "s3Artifacts": [{"name": "slug", "filename": "slug.tar.gz", "s3Bucket": "builds",
                             "s3ObjectKey": "svc/slug v1.tar.gz", "md5sum": exe_cases.md5(slug),
                             "filesize": len(slug)}],
            "sigKillProcessesAfterMillis": 2000,
        }
        self.post_request("arts")
        self.deploy("arts", "v1", data, env={"GREETING": "hi-${TASK_REQUEST_ID}",
                                             "COLOR": "blue"}, num_ports=2)
        tid = self.first_task("arts")
        self.addCleanup(self.cleanup_task, tid)
        self.wait_state(tid, "TASK_RUNNING", 90)
        harness.wait_until(lambda: self.active_deploy("arts") == "v1", 60,
                           "deploy v1 active")
        self.assertEqual(self.deploy_state("arts", "v1"), "SUCCEEDED")
        states = self.states(tid)
        self.assertNotIn("TASK_FAILED", states)
        self.assertIn("TASK_RUNNING", states)

        # The sandbox, through the API: the artifacts in app/ (the slug
        # extracted), the runner script and the log.
        harness.wait_until(lambda: "serving" in self.try_read(tid, "service.log"), 30,
                           "the service's output")
        top = self.names(tid)
        for f in ("app", "runner.sh", "service.log"):
            self.assertIn(f, top)
        app = self.names(tid, "app")
        for f in ("bin", "conf.json", "etc", "lib", "slug.tar.gz"):
            self.assertIn(f, app)
        self.assertEqual(self.names(tid, "app/etc"), ["app.yaml"])
        self.assertEqual(self.read(tid, "app/etc/app.yaml"), conf.decode())
        self.assertEqual(self.read(tid, "app/conf.json"), jbody.decode())
        self.assertEqual(self.read(tid, "app/lib/data.txt"), "slug data\n")

        log = self.read(tid, "service.log")
        for s in ("hello from slug", "slug data", "listen: 8080", '{"a": 1}'):
            self.assertIn(s, log)
        line = [ln for ln in log.splitlines() if ln.startswith("ENV ")][0]
        fields = dict(kv.split("=", 1) for kv in line.split()[1:])
        self.assertEqual(fields["TASK_ID"], tid)
        self.assertEqual(fields["REQ"], "arts")
        self.assertEqual(fields["DEP"], "v1")
        self.assertEqual(fields["INST"], "1")
        self.assertEqual(fields["GREETING"], "hi-arts")
        self.assertEqual(fields["COLOR"], "blue")
        self.assertIn(fields["RACK"], ("r1", "r2"), line)
        self.assertTrue(fields["HOST"], line)
        # PORT0/PORT1 are the ports the bridge gave the task.
        task = self.get("/api/tasks/task/" + q(tid))
        self.assertIsNotNone(task, tid)
        ports = [p for res in task["mesosTask"]["resources"] if res["name"] == "ports"
                 for rg in res["ranges"]["range"] for p in range(rg["begin"], rg["end"] + 1)]
        self.assertEqual(len(ports), 2, task["mesosTask"]["resources"])
        self.assertEqual(sorted([int(fields["PORT0"]), int(fields["PORT1"])]), sorted(ports))
        self.assertEqual(fields["PORT"], fields["PORT0"])
        # Each remote artifact was fetched once (that the executor signs
        # with its key: test_executor_agent's unknown key is refused).
        self.assertEqual(self.files.count("/files/conf.json"), 1)
        got = [r for r in self.s3.requests() if r[0] == "GET"][len(before):]
        self.assertEqual(got, [("GET", "/builds/svc/slug v1.tar.gz", 200)])

    def test_bad_md5_fails_the_task_and_deploy(self):
        blob = b"some artifact bytes\n"
        url = self.files.put("/files/blob.bin", blob)
        data = {"cmd": "echo should not run; exec sleep 600",
                "externalArtifacts": [{"name": "blob", "filename": "blob.bin", "url": url,
                                       "md5sum": "0" * 32}]}
        self.post_request("badmd5")
        self.deploy("badmd5", "v1", data)
        tid = self.first_task("badmd5")
        self.addCleanup(self.cleanup_task, tid)
        st = self.wait_state(tid, "TASK_FAILED", 90)
        msg = st.get("statusMessage") or ""
        self.assertIn("artifact 'blob': md5 mismatch: expected %s, got %s"
                      % ("0" * 32, exe_cases.md5(blob)), msg)
        self.assertEqual(st.get("statusReason"), "REASON_CONTAINER_LAUNCH_FAILED")
        self.assertNotIn("TASK_RUNNING", self.states(tid))
        harness.wait_until(lambda: self.deploy_state("badmd5", "v1") == "FAILED", 90,
                           "deploy v1 FAILED")
        self.assertIsNone(self.active_deploy("badmd5"))
        # The task's last state, as the request's task history shows it.
        hist = dict(self.tasks("badmd5"))
        self.assertEqual(hist[tid], "TASK_FAILED")

    def test_sigterm_trap_gets_time_when_killed_through_api(self):
        data = {"cmd": ("trap 'echo got TERM; sleep 1; echo cleaned up; exit 0' TERM; "
                        "echo ready; while true; do sleep 0.1; done"),
                "sigKillProcessesAfterMillis": 20000}
        self.post_request("trapper")
        self.deploy("trapper", "v1", data)
        tid = self.first_task("trapper")
        self.addCleanup(self.cleanup_task, tid)
        self.wait_state(tid, "TASK_RUNNING", 90)
        harness.wait_until(lambda: "ready" in self.try_read(tid, "service.log"), 30,
                           "task ready")
        harness.wait_until(lambda: self.active_deploy("trapper") == "v1", 60,
                           "deploy v1 active")
        self.kill(tid)
        st = self.wait_state(tid, "TASK_KILLED", 60)
        # The trap ran to its end: the process exited 0 on its own.
        self.assertIn("exited with status 0", st.get("statusMessage") or "")
        self.assertNotIn("TASK_FAILED", self.states(tid))
        log = self.read_log_after_kill(tid)
        self.assertIn("got TERM", log)
        self.assertIn("cleaned up", log)

    def start_ignoring_task(self, rid, sigkill_after_ms):
        """A SERVICE whose task ignores SIGTERM; returns its id once it
        runs and its deploy succeeded."""
        data = {"cmd": "trap '' TERM; echo ready; while true; do sleep 0.1; done",
                "sigKillProcessesAfterMillis": sigkill_after_ms}
        self.post_request(rid)
        self.deploy(rid, "v1", data)
        tid = self.first_task(rid)
        self.addCleanup(self.cleanup_task, tid)
        self.wait_state(tid, "TASK_RUNNING", 90)
        harness.wait_until(lambda: "ready" in self.try_read(tid, "service.log"), 30,
                           "task ready")
        harness.wait_until(lambda: self.active_deploy(rid) == "v1", 60, "deploy v1 active")
        return tid

    def test_sigterm_ignored_gets_sigkill_after_deploy_timeout(self):
        tid = self.start_ignoring_task("ignorer", 1500)
        self.kill(tid)
        st = self.wait_state(tid, "TASK_KILLED", 60)
        self.assertIn("killed by signal 9", st.get("statusMessage") or "")

    def test_kill_grace_from_api_overrides_deploy(self):
        # The deploy would wait 10 minutes; the kill call asks for 1 s
        # (killGracePeriodMillis, docs/api.md), which reaches the executor
        # in the KILL event's kill policy.
        tid = self.start_ignoring_task("impatient", 600000)
        self.kill(tid, {"message": "now", "killGracePeriodMillis": 1000})
        st = self.wait_state(tid, "TASK_KILLED", 60)
        self.assertIn("killed by signal 9", st.get("statusMessage") or "")

    def test_chatty_run_once_logs_rotate_nothing_lost(self):
        n = 200000
        data = {"cmd": "seq 1 %d | sed 's/^/line /'; echo done-writing >&2" % n,
                "logMaxBytes": 256 * 1024, "logKeep": 1000}
        self.post_request("chatty", rtype="RUN_ONCE")
        self.deploy("chatty", "v1", data)
        tid = self.first_task("chatty")
        self.wait_state(tid, "TASK_FINISHED", 120)
        meta = json.loads(self.read(tid, "logs/service.log.rotated.json"))
        self.assertTrue(meta["finished"])
        self.assertEqual(meta["taskId"], tid)
        self.assertGreater(len(meta["rotated"]), 5)
        sizes = {f["name"].rsplit("/", 1)[-1]: f["size"] for f in self.browse(tid, "logs")["files"]}
        parts = []
        for r in meta["rotated"]:
            name = r["file"].rsplit("/", 1)[-1]
            self.assertIn(name, sizes)
            self.assertLessEqual(sizes[name], 256 * 1024)
            parts.append(self.read(tid, r["file"]))
        parts.append(self.read(tid, "service.log"))
        lines = "".join(parts).splitlines()
        numbered = [ln for ln in lines if ln.startswith("line ")]
        self.assertEqual(numbered, ["line %d" % i for i in range(1, n + 1)])
        self.assertIn("done-writing", lines)

    def read_log_after_kill(self, tid):
        """service.log of a finished task: through the sandbox API (the
        executor keeps logs); if corrald no longer serves the sandbox of a
        finished task, that is reported as a failure of the API."""
        return harness.wait_until(lambda: self.read(tid, "service.log"), 30,
                                  "service.log of the killed task")

    @unittest.skipUnless(shutil.which("javac") and shutil.which("jar") and shutil.which("java"),
                         "needs a JDK (javac, jar, java) to build the seed's Java service")
    def test_seed_deploy_object(self):
        s3rver.need(self)
        with open(harness.seed_path("deploy-object.json")) as f:
            deploy = json.load(f)
        jar = exe_cases.build_java_service(self.workdir)
        slug = exe_cases.targz({"TestService.jar": jar})
        art = deploy["executorData"]["s3Artifacts"][0]
        self.s3.put(art["s3Bucket"], art["s3ObjectKey"], slug)
        art["md5sum"] = exe_cases.md5(slug)
        art["filesize"] = len(slug)
        deploy["customExecutorCmd"] = EXECUTOR
        rid, did = deploy["requestId"], deploy["id"]
        self.post_request(rid)
        self.post_deploy(deploy)
        tid = self.first_task(rid)
        self.addCleanup(self.cleanup_task, tid)
        self.wait_state(tid, "TASK_RUNNING", 120)
        harness.wait_until(lambda: "TestService mode=server" in self.try_read(tid, "service.log"),
                           90, "the Java service to start")
        log = self.read(tid, "service.log")
        self.assertIn("config=[name: TestService] heap=384m mem=768", log)
        task = self.get("/api/tasks/task/" + q(tid))
        ports = [p for res in task["mesosTask"]["resources"] if res["name"] == "ports"
                 for rg in res["ranges"]["range"] for p in range(rg["begin"], rg["end"] + 1)]
        self.assertEqual(len(ports), 3)
        self.assertIn("port=%d" % ports[0], log)
        harness.wait_until(lambda: self.active_deploy(rid) == did, 60, "seed deploy active")
        self.kill(tid)
        self.wait_state(tid, "TASK_KILLED", 60)


if __name__ == "__main__":
    harness.main()
