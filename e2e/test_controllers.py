"""The SERVICE/WORKER controllers end to end: real etcd, corrald (API,
controllers, Mesos bridge) and mesoslite running real processes.

Users' intents are written as documents with etcdctl (the documented etcd
interface); the tests read back task records and the status documents the
controllers write (docs/controllers.md).
"""
import json
import os
import random
import signal
import time
import unittest

import harness

PREFIX = "/corral"
ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]
SERVER = ("echo $$ > %(dir)s/$TASK_ID.pid; "
          "exec python3 -m http.server --bind 127.0.0.1 $PORT0")


class T(harness.TestCase):

    # -- helpers ------------------------------------------------------------

    def start(self, agents=1, replicas=1, corrald_args=None):
        c = self.cluster
        c.etcd()
        # a port range of our own: tests on one host must not hand out the same ports
        base = harness.free_port_range(100)
        res = "cpus:8;mem:8192;disk:65536;ports:[%d-%d]" % (base, base + 99)
        c.mesoslite(agents=agents, racks="r1,r2", args=ML_ARGS + ["--agent-resources", res])
        self.apis = [c.corrald(args=corrald_args, name="corrald%d" % i) for i in range(replicas)]
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30,
                           "framework id stored")
        self.piddir = os.path.join(c.tmpdir, "pids")
        os.makedirs(self.piddir, exist_ok=True)
        return c

    def put(self, key, obj):
        self.cluster.etcdctl("put", key, json.dumps(obj))

    def delete(self, key):
        self.cluster.etcdctl("del", key)

    def request(self, rid, instances, rtype="SERVICE"):
        self.put("%s/requests/%s" % (PREFIX, rid),
                 {"id": rid, "requestType": rtype, "instances": instances})

    def deploy(self, rid, did, command=None, health_uri="/", failure_codes=None, **extra):
        d = {"requestId": rid, "id": did,
             "command": command or SERVER % {"dir": self.piddir},
             "resources": {"cpus": 0.05, "memoryMb": 16, "numPorts": 1},
             "deployHealthTimeoutSeconds": 60}
        if health_uri:
            d["healthcheck"] = {"uri": health_uri, "startupIntervalSeconds": 1,
                                "intervalSeconds": 1, "responseTimeoutSeconds": 2,
                                "startupTimeoutSeconds": 30}
            if failure_codes:
                d["healthcheck"]["failureStatusCodes"] = failure_codes
        d.update(extra)
        self.put("%s/deploys/%s/%s" % (PREFIX, rid, did), d)

    def status(self, rid):
        return self.cluster.etcd_get_json("%s/status/requests/%s" % (PREFIX, rid)) or {}

    def deploy_status(self, rid, did):
        return self.cluster.etcd_get_json("%s/status/deploys/%s/%s" % (PREFIX, rid, did)) or {}

    def cond(self, rid, ctype):
        for c in self.status(rid).get("conditions", []):
            if c["type"] == ctype:
                return c
        return {}

    def tasks(self, rid):
        return list(self.cluster.etcd_prefix_json("%s/tasks/%s/" % (PREFIX, rid)).values())

    def running(self, rid, deploy=None):
        return sorted(t["taskId"]["instanceNo"] for t in self.tasks(rid)
                      if t["lastTaskState"] == "TASK_RUNNING"
                      and (deploy is None or t["taskId"]["deployId"] == deploy)
                      and not self.cluster.etcd_get_json(
                          "%s/cleanups/%s" % (PREFIX, t["taskId"]["id"])))

    def history(self, rid):
        return list(self.cluster.etcd_prefix_json("%s/history/tasks/%s/" % (PREFIX, rid)).values())

    def wait_ready(self, rid, active, instances, timeout=60):
        def ok():
            s = self.status(rid)
            r = self.cond(rid, "Ready")
            return (s.get("activeDeployId") == active and r.get("status") == "True"
                    and s["counts"]["healthy"] == instances
                    and len(self.running(rid, active)) == instances)
        try:
            harness.wait_until(ok, timeout, "%s ready on %s with %d" % (rid, active, instances))
        except AssertionError as e:
            raise AssertionError("%s; status now %s" % (e, self.status(rid))) from None

    # -- tests ----------------------------------------------------------------

    def test_service_healthy_scale_and_replace(self):
        c = self.start()
        self.request("web", 3)
        self.deploy("web", "v1")
        self.wait_ready("web", "v1", 3)
        self.assertEqual(self.deploy_status("web", "v1")["state"], "SUCCEEDED")
        self.assertEqual(self.running("web"), [1, 2, 3])

        self.request("web", 5)
        self.wait_ready("web", "v1", 5)
        self.assertEqual(self.running("web"), [1, 2, 3, 4, 5])

        self.request("web", 2)
        self.wait_ready("web", "v1", 2)
        harness.wait_until(lambda: self.running("web") == [1, 2], 30, "highest killed")
        harness.wait_until(lambda: len(self.tasks("web")) == 2, 30, "killed tasks archived")
        self.assertEqual(sorted(h["lastTaskState"] for h in self.history("web")),
                         ["TASK_KILLED"] * 3)

        # kill instance 2's process: the task ends and is replaced in slot 2
        victim = [t for t in self.tasks("web") if t["taskId"]["instanceNo"] == 2][0]
        with open(os.path.join(self.piddir, victim["taskId"]["id"] + ".pid")) as f:
            os.kill(int(f.read().strip()), signal.SIGKILL)
        harness.wait_until(
            lambda: any(h["taskId"]["id"] == victim["taskId"]["id"] for h in self.history("web")),
            30, "killed task moved to history")
        self.wait_ready("web", "v1", 2)
        self.assertNotIn(victim["taskId"]["id"], [t["taskId"]["id"] for t in self.tasks("web")])

    def test_json_gateway_only(self):
        """--etcd-json: txns and watches go to etcd's JSON gateway
        (/v3/kv/txn, /v3/watch) instead of its gRPC service, and everything
        still converges (gRPC,
        the default, is what every other test runs; test/store/itest_client.c
        holds the two to the same answers)."""
        self.start(corrald_args=["--etcd-json"])
        self.request("gw", 2)
        self.deploy("gw", "v1")
        self.wait_ready("gw", "v1", 2)
        self.assertEqual(self.deploy_status("gw", "v1")["state"], "SUCCEEDED")
        self.request("gw", 1)
        harness.wait_until(lambda: self.running("gw") == [1], 30, "instance 2 killed")

    def test_failed_deploy_rolls_back_without_dropping_capacity(self):
        self.start()
        self.request("roll", 2)
        self.deploy("roll", "v1")
        self.wait_ready("roll", "v1", 2)
        # v2 answers 404 on its check, which is a failure status code
        self.deploy("roll", "v2", health_uri="/missing", failure_codes=[404])
        low = []

        def failed():
            n = len(self.running("roll", "v1"))
            if n < 2:
                low.append(n)
            return self.deploy_status("roll", "v2").get("state") == "FAILED"
        harness.wait_until(failed, 60, "v2 FAILED")
        self.assertEqual(low, [], "v1 dropped below 2 running tasks during the deploy")
        ds = self.deploy_status("roll", "v2")
        self.assertEqual(ds["failures"][0]["reason"], "TASK_FAILED_HEALTH_CHECKS")
        harness.wait_until(lambda: self.running("roll", "v2") == [], 30, "v2 tasks killed")
        self.wait_ready("roll", "v1", 2)
        self.assertEqual(self.cond("roll", "Progressing").get("reason"), "DeployFailed")

    def test_cancel_deploy(self):
        self.start()
        self.request("cx", 1)
        self.deploy("cx", "v1")
        self.wait_ready("cx", "v1", 1)
        # never healthy (404 is retried until the 30 s startup budget), then cancelled
        self.deploy("cx", "v2", health_uri="/missing")
        harness.wait_until(lambda: self.running("cx", "v2") == [1], 30, "v2 task running")
        self.put("%s/intents/deploys/cx/v2/cancel" % PREFIX, {"user": "e2e", "timestamp": 1})
        harness.wait_until(lambda: self.deploy_status("cx", "v2").get("state") == "CANCELED",
                           30, "v2 CANCELED")
        harness.wait_until(lambda: self.running("cx", "v2") == [], 30, "v2 task killed")
        self.wait_ready("cx", "v1", 1)

    def test_crash_looping_worker_enters_cooldown(self):
        self.start()
        self.request("crash", 1, rtype="WORKER")
        # healthy after 1 s of running, then exits: the deploy succeeds, then loops
        self.deploy("crash", "v1", command="sleep 2; exit 1", health_uri=None,
                    considerHealthyAfterRunningForSeconds=1)
        harness.wait_until(lambda: self.status("crash").get("state") == "SYSTEM_COOLDOWN", 90,
                           "cooldown")
        self.assertEqual(self.status("crash")["activeDeployId"], "v1")
        self.assertEqual(self.cond("crash", "CoolingDown").get("reason"), "CrashLoop")
        # the relaunch waits (nextRunAt is two minutes away)
        pend = self.cluster.etcd_prefix_json("%s/pending/crash/" % PREFIX)
        self.assertEqual(len(pend), 1, pend)
        pid = list(pend.values())[0]["pendingTaskId"]
        self.assertGreater(pid["nextRunAt"], int(time.time() * 1000) + 60000)

    def test_pause_bounce_and_delete(self):
        self.start()
        self.request("pb", 2)
        self.deploy("pb", "v1")
        self.wait_ready("pb", "v1", 2)
        before = sorted(t["taskId"]["id"] for t in self.tasks("pb"))

        # bounce: every task replaced, new ones healthy before the old die
        self.put("%s/intents/requests/pb/bounce" % PREFIX, {"user": "e2e", "timestamp": 42})
        harness.wait_until(lambda: self.status("pb").get("lastBounce") == 42, 60,
                           "bounce finished")
        self.wait_ready("pb", "v1", 2)

        def old_gone():
            live = [t["taskId"]["id"] for t in self.tasks("pb")
                    if t["lastTaskState"] == "TASK_RUNNING"]
            return len(live) == 2 and not set(before) & set(live)
        harness.wait_until(old_gone, 30, "every task replaced")

        # pause kills everything; unpause brings the instances back
        self.put("%s/intents/requests/pb/pause" % PREFIX, {"user": "e2e", "timestamp": 1})
        harness.wait_until(lambda: self.status("pb").get("state") == "PAUSED"
                           and self.running("pb") == [], 30, "paused, nothing running")
        self.delete("%s/intents/requests/pb/pause" % PREFIX)
        self.wait_ready("pb", "v1", 2)
        self.assertEqual(self.status("pb")["state"], "ACTIVE")

        # delete: every task killed, history kept, state DELETED
        self.delete("%s/requests/pb" % PREFIX)
        harness.wait_until(lambda: self.status("pb").get("state") == "DELETED", 30,
                           "DELETED")
        self.assertEqual(self.tasks("pb"), [])
        self.assertGreaterEqual(len(self.history("pb")), 6)

    def test_leader_killed_mid_deploy(self):
        c = self.start(replicas=2)
        self.request("ha", 2)
        self.deploy("ha", "v1")
        self.wait_ready("ha", "v1", 2)
        self.deploy("ha", "v2")
        harness.wait_until(lambda: self.running("ha", "v2") != [], 60, "v2 launching")
        leader = c.etcd_get_json(PREFIX + "/leader")
        victim = [p for p in c.procs if p.name.startswith("corrald") and p.alive()
                  and leader and str(leader.get("address", "")).endswith(
                      p.argv[p.argv.index("--listen") + 1].split(":")[-1])]
        self.assertEqual(len(victim), 1, leader)
        victim[0].kill()
        self.wait_ready("ha", "v2", 2, timeout=90)
        self.assertEqual(self.deploy_status("ha", "v2")["state"], "SUCCEEDED")
        # every v2 task ever launched: exactly one per instance
        ids = [t["taskId"] for t in self.tasks("ha") + self.history("ha")
               if t["taskId"]["deployId"] == "v2"]
        self.assertEqual(sorted(i["instanceNo"] for i in ids), [1, 2], ids)


if __name__ == "__main__":
    harness.main()
