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

mesoslite's two agents get disjoint port ranges (they share 127.0.0.1).

Checked: the web service runs 2 instances that pass their HTTP health check,
the scheduled job fires on its schedule (at least two finished runs in
history), the worker runs, GET /api/state reports the counts, and a second
apply of the same file with the same overrides changes nothing (corralctl
says "unchanged" for every object, no new deploy, no task restarted).
"""
import os
import random
import re
import shutil
import subprocess
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
    31000-32000) hands the same port to tasks on different agents. Random,
    below the kernel's ephemeral range (32768-), so that tests running side
    by side rarely meet."""
    base = harness.free_port_range(200)
    return ["--agent-resources",
            "cpus:4;mem:8192;disk:65536;ports:[%d-%d]|cpus:4;mem:8192;disk:65536;ports:[%d-%d]"
            % (base, base + 99, base + 100, base + 199)]


def seed_config():
    """The seed's deploy-config.yaml: ../shared/seed beside the clone, else
    the copy in test/fixtures/seed (harness.seed_path)."""
    path = harness.seed_path("deploy-config.yaml")
    return os.path.abspath(path) if os.path.isfile(path) else None


def quickstart_script(api):
    """docs/quickstart.md's ```sh blocks from section 2 on (section 1 starts
    the cluster, the last stops it: the harness does both here), adapted to
    run unattended: the API address is the test's, `logs -f` is cut short,
    and the cron run's log is read once that run has finished (a poll with
    a deadline, where a user would simply wait)."""
    with open(os.path.join(harness.ROOT, "docs", "quickstart.md")) as f:
        blocks = re.findall(r"```sh\n(.*?)```", f.read(), re.S)
    body = "\n".join(blocks[1:-1])
    body = body.replace("export CORRAL_SERVER=http://127.0.0.1:7099",
                        "export CORRAL_SERVER=" + api)
    body = body.replace("export PATH=$PWD/bin:$PATH", "export PATH=%s:$PATH" % harness.BIN)
    body = body.replace("corralctl logs $TASK -f", "timeout 3 corralctl logs $TASK -f")
    body = body.replace("RUN=$(", "for i in $(seq 300); do curl -s $CORRAL_SERVER/api/history/"
                        "request/hello-cron/tasks | grep -q TASK_FINISHED && break; sleep 0.1; "
                        "done\nRUN=$(", 1)
    return "PS4='+ '\nset -x\n" + body


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

    def stdout(self, task_id):
        """The start of a task's stdout, through the sandbox API."""
        st, _, out = harness.http("GET", self.cluster.api_url +
                                  "/api/sandbox/%s/read?path=stdout&offset=0&length=4096"
                                  % task_id)
        self.assertEqual(st, 200, out)
        return out

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
        wtask = self.active_tasks(WORKER)[0]
        harness.wait_until(lambda: b"working" in self.stdout(wtask), 30, "the worker's output")

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
        harness.wait_until(lambda: self.active_deploy(JOB), 60, "job deploy succeeded")
        job = self.parent(JOB)["request"]
        self.assertEqual(job["requestType"], "SCHEDULED")
        self.assertEqual(job["schedule"], "*/2 * * * * ?")
        self.assertEqual(job["numRetriesOnFailure"], 5)

        def two_finished():
            done = [t for t in self.job_history() if t.get("lastTaskState") == "TASK_FINISHED"]
            return done if len(done) >= 2 else None
        finished = harness.wait_until(two_finished, 60, "two finished runs of the scheduled job")
        # Each fire is its own task.
        ids = {t["taskId"]["id"] for t in finished}
        self.assertEqual(len(ids), len(finished))
        # ... fired at the schedule's times: whole multiples of 2 seconds.
        for tid in ids:
            th = self.api("/api/history/task/" + tid)
            self.assertIsNotNone(th, tid)
            fire = th["task"]["taskRequest"]["pendingTask"]["pendingTaskId"]["nextRunAt"]
            self.assertEqual(fire % 2000, 0, (tid, fire))
        # A run's output is its stand-in command's.
        tid = finished[0]["taskId"]["id"]
        self.assertIn(("seed job run " + tid).encode(), self.stdout(tid))

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



class QuickstartTest(harness.TestCase):
    """Every command of docs/quickstart.md after the start, as written, on a
    cluster shaped like hack/local-up.sh's (three agents on racks r1 and r2,
    the examples applied)."""

    def test_quickstart_commands(self):
        c = self.cluster
        c.etcd()
        base = harness.free_port_range(300)
        spec = "|".join("cpus:4;mem:8192;disk:65536;ports:[%d-%d]" % (b, b + 99)
                        for b in (base, base + 100, base + 200))
        c.mesoslite(agents=3, racks="r1,r2", args=ML_ARGS + ["--agent-resources", spec])
        c.corrald()
        work = os.path.join(c.tmpdir, "clone")
        shutil.copytree(os.path.join(harness.ROOT, "manifests"), os.path.join(work, "manifests"))
        c.corralctl("apply", "-f", os.path.join(work, "manifests", "examples"), check=True)

        r = subprocess.run(["bash", "-c", quickstart_script(c.api_url)], cwd=work,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=400)
        out = r.stdout
        # What each section promises, in order.
        expected = [
            r"hello-web\s+SERVICE\s+ACTIVE\s+2",                 # 2. get requests
            r"activeRequests\s+8",                                # 2. corralctl state (the 8 examples)
            r"deploy/hello-web/v1 unchanged",                     # 3. apply again
            r"request/hello-web healthy",                         # 4. wait
            r"<!DOCTYPE HTML>",                                   # 4. curl the task
            r"request/hello-web scaled to 3",                     # 5.
            r"request/hello-web healthy",
            r"hello-web-v1-\S+-3-",                               # a third instance
            r"request/hello-web scaled to 2",
            r"deploy/hello-web/v2 created",                       # 6.
            r"hello-web\s+SERVICE\s+ACTIVE\s+2\s+v1\s+v2",
            r"deploy/hello-web/v2: deploy FAILED",
            r"v2\s+FAILED",
            r"v1\s+SUCCEEDED",
            r"Schedule:\s+\*/5 \* \* \* \*",                       # 7.
            r"request/hello-cron run \S+ queued",
            r"deploy/tick/[0-9a-f]{16} created",
            r"request/tick deleted",
            r"working on hello-worker-",                          # 8. logs
            r"cron run hello-cron-v1-",
        ]
        pos = 0
        for pat in expected:
            m = re.compile(pat).search(out, pos)
            self.assertIsNotNone(m, "quickstart output lacks /%s/ after offset %d:\n%s"
                                 % (pat, pos, out[pos:][-6000:]))
            pos = m.end()
        self.assertNotIn("cannot reach corrald", out)
        self.assertNotIn("command not found", out)
        # After the failed v2, v1 still serves with its 2 tasks, untouched.
        parent = harness.http_json("GET", c.api_url + "/api/requests/request/hello-web")[1]
        self.assertEqual(parent["requestDeployState"]["activeDeploy"]["deployId"], "v1")
        self.assertEqual(len(parent["taskIds"]["healthy"]), 2)


if __name__ == "__main__":
    harness.main()
