"""A Singularity client pointed at Corral (issue 20): bodies built the way
Singularity's Java client serialises them, against real etcd, mesoslite and
corrald, through the context path /singularity/api (docs/api.md
"Singularity compatibility").

- a request with every SingularityRequest getter (deprecated slave* twins
  beside the agent* names, nulls, fields Corral does not know) is accepted;
  the unknown fields come back as Warning headers and are not stored; the
  same body with ?strict=true or X-Corral-Strict is a 400 and changes
  nothing; an alias pair with different values is a 400 even leniently;
- a deploy with every SingularityDeploy getter (labels beside mesosLabels,
  null flat health-check fields beside healthcheck, the default
  canaryDeploySettings) is accepted and runs: its task answers with the
  offer/offers the Java client requires, and the deploy succeeds;
- scaling to the current count is a 400, as in Singularity;
- GET and HEAD carry an ETag; If-None-Match with it is a 304;
- a SUPERSEDED deploy reads as Singularity's CANCELED, Corral's state beside.
"""
import http.client
import json
import time
import urllib.parse

import harness
from ctl_cases import ML_ARGS, PREFIX, SERVER

BASE = "/singularity/api"


def java_request(rid, instances=1):
    """SingularityRequest as Jackson writes it: one member per getter."""
    return {
        "id": rid, "owners": ["team@example.com"], "numRetriesOnFailure": None,
        "maxScale": None, "schedule": None, "quartzSchedule": None, "scheduleTimeZone": None,
        "instances": instances, "rackSensitive": False, "loadBalanced": False,
        "requestType": "SERVICE", "killOldNonLongRunningTasksAfterMillis": None,
        "taskExecutionTimeLimitMillis": None, "scheduleType": None, "rackAffinity": None,
        "agentPlacement": "GREEDY", "slavePlacement": "GREEDY",
        "scheduledExpectedRuntimeMillis": None,
        "requiredAgentAttributes": {}, "allowedAgentAttributes": {},
        "agentAttributeMinimums": {}, "requiredSlaveAttributes": {},
        "allowedSlaveAttributes": {}, "slaveAttributeMinimums": {},
        "maxTasksPerOffer": None, "allowBounceToSameHost": None,
        "waitAtLeastMillisAfterTaskFinishesForReschedule": None, "group": None,
        "requiredRole": None, "readWriteGroups": None, "readOnlyGroups": None,
        "actionPermissions": None, "bounceAfterScale": None,
        "emailConfigurationOverrides": None, "skipHealthchecks": None,
        "hideEvenNumberAcrossRacksHint": None, "taskLogErrorRegex": None,
        "taskLogErrorRegexCaseSensitive": None, "taskPriorityLevel": None,
        "dataCenter": None,
        # a field from a newer Singularity than this test knows
        "someFutureField": {"x": 1},
    }


def java_deploy(rid, did):
    """SingularityDeployRequest around a SingularityDeploy, as Jackson
    writes them; the client built it with labels and a healthcheck object,
    so Singularity derived mesosLabels and left the flat fields empty."""
    deploy = {
        "deployHealthTimeoutSeconds": 60, "requestId": rid, "id": did, "version": None,
        "timestamp": None, "metadata": {"team": "core"}, "containerInfo": None,
        "customExecutorCmd": None, "customExecutorId": None, "customExecutorSource": None,
        "customExecutorResources": None,
        "resources": {"numPorts": 1, "cpus": 0.05, "memoryMb": 16, "diskMb": 0},
        "command": SERVER, "arguments": None, "env": {"GREETING": "hi"}, "taskEnv": None,
        "runImmediately": None, "uris": None, "executorData": None,
        "healthcheckUri": None, "healthcheckProtocol": None,
        "healthcheckIntervalSeconds": None, "healthcheckTimeoutSeconds": None,
        "healthcheckPortIndex": None, "serviceBasePath": None,
        "considerHealthyAfterRunningForSeconds": None, "loadBalancerGroups": None,
        "loadBalancerPortIndex": None, "loadBalancerOptions": None,
        "loadBalancerDomains": None, "loadBalancerAdditionalRoutes": None,
        "loadBalancerTemplate": None, "loadBalancerServiceIdOverride": None,
        "loadBalancerUpstreamGroup": None,
        "labels": {"team": "core"}, "mesosLabels": [{"key": "team", "value": "core"}],
        "taskLabels": None, "mesosTaskLabels": None, "skipHealthchecksOnDeploy": None,
        "healthcheckMaxRetries": None, "healthcheckMaxTotalTimeoutSeconds": None,
        "healthcheck": {"uri": "/", "portIndex": None, "portNumber": None, "protocol": "HTTP",
                        "method": "GET", "startupTimeoutSeconds": 30,
                        "startupDelaySeconds": None, "startupIntervalSeconds": 1,
                        "intervalSeconds": 1, "responseTimeoutSeconds": 2, "maxRetries": None,
                        "failureStatusCodes": None, "healthcheckResultFilePath": None},
        "deployInstanceCountPerStep": None, "deployStepWaitTimeMs": None,
        "autoAdvanceDeploySteps": None, "maxTaskRetries": None, "shell": None, "user": None,
        "canaryDeploySettings": {"enableCanaryDeploy": False, "acceptanceMode": "NONE",
                                 "instanceGroupSize": 1, "waitMillisBetweenGroups": 0,
                                 "allowedTasksFailuresPerGroup": 0, "canaryCycleCount": 3},
    }
    return {"deploy": deploy, "unpauseOnSuccessfulDeploy": False, "message": "from java",
            "updatedRequest": None}


class Client:
    """HTTP with every header of an answer kept (Warning repeats)."""

    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port

    def call(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            hdrs = dict(headers or {})
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            raw = r.read()
            text = raw.decode()
            return r.status, r.msg, (json.loads(text) if text.strip() else None)
        finally:
            conn.close()


class T(harness.TestCase):

    def start(self, api_only=False):
        c = self.cluster
        c.etcd()
        if not api_only:
            base = harness.free_port_range(50)
            c.mesoslite(agents=1, racks="r1",
                        args=ML_ARGS + ["--agent-resources",
                                        "cpus:4;mem:8192;disk:65536;ports:[%d-%d]"
                                        % (base, base + 49)])
        url = c.corrald(args=["--api-only"] if api_only else [])
        self.api = Client(url)
        harness.wait_until(lambda: self.api.call("GET", BASE + "/state")[0] == 200, 15, "ready")

    def etcd_all(self):
        kv = self.cluster.etcd_prefix_json(PREFIX + "/")
        kv.pop(PREFIX + "/leader", None)
        return kv

    def test_java_client_bodies(self):
        self.start()
        st, hdrs, body = self.api.call("POST", BASE + "/requests", java_request("web"))
        self.assertEqual(st, 200, body)
        self.assertEqual(body["request"]["id"], "web")
        warnings = hdrs.get_all("Warning") or []
        self.assertTrue(any("someFutureField" in w for w in warnings), warnings)
        self.assertTrue(all(w.startswith("299 ") for w in warnings), warnings)
        stored = self.cluster.etcd_get_json(PREFIX + "/requests/web")
        self.assertNotIn("someFutureField", stored)
        self.assertNotIn("slavePlacement", stored)
        self.assertEqual(stored.get("agentPlacement"), "GREEDY")

        # strict on request: a 400 naming the field, and nothing changes
        for path, headers in ((BASE + "/requests?strict=true", None),
                              (BASE + "/requests", {"X-Corral-Strict": "true"})):
            before = self.etcd_all()
            st, _, body = self.api.call("POST", path, java_request("strict1"), headers)
            self.assertEqual(st, 400, body)
            self.assertIn("someFutureField", json.dumps(body))
            self.assertEqual(before, self.etcd_all())
        # an alias pair that disagrees is refused even leniently
        conflict = java_request("conflict")
        conflict["slavePlacement"] = "SEPARATE"
        st, _, body = self.api.call("POST", BASE + "/requests", conflict)
        self.assertEqual(st, 400, body)
        self.assertIn("slavePlacement", body["message"])
        self.assertIsNone(self.cluster.etcd_get_json(PREFIX + "/requests/conflict"))

        # the deploy, sent as the Java client sends it, runs
        st, hdrs, body = self.api.call("POST", BASE + "/deploys", java_deploy("web", "j1"))
        self.assertEqual(st, 200, body)
        stored = self.cluster.etcd_get_json(PREFIX + "/deploys/web/j1")
        self.assertEqual(stored["mesosLabels"], [{"key": "team", "value": "core"}])
        self.assertNotIn("labels", stored)
        self.assertNotIn("healthcheckUri", stored)

        def healthy():
            st, _, ids = self.api.call("GET", BASE + "/tasks/ids/request/web")
            return st == 200 and len(ids["healthy"]) == 1 and ids["healthy"][0]
        harness.wait_until(healthy, 60, "the Java-built deploy's task healthy")

        def active_deploy():
            _, _, p = self.api.call("GET", BASE + "/requests/request/web")
            return (p.get("activeDeploy") or {}).get("id") == "j1"
        harness.wait_until(active_deploy, 60, "deploy j1 active")
        tid = healthy()["id"]
        st, _, task = self.api.call("GET", BASE + "/tasks/task/" + urllib.parse.quote(tid))
        self.assertEqual(st, 200, task)
        # SingularityTask's constructor refuses a task without offer/offers
        self.assertEqual(task["offer"], task["offers"][0])
        self.assertEqual(task["offers"][0]["agentId"]["value"], task["agentId"])
        self.assertEqual(task["offers"][0]["hostname"], task["hostname"])
        st, _, active = self.api.call("GET", BASE + "/tasks/active")
        self.assertEqual([t["offers"][0]["agentId"]["value"] for t in active],
                         [task["agentId"]])
        st, _, hist = self.api.call("GET", BASE + "/history/request/web/deploy/j1")
        self.assertEqual(hist["deployResult"]["deployState"], "SUCCEEDED")

        # scaling to the current count changes nothing: a 400, as Singularity
        before = self.etcd_all()
        st, _, body = self.api.call("PUT", BASE + "/requests/request/web/scale",
                                    {"instances": 1, "someFutureField": True})
        self.assertEqual(st, 400, body)
        self.assertEqual(before, self.etcd_all())
        st, hdrs, body = self.api.call("PUT", BASE + "/requests/request/web/scale",
                                       {"instances": 2, "someFutureField": True})
        self.assertEqual(st, 200, body)
        self.assertTrue(any("scale.someFutureField" in w for w in hdrs.get_all("Warning")))
        self.assertEqual(self.cluster.etcd_get_json(PREFIX + "/requests/web")["instances"], 2)

    def test_etag_and_superseded(self):
        self.start(api_only=True)
        put = lambda k, v: self.cluster.etcdctl("put", PREFIX + k, json.dumps(v))
        put("/requests/r1", {"id": "r1", "requestType": "SERVICE", "instances": 1})
        for did in ("d1", "d2"):
            put("/deploys/r1/" + did, {"requestId": "r1", "id": did, "command": "sleep 100",
                                       "resources": {"cpus": 0.1, "memoryMb": 16}})
        put("/status/deploys/r1/d1", {"requestId": "r1", "deployId": "d1",
                                      "state": "SUPERSEDED", "message": "d2 replaced it",
                                      "finishedAt": int(time.time() * 1000)})

        def superseded():
            st, _, h = self.api.call("GET", BASE + "/history/request/r1/deploy/d1")
            return st == 200 and h.get("deployResult") and h
        h = harness.wait_until(superseded, 10, "deploy d1's history")
        self.assertEqual(h["deployResult"]["deployState"], "CANCELED")
        self.assertEqual(h["deployResult"]["corralDeployState"], "SUPERSEDED")

        st, hdrs, body = self.api.call("GET", BASE + "/requests/request/r1")
        self.assertEqual(st, 200)
        etag = hdrs["ETag"]
        # the Java client's headRequest reads it with Integer.parseInt
        self.assertRegex(etag, r'^-?[0-9]+$')
        self.assertTrue(-2**31 <= int(etag) < 2**31)
        st, hdrs2, body2 = self.api.call("HEAD", BASE + "/requests/request/r1")
        self.assertEqual((st, hdrs2["ETag"], body2), (200, etag, None))
        for inm in (etag, '"%s"' % etag):
            st, _, body3 = self.api.call("GET", BASE + "/requests/request/r1",
                                         headers={"If-None-Match": inm})
            self.assertEqual((st, body3), (304, None))
        # the request's tag follows the request, not its tasks or status
        put("/status/requests/r1", {"requestId": "r1", "state": "ACTIVE",
                                    "activeDeployId": "d2"})
        harness.wait_until(lambda: (self.api.call("GET", BASE + "/requests/request/r1")[2]
                                    .get("activeDeploy") or {}).get("id") == "d2", 10,
                           "the status visible")
        self.assertEqual(self.api.call("HEAD", BASE + "/requests/request/r1")[1]["ETag"], etag)
        self.assertEqual(self.api.call("HEAD", BASE + "/requests/request/nosuch")[0], 404)
        # a change gives a new tag, and the old one no longer matches
        put("/requests/r1", {"id": "r1", "requestType": "SERVICE", "instances": 3})
        harness.wait_until(lambda: self.api.call("GET", BASE + "/requests/request/r1")[2]
                           ["request"]["instances"] == 3, 10, "the change visible")
        st, hdrs, _ = self.api.call("GET", BASE + "/requests/request/r1",
                                    headers={"If-None-Match": etag})
        self.assertEqual(st, 200)
        self.assertNotEqual(hdrs["ETag"], etag)
        # /api and the context path are the same API
        self.assertEqual(self.api.call("GET", "/api/requests/request/r1")[2],
                         self.api.call("GET", BASE + "/requests/request/r1")[2])
        self.assertEqual(self.api.call("GET", "/singularity/apix/requests")[0], 404)


if __name__ == "__main__":
    harness.main()
