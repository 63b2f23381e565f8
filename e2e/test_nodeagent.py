"""corral-nodeagent's log watcher through the whole system: real etcd,
mesoslite (real processes), corrald, corral-executor and the node agent on
mesoslite's work dir. Logs are followed through corrald
(GET /api/logs/task/{id}/follow -> the node agent's /v1/tasks/{id}/follow)
and `corralctl logs -f`; the node agent's own read/tail/grep API is checked
directly. docs/nodeagent.md."""

import json
import os
import time
import uuid
import unittest
import urllib.parse
import urllib.request

import harness
import nodeagent

EXECUTOR = os.path.join(harness.BIN, "corral-executor")
ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]


def corrald_with_nodeagent(c, port):
    """A leading corrald that reaches the agent's node agent on port."""
    old = os.environ.get("CORRAL_NODEAGENT_PORT")
    os.environ["CORRAL_NODEAGENT_PORT"] = str(port)
    try:
        return c.corrald()
    finally:
        if old is None:
            del os.environ["CORRAL_NODEAGENT_PORT"]
        else:
            os.environ["CORRAL_NODEAGENT_PORT"] = old


def one_agent(tc, na_args):
    """etcd, one mesoslite agent, a leading corrald and the agent's node
    agent (told of corrald, with na_args) for test case tc: sets tc.api,
    tc.na and tc.na_url."""
    c = tc.cluster
    c.etcd()
    c.mesoslite(agents=1, racks="r1", args=ML_ARGS)
    port = harness.free_port()
    tc.api = corrald_with_nodeagent(c, port)
    tc.na, tc.na_url = nodeagent.start(c, os.path.join(c.tmpdir, "mesos"), port=port,
                                       args=["--corrald", tc.api] + list(na_args))


def q(s):
    return urllib.parse.quote(s, safe="")


class Tasks:
    """Helpers of the tests that run tasks through corrald (self.api) with a
    node agent (self.na_url)."""

    def get(self, url):
        st, body = harness.http_json("GET", url)
        return body if st == 200 else None

    def start_task(self, rid, cmd, extra=None, rtype="SERVICE"):
        st, body = harness.http_json("POST", self.api + "/api/requests",
                                     {"id": rid, "requestType": rtype, "instances": 1})
        self.assertEqual(st, 200, body)
        data = {"cmd": cmd}
        data.update(extra or {})
        st, body = harness.http_json("POST", self.api + "/api/deploys", {"deploy": {
            "requestId": rid, "id": "v1", "customExecutorCmd": EXECUTOR,
            "resources": {"cpus": 0.1, "memoryMb": 64}, "executorData": data}})
        self.assertEqual(st, 200, body)

        def running():
            for t in self.get(self.api + "/api/tasks/active") or []:
                if t["taskId"]["requestId"] == rid:
                    h = self.get(self.api + "/api/history/task/" + q(t["taskId"]["id"])) or {}
                    if any(u["taskState"] == "TASK_RUNNING" for u in h.get("taskUpdates", [])):
                        return t["taskId"]["id"]
            return None
        return harness.wait_until(running, 60, "a running task of " + rid)

    def sandbox(self, tid):
        def find():
            for s in self.get(self.na_url + "/v1/sandboxes") or []:
                if s["taskId"] == tid:
                    return s["directory"]
            return None
        return harness.wait_until(find, 20, "the sandbox of " + tid)


class T(Tasks, harness.TestCase):

    def setUp(self):
        super().setUp()
        c = self.cluster
        c.etcd()
        c.mesoslite(agents=2, racks="r1,r2", args=ML_ARGS)
        self.na, self.na_url = nodeagent.start(c, os.path.join(c.tmpdir, "mesos"))
        self.api = corrald_with_nodeagent(c, self.na.port)

    def test_follow_through_rotation_loses_and_repeats_nothing(self):
        """A chatty task rotates service.log every 32 KiB; one follow stream
        through corrald, opened before the first line, gets every line once
        and ends when the executor finished the log."""
        n = 40000
        tid = self.start_task("chatty", "while [ ! -f go ]; do sleep 0.05; done; "
                              "seq 1 %d | sed 's/^/line /'" % n,
                              {"logMaxBytes": 32 * 1024, "logKeep": 1000}, rtype="RUN_ONCE")
        box = self.sandbox(tid)
        url = self.api + "/api/logs/task/%s/follow?path=service.log" % q(tid)
        resp = urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=120)
        self.assertEqual(resp.status, 200)
        open(os.path.join(box, "app", "go"), "w").close()
        got = resp.read().decode()  # until the stream ends: the log is final
        lines = got.splitlines()
        self.assertEqual(lines, ["line %d" % i for i in range(1, n + 1)])
        with open(os.path.join(box, "logs", "service.log.rotated.json")) as f:
            meta = json.load(f)
        self.assertGreater(len(meta["rotated"]), 10)

    def test_corralctl_logs_f_streams_a_new_line_within_a_second(self):
        tid = self.start_task("web", "echo started; while true; do "
                              "if [ -f trigger ]; then echo late-line; rm -f trigger; fi; "
                              "if [ -f ask ]; then printf 'continue? [y/N] '; rm -f ask; fi; "
                              "sleep 0.05; done")
        box = self.sandbox(tid)
        follower = self.cluster.spawn("logs-f", [
            os.path.join(harness.BIN, "corralctl"), "--server", self.api, "logs", tid, "-f",
            "--path", "service.log"])
        harness.wait_until(lambda: "started" in follower.log(), 20, "logs -f shows the first line")
        # it streams through the node agent (one stream open there)
        harness.wait_until(lambda: "corral_nodeagent_log_streams 1" in harness.http(
            "GET", self.na_url + "/metrics")[2].decode(), 10, "a node agent stream")
        t0 = time.monotonic()
        open(os.path.join(box, "app", "trigger"), "w").close()
        harness.wait_until(lambda: "late-line" in follower.log(), 5, "the late line",
                           interval=0.01)
        self.assertLess(time.monotonic() - t0, 1.0)
        # a prompt without its newline is shown too (executor and node agent
        # each hold a partial line at most PARTIAL_FLUSH_MS)
        open(os.path.join(box, "app", "ask"), "w").close()
        harness.wait_until(lambda: "continue? [y/N] " in follower.log(), 10,
                           "the prompt without its newline", interval=0.05)
        # the task ends: the follower ends with exit 0
        st, _ = harness.http_json("DELETE", self.api + "/api/tasks/task/" + q(tid),
                                  {"killGracePeriodMillis": 0})
        self.assertEqual(st, 200)
        harness.wait_until(lambda: follower.popen.poll() is not None, 30, "logs -f exits")
        self.assertEqual(follower.popen.returncode, 0, follower.log())

    def test_node_agent_read_tail_grep_and_confinement(self):
        tid = self.start_task("reader", "for i in 1 2 3 4 5; do echo row-$i; done; "
                              "echo other; ln -s /etc/passwd ../leak; sleep 1000")
        box = self.sandbox(tid)
        base = self.na_url + "/v1/tasks/" + q(tid)
        harness.wait_until(lambda: "other" in (self.get(
            base + "/read?path=service.log") or {}).get("data", ""), 20, "output")
        r = self.get(base + "/read?path=service.log&grep=row-")
        self.assertEqual(r["data"], "".join("row-%d\n" % i for i in range(1, 6)))
        r = self.get(base + "/read?path=service.log&lines=2")
        self.assertEqual(r["data"], "row-5\nother\n")
        st, _, body = harness.http("GET", base + "/follow?path=service.log&lines=3&follow=false")
        self.assertEqual((st, body.decode()), (200, "row-4\nrow-5\nother\n"))
        st, _, body = harness.http("GET", base + "/follow?path=service.log&grep=row-3&follow=false")
        self.assertEqual(body.decode(), "row-3\n")
        files = self.get(base + "/files")
        self.assertIn("service.log", [f["path"] for f in files["files"]])
        # a link in the sandbox, .. and absolute paths: refused
        harness.wait_until(lambda: os.path.islink(os.path.join(box, "leak")), 10, "the link")
        self.assertEqual(harness.http("GET", base + "/read?path=leak")[0], 404)
        self.assertEqual(harness.http("GET", base + "/read?path=../x")[0], 400)
        self.assertEqual(harness.http("GET", base + "/read?path=/etc/passwd")[0], 400)
        self.assertEqual(harness.http("GET", self.na_url + "/v1/tasks/nope/read")[0], 404)
        # through corrald too: a bad path is a 400, an unknown task a 404
        st, _, _ = harness.http("GET", self.api + "/api/logs/task/%s/follow?path=../x" % q(tid))
        self.assertEqual(st, 400)
        st, _, body = harness.http("GET", self.api + "/api/logs/task/%s/follow?path=service.log"
                                   "&follow=false&lines=1" % q(tid))
        self.assertEqual((st, body.decode()), (200, "other\n"))
        metrics = harness.http("GET", self.na_url + "/metrics")[2].decode()
        self.assertIn("corral_nodeagent_sandboxes ", metrics)

    def test_leftover_process_group_of_a_dead_executor_is_killed(self):
        """The executor is SIGKILLed; the task's background process (its
        own process group, which the executor made) outlives it; the node
        agent kills that group."""
        tid = self.start_task("orphan", "sleep 1000 & echo started; wait")
        box = self.sandbox(tid)

        def procs(comm):
            out = []
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open("/proc/%s/comm" % pid) as f:
                        if f.read().strip() != comm:
                            continue
                    with open("/proc/%s/environ" % pid, "rb") as f:
                        env = f.read().split(b"\0")
                except OSError:
                    continue
                if ("MESOS_SANDBOX=" + box).encode() in env or \
                        ("MESOS_DIRECTORY=" + box).encode() in env:
                    out.append(int(pid))
            return out
        sleeper = harness.wait_until(lambda: procs("sleep"), 20, "the task's sleep")[0]
        executor = harness.wait_until(lambda: procs("corral-executor"), 20, "the executor")[0]
        os.kill(executor, 9)

        def gone(pid):
            try:
                with open("/proc/%d/stat" % pid) as f:
                    return f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                return True
        harness.wait_until(lambda: gone(sleeper), 30, "the leftover sleep killed")
        report = self.get(self.na_url + "/v1/cleanup") or []
        self.assertTrue(any(r["action"] == "killed leftovers of" and r["taskId"] == tid
                            for r in report), report)


class Cleanup(Tasks, harness.TestCase):
    """Executor cleanup of sandboxes of tasks corrald has never heard of
    (404 for the task and its history) and in which no process runs: removed
    after the retention, but only under Corral's framework
    (slaves/<agent>/frameworks/<fw>/...): on a shared agent another
    framework's sandboxes are never touched. A running task's sandbox is
    kept."""

    def setUp(self):
        super().setUp()
        # no OOM killer: what the cleanup learns it learns by its own lookups
        one_agent(self, ["--retention-s", "1", "--no-oom-killer"])

    @staticmethod
    def make_sandbox(like, fw, executor):
        """A run directory as the Mesos agent leaves it (stdout, stderr,
        runs/latest), beside the sandbox `like`, under framework fw, of an
        executor (and so task) id; no process runs in it."""
        parts = like.split(os.sep)
        frameworks = os.sep.join(parts[:parts.index("frameworks") + 1])
        runs = os.path.join(frameworks, fw, "executors", executor, "runs")
        run = os.path.join(runs, str(uuid.uuid4()))
        os.makedirs(run)
        for name in ("stdout", "stderr"):
            with open(os.path.join(run, name), "w") as f:
                f.write("output of %s\n" % executor)
        os.symlink(os.path.basename(run), os.path.join(runs, "latest"))
        return run

    def test_unknown_task_sandbox_removed_other_framework_and_running_kept(self):
        tid = self.start_task("keeper", "echo up; sleep 1000")
        box = self.sandbox(tid)
        parts = box.split(os.sep)
        fw = parts[parts.index("frameworks") + 1]
        # task ids Corral could have made, that it never did
        ghost_id = "ghost-v1-1700000000000-1-localhost-r1"
        other_id = "elsewhere-v1-1700000000000-1-localhost-r1"
        for t in (ghost_id, other_id, ghost_id + "x"):
            self.assertEqual(harness.http("GET", self.api + "/api/tasks/task/" + q(t))[0], 404)
            self.assertEqual(harness.http("GET", self.api + "/api/history/task/" + q(t))[0],
                             404)
        other = self.make_sandbox(box, "another-framework-0001", other_id)
        ghost = self.make_sandbox(box, fw, ghost_id)

        def seen(*ids):
            return set(ids) <= {s["taskId"] for s in self.get(self.na_url + "/v1/sandboxes") or []}
        harness.wait_until(lambda: seen(ghost_id, other_id), 20, "both sandboxes indexed")
        harness.wait_until(lambda: not os.path.exists(ghost), 60,
                           "the unknown task's sandbox removed", interval=0.1)
        # a second unknown sandbox, made after: by the time it is gone, the
        # other framework's older one had every chance to be removed too
        ghost2 = self.make_sandbox(box, fw, ghost_id + "x")
        harness.wait_until(lambda: seen(ghost_id + "x"), 20, "the second sandbox indexed")
        harness.wait_until(lambda: not os.path.exists(ghost2), 60,
                           "the second unknown sandbox removed", interval=0.1)
        self.assertTrue(os.path.isfile(os.path.join(other, "stdout")), "another framework's")
        self.assertTrue(os.path.isdir(box), "the running task's")
        self.assertIn(tid, [t["taskId"]["id"] for t in self.get(self.api + "/api/tasks/active")])
        report = self.get(self.na_url + "/v1/cleanup") or []
        removed = sorted(r["taskId"] for r in report if r["action"] == "removed sandbox of")
        self.assertEqual(removed, [ghost_id, ghost_id + "x"], report)
        self.assertTrue(all("unknown" in r["detail"] for r in report
                            if r["action"] == "removed sandbox of"), report)
        metrics = harness.http("GET", self.na_url + "/metrics")[2].decode()
        self.assertIn("corral_nodeagent_sandboxes_removed_total 2", metrics)


class OOM(harness.TestCase):
    """The OOM killer: a task that allocates past its memoryMb gets SIGTERM
    (SIGKILL after its grace period) from the node agent, ends TASK_FAILED
    with the reason as its terminal update's message (a crash the
    controllers' cooldown counts), its history says why, and it is
    replaced."""

    def setUp(self):
        super().setUp()
        one_agent(self, ["--oom-interval-ms", "200"])

    def get(self, path):
        st, body = harness.http_json("GET", self.api + path)
        return body if st == 200 else None

    def test_task_over_its_memory_is_killed_with_the_reason_and_replaced(self):
        st, body = harness.http_json("POST", self.api + "/api/requests",
                                     {"id": "hog", "requestType": "SERVICE", "instances": 1})
        self.assertEqual(st, 200, body)
        st, body = harness.http_json("POST", self.api + "/api/deploys", {"deploy": {
            "requestId": "hog", "id": "v1", "customExecutorCmd": EXECUTOR,
            "resources": {"cpus": 0.1, "memoryMb": 32},
            "executorData": {"cmd": "while [ ! -f grow ]; do sleep 0.1; done; "
                                    "exec python3 -c \"import time; x = b'a' * (96 << 20); "
                                    "print('allocated', flush=True); time.sleep(600)\"",
                             "sigKillProcessesAfterMillis": 2000}}})
        self.assertEqual(st, 200, body)
        # the deploy succeeds first; then the task grows past its memory
        harness.wait_until(lambda: ((self.get("/api/history/request/hog/deploy/v1") or {})
                                    .get("deployResult") or {}).get("deployState") == "SUCCEEDED",
                           90, "deploy v1 succeeded")
        box = harness.wait_until(lambda: next((s["directory"] for s in
                                               self.get_na("/v1/sandboxes") or []
                                               if s["taskId"].startswith("hog-")), None),
                                 30, "the hog's sandbox")
        open(os.path.join(box, "app", "grow"), "w").close()

        def killed():
            for r in self.get_na("/v1/cleanup") or []:
                if r["action"] == "OOM kill of":
                    return r
            return None
        r = harness.wait_until(killed, 90, "an OOM kill")
        self.assertIn("killed by the node agent: memory", r["detail"])
        self.assertIn("over the 32 MiB limit", r["detail"])
        tid = r["taskId"]

        def ended():
            h = self.get("/api/history/task/" + q(tid)) or {}
            states = [u["taskState"] for u in h.get("taskUpdates", [])]
            return "TASK_FAILED" in states and states
        harness.wait_until(ended, 60, "the hog ended")
        # the task's history says why
        h = self.get("/api/history/task/" + q(tid))
        why = [u for u in h["taskUpdates"] if u["taskState"] == "TASK_CLEANING"]
        self.assertEqual(len(why), 1, h["taskUpdates"])
        self.assertRegex(why[0]["statusMessage"],
                         r"^killed by the node agent: memory \d+ MiB over the 32 MiB limit$")
        states = [u["taskState"] for u in h["taskUpdates"]]
        self.assertLess(states.index("TASK_CLEANING"), len(states) - 1, states)
        # the terminal update itself says why (the executor read the node
        # agent's note), with Mesos' reason for a memory limit
        end = [u for u in h["taskUpdates"] if u["taskState"] == "TASK_FAILED"]
        self.assertEqual(len(end), 1, h["taskUpdates"])
        self.assertRegex(end[0]["statusMessage"],
                         r"^killed by the node agent: memory \d+ MiB over the 32 MiB limit "
                         r"\(process killed by signal 15 \(Terminated\)\)$")
        self.assertEqual(end[0].get("statusReason"), "REASON_CONTAINER_LIMITATION_MEMORY", end)
        # and the controllers count it as a failure (crash loop, cooldown)
        harness.wait_until(
            lambda: tid in [m["taskId"] for m in (self.cluster.etcd_get_json(
                "/corral/status/requests/hog") or {}).get("recentFailures", [])],
            30, "the OOM kill among the request's recent failures")
        # replaced: another task of the request runs (and is killed in turn)
        harness.wait_until(lambda: any(t["taskId"]["id"] != tid for t in
                                       self.get("/api/tasks/active") or []
                                       if t["taskId"]["requestId"] == "hog")
                           or len([x for x in self.get_na("/v1/cleanup") or []
                                   if x["action"] == "OOM kill of"]) > 1, 90, "a replacement")
        metrics = harness.http("GET", self.na_url + "/metrics")[2].decode()
        self.assertNotIn("corral_nodeagent_oom_kills_total 0", metrics)

    def test_task_renamed_corral_executor_is_still_killed(self):
        """A task that names itself corral-executor (/proc/self/comm, as
        prctl PR_SET_NAME) before it allocates is still measured and killed,
        its process group and all: the node agent knows the executor by what
        it runs (/proc/<pid>/exe), not by its name."""
        st, body = harness.http_json("POST", self.api + "/api/requests",
                                     {"id": "sly", "requestType": "SERVICE", "instances": 1})
        self.assertEqual(st, 200, body)
        st, body = harness.http_json("POST", self.api + "/api/deploys", {"deploy": {
            "requestId": "sly", "id": "v1", "customExecutorCmd": EXECUTOR,
            "resources": {"cpus": 0.1, "memoryMb": 32},
            "executorData": {"cmd": "while [ ! -f grow ]; do sleep 0.1; done; "
                                    "exec python3 -c \"import time; "
                                    "open('/proc/self/comm', 'w').write('corral-executor'); "
                                    "print('renamed', open('/proc/self/comm').read().strip(), "
                                    "flush=True); x = b'a' * (96 << 20); "
                                    "print('allocated', flush=True); time.sleep(600)\"",
                             "sigKillProcessesAfterMillis": 2000}}})
        self.assertEqual(st, 200, body)
        harness.wait_until(lambda: ((self.get("/api/history/request/sly/deploy/v1") or {})
                                    .get("deployResult") or {}).get("deployState") == "SUCCEEDED",
                           90, "deploy v1 succeeded")
        box, tid = harness.wait_until(lambda: next(((s["directory"], s["taskId"]) for s in
                                                    self.get_na("/v1/sandboxes") or []
                                                    if s["taskId"].startswith("sly-")), None),
                                      30, "the task's sandbox")
        open(os.path.join(box, "app", "grow"), "w").close()

        def killed():
            for r in self.get_na("/v1/cleanup") or []:
                if r["action"] == "OOM kill of" and r["taskId"] == tid:
                    return r
            return None
        r = harness.wait_until(killed, 90, "the OOM kill of the renamed task")
        self.assertIn("over the 32 MiB limit", r["detail"])

        def ended():
            h = self.get("/api/history/task/" + q(tid)) or {}
            end = [u for u in h.get("taskUpdates", []) if u["taskState"] == "TASK_FAILED"]
            return end and end[0]
        end = harness.wait_until(ended, 60, "the renamed task ended")
        self.assertEqual(end.get("statusReason"), "REASON_CONTAINER_LIMITATION_MEMORY", end)
        self.assertRegex(end["statusMessage"],
                         r"^killed by the node agent: memory \d+ MiB over the 32 MiB limit "
                         r"\(process killed by signal 15 \(Terminated\)\)$")
        # it had taken the name
        with open(os.path.join(box, "service.log")) as f:
            self.assertIn("renamed corral-executor\n", f.read())

    def get_na(self, path):
        st, body = harness.http_json("GET", self.na_url + path)
        return body if st == 200 else None


if __name__ == "__main__":
    harness.main()
