"""Authentication and authorization through the real binaries.

corrald runs with --auth and a static token file naming five identities;
two more (no token, a bad token) present nothing or garbage. The matrix
comes from `corrald --routes`: every route is called by every identity,
with its path parameters filled from real objects (a parameter kind this
file does not know fails the test, so a new route needs test data), and
the answer must be exactly what the route's access class says: 401 without
valid credentials, 403 where the identity lacks the access (and nothing
written to etcd then), anything but 401/403 where it has it.

Also: lists and /api/watch show only what the caller may read, the actor
recorded is the token's user whatever X-Corral-User says, /metrics counts
the refusals, the log never shows a token, a network --listen needs --auth
(or --insecure), and a token file readable by others is refused.

Documents the controllers and the bridge would write (tasks, pending
tasks, agents, deploy statuses) are put straight into etcd; corrald runs
--api-only, so they stay as written and no Mesos is needed.
"""
import base64
import http.client
import json
import os
import queue
import secrets
import subprocess
import threading
import urllib.parse

import harness

PREFIX = "/corral"
RID = "ra"
TASK_ID = "ra-v1-1000-1-h1-r1"
OLD_TASK_ID = "ra-v1-900-1-h1-r1"
PENDING_ID = "ra-v1-3000-1-ONEOFF-2999"
AGENT, RACK, DEPLOY, RUN = "a1", "r1", "v1", "run1"

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
ANSWER_IS_READ_CHECK = {"AUTH_CHECK"}
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
        "DEPLOY_UPDATE": {"requestId": RID, "deployId": DEPLOY, "targetActiveInstances": 1},
        "AUTH_TOKEN_POST": {},
        "AUTH_LOGIN_CODE": {},
        "AUTH_LOGIN": {},  # no code: 400 (a wrong code is a 401 of its own)
        "USER_SETTINGS_POST": {"starredRequestIds": [RID]},
        "USER_STARS": {"starredRequestIds": [RID]},
        "WEBHOOK_ADD": {"id": "wh-" + who, "uri": "http://127.0.0.1:9/hook", "type": "TASK"},
        "SOURCE_POST": {"name": "src-" + who, "repository": "/nonexistent/repo"},
    }.get(op)


def fill(path):
    """path with each {param} replaced by its object; fails on a kind this
    file does not know."""
    out = []
    for seg in path.split("/"):
        if seg.startswith("{") and seg.endswith("}"):
            name = seg[1:-1]
            if name not in PARAMS:
                raise AssertionError("route %s has a parameter {%s} the auth matrix has no test "
                                     "object for: add one to PARAMS" % (path, name))
            seg = urllib.parse.quote(PARAMS[name], safe="")
        out.append(seg)
    return "/".join(out)


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
        self.cluster.etcd()
        self.start_corrald()
        self.agent_port = harness.free_port()  # nothing listens: sandbox calls fail fast
        self.seed()

    # ---- plumbing ----

    def start_corrald(self):
        self.api = self.cluster.corrald(args=["--api-only", "--auth", "--auth-token-file",
                                              self.token_file])
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

    def seed(self):
        self.ok("admin", "POST", "/api/requests", REQUEST_DOC)
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
                  "taskUpdates": [{"taskState": "TASK_RUNNING", "timestamp": 5000}]})
        self.put("%s/history/tasks/%s/%s" % (PREFIX, RID, OLD_TASK_ID),
                 {"taskId": dict(task_id, id=OLD_TASK_ID, startedAt=900), "agentId": AGENT,
                  "hostname": "127.0.0.1", "lastTaskState": "TASK_FAILED", "updatedAt": 950})
        self.put("%s/pending/%s/%s" % (PREFIX, RID, PENDING_ID),
                 {"pendingTaskId": {"id": PENDING_ID, "requestId": RID, "deployId": DEPLOY,
                                    "nextRunAt": 3000, "instanceNo": 1, "pendingType": "ONEOFF",
                                    "createdAt": 2999}, "runId": RUN})
        self.put("%s/agents/%s" % (PREFIX, AGENT),
                 {"id": AGENT, "hostname": "127.0.0.1", "port": self.agent_port, "rackId": RACK})
        self.put("%s/racks/%s" % (PREFIX, RACK), {"id": RACK})
        for path in ("/api/tasks/task/" + TASK_ID, "/api/tasks/scheduled/task/" + PENDING_ID,
                     "/api/agents/agent/" + AGENT, "/api/racks/rack/" + RACK,
                     "/api/history/request/%s/deploy/%s" % (RID, DEPLOY)):
            harness.wait_until(lambda: self.call("admin", "GET", path)[0] == 200, 10,
                               "corrald sees " + path)


class TestAuthMatrix(AuthCase):
    def test_every_route_for_every_identity(self):
        table = routes()
        self.assertGreater(len(table), 50)
        for r in table:
            self.assertNotEqual(r["access"], "unset", "route %s has no access class" % r["path"])
            expected(r, "other")  # every route classified before anything runs

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
                path = fill(r["path"])
                before = self.revision() if want != "ok" else None
                checked += 1
                try:
                    st, doc, _ = self.call(who, r["method"], path, body_for(r["op"], who),
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
                    if st in (401, 403):
                        failures.append("%s %s as %s: %d %r, want it allowed"
                                        % (r["method"], path, who, st, doc))
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
        self.assertEqual(ids("readonly", "/api/requests"), [RID])
        self.assertEqual(ids("rw", "/api/requests/active"), [RID])
        self.assertEqual(ids("other", "/api/requests"), [])
        self.assertEqual(ids("other", "/api/requests/active"), [])
        self.assertEqual(self.ok("other", "GET", "/api/tasks/active/ids"), [])
        self.assertEqual(self.ok("other", "GET", "/api/tasks/scheduled"), [])
        self.assertEqual(self.ok("other", "GET", "/api/history/tasks"), [])
        self.assertEqual([t["id"] for t in self.ok("readonly", "GET", "/api/tasks/active/ids")],
                         [TASK_ID])
        self.assertEqual(len(self.ok("readonly", "GET", "/api/tasks/scheduled")), 1)

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
            leaked = [k for k in other.keys() if "/%s/" % RID in k + "/" or "/ra-" in k]
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
        harness.wait_until(lambda: harness.http("GET", "http://127.0.0.1:%d/healthz" % port,
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
