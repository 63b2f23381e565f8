"""corralctl's offline half through the real binary: apply --dry-run=client
(-o json / -o yaml, files, directories, stdin), validate with file:line:col
problems, --help and exit codes. No server is started."""

import json
import os
import subprocess

import harness

ROOT = harness.ROOT
SEED = os.path.join(ROOT, "test", "apis", "fixtures", "manifests", "seed_procfile.yaml")
SEED_DEPLOY = os.path.join(ROOT, "test", "apis", "fixtures", "objects", "deploy_seed.json")
EXAMPLES = os.path.join(ROOT, "manifests", "examples")


def ctl(*args, stdin=None):
    r = subprocess.run([os.path.join(harness.BIN, "corralctl")] + list(args), input=stdin,
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


class CliOffline(harness.TestCase):
    def test_seed_procfile_dry_run_json(self):
        rc, out, err = ctl("apply", "--dry-run=client", "-o", "json", "-f", SEED)
        self.assertEqual(rc, 0, err)
        objs = json.loads(out)
        reqs = [o["spec"] for o in objs if o["kind"] == "Request"]
        deps = [o["spec"] for o in objs if o["kind"] == "Deploy"]
        self.assertEqual(len(reqs), 3)
        self.assertEqual(len(deps), 3)
        by_type = {r["requestType"]: r for r in reqs}
        self.assertEqual(sorted(by_type), ["SCHEDULED", "SERVICE", "WORKER"])
        self.assertEqual(by_type["SERVICE"]["instances"], 2)
        self.assertEqual(by_type["SCHEDULED"]["schedule"], "*/3 * * * *")
        for d in deps:
            self.assertIn(d["requestId"], [r["id"] for r in reqs])
            self.assertRegex(d["id"], r"^[a-zA-Z0-9_.]{1,50}$")
        # Applying the same file twice yields the same objects (hash ids).
        rc2, out2, _ = ctl("apply", "--dry-run=client", "-o", "json", "-f", SEED)
        self.assertEqual(rc2, 0)
        self.assertEqual(json.loads(out2), objs)

    def test_override_and_stdin_and_yaml(self):
        with open(SEED) as f:
            text = f.read()
        rc, out, err = ctl("apply", "--dry-run=client", "-o", "json", "-f", "-",
                           "--set", "procfile.webService.cmd=python3 -m http.server $PORT0", stdin=text)
        self.assertEqual(rc, 0, err)
        cmds = [o["spec"]["command"] for o in json.loads(out) if o["kind"] == "Deploy"]
        self.assertIn("python3 -m http.server $PORT0", cmds)
        rc, out, err = ctl("apply", "--dry-run=client", "-o", "yaml", "-f", SEED)
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith("- apiVersion: corral/v1\n"), out[:200])
        # The YAML output is itself a manifest that validates.
        path = os.path.join(self.cluster.tmpdir, "out.yaml")
        with open(path, "w") as f:
            f.write(out)
        rc, out, err = ctl("validate", "-f", path)
        self.assertEqual((rc, out), (0, "ok: 3 requests, 3 deploys\n"), err)

    def test_seed_deploy_object_and_examples(self):
        rc, out, err = ctl("apply", "--dry-run=client", "-o", "json", "-f", SEED_DEPLOY)
        self.assertEqual(rc, 0, err)
        (obj,) = json.loads(out)
        self.assertEqual((obj["kind"], obj["metadata"]["name"]), ("Deploy", "71_7"))
        self.assertEqual(obj["spec"]["executorData"]["s3Artifacts"][0]["filesize"], 81055833)
        rc, out, err = ctl("validate", "-f", EXAMPLES)
        self.assertEqual(rc, 0, err)
        rc, out, err = ctl("apply", "--dry-run=client", "-o", "json", "-f", EXAMPLES)
        self.assertEqual(rc, 0, err)
        types = sorted(o["spec"]["requestType"] for o in json.loads(out) if o["kind"] == "Request")
        for t in ("ON_DEMAND", "SCHEDULED", "SERVICE", "WORKER"):
            self.assertIn(t, types)

    def test_bad_field_is_refused_with_position(self):
        path = os.path.join(self.cluster.tmpdir, "bad.yaml")
        with open(path, "w") as f:
            f.write("apiVersion: corral/v1\nkind: Deploy\nmetadata:\n  name: v1\nspec:\n"
                    "  requestId: web\n  command: run\n  resources:\n    cpus: 0\n    memroyMb: 64\n")
        for cmd in (["validate"], ["apply", "--dry-run=client", "-o", "json"]):
            rc, out, err = ctl(*cmd, "-f", path)
            self.assertEqual(rc, 1, err)
            self.assertEqual(out, "")
            self.assertIn(path + ":9:5: spec.resources.cpus: must be > 0", err)
            self.assertIn(path + ":10:5: spec.resources.memroyMb: unknown field", err)

    def test_help_and_exit_codes(self):
        for cmd in ([], ["apply"], ["validate"], ["version"]):
            rc, out, err = ctl(*cmd, "--help")
            self.assertEqual(rc, 0, err)
            self.assertIn("usage: corralctl", out)
        self.assertEqual(ctl()[0], 2)
        self.assertEqual(ctl("nonsense")[0], 2)
        self.assertEqual(ctl("apply", "--dry-run=client")[0], 2)
        self.assertEqual(ctl("validate", "-f", "/nonexistent.yaml")[0], 1)
        rc, out, _ = ctl("version")
        self.assertEqual(rc, 0)
        self.assertTrue(out.startswith("corralctl "))


if __name__ == "__main__":
    harness.main()
