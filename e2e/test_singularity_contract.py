"""Singularity's API contract, endpoint by endpoint (issue 20).

ENDPOINTS below is every public operation of Singularity's resources
(SingularityService/.../resources/*.java at HEAD: 210 method + path pairs,
deprecated aliases and /test included). Each row gives the method, the path
(under Singularity's base, with placeholders filled from real objects),
the status a valid call gets, the fields Singularity's model class of the
answer requires, the body sent, and either None (Corral implements it) or
why Corral leaves it out (docs/api.md "Singularity compatibility" has the
same list).

The test starts real etcd, mesoslite (two agents, two racks) and corrald
(leader, controllers on), creates the objects the paths name through the
API itself, then calls every implemented row in table order through the
context path /singularity/api (reads first, then writes ordered so each
finds what it needs). It prints `coverage: N/M endpoints` and fails for any
implemented row whose answer differs from the row. A left-out row is
called too and must not answer 2xx: a route that appears unannounced has
to be moved into the table.
"""
import json
import time
import urllib.parse

import harness
from ctl_cases import ML_ARGS, PREFIX, SERVER

BASE = "/singularity/api"

# Shapes (required members of Singularity's model classes).
PARENT = ["request", "state"]
TASK = ["taskId", "offers", "mesosTask", "taskRequest"]
TASK_ID_HIST = ["taskId", "updatedAt", "lastTaskState"]
PAGED = ["dataCount", "pageCount", "page", "objects"]
MACHINE = ["id", "currentState", "firstSeenAt"]
TASK_STATE = ["taskHistory", "pending"]

USAGE = "Corral polls no resource usage from agents"
DISASTER_W = ("Corral detects no disasters and runs no automated disaster actions to disable "
              "(the reads answer that)")
TESTS = "Singularity's /test resource drives its own test harness; Corral has none"
NOTIFY = "Corral sends no e-mail notifications"
SHUFFLE = "Corral never shuffles tasks between agents, so there is nothing to exclude"
COMMANDS = ("running a shell command needs corrald's --shell-commands allow-list and a task "
            "run by corral-executor: e2e/test_shell_commands.py runs one (apiserver/as_shell.h)")
PRIORITY = "the priority freeze needs the scheduler to honour it (controller part of issue 20)"

# (method, path, status, required fields, body, left-out reason or None)
ENDPOINTS = [
    # ---- reads ------------------------------------------------------------------------
    ("GET", "/state", 200, ["activeTasks", "activeRequests", "hostStates"], None, None),
    ("GET", "/state/requests/under-provisioned", 200, [], None, None),
    ("GET", "/state/requests/over-provisioned", 200, [], None, None),
    ("GET", "/state/scheduled-tasks-info", 200,
     ["lateTasks", "onDemandLateTasks", "numFutureTasks", "maxTaskLag", "timestamp"], None, None),
    ("GET", "/state/task-reconciliation", 200, [], None,
     "the bridge reconciles after every subscribe and periodically (docs/mesosbridge.md); "
     "its statistics are metrics, not an API object"),
    ("GET", "/requests", 200, PARENT, None, None),
    ("GET", "/requests/active", 200, PARENT, None, None),
    ("GET", "/requests/paused", 200, [], None, None),
    ("GET", "/requests/cooldown", 200, [], None, None),
    ("GET", "/requests/finished", 200, [], None, None),
    ("GET", "/requests/ids", 200, [], None, None),
    ("GET", "/requests/ids/active", 200, [], None, None),
    ("GET", "/requests/batch?id={web}&id=nosuch", 200, ["requests", "notFound"], None, None),
    ("GET", "/requests/crashloops", 200, [], None, None),
    ("GET", "/requests/lbcleanup", 200, [], None, None),
    ("GET", "/requests/queued/pending", 200, [], None, None),
    ("GET", "/requests/queued/cleanup", 200, [], None, None),
    ("GET", "/requests/request/{web}", 200, PARENT + ["activeDeploy"], None, None),
    ("GET", "/requests/request/{web}/simple", 200, ["request", "state", "timestamp"], None,
     None),
    ("GET", "/requests/request/{web}/crashloops", 200, [], None, None),
    ("GET", "/requests/request/{job}/run/run1", 200, ["id", "requestId", "deployId"], None,
     None),
    ("GET", "/deploys/pending", 200, [], None, None),
    ("GET", "/tasks/active", 200, TASK, None, None),
    ("GET", "/tasks/active/ids", 200, ["id", "requestId"], None, None),
    ("GET", "/tasks/active/states", 200, [], None, None),
    ("GET", "/tasks/active/agent/{agent}", 200, TASK, None, None),
    ("GET", "/tasks/active/agent/{agent}/ids", 200, ["id"], None, None),
    ("GET", "/tasks/active/slave/{agent}", 200, TASK, None, None),
    ("GET", "/tasks/active/slave/{agent}/ids", 200, ["id"], None, None),
    ("GET", "/tasks/scheduled", 200, ["request", "deploy", "pendingTask"], None, None),
    ("GET", "/tasks/scheduled/ids", 200, ["requestId"], None, None),
    ("GET", "/tasks/scheduled/request/{sched}", 200, ["pendingTask"], None, None),
    ("GET", "/tasks/scheduled/task/{ptid}", 200, ["request", "deploy", "pendingTask"], None,
     None),
    ("GET", "/tasks/cleaning", 200, [], None, None),
    ("GET", "/tasks/killed", 200, [], None, None),
    ("GET", "/tasks/lbcleanup", 200, [], None, None),
    ("GET", "/tasks/ids/request/{web}", 200, ["healthy", "notYetHealthy", "pending", "cleaning"],
     None, None),
    ("GET", "/tasks/counts/request/{web}", 200, ["requestId", "active", "pending", "cleaning"],
     None, None),
    ("GET", "/tasks/task/{tid}", 200, TASK, None, None),
    ("GET", "/tasks/task/{tid}/cleanup", 404, [], None, None),
    ("GET", "/tasks/task/{tid}/statistics", 200, [], None,
     "live resource statistics come from the agent's /monitor/statistics, which mesoslite "
     "does not serve; Corral keeps none"),
    # task shell commands are apiserver/as_shell.h's (built beside this):
    # move the rows marked COMMANDS into the table when they answer
    ("GET", "/tasks/task/{tid}/command", 200, [], None, None),
    ("GET", "/tasks/task/{tid}/command/ls/1", 200, [], None, None),
    ("GET", "/tasks/commands/queued", 200, [], None, None),
    ("GET", "/tasks/download/?path={tid}/stdout", 200, [], None,
     "a raw sandbox download: /api/sandbox/{taskId}/read serves the same bytes"),
    ("GET", "/tasks/open/?path={tid}/stdout", 200, [], None,
     "a raw sandbox download: /api/sandbox/{taskId}/read serves the same bytes"),
    ("GET", "/history/task/{tid}", 200, ["task", "taskUpdates"], None, None),
    ("GET", "/history/tasks", 200, TASK_ID_HIST, None, None),
    ("GET", "/history/tasks/withmetadata", 200, PAGED, None, None),
    ("GET", "/history/request/{job}/tasks", 200, TASK_ID_HIST, None, None),
    ("GET", "/history/request/{job}/tasks/withmetadata", 200, PAGED, None, None),
    ("GET", "/history/request/{web}/tasks/active", 200, TASK_ID_HIST, None, None),
    ("GET", "/history/request/{web}/deploys", 200, ["deployMarker"], None, None),
    ("GET", "/history/request/{web}/deploys/withmetadata", 200, PAGED, None, None),
    ("GET", "/history/request/{web}/deploy/d1", 200, ["deployMarker", "deploy", "deployResult"],
     None, None),
    ("GET", "/history/request/{web}/deploy/d1/tasks/active", 200, TASK_ID_HIST, None, None),
    ("GET", "/history/request/{job}/deploy/j1/tasks/inactive", 200, TASK_ID_HIST, None, None),
    ("GET", "/history/request/{job}/deploy/j1/tasks/inactive/withmetadata", 200, PAGED, None,
     None),
    ("GET", "/history/request/{web}/requests", 200, ["request", "eventType", "createdAt"], None,
     None),
    ("GET", "/history/request/{web}/requests/withmetadata", 200, PAGED, None, None),
    ("GET", "/history/request/{job}/run/run1", 200, TASK_ID_HIST, None, None),
    ("GET", "/history/request/{job}/command-line-args", 200, [], None, None),
    ("GET", "/history/requests/search?requestIdLike=we", 200, [], None, None),
    ("GET", "/sandbox/{tid}/browse", 200, ["files", "currentDirectory"], None, None),
    ("GET", "/sandbox/{tid}/read?path=stdout", 200, ["data", "offset"], None, None),
    ("GET", "/track/task/{tid}", 200, TASK_STATE + ["taskId", "currentState"], None, None),
    ("GET", "/track/run/{job}/run1", 200, TASK_STATE + ["runId"], None, None),
    ("GET", "/logs/task/{tid}", 200, [], None, None),
    ("GET", "/logs/request/{web}", 200, [], None, None),
    ("GET", "/logs/request/{web}/deploy/d1", 200, [], None, None),
    ("POST", "/logs/search", 200, ["continuationTokens", "lastPage", "results"],
     {"requestsAndDeploys": {"{web}": ["d1"]}, "taskIds": ["{tid}"]}, None),
    ("GET", "/agents", 200, MACHINE, None, None),
    ("GET", "/agents/agent/{agent}", 200, ["state"], None, None),
    ("GET", "/agents/agent/{agent}/details", 200, [], None, None),
    ("GET", "/agents/expiring", 200, [], None, None),
    ("GET", "/slaves", 200, MACHINE, None, None),
    ("GET", "/slaves/slave/{agent}", 200, ["state"], None, None),
    ("GET", "/slaves/slave/{agent}/details", 200, [], None, None),
    ("GET", "/slaves/expiring", 200, [], None, None),
    ("GET", "/racks", 200, MACHINE, None, None),
    ("GET", "/racks/rack/r1", 200, ["state"], None, None),
    ("GET", "/racks/expiring", 200, [], None, None),
    ("GET", "/inactive", 200, [], None, None),
    ("GET", "/auth/user", 200, ["user", "authenticated"], None, None),
    ("GET", "/auth/{web}/auth-check", 200, [], None, None),
    ("GET", "/auth/{web}/auth-check/someone", 200, [], None, None),
    ("GET", "/users/settings", 200, [], None, None),
    ("GET", "/metrics", 200, [], None, None),
    ("GET", "/metrics/zk-bytes", 200, [], None, "Corral keeps no ZooKeeper data; etcd's "
     "size is in /metrics"),
    ("GET", "/openapi.json", 200, ["openapi", "paths"], None, None),
    ("GET", "/disasters/stats", 200, ["stats", "disasters"], None, None),
    ("GET", "/disasters/active", 200, [], None, None),
    ("GET", "/disasters/disabled-actions", 200, [], None, None),
    # none set: Singularity's absent Optional is a 404
    ("GET", "/disasters/firealarm", 404, [], None, None),
    ("GET", "/priority/freeze", 404, [], None, None),
    ("GET", "/configuration/singularity-limits", 200, ["maxDecommissioningAgents"], None,
     None),
    ("GET", "/shuffle/blacklist", 200, [], None, SHUFFLE),
    ("GET", "/shuffle/blacklist/{web}", 200, [], None, SHUFFLE),
    # Corral sends no mail (NOTIFY) and collects no usage (USAGE): the
    # answers Singularity gives when it has none
    ("GET", "/notifications/allowlist", 200, [], None, None),
    ("GET", "/notifications/blocklist", 200, [], None, None),
    ("GET", "/usage/cluster/utilization", 200, [], None,
     USAGE + " (Singularity itself fails this call without data)"),
    ("GET", "/usage/requests", 200, [], None, None),
    ("GET", "/usage/requests/request/{web}", 404, [], None, None),
    ("GET", "/usage/agents", 200, [], None, None),
    ("GET", "/usage/slaves", 200, [], None, None),
    ("GET", "/usage/tasks/{tid}/history", 200, [], None, None),

    # ---- writes -----------------------------------------------------------------------
    ("POST", "/requests", 200, PARENT,
     {"id": "extra", "requestType": "WORKER", "instances": 1}, None),
    ("POST", "/requests/request/extra/groups/auth-check", 200, [], {"group": "g1"}, None),
    ("POST", "/requests/request/extra/groups", 200, PARENT,
     {"group": "g1", "readWriteGroups": ["g2"]}, None),
    ("PUT", "/requests/request/extra/priority", 200, PARENT, {"priority": 0.5}, None),
    # expiring priority changes are refused (docs/api.md): none to make permanent
    ("DELETE", "/requests/request/extra/priority", 404, [], None, None),
    ("POST", "/deploys", 200, PARENT,
     {"deploy": {"requestId": "extra", "id": "e1", "command": "sleep 600",
                 "resources": {"cpus": 0.05, "memoryMb": 16}}}, None),
    ("POST", "/deploys/update", 200, PARENT,
     {"requestId": "extra", "deployId": "e1", "targetActiveInstances": 1}, None),
    ("DELETE", "/deploys/deploy/e1/request/extra", 200, PARENT, None, None),
    ("PUT", "/requests/request/extra/scale", 200, PARENT,
     {"instances": 2, "durationMillis": 600000}, None),
    ("DELETE", "/requests/request/extra/scale", 200, PARENT, None, None),
    ("PUT", "/requests/request/extra/skip-healthchecks", 200, PARENT,
     {"skipHealthchecks": True, "durationMillis": 600000}, None),
    ("DELETE", "/requests/request/extra/skip-healthchecks", 200, PARENT, None, None),
    ("PUT", "/requests/request/extra/skipHealthchecks", 200, PARENT,
     {"skipHealthchecks": True, "durationMillis": 600000}, None),
    ("DELETE", "/requests/request/extra/skipHealthchecks", 200, PARENT, None, None),
    ("POST", "/requests/request/extra/bounce", 200, PARENT, {"durationMillis": 600000}, None),
    ("DELETE", "/requests/request/extra/bounce", 200, PARENT, None, None),
    ("POST", "/requests/request/extra/pause", 200, PARENT,
     {"killTasks": False, "durationMillis": 600000}, None),
    ("DELETE", "/requests/request/extra/pause", 200, PARENT, None, None),
    ("POST", "/requests/request/extra/unpause", 200, PARENT, {}, None),
    ("POST", "/requests/request/extra/exit-cooldown", 409, [], {}, None),
    ("POST", "/requests/request/{job}/run", 200, PARENT, {"runId": "run2"}, None),
    ("DELETE", "/tasks/scheduled/task/{ptid}", 200, [], None, None),
    ("DELETE", "/tasks/task/{tid}", 200, ["taskId"], {"message": "contract"}, None),
    ("POST", "/tasks/task/{tid}/metadata", 204, [], {"type": "t", "title": "x"},
     "task metadata is not stored yet"),
    ("POST", "/tasks/task/{tid}/command", 200, [], {"name": "ls"}, COMMANDS),
    ("POST", "/tasks/reconcile/{tid}", 204, [], None,
     "the bridge reconciles every task after each subscribe and periodically; no per-task "
     "trigger"),
    # Singularity's machine and inactive-host changes are void: 204
    ("POST", "/agents/agent/{agent2}/freeze", 204, [], {"message": "contract"}, None),
    ("POST", "/agents/agent/{agent2}/activate", 204, [], {}, None),
    ("POST", "/slaves/slave/{agent2}/freeze", 204, [], {}, None),
    ("POST", "/slaves/slave/{agent2}/activate", 204, [], {}, None),
    ("POST", "/agents/agent/{agent2}/decommission", 204, [], {"durationMillis": 600000}, None),
    ("POST", "/agents/agent/{agent2}/decommission/extend", 204, [],
     {"durationMillis": 900000}, None),
    ("DELETE", "/agents/agent/{agent2}/expiring", 204, [], None, None),
    ("DELETE", "/slaves/slave/{agent2}/expiring", 404, [], None, None),
    ("POST", "/slaves/slave/{agent2}/decommission", 409, [], {}, None),
    ("POST", "/racks/rack/r2/freeze", 204, [], {"durationMillis": 600000}, None),
    ("DELETE", "/racks/rack/r2/expiring", 204, [], None, None),
    ("POST", "/racks/rack/r2/activate", 204, [], {}, None),
    ("POST", "/racks/rack/r2/decommission", 204, [], {}, None),
    ("DELETE", "/agents/dead", 200, [], None, None),
    ("DELETE", "/slaves/dead", 200, [], None, None),
    # (a 7th member names a wait before the call: see T.before_*)
    ("DELETE", "/agents/agent/{agent2}", 204, [], None, None, "agent2_decommissioned"),
    ("DELETE", "/slaves/slave/{agent2}", 404, [], None, None),
    ("DELETE", "/racks/rack/r2", 204, [], None, None, "r2_decommissioned"),
    ("POST", "/inactive?host=old-host", 204, [], None, None),
    ("DELETE", "/inactive?host=old-host", 204, [], None, None),
    ("DELETE", "/inactive/all", 204, [], None, None),
    ("POST", "/users/settings", 200, [], {"starredRequestIds": ["{web}"]}, None),
    ("POST", "/users/settings/starred-requests", 200, [], {"starredRequestIds": ["extra"]},
     None),
    ("DELETE", "/users/settings/starred-requests", 200, [], {"starredRequestIds": ["extra"]},
     None),
    ("POST", "/auth/token", 200, [], {"user": {"id": "someone"}}, None),
    ("DELETE", "/auth/token/someone", 200, [], None, None),
    ("DELETE", "/requests/request/extra", 200, ["id", "requestType"], {"message": "contract"},
     None),
    ("POST", "/history/sql-backfill", 200, [], None,
     "history lives in etcd; there is no SQL store to backfill"),
    ("POST", "/disasters/disable", 200, [], None, DISASTER_W),
    ("POST", "/disasters/enable", 200, [], None, DISASTER_W),
    ("POST", "/disasters/active/EXCESSIVE_TASK_LAG", 200, [], None, DISASTER_W),
    ("DELETE", "/disasters/active/EXCESSIVE_TASK_LAG", 200, [], None, DISASTER_W),
    ("POST", "/disasters/disabled-actions/BOUNCE_REQUEST", 200, [], {}, DISASTER_W),
    ("DELETE", "/disasters/disabled-actions/BOUNCE_REQUEST", 200, [], None, DISASTER_W),
    ("POST", "/disasters/failover", 200, [], None,
     "leadership is an etcd lease: stop or restart a replica to move it (docs/operations.md)"),
    ("POST", "/disasters/firealarm", 200, [], {}, DISASTER_W),
    ("DELETE", "/disasters/firealarm", 200, [], None, DISASTER_W),
    ("POST", "/priority/freeze", 200, [], {"minimumPriorityLevel": 0.5}, PRIORITY),
    ("DELETE", "/priority/freeze", 200, [], None, PRIORITY),
    ("POST", "/groups", 200, ["id", "requestIds", "metadata"],
     {"id": "g1", "requestIds": ["{web}"], "metadata": {"team": "core"}}, None),
    ("GET", "/groups", 200, ["id", "requestIds", "metadata"], None, None),
    ("GET", "/groups/group/g1", 200, ["id", "requestIds", "metadata"], None, None),
    ("DELETE", "/groups/group/g1", 200, [], None, None),
    ("POST", "/configuration/rack-sensitive/enable", 200, [], None,
     "placement settings are corrald's configuration, not runtime state"),
    ("POST", "/configuration/rack-sensitive/disable", 200, [], None,
     "placement settings are corrald's configuration, not runtime state"),
    ("POST", "/configuration/placement-strategy/override/set/GREEDY", 200, [], None,
     "placement settings are corrald's configuration, not runtime state"),
    ("POST", "/configuration/placement-strategy/override/clear", 200, [], None,
     "placement settings are corrald's configuration, not runtime state"),
    ("POST", "/shuffle/blacklist/{web}", 200, [], None, SHUFFLE),
    ("DELETE", "/shuffle/blacklist/{web}", 200, [], None, SHUFFLE),
    ("POST", "/notifications/unsubscribe", 200, [], {}, NOTIFY),
    ("POST", "/notifications/subscribe", 200, [], {}, NOTIFY),
    ("POST", "/webhooks", 200, [],
     {"id": "w1", "uri": "http://127.0.0.1:1/", "type": "TASK"}, None),
    ("GET", "/webhooks", 200, ["id", "uri", "type"], None, None),
    ("GET", "/webhooks/summary", 200, [], None, None),
    ("GET", "/webhooks/task?webhookId=w1", 200, [], None, None),
    ("GET", "/webhooks/request?webhookId=w1", 200, [], None, None),
    ("GET", "/webhooks/deploy?webhookId=w1", 200, [], None, None),
    ("GET", "/webhooks/task/w1", 200, [], None, None),
    ("GET", "/webhooks/request/w1", 200, [], None, None),
    ("GET", "/webhooks/deploy/w1", 200, [], None, None),
    ("GET", "/webhooks/elevated-access", 200, [], None,
     "webhooks are for admins only; there is no elevated-access list to read"),
    ("DELETE", "/webhooks/w1", 200, [], None, None),
    ("DELETE", "/webhooks?webhookId=w1", 200, [], None, None),
] + [("POST", "/test/" + p, 200, [], None, TESTS) for p in (
    "scheduler/statusUpdate/{tid}/TASK_RUNNING", "leader", "notleader", "stop", "abort",
    "start", "exception", "reconcile", "purge-history", "purge-history/request",
    "purge-history/deploy", "reconnect-mesos", "persist-task-history",
    "persist-deploy-history", "persist-request-history")]


class T(harness.TestCase):

    def call(self, method, path, body=None):
        st, hdrs, raw = harness.http(method, self.api + BASE + path, body)
        text = raw.decode()
        try:
            data = json.loads(text) if text.strip() else None
        except ValueError:
            data = text
        return st, data

    def ok(self, method, path, body=None):
        st, data = self.call(method, path, body)
        self.assertEqual(st, 200, "%s %s -> %d %r" % (method, path, st, data))
        return data

    def setup_objects(self):
        c = self.cluster
        c.etcd()
        base = harness.free_port_range(100)
        res = "|".join("cpus:4;mem:8192;disk:65536;ports:[%d-%d]" % (base + 50 * i,
                                                                     base + 50 * i + 49)
                       for i in range(2))
        c.mesoslite(agents=2, racks="r1,r2", args=ML_ARGS + ["--agent-resources", res])
        self.api = c.corrald()
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30, "framework")
        self.ok("POST", "/requests", {"id": "web", "requestType": "SERVICE", "instances": 1,
                                      "requiredAgentAttributes": {}})
        self.ok("POST", "/deploys", {"deploy": {
            "requestId": "web", "id": "d1", "command": SERVER,
            "resources": {"cpus": 0.05, "memoryMb": 16, "numPorts": 1},
            "healthcheck": {"uri": "/", "startupIntervalSeconds": 1, "intervalSeconds": 1}}})
        self.ok("POST", "/requests", {"id": "job", "requestType": "ON_DEMAND"})
        self.ok("POST", "/deploys", {"deploy": {
            "requestId": "job", "id": "j1", "command": "echo ran $*",
            "resources": {"cpus": 0.05, "memoryMb": 16}}})
        # a task no agent can take stays pending (a scheduled task)
        self.ok("POST", "/requests", {"id": "stuck", "requestType": "WORKER"})
        self.ok("POST", "/deploys", {"deploy": {
            "requestId": "stuck", "id": "s1", "command": "sleep 600",
            "resources": {"cpus": 40, "memoryMb": 16}}})

        def web_healthy():
            st, ids = self.call("GET", "/tasks/ids/request/web")
            return st == 200 and ids["healthy"] and ids["healthy"][0]["id"]
        tid = harness.wait_until(web_healthy, 60, "web's task healthy")
        # "healthy" in the ids list does not wait for the first check; the
        # walk below kills that task, so let its deploy succeed first
        def web_deployed():
            st, p = self.call("GET", "/requests/request/web")
            return (p.get("activeDeploy") or {}).get("id") == "d1"
        harness.wait_until(web_deployed, 60, "web's deploy active")
        tid = harness.wait_until(web_healthy, 60, "web's task healthy")

        def job_deployed():
            st, p = self.call("GET", "/requests/request/job")
            return (p.get("activeDeploy") or {}).get("id") == "j1"
        harness.wait_until(job_deployed, 60, "job's deploy active")
        self.ok("POST", "/requests/request/job/run", {"runId": "run1",
                                                       "commandLineArgs": ["a", "b"]})

        def run_done():
            st, h = self.call("GET", "/history/request/job/tasks")
            return st == 200 and len(h) == 1
        harness.wait_until(run_done, 60, "run1 finished and in history")

        def pending_sched():
            st, ids = self.call("GET", "/tasks/scheduled/request/stuck")
            return st == 200 and ids and ids[0]["pendingTask"]["pendingTaskId"]["id"]
        ptid = harness.wait_until(pending_sched, 60, "stuck's pending task")
        task = self.ok("GET", "/tasks/task/" + urllib.parse.quote(tid))
        agents = [a["id"] for a in self.ok("GET", "/agents")]
        other = [a for a in agents if a != task["agentId"]][0]
        self.values = {"web": "web", "job": "job", "sched": "stuck", "tid": tid,
                       "ptid": ptid, "agent": task["agentId"], "agent2": other}

    def machine_state(self, kind, mid):
        st, docs = self.call("GET", "/" + kind)
        for d in docs if st == 200 else []:
            if d.get("id") == mid:
                return (d.get("currentState") or {}).get("state")
        return None

    def before_agent2_decommissioned(self):
        """Its tasks move away first (docs/machines.md): wait for the end."""
        harness.wait_until(lambda: self.machine_state("agents", self.values["agent2"])
                           == "DECOMMISSIONED", 60, "agent2 DECOMMISSIONED")

    def before_r2_decommissioned(self):
        harness.wait_until(lambda: self.machine_state("racks", "r2") == "DECOMMISSIONED",
                           60, "rack r2 DECOMMISSIONED")

    def fill(self, text):
        for k, v in self.values.items():
            text = text.replace("{%s}" % k, urllib.parse.quote(v, safe=""))
        return text

    def test_contract(self):
        self.setup_objects()
        implemented = [e for e in ENDPOINTS if e[5] is None]
        keys = {(e[0], e[1].split("?")[0]) for e in ENDPOINTS}
        self.assertEqual(len(keys), len(ENDPOINTS), "a row appears twice")
        failures = []
        for row in ENDPOINTS:
            method, path, status, fields, body, reason = row[:6]
            if len(row) > 6:
                getattr(self, "before_" + row[6])()
            p = self.fill(path)
            b = json.loads(self.fill(json.dumps(body))) if body is not None else None
            st, data = self.call(method, p, b)
            if reason is not None:
                if 200 <= st < 300:
                    failures.append("%s %s is marked left out but answers %d" % (method, p, st))
                continue
            if st != status:
                failures.append("%s %s -> %d, want %d: %.300r" % (method, p, st, status, data))
                continue
            item = data
            if isinstance(data, list):
                if fields and not data:
                    failures.append("%s %s -> an empty list; want items with %s"
                                    % (method, p, fields))
                    continue
                item = data[0] if data else {}
            missing = [f for f in fields if not isinstance(item, dict) or f not in item]
            if missing:
                failures.append("%s %s -> lacks %s: %.300r" % (method, p, missing, data))
        print("coverage: %d/%d endpoints" % (len(implemented), len(ENDPOINTS)))
        self.assertEqual(failures, [], "\n".join(failures))
        self.assertGreaterEqual(len(implemented), 150)


if __name__ == "__main__":
    harness.main()
