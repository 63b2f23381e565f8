"""corral-executor under the real mesoslite: a v1 scheduler (this test)
SUBSCRIBEs, ACCEPTs an offer with a LAUNCH whose ExecutorInfo runs
bin/corral-executor, and watches the UPDATEs, exactly as corrald's
mesosbridge does. Artifacts come from an HTTP server and a real
S3-compatible server (s3rver, e2e/lib/s3rver.py; one for the class) started
by the test on 127.0.0.1."""

import glob
import json
import os
import shutil
import time
import unittest

import harness
import exe_cases
from exe_scheduler import Scheduler, take_ports
import s3rver


class Task:
    def __init__(self, backend, task_id, agent_id, executor_id):
        self.backend, self.task_id, self.agent_id, self.executor_id = backend, task_id, agent_id, executor_id
        self._sandbox = None

    @property
    def sandbox(self):
        if not self._sandbox:
            b = self.backend
            pat = os.path.join(b.workdir, "slaves", "*", "frameworks", b.sched.framework_id,
                               "executors", self.executor_id, "runs", "*")
            found = harness.wait_until(
                lambda: [p for p in glob.glob(pat) if not p.endswith("/latest")], 30,
                "the executor's sandbox")
            self._sandbox = found[0]
        return self._sandbox

    def wait_state(self, state, timeout=30):
        return self.backend.sched.wait_update(self.task_id, state, timeout)

    def states(self):
        return self.backend.sched.states(self.task_id)

    def kill(self, grace_ms=None):
        self.backend.sched.kill(self.task_id, self.agent_id, grace_ms)


class MesosliteBackend:
    def __init__(self, tc):
        self.tc = tc
        self.master = tc.cluster.mesoslite(agents=1, racks="r1")
        self.workdir = os.path.join(tc.cluster.tmpdir, "mesos")
        self.sched = Scheduler(self.master)
        tc.addCleanup(self.sched.close)
        # Executor settings the agent's operator would put in its config file.
        self.config = os.path.join(tc.cluster.tmpdir, "executor.json")
        conf = {"artifactCacheDirectory": os.path.join(tc.cluster.tmpdir, "cache")}
        if tc.s3:
            conf.update({"s3Endpoint": tc.s3.endpoint, "s3PathStyle": True,
                         "s3AccessKey": tc.s3.access_key, "s3SecretKey": tc.s3.secret_key,
                         "s3Region": tc.s3.region})
        with open(self.config, "w") as f:
            json.dump(conf, f)
        self.n = 0

    def start(self, executor_data, env=None, ports=0, request_id="svc", deploy_id="v1"):
        self.n += 1
        offer = self.sched.wait_offer()
        agent_id = offer["agent_id"]["value"]
        host = offer.get("hostname", "host").replace("-", "_")
        task_id = "%s-%s-%d-%d-%s-r1" % (request_id, deploy_id, int(time.time() * 1000), self.n, host)
        executor_id = "ce-" + task_id
        resources = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.2}},
                     {"name": "mem", "type": "SCALAR", "scalar": {"value": 128}}]
        if ports:
            resources.append({"name": "ports", "type": "RANGES", "ranges": {"range": [
                {"begin": p, "end": p} for p in take_ports(offer, ports)]}})
        task = {
            "name": request_id, "task_id": {"value": task_id}, "agent_id": {"value": agent_id},
            "resources": resources,
            "executor": {
                "type": "CUSTOM", "executor_id": {"value": executor_id}, "name": "corral-executor",
                "command": {"shell": True,
                            "value": "exec env CORRAL_EXECUTOR_CONFIG=%s %s --log-level debug"
                                     % (self.config, exe_cases.EXECUTOR),
                            "environment": {"variables": [{"name": k, "value": v}
                                                          for k, v in (env or {}).items()]}},
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                              {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]},
            "data": exe_cases.b64(json.dumps(executor_data).encode()),
        }
        self.sched.launch(offer, task)
        t = Task(self, task_id, agent_id, executor_id)
        self.tc.addCleanup(lambda: exe_cases.kill_task_group(
            next((u for u in self.sched.updates if u["task_id"]["value"] == task_id
                  and u["state"] == "TASK_RUNNING"), None), task_id))
        return t


class T(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = s3rver.for_class(cls, bucket="builds")

    def setUp(self):
        super().setUp()
        self.files = exe_cases.FileServer()
        self.addCleanup(self.files.stop)
        self.workdir = self.cluster.tmpdir
        self.backend = MesosliteBackend(self)

    def test_artifacts_and_env(self):
        t = exe_cases.artifacts_and_env(self)
        # The terminal update reached the scheduler through mesoslite, in order.
        self.assertEqual(t.states(), ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"])

    def test_bad_md5_fails(self):
        exe_cases.bad_md5_fails(self)

    def test_missing_s3_object_fails(self):
        exe_cases.missing_s3_object_fails(self)

    def test_sigterm_trap_gets_time(self):
        exe_cases.sigterm_trap_gets_time(self)

    def test_sigterm_ignored_gets_sigkill(self):
        exe_cases.sigterm_ignored_gets_sigkill(self)

    def test_chatty_logs_rotate(self):
        exe_cases.chatty_logs_rotate(self)

    @unittest.skipUnless(shutil.which("javac") and shutil.which("jar"),
                         "needs a JDK (javac, jar) to build the seed's Java service")
    def test_seed_deploy_object(self):
        t = exe_cases.seed_deploy_runs(self, harness.seed_path("deploy-object.json"))
        # TASK_KILLING came first: the framework declared the capability.
        self.assertIn("TASK_KILLING", t.states())


if __name__ == "__main__":
    unittest.main()
