"""Issue 10: the seed's scenario end to end.

Applies the seed presentation's procfile deploy configuration
(`../shared/seed/deploy-config.yaml`, slide 9) with `corralctl apply` to a
real cluster (etcd, mesoslite with two agents on racks r1 and r2, corrald),
and checks what the seed promises.

No JVM is available, so the Java commands are replaced on the command line
through corralctl's documented procfile overrides (docs/manifests.md,
"Overrides"); everything else in the file (names, instances, cpus, memory,
retries, owners, load balancer, env) is applied as written:

    --set 'procfile.webService.cmd=python3 -m http.server $PORT0 --bind 127.0.0.1'
    --set procfile.webService.healthcheckUri=/          # the seed gives no check URI
    --set procfile.webService.healthcheckIntervalSeconds=1
    --set 'procfile.scheduledJob.cmd=echo seed job run $TASK_ID'
    --set 'procfile.scheduledJob.schedule=*/2 * * * * ?' # quartz: every 2 seconds
    --set procfile.scheduledJob.scheduleType=QUARTZ     # (the seed: '*/3 * * * *')
    --set 'procfile.worker.cmd=while true; do echo working; sleep 1; done'

Checked: the web service runs 2 instances that pass their HTTP health check,
the scheduled job fires on its schedule (at least two finished runs in
history), the worker runs, GET /api/state reports the counts, and a second
apply of the same file with the same overrides changes nothing (corralctl
says "unchanged" for every object, no new deploy, no task restarted).
"""
import os
import random
import time

import harness

NAME = "MDS_All_Item_Types_In_One_Config"
WEB = NAME + "-webService"
JOB = NAME + "-scheduledJob"
WORKER = NAME + "-worker"

OVERRIDES = [
    "--set", "procfile.webService.cmd=python3 -m http.server $PORT0 --bind 127.0.0.1",
    "--set", "procfile.webService.healthcheckUri=/",
    "--set", "procfile.webService.healthcheckIntervalSeconds=1",
    "--set", "procfile.scheduledJob.cmd=echo seed job run $TASK_ID",
    "--set", "procfile.scheduledJob.schedule=*/2 * * * * ?",
    "--set", "procfile.scheduledJob.scheduleType=QUARTZ",
    "--set", "procfile.worker.cmd=while true; do echo working; sleep 1; done",
]

ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]


def agent_resources():
    """--agent-resources giving each of the two agents its own port range.
    Both agents run on 127.0.0.1, so mesoslite's default (every agent offers
    31000-32000) hands the same port to tasks on different agents."""
    base = random.randrange(20000, 29000, 200)
    return ["--agent-resources",
            "cpus:4;mem:8192;disk:65536;ports:[%d-%d]|cpus:4;mem:8192;disk:65536;ports:[%d-%d]"
            % (base, base + 99, base + 100, base + 199)]


def seed_config():
    """The seed's deploy-config.yaml: ../shared/seed beside the clone, else
    the copy in test/fixtures/seed (harness.seed_path)."""
    path = harness.seed_path("deploy-config.yaml")
    return os.path.abspath(path) if os.path.isfile(path) else None


class SeedScenarioTest(harness.TestCase):

    def api(self, path):
        st, body = harness.http_json("GET", self.cluster.api_url + path)
        return body if st == 200 else None

    def apply(self):
        return self.cluster.corralctl("apply", "-f", self.config, *OVERRIDES)

    def parent(self, rid):
        return self.api("/api/requests/request/" + rid) or {}

    def active_deploy(self, rid):
        d = (self.parent(rid).get("requestDeployState") or {}).get("activeDeploy")
        return d and d.get("deployId")

    def healthy(self, rid):
        return (self.parent(rid).get("taskIds") or {}).get("healthy") or []

    def active_tasks(self, rid):
        """Ids of the request's active tasks (GET /api/tasks/active)."""
        tasks = self.api("/api/tasks/active") or []
        out = []
        for t in tasks:
            tid = t.get("taskId", t)
            if isinstance(tid, dict) and tid.get("requestId") == rid:
                out.append(tid["id"])
        return sorted(out)

    def job_history(self):
        return self.api("/api/history/request/%s/tasks" % JOB) or []

    def test_seed_deploy_config(self):
        self.config = seed_config()
        if self.config is None:
            self.skipTest("the seed's deploy-config.yaml is not there")
        c = self.cluster
        c.etcd()
        c.mesoslite(agents=2, racks="r1,r2", args=ML_ARGS + agent_resources())
        c.corrald()

        # -- first apply: three requests and three deploys created ---------
        r = self.apply()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for rid in (WEB, JOB, WORKER):
            self.assertIn("request/%s created" % rid, r.stdout)
            self.assertRegex(r.stdout, r"deploy/%s/[0-9a-f]{16} created" % rid)

        # -- the web service: 2 instances passing the HTTP health check ----
        harness.wait_until(lambda: self.active_deploy(WEB), 90, "web deploy succeeded")
        harness.wait_until(lambda: len(self.healthy(WEB)) == 2, 60,
                           "2 healthy webService tasks")
        web = self.parent(WEB)
        self.assertEqual(web["request"]["instances"], 2)
        self.assertEqual(web["request"]["requestType"], "SERVICE")
        self.assertEqual(web["state"], "ACTIVE")
        self.assertIsNone(web["requestDeployState"].get("pendingDeploy"))
        ready = [cd for cd in web.get("conditions") or [] if cd.get("type") == "Ready"]
        self.assertEqual([cd.get("status") for cd in ready], ["True"], web.get("conditions"))
        # The seed's resources are applied as written.
        dep = (web.get("activeDeploy") or {})
        self.assertEqual(dep.get("resources", {}).get("cpus"), 2)
        self.assertEqual(dep.get("resources", {}).get("memoryMb"), 1024)
        self.assertEqual(dep.get("healthcheck", {}).get("uri"), "/")
        # Each instance really serves HTTP on the port Corral gave it.
        for tid in self.healthy(WEB):
            tid = tid["id"] if isinstance(tid, dict) else tid
            task = self.api("/api/tasks/task/" + tid)
            self.assertIsNotNone(task, tid)
            ports = [p for res in task["mesosTask"]["resources"] if res["name"] == "ports"
                     for rg in res["ranges"]["range"] for p in range(rg["begin"], rg["end"] + 1)]
            self.assertTrue(ports, task["mesosTask"]["resources"])
            self.assertEqual(harness.http("GET", "http://127.0.0.1:%d/" % ports[0])[0], 200)

        # -- the worker runs -------------------------------------------------
        harness.wait_until(lambda: self.active_deploy(WORKER), 60, "worker deploy succeeded")
        harness.wait_until(lambda: len(self.healthy(WORKER)) == 1, 60, "worker task running")
        self.assertEqual(self.parent(WORKER)["request"]["requestType"], "WORKER")

        # -- a second apply of the same file changes nothing -----------------
        self.check_second_apply_changes_nothing()

        # -- the scheduled job fires on its 2-second schedule ----------------
        self.check_job_fires()

        # -- GET /api/state reports the counts -------------------------------
        self.check_state()

    def deploys(self, rid):
        """(active deploy id, pending deploy id) of a request."""
        ds = self.parent(rid).get("requestDeployState") or {}
        return tuple((ds.get(k) or {}).get("deployId") for k in ("activeDeploy", "pendingDeploy"))

    def check_second_apply_changes_nothing(self):
        c = self.cluster
        before = {rid: self.deploys(rid) for rid in (WEB, JOB, WORKER)}
        lr_tasks = {rid: self.active_tasks(rid) for rid in (WEB, WORKER)}
        self.assertEqual(len(lr_tasks[WEB]), 2)
        self.assertEqual(len(lr_tasks[WORKER]), 1)
        history_before = {rid: len(self.api("/api/history/request/%s/deploys" % rid) or [])
                          for rid in (WEB, JOB, WORKER)}
        r2 = self.apply()
        self.assertEqual(r2.returncode, 0, r2.stdout + r2.stderr)
        lines = [ln for ln in r2.stdout.splitlines() if ln.strip()]
        self.assertEqual(len(lines), 6, r2.stdout)
        for ln in lines:
            self.assertRegex(ln, r"^(request|deploy)/\S+ unchanged$", r2.stdout)
        # corralctl diff agrees: no drift.
        d = c.corralctl("diff", "-f", self.config, *OVERRIDES)
        self.assertEqual(d.returncode, 0, d.stdout + d.stderr)
        self.assertEqual(d.stdout.strip(), "")
        # Watch for a few seconds whether anything reacts anyway (a restart
        # shows as a new task id): this asserts the absence of change, it
        # does not wait for one.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for rid in (WEB, WORKER):
                self.assertEqual(self.active_tasks(rid), lr_tasks[rid], rid)
            time.sleep(0.5)
        for rid in (WEB, JOB, WORKER):
            self.assertEqual(self.deploys(rid), before[rid], rid)
            self.assertEqual(len(self.api("/api/history/request/%s/deploys" % rid) or []),
                             history_before[rid], rid)

    def check_job_fires(self):
        c = self.cluster
        # -- the scheduled job fires on its 2-second schedule ----------------
        harness.wait_until(lambda: self.active_deploy(JOB), 60, "job deploy succeeded")
        job = self.parent(JOB)["request"]
        self.assertEqual(job["requestType"], "SCHEDULED")
        self.assertEqual(job["schedule"], "*/2 * * * * ?")
        self.assertEqual(job["numRetriesOnFailure"], 5)
        def two_finished():
            done = [t for t in self.job_history() if t.get("lastTaskState") == "TASK_FINISHED"]
            return done if len(done) >= 2 else None
        finished = harness.wait_until(two_finished, 60, "two finished runs of the scheduled job")
        ids = {t["taskId"]["id"] for t in finished}
        self.assertEqual(len(ids), 2)
        # A run's output is its stand-in command's.
        tid = finished[0]["taskId"]["id"]
        st, _, out = harness.http("GET", c.api_url + "/api/sandbox/%s/read?path=stdout&offset=0"
                                  "&length=4096" % tid)
        self.assertEqual(st, 200)
        self.assertIn(("seed job run " + tid).encode(), out)

    def check_state(self):
        def state_settled():
            s = self.api("/api/state")
            return s if s and s["activeRequests"] == 3 and s["activeTasks"] >= 3 else None
        s = harness.wait_until(state_settled, 30, "state counts")
        self.assertEqual(s["allRequests"], 3)
        self.assertEqual(s["pausedRequests"], 0)
        self.assertEqual(s["cooldownRequests"], 0)
        self.assertEqual(s["activeAgents"], 2)
        self.assertEqual(s["activeRacks"], 2)
        # 2 web + 1 worker tasks always run; the job adds at most one.
        self.assertIn(s["activeTasks"], (3, 4), s)
        # Every deploy finished: none pending, nothing under-provisioned.
        self.assertEqual(s["numDeploys"], 0, s)
        self.assertEqual(s["activeDeploys"], [], s)
        self.assertEqual(s["underProvisionedRequests"], 0, s)
        self.assertEqual(s["overProvisionedRequests"], 0, s)


if __name__ == "__main__":
    harness.main()
