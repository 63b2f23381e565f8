"""corral-executor against a fake agent endpoint (e2e/lib/exe_fakeagent.py):
the behaviours mesoslite cannot stage on demand (dropped subscriptions with
and without checkpointing, withheld acknowledgements, SHUTDOWN, the running
sentinel, the artifact cache), plus the artifact and kill scenarios as a
second, independent check of the wire protocol. S3 artifacts come from a
real S3-compatible server (s3rver, e2e/lib/s3rver.py; one for the class)."""

import json
import os
import shutil
import signal
import time
import unittest

import harness
import exe_cases
from exe_cases import b64, log_text, md5
from exe_fakeagent import FakeAgent, taskinfo
import s3rver


class Task:
    def __init__(self, tc, agent, task_id, sandbox, proc):
        self.tc, self.agent, self.task_id, self.sandbox, self.proc = tc, agent, task_id, sandbox, proc

    def wait_state(self, state, timeout=30):
        return self.agent.wait_state(state, timeout)

    def states(self):
        return self.agent.states()

    def kill(self, grace_ms=None):
        self.agent.kill(self.task_id, grace_ms)

    def wait_executor_exit(self, timeout=30):
        harness.wait_until(lambda: not self.proc.alive(), timeout, "executor exit")
        return self.proc.popen.returncode


class FakeBackend:
    def __init__(self, tc):
        self.tc = tc
        self.n = 0

    def start(self, executor_data, env=None, ports=0, request_id="svc", deploy_id="v1",
              checkpoint=False, agent=None, extra_env=None, kill_ms=None):
        tc = self.tc
        self.n += 1
        agent = agent or FakeAgent()
        tc.addCleanup(agent.stop)
        sandbox = os.path.join(tc.cluster.tmpdir, "sandbox%d" % self.n)
        os.makedirs(sandbox)
        env_all = agent.executor_env(sandbox, checkpoint=checkpoint)
        env_all.update(exe_cases.s3_env(tc.s3))
        env_all["CORRAL_EXECUTOR_CACHE_DIR"] = os.path.join(tc.cluster.tmpdir, "cache")
        env_all.update(extra_env or {})
        proc = tc.cluster.spawn("executor", [exe_cases.EXECUTOR, "--log-level", "debug"],
                                env=env_all, cwd=sandbox)
        agent.wait_subscribed()
        task_id = "%s-%s-%d-%d-host_1-r1" % (request_id, deploy_id, int(time.time() * 1000), self.n)
        ports_list = [harness.free_port() for _ in range(ports)]
        agent.launch(taskinfo(task_id, executor_data, env=env, ports=ports_list, kill_ms=kill_ms))
        t = Task(tc, agent, task_id, sandbox, proc)
        tc.addCleanup(lambda: exe_cases.kill_task_group(agent.update("TASK_RUNNING"), task_id))
        return t


class T(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = s3rver.for_class(cls, bucket="builds")

    def setUp(self):
        super().setUp()
        self.files = exe_cases.FileServer()
        self.addCleanup(self.files.stop)
        self.backend = FakeBackend(self)
        self.workdir = self.cluster.tmpdir

    def test_artifacts_and_env(self):
        t = exe_cases.artifacts_and_env(self)
        # Terminal update acknowledged: the executor exits 0.
        self.assertEqual(t.wait_executor_exit(), 0)
        # Updates arrived in order, each with a fresh uuid.
        uuids = [u["uuid"] for u in t.agent.updates]
        self.assertEqual(len(uuids), len(set(uuids)))

    def test_artifact_cache_avoids_second_download(self):
        s3rver.need(self)
        slug = exe_cases.targz({"a.txt": b"cached\n"})
        self.s3.put("builds", "c/slug.tgz", slug)
        before = self.s3.gets("c/slug.tgz")
        data = {"cmd": "cat a.txt", "s3Artifacts": [{"name": "slug", "filename": "slug.tgz",
                "s3Bucket": "builds", "s3ObjectKey": "c/slug.tgz", "md5sum": md5(slug)}]}
        t1 = self.backend.start(data)
        t1.wait_state("TASK_FINISHED", 60)
        t2 = self.backend.start(data)
        t2.wait_state("TASK_FINISHED", 60)
        self.assertIn("cached", log_text(t2.sandbox))
        self.assertEqual(self.s3.gets("c/slug.tgz") - before, 1)

    def test_bad_md5_fails(self):
        exe_cases.bad_md5_fails(self)

    def test_missing_s3_object_fails(self):
        exe_cases.missing_s3_object_fails(self)

    def test_download_timeout_fails_and_removes_partial_file(self):
        url = self.files.stall("/files/slow.bin")
        data = {"cmd": "true", "preserveTaskSandboxAfterFinish": True,
                "externalArtifacts": [{"name": "slow", "filename": "slow.bin", "url": url}]}
        t = self.backend.start(data, extra_env={"CORRAL_EXECUTOR_DOWNLOAD_TIMEOUT": "1secs"})
        st = t.wait_state("TASK_FAILED", 30)
        self.assertIn("artifact 'slow': download of url %s failed" % url, st["message"])
        self.assertIn("timed out", st["message"].lower())
        self.assertEqual(os.listdir(os.path.join(t.sandbox, "app")), [])

    def test_wrong_s3_credentials_fail(self):
        # s3rver refuses an access key it does not know (it does not
        # recompute signatures, so a wrong secret would pass).
        s3rver.need(self)
        self.s3.put("builds", "k.txt", b"x")
        data = {"cmd": "true", "s3Artifacts": [{"name": "k", "filename": "k.txt", "s3Bucket": "builds",
                                                "s3ObjectKey": "k.txt"}]}
        t = self.backend.start(data, extra_env={"AWS_ACCESS_KEY_ID": "NOT-A-KEY"})
        st = t.wait_state("TASK_FAILED", 60)
        self.assertIn("artifact 'k': download of s3 object k.txt failed: HTTP 403", st["message"])

    def test_sigterm_trap_gets_time(self):
        exe_cases.sigterm_trap_gets_time(self)

    def test_sigterm_ignored_gets_sigkill(self):
        exe_cases.sigterm_ignored_gets_sigkill(self)

    def test_kill_policy_of_kill_event_and_killing_state(self):
        data = {"cmd": "trap '' TERM; while true; do sleep 0.1; done"}
        t = self.backend.start(data)
        t.wait_state("TASK_RUNNING", 30)
        t.kill(grace_ms=500)   # the event's policy; no sigKillProcessesAfterMillis
        st = t.wait_state("TASK_KILLED", 30)
        self.assertIn("killed by signal 9", st["message"])
        # The framework has TASK_KILLING_STATE: TASK_KILLING came first.
        self.assertEqual(t.states()[-2:], ["TASK_KILLING", "TASK_KILLED"])

    def test_chatty_logs_rotate(self):
        exe_cases.chatty_logs_rotate(self)

    def test_partial_line_reaches_log(self):
        exe_cases.partial_line_reaches_log(self)

    def test_running_sentinel(self):
        data = {"cmd": "sleep 1; touch ready; sleep 30", "runningSentinel": "ready"}
        t = self.backend.start(data)
        t.wait_state("TASK_STARTING", 30)
        # RUNNING only once the file exists.
        st = t.wait_state("TASK_RUNNING", 30)
        self.assertEqual(st["message"], "running sentinel appeared")
        t.kill()
        t.wait_state("TASK_KILLED", 30)

    def test_invalid_executor_data_is_task_error(self):
        t = self.backend.start({"cmd": "true", "s3Artifacts": [{"filename": "x"}]})
        st = t.wait_state("TASK_ERROR", 30)
        self.assertIn("executorData.s3Artifacts[0].s3Bucket: required", st["message"])
        self.assertEqual(t.wait_executor_exit(), 0)

    def test_shutdown_kills_and_exits(self):
        t = self.backend.start({"cmd": "echo $$ > pid; sleep 60", "preserveTaskSandboxAfterFinish": True})
        t.wait_state("TASK_RUNNING", 30)
        pidfile = os.path.join(t.sandbox, "app", "pid")
        harness.wait_until(lambda: os.path.exists(pidfile) and open(pidfile).read().strip(), 10, "pid")
        pid = int(open(pidfile).read())
        t.agent.send({"type": "SHUTDOWN"})
        t.wait_state("TASK_KILLED", 30)
        self.assertEqual(t.wait_executor_exit(), 0)
        self.assertFalse(_alive(pid))

    def test_checkpoint_disconnect_keeps_task_and_resends_updates(self):
        data = {"cmd": "echo $$ > pid; sleep 3; exit 0", "preserveTaskSandboxAfterFinish": True}
        t = self.backend.start(data, checkpoint=True)
        t.wait_state("TASK_RUNNING", 30)
        pidfile = os.path.join(t.sandbox, "app", "pid")
        harness.wait_until(lambda: os.path.exists(pidfile) and open(pidfile).read().strip(), 10, "pid")
        pid = int(open(pidfile).read())
        # The agent goes away and stops acknowledging: the task keeps running.
        t.agent.auto_ack = False
        t.agent.disconnect()
        sub = t.agent.wait_subscribed(2, 15)
        self.assertTrue(_alive(pid))
        self.assertEqual(sub, {})  # everything so far was acknowledged
        # The task finishes while the agent withholds the ack; drop again.
        t.wait_state("TASK_FINISHED", 30)
        t.agent.disconnect()
        sub = t.agent.wait_subscribed(3, 15)
        unacked = [u["status"]["state"] for u in sub.get("unacknowledged_updates", [])]
        self.assertEqual(unacked, ["TASK_FINISHED"])
        self.assertTrue(t.proc.alive())  # still waiting for the ack
        t.agent.ack(t.agent.update("TASK_FINISHED"))
        self.assertEqual(t.wait_executor_exit(), 0)

    def test_disconnect_without_checkpoint_kills_and_exits(self):
        t = self.backend.start({"cmd": "echo $$ > pid; sleep 60", "preserveTaskSandboxAfterFinish": True,
                                "sigKillProcessesAfterMillis": 1000}, checkpoint=False)
        t.wait_state("TASK_RUNNING", 30)
        pidfile = os.path.join(t.sandbox, "app", "pid")
        harness.wait_until(lambda: os.path.exists(pidfile) and open(pidfile).read().strip(), 10, "pid")
        pid = int(open(pidfile).read())
        t.agent.disconnect()
        self.assertEqual(t.wait_executor_exit(), 1)
        harness.wait_until(lambda: not _alive(pid), 10, "task process gone")
        rec = json.loads(exe_cases.read(os.path.join(t.sandbox, "corral-task.json")))
        self.assertEqual(rec["signal"], signal.SIGTERM)

    def test_embedded_zip_extracted_and_escape_refused(self):
        import io
        import zipfile
        good = io.BytesIO()
        with zipfile.ZipFile(good, "w") as z:
            z.writestr("z/inside.txt", "zipped\n")
        evil = io.BytesIO()
        with zipfile.ZipFile(evil, "w") as z:
            z.writestr("../../escape.txt", "bad\n")
        t = self.backend.start({"cmd": "cat z/inside.txt", "embeddedArtifacts": [
            {"name": "zip", "filename": "a.zip", "content": b64(good.getvalue())}]})
        t.wait_state("TASK_FINISHED", 30)
        self.assertIn("zipped", log_text(t.sandbox))
        t = self.backend.start({"cmd": "true", "embeddedArtifacts": [
            {"name": "evil", "filename": "e.zip", "content": b64(evil.getvalue())}]})
        st = t.wait_state("TASK_FAILED", 30)
        self.assertIn("artifact 'evil': archive entry '../../escape.txt' escapes the sandbox", st["message"])
        self.assertFalse(os.path.exists(os.path.join(self.cluster.tmpdir, "escape.txt")))

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"), "needs root and setpriv")
    def test_runs_as_user_when_root(self):
        t = self.backend.start({"cmd": "echo user=$(id -un); touch made-by-task; ls -ln made-by-task",
                                "user": "nobody", "preserveTaskSandboxAfterFinish": True})
        t.wait_state("TASK_FINISHED", 30)
        self.assertIn("user=nobody", log_text(t.sandbox))
        made = os.path.join(t.sandbox, "app", "made-by-task")
        import pwd
        self.assertEqual(os.stat(made).st_uid, pwd.getpwnam("nobody").pw_uid)

    @unittest.skipUnless(shutil.which("javac") and shutil.which("jar"),
                         "needs a JDK (javac, jar) to build the seed's Java service")
    def test_seed_deploy_object(self):
        exe_cases.seed_deploy_runs(self, harness.seed_path("deploy-object.json")
                                   if not os.environ.get("CORRAL_SEED_DEPLOY")
                                   else os.environ["CORRAL_SEED_DEPLOY"])


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not alive for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


if __name__ == "__main__":
    unittest.main()
