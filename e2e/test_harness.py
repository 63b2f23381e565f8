"""The harness itself: etcd starts on a free loopback port and is gone after."""
import os
import harness


class HarnessTest(harness.TestCase):
    def test_etcd_starts_and_stops(self):
        url = self.cluster.etcd()
        self.assertTrue(url.startswith("http://127.0.0.1:"))
        self.cluster.etcdctl("put", "/corral/x", '{"a":1}')
        self.assertEqual(self.cluster.etcd_get_json("/corral/x"), {"a": 1})
        proc = self.cluster.procs[0]
        self.cluster.close()
        self.assertFalse(proc.alive())
        self.assertFalse(os.path.exists(self.cluster.tmpdir))

    def test_binaries_print_help(self):
        import subprocess
        for b in ("corrald", "corralctl", "corral-executor", "corral-nodeagent", "mesoslite"):
            r = subprocess.run([os.path.join(harness.BIN, b), "--help"], capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(r.returncode, 0, b)
            self.assertIn("usage", (r.stdout + r.stderr).lower(), b)


if __name__ == "__main__":
    harness.main()
