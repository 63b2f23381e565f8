"""The offer cache (issue 14; docs/mesosbridge.md "Offer cache"): while no
task waits, the leader's Mesos bridge holds up to --offer-cache-size offers
instead of suppressing them, so a task that becomes due launches on a held
offer at once, without a REVIVE and the master's next allocation.

Real etcd, mesoslite and corrald. mesoslite allocates every 30 s here, so a
launch that needed a fresh offer could not come from a later allocation in
the time the test waits; the test asserts the mechanism (no REVIVE, no new
offer between the apply and the launch), never a duration.
"""
import json
import os
import subprocess

import harness

PREFIX = "/corral"
ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "30",
           "--update-retry-interval", "1"]


class T(harness.TestCase):

    def start(self, corrald_args=None):
        c = self.cluster
        c.etcd()
        c.mesoslite(agents=1, racks="r1", args=ML_ARGS)
        c.corrald(args=corrald_args)
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30,
                           "framework id stored")
        return c

    def metrics(self):
        st, _, body = harness.http("GET", self.cluster.api_url + "/metrics")
        self.assertEqual(st, 200)
        out = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def apply(self, rid):
        req = {"id": rid, "requestType": "WORKER", "instances": 1}
        dep = {"requestId": rid, "id": "v1", "command": "exec sleep 600",
               "resources": {"cpus": 0.1, "memoryMb": 16}}
        for path, body in (("/api/requests", req),
                           ("/api/deploys", {"deploy": dep})):
            st, _, out = harness.http("POST", self.cluster.api_url + path,
                                      json.dumps(body).encode(),
                                      {"Content-Type": "application/json"})
            self.assertEqual(st, 200, out)

    def running(self, rid):
        tasks = self.cluster.etcd_prefix_json("%s/tasks/%s/" % (PREFIX, rid))
        return [t for t in tasks.values() if t.get("lastTaskState") == "TASK_RUNNING"]

    def outstanding_offers(self):
        """Ids of the offers the master has out to Corral's framework."""
        state = harness.http_json("GET", self.cluster.mesos_url + "/master/state")[1]
        return {o["id"]["value"] if isinstance(o["id"], dict) else o["id"]
                for fw in state["frameworks"] for o in fw.get("offers", [])}

    def test_due_task_launches_on_a_held_offer(self):
        self.start()
        # idle: the agent's offer is held, offers are not suppressed
        harness.wait_until(lambda: self.metrics().get("corral_mesos_offers_held", 0) >= 1, 40,
                           "an offer held in the cache")
        before = self.metrics()
        self.assertEqual(before["corral_mesos_suppressed"], 0)
        held = self.outstanding_offers()
        self.assertEqual(len(held), 1, held)
        revive = 'corral_mesos_call_duration_seconds_count{call="REVIVE"}'

        self.apply("web")
        harness.wait_until(lambda: self.running("web"), 20, "web RUNNING")
        after = self.metrics()
        self.assertEqual(after.get(revive, 0), before.get(revive, 0),
                         "a REVIVE was sent: the task did not take the held offer")
        self.assertEqual(after["corral_mesos_tasks_launched_total"],
                         before["corral_mesos_tasks_launched_total"] + 1)
        # the launch used the offer held before the apply
        self.assertEqual({t["offerId"] for t in self.running("web")}, held)

    def test_cache_off_suppresses_when_idle(self):
        self.start(["--offer-cache-size", "0"])
        harness.wait_until(lambda: self.metrics().get("corral_mesos_suppressed") == 1, 40,
                           "offers suppressed while nothing waits")
        self.assertEqual(self.metrics()["corral_mesos_offers_held"], 0)

    def test_bad_settings_refused(self):
        for flag, value in (("--offer-cache-size", "-1"), ("--offer-cache-ms", "10")):
            out = subprocess.run([os.path.join(harness.BIN, "corrald"), flag, value],
                                 capture_output=True, text=True, timeout=10)
            self.assertEqual(out.returncode, 2, out.stderr)
            self.assertIn(flag[2:], out.stderr)
            self.assertIn(value, out.stderr)


if __name__ == "__main__":
    harness.main()
