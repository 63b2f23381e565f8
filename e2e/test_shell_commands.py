"""Task shell commands (issue 20, part D) through the real binaries: etcd,
mesoslite and corrald, with corral-executor running the task.

corrald is started with --shell-commands (the allow-list people may run,
Singularity's ui.shellCommands); the executor's own config file
(CORRAL_EXECUTOR_CONFIG, given to it by the agent as an operator would)
says what each name runs. A command goes API -> etcd (shells/...) -> the
Mesos bridge -> a scheduler MESSAGE call -> mesoslite relays it to the
executor -> the executor runs it in the sandbox and answers with executor
MESSAGE calls -> the bridge appends the updates (docs/executor.md, "Shell
commands").

- a command runs in the task's sandbox: its output file (named after the
  command and the request's timestamp) is readable through the sandbox
  API, and its history shows ACKED then FINISHED;
- a command corrald allows but the executor does not know ends INVALID
  with the executor's message;
- a command or an option not on the allow-list is refused with 400 and
  nothing is stored; so is a command for a task without a custom executor;
- a command document of a task without a record is deleted by the bridge.
"""
import json
import os
import urllib.parse

import harness
from ctl_cases import ML_ARGS

EXECUTOR = os.path.join(harness.BIN, "corral-executor")


def q(s):
    return urllib.parse.quote(s, safe="")


class T(harness.TestCase):

    def setUp(self):
        super().setUp()
        c = self.cluster
        allow = os.path.join(c.tmpdir, "shell-commands.json")
        with open(allow, "w") as f:
            json.dump([{"name": "hello", "description": "say hello to the task",
                        "options": [{"name": "loud", "description": "shout"}]},
                       {"name": "nothere", "description": "the executor lacks it"}], f)
        exe_conf = os.path.join(c.tmpdir, "executor.json")
        with open(exe_conf, "w") as f:
            json.dump({"shellCommands": [
                {"name": "hello", "command": ["echo", "hello from", "{PID}"],
                 "options": [{"name": "loud", "flag": "LOUD"}]}]}, f)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "CORRAL_EXECUTOR_CONFIG": exe_conf}
        c.etcd()
        base = harness.free_port_range(20)
        c.mesoslite(agents=1, racks="r1",
                    args=ML_ARGS + ["--agent-resources",
                                    "cpus:4;mem:4096;disk:1024;ports:[%d-%d]" % (base, base + 19),
                                    "--executor-environment-variables", json.dumps(env)])
        self.api = c.corrald(args=["--shell-commands", allow])

    def call(self, method, path, body=None):
        return harness.http_json(method, self.api + path, body)

    def get(self, path):
        st, body = self.call("GET", path)
        return body if st == 200 else None

    def start_task(self, rid, executor=True):
        st, body = self.call("POST", "/api/requests",
                             {"id": rid, "requestType": "SERVICE", "instances": 1})
        self.assertEqual(st, 200, body)
        d = {"requestId": rid, "id": "v1", "resources": {"cpus": 0.1, "memoryMb": 64}}
        if executor:
            d.update(customExecutorCmd=EXECUTOR, executorData={"cmd": "exec sleep 600"})
        else:
            d["command"] = "exec sleep 600"
        st, body = self.call("POST", "/api/deploys", {"deploy": d})
        self.assertEqual(st, 200, body)

        def running():
            for h in self.get("/api/history/tasks?requestId=%s&count=10" % q(rid)) or []:
                tid = h["taskId"]["id"]
                ups = (self.get("/api/history/task/" + q(tid)) or {}).get("taskUpdates") or []
                if any(u["taskState"] == "TASK_RUNNING" for u in ups):
                    return tid
            return None
        return harness.wait_until(running, 60, "a running task of " + rid)

    def history(self, tid):
        st, body = self.call("GET", "/api/tasks/task/%s/command" % q(tid))
        self.assertEqual(st, 200, body)
        return body

    def wait_final(self, tid, name):
        def done():
            for h in self.history(tid):
                if h["shellRequest"]["shellCommand"]["name"] != name:
                    continue
                types = [u["updateType"] for u in h["shellUpdates"]]
                if set(types) & {"FINISHED", "FAILED", "INVALID"}:
                    return h
            return None
        return harness.wait_until(done, 60, "%s on %s finished" % (name, tid))

    def read(self, tid, path):
        st, body = self.call("GET", "/api/sandbox/%s/read?path=%s&offset=0&length=65536"
                             % (q(tid), q(path)))
        self.assertEqual(st, 200, body)
        return body.get("data") or ""

    # --- cases -------------------------------------------------------------------

    def test_command_runs_in_sandbox_with_history(self):
        tid = self.start_task("sh1")
        st, req = self.call("POST", "/api/tasks/task/%s/command" % q(tid),
                            {"name": "hello", "options": ["loud"], "user": "alice"})
        self.assertEqual(st, 200, req)
        self.assertEqual(req["shellCommand"]["name"], "hello")
        self.assertEqual(req["taskId"]["id"], tid)
        ts = req["timestamp"]

        h = self.wait_final(tid, "hello")
        ups = h["shellUpdates"]
        self.assertEqual([u["updateType"] for u in ups], ["ACKED", "FINISHED"], ups)
        out = "executor.commands.hello.%d.log" % ts
        self.assertEqual(ups[0]["outputFilename"], out)
        self.assertTrue(ups[0]["message"].startswith("echo hello from "), ups[0])
        self.assertEqual(ups[1]["message"], "Finished with code 0")
        self.assertEqual(ups[0]["shellRequestId"]["name"], "hello")
        self.assertEqual(ups[0]["shellRequestId"]["timestamp"], ts)
        self.assertEqual(h["shellRequest"]["shellCommand"]["user"], "alice")

        # The output, in the sandbox, through the API: the task's pid filled in.
        text = harness.wait_until(lambda: self.read(tid, out), 10, "output file")
        self.assertRegex(text, r"^hello from \d+ LOUD\n$")
        pid = int(text.split()[2])
        self.assertEqual(ups[0]["message"], "echo hello from %d LOUD" % pid)

        # The updates of that one command.
        st, only = self.call("GET", "/api/tasks/task/%s/command/hello/%d" % (q(tid), ts))
        self.assertEqual(st, 200, only)
        self.assertEqual(only, ups)
        # The task's history carries it too (SingularityTaskHistory.shellCommandHistory).
        th = self.get("/api/history/task/" + q(tid))
        self.assertEqual(th["shellCommandHistory"], self.history(tid))
        # Nothing waits to be sent.
        self.assertEqual(self.get("/api/tasks/commands/queued"), [])

    def test_unknown_to_executor_is_invalid(self):
        tid = self.start_task("sh2")
        st, req = self.call("POST", "/api/tasks/task/%s/command" % q(tid), {"name": "nothere"})
        self.assertEqual(st, 200, req)
        h = self.wait_final(tid, "nothere")
        ups = h["shellUpdates"]
        self.assertEqual([u["updateType"] for u in ups], ["INVALID"], ups)
        self.assertIn('"nothere" command not found', ups[0]["message"])
        self.assertIn("[hello]", ups[0]["message"])

    def test_refused(self):
        tid = self.start_task("sh3")
        path = "/api/tasks/task/%s/command" % q(tid)
        st, body = self.call("POST", path, {"name": "rm", "options": []})
        self.assertEqual(st, 400, body)
        self.assertIn("Shell command rm not in [hello, nothere]", json.dumps(body))
        st, body = self.call("POST", path, {"name": "hello", "options": ["--force"]})
        self.assertEqual(st, 400, body)
        self.assertIn("does not have option --force", json.dumps(body))
        st, body = self.call("POST", path, {"options": ["loud"]})
        self.assertEqual(st, 400, body)
        self.assertEqual(self.history(tid), [])
        self.assertEqual(self.cluster.etcd_prefix_json("/corral/shells/"), {})
        st, body = self.call("POST", "/api/tasks/task/no-such-task-1-1-h-r/command",
                             {"name": "hello"})
        self.assertEqual(st, 404, body)

        # A command document of a task that has no record (written straight
        # into etcd, or left after the task's history was trimmed) is removed.
        ghost = "/corral/shells/sh3/sh3-v0-1-1-h-r/0000000000001-hello"
        self.cluster.etcdctl("put", ghost, json.dumps(
            {"shellRequest": {"taskId": {"id": "sh3-v0-1-1-h-r"}, "timestamp": 1,
                              "shellCommand": {"name": "hello"}}, "shellUpdates": []}))
        harness.wait_until(lambda: self.cluster.etcd_get_json(ghost) is None, 30,
                           "orphan shell command deleted")
        self.assertEqual(self.history(tid), [])

        plain = self.start_task("sh4", executor=False)
        st, body = self.call("POST", "/api/tasks/task/%s/command" % q(plain), {"name": "hello"})
        self.assertEqual(st, 400, body)
        self.assertIn("has no custom executor", json.dumps(body))


if __name__ == "__main__":
    harness.main()
