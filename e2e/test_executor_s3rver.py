"""corral-executor's S3 artifacts against a real S3-compatible server
(s3rver from npm, e2e/lib/s3rver.py) instead of the hand-written
e2e/lib/s3_server.py: the same scenarios as test_executor.py (mesoslite,
a v1 scheduler), with requests signed by base/s3.c. s3rver parses SigV4
(a malformed header, an unknown access key or a stale date is refused) but
does not recompute v4 signatures, allows anonymous reads and logs no
methods: the hand-written SigV4-checking server stays for the tests that
need those (test_executor*.py), and the signer is checked against AWS's
published examples (test/base/test_s3.c)."""

import harness
import exe_cases
import s3rver
from test_executor import MesosliteBackend


class UnknownKey:
    """The server's endpoint with an access key it does not know."""

    def __init__(self, s3):
        self.endpoint, self.secret_key, self.region = s3.endpoint, s3.secret_key, s3.region
        self.access_key = "NOT-A-KEY"


class T(harness.TestCase):
    def setUp(self):
        super().setUp()
        s3rver.require(self)
        self.s3 = s3rver.start(self.cluster, bucket="builds")
        self.files = exe_cases.FileServer()
        self.addCleanup(self.files.stop)
        self.workdir = self.cluster.tmpdir

    def test_artifacts_and_env(self):
        self.backend = MesosliteBackend(self)
        t = exe_cases.artifacts_and_env(self)
        self.assertEqual(t.states(), ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"])

    def test_missing_s3_object_fails(self):
        self.backend = MesosliteBackend(self)
        exe_cases.missing_s3_object_fails(self)

    def test_an_unknown_access_key_is_refused(self):
        self.s3.put("builds", "k.txt", b"x")
        real, self.s3 = self.s3, UnknownKey(self.s3)
        self.backend = MesosliteBackend(self)
        self.s3 = real
        t = self.backend.start({"cmd": "true", "s3Artifacts": [
            {"name": "k", "filename": "k.txt", "s3Bucket": "builds", "s3ObjectKey": "k.txt"}]})
        st = t.wait_state("TASK_FAILED", 60)
        self.assertIn("artifact 'k': download of s3 object k.txt failed: HTTP 403",
                      st.get("message", ""))


if __name__ == "__main__":
    harness.main()
