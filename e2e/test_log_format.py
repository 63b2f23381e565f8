"""Structured logs (docs/operations.md "Logs"): corrald started with
--log-format json writes one JSON object per line, and the lines about a
task carry its request, deploy and task ids as fields; logfmt from the node
agent's config file; an unknown format is refused before anything starts."""
import json
import os
import signal
import subprocess

import harness

PREFIX = "/corral"


class LogFormat(harness.TestCase):
    def test_corrald_json_lines_with_ids(self):
        c = self.cluster
        c.etcd()
        c.mesoslite(agents=1)
        api = c.corrald(args=["--log-format", "json"])
        st, body = harness.http_json("POST", api + "/api/requests",
                                     {"id": "logged", "requestType": "WORKER", "instances": 1})
        self.assertEqual(st, 200, body)
        st, body = harness.http_json("POST", api + "/api/deploys", {"deploy": {
            "requestId": "logged", "id": "v1", "command": "sleep 1000",
            "resources": {"cpus": 0.05, "memoryMb": 16}}})
        self.assertEqual(st, 200, body)
        proc = next(p for p in c.procs if p.name == "corrald")

        def running_line():
            for line in proc.log().splitlines():
                if 'TASK_RUNNING' in line:
                    return line
            return None
        harness.wait_until(running_line, 60, "a TASK_RUNNING line")
        lines = [ln for ln in proc.log().splitlines() if ln.strip()]
        docs = [json.loads(ln) for ln in lines]   # every line is one JSON object
        for d in docs:
            self.assertEqual(set(d) >= {"ts", "level", "component", "msg"}, True, d)
            self.assertEqual(d["component"], "corrald")
        running = [d for d in docs if "TASK_RUNNING" in d["msg"]]
        self.assertTrue(running)
        self.assertEqual(running[0]["request"], "logged")
        self.assertEqual(running[0]["deploy"], "v1")
        self.assertTrue(running[0]["task"].startswith("logged-v1-"))
        launch = [d for d in docs if d["msg"].startswith("launching ")]
        self.assertEqual(launch[0]["task"], running[0]["task"])

    def test_sighup_rereads_log_settings(self):
        c = self.cluster
        c.etcd()
        conf = os.path.join(c.tmpdir, "corrald.conf")
        with open(conf, "w") as f:
            f.write("log-level: info\nlog-format: text\n")
        c.corrald(args=["--config", conf, "--api-only"])
        proc = next(p for p in c.procs if p.name == "corrald")
        with open(conf, "w") as f:
            f.write("log-level: debug\nlog-format: json\n")
        proc.signal(signal.SIGHUP)
        harness.wait_until(lambda: "SIGHUP: settings reloaded: log-level info -> debug, "
                                   "log-format text -> json" in proc.log(), 15, "the reload line")
        # Lines from then on are JSON; a file that no longer validates is
        # refused and changes nothing.
        with open(conf, "w") as f:
            f.write("log-format: xml\n")
        proc.signal(signal.SIGHUP)

        def refused():
            for line in proc.log().splitlines():
                if "settings not reloaded" in line:
                    return json.loads(line)
            return None
        doc = harness.wait_until(refused, 15, "the refusal, as JSON")
        self.assertEqual(doc["level"], "error")
        self.assertIn("log-format: 'xml' is not text, logfmt or json", doc["msg"])

    def test_bad_format_refused(self):
        r = subprocess.run([os.path.join(harness.BIN, "corrald"), "--log-format", "xml"],
                           capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("log-format: 'xml' is not text, logfmt or json", r.stderr)

    def test_mesoslite_config_file(self):
        c = self.cluster
        port = harness.free_port()
        conf = os.path.join(c.tmpdir, "mesoslite.conf")
        with open(conf, "w") as f:
            f.write("# the stand-in's settings\nlisten: 127.0.0.1:%d\nagents: 2\n"
                    "work-dir: %s\nlog-format: logfmt\nfaults: true\n"
                    % (port, os.path.join(c.tmpdir, "mesos")))
        p = c.spawn("mesoslite", [os.path.join(harness.BIN, "mesoslite"), "--config", conf,
                                  "--agents", "3"])
        url = "http://127.0.0.1:%d" % port
        harness.wait_until(lambda: harness.http("GET", url + "/master/state", timeout=1)[0] == 200,
                           15, "mesoslite from its config file")
        _, state = harness.http_json("GET", url + "/master/state")
        self.assertEqual(len(state["slaves"]), 3)   # the flag wins over the file
        self.assertEqual(harness.http("GET", url + "/__ml/faults", timeout=2)[0] != 404, True)
        self.assertRegex(p.log().splitlines()[0], r"^ts=\S+Z level=\w+ component=mesoslite msg=")
        with open(conf, "a") as f:
            f.write("agents: many\n")
        r = subprocess.run([os.path.join(harness.BIN, "mesoslite"), "--config", conf],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 2)
        self.assertIn("mesoslite.conf:7: --agents: bad value 'many'", r.stderr)

    def test_nodeagent_logfmt_from_config(self):
        conf = os.path.join(self.cluster.tmpdir, "nodeagent.conf")
        work = os.path.join(self.cluster.tmpdir, "work")
        os.makedirs(work)
        port = harness.free_port()
        with open(conf, "w") as f:
            f.write("log-format: logfmt\nlisten: 127.0.0.1:%d\nwork-dir: %s\n" % (port, work))
        p = self.cluster.spawn("nodeagent", [os.path.join(harness.BIN, "corral-nodeagent"),
                                             "--config", conf])
        harness.wait_until(lambda: p.log().strip(), 15, "a log line")
        first = p.log().splitlines()[0]
        self.assertRegex(first, r"^ts=\S+Z level=\w+ component=corral-nodeagent msg=")


if __name__ == "__main__":
    harness.main()
