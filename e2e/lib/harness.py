"""Harness for Corral's end-to-end tests: real binaries on loopback.

Each test case gets a Cluster that owns a temporary directory and every
process it starts. Processes run in their own process group and are stopped
(SIGTERM, then SIGKILL after a grace period) at teardown, whatever happened,
so no test leaves processes behind.

    import harness

    class T(harness.TestCase):
        def test_x(self):
            etcd = self.cluster.etcd()
            api = self.cluster.corrald()
            harness.wait_until(lambda: harness.http("GET", api + "/healthz")[0] == 200,
                               10, "corrald healthy")
"""

import glob
import json
import os
import random
import signal
import socket
import subprocess
import shutil
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Absolute: processes run in their temp dir (`make e2e-asan` sets it).
BIN = os.path.abspath(os.environ.get("CORRAL_BIN", os.path.join(ROOT, "bin")))
ETCD = shutil.which("etcd") or "/usr/bin/etcd"
ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"

# Seconds between SIGTERM and SIGKILL at teardown; sanitized builds check
# for leaks as they exit, which takes longer.
STOP_GRACE = float(os.environ.get("E2E_STOP_GRACE", "5"))
# Sanitized binaries (`make e2e-asan`) write each report to <log_path>.<pid>,
# log_path from these options; an executor whose environment was replaced
# (mesoslite --executor-environment-variables) writes it to its sandbox's
# stderr instead.
SANITIZER_VARS = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")
SANITIZER_LOGS = [v for var in SANITIZER_VARS for k, _, v in
                  (o.partition("=") for o in os.environ.get(var, "").split(":"))
                  if k == "log_path" and v]
_REPORT_MARKS = (b"==ERROR: ", b": runtime error: ")

_reserved = set()


def sanitizer_reports(tmpdir=None):
    """The set of sanitizer report files written so far: under the log paths,
    and the sandbox stderr files in tmpdir that hold a report."""
    found = set()
    for v in SANITIZER_LOGS:
        found.update(f for f in glob.glob(glob.escape(v) + ".*") if os.path.getsize(f))
    if not (tmpdir and SANITIZER_LOGS):
        return found
    for root, _, files in os.walk(tmpdir):
        if "stderr" in files:
            with open(os.path.join(root, "stderr"), "rb") as f:
                if any(m in f.read() for m in _REPORT_MARKS):
                    found.add(os.path.join(root, "stderr"))
    return found


def report_head(path, lines=40):
    """The first lines of the first sanitizer report in path."""
    with open(path, "rb") as f:
        data = f.read()
    at = min([data.rfind(b"\n", 0, i) + 1 for i in (data.find(m) for m in _REPORT_MARKS)
              if i >= 0] or [0])
    return b"".join(data[at:].splitlines(True)[:lines]).decode(errors="replace")


def seed_path(name):
    """Path of a seed object (deploy-config.yaml, deploy-object.json): the
    original in ../shared/seed beside the clone when present, else the copy
    in test/fixtures/seed."""
    orig = os.path.join(ROOT, "..", "shared", "seed", name)
    return orig if os.path.exists(orig) else os.path.join(ROOT, "test", "fixtures", "seed", name)


def free_port():
    """Returns a loopback TCP port that was free a moment ago and that this
    process has not handed out before (avoids two servers racing for it)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _reserved:
            _reserved.add(port)
            return port
    raise RuntimeError("no free port")


def _port_band():
    """The band task port ranges come from: CORRAL_E2E_PORTS ("low-high"),
    else 20000-25000. `make test` runs e2e and e2e-asan side by side and
    gives e2e-asan 25000-30000, so the two runs' agents never share ports
    (a task of one found its port taken by the other's: a failed deploy)."""
    band = os.environ.get("CORRAL_E2E_PORTS", "20000-25000")
    low, high = band.split("-")
    return int(low), int(high)


def free_port_range(n, low=None, high=None):
    """The first port of n consecutive loopback ports below the kernel's
    ephemeral range that are all free now and that this process has not
    handed out before (agents' task port ranges: a task that finds its
    port taken by another test's leftover fails its deploy)."""
    if low is None or high is None:
        low, high = _port_band()
    for _ in range(100):
        base = random.randrange(low, high - n, 50)
        if any(p in _reserved for p in range(base, base + n)):
            continue
        try:
            for p in range(base, base + n):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        _reserved.update(range(base, base + n))
        return base
    raise RuntimeError("no free range of %d ports" % n)


def build_bench_tool(name, pkg, dest, sanitize=False, libs=()):
    """Compiles bench/<name>.c (a load tool of the benchmarks, outside the
    Makefile, as bench/store.sh builds its driver) with the pkg-config
    package pkg into dest; returns the binary's path. sanitize: ASan +
    UBSan, with clang when there is one."""
    cc, flags = "cc", ["-O2"]
    if sanitize:
        cc = "clang" if shutil.which("clang") else "cc"
        flags = ["-O1", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                 "-fno-sanitize-recover=all"]
    p = subprocess.run(["pkg-config", "--cflags", "--libs", pkg], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("pkg-config %s: %s" % (pkg, p.stderr.strip()))
    out = os.path.join(dest, name)
    r = subprocess.run([cc] + flags + ["-g", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra",
                                       "-Werror", "-Wshadow", "-Wformat=2", "-Wstrict-prototypes",
                                       "-o", out, os.path.join(ROOT, "bench", name + ".c")]
                       + p.stdout.split() + list(libs), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("building bench/%s.c failed:\n%s" % (name, r.stderr[-3000:]))
    return out


def wait_until(fn, timeout=10.0, what="condition", interval=0.05):
    """Polls fn() until it returns a truthy value (returned) or the deadline
    passes (AssertionError naming `what` and the last value or exception)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # the condition may raise while starting up
            last = e
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)"
                                 % (timeout, what, last))
        time.sleep(interval)


def http(method, url, body=None, headers=None, timeout=10.0, context=None):
    """One HTTP request. body may be bytes, str or a JSON-able object;
    context is an ssl.SSLContext for https URLs. Returns (status, headers
    dict with lower-case names, body bytes); HTTP errors are returned, not
    raised."""
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    handlers = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def http_json(method, url, body=None, headers=None, timeout=10.0, context=None):
    """Like http() but decodes the body as JSON (None when empty)."""
    status, hdrs, raw = http(method, url, body, headers, timeout, context)
    return status, (json.loads(raw) if raw.strip() else None)


class Proc:
    """A process started by a Cluster, in its own process group."""

    def __init__(self, name, argv, env, cwd, logdir):
        self.name = name
        self.argv = argv
        self.log_path = os.path.join(logdir, name + ".log")
        self._log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                      stdout=self._log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def signal(self, sig):
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self):
        """SIGKILL the whole group and reap it."""
        self.signal(signal.SIGKILL)
        self.popen.wait()
        self._log.close()

    def stop(self, grace=None):
        """SIGTERM, then SIGKILL after grace seconds (STOP_GRACE); returns the
        exit code."""
        grace = STOP_GRACE if grace is None else grace
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                # Said in its log: a sanitizer's leak report is lost too.
                self._log.write(b"\nharness: still running %gs after SIGTERM, SIGKILLed\n" % grace)
                self._log.flush()
        # Children that outlived the leader (tasks) still share the group.
        self.signal(signal.SIGKILL)
        self.popen.wait()
        if not self._log.closed:
            self._log.close()
        return self.popen.returncode

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


class Cluster:
    """Owns a temp dir and the processes of one test."""

    def __init__(self, name="e2e"):
        self.tmpdir = tempfile.mkdtemp(prefix="corral-%s-" % name)
        self.sanitizer_seen = sanitizer_reports()
        self.closed = False
        self.procs = []
        self.etcd_url = None
        self.mesos_url = None
        self.api_url = None

    def spawn(self, name, argv, env=None, cwd=None):
        full_env = dict(os.environ)
        full_env.pop("http_proxy", None)
        full_env.pop("HTTP_PROXY", None)
        full_env.update(env or {})
        # Unique log names when the same component is started twice.
        base, n = name, 1
        while any(p.name == name for p in self.procs):
            n += 1
            name = "%s-%d" % (base, n)
        p = Proc(name, argv, full_env, cwd or self.tmpdir, self.tmpdir)
        self.procs.append(p)
        return p

    def etcd(self, name="etcd"):
        """Starts a single-member etcd on free loopback ports; returns its
        client URL once it answers."""
        cport, pport = free_port(), free_port()
        url = "http://127.0.0.1:%d" % cport
        peer = "http://127.0.0.1:%d" % pport
        data = os.path.join(self.tmpdir, name + ".data")
        self.spawn(name, [ETCD, "--name", name, "--data-dir", data,
                          "--listen-client-urls", url, "--advertise-client-urls", url,
                          "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                          "--initial-cluster", "%s=%s" % (name, peer),
                          "--log-level", "warn", "--logger", "zap"] + (["--enable-pprof"] if os.environ.get("ETCD_PPROF") else []))
        wait_until(lambda: http("GET", url + "/health", timeout=1)[0] == 200, 20,
                   "etcd at " + url)
        self.etcd_url = url
        return url

    def mesoslite(self, agents=2, racks="r1,r2", faults=False, args=None):
        port = free_port()
        url = "http://127.0.0.1:%d" % port
        argv = [os.path.join(BIN, "mesoslite"), "--listen", "127.0.0.1:%d" % port,
                "--agents", str(agents), "--work-dir", os.path.join(self.tmpdir, "mesos")]
        if racks:
            argv += ["--racks", racks]
        if faults:
            argv.append("--faults")
        argv += list(args or [])
        self.spawn("mesoslite", argv)
        wait_until(lambda: http("GET", url + "/master/state", timeout=1)[0] == 200, 15,
                   "mesoslite at " + url)
        self.mesos_url = url
        return url

    def corrald(self, args=None, etcd=None, mesos=None, prefix="/corral", name="corrald",
                tls=None):
        """Starts corrald; returns its URL once /healthz answers. With tls
        (an ssl.SSLContext that trusts its certificate; args carry the
        --tls-* flags) the URL is https and the probe uses that context."""
        port = free_port()
        url = "%s://127.0.0.1:%d" % ("https" if tls else "http", port)
        argv = [os.path.join(BIN, "corrald"), "--listen", "127.0.0.1:%d" % port,
                "--etcd-endpoints", etcd or self.etcd_url, "--prefix", prefix]
        if mesos or self.mesos_url:
            argv += ["--mesos-master", mesos or self.mesos_url]
        argv += list(args or [])
        proc = self.spawn(name, argv)
        wait_until(lambda: http("GET", url + "/healthz", timeout=1, context=tls)[0] == 200, 15,
                   "corrald at " + url)
        # Calls before corrald's cache has loaded get a 503 (/readyz): wait
        # for it a little, but a test of a corrald that cannot load (etcd
        # down) goes on after that.
        try:
            wait_until(lambda: http("GET", url + "/readyz", timeout=1, context=tls)[0] == 200,
                       10, "corrald's cache loaded")
        except AssertionError:
            pass
        proc.url = url
        self.api_url = self.api_url or url
        return url

    def corralctl(self, *args, input=None, check=False, server=True):
        """Runs bin/corralctl; returns CompletedProcess with text output."""
        argv = [os.path.join(BIN, "corralctl")]
        if server and self.api_url:
            argv += ["--server", self.api_url]
        argv += list(args)
        r = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=60,
                           cwd=self.tmpdir)
        if check and r.returncode != 0:
            raise AssertionError("corralctl %s failed (%d): %s%s"
                                 % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def etcdctl(self, *args):
        r = subprocess.run([ETCDCTL, "--endpoints", self.etcd_url] + list(args),
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, ETCDCTL_API="3"))
        if r.returncode != 0:
            raise AssertionError("etcdctl %s: %s" % (" ".join(args), r.stderr))
        return r.stdout

    def etcd_get_json(self, key):
        """The JSON value at key, or None if absent."""
        out = self.etcdctl("get", key, "--print-value-only")
        return json.loads(out) if out.strip() else None

    def etcd_prefix_json(self, prefix):
        """{key: decoded JSON} for every key under prefix."""
        out = self.etcdctl("get", prefix, "--prefix", "-w", "json")
        import base64
        kvs = json.loads(out).get("kvs", [])
        return {base64.b64decode(kv["key"]).decode():
                json.loads(base64.b64decode(kv["value"])) for kv in kvs}

    def logs(self):
        return "\n".join("--- %s (%s)\n%s" % (p.name, " ".join(p.argv[:1]), p.log()[-4000:])
                         for p in self.procs)

    def stop_executors(self):
        """SIGTERMs every corral-executor whose sandbox is in the temp dir and
        waits up to STOP_GRACE seconds for them to end: mesoslite SIGKILLs
        the executors it still has when it stops, and a sanitized executor
        checks for leaks only when it exits by itself. One that no longer
        catches SIGTERM is exiting already: it is waited for, not signalled."""
        exe, pids = os.path.realpath(os.path.join(BIN, "corral-executor")), []
        mark = b"MESOS_DIRECTORY=" + os.fsencode(self.tmpdir) + b"/"
        for pid in (int(d) for d in os.listdir("/proc") if d.isdigit()):
            try:
                if os.readlink("/proc/%d/exe" % pid) != exe:
                    continue
                with open("/proc/%d/environ" % pid, "rb") as f:
                    if not any(v.startswith(mark) for v in f.read().split(b"\0")):
                        continue
                pids.append(pid)
                with open("/proc/%d/status" % pid) as f:
                    caught = int(next(ln for ln in f if ln.startswith("SigCgt:")).split()[1], 16)
                if caught & (1 << (signal.SIGTERM - 1)):
                    os.kill(pid, signal.SIGTERM)
            except (OSError, StopIteration):
                continue

        def ended(pid):  # gone, or a zombie its agent has not reaped yet
            try:
                with open("/proc/%d/stat" % pid) as f:
                    return f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                return True
        deadline = time.monotonic() + STOP_GRACE
        while not all(ended(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self, keep=False):
        self.closed = True
        for p in reversed(self.procs):
            p.stop()
        if not keep:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


class TestCase(unittest.TestCase):
    """A unittest case with a fresh Cluster per test; on failure the logs of
    its processes are printed and its temp dir is kept. Under sanitized
    binaries a report written during the test (leaks at exit included: its
    processes are stopped with SIGTERM first) fails it."""

    def setUp(self):
        self.cluster = Cluster(self.id().split(".")[-1])
        self.addCleanup(self._close_after_failed_setup)

    def _close_after_failed_setup(self):
        """unittest skips tearDown when setUp fails (and tearDown may fail
        before it closes): stop what it started all the same, keeping the
        temp dir."""
        if not self.cluster.closed:
            try:
                sys.stderr.write("\n" + self.cluster.logs() + "\n(kept %s)\n" % self.cluster.tmpdir)
            finally:
                self.cluster.close(keep=True)

    def tearDown(self):
        failed = False
        outcome = getattr(self, "_outcome", None)
        if outcome is not None:
            result = getattr(outcome, "result", None)
            errs = list(getattr(result, "errors", [])) + list(getattr(result, "failures", []))
            failed = any(t is self for t, _ in errs)
        if SANITIZER_LOGS:
            self.cluster.stop_executors()
        for p in reversed(self.cluster.procs):
            p.stop()
        reports = sorted(sanitizer_reports(self.cluster.tmpdir) - self.cluster.sanitizer_seen)
        if failed or reports:
            sys.stderr.write("\n" + self.cluster.logs() + "\n(kept %s)\n" % self.cluster.tmpdir)
        self.cluster.close(keep=failed or bool(reports))
        if reports:
            names = {str(p.pid): p.name for p in self.cluster.procs}
            self.fail("sanitizer report(s): %s; the first:\n%s"
                      % (", ".join("%s (%s)" % (r, names.get(r.rsplit(".", 1)[-1], "-"))
                                   for r in reports), report_head(reports[0])))


def main():
    """Entry point for `python3 e2e/test_x.py`."""
    unittest.main(verbosity=2)
