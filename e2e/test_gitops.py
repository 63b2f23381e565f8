"""GitOps Sources end to end (docs/gitops.md): a real Git repository made
by the test (git init, commits through the git binary), real etcd, corrald
and mesoslite running real processes.

The Source is applied with `corralctl apply` like any manifest; corrald
fetches the repository with git, applies its manifests, records what it
did in status/sources/<name>, reports drift, reverts it with selfHeal,
refuses an invalid commit with its file:line, prunes only what it created,
syncs at once on POST .../sync (a Git host's push hook), and a standby
finishes a sync its SIGKILLed leader left.
"""
import json
import os
import signal
import subprocess
import unittest

import browser
import harness

PREFIX = "/corral"
ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]
GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid",
               GIT_CONFIG_NOSYSTEM="1", HOME="/nonexistent")

REQUEST = """apiVersion: corral/v1
kind: Request
metadata: {name: %(rid)s}
spec: {requestType: WORKER, instances: %(n)d}
"""
DEPLOY = """---
apiVersion: corral/v1
kind: Deploy
metadata: {name: %(did)s}
spec:
  requestId: %(rid)s
  command: "sleep 600"
  resources: {cpus: 0.1, memoryMb: 16}
  considerHealthyAfterRunningForSeconds: 1
"""


def app(rid, n, did):
    return REQUEST % {"rid": rid, "n": n} + DEPLOY % {"rid": rid, "did": did}


class GitopsCase(harness.TestCase):

    # ---- the repository ----------------------------------------------------------

    def git(self, *args):
        r = subprocess.run(["git", "-C", self.repo] + list(args), capture_output=True,
                           text=True, env=GIT_ENV, timeout=30)
        if r.returncode != 0:
            raise AssertionError("git %s: %s" % (" ".join(args), r.stderr))
        return r.stdout.strip()

    def make_repo(self):
        self.repo = os.path.join(self.cluster.tmpdir, "repo")
        os.makedirs(self.repo)
        self.git("init", "--quiet", "-b", "main")

    def commit(self, files, message):
        """files: path -> text, or None to remove it. Returns the commit id."""
        for path, text in files.items():
            full = os.path.join(self.repo, path)
            if text is None:
                self.git("rm", "--quiet", path)
                continue
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(text)
            self.git("add", path)
        self.git("commit", "--quiet", "-m", message)
        return self.git("rev-parse", "HEAD")

    # ---- the cluster -------------------------------------------------------------

    def start(self, mesos=True):
        c = self.cluster
        c.etcd()
        if mesos:
            c.mesoslite(agents=1, racks=None, args=ML_ARGS)
        self.api = c.corrald(args=["--data-dir", os.path.join(c.tmpdir, "data")])

    def apply_source(self, **spec):
        spec.setdefault("repository", self.repo)
        spec.setdefault("ref", "main")
        spec.setdefault("path", "apps")
        body = {"apiVersion": "corral/v1", "kind": "Source", "metadata": {"name": "apps"},
                "spec": spec}
        path = os.path.join(self.cluster.tmpdir, "source.json")
        with open(path, "w") as f:
            json.dump(body, f)
        return self.cluster.corralctl("apply", "-f", path, check=True)

    def status(self):
        return self.cluster.etcd_get_json(PREFIX + "/status/sources/apps") or {}

    def cond(self, ctype):
        for c in self.status().get("conditions", []):
            if c["type"] == ctype:
                return c
        return {}

    def request(self, rid):
        return self.cluster.etcd_get_json("%s/requests/%s" % (PREFIX, rid))

    def deploys(self, rid):
        return self.cluster.etcd_prefix_json("%s/deploys/%s/" % (PREFIX, rid))

    def synced(self, commit):
        st = self.status()
        return st.get("commit") == commit and self.cond("Synced").get("status") == "True"

    def running(self, rid, did):
        tasks = self.cluster.etcd_prefix_json("%s/tasks/%s/" % (PREFIX, rid)).values()
        return [t for t in tasks if t["lastTaskState"] == "TASK_RUNNING"
                and t["taskId"]["deployId"] == did]

    def scale(self, rid, n):
        st, body = harness.http_json("PUT", "%s/api/requests/request/%s/scale" % (self.api, rid),
                                     {"instances": n})
        self.assertEqual(st, 200, body)


class TestSources(GitopsCase):

    def test_sync_drift_invalid_prune(self):
        self.start()
        self.make_repo()
        c1 = self.commit({"apps/web.yaml": app("web", 1, "v1"),
                          "apps/batch.yaml": app("batch", 1, "b1"),
                          "README.md": "not a manifest\n"}, "first")
        self.apply_source(interval="2s", prune=True)

        # commit manifests -> requests run, annotated with the Source and commit
        harness.wait_until(lambda: self.synced(c1), 30, "commit 1 synced")
        web = self.request("web")
        self.assertEqual(web["annotations"], {"corral.io/source": "apps",
                                              "corral.io/commit": c1})
        self.assertEqual(self.deploys("web")["%s/deploys/web/v1" % PREFIX]["annotations"]
                         ["corral.io/source"], "apps")
        st = self.status()
        self.assertEqual(sorted(st["requests"]), ["batch", "web"])
        self.assertIn("request/web created", st["changes"])
        self.assertIn("deploy/web/v1 created", st["changes"])
        harness.wait_until(lambda: len(self.running("web", "v1")) == 1, 40, "web v1 runs")

        # a request made by hand is never pruned, nor changed
        r = self.cluster.corralctl("apply", "-f", "-", check=True,
                                   input=REQUEST % {"rid": "manual", "n": 1})
        self.assertIn("request/manual created", r.stdout)

        # a commit changing instances and adding a deploy -> applied within an interval
        c2 = self.commit({"apps/web.yaml": app("web", 2, "v2")}, "scale and v2")
        harness.wait_until(lambda: self.synced(c2), 30, "commit 2 synced")
        self.assertEqual(self.request("web")["instances"], 2)
        self.assertEqual(self.request("web")["annotations"]["corral.io/commit"], c2)
        self.assertIn("%s/deploys/web/v2" % PREFIX, self.deploys("web"))
        self.assertIn("request/web configured", self.status()["changes"])
        harness.wait_until(lambda: len(self.running("web", "v2")) == 2, 60, "web v2 runs twice")

        # scale by hand -> Drifted (not reverted without selfHeal)
        self.scale("web", 1)
        harness.wait_until(lambda: self.cond("Drifted").get("status") == "True", 20, "drift")
        drift = self.status()["drift"]
        self.assertTrue(any("request/web" in d and "instances: 1 -> 2" in d for d in drift),
                        drift)
        self.assertEqual(self.request("web")["instances"], 1)
        r = self.cluster.corralctl("diff", "--source", "apps")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("instances: 1 -> 2", r.stdout)
        r = self.cluster.corralctl("source", "describe", "apps", check=True)
        self.assertIn("Drifted  True", r.stdout)
        # ... then reverted with selfHeal
        self.apply_source(interval="2s", prune=True, selfHeal=True)
        harness.wait_until(lambda: self.request("web")["instances"] == 2, 20, "self-heal")
        harness.wait_until(lambda: self.cond("Drifted").get("status") == "False", 20,
                           "no drift")
        self.assertTrue(any(ch.startswith("request/web reverted") for ch in
                            self.status()["changes"]), self.status()["changes"])
        self.assertEqual(self.cluster.corralctl("diff", "--source", "apps").returncode, 0)
        # a deploy made by hand (one that cannot be placed, so it is still
        # rolling out) is cancelled by selfHeal; v2 keeps serving
        harness.wait_until(lambda: (self.cluster.etcd_get_json(
            PREFIX + "/status/deploys/web/v2") or {}).get("state") == "SUCCEEDED", 60,
            "v2 SUCCEEDED")
        st, body = harness.http_json("POST", self.api + "/api/deploys", {"deploy": {
            "requestId": "web", "id": "hotfix", "command": "sleep 600",
            "resources": {"cpus": 40, "memoryMb": 16}}})
        self.assertEqual(st, 200, body)
        harness.wait_until(lambda: self.cluster.etcd_get_json(
            PREFIX + "/intents/deploys/web/hotfix/cancel"), 20, "hotfix cancelled")
        harness.wait_until(lambda: (self.cluster.etcd_get_json(
            PREFIX + "/status/deploys/web/hotfix") or {}).get("state") == "CANCELED", 30,
            "hotfix CANCELED")
        self.assertIn("deploy/web/hotfix cancelled (created outside the source)",
                      self.status()["changes"])
        harness.wait_until(lambda: self.cond("Drifted").get("status") == "False", 20,
                           "no drift after the cancel")
        self.assertEqual((self.cluster.etcd_get_json(PREFIX + "/status/requests/web") or {})
                         .get("activeDeployId"), "v2")

        # an invalid commit -> Failed with file:line, nothing changed
        before = self.request("web")
        bad = app("web", 3, "v3").replace("instances: 3", "instances: three")
        c3 = self.commit({"apps/web.yaml": bad}, "broken")
        harness.wait_until(lambda: self.status().get("fetchedCommit") == c3, 30, "c3 fetched")
        failed = self.cond("Failed")
        self.assertEqual(failed.get("status"), "True", failed)
        self.assertIn("apps/web.yaml:4:", failed["message"])
        self.assertIn("instances", failed["message"])
        self.assertEqual(self.status()["commit"], c2)
        self.assertEqual(self.request("web"), before)
        self.assertNotIn("%s/deploys/web/v3" % PREFIX, self.deploys("web"))

        # remove a request from the repository -> pruned; the hand-made one stays
        c4 = self.commit({"apps/web.yaml": app("web", 2, "v2"), "apps/batch.yaml": None},
                         "fix web, drop batch")
        harness.wait_until(lambda: self.synced(c4), 30, "commit 4 synced")
        self.assertIsNone(self.request("batch"))
        self.assertIn("request/batch pruned", self.status()["changes"])
        self.assertEqual(self.status()["requests"], ["web"])
        self.assertIsNotNone(self.request("manual"))
        self.assertNotIn("annotations", self.request("manual"))
        self.assertEqual(self.cond("Failed").get("status"), "False")

        # corralctl shows it, and which Source manages a request
        r = self.cluster.corralctl("describe", "request", "web", check=True)
        self.assertIn("corral.io/source: apps", r.stdout)
        self.assertIn("corral.io/commit: " + c2, r.stdout)  # the commit that last wrote it
        r = self.cluster.corralctl("source", "get", check=True)
        self.assertIn("apps", r.stdout)
        self.assertIn(c4[:12], r.stdout)

    def test_webhook_syncs_at_once(self):
        self.start(mesos=False)
        self.make_repo()
        c1 = self.commit({"apps/a.yaml": REQUEST % {"rid": "a", "n": 1}}, "a")
        self.assertIn("source/apps created", self.apply_source(interval="1h").stdout)
        self.assertIn("source/apps unchanged", self.apply_source(interval="1h").stdout)
        harness.wait_until(lambda: self.synced(c1), 30, "first sync")
        c2 = self.commit({"apps/a.yaml": REQUEST % {"rid": "a", "n": 3}}, "a x3")
        r = self.cluster.corralctl("source", "sync", "apps", check=True)
        self.assertIn("sync requested", r.stdout)
        # the interval is an hour: only the sync request can bring c2 in
        harness.wait_until(lambda: self.synced(c2), 30, "synced through the hook")
        self.assertEqual(self.request("a")["instances"], 3)
        # an unknown Source is a 404; a bad name a 400
        st, _ = harness.http_json("POST", self.api + "/api/sources/source/nope/sync")
        self.assertEqual(st, 404)
        st, _ = harness.http_json("POST", self.api + "/api/sources", {"name": "x",
                                                                     "repository": "--upload-pack=sh"})
        self.assertEqual(st, 400)
        self.assertIsNone(self.cluster.etcd_get_json(PREFIX + "/sources/x"))
        # an invalid Source written straight into etcd: a condition, and the
        # loop keeps serving the others
        self.cluster.etcdctl("put", PREFIX + "/sources/bad", json.dumps({"name": "bad"}))
        harness.wait_until(lambda: self.cluster.etcd_get_json(PREFIX + "/status/sources/bad"),
                           20, "status of the invalid Source")
        bad = {c["type"]: c for c in
               self.cluster.etcd_get_json(PREFIX + "/status/sources/bad")["conditions"]}
        self.assertEqual(bad["Failed"]["reason"], "InvalidSource")
        self.assertIn("repository", bad["Failed"]["message"])
        c3 = self.commit({"apps/a.yaml": REQUEST % {"rid": "a", "n": 4}}, "a x4")
        r = self.cluster.corralctl("source", "sync", "apps", "--wait", "--timeout", "60s",
                                   check=True)
        self.assertIn("Synced=True", r.stdout)
        self.assertTrue(self.synced(c3), self.status())  # --wait returned after the sync
        # deleting a Source keeps what it made and drops its status
        r = self.cluster.corralctl("source", "delete", "apps", check=True)
        self.assertIn("source/apps deleted", r.stdout)
        harness.wait_until(lambda: not self.status(), 20, "status removed")
        self.assertEqual(self.request("a")["instances"], 4)

    def test_standby_finishes_sync(self):
        c = self.cluster
        c.etcd()
        data = os.path.join(c.tmpdir, "data")
        args = ["--leader-lease-ttl", "2"]
        first = c.corrald(args=args + ["--data-dir", data + "1"], name="corrald1")
        first_proc = c.procs[-1]
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/schema"), 20, "a leader")
        c.corrald(args=args + ["--data-dir", data + "2"], name="corrald2")
        self.api = first
        self.make_repo()
        # more requests than one pass writes: the sync takes several txns
        n = 230
        files = {"apps/r%03d.yaml" % i: REQUEST % {"rid": "r%03d" % i, "n": 1}
                 for i in range(n)}
        head = self.commit(files, "many")
        self.apply_source(interval="2s", prune=True)
        # SIGKILL the leader as soon as the sync has begun
        harness.wait_until(lambda: c.etcd_prefix_json(PREFIX + "/requests/"), 30,
                           "the sync began")
        first_proc.signal(signal.SIGKILL)
        harness.wait_until(lambda: not first_proc.alive(), 10, "leader gone")
        # (usually some of the n requests: the kill lands between two txns;
        # the test holds either way, the status must then be the standby's)
        at_kill = len(c.etcd_prefix_json(PREFIX + "/requests/"))
        if os.environ.get("E2E_VERBOSE"):
            print("requests written when the leader died: %d of %d" % (at_kill, n))
        harness.wait_until(lambda: self.synced(head), 60, "the standby synced")
        reqs = c.etcd_prefix_json(PREFIX + "/requests/")
        self.assertEqual(len(reqs), n)
        self.assertTrue(all(r["annotations"]["corral.io/source"] == "apps"
                            for r in reqs.values()))
        self.assertEqual(len(self.status()["requests"]), n)


@unittest.skipIf(browser.available(), browser.available() or "")
class TestSourcesUi(GitopsCase):
    """The Sources page and a request's "Managed by" row in headless
    chromium (e2e/lib/browser.py), with --auth."""

    def test_sources_page(self):
        c = self.cluster
        admin = "tok-admin-" + os.urandom(16).hex()
        path = os.path.join(c.tmpdir, "tokens")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("%s admin admins\n" % admin)
        c.etcd()
        self.api = c.corrald(args=["--auth", "--auth-token-file", path,
                                   "--data-dir", os.path.join(c.tmpdir, "data")])
        auth = {"Authorization": "Bearer " + admin}
        self.make_repo()
        c1 = self.commit({"apps/a.yaml": REQUEST % {"rid": "a", "n": 1}}, "a")
        st, body = harness.http_json("POST", self.api + "/api/sources",
                                     {"name": "apps", "repository": self.repo, "ref": "main",
                                      "path": "apps", "interval": "1h"}, headers=auth)
        self.assertEqual(st, 201, body)
        harness.wait_until(lambda: self.synced(c1), 30, "first sync")
        b = browser.Browser(c.tmpdir)
        self.addCleanup(b.close)
        made = harness.http_json("POST", self.api + "/api/auth/login-codes", headers=auth)[1]
        b.goto(self.api + made["loginPath"])
        b.wait_text("#user .who", "admin", 20)
        b.js("location.hash = '#/sources'")
        b.wait("[data-source='apps'] .synced-commit", 20)
        self.assertEqual(b.js("document.querySelector(\"[data-source='apps'] .synced-commit\")"
                              ".textContent"), c1[:12])
        b.wait_text("[data-source='apps'] .source-requests", "a")
        b.screenshot(os.path.join(os.environ.get("UI_SCREENSHOTS", c.tmpdir), "sources.png"))
        # an invalid commit shows as Failed with its file:line, live
        c2 = self.commit({"apps/a.yaml": REQUEST % {"rid": "a", "n": 1} + "  bogus: 1\n"},
                         "broken")
        b.click("[data-source='apps'] button[data-act='sync']")
        harness.wait_until(lambda: self.status().get("fetchedCommit") == c2, 30, "c2 fetched")
        b.wait_text("[data-source='apps'] .source-failed", "apps/a.yaml:", 20)
        # the request page names the Source and the commit
        b.js("location.hash = '#/request/a'")
        b.wait_text(".managed-by", "apps", 20)
        self.assertIn(c1[:12], b.js("document.querySelector('.managed-by').textContent"))
        bad = [m for m in b.messages() if "Failed to load resource" not in m]
        self.assertEqual(bad, [], "the page logged errors")


if __name__ == "__main__":
    unittest.main()
