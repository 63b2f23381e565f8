"""mesoslite SIGKILLed with tasks running: nothing runs twice.

A task's processes live in the task's own session (its leader's, as a Mesos
agent's launcher gives it). When mesoslite dies, the leader dies with it
(PR_SET_PDEATHSIG); the rest of the task may outlive it, but the next
mesoslite on the same work dir kills every leftover it recorded (pid files
under <work_dir>/meta/pids, checked against /proc start times) before it
serves anything: background children, grandchildren in their own process
group, and a daemon that started its own session. A pid file naming a pid
some unrelated process now holds kills nothing, and two mesoslites never
share a work dir.
"""
import os
import signal
import subprocess
import sys
import time

import harness
from test_mesoslite import Scheduler, task

WORKER = ("sleep 1000 & echo $! > bg.pid; "
          # a grandchild that made its own process group (as corral-executor
          # does for its task)
          "python3 -c 'import os,time; os.setpgid(0,0); "
          "open(\"pg.pid\",\"w\").write(str(os.getpid())); time.sleep(1000)' & "
          # a daemon: its own session
          "setsid sh -c 'echo $$ > escaped.pid; exec sleep 1000' & "
          "wait")


def stat(pid):
    """(state, start time) of pid, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[19])


def alive(pid):
    st = stat(pid)
    return st is not None and st[0] != "Z"


def read(path):
    with open(path) as f:
        return f.read().strip()


class KillTest(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.watched = {}  # pid -> start time: killed at cleanup if still there
        self.addCleanup(self.kill_watched)

    def kill_watched(self):
        """No test leaves processes behind: whatever we watched and is still
        the same process (same start time) is killed."""
        for pid, start in self.watched.items():
            st = stat(pid)
            if st and st[1] == start:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def watch(self, pid):
        st = stat(pid)
        self.assertIsNotNone(st, "pid %d" % pid)
        self.watched[pid] = st[1]
        return pid

    def mesoslite(self):
        c = self.cluster
        url = c.mesoslite(agents=1, racks=None, args=["--allocation-interval", "0.1"])
        return url, c.procs[-1]

    def sandbox(self, s, offer, tid):
        return os.path.join(self.cluster.tmpdir, "mesos", "slaves", offer["agent_id"]["value"],
                            "frameworks", s.fid, "executors", tid, "runs", "latest")

    def test_leftovers_killed_on_restart(self):
        url, proc = self.mesoslite()
        s = Scheduler(url)
        self.addCleanup(s.close)
        o = s.offers()[0]
        s.launch(o, [task(o, "worker", WORKER)])
        for state in ("TASK_STARTING", "TASK_RUNNING"):
            st = s.stream.update("worker", state)
            s.ack(st)
        leader = self.watch(st["container_status"]["executor_pid"])
        box = self.sandbox(s, o, "worker")
        pids = [leader]
        for name in ("bg.pid", "pg.pid", "escaped.pid"):
            f = os.path.join(box, name)
            pids.append(self.watch(int(harness.wait_until(lambda: os.path.exists(f) and read(f),
                                                          10, name))))
        self.assertTrue(all(alive(p) for p in pids))
        # the leader leads its own session; the others are in it, except the daemon
        self.assertEqual(os.getsid(leader), leader)
        self.assertEqual(os.getsid(pids[1]), leader)
        self.assertEqual(os.getsid(pids[2]), leader)
        self.assertNotEqual(os.getpgid(pids[2]), leader)
        self.assertNotEqual(os.getsid(pids[3]), leader)
        pidfiles = os.listdir(os.path.join(self.cluster.tmpdir, "mesos", "meta", "pids"))
        self.assertEqual(pidfiles, [str(leader)])

        # SIGKILL mesoslite alone: the leader goes with it (PDEATHSIG)
        s.close()
        os.kill(proc.pid, signal.SIGKILL)
        proc.popen.wait(10)
        harness.wait_until(lambda: not alive(leader), 10, "task leader killed with mesoslite")

        # the next mesoslite on the work dir kills the rest before serving
        url2, proc2 = self.mesoslite()
        harness.wait_until(lambda: not any(alive(p) for p in pids), 10,
                           "leftovers killed by the next mesoslite")
        self.assertIn("left over by a previous mesoslite", proc2.log())
        self.assertEqual(os.listdir(os.path.join(self.cluster.tmpdir, "mesos", "meta", "pids")), [])
        # and it works: a new framework gets offers
        s2 = Scheduler(url2)
        self.addCleanup(s2.close)
        self.assertTrue(s2.offers())

    def test_recycled_pid_is_not_killed(self):
        """A pid file whose pid now belongs to a process with another start
        time (the number was reused) kills nothing."""
        work = os.path.join(self.cluster.tmpdir, "mesos")
        other = subprocess.Popen(["sleep", "1000"], start_new_session=True)
        self.addCleanup(other.wait)
        self.addCleanup(other.kill)
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        os.makedirs(os.path.join(work, "meta", "pids"))
        start = stat(other.pid)[1]
        with open(os.path.join(work, "meta", "pids", str(other.pid)), "w") as f:
            f.write("%d %d %s %s\n" % (other.pid, start - 1, boot, os.path.join(work, "gone")))
        self.mesoslite()
        self.assertTrue(alive(other.pid))
        self.assertEqual(os.listdir(os.path.join(work, "meta", "pids")), [])

    def test_work_dir_is_not_shared(self):
        url, proc = self.mesoslite()
        r = subprocess.run([os.path.join(harness.BIN, "mesoslite"), "--listen",
                            "127.0.0.1:%d" % harness.free_port(), "--agents", "1", "--work-dir",
                            os.path.join(self.cluster.tmpdir, "mesos")],
                           capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("is in use by another mesoslite (pid %d)" % proc.pid, r.stderr)
        self.assertEqual(harness.http("GET", url + "/health")[0], 200)


if __name__ == "__main__":
    harness.main()
