"""A rolling upgrade of three corrald replicas, from the previous release's
binaries to these, while a WORKER of three instances runs: followers first,
the leader last, each stopped with SIGTERM and started again at its address
with the new binary (docs/operations.md "Upgrade"). Mesos must see the same
three tasks RUNNING at every poll (no capacity lost, nothing launched twice
or killed), every replica must come back ready, the new release must lead
and appear among the layout's writers, and the request must still be
scalable afterwards.

The previous release is built from git: the tag named by
$CORRAL_UPGRADE_FROM, else `v0.1.0`, else the commit below (the last one
of release 0.1.0), with `git archive` into the test's temp dir, under
build/upgrade-<commit>/ so a second run reuses it. Without git history the
test is skipped and says why.
"""
import fcntl
import os
import re
import signal
import subprocess
import threading
import time

import harness

PREVIOUS_COMMIT = "92fc75a"   # release 0.1.0
PREFIX = "/corral"


def rev_of(ref):
    r = subprocess.run(["git", "-C", harness.ROOT, "rev-parse", "--verify", "-q", ref + "^{commit}"],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def build_previous(ref):
    """Builds the previous release's corrald; returns its path. `make test`
    runs this file in the plain and the sanitized e2e suites at once: the
    build holds a lock, so one builds and the other waits and reuses it
    (two builds in one tree had one of them find no corrald)."""
    commit = rev_of(ref)
    out = os.path.join(harness.ROOT, "build", "upgrade-" + commit[:12])
    exe = os.path.join(out, "bin", "corrald")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(exe):
            return exe
        return build_locked(ref, commit, out, exe)


def build_locked(ref, commit, out, exe):
    src = os.path.join(out, "src")
    os.makedirs(src, exist_ok=True)
    archive = subprocess.Popen(["git", "-C", harness.ROOT, "archive", commit], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", src], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise AssertionError("git archive %s failed" % commit)
    print("building release %s (%s) for the upgrade test..." % (ref, commit[:12]), flush=True)
    # a plain build: not the sanitized suite's make variables (BUILD, CC,
    # CFLAGS, ... reach a child make through MAKEFLAGS)
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "BUILD", "BIN", "CC",
                        "CFLAGS", "LDFLAGS")}
    r = subprocess.run(["make", "-C", src, "-j2", "bin/corrald"], capture_output=True, text=True,
                       timeout=900, env=env)
    if r.returncode != 0:
        raise AssertionError("building %s failed:\n%s" % (ref, r.stderr[-3000:]))
    os.makedirs(os.path.dirname(exe), exist_ok=True)
    os.replace(os.path.join(src, "bin", "corrald"), exe)
    return exe


def metric(url, name):
    try:
        st, _, raw = harness.http("GET", url + "/metrics", timeout=2)
    except OSError:
        return None
    m = re.search(r"^%s(?:\{[^}]*\})? (\S+)$" % name, raw.decode(), re.M) if st == 200 else None
    return float(m.group(1)) if m else None


def running_ids(mesos, rid):
    """The ids of rid's tasks Mesos shows RUNNING."""
    _, body = harness.http_json("GET", mesos + "/master/tasks", timeout=2)
    return {t["id"] for t in body["tasks"]
            if t["id"].startswith(rid + "-") and t["state"] == "TASK_RUNNING"}


class Watcher(threading.Thread):
    """Polls Mesos' tasks of the request; records every poll whose RUNNING
    set differs from the expected one."""

    def __init__(self, mesos, rid, expect):
        super().__init__(daemon=True)
        self.mesos, self.rid, self.expect = mesos, rid, expect
        self.bad, self.polls = [], 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                running = running_ids(self.mesos, self.rid)
                self.polls += 1
                if running != self.expect:
                    self.bad.append((time.time(), sorted(running)))
            except (OSError, ValueError, KeyError) as e:
                self.bad.append((time.time(), "poll failed: %s" % e))
            self.done.wait(0.2)


class TestUpgrade(harness.TestCase):
    def version(self, url):
        _, st = harness.http_json("GET", url + "/api/state")
        return st["hostStates"][0]["version"]

    def replica(self, exe, port, name):
        url = "http://127.0.0.1:%d" % port
        argv = [exe, "--listen", "127.0.0.1:%d" % port, "--etcd-endpoints", self.cluster.etcd_url,
                "--prefix", PREFIX, "--mesos-master", self.cluster.mesos_url,
                "--replica-id", "replica-%d" % port]
        p = self.cluster.spawn(name, argv)
        harness.wait_until(lambda: harness.http("GET", url + "/readyz", timeout=1)[0] == 200, 30,
                           "%s ready at %s" % (name, url))
        return p

    def test_rolling_upgrade_keeps_tasks(self):
        ref = os.environ.get("CORRAL_UPGRADE_FROM") or ("v0.1.0" if rev_of("v0.1.0") else PREVIOUS_COMMIT)
        if not os.path.exists(os.path.join(harness.ROOT, ".git")) or not rev_of(ref):
            self.skipTest("no git history with %s to build the previous release from" % ref)
        old = build_previous(ref)
        new = os.path.join(harness.BIN, "corrald")
        c = self.cluster
        c.etcd()
        c.mesoslite(agents=3)
        ports = [harness.free_port() for _ in range(3)]
        procs = {p: self.replica(old, p, "old-%d" % i) for i, p in enumerate(ports)}
        urls = {p: "http://127.0.0.1:%d" % p for p in ports}
        leader = harness.wait_until(
            lambda: next((p for p in ports if metric(urls[p], "corral_leader") == 1), None), 30,
            "an old replica leads")
        c.api_url = urls[leader]

        api = urls[ports[0]]
        st, body = harness.http_json("POST", api + "/api/requests",
                                     {"id": "work", "requestType": "WORKER", "instances": 3})
        self.assertEqual(st, 200, body)
        st, body = harness.http_json("POST", api + "/api/deploys", {"deploy": {
            "requestId": "work", "id": "v1", "command": "sleep 100000",
            "resources": {"cpus": 0.05, "memoryMb": 16}}})
        self.assertEqual(st, 200, body)

        def running(n):
            ids = running_ids(c.mesos_url, "work")
            return ids if len(ids) == n else None
        tasks = harness.wait_until(lambda: running(3), 60, "3 tasks of work RUNNING")
        # Settled: the deploy succeeded, so nothing is in flight when the roll starts.
        harness.wait_until(lambda: (c.etcd_get_json(PREFIX + "/status/requests/work") or {})
                           .get("activeDeployId") == "v1", 60, "deploy v1 active")
        schema_before = c.etcd_get_json(PREFIX + "/schema")
        old_version = self.version(urls[leader])

        watcher = Watcher(c.mesos_url, "work", tasks)
        watcher.start()
        try:
            for p in [q for q in ports if q != leader] + [leader]:
                procs[p].stop()
                procs[p] = self.replica(new, p, "new-%d" % ports.index(p))
                seen = watcher.polls   # Mesos is looked at between restarts too
                harness.wait_until(lambda: watcher.polls >= seen + 2, 10, "two more polls")
            harness.wait_until(
                lambda: next((p for p in ports if metric(urls[p], "corral_leader") == 1), None), 30,
                "a new replica leads")
            # Leading takes a reconciliation and a pass: let the new leader
            # see the tasks through before judging.
            harness.wait_until(lambda: (c.etcd_get_json(PREFIX + "/status/requests/work") or {})
                               .get("counts", {}).get("running") == 3, 60, "the new leader counts 3")
        finally:
            watcher.done.set()
            watcher.join(5)
        self.assertGreaterEqual(watcher.polls, 6)
        self.assertEqual(watcher.bad, [], "Mesos' RUNNING tasks changed during the roll")
        self.assertEqual(sum(1 for p in ports if metric(urls[p], "corral_leader") == 1), 1)
        self.assertTrue(all(metric(urls[p], "corral_etcd_layout_refused") in (0, None) for p in ports))

        schema = c.etcd_get_json(PREFIX + "/schema")
        self.assertEqual(schema.get("version"), schema_before.get("version"))
        versions = {self.version(urls[p]) for p in ports}
        self.assertEqual(len(versions), 1, versions)
        new_version = versions.pop()
        self.assertEqual(schema["writers"][-1], new_version)
        if new_version != old_version:
            self.assertIn(old_version, schema["writers"])

        # The upgraded cluster still acts: scale to 4, one launch.
        st, body = harness.http_json("PUT", urls[ports[1]] + "/api/requests/request/work/scale",
                                     {"instances": 4})
        self.assertEqual(st, 200, body)
        after = harness.wait_until(lambda: running(4), 60, "4 running")
        self.assertTrue(tasks < after)
        for p in ports:
            procs[p].signal(signal.SIGTERM)


if __name__ == "__main__":
    harness.main()
