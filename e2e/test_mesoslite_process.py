"""mesoslite's real agents: a command task's environment, sandbox and /files,
exit codes, kill policy (SIGTERM then SIGKILL), and no process left behind
when mesoslite stops."""

import json
import os
import signal
import unittest
import urllib.parse

import harness
from test_mesoslite import MesosliteCase, load_transcript, task


def read(path):
    with open(path) as f:
        return f.read()


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


class ProcessTest(MesosliteCase):
    # The transcript's agent ran with a minimal environment: give the same.
    extra = ["--allocation-interval", "0.1", "--update-retry-interval", "0.5",
             "--executor-environment-variables",
             json.dumps({"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"})]

    def run_to_end(self, s, tid):
        """Acks every update of tid until a terminal one, which it returns."""
        while True:
            st = s.stream.update(tid, timeout=15)
            s.ack(st)
            if st["state"] not in ("TASK_STARTING", "TASK_RUNNING", "TASK_KILLING"):
                return st

    def files(self, offer, what, **q):
        url = "http://127.0.0.1:%d/files/%s?%s" % (offer["url"]["address"]["port"], what,
                                                    urllib.parse.urlencode(q))
        return harness.http("GET", url)

    def test_environment_sandbox_and_files(self):
        tr = load_transcript("launch-reconcile-kill-files.json")
        s = self.sched()
        o = s.offers()[0]
        s.launch(o, [task(o, "envtask", "env | sort; echo oops >&2", ports=[31000],
                          env={"PORT0": "31000"})])
        st = self.run_to_end(s, "envtask")
        self.assertEqual(st["state"], "TASK_FINISHED")
        agent = o["agent_id"]["value"]
        virt = "/frameworks/%s/executors/envtask/runs/latest" % s.fid
        code, hdrs, body = self.files(o, "browse", path=virt)
        self.assertEqual(code, 200)
        listing = json.loads(body)
        self.assertEqual([os.path.basename(e["path"]) for e in listing], ["stderr", "stdout"])
        self.assertEqual(sorted(listing[0].keys()), sorted(tr["files_browse"][0].keys()))
        self.assertEqual(listing[1]["mode"], "-rw-r--r--")
        code, _, body = self.files(o, "read", path=virt + "/stdout", offset=0)
        got = json.loads(body)
        self.assertEqual(got["offset"], 0)
        env = dict(line.split("=", 1) for line in got["data"].splitlines() if "=" in line)
        want = dict(line.split("=", 1) for line in tr["files_read_stdout"]["data"].splitlines())
        self.assertEqual(sorted(env.keys()), sorted(want.keys()))
        sandbox = os.path.join(self.cluster.tmpdir, "mesos", "slaves", agent, "frameworks", s.fid,
                               "executors", "envtask", "runs")
        container = [d for d in os.listdir(sandbox) if d != "latest"][0]
        self.assertEqual(env["MESOS_DIRECTORY"], os.path.join(sandbox, container))
        self.assertEqual(env["MESOS_SANDBOX"], env["MESOS_DIRECTORY"])
        self.assertEqual(env["PWD"], env["MESOS_DIRECTORY"])
        self.assertEqual(env["MESOS_EXECUTOR_ID"], "envtask")
        self.assertEqual(env["MESOS_FRAMEWORK_ID"], s.fid)
        self.assertEqual(env["MESOS_SLAVE_ID"], agent)
        self.assertEqual(env["MESOS_ALLOCATION_ROLE"], "*")
        self.assertEqual(env["MESOS_CHECKPOINT"], "1")
        self.assertEqual(env["PORT0"], "31000")
        self.assertEqual(env["LIBPROCESS_PORT"], "0")
        self.assertEqual(container, st["container_status"]["container_id"]["value"])
        # offset=-1: the size; a byte range; stderr; download.
        size = len(got["data"].encode())
        code, _, body = self.files(o, "read", path=virt + "/stdout", offset=-1)
        self.assertEqual(json.loads(body), {"data": "", "offset": size})
        code, _, body = self.files(o, "read", path=virt + "/stdout", offset=5, length=10)
        self.assertEqual(json.loads(body), {"data": got["data"][5:15], "offset": 5})
        code, _, body = self.files(o, "read", path=virt + "/stderr", offset=0)
        self.assertEqual(json.loads(body)["data"], "oops\n")
        code, hdrs, body = self.files(o, "download", path=virt + "/stdout")
        self.assertEqual((code, body.decode()), (200, got["data"]))
        self.assertTrue(hdrs["content-disposition"].startswith("attachment"))
        code, _, body = self.files(o, "read", path=os.path.join(sandbox, container, "stdout"), offset=0)
        self.assertEqual(json.loads(body)["data"], got["data"])  # host path works too
        # Paths outside the sandboxes: 404, empty body, as the transcript shows.
        for bad in ("/etc/passwd", virt + "/../../../../../../../../etc/passwd",
                    os.path.join(self.cluster.tmpdir, "mesoslite.log"), "/frameworks/../../x"):
            code, _, body = self.files(o, "read", path=bad, offset=0)
            self.assertEqual((code, body), (tr["files_read_escape"]["status"], b""), bad)
        code, _, _ = self.files(o, "browse", path="/")
        self.assertEqual(code, 404)
        code, _, _ = self.files(o, "download", path=virt)
        self.assertEqual(code, 400)

    def test_exit_codes_and_signals(self):
        s = self.sched()
        o = s.offers()[0]
        s.launch(o, [task(o, "ok", "true"), task(o, "three", "exit 3"),
                     task(o, "sig", "kill -9 $$"),
                     task(o, "argv", "/bin/sh", shell=False, arguments=["sh", "-c", "exit 4"])])
        want = {"ok": ("TASK_FINISHED", "Command exited with status 0"),
                "three": ("TASK_FAILED", "Command exited with status 3"),
                "sig": ("TASK_FAILED", "Command terminated with signal Killed"),
                "argv": ("TASK_FAILED", "Command exited with status 4")}
        for tid, (state, msg) in want.items():
            st = self.run_to_end(s, tid)
            self.assertEqual((st["state"], st["message"]), (state, msg), tid)

    def test_kill_policy_term_then_kill(self):
        s = self.sched()
        o = s.offers()[0]
        # Ignores SIGTERM (records it): only SIGKILL after the grace period ends it.
        cmd = "trap 'echo TERM >> term.log' TERM; touch ready; while true; do sleep 0.05; done"
        s.launch(o, [task(o, "stubborn", cmd, kill_grace_ns=100 * 10**9),
                     task(o, "polite", "trap 'exit 0' TERM; touch ready; while true; do sleep 0.05; done")])
        for tid in ("stubborn", "polite"):
            for state in ("TASK_STARTING", "TASK_RUNNING"):
                s.ack(s.stream.update(tid, state))
            ready = os.path.join(self.cluster.tmpdir, "mesos", "slaves", o["agent_id"]["value"],
                                 "frameworks", s.fid, "executors", tid, "runs", "latest", "ready")
            harness.wait_until(lambda: os.path.exists(ready), 10, tid + " trapped SIGTERM")
        # KILL's kill_policy (0.5 s) overrides the TaskInfo's 100 s.
        s.call("KILL", {"task_id": {"value": "stubborn"},
                        "kill_policy": {"grace_period": {"nanoseconds": 500 * 10**6}}})
        s.call("KILL", {"task_id": {"value": "polite"}})
        st = self.run_to_end(s, "stubborn")
        self.assertEqual((st["state"], st["message"]), ("TASK_KILLED", "Command terminated with signal Killed"))
        sandbox = os.path.join(self.cluster.tmpdir, "mesos", "slaves", o["agent_id"]["value"],
                               "frameworks", s.fid, "executors", "stubborn", "runs", "latest")
        with open(os.path.join(sandbox, "term.log")) as f:
            self.assertIn("TERM", f.read())
        st = self.run_to_end(s, "polite")
        self.assertEqual((st["state"], st["message"]), ("TASK_KILLED", "Command exited with status 0"))

    def test_group_is_killed_with_the_task(self):
        s = self.sched()
        o = s.offers()[0]
        s.launch(o, [task(o, "forker", "sleep 1000 & echo $! > child.pid; exit 2")])
        st = self.run_to_end(s, "forker")
        self.assertEqual(st["state"], "TASK_FAILED")
        sandbox = os.path.join(self.cluster.tmpdir, "mesos", "slaves", o["agent_id"]["value"],
                               "frameworks", s.fid, "executors", "forker", "runs", "latest")
        with open(os.path.join(sandbox, "child.pid")) as f:
            child = int(f.read())
        harness.wait_until(lambda: not alive(child), 10, "background child killed")


    def test_fetcher_uris(self):
        import tarfile
        src = os.path.join(self.cluster.tmpdir, "art")
        os.makedirs(src)
        with open(os.path.join(src, "tool.sh"), "w") as f:
            f.write("#!/bin/sh\necho tool ran\n")
        with open(os.path.join(src, "conf.txt"), "w") as f:
            f.write("a=1\n")
        with tarfile.open(os.path.join(src, "bundle.tar.gz"), "w:gz") as tf:
            tf.add(os.path.join(src, "conf.txt"), arcname="inner/conf.txt")
        s = self.sched()
        o = s.offers()[0]
        t = task(o, "fetched", "./tool.sh && cat inner/conf.txt conf/copy.txt")
        t["command"]["uris"] = [
            {"value": os.path.join(src, "tool.sh"), "executable": True},
            {"value": "file://" + os.path.join(src, "bundle.tar.gz")},
            {"value": os.path.join(src, "conf.txt"), "extract": False, "output_file": "conf/copy.txt"}]
        bad = task(o, "unfetchable", "true")
        bad["command"]["uris"] = [{"value": "/no/such/file"}]
        s.launch(o, [t, bad])
        st = self.run_to_end(s, "fetched")
        self.assertEqual(st["state"], "TASK_FINISHED")
        code, _, body = self.files(o, "read", path="/frameworks/%s/executors/fetched/runs/latest/stdout" % s.fid,
                                   offset=0)
        self.assertEqual(json.loads(body)["data"], "tool ran\na=1\na=1\n")
        st = s.stream.update("unfetchable")
        self.assertEqual((st["state"], st["reason"], st["source"]),
                         ("TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED", "SOURCE_AGENT"))
        self.assertTrue(st["message"].startswith("Failed to fetch all URIs for container"))


class PortsTest(harness.TestCase):
    def test_real_agents_on_one_host_offer_disjoint_ports(self):
        """Real agents share 127.0.0.1: two offering one port would hand two
        tasks the same port, so the default range is split between them."""
        import json

        def ranges(url):
            st = json.loads(harness.http("GET", url + "/master/state")[2])
            out = []
            for a in st["slaves"]:
                for r in a["resources"]["ports"].strip("[]").split(","):
                    lo, hi = r.strip().split("-")
                    out.append((int(lo), int(hi)))
            return sorted(out)

        rs = ranges(self.cluster.mesoslite(agents=3))
        self.assertEqual(len(rs), 3)
        self.assertEqual(rs[0][0], 31000)
        for (lo1, hi1), (lo2, hi2) in zip(rs, rs[1:]):
            self.assertLess(hi1, lo2, rs)
        self.assertLessEqual(rs[-1][1], 32000)


class StopTest(harness.TestCase):
    def test_bad_flags_exit_with_a_clear_error(self):
        import socket
        import subprocess
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        self.addCleanup(busy.close)
        port = busy.getsockname()[1]
        for args, msg in ((["--agents", "1"], "--work-dir is required"),
                          (["--simulate", "--agent-resources", "cpus:x"], "--agent-resources: resources 'cpus': bad number 'x'"),
                          (["--simulate", "--executor-environment-variables", "[1]"], "--executor-environment-variables"),
                          (["--simulate", "--listen", "127.0.0.1:%d" % port], "cannot listen on 127.0.0.1:%d" % port)):
            r = subprocess.run([os.path.join(harness.BIN, "mesoslite")] + args, capture_output=True, text=True,
                               timeout=10)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn(msg, r.stderr, args)

    def test_no_orphans_after_sigterm(self):
        from test_mesoslite import Scheduler
        port = harness.free_port()
        url = "http://127.0.0.1:%d" % port
        proc = self.cluster.spawn("mesoslite", [os.path.join(harness.BIN, "mesoslite"), "--listen",
                                                "127.0.0.1:%d" % port, "--agents", "2", "--work-dir",
                                                os.path.join(self.cluster.tmpdir, "mesos")])
        harness.wait_until(lambda: harness.http("GET", url + "/master/state", timeout=1)[0] == 200,
                           15, "mesoslite")
        s = Scheduler(url)
        pids = []
        offers = s.offers(n=2)
        for i, o in enumerate(offers):
            # A background child in the task's group, and one that escapes
            # into its own session (as a daemon would).
            s.launch(o, [task(o, "t%d" % i, "trap '' TERM; sleep 1000 & echo $! > bg.pid; "
                                             "setsid sh -c 'echo $$ > escaped.pid; exec sleep 1000' & "
                                             "sleep 1000")])
        for i in range(2):
            for state in ("TASK_STARTING", "TASK_RUNNING"):
                st = s.stream.update("t%d" % i, state)
                s.ack(st)
            pids.append(st["container_status"]["executor_pid"])
        for i, o in enumerate(offers):
            f = os.path.join(self.cluster.tmpdir, "mesos", "slaves", o["agent_id"]["value"], "frameworks",
                             s.fid, "executors", "t%d" % i, "runs", "latest", "bg.pid")
            pids.append(int(harness.wait_until(lambda: read(f).strip(), 10, "bg.pid")))
            esc = os.path.join(os.path.dirname(f), "escaped.pid")
            pids.append(int(harness.wait_until(lambda: read(esc).strip(), 10, "escaped.pid")))
        self.assertTrue(all(alive(p) for p in pids))
        proc.signal(signal.SIGTERM)
        self.assertEqual(proc.popen.wait(15), 0)
        s.stream.wait_closed()
        s.close()
        harness.wait_until(lambda: not any(alive(p) for p in pids), 10, "every task process gone")


if __name__ == "__main__":
    unittest.main()
