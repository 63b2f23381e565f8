"""The etcd layout version (docs/etcd-layout.md, "Layout version") and what
docs/operations.md tells operators to do with it:

- the leader records the layout and its release in <prefix>/schema;
- a corrald that finds a newer layout does not lead: the log says why,
  /metrics has corral_etcd_layout_refused 1, it gives the leader key up and
  keeps serving the API;
- `corrald --print-config` prints the effective settings (file, then flags)
  as a file corrald reads back;
- the prefix backup and restore commands of docs/operations.md, run as
  written there, bring back every document.
"""
import os
import re
import shutil
import subprocess

import harness

ROOT = harness.ROOT


def doc_blocks(after):
    """The ```sh blocks of docs/operations.md that follow the line holding
    `after`, in order."""
    text = open(os.path.join(ROOT, "docs", "operations.md")).read()
    text = text[text.index(after):]
    return re.findall(r"```sh\n(.*?)```", text, re.S)


class SchemaTest(harness.TestCase):
    def test_leader_records_layout(self):
        self.cluster.etcd()
        api = self.cluster.corrald()
        doc = harness.wait_until(lambda: self.cluster.etcd_get_json("/corral/schema"), 15,
                                 "the schema key")
        self.assertEqual(doc["version"], 1)
        self.assertEqual(doc["writers"], [self.version()])
        self.assertNotIn("migration", doc)
        harness.wait_until(lambda: "corral_etcd_layout_refused 0" in
                           harness.http("GET", api + "/metrics")[2].decode(), 10, "metric 0")
        # The API advertises its release; corralctl version shows both.
        host = harness.http_json("GET", api + "/api/state")[1]["hostStates"][0]
        self.assertEqual(host["version"], self.version())
        self.assertEqual(host["etcdLayoutVersion"], 1)
        self.assertIsNone(host["etcdLayoutRefused"])
        r = self.cluster.corralctl("version", check=True)
        self.assertEqual(r.stdout.split("\n")[:2],
                         ["corralctl " + self.version(),
                          "corrald %s (etcd layout 1, replica %s)" % (self.version(),
                                                                       host["replicaId"])])
        self.assertEqual(r.stderr, "")

    def version(self):
        out = subprocess.run([os.path.join(harness.BIN, "corralctl"), "version"],
                             capture_output=True, text=True).stdout
        return out.split()[-1]

    def test_refuses_newer_layout(self):
        self.cluster.etcd()
        self.cluster.etcdctl("put", "/corral/schema", '{"version":99,"writers":["9.9.9"]}')
        api = self.cluster.corrald()
        proc = self.cluster.procs[-1]
        harness.wait_until(lambda: "newer than this corrald" in proc.log(), 15, "the refusal")
        log = proc.log()
        self.assertIn("etcd layout version 99 (written by Corral 9.9.9) is newer than this "
                      "corrald (%s) knows (1): not leading" % self.version(), log)
        self.assertIn("corral_etcd_layout_refused 1",
                      harness.http("GET", api + "/metrics")[2].decode())
        self.assertNotIn("leading (leader key", log)
        # It gave the key up and still serves the API.
        harness.wait_until(lambda: not self.cluster.etcdctl("get", "/corral/leader").strip(), 10,
                           "the leader key released")
        self.assertEqual(harness.http("GET", api + "/readyz")[0], 200)
        host = harness.http_json("GET", api + "/api/state")[1]["hostStates"][0]
        self.assertIn("newer than this corrald", host["etcdLayoutRefused"])
        self.assertEqual(self.cluster.etcd_get_json("/corral/schema")["version"], 99)

    def test_print_config(self):
        conf = os.path.join(self.cluster.tmpdir, "corrald.yaml")
        with open(conf, "w") as f:
            f.write("listen: 127.0.0.1:7000\nprefix: /other\nauth: true\n"
                    "auth-token-file: /etc/corral/tokens\netcd-password: hunter2\n")
        corrald = os.path.join(harness.BIN, "corrald")
        r = subprocess.run([corrald, "--config", conf, "--listen", "127.0.0.1:7001",
                            "--print-config"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("# corrald %s, etcd layout version 1" % self.version()))
        self.assertIn("listen: 127.0.0.1:7001\n", r.stdout)  # the flag wins
        self.assertIn("prefix: /other\n", r.stdout)
        self.assertIn("auth: true\n", r.stdout)
        self.assertNotIn("hunter2", r.stdout)
        # What it prints, it reads back.
        again = os.path.join(self.cluster.tmpdir, "again.yaml")
        with open(again, "w") as f:
            f.write(r.stdout)
        r2 = subprocess.run([corrald, "--config", again, "--print-config"], capture_output=True,
                            text=True, timeout=30)
        self.assertEqual(r2.returncode, 0, r2.stderr)
        self.assertEqual(r2.stdout.replace("# etcd-password: (not set)", ""),
                         r.stdout.replace("# etcd-password: (set, not shown)", ""))
        # A bad file stops it before anything starts, naming the place.
        with open(conf, "a") as f:
            f.write("lisen: x\n")
        r3 = subprocess.run([corrald, "--config", conf, "--print-config"], capture_output=True,
                            text=True, timeout=30)
        self.assertEqual(r3.returncode, 2)
        self.assertIn("corrald.yaml:6: unknown setting 'lisen'", r3.stderr)

    @harness.unittest.skipIf(shutil.which("jq") is None, "jq is missing (the documented "
                             "backup uses it)")
    def test_documented_backup_and_restore(self):
        etcd = self.cluster.etcd()
        self.cluster.corrald()
        ctl = self.cluster.corralctl
        manifest = os.path.join(self.cluster.tmpdir, "r.yaml")
        with open(manifest, "w") as f:
            f.write("apiVersion: corral/v1\nkind: Request\nmetadata: {name: keep-me}\n"
                    "spec: {id: keep-me, requestType: WORKER, instances: 1}\n")
        ctl("apply", "-f", manifest, check=True)
        harness.wait_until(lambda: self.cluster.etcd_get_json("/corral/schema"), 15, "schema")
        before = self.cluster.etcd_prefix_json("/corral/")
        backup, restore = doc_blocks("**An export of the prefix**")[:2]
        # One shell session in the doc: the restore uses the backup's variables.
        restore = "\n".join(ln for ln in backup.split("\n") if ln.startswith("export ")) + \
            "\n" + restore
        env = dict(os.environ, ETCDCTL_API="3")

        def run(block):
            block = block.replace("http://127.0.0.1:2379", etcd)
            block = "\n".join(ln for ln in block.split("\n")
                              if not ln.startswith("systemctl "))
            r = subprocess.run(["bash", "-euo", "pipefail", "-c", block], capture_output=True,
                               text=True, timeout=60, cwd=self.cluster.tmpdir, env=env)
            self.assertEqual(r.returncode, 0, block + r.stdout + r.stderr)

        run(backup)
        self.assertTrue(os.path.getsize(os.path.join(self.cluster.tmpdir, "corral-backup.txt")))
        for p in self.cluster.procs:
            if p.name == "corrald":
                p.stop()
        run(restore)
        after = self.cluster.etcd_prefix_json("/corral/")
        before.pop("/corral/leader", None)
        self.assertEqual(sorted(after), sorted(before))
        self.assertEqual(after, before)
        api = self.cluster.corrald()
        harness.wait_until(lambda: "keep-me" in ctl("--server", api, "get", "requests",
                                                    server=False).stdout, 15,
                           "the restored request")

if __name__ == "__main__":
    harness.main()
