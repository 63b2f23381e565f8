"""corrald's Mesos bridge driving mesoslite, observed through etcd.

The tests play the controllers' part by writing the documents the bridge
consumes (pending tasks, cleanups) and check that every task is accounted for
in etcd: launch and run, kill, a broken stream, master failover, a lost agent,
an update re-delivered and stored once, and corrald restarted mid-launch
launching nothing twice. Requests are ON_DEMAND so that controllers, when
they run, launch nothing on their own.
"""
import json
import os
import time

import harness

PREFIX = "/corral"
ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]


class T(harness.TestCase):

    # -- helpers ------------------------------------------------------------

    def start(self, agents=2):
        c = self.cluster
        c.etcd()
        c.mesoslite(agents=agents, racks="r1,r2", faults=True, args=ML_ARGS)
        # The bridge alone: these tests write pending and cleanup documents by
        # hand, which the controllers would otherwise reconcile away.
        self.corrald = c.corrald(args=["--no-controllers"])
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30,
                           "framework id stored")
        return c

    def put(self, key, obj):
        self.cluster.etcdctl("put", key, json.dumps(obj))

    def request(self, rid, deploy="v1", command="sleep 600", ports=1):
        self.put("%s/requests/%s" % (PREFIX, rid),
                 {"id": rid, "requestType": "ON_DEMAND", "instances": 1})
        self.put("%s/deploys/%s/%s" % (PREFIX, rid, deploy),
                 {"requestId": rid, "id": deploy, "command": command,
                  "resources": {"cpus": 0.1, "memoryMb": 16, "numPorts": ports}})

    def custom_request(self, rid, executor_data, ports=1):
        """An ON_DEMAND request whose deploy runs bin/corral-executor."""
        self.put("%s/requests/%s" % (PREFIX, rid),
                 {"id": rid, "requestType": "ON_DEMAND", "instances": 1})
        self.put("%s/deploys/%s/v1" % (PREFIX, rid),
                 {"requestId": rid, "id": "v1", "command": "sleep 600",
                  "customExecutorCmd": os.path.join(harness.BIN, "corral-executor"),
                  "executorData": executor_data,
                  "resources": {"cpus": 0.1, "memoryMb": 16, "numPorts": ports}})

    def pending(self, rid, instance=1, deploy="v1"):
        now = int(time.time() * 1000)
        pid = "%s-%s-%d-%d-ONEOFF-%d" % (rid, deploy, now, instance, now)
        key = "%s/pending/%s/%s" % (PREFIX, rid, pid)
        self.put(key, {"pendingTaskId": pid, "user": "e2e"})
        return key

    def tasks(self, rid):
        return list(self.cluster.etcd_prefix_json("%s/tasks/%s/" % (PREFIX, rid)).values())

    def states(self, rid):
        return sorted(t["lastTaskState"] for t in self.tasks(rid))

    def wait_states(self, rid, want, timeout=30):
        harness.wait_until(lambda: self.states(rid) == want, timeout,
                           "%s tasks %s (now %s)" % (rid, want, self.states(rid)))

    def ml(self, path):
        st, _, body = harness.http("POST", self.cluster.mesos_url + "/__ml" + path, b"")
        self.assertEqual(st, 200, body)

    def ml_tasks(self):
        st, _, body = harness.http("GET", self.cluster.mesos_url + "/__ml/state")
        return json.loads(body)["tasks"]

    def framework_id(self):
        return self.cluster.etcd_get_json(PREFIX + "/framework")["frameworkId"]

    # -- tests ----------------------------------------------------------------

    def test_launch_run_and_kill(self):
        c = self.start()
        self.request("web", ports=2)
        pkey = self.pending("web")
        self.wait_states("web", ["TASK_RUNNING"])
        self.assertIsNone(c.etcd_get_json(pkey), "pending document consumed")
        task = self.tasks("web")[0]
        self.assertEqual(len(task["ports"]), 2)
        self.assertEqual(task["env"]["TASK_ID"], task["taskId"]["id"])
        self.assertEqual(task["env"]["PORT0"], str(task["ports"][0]))
        self.assertTrue(task["taskId"]["id"].startswith("web-v1-"))
        self.assertIn(PREFIX + "/agents/" + task["agentId"], c.etcd_prefix_json(PREFIX + "/agents/"))
        # kill through a cleanup document
        ckey = "%s/cleanups/%s" % (PREFIX, task["taskId"]["id"])
        self.put(ckey, {"taskId": task["taskId"]["id"], "cleanupType": "USER_REQUESTED",
                        "killGracePeriodMillis": 1000})
        self.wait_states("web", ["TASK_KILLED"])
        harness.wait_until(lambda: c.etcd_get_json(ckey) is None, 10, "cleanup deleted")
        # the master forgets the task once its TASK_KILLED is acknowledged;
        # the bridge acknowledges after its write comes back, which may be
        # after the controllers saw it and deleted the cleanup
        harness.wait_until(lambda: self.ml_tasks() == 0, 10, "kill acknowledged to the master")

    def test_exit_code_recorded(self):
        self.start()
        self.request("job", command="exit 3", ports=0)
        self.pending("job")
        self.wait_states("job", ["TASK_FAILED"])
        task = self.tasks("job")[0]
        self.assertEqual(task["exitCode"], 3)
        self.assertEqual([u["taskState"] for u in task["taskUpdates"]].count("TASK_FAILED"), 1)

    def test_redelivered_update_stored_once(self):
        self.start()
        self.request("drop", ports=0)
        self.ml("/updates/drop?count=1")  # the next update is lost once
        self.pending("drop")
        self.wait_states("drop", ["TASK_RUNNING"], timeout=40)
        ups = self.tasks("drop")[0]["taskUpdates"]
        running = [u for u in ups if u["taskState"] == "TASK_RUNNING" and u.get("uuid")]
        self.assertEqual(len(running), 1, ups)

    def test_broken_stream_and_master_failover(self):
        c = self.start()
        self.request("svc", ports=1)
        self.pending("svc", 1)
        self.pending("svc", 2)
        self.wait_states("svc", ["TASK_RUNNING", "TASK_RUNNING"])
        fid = self.framework_id()
        before = self.ml_tasks()
        self.ml("/frameworks/%s/break-stream" % fid)
        self.ml("/master/failover?reregister_ms=500")
        # re-subscribed with the same framework id; a new launch still works
        self.pending("svc", 3)
        self.wait_states("svc", ["TASK_RUNNING"] * 3)
        self.assertEqual(self.framework_id(), fid)
        self.assertEqual(self.ml_tasks(), before + 1)

    def test_restart_mid_launch_launches_nothing_twice(self):
        c = self.start()
        self.request("half", ports=0)
        self.pending("half", 1)
        self.wait_states("half", ["TASK_RUNNING"])
        proc = [p for p in c.procs if p.name == "corrald"][0]
        proc.kill()  # no goodbye: like a crash
        # a launch intent whose ACCEPT never went out (crash between the
        # txn and the call), plus a pending task that is still waiting
        now = int(time.time() * 1000)
        tid = "half-v1-%d-2-127.0.0.1-r1" % now
        self.put("%s/tasks/half/%s" % (PREFIX, tid),
                 {"taskId": tid, "pendingTask": {"pendingTaskId": "half-v1-1-2-ONEOFF-1"},
                  "agentId": "nowhere", "lastTaskState": "TASK_LAUNCHED", "launchedAt": now})
        before = self.ml_tasks()
        c.corrald(args=["--no-controllers"])
        harness.wait_until(
            lambda: sorted(self.states("half")) in (["TASK_GONE", "TASK_RUNNING"],
                                                     ["TASK_LOST", "TASK_RUNNING"],
                                                     ["TASK_RUNNING", "TASK_UNKNOWN"]),
            30, "unsent launch reported, running task kept (now %s)" % self.states("half"))
        self.assertEqual(self.ml_tasks(), before)

    def test_restart_reads_records_as_written(self):
        """A restarted corrald reads the records the bridge wrote from their
        own text, without parsing them (how its cold start goes at scale),
        and serves each as etcd holds it."""
        c = self.start()
        self.request("own", ports=1)
        self.pending("own", 1)
        self.pending("own", 2)
        self.wait_states("own", ["TASK_RUNNING", "TASK_RUNNING"])
        [p for p in c.procs if p.name == "corrald"][0].kill()
        api = c.corrald(args=["--no-controllers"])

        def own_texts():
            body = harness.http("GET", api + "/metrics")[2].decode()
            for line in body.splitlines():
                if line.startswith('corral_cache_decodes_total{how="own_text"} '):
                    return float(line.split()[-1])
            return None
        harness.wait_until(lambda: (own_texts() or 0) >= 2, 30,
                           "both records read from their own text")
        for rec in self.tasks("own"):
            st, got = harness.http_json("GET", api + "/api/tasks/task/" + rec["taskId"]["id"])
            self.assertEqual(st, 200, got)
            for field, value in rec.items():  # the answer is the record and more
                self.assertEqual(got.get(field), value, field)
            self.assertIn("command", got["mesosTask"])

    def test_custom_executor(self):
        c = self.start()
        rid = "cexec"
        self.custom_request(rid, {"cmd": "sleep 600", "sigKillProcessesAfterMillis": 2000})
        self.pending(rid)
        self.wait_states(rid, ["TASK_RUNNING"], timeout=60)
        task = self.tasks(rid)[0]
        self.assertEqual(task["executorId"], task["taskId"]["id"])
        self.assertEqual(task["mesosTask"]["executor"]["type"], "CUSTOM")
        self.assertEqual(task["killGracePeriodMillis"], 2000)
        ckey = "%s/cleanups/%s" % (PREFIX, task["taskId"]["id"])
        self.put(ckey, {"taskId": task["taskId"]["id"], "cleanupType": "USER_REQUESTED"})
        harness.wait_until(lambda: self.states(rid)[0] in ("TASK_KILLED", "TASK_FAILED"), 60,
                           "custom executor task killed (now %s)" % self.states(rid))

    def record_version(self, rid):
        """(etcd version of the request's one task record, its update states)."""
        task = self.tasks(rid)[0]
        key = "%s/tasks/%s/%s" % (PREFIX, rid, task["taskId"]["id"])
        kv = json.loads(self.cluster.etcdctl("get", key, "-w", "json"))["kvs"][0]
        return kv["version"], [u["taskState"] for u in task["taskUpdates"]]

    def test_starting_and_running_share_one_write(self):
        # docs/architecture.md "etcd writes per launched task": the launch
        # txn creates the record, then STARTING waits for RUNNING
        self.start()
        self.request("one", ports=0)
        self.pending("one")
        self.wait_states("one", ["TASK_RUNNING"])
        version, states = self.record_version("one")
        self.assertEqual(states[-2:], ["TASK_STARTING", "TASK_RUNNING"], states)
        self.assertEqual(version, 2, "one write after the launch txn (states %s)" % states)

    def test_starting_alone_is_stored_after_its_hold(self):
        # a task that stays STARTING (its running sentinel comes late) shows
        # it within the hold, and RUNNING after
        self.start()
        rid = "late"
        self.custom_request(rid, {"cmd": "sleep 8; touch ready; sleep 600",
                                  "runningSentinel": "ready"}, ports=0)
        self.pending(rid)
        self.wait_states(rid, ["TASK_STARTING"], timeout=30)
        self.wait_states(rid, ["TASK_RUNNING"], timeout=60)
        version, states = self.record_version(rid)
        self.assertEqual(states[-2:], ["TASK_STARTING", "TASK_RUNNING"], states)
        self.assertEqual(version, 3, "STARTING and RUNNING stored apart (states %s)" % states)

    def test_lost_agent(self):
        self.start()
        self.request("lose", ports=0)
        self.pending("lose")
        self.wait_states("lose", ["TASK_RUNNING"])
        agent = self.tasks("lose")[0]["agentId"]
        self.ml("/agents/%s/remove" % agent)
        harness.wait_until(
            lambda: self.states("lose")[0] in ("TASK_UNREACHABLE", "TASK_LOST", "TASK_GONE",
                                               "TASK_GONE_BY_OPERATOR"),
            40, "task on the lost agent reported (now %s)" % self.states("lose"))


if __name__ == "__main__":
    harness.main()
