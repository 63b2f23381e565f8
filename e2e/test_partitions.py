"""Partitions and master failover (issue 24), through real etcd, corrald and
mesoslite running real processes, with mesoslite's faults:

- the master restarts with its registry lost and the agents re-register
  20 s later: reconciliation answers TASK_UNKNOWN meanwhile; no healthy task
  is killed or replaced, every original process keeps running and the same
  tasks are RUNNING again afterwards;
- an agent is partitioned and comes back after 10 s: its task is held
  (TASK_UNREACHABLE), a replacement runs meanwhile, and afterwards exactly
  `instances` tasks run, the original kept (it is healthy) and the surplus
  replacement killed;
- a task held past its time is given up (history), and when its agent is
  back it is the same task: its record returns from history, not killed as
  unknown;
- a job's task on a partitioned agent is held: its run never runs twice;
- agents that never come back: a task held past the request's
  unreachableTimeoutSeconds is given up (history, TASK_UNREACHABLE), one
  mesoslite reports TASK_GONE is given up at once; both replaced.

docs/mesosbridge.md ("Partitions and master failover") has the rules.
"""
import json
import os

import harness

PREFIX = "/corral"
ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]
SLEEPER = "echo $$ > %(dir)s/$TASK_ID.pid; exec sleep 3600"


class T(harness.TestCase):

    # -- helpers ------------------------------------------------------------

    def start(self, agents, corrald_args=None):
        c = self.cluster
        c.etcd()
        base = harness.free_port_range(100)
        res = "cpus:8;mem:8192;disk:65536;ports:[%d-%d]" % (base, base + 99)
        c.mesoslite(agents=agents, racks="r1,r2", faults=True,
                    args=ML_ARGS + ["--agent-resources", res])
        self.api = c.corrald(args=corrald_args)
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30,
                           "framework id stored")
        self.piddir = os.path.join(c.tmpdir, "pids")
        os.makedirs(self.piddir, exist_ok=True)
        return c

    def put(self, key, obj):
        self.cluster.etcdctl("put", key, json.dumps(obj))

    def service(self, rid, instances, **extra):
        req = {"id": rid, "requestType": "SERVICE", "instances": instances}
        req.update(extra)
        self.put("%s/requests/%s" % (PREFIX, rid), req)
        self.put("%s/deploys/%s/v1" % (PREFIX, rid),
                 {"requestId": rid, "id": "v1", "command": SLEEPER % {"dir": self.piddir},
                  "resources": {"cpus": 0.05, "memoryMb": 16, "numPorts": 0},
                  "considerHealthyAfterRunningForSeconds": 1})

    def tasks(self, rid):
        """{taskId: record} of tasks/<rid>/."""
        return {k.rsplit("/", 1)[1]: v for k, v in
                self.cluster.etcd_prefix_json("%s/tasks/%s/" % (PREFIX, rid)).items()}

    def history(self, rid):
        return {k.rsplit("/", 1)[1]: v for k, v in
                self.cluster.etcd_prefix_json("%s/history/tasks/%s/" % (PREFIX, rid)).items()}

    def cleanups(self):
        return {k.rsplit("/", 1)[1] for k in
                self.cluster.etcd_prefix_json(PREFIX + "/cleanups/")}

    def pending(self, rid):
        return self.cluster.etcd_prefix_json("%s/pending/%s/" % (PREFIX, rid))

    def healthy(self, rid):
        st = self.cluster.etcd_get_json("%s/status/requests/%s" % (PREFIX, rid)) or {}
        return (st.get("counts") or {}).get("healthy", 0)

    def running(self, rid):
        return {t: r for t, r in self.tasks(rid).items() if r["lastTaskState"] == "TASK_RUNNING"}

    def wait_healthy(self, rid, n, timeout=60):
        harness.wait_until(lambda: self.healthy(rid) == n and len(self.running(rid)) == n,
                           timeout, "%d healthy tasks of %s (now %d healthy, tasks %s)"
                           % (n, rid, self.healthy(rid),
                              {t: r["lastTaskState"] for t, r in self.tasks(rid).items()}))
        return self.running(rid)

    def pid(self, task_id):
        with open(os.path.join(self.piddir, task_id + ".pid")) as f:
            return int(f.read().strip())

    @staticmethod
    def alive(pid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().split(") ", 1)[1][0] != "Z"
        except (FileNotFoundError, ProcessLookupError):
            return False

    def fault(self, path, **q):
        qs = "&".join("%s=%s" % kv for kv in q.items())
        code, body = harness.http_json(
            "POST", self.cluster.mesos_url + "/__ml/" + path + ("?" + qs if qs else ""), b"")
        self.assertEqual(code, 200, body)
        return body

    @staticmethod
    def states(rec):
        return [u["taskState"] for u in rec.get("taskUpdates", [])]

    # -- tests --------------------------------------------------------------

    def test_master_restart_with_registry_lost(self):
        self.start(agents=2)
        self.service("web", 2)
        originals = self.wait_healthy("web", 2)
        pids = {t: self.pid(t) for t in originals}
        self.fault("master/restart", reregister_ms=20000)

        broken = []  # wait_until retries on exceptions: keep every violation

        def check_and_done():
            # at every look: nothing killed, replaced or archived, and every
            # original process runs: never below the healthy count
            tasks = self.tasks("web")
            if set(tasks) != set(originals):
                broken.append("tasks replaced or archived: %s" % sorted(tasks))
            if self.pending("web"):
                broken.append("a replacement was asked for: %s" % sorted(self.pending("web")))
            if self.cleanups() & set(originals):
                broken.append("a kill was asked for: %s" % (self.cleanups() & set(originals)))
            if self.history("web"):
                broken.append("archived: %s" % sorted(self.history("web")))
            for t, p in pids.items():
                if not self.alive(p):
                    broken.append("task %s's process was killed" % t)
            if self.healthy("web") < 2:
                broken.append("status counts.healthy %d < 2" % self.healthy("web"))
            if broken:
                return True  # stop polling; reported below
            back = all(r["lastTaskState"] == "TASK_RUNNING" and "TASK_UNKNOWN" in self.states(r)
                       for r in tasks.values())
            return back and self.healthy("web") == 2

        harness.wait_until(check_and_done, 120,
                           "the original tasks RUNNING again after TASK_UNKNOWN (now %s)"
                           % {t: self.states(r)[-3:] for t, r in self.tasks("web").items()})
        self.assertEqual(broken, [])
        for r in self.tasks("web").values():
            seq = self.states(r)
            # held while the master did not know them, then the same task again
            self.assertLess(seq.index("TASK_UNKNOWN"), len(seq) - 1)
            self.assertEqual(seq[-1], "TASK_RUNNING")

    def test_partition_healed_after_10s(self):
        self.start(agents=3)
        self.service("web", 2, agentPlacement="SEPARATE")
        originals = self.wait_healthy("web", 2)
        victim = sorted(originals)[0]
        agent = originals[victim]["agentId"]
        self.fault("agents/%s/remove" % agent, restore_after_ms=10000)

        # held, not archived; a replacement for its slot is launched elsewhere
        def replacement():
            rec = self.tasks("web").get(victim) or {}
            if victim in self.history("web"):
                return "given up"
            extra = set(self.tasks("web")) | set(self.history("web"))
            extra -= set(originals)
            return "TASK_UNREACHABLE" in self.states(rec) and extra
        extra = harness.wait_until(replacement, 60, "the victim held and a replacement launched")
        self.assertNotEqual(extra, "given up", "the held task was archived")

        # healed: the original comes back RUNNING; exactly 2 tasks run after,
        # the originals (healthy), and the replacement is killed
        def settled():
            running = self.running("web")
            return (set(running) == set(originals) and len(self.tasks("web")) == 2 and
                    self.healthy("web") == 2 and running)
        harness.wait_until(settled, 90, "the originals kept, exactly 2 tasks (now %s)"
                           % {t: r["lastTaskState"] for t, r in self.tasks("web").items()})
        for t in originals:
            self.assertTrue(self.alive(self.pid(t)), "original %s was killed" % t)
        self.assertIn("TASK_UNREACHABLE", self.states(self.tasks("web")[victim]))
        for t in extra:
            harness.wait_until(lambda: t in self.history("web"), 30, "replacement archived")
            self.assertIn(self.history("web")[t]["lastTaskState"],
                          ("TASK_KILLED", "TASK_FAILED"))
            if os.path.exists(os.path.join(self.piddir, t + ".pid")):
                harness.wait_until(lambda: not self.alive(self.pid(t)), 30,
                                   "the replacement's process ended")

    def test_given_up_then_back_is_the_same_task(self):
        # held for 2 s only: given up (history) long before the agent is back
        self.start(agents=3)
        self.service("web", 2, agentPlacement="SEPARATE", unreachableTimeoutSeconds=2)
        originals = self.wait_healthy("web", 2)
        victim = sorted(originals)[0]
        self.fault("agents/%s/remove" % originals[victim]["agentId"], restore_after_ms=8000)
        h = harness.wait_until(lambda: self.history("web").get(victim), 60, "the victim given up")
        self.assertEqual(h["lastTaskState"], "TASK_UNREACHABLE")

        # back RUNNING: its record returns from history (not killed as an
        # unknown task); the healthy original is kept, the replacement goes
        def settled():
            running = self.running("web")
            return (set(running) == set(originals) and len(self.tasks("web")) == 2 and
                    victim not in self.history("web") and self.healthy("web") == 2 and running)
        harness.wait_until(settled, 90, "the original back from history (now %s)"
                           % {t: r["lastTaskState"] for t, r in self.tasks("web").items()})
        self.assertTrue(self.alive(self.pid(victim)))
        seq = self.states(self.tasks("web")[victim])
        self.assertEqual(seq[-2:], ["TASK_UNREACHABLE", "TASK_RUNNING"])
        self.assertEqual(self.cleanups() & set(originals), set())

    def test_job_run_held_never_runs_twice(self):
        # a job's task on a partitioned agent is held: its run waits instead
        # of running a second copy, and goes on when the agent is back
        self.start(agents=2)
        self.put("%s/requests/od" % PREFIX, {"id": "od", "requestType": "ON_DEMAND",
                                             "instances": 1})
        self.put("%s/deploys/od/v1" % PREFIX,
                 {"requestId": "od", "id": "v1", "command": SLEEPER % {"dir": self.piddir},
                  "resources": {"cpus": 0.05, "memoryMb": 16}})
        # put straight into etcd: the API answers for it once its cache has it
        harness.wait_until(lambda: harness.http("GET", self.api + "/api/requests/request/od")[0]
                           == 200, 30, "the API sees request od")
        st, _, body = harness.http("POST", self.api + "/api/requests/request/od/run",
                                   json.dumps({"runId": "r1"}).encode(),
                                   {"Content-Type": "application/json"})
        self.assertEqual(st, 200, body)
        orig = harness.wait_until(lambda: self.running("od"), 60, "the run's task RUNNING")
        (tid, rec), = orig.items()
        self.fault("agents/%s/remove" % rec["agentId"], restore_after_ms=8000)
        broken = []

        def back():
            ids = set(self.tasks("od")) | set(self.history("od"))
            if ids != {tid} or self.pending("od"):
                broken.append("a second task for the run: %s, pending %s"
                              % (sorted(ids), sorted(self.pending("od"))))
                return True
            r = self.tasks("od")[tid]
            return "TASK_UNREACHABLE" in self.states(r) and r["lastTaskState"] == "TASK_RUNNING"
        harness.wait_until(back, 90, "the run's task back (now %s)"
                           % {t: self.states(r)[-2:] for t, r in self.tasks("od").items()})
        self.assertEqual(broken, [])
        self.assertTrue(self.alive(self.pid(tid)))

    def test_agents_gone_for_good(self):
        self.start(agents=4)
        self.service("web", 2, agentPlacement="SEPARATE", unreachableTimeoutSeconds=6)
        originals = self.wait_healthy("web", 2)
        held, gone = sorted(originals)
        # one agent never comes back (Corral gives its task up after 6 s);
        # the other never comes back either, and mesoslite reports its task
        # TASK_GONE after 2 s (given up at once)
        self.fault("agents/%s/remove" % originals[held]["agentId"])
        self.fault("agents/%s/remove" % originals[gone]["agentId"], gone_after_ms=2000)

        def replaced():
            h = self.history("web")
            running = self.running("web")
            return (held in h and gone in h and len(running) == 2 and
                    not set(running) & set(originals) and self.healthy("web") == 2 and h)
        h = harness.wait_until(replaced, 90, "both tasks given up and replaced (tasks %s)"
                               % {t: r["lastTaskState"] for t, r in self.tasks("web").items()})
        self.assertEqual(h[held]["lastTaskState"], "TASK_UNREACHABLE")
        self.assertEqual(h[gone]["lastTaskState"], "TASK_GONE")
        lost_agents = {originals[held]["agentId"], originals[gone]["agentId"]}
        for r in self.running("web").values():
            self.assertNotIn(r["agentId"], lost_agents)
        harness.wait_until(lambda: not self.alive(self.pid(gone)), 30,
                           "the gone agent's process ended")


if __name__ == "__main__":
    harness.main()
