"""Containers (issue 20, part D) through the real binaries: etcd, mesoslite
and corrald. A deploy's containerInfo is validated by the API, passed to
Mesos as the TaskInfo's ContainerInfo (docs/mesosbridge.md, "Containers"),
and mesoslite, which has no Docker containerizer and no image provisioner,
answers a container it cannot run with TASK_FAILED
(REASON_CONTAINER_LAUNCH_FAILED) and a message: never a silent success.

- a DOCKER deploy without a command reaches mesoslite with the ContainerInfo
  built from it (image, BRIDGE network, FROM_OFFER and LITERAL port mappings,
  the LITERAL host port taken from the offer, volumes, parameters) and a CommandInfo that runs the image's entrypoint (shell
  false, no value); the task fails with the agent's message, visible in the
  task history, and the deploy fails naming it;
- a MESOS container with an image fails the same way;
- a MESOS container without an image runs like a plain command task;
- bad containers are refused with 400 and a field path, and nothing is
  stored;
- mesoslite, driven straight through the scheduler API, refuses what a
  Mesos master refuses with TASK_ERROR and its message.
"""
import urllib.parse

import harness
from ctl_cases import ML_ARGS
from exe_scheduler import Scheduler

PORTS = 20


def q(s):
    return urllib.parse.quote(s, safe="")


class T(harness.TestCase):

    def setUp(self):
        super().setUp()
        c = self.cluster
        c.etcd()
        base = self.port_base = harness.free_port_range(PORTS)
        c.mesoslite(agents=1, racks="r1",
                    args=ML_ARGS + ["--agent-resources", "cpus:4;mem:4096;disk:1024;ports:[%d-%d]"
                                    % (base, base + PORTS - 1)])
        # a second framework (the Scheduler below) shares the one agent:
        # corrald's offer cache would hold its offer for a minute
        self.api = c.corrald(args=["--offer-cache-size", "0"])

    def call(self, method, path, body=None):
        return harness.http_json(method, self.api + path, body)

    def get(self, path):
        st, body = self.call("GET", path)
        return body if st == 200 else None

    def post_request(self, rid):
        st, body = self.call("POST", "/api/requests",
                             {"id": rid, "requestType": "SERVICE", "instances": 1})
        self.assertEqual(st, 200, body)

    def post_deploy(self, deploy):
        return self.call("POST", "/api/deploys", {"deploy": deploy})

    def first_task(self, rid):
        def found():
            hist = self.get("/api/history/tasks?requestId=%s&count=10" % q(rid)) or []
            return hist[0]["taskId"]["id"] if hist else None
        return harness.wait_until(found, 60, "a task of " + rid)

    def task_history(self, tid):
        return self.get("/api/history/task/" + q(tid)) or {}

    def wait_update(self, tid, state):
        def found():
            for u in self.task_history(tid).get("taskUpdates") or []:
                if u["taskState"] == state:
                    return u
            return None
        return harness.wait_until(found, 60, "%s of %s" % (state, tid))

    def mesos_task(self, tid):
        """The task as mesoslite's /master/tasks shows it (what it got)."""
        _, body = harness.http_json("GET", self.cluster.mesos_url + "/master/tasks")
        for t in body["tasks"]:
            if t["id"] == tid:
                return t
        return None

    def deploy_result(self, rid, did):
        h = self.get("/api/history/request/%s/deploy/%s" % (q(rid), q(did))) or {}
        return h.get("deployResult") or {}

    # --- cases -------------------------------------------------------------------

    def test_docker_deploy_reaches_mesos_and_fails_clearly(self):
        self.post_request("dock")
        literal = self.port_base + PORTS - 1  # a LITERAL host port (Singularity's default type)
        st, body = self.post_deploy({
            "requestId": "dock", "id": "v1",
            "resources": {"cpus": 0.1, "memoryMb": 32, "numPorts": 1},
            "deployHealthTimeoutSeconds": 30,
            "containerInfo": {
                "type": "DOCKER",
                "docker": {"image": "busybox:1.36", "network": "BRIDGE",
                           "dockerParameters": [{"key": "env", "value": "A=1"}],
                           "portMappings": [{"containerPortType": "LITERAL", "containerPort": 8080,
                                             "hostPortType": "FROM_OFFER", "hostPort": 0},
                                            {"containerPort": 9090, "hostPort": literal}]},
                "volumes": [{"containerPath": "/data", "hostPath": "/srv/${TASK_REQUEST_ID}",
                             "mode": "RW"}]}})
        self.assertEqual(st, 200, body)
        tid = self.first_task("dock")
        failed = self.wait_update(tid, "TASK_FAILED")
        msg = failed.get("statusMessage") or ""
        self.assertIn("no Docker containerizer", msg)
        self.assertIn("busybox:1.36", msg)
        self.assertEqual(failed.get("statusReason"), "REASON_CONTAINER_LAUNCH_FAILED")
        states = [u["taskState"] for u in self.task_history(tid).get("taskUpdates") or []]
        self.assertNotIn("TASK_RUNNING", states)

        # What corrald sent: the task record's TaskInfo...
        task = self.task_history(tid).get("task") or {}
        port = task["ports"][0] if task.get("ports") else None
        self.assertIsNotNone(port, task)
        want = {"type": "DOCKER",
                "docker": {"image": "busybox:1.36", "network": "BRIDGE",
                           "port_mappings": [{"host_port": port, "container_port": 8080,
                                              "protocol": "tcp"},
                                             {"host_port": literal, "container_port": 9090,
                                              "protocol": "tcp"}],
                           "parameters": [{"key": "env", "value": "A=1"}],
                           "privileged": False, "force_pull_image": False},
                "volumes": [{"container_path": "/data", "host_path": "/srv/dock", "mode": "RW"}]}
        ti = task.get("mesosTask") or {}
        self.assertEqual(ti.get("container"), want)
        # the LITERAL host port is in the task's resources (Mesos requires it), not a PORTn
        ranges = [r for res in ti["resources"] if res["name"] == "ports"
                  for r in res["ranges"]["range"]]
        self.assertIn({"begin": literal, "end": literal}, ranges)
        self.assertNotIn(literal, task["ports"])
        self.assertEqual(ti["command"].get("shell"), False)
        self.assertNotIn("value", ti["command"])  # the image's entrypoint runs
        # ... and what mesoslite received.
        mt = harness.wait_until(lambda: self.mesos_task(tid), 10, "task in mesoslite")
        self.assertEqual(mt.get("container"), want)

        # The deploy fails and says why.
        res = harness.wait_until(
            lambda: (self.deploy_result("dock", "v1").get("deployState") == "FAILED"
                     and self.deploy_result("dock", "v1")), 90, "deploy v1 FAILED")
        text = repr(res)
        self.assertIn("TASK_FAILED", text)
        self.assertIn("no Docker containerizer", text)

    def test_mesos_image_fails_clearly(self):
        self.post_request("img")
        st, body = self.post_deploy({
            "requestId": "img", "id": "v1", "resources": {"cpus": 0.1, "memoryMb": 32},
            "containerInfo": {"type": "MESOS", "mesos": {"image": {
                "type": "DOCKER", "docker": {"name": "alpine:3"}}}}})
        self.assertEqual(st, 200, body)
        tid = self.first_task("img")
        failed = self.wait_update(tid, "TASK_FAILED")
        self.assertIn("cannot provision container images (DOCKER image 'alpine:3')",
                      failed.get("statusMessage") or "")

    def test_plain_mesos_container_runs(self):
        self.post_request("plain")
        st, body = self.post_deploy({
            "requestId": "plain", "id": "v1", "resources": {"cpus": 0.1, "memoryMb": 32},
            "command": "exec sleep 600", "containerInfo": {"type": "MESOS"}})
        self.assertEqual(st, 200, body)
        tid = self.first_task("plain")
        self.wait_update(tid, "TASK_RUNNING")
        ti = (self.task_history(tid).get("task") or {}).get("mesosTask") or {}
        self.assertEqual(ti.get("container"), {"type": "MESOS"})
        self.assertEqual(ti["command"]["value"], "exec sleep 600")

    def test_mesoslite_checks_containers_as_a_master(self):
        """Straight through the v1 scheduler API (no corrald validation in
        front): what a Mesos master refuses is TASK_ERROR with its reason;
        what the agent cannot run is TASK_FAILED, never TASK_RUNNING."""
        sched = Scheduler(self.cluster.mesos_url, name="containers-e2e")
        self.addCleanup(sched.close)
        cases = [
            ("t-docker-noinfo", {"type": "DOCKER"}, "TASK_ERROR",
             "Task's `ContainerInfo` is invalid: DockerInfo 'docker' is not set for DOCKER "
             "typed ContainerInfo"),
            ("t-volume-two", {"type": "MESOS", "volumes": [
                {"container_path": "/a", "host_path": "/b", "mode": "RO",
                 "source": {"type": "DOCKER_VOLUME", "docker_volume": {"name": "v"}}}]},
             "TASK_ERROR", "Only one of them should be set"),
            ("t-docker-name", {"type": "DOCKER", "docker": {
                "image": "busybox", "parameters": [{"key": "name", "value": "x"}]}},
             "TASK_ERROR", "Parameter in DockerInfo must not be 'name'"),
            ("t-volume-host", {"type": "MESOS", "volumes": [
                {"container_path": "/a", "host_path": "/tmp", "mode": "RO"}]},
             "TASK_FAILED", "no filesystem isolator"),
        ]
        for tid, container, state, msg in cases:
            offer = sched.wait_offer()
            sched.launch(offer, {
                "name": tid, "task_id": {"value": tid}, "agent_id": offer["agent_id"],
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                              {"name": "mem", "type": "SCALAR", "scalar": {"value": 16}}],
                "command": {"shell": True, "value": "exec sleep 600"},
                "container": container})
            u = sched.wait_update(tid, state)
            self.assertIn(msg, u.get("message", ""), (tid, u))
            self.assertNotIn("TASK_RUNNING", sched.states(tid))

    def test_bad_containers_are_refused(self):
        self.post_request("bad")
        cases = [
            ({"type": "DOCKER", "docker": {}}, "containerInfo.docker.image"),
            ({"type": "DOCKER", "docker": {"image": "a", "portMappings": [
                {"containerPort": 80, "hostPortType": "FROM_OFFER", "hostPort": 0}]}},
             "containerInfo.docker.portMappings"),
            ({"type": "DOCKER", "docker": {"image": "a", "network": "BRIDGE", "portMappings": [
                {"containerPort": 80, "hostPortType": "FROM_OFFER", "hostPort": 3}]}},
             "containerInfo.docker.portMappings[0].hostPort"),
            ({"type": "MESOS", "volumes": [{"hostPath": "/x"}]},
             "containerInfo.volumes[0].containerPath"),
        ]
        for i, (ci, path) in enumerate(cases):
            did = "b%d" % i
            st, body = self.post_deploy({"requestId": "bad", "id": did, "command": "true",
                                         "resources": {"numPorts": 1}, "containerInfo": ci})
            self.assertEqual(st, 400, (ci, body))
            self.assertIn(path, repr(body))
            st, _ = self.call("GET", "/api/history/request/bad/deploy/" + did)
            self.assertEqual(st, 404, did)
        self.assertEqual(self.cluster.etcd_prefix_json("/corral/deploys/bad/"), {})


if __name__ == "__main__":
    harness.main()
