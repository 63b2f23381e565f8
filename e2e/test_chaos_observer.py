"""The chaos tester's capacity-floor check (e2e/chaos/chaos_observer.py),
fed snapshots by hand: its logic is pure once the master's state is given,
so the master is a stub here (the real one is used by test_chaos_short.py).

The case is the one the run at 21409d9 reported at +1334 s (docs/
reliability.md): a snapshot reads Mesos, then etcd; an agent came back
between the two reads and Corral killed the newer copy in each slot, so the
Mesos view still had the old copies unreachable while etcd already held the
kill intents of the new ones. Nothing was ever below the floor.
"""
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "chaos"))

import chaos  # noqa: E402,F401 (puts e2e/lib on the path)
import chaos_observer as co  # noqa: E402


class NoEtcd:
    """The violation report looks up kill intents; none are kept here."""

    def get(self, key):
        return None


class StubMaster:
    """The master's /master/state as read by read_mesos."""

    def __init__(self):
        self.running = []      # task ids
        self.unreachable = []  # task ids
        self.reads = 0
        self.etcd = NoEtcd()

    def mesos_state(self, timeout=3.0):
        self.reads += 1

        def task(tid):
            return {"id": tid, "state": "TASK_RUNNING", "slave_id": "a1",
                    "statuses": [{"state": "TASK_RUNNING", "timestamp": time.time() - 600}]}
        return {"slaves": [{"id": "a1"}],
                "frameworks": [{"id": "f1", "tasks": [task(t) for t in self.running],
                                "unreachable_tasks": [{"id": t, "slave_id": "a1"}
                                                      for t in self.unreachable],
                                "completed_tasks": []}]}


def tid(started, slot):
    return "r1-d1-%d-%d-127.0.0.1-r1" % (started, slot)


OLD1, OLD2, NEW1 = tid(100, 1), tid(100, 2), tid(200, 1)


class FloorCheck(unittest.TestCase):
    def setUp(self):
        self.master = StubMaster()
        self.know = co.Knowledge()
        self.know.add_deploy({"rid": "r1", "did": "d1", "kind": "ok", "rtype": "WORKER"})
        self.found = []
        self.logged = []
        self.obs = co.Observer(self.master, self.know, type("Cfg", (), {"check_floor": True}),
                               self.found.append, self.logged.append)

    def snapshot(self, running, unreachable, cleanups):
        self.master.running, self.master.unreachable = running, unreachable
        s = co.Snapshot()
        s.t = time.time()
        co.read_mesos(self.master, s)
        s.etcd_ok = True
        s.requests = {"r1": {"id": "r1", "instances": 2}}
        s.statuses = {"r1": {"activeDeployId": "d1"}}
        s.cleanups = set(cleanups)
        return s

    def test_an_agent_back_between_the_two_reads_is_no_dip(self):
        # OLD1's agent is lost; NEW1 replaced it in slot 1
        self.obs.check_floor(self.snapshot([OLD2, NEW1], [OLD1], []))
        self.assertEqual(self.obs.floor["r1"]["B"], 2)
        # the agent is back (OLD1 RUNNING again) and Corral condemned the
        # newer copy, NEW1; the snapshot read Mesos before the agent came
        # back and etcd after the kill intent was written
        s = self.snapshot([OLD2, NEW1], [OLD1], [NEW1])
        self.master.running, self.master.unreachable = [OLD1, OLD2, NEW1], []
        self.obs.check_floor(s)
        self.assertEqual(self.found, [])
        self.assertEqual(self.master.reads, 3, "Mesos read again before a dip is believed")
        self.assertIn("second Mesos read", self.logged[0])
        self.assertEqual(self.obs.floor["r1"]["N"], 2)

    def test_a_kill_of_the_only_task_in_a_slot_is_still_a_dip(self):
        self.obs.check_floor(self.snapshot([OLD1, OLD2], [], []))
        self.obs.check_floor(self.snapshot([OLD1, OLD2], [], [OLD1]))
        self.assertEqual(len(self.found), 1, self.found)
        v = self.found[0]
        self.assertEqual((v["invariant"], v["request"]), ("capacity-floor", "r1"))
        self.assertEqual(v["details"]["unexcused"], [OLD1])


if __name__ == "__main__":
    unittest.main(verbosity=2)
