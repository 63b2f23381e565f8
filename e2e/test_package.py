"""The Debian packages, built and installed as an operator would (issue 23).

`hack/build-deb.sh` (what `make deb` runs) builds corral, corral-agent and
mesoslite with dpkg-buildpackage and runs lintian (errors and warnings
fail). The build's own test step (every man page against its binary's
--help) is skipped here with DEB_BUILD_OPTIONS=nocheck: e2e/test_man.py
reports a stale page, `make deb` refuses one.
Then the packages go into a clean root: a copy-on-write overlay of this
machine's own Debian (writes land in a temp dir; the machine is not
touched) in a private mount namespace, where corral was never installed.
`dpkg -i` runs the maintainer scripts there (the corral user, /var/lib/corral,
a bootstrap admin token in /etc/corral/tokens, mode 600, owned by corral,
the units enabled; policy-rc.d keeps systemd from starting anything). The
units' own ExecStart lines are then run in that root, as the units' users,
with the installed default settings (auth on), only the listen address and
etcd endpoint overridden, against a real etcd on a free loopback port:
corrald answers /healthz, refuses calls without a token, and corralctl
talks to it with the installed token; the node agent and mesoslite answer
too. Installing again keeps the token. Purge removes the settings, the
token file and the state folder.

Without root or overlay mounts the packages are unpacked with `dpkg -x`
instead and run from there (the maintainer scripts are then not tried).
Skipped when dpkg-buildpackage is missing (hack/deps.sh installs it), and
under `make e2e-asan` (it builds its own binaries; the plain e2e stage runs
it).
"""
import glob
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

import harness

ROOT = harness.ROOT
PACKAGES = ("corral", "corral-agent", "mesoslite")


def sh(argv, check=True, timeout=120, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s exited %d:\n%s%s" % (" ".join(argv), r.returncode, r.stdout,
                                                      r.stderr))
    return r


def unit_exec(text, env=None):
    """The argv of a unit's ExecStart (continuation lines joined; ${VAR}
    from env, $VAR split into words as systemd does)."""
    text = text.replace("\\\n", " ")
    line = next(ln for ln in text.split("\n") if ln.startswith("ExecStart="))
    words = []
    for w in shlex.split(line[len("ExecStart="):]):
        m = re.fullmatch(r"\$([A-Z_]+)", w)
        if m:
            words += shlex.split((env or {}).get(m.group(1), ""))
        else:
            words.append(re.sub(r"\$\{([A-Z_]+)\}", lambda x: (env or {})[x.group(1)], w))
    return words


def unit_value(text, key):
    m = re.search(r"^%s=(.*)$" % key, text, re.M)
    return m.group(1).strip() if m else None


def env_file(text):
    out = {}
    for ln in text.split("\n"):
        ln = ln.strip()
        if ln and not ln.startswith("#") and "=" in ln:
            k, _, v = ln.partition("=")
            out[k] = v
    return out


def settings(text):
    """{name: value} of a settings file's lines that are not comments."""
    out = {}
    for ln in text.split("\n"):
        ln = ln.strip()
        if ln and not ln.startswith("#"):
            k, _, v = ln.partition(":")
            out[k.strip()] = v.strip()
    return out


def deb_cat(deb, path):
    """The text of path inside a .deb's data."""
    return sh(["sh", "-c", "dpkg-deb --fsys-tarfile %s | tar -xOf - .%s"
               % (shlex.quote(deb), shlex.quote(path))]).stdout


def deb_files(deb):
    """Paths in a .deb's data ("/usr/bin/corrald"), files and links only."""
    r = subprocess.run("dpkg-deb --fsys-tarfile %s | tar -tvf -" % shlex.quote(deb), shell=True,
                       capture_output=True, text=True, timeout=60, check=True)
    paths = set()
    for ln in r.stdout.splitlines():
        if ln.startswith("d"):
            continue
        name = ln.split(None, 5)[5].split(" -> ")[0]
        paths.add(name[1:] if name.startswith(".") else name)
    return paths


@unittest.skipIf(shutil.which("dpkg-buildpackage") is None,
                 "dpkg-buildpackage is missing (hack/deps.sh installs dpkg-dev and debhelper)")
@unittest.skipIf(os.environ.get("CORRAL_BIN"),
                 "CORRAL_BIN set (make e2e-asan): the package builds its own binaries, "
                 "tested in the plain e2e stage")
class PackageTest(harness.TestCase):
    out = None

    @classmethod
    def setUpClass(cls):
        cls.out = tempfile.mkdtemp(prefix="corral-deb-")
        # nocheck: the build's own test step (man pages against --help) is
        # e2e/test_man.py's to report; here a stale page must not hide a
        # packaging regression. `make deb` keeps the check.
        env = dict(os.environ,
                   DEB_BUILD_OPTIONS="nocheck " + os.environ.get("DEB_BUILD_OPTIONS", ""))
        r = subprocess.run([os.path.join(ROOT, "hack", "build-deb.sh"), cls.out],
                           capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
        cls.build = r
        cls.debs = {}
        for p in PACKAGES:
            found = glob.glob(os.path.join(cls.out, "%s_*.deb" % p))
            if found:
                cls.debs[p] = found[0]

    @classmethod
    def tearDownClass(cls):
        if cls.out:
            shutil.rmtree(cls.out, ignore_errors=True)

    def setUp(self):
        super().setUp()
        if self.build.returncode != 0:
            self.fail("hack/build-deb.sh exited %d:\n%s\n%s"
                      % (self.build.returncode, self.build.stdout[-3000:],
                         self.build.stderr[-6000:]))

    # --- the packages -------------------------------------------------------------

    def test_build_lintian_clean_and_contents(self):
        self.assertEqual(sorted(self.debs), sorted(PACKAGES))
        # build-deb.sh ran lintian --fail-on error,warning; show what it said.
        self.assertNotRegex(self.build.stderr, r"(?m)^[EW]: ")
        corral = deb_files(self.debs["corral"])
        for path in ("/usr/bin/corrald", "/usr/bin/corralctl", "/etc/corral/corrald.yaml",
                     "/lib/systemd/system/corrald.service",
                     "/usr/share/man/man1/corrald.1.gz", "/usr/share/man/man1/corralctl.1.gz",
                     "/usr/share/bash-completion/completions/corralctl",
                     "/usr/share/doc/corral/operations.md", "/usr/share/doc/corral/corrald.md",
                     "/usr/share/doc/corral/etcd-layout.md", "/usr/share/doc/corral/copyright"):
            self.assertIn(path, corral)
        agent = deb_files(self.debs["corral-agent"])
        for path in ("/usr/bin/corral-executor", "/usr/bin/corral-nodeagent",
                     "/etc/corral/corral-nodeagent.conf", "/etc/corral/corral-nodeagent.env",
                     "/lib/systemd/system/corral-nodeagent.service",
                     "/usr/share/man/man1/corral-executor.1.gz",
                     "/usr/share/man/man1/corral-nodeagent.1.gz"):
            self.assertIn(path, agent)
        ml = deb_files(self.debs["mesoslite"])
        for path in ("/usr/bin/mesoslite", "/etc/corral/mesoslite.yaml",
                     "/lib/systemd/system/mesoslite.service", "/usr/share/man/man1/mesoslite.1.gz"):
            self.assertIn(path, ml)
        # Settings are conffiles.
        for p, conf in (("corral", "/etc/corral/corrald.yaml"),
                        ("corral-agent", "/etc/corral/corral-nodeagent.conf"),
                        ("mesoslite", "/etc/corral/mesoslite.yaml")):
            self.assertIn(conf, sh(["dpkg-deb", "-I", self.debs[p], "conffiles"]).stdout)
        fields = sh(["dpkg-deb", "-f", self.debs["corral"], "Version", "Depends"]).stdout
        self.assertIn("adduser", fields)
        # The shipped settings run secured: auth on, the token file the
        # postinst makes; the package itself holds no token.
        conf = settings(deb_cat(self.debs["corral"], "/etc/corral/corrald.yaml"))
        self.assertEqual(conf.get("auth"), "true", conf)
        self.assertEqual(conf.get("auth-token-file"), "/etc/corral/tokens", conf)
        self.assertEqual(conf.get("listen"), "127.0.0.1:7099")
        self.assertNotIn("/etc/corral/tokens", corral)
        postinst = sh(["dpkg-deb", "-I", self.debs["corral"], "postinst"]).stdout
        self.assertIn("/etc/corral/tokens", postinst)
        self.assertIn("chmod 0600", postinst)

    def test_make_install_matches_the_packages(self):
        """`make install` (PREFIX=/usr) installs what the three packages hold,
        but for the files dh adds (copyright, changelog) and man page
        compression."""
        x = os.path.join(self.cluster.tmpdir, "x")
        for deb in self.debs.values():
            sh(["dpkg-deb", "-x", deb, x])
        dest = os.path.join(self.cluster.tmpdir, "dest")
        # -o all: install the package's binaries, build nothing.
        sh(["make", "-s", "-C", ROOT, "-o", "all", "install", "DESTDIR=" + dest, "PREFIX=/usr",
            "SYSTEMDUNITDIR=/lib/systemd/system", "BIN=" + os.path.join(x, "usr", "bin")])
        installed = set()
        for d, _, files in os.walk(dest):
            for f in files:
                installed.add(os.path.join(d, f)[len(dest):])
        packaged = set()
        dh_adds = re.compile(r"/usr/share/(doc/[^/]+/(copyright|changelog\.gz)|lintian/.*)$")
        for deb in self.debs.values():
            for p in deb_files(deb):
                if dh_adds.match(p):
                    continue
                packaged.add(p[:-3] if p.endswith(".1.gz") else p)
        self.assertEqual(sorted(installed - packaged), [])
        self.assertEqual(sorted(packaged - installed), [])
        # The units' paths rewritten for another PREFIX.
        dest2 = os.path.join(self.cluster.tmpdir, "dest2")
        sh(["make", "-s", "-C", ROOT, "-o", "all", "install", "DESTDIR=" + dest2,
            "PREFIX=/opt/corral", "BIN=" + os.path.join(x, "usr", "bin")])
        unit = open(os.path.join(dest2, "opt/corral/lib/systemd/system/corrald.service")).read()
        self.assertIn("ExecStart=/opt/corral/bin/corrald --config "
                      "/opt/corral/etc/corral/corrald.yaml", unit)
        self.assertIn("file:///opt/corral/share/doc/corral/operations.md", unit)

    # --- installed into a clean root --------------------------------------------------

    def clean_root(self):
        """A private mount namespace with an overlay of / at <tmp>/root;
        returns a function running argv chrooted there, or None when this
        machine does not allow it (not root, no overlayfs)."""
        if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nsenter"):
            return None
        t = self.cluster.tmpdir
        root, upper, work = (os.path.join(t, n) for n in ("root", "upper", "work"))
        for d in (root, upper, work):
            os.mkdir(d)
        script = ("set -e; mount -t overlay overlay -o lowerdir=/,upperdir=%s,workdir=%s %s; "
                  "mount --rbind /dev %s/dev; mount -t proc proc %s/proc; echo ready; "
                  "exec sleep 100000" % (upper, work, root, root, root))
        ns = self.cluster.spawn("mountns", ["unshare", "-m", "--propagation", "private", "sh",
                                            "-c", script])
        try:
            harness.wait_until(lambda: "ready" in ns.log() or not ns.alive(), 10, "mount namespace")
        except AssertionError:
            return None
        if not ns.alive():
            return None

        def chroot(argv, user=None):
            spec = ["--userspec=%s:%s" % (user, user)] if user else []
            return ["nsenter", "-t", str(ns.pid), "-m", "--", "chroot"] + spec + [root] + argv
        return chroot

    def test_install_run_purge_in_clean_root(self):
        chroot = self.clean_root()
        if chroot is None:
            return self.run_unpacked()
        run = lambda *argv: sh(chroot(list(argv)))  # noqa: E731
        # Clean of Corral; services are not started in a chroot (policy-rc.d).
        run("sh", "-c", "set -e; rm -rf /etc/corral /var/lib/corral; "
            "if getent passwd corral >/dev/null; then userdel corral; fi; "
            "if getent group corral >/dev/null; then groupdel corral; fi; "
            "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d; "
            "chmod 755 /usr/sbin/policy-rc.d; rm -f /var/lib/man-db/auto-update")
        for p in PACKAGES:
            r = sh(chroot(["dpkg-query", "-W", "-f", "${Status}", p]), check=False)
            self.assertNotIn("install ok installed", r.stdout, "%s installed already" % p)
        r = run("dpkg", "-i", *[self.debs[p] for p in PACKAGES])
        self.assertNotIn("warning", r.stderr.lower())
        # The bootstrap token: made once, where the postinst says, mode 600
        # and the service user's; never printed.
        self.assertIn("made a bootstrap admin token (user admin, group admins) in "
                      "/etc/corral/tokens", r.stdout)
        self.assertEqual(run("stat", "-c", "%U:%G:%a", "/etc/corral/tokens").stdout.strip(),
                         "corral:corral:600")
        lines = [ln for ln in run("cat", "/etc/corral/tokens").stdout.splitlines()
                 if ln.strip() and not ln.startswith("#")]
        self.assertEqual(len(lines), 1, lines)
        token, user, groups = lines[0].split()
        self.assertRegex(token, r"^crl_[0-9a-f]{64}$")
        self.assertEqual((user, groups), ("admin", "admins"))
        self.assertNotIn(token, r.stdout + r.stderr)
        # Installed again (an upgrade, a reinstall): the file stays as it is.
        r = run("dpkg", "-i", self.debs["corral"])
        self.assertNotIn("made a bootstrap admin token", r.stdout)
        self.assertIn(lines[0], run("cat", "/etc/corral/tokens").stdout)
        # The maintainer scripts: a system user, its state folder, the units.
        user = run("getent", "passwd", "corral").stdout.strip().split(":")
        self.assertLess(int(user[2]), 1000, user)
        self.assertEqual(user[5], "/var/lib/corral")
        self.assertEqual(run("stat", "-c", "%U:%G:%a", "/var/lib/corral").stdout.strip(),
                         "corral:corral:750")
        wants = run("ls", "/etc/systemd/system/multi-user.target.wants").stdout.split()
        self.assertIn("corrald.service", wants)
        self.assertIn("corral-nodeagent.service", wants)
        self.assertNotIn("mesoslite.service", wants)
        self.assertIn("/etc/corral/corrald.yaml",
                      run("cat", "/var/lib/dpkg/info/corral.conffiles").stdout)
        cat = lambda path: run("cat", path).stdout  # noqa: E731

        # corrald: the unit's command as the unit's user, the installed
        # settings, the address and etcd given on top (flags win).
        unit = cat("/lib/systemd/system/corrald.service")
        for doc in unit_value(unit, "Documentation").split():
            if doc.startswith("file://"):
                run("test", "-f", doc[len("file://"):])
        etcd = self.cluster.etcd()
        port = harness.free_port()
        api = "http://127.0.0.1:%d" % port
        argv = unit_exec(unit) + ["--listen", "127.0.0.1:%d" % port, "--etcd-endpoints", etcd]
        self.assertEqual(argv[0], "/usr/bin/corrald")
        eff = sh(chroot(argv + ["--print-config"], user=unit_value(unit, "User"))).stdout
        self.assertIn("listen: 127.0.0.1:%d" % port, eff)
        self.assertIn("prefix: /corral", eff)
        self.assertIn("auth: true", eff)
        self.cluster.spawn("corrald", chroot(argv, user=unit_value(unit, "User")))
        harness.wait_until(lambda: harness.http("GET", api + "/readyz", timeout=1)[0] == 200, 20,
                           "installed corrald ready")
        # Secured: no token, no answer; the installed token is the admin.
        self.assertEqual(harness.http("GET", api + "/api/state")[0], 401)
        st, who = harness.http_json("GET", api + "/api/auth/user",
                                    headers={"Authorization": "Bearer " + token})
        self.assertEqual((st, who["user"]["id"], who["admin"]), (200, "admin", True))
        # corralctl, installed, talks to it with that token ($CORRAL_TOKEN).
        with_token = dict(os.environ, CORRAL_TOKEN=token)
        run = lambda *argv: sh(chroot(list(argv)), env=with_token)  # noqa: E731
        self.assertNotEqual(sh(chroot(["/usr/bin/corralctl", "--server", api, "state"]),
                               check=False).returncode, 0)
        st = run("/usr/bin/corralctl", "--server", api, "state")
        self.assertIn("request", st.stdout.lower())
        manifest = os.path.join(self.cluster.tmpdir, "req.yaml")
        with open(manifest, "w") as f:
            f.write("apiVersion: corral/v1\nkind: Request\nmetadata: {name: pkg-test}\n"
                    "spec: {id: pkg-test, requestType: WORKER, instances: 1}\n")
        self.assertIn("request/pkg-test created",
                      run("/usr/bin/corralctl", "--server", api, "apply", "-f", manifest).stdout)
        self.assertIn("pkg-test", run("/usr/bin/corralctl", "--server", api, "get",
                                      "requests").stdout)
        self.assertIn("corralctl", run("/usr/bin/corralctl", "version").stdout)
        # The layout version the leader recorded.
        harness.wait_until(lambda: self.cluster.etcd_get_json("/corral/schema"), 20,
                           "the schema key")

        # The node agent: its unit (root) and settings.
        nunit = cat("/lib/systemd/system/corral-nodeagent.service")
        self.assertEqual(run("stat", "-c", "%a", "/etc/corral/corral-nodeagent.env").stdout.strip(),
                         "600")
        nenv = env_file(cat(unit_value(nunit, "EnvironmentFile").lstrip("-")))
        nport = harness.free_port()
        nargv = unit_exec(nunit, nenv) + ["--listen", "127.0.0.1:%d" % nport]
        self.cluster.spawn("nodeagent", chroot(nargv))
        harness.wait_until(lambda: harness.http("GET", "http://127.0.0.1:%d/healthz" % nport,
                                                timeout=1)[0] == 200, 20, "installed node agent")

        # mesoslite: its unit reads /etc/corral/mesoslite.yaml (3 agents
        # there); a flag moves it to a free port.
        munit = cat("/lib/systemd/system/mesoslite.service")
        self.assertIn("--config /etc/corral/mesoslite.yaml", unit_value(munit, "ExecStart"))
        mport = harness.free_port()
        run("mkdir", "-p", "/var/lib/mesoslite")
        self.cluster.spawn("mesoslite", chroot(unit_exec(munit, {}) +
                                               ["--listen", "127.0.0.1:%d" % mport]))
        harness.wait_until(lambda: harness.http("GET", "http://127.0.0.1:%d/master/state" % mport,
                                                timeout=1)[0] == 200, 20, "installed mesoslite")
        _, mstate = harness.http_json("GET", "http://127.0.0.1:%d/master/state" % mport)
        self.assertEqual(len(mstate["slaves"]), 3)

        # Man pages and completion are where man and bash look.
        self.assertIn("corrald", run("man", "-w", "corrald").stdout)
        run("bash", "-c", "source /usr/share/bash-completion/completions/corralctl && "
            "complete -p corralctl")

        # Purge: settings and state go, the user stays (Debian's way).
        for p in reversed(self.cluster.procs):
            if p.name in ("corrald", "nodeagent", "mesoslite"):
                p.stop()
        run("dpkg", "--purge", *PACKAGES)
        r = sh(chroot(["ls", "/etc/corral", "/var/lib/corral", "/usr/bin/corrald",
                       "/etc/corral/tokens"]), check=False)
        self.assertEqual(r.stdout.strip(), "")
        run("getent", "passwd", "corral")

    def run_unpacked(self):
        """Fallback without a clean root: dpkg -x and run from there."""
        x = os.path.join(self.cluster.tmpdir, "x")
        for deb in self.debs.values():
            sh(["dpkg-deb", "-x", deb, x])
        unit = open(os.path.join(x, "lib/systemd/system/corrald.service")).read()
        argv = [x + a if a.startswith("/") else a for a in unit_exec(unit)]
        etcd = self.cluster.etcd()
        port = harness.free_port()
        api = "http://127.0.0.1:%d" % port
        # The postinst's token file, as it would make it (it does not run here).
        tokens = os.path.join(self.cluster.tmpdir, "tokens")
        token = "crl_" + os.urandom(32).hex()
        fd = os.open(tokens, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("%s admin admins\n" % token)
        self.cluster.spawn("corrald", argv + ["--listen", "127.0.0.1:%d" % port,
                                              "--etcd-endpoints", etcd,
                                              "--auth-token-file", tokens])
        harness.wait_until(lambda: harness.http("GET", api + "/healthz", timeout=1)[0] == 200, 20,
                           "unpacked corrald")
        self.assertEqual(harness.http("GET", api + "/api/state")[0], 401)
        sh([os.path.join(x, "usr/bin/corralctl"), "--server", api, "state"],
           env=dict(os.environ, CORRAL_TOKEN=token))
        print("note: not root or no overlay mounts: ran the unpacked packages (dpkg -x); "
              "maintainer scripts not tried (user %s)" % pwd.getpwuid(os.geteuid()).pw_name)


if __name__ == "__main__":
    harness.main()
