"""Jobs end to end: real etcd, corrald (API, controllers, jobs manager, Mesos
bridge) and mesoslite running real processes.

Cron jobs, retries, on-demand runs, run-once deploys and a leader change
between fire times, checked through the documents the jobs controller
writes (docs/jobs.md): task records and history, job and run statuses.
"""
import datetime
import json
import os
import signal
import time
import unittest

import harness

PREFIX = "/corral"
ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]


class T(harness.TestCase):

    # -- helpers ------------------------------------------------------------

    def start(self, replicas=1, corrald_args=None):
        c = self.cluster
        c.etcd()
        c.mesoslite(agents=1, racks="r1", args=ML_ARGS)
        self.apis = [c.corrald(name="corrald%d" % i, args=corrald_args)
                     for i in range(replicas)]
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30,
                           "framework id stored")
        return c

    def put(self, key, obj):
        self.cluster.etcdctl("put", key, json.dumps(obj))

    def job(self, rid, rtype, command, **extra):
        r = {"id": rid, "requestType": rtype}
        r.update(extra)
        self.put("%s/requests/%s" % (PREFIX, rid), r)
        self.deploy(rid, "v1", command)

    def deploy(self, rid, did, command):
        self.put("%s/deploys/%s/%s" % (PREFIX, rid, did),
                 {"requestId": rid, "id": did, "command": command,
                  "resources": {"cpus": 0.05, "memoryMb": 16}})

    def history(self, rid):
        return list(self.cluster.etcd_prefix_json(
            "%s/history/tasks/%s/" % (PREFIX, rid)).values())

    def live(self, rid):
        return (list(self.cluster.etcd_prefix_json("%s/tasks/%s/" % (PREFIX, rid)).values()) +
                list(self.cluster.etcd_prefix_json("%s/pending/%s/" % (PREFIX, rid)).values()))

    def job_status(self, rid):
        return self.cluster.etcd_get_json("%s/status/jobs/%s" % (PREFIX, rid)) or {}

    def run_status(self, rid, run):
        return self.cluster.etcd_get_json("%s/status/runs/%s/%s" % (PREFIX, rid, run)) or {}

    def log_lines(self, path):
        try:
            with open(path) as f:
                return [line.split() for line in f if line.strip()]
        except OSError:
            return []

    # -- tests ----------------------------------------------------------------

    def test_cron_runs_repeatedly_without_overlap(self):
        """A 3-second quartz schedule and a job that runs 5 s: it runs again
        and again, never two at once; the fires it outlasts are skipped."""
        self.start()
        log = os.path.join(self.cluster.tmpdir, "cron.log")
        self.job("cron", "SCHEDULED",
                 "echo start $(date +%%s%%N) >> %s; sleep 5; echo end $(date +%%s%%N) >> %s"
                 % (log, log),
                 schedule="*/3 * * * * ?", scheduleType="QUARTZ")
        harness.wait_until(lambda: len(self.history("cron")) >= 3, 90,
                           "three finished runs of cron")
        lines = self.log_lines(log)
        self.assertGreaterEqual(len(lines), 6)
        depth = 0
        for kind, _ in lines:  # appended in time order: start/end must alternate
            depth += 1 if kind == "start" else -1
            self.assertIn(depth, (0, 1), "two runs overlapped: %s" % lines)
        js = self.job_status("cron")
        self.assertGreaterEqual(js["missedRuns"], 2)
        self.assertEqual(js["lastMissedReason"], "Overlap")
        for t in self.history("cron"):
            self.assertEqual(t["lastTaskState"], "TASK_FINISHED")
            self.assertEqual(t["pendingTask"]["pendingTaskId"]["nextRunAt"] % 3000, 0)

    def test_failing_job_is_retried_twice_then_stops(self):
        """numRetriesOnFailure 2: one fire, three failing tasks, then no more."""
        self.start()
        at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=4)
        once = "%d %d %d %d %d ? %d" % (at.second, at.minute, at.hour, at.day, at.month, at.year)
        self.job("fail", "SCHEDULED", "exit 3", schedule=once, scheduleType="QUARTZ",
                 numRetriesOnFailure=2)
        harness.wait_until(lambda: self.job_status("fail").get("runsFailed") == 1, 60,
                           "the run failed after its retries")
        hist = self.history("fail")
        self.assertEqual(len(hist), 3)
        self.assertEqual(sorted(t["pendingTask"]["pendingTaskId"]["pendingType"] for t in hist),
                         ["RETRY", "RETRY", "TASK_DONE"])
        for t in hist:
            self.assertEqual(t["lastTaskState"], "TASK_FAILED")
            self.assertEqual(t.get("exitCode"), 3)
        js = self.job_status("fail")
        self.assertEqual(js["lastRun"]["attempt"], 3)
        self.assertFalse(js["lastRun"]["retried"])
        self.assertEqual(js["nextFireAt"], -1)  # the year has no other fire
        self.assertEqual(self.live("fail"), [])
        status = self.cluster.etcd_get_json("%s/status/requests/fail" % PREFIX)
        self.assertEqual(status["state"], "FINISHED")

    def test_on_demand_runs_record_their_results(self):
        """Three runs with different args through the API: three results by
        run id, with exit code, duration and final state."""
        self.start()
        self.job("od", "ON_DEMAND", "exit", instances=1)
        api = self.apis[0]
        for run, arg in (("a", "0"), ("b", "1"), ("c", "2")):
            st, _, body = harness.http(
                "POST", api + "/api/requests/request/od/run",
                json.dumps({"runId": run, "commandLineArgs": [arg]}).encode(),
                {"Content-Type": "application/json"})
            self.assertEqual(st, 200, body)
        harness.wait_until(
            lambda: all(self.run_status("od", r).get("state") in ("SUCCEEDED", "FAILED")
                        for r in "abc"), 60, "three runs ended")
        for run, code, state in (("a", 0, "SUCCEEDED"), ("b", 1, "FAILED"), ("c", 2, "FAILED")):
            rs = self.run_status("od", run)
            self.assertEqual(rs["state"], state)
            self.assertEqual(rs["result"]["exitCode"], code)
            self.assertGreaterEqual(rs["result"]["durationMillis"], 0)
            self.assertEqual(rs["result"]["runId"], run)
        self.assertEqual(len(self.history("od")), 3)

    def test_run_once_deploy_runs_one_task(self):
        """Each RUN_ONCE deploy launches exactly one task, never restarted."""
        self.start()
        self.job("once", "RUN_ONCE", "exit 1")
        harness.wait_until(lambda: len(self.history("once")) == 1, 60, "the run-once task ended")
        ds = self.cluster.etcd_get_json("%s/status/deploys/once/v1" % PREFIX)
        self.assertEqual(ds["state"], "SUCCEEDED")
        self.assertEqual(self.live("once"), [])
        self.deploy("once", "v2", "true")
        harness.wait_until(lambda: len(self.history("once")) == 2, 60, "v2's task ended")
        self.assertEqual(sorted(t["taskId"]["deployId"] for t in self.history("once")),
                         ["v1", "v2"])
        self.assertEqual(self.live("once"), [])

    def test_leader_killed_between_fires(self):
        """Two replicas; the leader dies between two fire times: every fire
        time is launched at most once, and runs go on under the new leader."""
        self.start(replicas=2, corrald_args=["--leader-lease-ttl", "3"])
        self.job("tick", "SCHEDULED", "true", schedule="*/2 * * * * ?", scheduleType="QUARTZ")
        harness.wait_until(lambda: len(self.history("tick")) >= 2, 60, "two runs")
        leader = self.cluster.etcd_get_json(PREFIX + "/leader") or {}
        victim = None
        for p in self.cluster.procs:
            if p.name.startswith("corrald") and getattr(p, "url", "").endswith(
                    str(leader.get("address", "")).split(":")[-1]):
                victim = p
        self.assertIsNotNone(victim, "leader %s among the replicas" % leader)
        before = len(self.history("tick"))
        victim.signal(signal.SIGKILL)
        harness.wait_until(lambda: len(self.history("tick")) >= before + 3, 60,
                           "runs under the new leader")
        fire_times = [t["pendingTask"]["pendingTaskId"]["nextRunAt"] for t in self.history("tick")
                      if t["pendingTask"]["pendingTaskId"]["pendingType"] == "TASK_DONE"]
        self.assertEqual(len(fire_times), len(set(fire_times)),
                         "a fire time ran twice: %s" % sorted(fire_times))
        self.assertTrue(all(f % 2000 == 0 for f in fire_times))


if __name__ == "__main__":
    harness.main()
