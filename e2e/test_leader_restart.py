"""A leader killed with SIGKILL and started again at the same address takes
its leadership back at once: it finds the leader key naming its own id and
address on its dead predecessor's lease, revokes that lease and wins the
election, instead of waiting out the lease's TTL (60 s here). A candidate
at another address never revokes someone else's lease: it waits, and takes
over once the restarted replica has freed the key (whoever campaigns first
wins then).
"""
import json
import os
import re
import signal
import subprocess
import unittest

import harness

TTL = "60"


def is_leader(url):
    try:
        st, _, raw = harness.http("GET", url + "/metrics", timeout=2)
    except OSError:
        return False
    return st == 200 and re.search(r"^corral_leader\{[^}]*\} 1$", raw.decode(), re.M) is not None


class TestLeaderRestart(harness.TestCase):
    def start(self, port, name, extra=()):
        url = "http://127.0.0.1:%d" % port
        argv = [os.path.join(harness.BIN, "corrald"), "--listen", "127.0.0.1:%d" % port,
                "--etcd-endpoints", self.cluster.etcd_url, "--prefix", "/corral",
                "--leader-lease-ttl", TTL] + list(extra)
        p = self.cluster.spawn(name, argv)
        harness.wait_until(lambda: harness.http("GET", url + "/healthz", timeout=1)[0] == 200,
                           15, "%s at %s" % (name, url))
        return p, url

    def leader_key(self):
        out = self.cluster.etcdctl("get", "/corral/leader", "-w", "json")
        kvs = json.loads(out).get("kvs", [])
        return kvs[0] if kvs else None

    def kill_leader(self, port, name, then=None):
        """Starts a corrald at port, waits until it leads, runs then() (more
        replicas), SIGKILLs it; returns its lease."""
        p, url = self.start(port, name)
        harness.wait_until(lambda: is_leader(url), 20, name + " leads")
        old = self.leader_key()
        self.assertIsNotNone(old)
        if then:
            then()
        p.signal(signal.SIGKILL)
        harness.wait_until(lambda: not p.alive(), 10, name + " gone")
        return int(old["lease"])

    def test_restart_reclaims_own_lease(self):
        self.cluster.etcd()
        port = harness.free_port()
        old_lease = self.kill_leader(port, "corrald-1")
        again, url = self.start(port, "corrald-1b")
        # Well within the 60 s TTL: it revoked its predecessor's lease.
        harness.wait_until(lambda: is_leader(url), 20, "the restarted corrald leads again")
        self.assertNotEqual(int(self.leader_key()["lease"]), old_lease)
        self.assertNotIn("%x" % old_lease, self.cluster.etcdctl("lease", "list"))
        self.assertIn("previous lease", again.log())

    def test_other_replicas_wait(self):
        self.cluster.etcd()
        port, others = harness.free_port(), []
        old_lease = self.kill_leader(
            port, "corrald-1", lambda: others.append(self.start(harness.free_port(), "corrald-2")))
        other, other_url = others[0]
        # The other candidate leaves the dead leader's lease alone...
        self.assertIn("%x" % old_lease, self.cluster.etcdctl("lease", "list"))
        self.assertFalse(is_leader(other_url))
        self.assertNotIn("previous lease", other.log())
        # ...until the dead one's successor at its address frees the key.
        again, url = self.start(port, "corrald-1b")
        harness.wait_until(lambda: is_leader(url) or is_leader(other_url), 20, "a leader again")
        self.assertNotIn("%x" % old_lease, self.cluster.etcdctl("lease", "list"))
        self.assertIn("previous lease", again.log())


if __name__ == "__main__":
    harness.main()
