"""Helpers shared by the controllers' e2e files (test_controllers_more*.py):
start a cluster whose agents each get their own port range (so two tasks
never get the same port), write requests and deploys as documents with
etcdctl (the documented interface), and read back task records and the
controllers' status documents (docs/controllers.md, docs/mesosbridge.md)."""
import json
import random
import time

import harness

PREFIX = "/corral"
ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]
SERVER = "exec python3 -m http.server --bind 127.0.0.1 $PORT0"
LOST = ("TASK_LOST", "TASK_UNREACHABLE", "TASK_GONE", "TASK_DROPPED", "TASK_UNKNOWN",
        "TASK_GONE_BY_OPERATOR")


class ControllerCase(harness.TestCase):
    """Real etcd, mesoslite (agents with their own port ranges) and corrald;
    documents written with etcdctl, records and status read back from etcd."""

    def start(self, agents, racks="r1,r2", cpus=8, attributes=None, faults=False):
        c = self.cluster
        c.etcd()
        base = harness.free_port_range(50 * agents)
        res = "|".join("cpus:%s;mem:8192;disk:65536;ports:[%d-%d]"
                       % (cpus, base + 50 * i, base + 50 * i + 49) for i in range(agents))
        args = ML_ARGS + ["--agent-resources", res]
        if attributes:
            args += ["--agent-attributes", attributes]
        c.mesoslite(agents=agents, racks=racks, faults=faults, args=args)
        c.corrald()
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30,
                           "framework id stored")
        return c

    def put(self, key, obj):
        self.cluster.etcdctl("put", key, json.dumps(obj))

    def request(self, rid, instances, rtype="SERVICE", **extra):
        r = {"id": rid, "requestType": rtype, "instances": instances}
        r.update(extra)
        self.put("%s/requests/%s" % (PREFIX, rid), r)

    def deploy(self, rid, did, health_uri="/", cpus=0.05, **extra):
        d = {"requestId": rid, "id": did, "command": SERVER,
             "resources": {"cpus": cpus, "memoryMb": 16, "numPorts": 1},
             "deployHealthTimeoutSeconds": 60}
        if health_uri:
            d["healthcheck"] = {"uri": health_uri, "startupIntervalSeconds": 1,
                                "intervalSeconds": 1, "responseTimeoutSeconds": 2,
                                "startupTimeoutSeconds": 30}
        d.update(extra)
        self.put("%s/deploys/%s/%s" % (PREFIX, rid, did), d)

    def status(self, rid):
        return self.cluster.etcd_get_json("%s/status/requests/%s" % (PREFIX, rid)) or {}

    def settled_status(self, rid, counts, timeout=5):
        """The request's status once its counts match: status writes are
        coalesced (STATUS_COALESCE_MS, 250 ms), so a status read right after
        the tasks changed may still show the turn before."""
        def match():
            c = self.status(rid).get("counts", {})
            return all(c.get(k) == v for k, v in counts.items())
        harness.wait_until(match, timeout,
                           "status counts %s (now %s)" % (counts, self.status(rid).get("counts")))
        return self.status(rid)

    def deploy_status(self, rid, did):
        return self.cluster.etcd_get_json("%s/status/deploys/%s/%s" % (PREFIX, rid, did)) or {}

    def cond(self, rid, ctype):
        for c in self.status(rid).get("conditions", []):
            if c["type"] == ctype:
                return c
        return {}

    def tasks(self, rid):
        return list(self.cluster.etcd_prefix_json("%s/tasks/%s/" % (PREFIX, rid)).values())

    def history(self, rid):
        return list(self.cluster.etcd_prefix_json("%s/history/tasks/%s/" % (PREFIX, rid)).values())

    def pending(self, rid):
        return list(self.cluster.etcd_prefix_json("%s/pending/%s/" % (PREFIX, rid)).values())

    def live(self, rid, deploy=None):
        """Running task records without a kill intent."""
        cleanups = self.cluster.etcd_prefix_json(PREFIX + "/cleanups/")
        return [t for t in self.tasks(rid)
                if t["lastTaskState"] == "TASK_RUNNING"
                and (deploy is None or t["taskId"]["deployId"] == deploy)
                and "%s/cleanups/%s" % (PREFIX, t["taskId"]["id"]) not in cleanups]

    def running(self, rid, deploy=None):
        return sorted(t["taskId"]["instanceNo"] for t in self.live(rid, deploy))

    def running_counts(self, rid, *deploys):
        """Running tasks without a kill intent of each deploy, from one
        consistent read of the whole prefix (one etcd revision)."""
        kv = self.cluster.etcd_prefix_json(PREFIX + "/")
        counts = []
        for d in deploys:
            counts.append(sum(1 for k, t in kv.items()
                              if k.startswith("%s/tasks/%s/" % (PREFIX, rid))
                              and t["lastTaskState"] == "TASK_RUNNING"
                              and t["taskId"]["deployId"] == d
                              and "%s/cleanups/%s" % (PREFIX, t["taskId"]["id"]) not in kv))
        return counts

    def agents(self):
        """{agentId: {attribute: value}} from mesoslite's /master/state."""
        st = json.loads(harness.http("GET", self.cluster.mesos_url + "/master/state")[2])
        return {s["id"]: s.get("attributes", {}) for s in st["slaves"]}

    def wait_ready(self, rid, active, instances, timeout=60):
        def ok():
            s = self.status(rid)
            return (s.get("activeDeployId") == active
                    and self.cond(rid, "Ready").get("status") == "True"
                    and s["counts"]["healthy"] == instances
                    and len(self.running(rid, active)) == instances)
        try:
            harness.wait_until(ok, timeout, "%s ready on %s with %d" % (rid, active, instances))
        except AssertionError as e:
            raise AssertionError("%s; status now %s" % (e, self.status(rid))) from None

    def wait_absent_while_probe_runs(self, probe):
        """Proves the bridge had offers and placed tasks after the condition
        under test was set up: a fresh 1-instance request gets launched."""
        self.request(probe, 1)
        self.deploy(probe, "p1", health_uri=None)
        harness.wait_until(lambda: len(self.running(probe)) == 1, 30, "probe task running")

    def update_intent(self, rid, did, target):
        """The manual-step advance (docs/api.md: P/intents/deploys/<r>/<d>/update)."""
        self.put("%s/intents/deploys/%s/%s/update" % (PREFIX, rid, did),
                 {"requestId": rid, "deployId": did, "targetActiveInstances": target,
                  "user": "e2e", "timestamp": int(time.time() * 1000)})

    def per_agent(self, rid):
        counts = {}
        for t in self.live(rid):
            counts[t["agentId"]] = counts.get(t["agentId"], 0) + 1
        return counts
