"""Issue 10: the README's first command, run exactly as written in a scratch
copy of the repository, brings up a local Corral with the examples applied
(and a node agent that talks to corrald with a token of its own); `stop`
leaves no process behind."""
import os
import re
import shutil
import subprocess
import tempfile
import time

import harness


def readme_commands():
    """The commands in the README's first ```sh block, comments stripped."""
    with open(os.path.join(harness.ROOT, "README.md")) as f:
        text = f.read()
    block = re.search(r"```sh\n(.*?)```", text, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def scratch_copy(dest):
    """Copies the files git would have in a clean clone (tracked plus
    untracked-but-not-ignored) into dest."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"],
                           cwd=harness.ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = os.path.join(harness.ROOT, rel)
        if not os.path.isfile(src):
            continue
        dst = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)


def procs_under(path):
    """PIDs of processes whose command line or cwd mentions path."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink("/proc/%s/cwd" % pid)
        except OSError:
            continue
        if int(pid) != os.getpid() and (path in cmd or cwd.startswith(path)):
            out.append((int(pid), cmd))
    return out


class LocalUpTest(harness.TestCase):
    def test_readme_first_command(self):
        cmds = readme_commands()
        self.assertEqual(len(cmds), 2, cmds)
        self.assertEqual(cmds[1], "make test")
        first = cmds[0]
        scratch = tempfile.mkdtemp(prefix="corral-localup-")
        self.addCleanup(shutil.rmtree, scratch, True)
        scratch_copy(scratch)

        def stop_all():
            subprocess.run(["bash", "-c", "hack/local-up.sh stop"], cwd=scratch,
                           capture_output=True, timeout=120)
            for pid, _ in procs_under(scratch):
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
        self.addCleanup(stop_all)

        r = subprocess.run(["bash", "-c", first], cwd=scratch, capture_output=True, text=True,
                           timeout=900)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        m = re.search(r"API:\s+(http://127\.0\.0\.1:\d+)/api", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        api = m.group(1)
        self.assertIn("Examples:   applied", r.stdout)

        # Running twice is safe: nothing restarts, the same address is printed.
        r2 = subprocess.run(["bash", "-c", first], cwd=scratch, capture_output=True, text=True,
                            timeout=600)
        self.assertEqual(r2.returncode, 0, r2.stdout[-3000:] + r2.stderr[-3000:])
        self.assertIn("API:        %s/api" % api, r2.stdout)

        # Secured by default: the API refuses an anonymous caller, and the
        # corralctl settings it prints carry the admin token.
        m = re.search(r"export CORRAL_CONFIG=(\S+)", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        env = dict(os.environ, CORRAL_CONFIG=m.group(1))
        env.pop("CORRAL_SERVER", None)
        env.pop("CORRAL_TOKEN", None)
        st, _, _ = harness.http("GET", api + "/api/requests")
        self.assertEqual(st, 401)

        # The printed UI login link (the last run's) logs in once, as the
        # admin, with plain HTTP as the UI does (POST /api/auth/login with
        # the code from the link's fragment), and is refused the second time.
        m = re.search(r"UI login:\s+(%s/ui/#code=(\S+))" % re.escape(api), r2.stdout)
        self.assertIsNotNone(m, r2.stdout)
        self.assertEqual(harness.http("GET", m.group(1).split("#", 1)[0])[0], 200)
        st, login = harness.http_json("POST", api + "/api/auth/login", {"code": m.group(2)})
        self.assertEqual(st, 200, login)
        st, who = harness.http_json("GET", api + "/api/auth/user",
                                    headers={"Authorization": "Bearer " + login["token"]})
        self.assertEqual((st, who["user"]["id"], who["admin"]), (200, "admin", True))
        st, again = harness.http_json("POST", api + "/api/auth/login", {"code": m.group(2)})
        self.assertEqual(st, 401, again)
        tokens = os.path.join(scratch, ".local", "auth", "tokens")
        self.assertEqual(os.stat(tokens).st_mode & 0o077, 0, "token file readable by others")

        # The node agent runs with corrald configured: its arguments name the
        # API and a mode-600 file holding one token, which corrald takes as
        # user nodeagent, an admin (its routes, /api/nodeagent/..., are
        # admin-only); its OOM killer, on only with --corrald, checks.
        na = [cmd.split() for _, cmd in procs_under(scratch) if "/bin/corral-nodeagent " in cmd]
        self.assertEqual(len(na), 1, na)
        self.assertEqual(na[0][na[0].index("--corrald") + 1], api)
        token_file = na[0][na[0].index("--token-file") + 1]
        self.assertEqual(os.stat(token_file).st_mode & 0o077, 0, "node agent token readable")
        with open(token_file) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 1)
        st, who = harness.http_json("GET", api + "/api/auth/user",
                                    headers={"Authorization": "Bearer " + lines[0]})
        self.assertEqual(st, 200, who)
        self.assertEqual((who["user"]["id"], who["admin"]), ("nodeagent", True))
        m = re.search(r"Node agent:\s+(http://127\.0\.0\.1:\d+)", r.stdout)
        self.assertIsNotNone(m, r.stdout)

        def oom_checks():
            _, _, body = harness.http("GET", m.group(1) + "/metrics", timeout=5)
            c = re.search(r"^corral_nodeagent_oom_checks_total (\d+)$", body.decode(), re.M)
            return c and int(c.group(1)) > 0
        harness.wait_until(oom_checks, 30, "the node agent's OOM killer to check")

        # The examples run: every example request exists and the web service
        # reaches its instance count of running tasks.
        ctl = os.path.join(scratch, "bin", "corralctl")
        who = subprocess.run([ctl, "auth", "whoami", "-o", "json"], capture_output=True,
                             text=True, timeout=30, env=env)
        self.assertEqual(who.returncode, 0, who.stderr)
        self.assertEqual(__import__("json").loads(who.stdout)["user"]["id"], "admin")
        got = subprocess.run([ctl, "get", "requests", "-o", "json"],
                             capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(got.returncode, 0, got.stderr)
        ids = {r.get("request", r).get("id") for r in __import__("json").loads(got.stdout)}
        self.assertTrue(len(ids) >= 4, ids)

        # Every long-running example becomes healthy at its full count (this
        # caught agents on one host offering the same ports).
        for name in ("hello-web", "hello-worker"):
            w = subprocess.run([ctl, "wait", "request", name, "--for", "healthy",
                                "--timeout", "120s"], capture_output=True, text=True, timeout=180,
                               env=env)
            self.assertEqual(w.returncode, 0, "%s: %s%s" % (name, w.stdout, w.stderr))

        # The load-balanced example answers through the nginx it started
        # (docs/loadbalancing.md): added once healthy, at its serviceBasePath.
        m = re.search(r"LB:\s+(http://127\.0\.0\.1:\d+)/", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        harness.wait_until(
            lambda: harness.http("GET", m.group(1) + "/hello-lb/", timeout=5)[0] == 200, 120,
            "hello-lb through nginx")

        out = subprocess.run(["bash", "-c", "hack/local-up.sh stop"], cwd=scratch,
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        harness.wait_until(lambda: not procs_under(scratch), 30, "no process left")
        # Data is kept for the next start unless --wipe.
        self.assertTrue(os.path.isdir(os.path.join(scratch, ".local", "etcd")))


if __name__ == "__main__":
    harness.main()
