"""Authentication and authorization through the real binaries.

corrald runs with --auth and a static token file naming five identities;
two more (no token, a bad token) present nothing or garbage. The matrix
comes from `corrald --routes`: every route is called by every identity,
with its path parameters filled from real objects (a parameter kind this
file does not know fails the test, so a new route needs test data), and
the answer must be exactly what the route's access class says: 401 without
valid credentials, 403 where the identity lacks the access (and nothing
written to etcd then), and where it has it, exactly the status the
operation answers on success (SUCCESS: 200, 201, 204, ...; an operation
without an entry fails the test). Each allowed call first gets what it needs
to succeed (PREPARE: a paused request to unpause, a pending deploy to cancel,
a dead agent to forget, ...), written straight into etcd; sandbox reads and
log follows go to a fake Mesos agent and node agent served by this file.

Also: lists and /api/watch show only what the caller may read (the
state's lists and request groups included: a non-admin's answers never
name a request it may not read), the actor recorded is the token's user
whatever X-Corral-User says, /metrics counts the refusals, the log tells
each refusal (who, what, why, from where) but never a token or a login
code, a network --listen needs --auth (or --insecure), and a token file
readable by others is refused.

Documents the controllers and the bridge would write (tasks, pending
tasks, agents, deploy statuses) are put straight into etcd; corrald runs
--api-only, so they stay as written and no Mesos is needed.
"""
import base64
import http.client
import http.server
import json
import os
import queue
import re
import secrets
import subprocess
import threading
import time
import urllib.parse

import harness

PREFIX = "/corral"
RID = "ra"
TASK_ID = "ra-v1-1000-1-h1-r1"
OLD_TASK_ID = "ra-v1-900-1-h1-r1"
PENDING_ID = "ra-v1-3000-1-ONEOFF-2999"
AGENT, RACK, DEPLOY, RUN = "a1", "r1", "v1", "run1"
# An ON_DEMAND request of the same groups (POST .../run), a deploy that can
# be pending (cancel, update), an agent and a rack that can be DEAD (forget).
RUN_RID, PENDING_DEPLOY, DEAD_AGENT, DEAD_RACK = "rb", "v2", "a2", "r2"
SANDBOX = "/sandbox/" + TASK_ID

# Identities: name -> (user, groups) for those in the token file.
USERS = {
    "readonly": ("rouser", "team-a-ro"),
    "other": ("otheruser", "team-z"),
    "rw": ("rwuser", "team-a-rw"),
    "admin": ("root", "admins"),
}
# The order the matrix runs them in: refusals first, while everything is
# as seeded; then the writers (rw deletes the request last of its calls).
IDENTITIES = ["none", "bad", "other", "readonly", "rw", "admin"]
MAY_READ = {"readonly", "rw", "admin"}
MAY_WRITE = {"rw", "admin"}

# Path parameter kind -> the real object it names.
PARAMS = {
    "requestId": RID,
    "taskId": TASK_ID,
    "pendingTaskId": PENDING_ID,
    "deployId": DEPLOY,
    "runId": RUN,
    "agentId": AGENT,
    "rackId": RACK,
    "userId": "rwuser",
    # a task log's upload record (PUT /api/nodeagent/uploads/{taskId}/{fileName})
    "fileName": "service.log",
    # The UI's static files (/ui/{uiDir}/{uiFile}; /ui/{uiFile} with
    # "app.js" is a 404, which is fine: open routes only must not refuse).
    "uiDir": "js",
    "uiFile": "app.js",
    # a webhook (DELETE /api/webhooks/{webhookId}, its queues; docs/webhooks.md)
    "webhookId": "wh1",
    # a request group (/api/groups/group/{requestGroupId}; docs/api.md)
    "requestGroupId": "g1",
    # a GitOps Source (/api/sources/source/{sourceName}; docs/gitops.md)
    "sourceName": "src1",
    # a task shell command's updates (/api/tasks/task/{taskId}/command/...; docs/api.md)
    "commandName": "ls",
    "commandTimestamp": "1",
}
# Which parameters make a route about request RID.
REQUEST_PARAMS = {"requestId", "taskId", "pendingTaskId"}
# read/write routes whose path names no request: the body names it (these
# bodies name RID) ...
BODY_SCOPED = {"REQ_POST", "DEPLOY_POST", "DEPLOY_UPDATE"}
# ... or they list (and filter) what the caller may read.
LISTS = {"WATCH", "REQ_LIST", "REQ_LIST_ACTIVE", "REQ_LIST_PAUSED", "REQ_LIST_COOLDOWN",
         "REQ_LIST_FINISHED", "REQ_QUEUED_PENDING", "REQ_QUEUED_CLEANUP", "DEPLOY_PENDING",
         "TASKS_ACTIVE", "TASKS_ACTIVE_IDS", "TASKS_ACTIVE_AGENT", "TASKS_ACTIVE_AGENT_IDS",
         "TASKS_SCHEDULED", "TASKS_SCHEDULED_IDS", "TASKS_CLEANING", "HIST_TASKS",
         # Singularity's other lists (apiserver/as_compat.h)
         "REQ_IDS", "REQ_IDS_ACTIVE", "REQ_BATCH", "REQ_CRASHLOOPS", "REQ_LBCLEANUP",
         "TASKS_LBCLEANUP", "TASKS_ACTIVE_STATES", "TASKS_KILLED", "TASK_COMMANDS_QUEUED",
         "HIST_TASKS_META", "HIST_REQUESTS_SEARCH", "USAGE_REQUESTS"}
# "user" routes whose answer is itself a check of the request in the path
# (GET /api/auth/{requestId}/auth-check answers 403 when the caller may not
# read it).
ANSWER_IS_READ_CHECK = {"AUTH_CHECK", "GROUP_GET"}
# "user" routes that write something naming requests: the caller needs
# write access to each (a request group names RID: apiserver/as_compat.c).
ANSWER_IS_WRITE_CHECK = {"GROUP_POST", "GROUP_DELETE"}
# Operations that stream: only the status line is read.
STREAMS = {"WATCH", "LOGS_FOLLOW"}

REQUEST_DOC = {"id": RID, "requestType": "WORKER", "instances": 2, "group": "team-a",
               "readWriteGroups": ["team-a-rw"], "readOnlyGroups": ["team-a-ro"]}


def body_for(op, who):
    """A minimal valid body for op (None: no body)."""
    return {
        "REQ_POST": REQUEST_DOC,
        "REQ_SCALE": {"instances": 3},
        "REQ_SKIPHC": {"skipHealthchecks": True},
        "REQ_PRIORITY": {"priority": 0.5},
        "GROUP_POST": {"id": "g1", "requestIds": [RID]},
        "REQ_GROUPS": {k: REQUEST_DOC[k] for k in ("group", "readWriteGroups", "readOnlyGroups")},
        "REQ_GROUPS_CHECK": {k: REQUEST_DOC[k]
                             for k in ("group", "readWriteGroups", "readOnlyGroups")},
        "DEPLOY_POST": {"deploy": {"requestId": RID, "id": "d" + who, "command": "sleep 1"}},
        "DEPLOY_UPDATE": {"requestId": RID, "deployId": PENDING_DEPLOY,
                          "targetActiveInstances": 1},
        "AUTH_TOKEN_POST": {},
        "AUTH_LOGIN_CODE": {},
        "AUTH_LOGIN": {},  # no code: 400 (a wrong code is a 401 of its own)
        "USER_SETTINGS_POST": {"starredRequestIds": [RID]},
        "USER_STARS": {"starredRequestIds": [RID]},
        "WEBHOOK_ADD": {"id": "wh-" + who, "uri": "http://127.0.0.1:9/hook", "type": "TASK"},
        "SOURCE_POST": {"name": "src-" + who, "repository": "/nonexistent/repo"},
        "DEPLOY_CANCEL": {},
        "REQ_RUN": {},
        "TASK_COMMAND_RUN": {"name": "ls"},
        "LOGS_SEARCH": {"taskIds": [TASK_ID]},
        "NODEAGENT_UPLOAD_PUT": {"state": "UPLOADED", "bucket": "b", "key": "k/service.log",
                                 "host": "h1", "path": SANDBOX + "/service.log", "size": 5},
        "NODEAGENT_TASK_PUT": {"killedBy": {"reason": "oom", "message": "killed: memory",
                                            "at": 6000}},
    }.get(op)


# Objects some routes need instead of PARAMS' (by operation, or by path).
PARAMS_FOR = {
    "REQ_RUN": {"requestId": RUN_RID},
    "DEPLOY_CANCEL": {"deployId": PENDING_DEPLOY},
    "AGENT_DELETE": {"agentId": DEAD_AGENT},
    "RACK_DELETE": {"rackId": DEAD_RACK},
    "/ui/{uiFile}": {"uiFile": "index.html"},
}
# Query strings some operations need.
QUERY = {
    "SANDBOX_READ": "?path=stdout&offset=0&length=100",
    "SANDBOX_BROWSE": "?path=",
    "INACTIVE_ADD": "?host=h9",
    "INACTIVE_DELETE": "?host=h9",
    "/api/webhooks": "?webhookId=wh1",  # DELETE without an id in the path
    "/api/webhooks/request": "?webhookId=wh1",
    "/api/webhooks/deploy": "?webhookId=wh1",
    "/api/webhooks/task": "?webhookId=wh1",
}

# What an allowed call answers, by operation: exactly this status. Four
# routes answer 404 on their own (Corral keeps no fire alarm, priority
# freeze, per-request usage nor expiring priority changes: the answer
# Singularity gives when there is none); /ui redirects to /ui/.
SUCCESS = dict(
    {op: 200 for op in (
        "METRICS", "WATCH", "STATE", "REQ_LIST", "REQ_POST", "REQ_LIST_ACTIVE",
        "REQ_LIST_PAUSED", "REQ_LIST_COOLDOWN", "REQ_LIST_FINISHED", "REQ_QUEUED_PENDING",
        "REQ_QUEUED_CLEANUP", "REQ_GET", "REQ_DELETE", "REQ_BOUNCE", "REQ_BOUNCE_CANCEL",
        "REQ_PAUSE", "REQ_PAUSE_CANCEL", "REQ_UNPAUSE", "REQ_SCALE", "REQ_SCALE_CANCEL",
        "REQ_SKIPHC", "REQ_SKIPHC_CANCEL", "REQ_RUN", "REQ_RUN_GET", "REQ_EXIT_COOLDOWN",
        "DEPLOY_POST", "DEPLOY_CANCEL", "DEPLOY_PENDING", "DEPLOY_UPDATE", "TASKS_ACTIVE",
        "TASKS_ACTIVE_IDS", "TASKS_ACTIVE_AGENT", "TASKS_ACTIVE_AGENT_IDS", "TASKS_SCHEDULED",
        "TASKS_SCHEDULED_IDS", "TASKS_SCHEDULED_REQUEST", "TASKS_SCHEDULED_TASK",
        "TASKS_SCHEDULED_DELETE", "TASKS_CLEANING", "TASKS_IDS_REQUEST", "TASK_GET", "TASK_KILL",
        "HIST_TASK", "HIST_TASKS", "HIST_REQ_TASKS", "HIST_REQ_TASKS_ACTIVE", "HIST_REQ_DEPLOYS",
        "HIST_REQ_DEPLOY", "HIST_REQ_REQUESTS", "SANDBOX_BROWSE", "SANDBOX_READ", "LOGS_TASK",
        "LOGS_REQUEST", "LOGS_DEPLOY", "LOGS_FOLLOW", "NODEAGENT_UPLOADS",
        "NODEAGENT_UPLOAD_PUT", "NODEAGENT_TASK_PUT", "AGENTS_LIST", "AGENT_GET",
        "AGENT_DETAILS", "AGENTS_EXPIRING", "AGENTS_DEAD_DELETE", "RACKS_EXPIRING",
        "INACTIVE_LIST", "WEBHOOKS_LIST", "WEBHOOK_ADD", "WEBHOOK_DELETE", "WEBHOOKS_SUMMARY",
        "WEBHOOK_QUEUE_REQUEST", "WEBHOOK_QUEUE_DEPLOY", "WEBHOOK_QUEUE_TASK", "AUTH_USER",
        "AUTH_CHECK", "AUTH_CHECK_USER", "AUTH_TOKEN_POST", "AUTH_TOKEN_DELETE", "AUTH_TOKENS",
        "AUTH_LOGIN_CODE", "AUTH_LOGIN", "USER_SETTINGS_GET", "USER_SETTINGS_POST",
        "USER_STARS", "SOURCES_LIST", "SOURCE_GET", "SOURCE_DELETE", "UI_FILE",
        "REQ_IDS", "REQ_IDS_ACTIVE", "REQ_BATCH", "REQ_CRASHLOOPS", "REQ_LBCLEANUP",
        "REQ_SIMPLE", "REQ_CRASHLOOPS_ONE", "REQ_GROUPS", "REQ_GROUPS_CHECK", "REQ_PRIORITY",
        "TASKS_LBCLEANUP", "TASKS_ACTIVE_STATES", "TASKS_KILLED", "TASKS_COUNTS",
        "TASK_CLEANUP", "TASK_COMMAND_RUN", "TASK_COMMANDS", "TASK_COMMAND_UPDATES",
        "TASK_COMMANDS_QUEUED", "HIST_TASKS_META", "HIST_REQ_TASKS_META",
        "HIST_REQ_DEPLOYS_META", "HIST_REQ_REQUESTS_META", "HIST_DEPLOY_TASKS_ACTIVE",
        "HIST_DEPLOY_TASKS_INACTIVE", "HIST_DEPLOY_TASKS_INACTIVE_META", "HIST_REQ_RUN",
        "HIST_REQ_CMDARGS", "HIST_REQUESTS_SEARCH", "STATE_UNDER", "STATE_OVER",
        "STATE_SCHEDULED_INFO", "TRACK_TASK", "TRACK_RUN", "DISASTERS_STATS",
        "DISASTERS_ACTIVE", "DISASTERS_DISABLED", "OPENAPI", "LOGS_SEARCH", "GROUPS_LIST",
        "GROUP_POST", "GROUP_GET", "GROUP_DELETE", "USAGE_REQUESTS", "USAGE_AGENTS",
        "USAGE_TASK", "NOTIFY_LISTS", "CONFIG_LIMITS", "RACKS_LIST", "RACK_GET",
        "HEALTHZ", "READYZ")},
    **{op: 204 for op in (
        "AGENT_DECOMMISSION", "AGENT_FREEZE", "AGENT_ACTIVATE", "AGENT_DELETE",
        "AGENT_DECOMMISSION_UPDATE", "AGENT_EXPIRING_DELETE", "RACK_DELETE",
        "RACK_EXPIRING_DELETE", "RACK_DECOMMISSION", "RACK_FREEZE", "RACK_ACTIVATE",
        "INACTIVE_ADD", "INACTIVE_DELETE", "INACTIVE_CLEAR")},
    SOURCE_POST=201, SOURCE_SYNC=202, UI=301,
    DISASTERS_FIREALARM=404, PRIORITY_FREEZE=404, USAGE_REQUEST=404, REQ_PRIORITY_CANCEL=404)


def fill(path, op=None):
    """path with each {param} replaced by its object (PARAMS_FOR's for op or
    path first); fails on a kind this file does not know."""
    out = []
    special = dict(PARAMS_FOR.get(op, {}), **PARAMS_FOR.get(path, {}))
    for seg in path.split("/"):
        if seg.startswith("{") and seg.endswith("}"):
            name = seg[1:-1]
            if name not in PARAMS:
                raise AssertionError("route %s has a parameter {%s} the auth matrix has no test "
                                     "object for: add one to PARAMS" % (path, name))
            seg = urllib.parse.quote(special.get(name, PARAMS[name]), safe="")
        out.append(seg)
    return "/".join(out)


def target(route):
    """The URL path and query of a route's call."""
    return fill(route["path"], route["op"]) + QUERY.get(route["path"],
                                                        QUERY.get(route["op"], ""))


def success(route):
    """The status route answers an identity allowed to call it."""
    if route["op"] not in SUCCESS:
        raise AssertionError("route %s %s (%s) has no expected answer: add its success status "
                             "to SUCCESS (and what it needs to PREPARE)"
                             % (route["method"], route["path"], route["op"]))
    return SUCCESS[route["op"]]


def params_of(path):
    return {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}


def expected(route, who):
    """'ok' (anything but 401/403), 401 or 403 for identity who."""
    access, op = route["access"], route["op"]
    if access == "open":
        return "ok"
    if who in ("none", "bad"):
        return 401
    scoped = bool(params_of(route["path"]) & REQUEST_PARAMS) or op in BODY_SCOPED
    if access == "user":
        if op in ANSWER_IS_READ_CHECK:
            return "ok" if who in MAY_READ else 403
        if op in ANSWER_IS_WRITE_CHECK:
            return "ok" if who in MAY_WRITE else 403
        return "ok"
    if access == "read":
        if scoped:
            return "ok" if who in MAY_READ else 403
        if op in LISTS:
            return "ok"
    elif access == "write":
        if scoped:
            return "ok" if who in MAY_WRITE else 403
    elif access in ("global-read", "admin"):
        return "ok" if who == "admin" else 403
    raise AssertionError("route %s %s (%s, access %s) is not classified by the auth matrix: "
                         "say whether it names a request, lists, or is body-scoped"
                         % (route["method"], route["path"], op, access))


def routes():
    """The route table from `corrald --routes`, one entry per method."""
    r = subprocess.run([os.path.join(harness.BIN, "corrald"), "--routes"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    out = []
    for line in r.stdout.splitlines():
        if not line.strip():
            continue
        e = json.loads(line)
        for m in e["method"].split(", "):
            out.append(dict(e, method=m))
    return out


class FakeAgent(http.server.ThreadingHTTPServer):
    """A Mesos agent's /files for the task's sandbox (SANDBOX, holding
    stdout) and a node agent's /v1/tasks/<id>/files and /follow, on one
    loopback port, for the sandbox and log routes."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, doc, ctype="application/json"):
            body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(u.query))
            if u.path == "/files/browse" and q.get("path") == SANDBOX:
                self.answer(200, [{"path": SANDBOX + "/stdout", "mode": "-rw-r--r--",
                                   "size": 6, "mtime": 1, "nlink": 1, "uid": "u", "gid": "g"}])
            elif u.path == "/files/read" and q.get("path") == SANDBOX + "/stdout":
                self.answer(200, {"data": "hello\n", "offset": 0})
            elif u.path == "/v1/tasks/%s/files" % TASK_ID:
                self.answer(200, [{"path": "stdout", "name": "stdout", "size": 6}])
            elif u.path == "/v1/tasks/%s/follow" % TASK_ID:
                self.answer(200, b"hello\n", "text/plain")
            else:
                self.answer(404, b"", "text/plain")

    def handle_error(self, request, client_address):
        pass  # corrald hangs up on a follow stream the matrix reads no further

    def __init__(self):
        super().__init__(("127.0.0.1", 0), self.Handler)
        self.daemon_threads = True
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


class Sse:
    """An /api/watch stream read by a thread; events() returns the data of
    the events received so far."""

    def __init__(self, api, headers):
        u = urllib.parse.urlsplit(api)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        self.conn.request("GET", "/api/watch", headers=headers)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.q = queue.Queue()
        self.got = []
        if self.status == 200:
            self.t = threading.Thread(target=self._read, daemon=True)
            self.t.start()

    def _read(self):
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    return
                line = line.decode().rstrip("\n")
                if line.startswith("data: "):
                    self.q.put(json.loads(line[6:]))
        except Exception:  # closed under us at the end
            return

    def events(self):
        while True:
            try:
                self.got.append(self.q.get_nowait())
            except queue.Empty:
                return self.got

    def keys(self):
        return [e.get("key") for e in self.events()]

    def close(self):
        try:
            self.conn.sock and self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()


class AuthCase(harness.TestCase):
    def setUp(self):
        super().setUp()
        self.addCleanup(self.cluster.close, True)
        self.tokens = {who: "tok-%s-%s" % (who, secrets.token_hex(16)) for who in USERS}
        self.tokens["bad"] = "crl_" + secrets.token_hex(32)
        self.token_file = os.path.join(self.cluster.tmpdir, "tokens")
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("# e2e identities\n")
            for who, (user, groups) in USERS.items():
                f.write("%s %s %s\n" % (self.tokens[who], user, groups))
        self.shell_commands = os.path.join(self.cluster.tmpdir, "shell-commands.json")
        with open(self.shell_commands, "w") as f:
            json.dump([{"name": "ls", "description": "list the sandbox", "options": []}], f)
        self.fake = FakeAgent()
        self.addCleanup(self.fake.server_close)
        self.addCleanup(self.fake.shutdown)
        self.agent_port = self.fake.port
        self.cluster.etcd()
        self.start_corrald()
        self.seed()

    # ---- plumbing ----

    def start_corrald(self):
        # The node agent for log follows: the fake (corrald reads this once).
        os.environ["CORRAL_NODEAGENT_URL"] = "http://127.0.0.1:%d" % self.agent_port
        try:
            self.api = self.cluster.corrald(args=["--api-only", "--auth", "--auth-token-file",
                                                  self.token_file, "--shell-commands",
                                                  self.shell_commands])
        finally:
            del os.environ["CORRAL_NODEAGENT_URL"]
        self.proc = self.cluster.procs[-1]
        harness.wait_until(lambda: self.call("none", "GET", "/readyz")[0] == 200, 10, "readyz")

    def died(self):
        """Whether corrald exited (after a call it dropped)."""
        try:
            harness.wait_until(lambda: not self.proc.alive(), 3, "corrald to exit")
            return True
        except AssertionError:
            return False

    def headers(self, who, extra=None):
        h = dict(extra or {})
        if who in self.tokens:
            h["Authorization"] = "Bearer " + self.tokens[who]
        return h

    def call(self, who, method, path, body=None, headers=None, stream=False):
        """(status, decoded JSON or None, headers) of one call as who."""
        u = urllib.parse.urlsplit(self.api)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        hdrs = self.headers(who, headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            if stream and r.status == 200:
                return r.status, None, {k.lower(): v for k, v in r.getheaders()}
            raw = r.read()
            hd = {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()
        text = raw.decode(errors="replace")
        try:
            doc = json.loads(text) if text.strip() else None
        except ValueError:
            doc = text
        return r.status, doc, hd

    def ok(self, who, method, path, body=None, status=200, headers=None):
        got, doc, _ = self.call(who, method, path, body, headers)
        self.assertEqual(got, status, "%s %s as %s -> %d %r" % (method, path, who, got, doc))
        return doc

    def revision(self):
        """etcd's current revision (its JSON gateway)."""
        st, _, raw = harness.http("POST", self.cluster.etcd_url + "/v3/kv/range",
                                  {"key": base64.b64encode(b"/").decode(), "limit": 1})
        assert st == 200, raw
        return int(json.loads(raw)["header"]["revision"])

    def put(self, key, value):
        self.cluster.etcdctl("put", key, json.dumps(value))

    def etcd_call(self, what, doc):
        """One call of etcd's JSON gateway (faster than etcdctl); returns the
        revision it answered at."""
        st, _, raw = harness.http("POST", self.cluster.etcd_url + "/v3/kv/" + what, doc)
        assert st == 200, raw
        return int(json.loads(raw)["header"]["revision"])

    def prepare(self, *changes):
        """Writes changes ((key, doc), or (key, None) to delete) straight
        into etcd, then waits until corrald's cache has them."""
        if not changes:
            return
        rev = 0
        for key, doc in changes:
            k = base64.b64encode(key.encode()).decode()
            if doc is None:
                rev = self.etcd_call("deleterange", {"key": k})
            else:
                rev = self.etcd_call("put", {"key": k, "value": base64.b64encode(
                    json.dumps(doc).encode()).decode()})
        harness.wait_until(lambda: self.call("none", "GET", "/readyz")[1]["revision"] >= rev, 10,
                           "corrald's cache at revision %d" % rev, interval=0.005)

    def seed(self):
        self.ok("admin", "POST", "/api/requests", REQUEST_DOC)
        self.ok("admin", "POST", "/api/requests",
                {k: v for k, v in dict(REQUEST_DOC, id=RUN_RID, requestType="ON_DEMAND").items()
                 if k != "instances"})
        self.put("%s/deploys/%s/%s" % (PREFIX, RUN_RID, DEPLOY),
                 {"requestId": RUN_RID, "id": DEPLOY, "command": "true", "timestamp": 1000})
        self.put("%s/status/requests/%s" % (PREFIX, RUN_RID),
                 {"requestId": RUN_RID, "state": "ACTIVE", "activeDeployId": DEPLOY})
        task_id = {"requestId": RID, "deployId": DEPLOY, "instanceNo": 1, "host": "h1",
                   "rackId": RACK}
        self.put("%s/deploys/%s/%s" % (PREFIX, RID, DEPLOY),
                 {"requestId": RID, "id": DEPLOY, "command": "sleep 100", "timestamp": 1000})
        self.put("%s/status/deploys/%s/%s" % (PREFIX, RID, DEPLOY),
                 {"requestId": RID, "deployId": DEPLOY, "state": "SUCCEEDED", "finishedAt": 2000})
        self.put("%s/status/requests/%s" % (PREFIX, RID),
                 {"requestId": RID, "state": "ACTIVE", "activeDeployId": DEPLOY})
        self.put("%s/tasks/%s/%s" % (PREFIX, RID, TASK_ID),
                 {"taskId": dict(task_id, id=TASK_ID, startedAt=1000), "agentId": AGENT,
                  "hostname": "127.0.0.1", "lastTaskState": "TASK_RUNNING", "updatedAt": 5000,
                  "directory": SANDBOX, "executorId": TASK_ID,
                  "taskUpdates": [{"taskState": "TASK_RUNNING", "timestamp": 5000}]})
        self.put("%s/history/tasks/%s/%s" % (PREFIX, RID, OLD_TASK_ID),
                 {"taskId": dict(task_id, id=OLD_TASK_ID, startedAt=900), "agentId": AGENT,
                  "hostname": "127.0.0.1", "lastTaskState": "TASK_FAILED", "updatedAt": 950,
                  "pendingTask": {"runId": RUN}})
        self.put("%s/pending/%s/%s" % (PREFIX, RID, PENDING_ID),
                 {"pendingTaskId": {"id": PENDING_ID, "requestId": RID, "deployId": DEPLOY,
                                    "nextRunAt": 3000, "instanceNo": 1, "pendingType": "ONEOFF",
                                    "createdAt": 2999}, "runId": RUN})
        self.put("%s/groups/g1" % PREFIX, _GROUP_DOC)
        self.put("%s/agents/%s" % (PREFIX, AGENT),
                 {"id": AGENT, "hostname": "127.0.0.1", "port": self.agent_port, "rackId": RACK})
        self.put("%s/racks/%s" % (PREFIX, RACK), {"id": RACK})
        for path in ("/api/tasks/task/" + TASK_ID, "/api/tasks/scheduled/task/" + PENDING_ID,
                     "/api/agents/agent/" + AGENT, "/api/racks/rack/" + RACK,
                     "/api/history/request/%s/deploy/%s" % (RID, DEPLOY)):
            harness.wait_until(lambda: self.call("admin", "GET", path)[0] == 200, 10,
                               "corrald sees " + path)


def _now():
    return int(time.time() * 1000)


def _intent(**kw):
    return dict({"user": "root", "timestamp": _now()}, **kw)


def _key(*parts):
    return "/".join((PREFIX,) + parts)


def _request_status(**kw):
    return (_key("status", "requests", RID),
            dict({"requestId": RID, "state": "ACTIVE", "activeDeployId": DEPLOY}, **kw))


def _pending_deploy():
    """RID with deploy PENDING_DEPLOY under way."""
    return [(_key("deploys", RID, PENDING_DEPLOY),
             {"requestId": RID, "id": PENDING_DEPLOY, "command": "sleep 100", "timestamp": 3000}),
            (_key("status", "deploys", RID, PENDING_DEPLOY), None),
            (_key("intents", "deploys", RID, PENDING_DEPLOY, "cancel"), None),
            _request_status(pendingDeployId=PENDING_DEPLOY)]


def _no_pending_deploy():
    """Every deploy of RID but the active one over (the writers' own ones,
    PENDING_DEPLOY)."""
    over = [(_key("status", "deploys", RID, d), {"requestId": RID, "deployId": d,
                                                  "state": "CANCELED", "finishedAt": 4000})
            for d in [PENDING_DEPLOY] + ["d" + w for w in IDENTITIES]]
    return over + [_request_status()]


def _machine(kind, mid, state=None, **intent):
    """An agent or rack (kind "agents", "racks") whose intent is the given
    one (none without state)."""
    return [(_key("intents", kind, mid), _intent(state=state, **intent) if state else None)]


def _dead(kind, mid):
    doc = {"id": mid, "currentState": {"state": "DEAD", "timestamp": 1}}
    if kind == "agents":
        doc.update(hostname="h9", rackId=RACK)
    return [(_key(kind, mid), doc), (_key("intents", kind, mid), None)]


_EXPIRES = {"durationMillis": 600000}
_PENDING_DOC = {"pendingTaskId": {"id": PENDING_ID, "requestId": RID, "deployId": DEPLOY,
                                  "nextRunAt": 3000, "instanceNo": 1, "pendingType": "ONEOFF",
                                  "createdAt": 2999}, "runId": RUN}
_GROUP_DOC = {"id": "g1", "requestIds": [RID], "metadata": {}}
_WEBHOOK = [(_key("webhooks", "wh1"), {"id": "wh1", "uri": "http://127.0.0.1:9/hook",
                                        "type": "TASK", "timestamp": 1})]

# What an allowed call of an operation needs to succeed, written straight
# into etcd before it (as (key, document or None to delete) pairs; a
# callable gets the case and the identity). Operations not here need
# nothing but the seeded objects.
PREPARE = {
    "REQ_BOUNCE": [(_key("intents", "requests", RID, "bounce"), None)],
    "REQ_BOUNCE_CANCEL": lambda t, who: [(_key("intents", "requests", RID, "bounce"),
                                          _intent(**_EXPIRES))],
    "REQ_PAUSE": [(_key("intents", "requests", RID, "pause"), None)],
    "REQ_PAUSE_CANCEL": lambda t, who: [(_key("intents", "requests", RID, "pause"),
                                         _intent(**_EXPIRES))],
    "REQ_UNPAUSE": lambda t, who: [(_key("intents", "requests", RID, "pause"), _intent())],
    "REQ_SCALE_CANCEL": lambda t, who: [(_key("intents", "requests", RID, "scale"),
                                         _intent(instances=2, previousInstances=3, **_EXPIRES))],
    "REQ_SKIPHC_CANCEL": lambda t, who: [(_key("intents", "requests", RID, "skip-healthchecks"),
                                          _intent(skipHealthchecks=True, previous=False,
                                                  **_EXPIRES))],
    "REQ_EXIT_COOLDOWN": [_request_status(state="SYSTEM_COOLDOWN"),
                          (_key("intents", "requests", RID, "exit-cooldown"), None)],
    "DEPLOY_POST": lambda t, who: _no_pending_deploy(),
    "DEPLOY_CANCEL": lambda t, who: _pending_deploy(),
    "DEPLOY_UPDATE": lambda t, who: _pending_deploy(),
    "TASKS_SCHEDULED_TASK": [(_key("pending", RID, PENDING_ID), _PENDING_DOC)],
    "TASKS_SCHEDULED_DELETE": [(_key("pending", RID, PENDING_ID), _PENDING_DOC)],
    "AGENT_DECOMMISSION": _machine("agents", AGENT),
    "AGENT_FREEZE": _machine("agents", AGENT),
    "AGENT_ACTIVATE": lambda t, who: _machine("agents", AGENT, "FROZEN"),
    "AGENT_DECOMMISSION_UPDATE": lambda t, who: _machine(
        "agents", AGENT, "STARTING_DECOMMISSION", revertToState="ACTIVE", **_EXPIRES),
    "AGENT_EXPIRING_DELETE": lambda t, who: _machine("agents", AGENT, "FROZEN",
                                                     revertToState="ACTIVE", **_EXPIRES),
    "AGENT_DELETE": _dead("agents", DEAD_AGENT),
    "RACK_DECOMMISSION": _machine("racks", RACK),
    "RACK_FREEZE": _machine("racks", RACK),
    "RACK_ACTIVATE": lambda t, who: _machine("racks", RACK, "FROZEN"),
    "RACK_EXPIRING_DELETE": lambda t, who: _machine("racks", RACK, "FROZEN",
                                                    revertToState="ACTIVE", **_EXPIRES),
    "RACK_DELETE": _dead("racks", DEAD_RACK),
    "INACTIVE_DELETE": [(_key("inactive", "h9"), {"timestamp": 1})],
    "WEBHOOK_DELETE": _WEBHOOK,
    "GROUP_GET": [(_key("groups", "g1"), _GROUP_DOC)],
    "GROUP_DELETE": [(_key("groups", "g1"), _GROUP_DOC)],
    "WEBHOOK_QUEUE_REQUEST": _WEBHOOK,
    "WEBHOOK_QUEUE_DEPLOY": _WEBHOOK,
    "WEBHOOK_QUEUE_TASK": _WEBHOOK,
    "SOURCE_GET": [(_key("sources", "src1"), {"name": "src1", "repository": "/nonexistent"})],
    "SOURCE_DELETE": [(_key("sources", "src1"), {"name": "src1", "repository": "/nonexistent"})],
    "SOURCE_SYNC": [(_key("sources", "src1"), {"name": "src1", "repository": "/nonexistent"})],
}


class TestAuthMatrix(AuthCase):
    def test_every_route_for_every_identity(self):
        table = routes()
        self.assertGreater(len(table), 50)
        for r in table:
            self.assertNotEqual(r["access"], "unset", "route %s has no access class" % r["path"])
            expected(r, "other")  # every route classified before anything runs
            success(r)  # ... and its answer known

        # A few exact answers on the pristine objects.
        self.assertEqual(self.ok("none", "GET", "/healthz")["status"], "ok")
        self.assertEqual(self.ok("readonly", "GET", "/api/requests/request/" + RID)
                         ["request"]["id"], RID)
        self.assertEqual(self.ok("readonly", "GET", "/api/tasks/task/" + TASK_ID)
                         ["taskId"]["id"], TASK_ID)
        self.assertEqual(self.ok("other", "GET", "/api/auth/user")["user"]["id"], "otheruser")
        self.assertEqual(self.ok("readonly", "GET", "/api/auth/%s/auth-check" % RID), None)
        self.assertEqual([a["id"] for a in self.ok("admin", "GET", "/api/agents")], [AGENT])
        self.assertEqual(self.ok("rw", "PUT", "/api/requests/request/%s/scale" % RID,
                                 {"instances": 3})["request"]["instances"], 3)
        self.ok("rw", "DELETE", "/api/tasks/task/" + TASK_ID, status=200)
        self.assertEqual(self.cluster.etcd_get_json("%s/cleanups/%s" % (PREFIX, TASK_ID))["user"],
                         "rwuser")
        self.ok("admin", "POST", "/api/agents/agent/%s/freeze" % AGENT, status=204)
        made = self.ok("admin", "POST", "/api/auth/token",
                       {"user": {"id": "newbie", "groups": ["team-a-ro"]}})
        self.assertTrue(made["token"].startswith("crl_"))
        harness.wait_until(lambda: self.call("none", "GET", "/api/auth/user",
                                             headers={"Authorization": "Bearer " + made["token"]})
                           [0] == 200, 10, "the new token works")
        # Refusals with their shapes.
        st, doc, hd = self.call("none", "GET", "/api/requests")
        self.assertEqual(st, 401)
        self.assertEqual(doc["status"], 401)
        self.assertIn("message", doc)
        self.assertTrue(hd.get("www-authenticate", "").startswith("Bearer"), hd)
        st, doc, hd = self.call("bad", "GET", "/api/requests")
        self.assertEqual(st, 401)
        self.assertIn("invalid token", doc["message"])
        self.assertIn("www-authenticate", hd)
        st, doc, _ = self.call("other", "GET", "/api/requests/request/" + RID)
        self.assertEqual(st, 403)
        self.assertIn("team-a", doc["message"])
        self.assertIn("otheruser", doc["message"])
        st, doc, _ = self.call("rw", "POST", "/api/auth/token", {"user": {"id": "rouser"}})
        self.assertEqual(st, 403)  # naming a user: admins only
        self.assertIn("admins", doc["message"])
        st, doc, _ = self.call("readonly", "POST", "/api/agents/agent/%s/activate" % AGENT)
        self.assertEqual(st, 403)
        refused = {401: 2, 403: 3}

        # The matrix. The request's deletion comes last of each identity's
        # calls, so the others run against a live request.
        order = sorted(table, key=lambda r: r["op"] == "REQ_DELETE")
        rev_start = self.revision()
        checked = 0
        failures = []
        tally = {401: 0, 403: 0, "ok": 0}
        for who in IDENTITIES:
            for r in order:
                want = expected(r, who)
                tally[want] += 1
                path = target(r)
                body = body_for(r["op"], who)
                if want == "ok":
                    prep = PREPARE.get(r["op"], [])
                    self.prepare(*(prep(self, who) if callable(prep) else prep))
                    if r["op"] == "AUTH_LOGIN":  # a fresh one-time code for each
                        body = {"code": self.ok("admin", "POST", "/api/auth/login-codes",
                                                {})["code"]}
                before = self.revision() if want != "ok" else None
                checked += 1
                try:
                    st, doc, _ = self.call(who, r["method"], path, body,
                                           stream=r["op"] in STREAMS)
                except (http.client.HTTPException, OSError) as e:
                    if not self.died():
                        raise
                    # Say so, start another corrald and go on, so one run
                    # shows every failure; counters restart with it.
                    failures.append("%s %s as %s: corrald died (exit %s) instead of answering: %s"
                                    % (r["method"], path, who, self.proc.popen.returncode, e))
                    self.start_corrald()
                    refused = {401: 0, 403: 0}
                    continue
                if st in (401, 403):
                    refused[st] += 1
                if want == "ok":
                    if st != success(r):
                        failures.append("%s %s as %s: %d %r, want %d (allowed)"
                                        % (r["method"], path, who, st, doc, success(r)))
                    continue
                if st != want:
                    failures.append("%s %s as %s: %d %r, want %d"
                                    % (r["method"], path, who, st, doc, want))
                    continue
                if not isinstance(doc, dict) or doc.get("status") != want or not doc.get("message"):
                    failures.append("%s %s as %s: refusal body %r" % (r["method"], path, who, doc))
                after = self.revision()
                if after != before:
                    failures.append("%s %s as %s: refused with %d but etcd moved %d -> %d"
                                    % (r["method"], path, who, st, before, after))
        self.assertEqual(checked, len(table) * len(IDENTITIES))
        self.assertGreater(self.revision(), rev_start)  # the writers wrote: revisions are live
        print("\nauth matrix: %d routes x %d identities = %d calls (%d must be 401, %d 403, %d "
              "allowed); %d failed" % (len(table), len(IDENTITIES), checked, tally[401],
                                       tally[403], tally["ok"], len(failures)))

        # /metrics counts every refusal (by reason for 401s) since corrald
        # (re)started.
        st, hdrs, raw = harness.http("GET", self.api + "/metrics",
                                     headers=self.headers("admin"))
        self.assertEqual(st, 200)
        counts = {}
        for line in raw.decode().splitlines():
            if line.startswith("corral_api_auth_refused_total{"):
                reason = line.split('reason="', 1)[1].split('"', 1)[0]
                counts[reason] = int(line.rsplit(" ", 1)[1])
        if counts.get("forbidden") != refused[403]:
            failures.append("metrics: %r, but %d calls were answered 403" % (counts, refused[403]))
        if sum(v for k, v in counts.items() if k != "forbidden") != refused[401]:
            failures.append("metrics: %r, but %d calls were answered 401" % (counts, refused[401]))
        # Open routes ignore credentials, so only the others count a bad token.
        guarded = sum(1 for r in table if r["access"] != "open")
        if self.proc is self.cluster.procs[1] and counts.get("invalid token", 0) < guarded:
            failures.append("metrics: %r, but %d guarded routes were called with a bad token"
                            % (counts, guarded))

        # The log tells of refusals but never shows a token.
        log = "".join(p.log() for p in self.cluster.procs if p.name.startswith("corrald"))
        self.assertIn("invalid token", log)
        for who, tok in list(self.tokens.items()) + [("made", made["token"])]:
            self.assertNotIn(tok, log, "corrald's log shows %s's token" % who)
            self.assertNotIn(tok[4:], log)
        self.assertEqual(failures, [], "%d problems:\n%s" % (len(failures), "\n".join(failures)))


class TestAuthViews(AuthCase):
    def test_lists_watch_and_actor(self):
        # Lists: only what the caller may read.
        ids = lambda who, path: [p["request"]["id"] for p in self.ok(who, "GET", path)]
        self.assertEqual(ids("readonly", "/api/requests"), [RID, RUN_RID])
        self.assertEqual(ids("rw", "/api/requests/active"), [RID, RUN_RID])
        self.assertEqual(ids("other", "/api/requests"), [])
        self.assertEqual(ids("other", "/api/requests/active"), [])
        self.assertEqual(self.ok("other", "GET", "/api/tasks/active/ids"), [])
        self.assertEqual(self.ok("other", "GET", "/api/tasks/scheduled"), [])
        self.assertEqual(self.ok("other", "GET", "/api/history/tasks"), [])
        self.assertEqual([t["id"] for t in self.ok("readonly", "GET", "/api/tasks/active/ids")],
                         [TASK_ID])
        self.assertEqual(len(self.ok("readonly", "GET", "/api/tasks/scheduled")), 1)

        # Lists that name requests in their content (the state's, request
        # groups'): never a request the caller may not read. RID is
        # under-provisioned (1 task of 2), its pending task late, a deploy
        # of it under way, and in request group g1 (seeded).
        self.prepare(*_pending_deploy())
        named = ["/api/state", "/api/state/requests/under-provisioned",
                 "/api/state/requests/over-provisioned", "/api/state/scheduled-tasks-info",
                 "/api/groups"]

        def mentions(doc):
            text = json.dumps(doc)
            return [r for r in ('"%s"' % RID, '"%s"' % RUN_RID, '"%s-' % RID) if r in text]
        for who in ("admin", "readonly"):
            self.assertEqual(self.ok(who, "GET", "/api/state/requests/under-provisioned"),
                             [RID], who)
            st = self.ok(who, "GET", "/api/state")
            self.assertEqual([d["requestId"] for d in st["activeDeploys"]], [RID], who)
            self.assertEqual([t["requestId"] for t in st["listLateTasks"]], [RID], who)
            info = self.ok(who, "GET", "/api/state/scheduled-tasks-info")
            self.assertEqual([t["id"] for t in info["lateTasks"]], [PENDING_ID], who)
            self.assertEqual(self.ok(who, "GET", "/api/groups"),
                             [{"id": "g1", "requestIds": [RID], "metadata": {}}], who)
        for path in named:
            doc = self.ok("other", "GET", path)
            self.assertEqual(mentions(doc), [], "%s shows 'other' team-a's requests: %r"
                             % (path, doc))
        st = self.ok("other", "GET", "/api/state")
        self.assertEqual((st["activeDeploys"], st["listLateTasks"]), ([], []))
        # The counts stay the cluster's (docs/security.md).
        self.assertEqual((st["numDeploys"], st["lateTasks"], st["underProvisionedRequests"]),
                         (1, 1, 1))
        self.assertEqual(self.ok("other", "GET", "/api/groups"), [])
        # Request groups: read and written only as far as their requests.
        self.assertEqual(self.call("other", "GET", "/api/groups/group/g1")[0], 403)
        for who in ("other", "readonly"):
            self.assertEqual(self.call(who, "POST", "/api/groups",
                                       {"id": "g1", "requestIds": []})[0], 403)
            self.assertEqual(self.call(who, "DELETE", "/api/groups/group/g1")[0], 403)
            self.assertEqual(self.call(who, "POST", "/api/groups",
                                       {"id": "g-" + who, "requestIds": [RID]})[0], 403)
        self.assertEqual(self.cluster.etcd_get_json(PREFIX + "/groups/g1"), _GROUP_DOC)
        self.ok("other", "POST", "/api/groups", {"id": "g-other", "requestIds": []})

        # /api/watch: 'other' sees none of team-a's keys; readonly does.
        self.assertEqual(self.call("none", "GET", "/api/watch", stream=True)[0], 401)
        other = Sse(self.api, self.headers("other"))
        ro = Sse(self.api, self.headers("readonly"))
        try:
            self.assertEqual(other.status, 200)
            self.assertEqual(ro.status, 200)
            self.ok("rw", "PUT", "/api/requests/request/%s/scale" % RID, {"instances": 4})
            self.put("%s/tasks/%s/%s" % (PREFIX, RID, "ra-v1-2000-2-h1-r1"),
                     {"taskId": {"id": "ra-v1-2000-2-h1-r1", "requestId": RID,
                                 "deployId": DEPLOY, "startedAt": 2000, "instanceNo": 2,
                                 "host": "h1", "rackId": RACK},
                      "agentId": AGENT, "lastTaskState": "TASK_RUNNING", "updatedAt": 6000})
            harness.wait_until(
                lambda: "%s/tasks/%s/ra-v1-2000-2-h1-r1" % (PREFIX, RID) in ro.keys(), 10,
                "readonly's watch shows team-a's change")
            self.assertIn("%s/requests/%s" % (PREFIX, RID), ro.keys())
            # A change 'other' may see comes after: once it arrives, every
            # earlier event has been judged.
            self.ok("admin", "POST", "/api/requests",
                    {"id": "rz", "requestType": "WORKER", "group": "team-z"})
            harness.wait_until(lambda: "%s/requests/rz" % PREFIX in other.keys(), 10,
                               "other's watch shows team-z's request")
            leaked = [k for k in other.keys()
                      if any("/%s/" % r in k + "/" for r in (RID, RUN_RID)) or "/ra-" in k]
            self.assertEqual(leaked, [], "other's watch shows team-a's keys")
            self.assertNotIn("%s/requests/rz" % PREFIX, ro.keys())
        finally:
            other.close()
            ro.close()
        self.assertEqual(ids("other", "/api/requests"), ["rz"])

        # The actor is the token's user, whatever X-Corral-User says.
        self.ok("rw", "POST", "/api/requests/request/%s/pause" % RID, {"message": "m"},
                headers={"X-Corral-User": "mallory"})
        self.assertEqual(self.cluster.etcd_get_json("%s/intents/requests/%s/pause"
                                                    % (PREFIX, RID))["user"], "rwuser")
        events = self.ok("readonly", "GET", "/api/history/request/%s/requests" % RID)
        paused = [e for e in events if e["eventType"] == "PAUSED"]
        self.assertEqual(len(paused), 1, events)
        self.assertEqual(paused[0]["user"], "rwuser")
        self.assertNotIn("mallory", json.dumps(events))
        self.assertEqual(self.ok("admin", "GET", "/api/history/request/%s/requests" % RID)[0]
                         ["eventType"], "PAUSED")
        # Another identity's history is still refused.
        self.assertEqual(self.call("other", "GET", "/api/history/request/%s/requests" % RID)[0],
                         403)


class TestAuthRefusalLog(AuthCase):
    def test_refusals_logged(self):
        """Each refusal is logged with the peer's address and the reason:
        no credentials, a bad token, a 403 (who, what, the group missing),
        a bad login code; never the token or the code."""
        code = "crlc_" + secrets.token_hex(32)
        self.assertEqual(self.call("none", "GET", "/api/requests")[0], 401)
        self.assertEqual(self.call("bad", "GET", "/api/requests")[0], 401)
        self.assertEqual(self.call("other", "GET", "/api/requests/request/" + RID)[0], 403)
        self.assertEqual(self.call("readonly", "PUT", "/api/requests/request/%s/scale" % RID,
                                   {"instances": 5})[0], 403)
        self.assertEqual(self.call("none", "POST", "/api/auth/login", {"code": code})[0], 401)
        want = [
            r"auth: refused GET REQ_LIST from 127\.0\.0\.1:\d+: 401 no credentials",
            r"auth: refused GET REQ_LIST from 127\.0\.0\.1:\d+: 401 invalid token",
            r"auth: refused GET REQ_GET from 127\.0\.0\.1:\d+ as 'otheruser': 403 .*"
            r"'otheruser'.*request 'ra'.*team-a",
            r"auth: refused PUT REQ_SCALE from 127\.0\.0\.1:\d+ as 'rouser': 403 .*team-a-rw",
            r"auth: refused POST AUTH_LOGIN from 127\.0\.0\.1:\d+: 401 invalid login code",
        ]

        def logged():
            log = self.proc.log()
            return all(re.search(w, log) for w in want)
        try:
            harness.wait_until(logged, 10, "the refusals in corrald's log")
        except AssertionError:
            log = self.proc.log()
            self.fail("not logged: %r\n%s" % ([w for w in want if not re.search(w, log)],
                                               log[-3000:]))
        log = self.proc.log()
        for secret in list(self.tokens.values()) + [code]:
            self.assertNotIn(secret, log)
            self.assertNotIn(secret[5:], log)


class TestAuthStartup(harness.TestCase):
    def corrald_argv(self, port, *extra):
        return [os.path.join(harness.BIN, "corrald"), "--etcd-endpoints",
                self.cluster.etcd_url or "http://127.0.0.1:9", "--api-only"] + \
               (["--listen", "127.0.0.1:%d" % port] if port else []) + list(extra)

    def test_network_listen_and_token_file_mode(self):
        self.addCleanup(self.cluster.close, True)
        # A network address without --auth: refused before anything starts.
        port = harness.free_port()
        r = subprocess.run(self.corrald_argv(None, "--listen", "0.0.0.0:%d" % port),
                           capture_output=True, text=True, timeout=15)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("--auth", r.stderr)
        # Auth settings without --auth are a mistake too.
        r = subprocess.run(self.corrald_argv(port, "--auth-token-file", "/nonexistent"),
                           capture_output=True, text=True, timeout=15)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("--auth", r.stderr)

        self.cluster.etcd()
        # --insecure: served anyway (probed on loopback).
        p = self.cluster.spawn("corrald-insecure", self.corrald_argv(
            None, "--listen", "0.0.0.0:%d" % port, "--insecure"))
        # /readyz, not /healthz: the API answers 503 until its cache is in
        harness.wait_until(lambda: harness.http("GET", "http://127.0.0.1:%d/readyz" % port,
                                                timeout=1)[0] == 200, 15, "insecure corrald")
        self.assertTrue(p.alive())
        st, _, _ = harness.http("GET", "http://127.0.0.1:%d/api/requests" % port)
        self.assertEqual(st, 200)  # no auth: everything open, as asked
        p.stop()

        # A token file others may read is refused at start, without
        # showing the token.
        token = "tok-" + secrets.token_hex(16)
        path = os.path.join(self.cluster.tmpdir, "tokens-644")
        with open(path, "w") as f:
            f.write("%s root admins\n" % token)
        os.chmod(path, 0o644)
        r = subprocess.run(self.corrald_argv(harness.free_port(), "--auth", "--auth-token-file",
                                             path), capture_output=True, text=True, timeout=15)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        out = r.stdout + r.stderr
        self.assertIn("readable by group or others", out)
        self.assertIn("644", out)
        self.assertNotIn(token, out)
        # The same file at 600 starts.
        os.chmod(path, 0o600)
        port = harness.free_port()
        self.cluster.spawn("corrald-600", self.corrald_argv(port, "--auth", "--auth-token-file",
                                                            path, "--open-metrics"))
        harness.wait_until(lambda: harness.http("GET", "http://127.0.0.1:%d/readyz" % port,
                                                timeout=1)[0] == 200, 15, "corrald with 600")
        self.assertEqual(harness.http("GET", "http://127.0.0.1:%d/api/requests" % port)[0], 401)
        self.assertEqual(harness.http("GET", "http://127.0.0.1:%d/api/requests" % port,
                                      headers={"Authorization": "Bearer " + token})[0], 200)
        # --open-metrics: /metrics needs no identity, the rest still does.
        self.assertEqual(harness.http("GET", "http://127.0.0.1:%d/metrics" % port)[0], 200)
        self.assertEqual(harness.http("GET", "http://127.0.0.1:%d/api/state" % port)[0], 401)


if __name__ == "__main__":
    harness.main()
