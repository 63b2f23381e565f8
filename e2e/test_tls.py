"""TLS on the API through the real binaries, with certificates the test
makes with the openssl command: a CA, a server certificate for 127.0.0.1
(subjectAltName IP:127.0.0.1), a client certificate CN=alice OU=team-a
OU=admins, and an unrelated CA with a client certificate of its own.

corralctl verifies corrald against --ca-file (and names the CA file when it
cannot); plain HTTP and TLS 1.1 are refused on the TLS port; client
certificates are required or optional; with --auth a verified client
certificate names the caller (CN the user, each OU a group) and what it may
do follows from those groups; SIGHUP makes corrald serve a new certificate,
and a bad one keeps the old.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import unittest

import harness

CURL = shutil.which("curl")

# The same PKI as test/apiserver/test_tls.c. Serials are hex.
PKI = r"""
set -e
key='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'
ca() { openssl req -x509 $key -days 2 -subj "$2" -keyout $1-key.pem -out $1.pem; }
csr() { openssl req -new $key -subj "$2" -keyout $1-key.pem -out $1.csr; }
sign() { openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2-key.pem -set_serial $3 -days 2 \
         -extfile $4 -out $1.pem; }
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
printf 'extendedKeyUsage=clientAuth\n' > client.ext
# etcd's gateway calls its own gRPC side with its server certificate
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > etcd.ext
ca ca /CN=corral-test-ca
ca other-ca /CN=other-ca
csr server /CN=127.0.0.1; sign server ca 0x1001 server.ext
csr server2 /CN=127.0.0.1; sign server2 ca 0x2002 server.ext
csr etcd /CN=127.0.0.1; sign etcd ca 0x1003 etcd.ext
csr alice /CN=alice/OU=team-a/OU=admins; sign alice ca 0x2001 client.ext
csr mallory /CN=mallory/OU=admins; sign mallory other-ca 0x3001 client.ext
csr carol /CN=carol/OU=team-c; sign carol ca 0x2003 client.ext
chmod 600 *-key.pem
"""


class TlsCase(harness.TestCase):
    def setUp(self):
        super().setUp()
        # unittest skips tearDown when setUp fails: stop what started anyway.
        self.addCleanup(self.cluster.close, True)
        self.pki = os.path.join(self.cluster.tmpdir, "pki")
        os.mkdir(self.pki)
        r = subprocess.run(["sh", "-c", PKI], cwd=self.pki, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, "openssl: " + r.stdout + r.stderr)
        self.cluster.etcd()

    def f(self, name):
        return os.path.join(self.pki, name)

    def context(self, client=None, ca="ca.pem"):
        """An SSL context trusting ca (and presenting client's certificate)."""
        ctx = ssl.create_default_context(cafile=self.f(ca))
        if client:
            ctx.load_cert_chain(self.f(client + ".pem"), self.f(client + "-key.pem"))
        return ctx

    def start(self, *args, client=None, name="corrald"):
        """corrald over TLS; the readiness probe presents client's
        certificate (for --tls-client-cert=require)."""
        argv = ["--api-only", "--tls-cert", self.f("server.pem"),
                "--tls-key", self.f("server-key.pem")] + list(args)
        url = self.cluster.corrald(args=argv, tls=self.context(client), name=name)
        self.assertTrue(url.startswith("https://127.0.0.1:"), url)
        return url

    def ctl(self, url, *args, env=None):
        argv = [os.path.join(harness.BIN, "corralctl"), "--server", url] + list(args)
        full = dict(os.environ)
        for k in ("CORRAL_CA_FILE", "CORRAL_CERT", "CORRAL_KEY", "CORRAL_SERVER"):
            full.pop(k, None)
        full["CORRAL_CONFIG"] = os.path.join(self.cluster.tmpdir, "no-corralctl-config")
        full.update(env or {})
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=full,
                              cwd=self.cluster.tmpdir)

    def curl(self, url, *args):
        return subprocess.run([CURL, "-sS", "--noproxy", "*", "--max-time", "10"] + list(args)
                              + [url], capture_output=True, text=True, timeout=30)

    def served_serial(self, url):
        """The serial (hex) of the certificate the server presents now."""
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with self.context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
                return s.getpeercert()["serialNumber"]

    def proc(self, name="corrald"):
        return next(p for p in self.cluster.procs if p.name == name)

    # ---- tests ---------------------------------------------------------------------

    def test_corralctl_with_ca_file(self):
        url = self.start()
        r = self.ctl(url, "--ca-file", self.f("ca.pem"), "state")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("activeRequests", r.stdout)
        r = self.ctl(url, "get", "requests", env={"CORRAL_CA_FILE": self.f("ca.pem")})
        self.assertEqual(r.returncode, 0, r.stderr)
        # A write too, read back over TLS.
        status, _ = harness.http_json("POST", url + "/api/requests",
                                      {"id": "web", "requestType": "SERVICE", "instances": 1},
                                      context=self.context())
        self.assertEqual(status, 200)
        r = self.ctl(url, "--ca-file", self.f("ca.pem"), "scale", "web", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.cluster.etcd_get_json("/corral/requests/web")["instances"], 2)

    def test_lists_and_watch(self):
        """Answers written in pieces (lists over 64 KiB, a watch stream) come
        whole over TLS, on kept-alive connections and on closed ones."""
        url = self.start()
        port = int(url.rsplit(":", 1)[1])
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=self.context(),
                                           timeout=10)
        owners = ["owner-%d@example.com" % k for k in range(8)]
        for i in range(300):
            conn.request("POST", "/api/requests",
                         json.dumps({"id": "r%03d" % i, "requestType": "SERVICE",
                                     "instances": 1, "owners": owners}),
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            self.assertEqual(r.status, 200, r.read())
            r.read()
        for _ in range(2):  # the connection stays usable after a list
            conn.request("GET", "/api/requests")
            r = conn.getresponse()
            body = r.read()
            self.assertEqual(r.status, 200)
            self.assertGreater(len(body), 128 * 1024)
            self.assertEqual(len(json.loads(body)), 300)
        conn.close()
        # urllib sends "Connection: close".
        status, data = harness.http_json("GET", url + "/api/requests", context=self.context())
        self.assertEqual((status, len(data)), (200, 300))
        r = self.ctl(url, "--ca-file", self.f("ca.pem"), "get", "requests", "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(json.loads(r.stdout)), 300)
        r = self.ctl(url, "--ca-file", self.f("ca.pem"), "watch", "requests/", "--revision", "1",
                     "--max-events", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 3, r.stdout)
        self.assertIn("PUT /corral/requests/r000", r.stdout)

    def test_watch_compacted_error_arrives(self):
        """A watch from a compacted revision gets its error event, then the
        end of the stream, whole over TLS."""
        url = self.start()
        for i in range(5):
            status, _ = harness.http_json("POST", url + "/api/requests",
                                          {"id": "c%d" % i, "requestType": "WORKER"},
                                          context=self.context())
            self.assertEqual(status, 200)
        out = self.cluster.etcdctl("endpoint", "status", "-w", "json")
        rev = json.loads(out)[0]["Status"]["header"]["revision"]
        self.cluster.etcdctl("compact", str(rev))
        port = int(url.rsplit(":", 1)[1])
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=self.context(),
                                           timeout=20)
        conn.request("GET", "/api/watch?revision=1")
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        body = r.read().decode()  # returns only once corrald ends the stream
        conn.close()
        self.assertIn("event: error", body)
        self.assertIn('"compactRevision"', body)

    def test_wrong_ca_refused(self):
        url = self.start()
        other = self.f("other-ca.pem")
        r = self.ctl(url, "--ca-file", other, "state")
        self.assertEqual(r.returncode, 1)
        self.assertIn("corralctl state: cannot verify corrald's certificate at %s/api/state "
                      "against CA file %s: SSL certificate problem: unable to get local "
                      "issuer certificate" % (url, other), r.stderr)
        r = self.ctl(url, "state")
        self.assertEqual(r.returncode, 1)
        self.assertIn("against the system's CA store (give corrald's CA with --ca-file or "
                      "$CORRAL_CA_FILE)", r.stderr)
        r = self.ctl(url, "--ca-file", self.f("missing.pem"), "state")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot use CA file %s" % self.f("missing.pem"), r.stderr)
        # Explicitly unverified: works, and says what it gives up.
        r = self.ctl(url, "--insecure-skip-tls-verify", "state")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning: --insecure-skip-tls-verify", r.stderr)
        r = self.ctl(url, "--insecure-skip-tls-verify", "--ca-file", other, "state")
        self.assertEqual(r.returncode, 2)
        self.assertIn("exclude each other", r.stderr)

    def test_plain_http_refused(self):
        url = self.start()
        plain = url.replace("https://", "http://")
        with self.assertRaises((OSError, http.client.HTTPException)):
            harness.http("GET", plain + "/healthz", timeout=5)
        r = self.ctl(plain, "state")
        self.assertEqual(r.returncode, 1)
        self.assertIn("(if corrald serves TLS, use an https:// URL)", r.stderr)
        # The failed connection did not hurt the server.
        self.assertEqual(harness.http("GET", url + "/healthz", context=self.context())[0], 200)

    @unittest.skipUnless(CURL, "needs curl")
    def test_old_protocols_refused(self):
        url = self.start()
        ca = ["--cacert", self.f("ca.pem"), "--ciphers", "DEFAULT@SECLEVEL=0"]
        # The client offers TLS 1.1 (security level 0): the server refuses it.
        r = self.curl(url + "/healthz", "--tlsv1.1", "--tls-max", "1.1", *ca)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("alert protocol version", r.stderr)
        r = self.curl(url + "/healthz", "--tlsv1.2", "--tls-max", "1.2", *ca)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"ok"', r.stdout)

        url13 = self.start("--tls-min-version", "1.3", name="corrald13")
        r = self.curl(url13 + "/healthz", "--tlsv1.2", "--tls-max", "1.2", *ca)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("alert protocol version", r.stderr)
        r = self.curl(url13 + "/healthz", "--tlsv1.3", *ca)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_client_certificate_required(self):
        url = self.start("--tls-client-ca", self.f("ca.pem"), "--tls-client-cert=require",
                         client="alice")
        ca = self.f("ca.pem")
        r = self.ctl(url, "--ca-file", ca, "state")
        self.assertEqual(r.returncode, 1)
        self.assertIn("corrald may require a client certificate: --cert and --key", r.stderr)
        r = self.ctl(url, "--ca-file", ca, "--cert", self.f("alice.pem"),
                     "--key", self.f("alice-key.pem"), "state")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.ctl(url, "state", env={"CORRAL_CA_FILE": ca, "CORRAL_CERT": self.f("alice.pem"),
                                        "CORRAL_KEY": self.f("alice-key.pem")})
        self.assertEqual(r.returncode, 0, r.stderr)
        # A certificate of another CA is no better than none.
        r = self.ctl(url, "--ca-file", ca, "--cert", self.f("mallory.pem"),
                     "--key", self.f("mallory-key.pem"), "state")
        self.assertEqual(r.returncode, 1)
        r = self.ctl(url, "--ca-file", ca, "--cert", self.f("alice.pem"), "state")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--cert and --key go together", r.stderr)
        with self.assertRaises(OSError):  # ssl.SSLError: certificate required
            harness.http("GET", url + "/healthz", context=self.context())
        status, _, _ = harness.http("GET", url + "/healthz", context=self.context("alice"))
        self.assertEqual(status, 200)

    def test_client_certificate_optional(self):
        url = self.start("--tls-client-ca", self.f("ca.pem"))
        self.assertEqual(harness.http("GET", url + "/healthz", context=self.context())[0], 200)
        self.assertEqual(
            harness.http("GET", url + "/healthz", context=self.context("alice"))[0], 200)
        with self.assertRaises(OSError):  # presented, but not from the client CA
            harness.http("GET", url + "/healthz", context=self.context("mallory"))

    def test_client_certificate_is_the_identity(self):
        """With --auth, a verified client certificate names the caller: CN
        alice with OUs team-a and admins is user alice in those groups, and
        may change team-a's request but not team-z's ("admins" is not an
        admin group here: --admin-groups ops). A certificate of another CA
        ends the handshake; without one a call needs a token."""
        admin = "tok-" + os.urandom(16).hex()
        tokens = os.path.join(self.cluster.tmpdir, "tokens")
        fd = os.open(tokens, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("%s root ops\n" % admin)
        url = self.start("--auth", "--auth-token-file", tokens, "--admin-groups", "ops",
                         "--tls-client-ca", self.f("ca.pem"))
        bearer = {"Authorization": "Bearer " + admin}
        as_root = self.context()

        def call(method, path, ctx, body=None, headers=None):
            return harness.http_json(method, url + path, body, headers, context=ctx)

        for rid, group in (("ta", "team-a"), ("tz", "team-z")):
            st, doc = call("POST", "/api/requests", as_root,
                           {"id": rid, "requestType": "WORKER", "instances": 1, "group": group,
                            "readWriteGroups": [group]}, bearer)
            self.assertEqual(st, 200, doc)

        alice = self.context("alice")
        st, doc = call("GET", "/api/auth/user", alice)
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["user"]["id"], "alice")
        self.assertEqual(sorted(doc["user"]["groups"]), ["admins", "team-a"])
        self.assertEqual((doc["authenticated"], doc["admin"]), (True, False))
        self.assertEqual(doc.get("via"), "certificate", doc)

        # A write only team-a may make: alice's certificate may; the
        # history names her.
        st, doc = call("PUT", "/api/requests/request/ta/scale", alice, {"instances": 3})
        self.assertEqual(st, 200, doc)
        self.assertEqual(self.cluster.etcd_get_json("/corral/requests/ta")["instances"], 3)
        st, events = call("GET", "/api/history/request/ta/requests", alice)
        self.assertEqual(st, 200, events)
        self.assertEqual(events[0]["user"], "alice", events[0])
        # ... and carol's (team-c) may not, nor may alice change team-z's.
        st, doc = call("PUT", "/api/requests/request/ta/scale", self.context("carol"),
                       {"instances": 4})
        self.assertEqual(st, 403, doc)
        self.assertIn("carol", doc["message"])
        st, doc = call("PUT", "/api/requests/request/tz/scale", alice, {"instances": 2})
        self.assertEqual(st, 403, doc)
        self.assertIn("team-z", doc["message"])
        self.assertEqual(self.cluster.etcd_get_json("/corral/requests/tz")["instances"], 1)
        self.assertEqual(self.cluster.etcd_get_json("/corral/requests/ta")["instances"], 3)

        # A certificate from another CA is refused in the handshake, even
        # though it says admins; no certificate and no token is a 401.
        with self.assertRaises(OSError):
            call("GET", "/api/auth/user", self.context("mallory"))
        st, doc = call("GET", "/api/auth/user", self.context())
        self.assertEqual(st, 401, doc)
        # corralctl presents the certificate too.
        r = self.ctl(url, "--ca-file", self.f("ca.pem"), "--cert", self.f("alice.pem"),
                     "--key", self.f("alice-key.pem"), "auth", "whoami")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("alice", r.stdout)

        # Over TLS too, a body over the limit gets the JSON 413 before it is
        # read (apiserver/as_gate.h), and nothing is written.
        st, hdrs, raw = harness.http("POST", url + "/api/requests", b"{" + b" " * (3 << 20) + b"}",
                                     {"Content-Type": "application/json"}, context=alice,
                                     timeout=30)
        self.assertEqual(st, 413, raw[:200])
        self.assertEqual(hdrs.get("content-type"), "application/json")
        self.assertIn("request body too large", json.loads(raw)["message"])

    def test_sighup_reloads_certificate(self):
        url = self.start()
        self.assertEqual(self.served_serial(url), "1001")
        os.replace(self.f("server2.pem"), self.f("server.pem"))
        os.replace(self.f("server2-key.pem"), self.f("server-key.pem"))
        self.proc().signal(signal.SIGHUP)
        harness.wait_until(lambda: self.served_serial(url) == "2002", 10,
                           "the new certificate served")
        self.assertIn("SIGHUP: TLS reloaded: CN=127.0.0.1, serial 2002", self.proc().log())

        # A key others may read: refused, the certificate in use stays.
        os.chmod(self.f("server-key.pem"), 0o644)
        self.proc().signal(signal.SIGHUP)
        harness.wait_until(lambda: "TLS reload failed" in self.proc().log(), 10,
                           "the failed reload logged")
        self.assertIn("still serving the previous certificate: tls-key '%s' is readable by "
                      "every user (mode 0644)" % self.f("server-key.pem"), self.proc().log())
        self.assertEqual(self.served_serial(url), "2002")
        self.assertTrue(self.proc().alive())

    def tls_etcd(self):
        """A second etcd, serving clients over TLS only and asking for a
        client certificate signed by the test CA; returns its URL."""
        cport, pport = harness.free_port(), harness.free_port()
        url, peer = "https://127.0.0.1:%d" % cport, "http://127.0.0.1:%d" % pport
        self.cluster.spawn("etcd-tls", [
            harness.ETCD, "--name", "etcd-tls",
            "--data-dir", os.path.join(self.cluster.tmpdir, "etcd-tls.data"),
            "--listen-client-urls", url, "--advertise-client-urls", url,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", "etcd-tls=" + peer,
            "--cert-file", self.f("etcd.pem"), "--key-file", self.f("etcd-key.pem"),
            "--client-cert-auth", "--trusted-ca-file", self.f("ca.pem"),
            "--log-level", "warn", "--logger", "zap"])
        ctx = self.context("alice")
        harness.wait_until(lambda: harness.http("GET", url + "/health", timeout=1,
                                                context=ctx)[0] == 200, 20, "etcd at " + url)
        return url

    def test_etcd_over_tls(self):
        """corrald's calls to an etcd that takes TLS only, with a client
        certificate: txns and the watch over gRPC (HTTP/2 by ALPN), the
        rest through the gateway. A write is answered once the watch has
        shown it (read-your-writes), so a 200 means both ways work. With
        the wrong CA the first listing fails its handshake and corrald
        stays unready (test/base/test_h2.c holds HTTP/2's own handshake to
        the CA)."""
        etcd = self.tls_etcd()
        tls = ["--etcd-ca-file", self.f("ca.pem"), "--etcd-cert-file", self.f("alice.pem"),
               "--etcd-key-file", self.f("alice-key.pem")]
        url = self.cluster.corrald(args=["--api-only"] + tls, etcd=etcd)
        status = harness.http("GET", url + "/readyz")[0]
        self.assertEqual(status, 200)
        for i in range(20):
            status, body = harness.http_json("POST", url + "/api/requests",
                                             {"id": "t%02d" % i, "requestType": "SERVICE",
                                              "instances": 1 + i % 3})
            self.assertEqual(status, 200, body)
        status, body = harness.http_json("GET", url + "/api/requests/request/t07")
        self.assertEqual(status, 200)
        self.assertEqual(body["request"]["instances"], 2)
        status, body = harness.http_json("GET", url + "/api/requests")
        self.assertEqual(sorted(r["request"]["id"] for r in body),
                         ["t%02d" % i for i in range(20)])

        bad = list(tls)
        bad[1] = self.f("other-ca.pem")
        url2 = self.cluster.corrald(args=["--api-only"] + bad, etcd=etcd, name="corrald-bad")
        status = harness.http("GET", url2 + "/readyz")[0]
        self.assertEqual(status, 503)
        log = next(p for p in self.cluster.procs if p.name == "corrald-bad").log
        harness.wait_until(lambda: "SSL certificate problem" in log(), 20,
                           "the TLS failure in the log")

    def test_bad_settings_refused(self):
        corrald = os.path.join(harness.BIN, "corrald")
        base = [corrald, "--api-only", "--listen", "127.0.0.1:%d" % harness.free_port(),
                "--etcd-endpoints", self.cluster.etcd_url]
        os.chmod(self.f("server-key.pem"), 0o644)
        r = subprocess.run(base + ["--tls-cert", self.f("server.pem"),
                                   "--tls-key", self.f("server-key.pem")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("tls-key '%s' is readable by every user (mode 0644): refusing to use it"
                      % self.f("server-key.pem"), r.stderr)
        r = subprocess.run(base + ["--tls-cert", self.f("server.pem")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("corrald: tls-cert: needs tls-key too", r.stderr)


if __name__ == "__main__":
    harness.main()
