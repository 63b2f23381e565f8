"""bench/rawgrpc.c, the gRPC raw write run of `make bench B=converge` and
`B=scale`, against a real etcd: every put it reports is in etcd (under its
own keys, with the value size asked), a bad command line exits 2, and a
server that does not speak etcd's gRPC (the JSON gateway's HTTP/1.1 port of
a plain HTTP server) makes it exit 1. No timing is asserted."""

import http.server
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
import threading

import harness

spec = importlib.util.spec_from_file_location("bench_converge",
                                              os.path.join(harness.ROOT, "bench", "converge.py"))
bench_converge = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_converge)


class T(harness.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="corral-rawgrpc-")
        cls.bin = bench_converge.build_rawgrpc(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_raw(self, *args):
        return subprocess.run([self.bin] + list(args), capture_output=True, text=True,
                              timeout=60)

    def test_puts_land_in_etcd(self):
        url = self.cluster.etcd()
        r = self.run_raw("--url", url, "--seconds", "0.5", "--clients", "3", "--per-txn", "16",
                         "--value-bytes", "100", "--prefix", "/rg")
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.match(r"rawgrpc puts (\d+) txns (\d+) seconds [\d.]+$", r.stdout.strip())
        self.assertIsNotNone(m, r.stdout)
        puts, txns = int(m.group(1)), int(m.group(2))
        self.assertGreater(txns, 0)
        self.assertEqual(puts, 16 * txns)
        keys = self.cluster.etcdctl("get", "/rg/", "--prefix", "--keys-only").split()
        self.assertEqual(len(keys), puts)
        self.assertEqual({k.split("/")[2] for k in keys}, {"0", "1", "2"})
        value = self.cluster.etcdctl("get", keys[0], "--print-value-only").strip()
        self.assertEqual(value, "x" * 100)

    def test_bad_usage_and_no_grpc_server(self):
        r = self.run_raw("--seconds", "1")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--url", r.stderr)
        r = self.run_raw("--url", "http://127.0.0.1:1", "--per-txn", "500")
        self.assertEqual(r.returncode, 2)
        # an HTTP/1.1 server: no gRPC answer
        srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            r = self.run_raw("--url", "http://127.0.0.1:%d" % srv.server_address[1],
                             "--seconds", "0.2")
        finally:
            srv.shutdown()
            srv.server_close()
        self.assertEqual(r.returncode, 1)
        self.assertIn("a txn failed", r.stderr)


if __name__ == "__main__":
    harness.main()
