"""The chaos tester's cluster: 1 or 3 etcd members, mesoslite (real task
processes, fault injection on) and 2-3 corrald replicas, every one on free
loopback ports, started through the e2e harness (each process in its own
process group, all stopped at close). Unlike harness.Cluster's helpers, each
component keeps its ports so it can be killed and started again in place
(etcd on its data dir, corrald at its address, as an operator restarts it).

Also a small etcd v3 client over the HTTP/JSON gateway (no subprocess per
call: the observer reads etcd five times a second).
"""
import base64
import json
import os
import random
import signal
import socket
import urllib.error
import urllib.request

import harness

PREFIX = "/corral"


def _b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def _unb64(s):
    return base64.b64decode(s).decode()


def _prefix_end(prefix):
    b = bytearray(prefix.encode())
    b[-1] += 1
    return bytes(b)


class EtcdError(Exception):
    pass


class Etcd:
    """etcd v3 through the JSON gateway of whichever member answers."""

    def __init__(self, urls, timeout=2.0):
        self.urls = list(urls)
        self.timeout = timeout
        self._good = 0
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _post(self, path, body):
        last = None
        n = len(self.urls)
        for k in range(n):
            i = (self._good + k) % n
            req = urllib.request.Request(self.urls[i] + path, data=json.dumps(body).encode(),
                                         method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                with self._opener.open(req, timeout=self.timeout) as r:
                    out = json.loads(r.read() or b"{}")
                self._good = i
                return out
            except (OSError, urllib.error.URLError, ValueError) as e:
                last = e
        raise EtcdError("no etcd member answered %s: %s" % (path, last))

    @staticmethod
    def range_op(prefix, keys_only=False, single=False):
        op = {"key": _b64(prefix)}
        if not single:
            op["range_end"] = _b64(_prefix_end(prefix))
        if keys_only:
            op["keys_only"] = True
        return {"request_range": op}

    def multi_range(self, ops):
        """Runs several request_range ops in one txn (one consistent
        revision). Returns (revision, [ {key: value-bytes-or-None} ... ])."""
        out = self._post("/v3/kv/txn", {"success": ops})
        rev = int(out.get("header", {}).get("revision", 0))
        res = []
        for r in out.get("responses", []):
            kvs = r.get("response_range", {}).get("kvs", []) or []
            d = {}
            for kv in kvs:
                v = kv.get("value")
                d[_unb64(kv["key"])] = base64.b64decode(v) if v is not None else None
            res.append(d)
        return rev, res

    def get(self, key):
        """The decoded JSON at key, None if absent (or not JSON: then the raw
        text)."""
        out = self._post("/v3/kv/range", {"key": _b64(key)})
        kvs = out.get("kvs") or []
        if not kvs:
            return None
        raw = base64.b64decode(kvs[0].get("value", ""))
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")

    def exists(self, key):
        out = self._post("/v3/kv/range", {"key": _b64(key), "count_only": True})
        return int(out.get("count", 0)) > 0

    def prefix_json(self, prefix):
        _, (d,) = self.multi_range([self.range_op(prefix)])
        res = {}
        for k, v in d.items():
            try:
                res[k] = json.loads(v)
            except (ValueError, TypeError):
                res[k] = None
        return res

    def put(self, key, obj):
        val = obj if isinstance(obj, (bytes, str)) else json.dumps(obj)
        self._post("/v3/kv/put", {"key": _b64(key), "value": _b64(val)})

    def delete(self, key):
        self._post("/v3/kv/deleterange", {"key": _b64(key)})


def free_port_range(width):
    """A start port such that [start, start+width) looks free now and lies
    below the kernel's ephemeral range (tasks bind these ports)."""
    rnd = random.SystemRandom()
    for _ in range(200):
        base = rnd.randrange(20000, 30000 - width, 10)
        ok = True
        for p in range(base, base + width, max(1, width // 8)):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")


class Replica:
    def __init__(self, name, port):
        self.name = name
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        self.proc = None
        self.state = "down"   # up | stopped | dead | down


class Member:
    def __init__(self, name, cport, pport, datadir):
        self.name = name
        self.cport, self.pport = cport, pport
        self.url = "http://127.0.0.1:%d" % cport
        self.peer = "http://127.0.0.1:%d" % pport
        self.datadir = datadir
        self.proc = None
        self.state = "down"


class ChaosCluster:
    """Owns a harness.Cluster (temp dir, processes). Methods that change the
    cluster (kill, stop, restart) only act on processes this object started."""

    def __init__(self, cfg, log):
        self.cfg = cfg
        self.log = log
        if cfg.bin_dir:
            harness.BIN = cfg.bin_dir
        self.h = harness.Cluster("chaos")
        self.tmpdir = self.h.tmpdir
        self.members = []
        self.replicas = []
        self.mesos_url = None
        self.etcd = None
        self.port_base = None

    # -- etcd -------------------------------------------------------------------

    def _etcd_argv(self, m, initial):
        argv = [harness.ETCD, "--name", m.name, "--data-dir", m.datadir,
                "--listen-client-urls", m.url, "--advertise-client-urls", m.url,
                "--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", "chaos",
                "--log-level", "warn", "--logger", "zap"]
        return argv

    def _initial_cluster(self):
        return ",".join("%s=%s" % (m.name, m.peer) for m in self.members)

    def start_etcd(self):
        for i in range(self.cfg.etcd_members):
            self.members.append(Member("etcd%d" % i, harness.free_port(), harness.free_port(),
                                       os.path.join(self.tmpdir, "etcd%d.data" % i)))
        initial = self._initial_cluster()
        for m in self.members:
            m.proc = self.h.spawn(m.name, self._etcd_argv(m, initial))
            m.state = "up"
        for m in self.members:
            harness.wait_until(lambda m=m: harness.http("GET", m.url + "/health", timeout=1)[0]
                               == 200, 30, "etcd member %s" % m.name)
        self.etcd = Etcd([m.url for m in self.members])
        self.h.etcd_url = self.members[0].url

    def etcd_kill(self, idx):
        """SIGKILLs member idx (mod the member count) if it is up; returns it or None."""
        m = self.members[idx % len(self.members)]
        if m.state != "up":
            return None
        if len(self.members) > 1 and any(x.state != "up" for x in self.members):
            return None  # keep the quorum: one member down at a time
        m.proc.kill()
        m.state = "dead"
        return m

    def etcd_restart(self, m):
        if m.state == "up":
            return False
        m.proc = self.h.spawn(m.name, self._etcd_argv(m, self._initial_cluster()))
        m.state = "up"
        return True

    def etcd_healthy(self):
        for m in self.members:
            if m.state != "up":
                return False
            try:
                if harness.http("GET", m.url + "/health", timeout=1)[0] != 200:
                    return False
            except OSError:
                return False
        return True

    # -- mesoslite --------------------------------------------------------------

    def start_mesoslite(self):
        n = self.cfg.agents
        width = 100
        self.port_base = free_port_range(width * n)
        res = "|".join("cpus:8;mem:8192;disk:65536;ports:[%d-%d]"
                       % (self.port_base + i * width, self.port_base + (i + 1) * width - 1)
                       for i in range(n))
        racks = ",".join("r%d" % (i + 1) for i in range(min(n, 3)))
        args = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
                "--update-retry-interval", "1", "--agent-resources", res]
        if self.cfg.simulate:
            port = harness.free_port()
            url = "http://127.0.0.1:%d" % port
            self.h.spawn("mesoslite", [os.path.join(harness.BIN, "mesoslite"), "--listen",
                                       "127.0.0.1:%d" % port, "--agents", str(n), "--simulate",
                                       "--faults", "--racks", racks] + args)
            harness.wait_until(lambda: harness.http("GET", url + "/master/state", timeout=1)[0]
                               == 200, 15, "mesoslite at " + url)
            self.h.mesos_url = url
        else:
            self.h.mesoslite(agents=n, racks=racks, faults=True, args=args)
        self.mesos_url = self.h.mesos_url

    def mesos_state(self, timeout=3.0):
        st, _, raw = harness.http("GET", self.mesos_url + "/master/state", timeout=timeout)
        if st != 200:
            raise OSError("mesoslite /master/state: %d" % st)
        return json.loads(raw)

    def ml_fault(self, path):
        st, body = harness.http_json("POST", self.mesos_url + "/__ml/" + path, b"", timeout=5)
        return st, body

    def task_pids(self, task_id):
        """Pids of the container processes mesoslite recorded for the task
        (command tasks: the executor id is the task id)."""
        d = os.path.join(self.tmpdir, "mesos", "meta", "pids")
        out = []
        try:
            names = os.listdir(d)
        except OSError:
            return out
        for n in names:
            try:
                with open(os.path.join(d, n)) as f:
                    parts = f.read().split(None, 3)
            except OSError:
                continue
            if len(parts) == 4 and ("/executors/%s/" % task_id) in parts[3] + "/":
                out.append(int(parts[0]))
        return out

    # -- corrald ----------------------------------------------------------------

    def _corrald_argv(self, r):
        argv = [os.path.join(harness.BIN, "corrald"), "--listen", "127.0.0.1:%d" % r.port,
                "--etcd-endpoints", ",".join(m.url for m in self.members),
                "--prefix", PREFIX, "--mesos-master", self.mesos_url,
                "--leader-lease-ttl", str(self.cfg.lease_ttl),
                # every controller decision (kill, launch) with its reason and
                # the task's ids as fields: what a violation is diagnosed from
                "--log-level", "debug", "--log-format", "logfmt"]
        return argv + list(self.cfg.corrald_args)

    def start_replicas(self):
        for i in range(self.cfg.replicas):
            r = Replica("corrald%d" % i, harness.free_port())
            self.replicas.append(r)
            self.replica_start(r)
        for r in self.replicas:
            harness.wait_until(lambda r=r: harness.http("GET", r.url + "/healthz",
                                                        timeout=1)[0] == 200,
                               20, "%s at %s" % (r.name, r.url))
        self.h.api_url = self.replicas[0].url

    def replica_start(self, r):
        r.proc = self.h.spawn(r.name, self._corrald_argv(r))
        r.state = "up"

    def replica_kill(self, r):
        if r.proc is not None and r.state in ("up", "stopped"):
            r.proc.kill()
        r.state = "dead"

    def replica_stop(self, r):
        if r.state != "up":
            return False
        r.proc.signal(signal.SIGSTOP)
        r.state = "stopped"
        return True

    def replica_cont(self, r, proc):
        """SIGCONT, if r still runs the process that was stopped."""
        if r.state != "stopped" or r.proc is not proc:
            return False
        r.proc.signal(signal.SIGCONT)
        r.state = "up"
        return True

    def leader(self):
        """(replica, leader document) of the replica the leader key names, or
        (None, doc)."""
        doc = self.etcd.get(PREFIX + "/leader")
        if not isinstance(doc, dict):
            return None, doc
        addr = str(doc.get("address", ""))
        for r in self.replicas:
            if addr.endswith(":%d" % r.port):
                return r, doc
        return None, doc

    def framework_id(self):
        doc = self.etcd.get(PREFIX + "/framework")
        return doc.get("frameworkId") if isinstance(doc, dict) else None

    def live_replicas(self):
        return [r for r in self.replicas if r.state == "up"]

    # -- lifecycle --------------------------------------------------------------

    def start(self):
        self.start_etcd()
        self.start_mesoslite()
        self.start_replicas()
        harness.wait_until(lambda: self.framework_id(), 60, "framework id stored")

    def heal(self):
        """Everything back up: stopped replicas continued, dead ones and
        etcd members started again. Returns what it did."""
        did = []
        for m in self.members:
            if m.state != "up":
                self.etcd_restart(m)
                did.append("etcd %s restarted" % m.name)
        for r in self.replicas:
            if r.state == "stopped":
                self.replica_cont(r, r.proc)
                did.append("%s continued" % r.name)
            elif r.state in ("dead", "down"):
                self.replica_start(r)
                did.append("%s restarted" % r.name)
        return did

    def close(self, keep=False):
        # A stopped process would sit out SIGTERM's grace period: continue it.
        for p in self.h.procs:
            if p.alive():
                p.signal(signal.SIGCONT)
        self.h.close(keep=keep)

    def logs_to(self, dest):
        """Copies every process log into dest (a directory)."""
        os.makedirs(dest, exist_ok=True)
        for p in self.h.procs:
            try:
                with open(p.log_path, "rb") as f, \
                        open(os.path.join(dest, os.path.basename(p.log_path)), "wb") as g:
                    g.write(f.read())
            except OSError:
                pass
