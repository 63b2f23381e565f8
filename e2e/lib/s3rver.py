"""A real S3-compatible server for e2e tests: s3rver (npm, pinned in
e2e/s3rver/package.json, installed by hack/deps.sh) on a free loopback
port, with one bucket. s3rver parses SigV4 headers and refuses an unknown
access key (its default credentials are S3RVER / S3RVER), a malformed
header or a stale date, but does not recompute v4 signatures; unsigned
requests are anonymous and allowed.

    s3 = s3rver.start(self.cluster, bucket="logs")   # one for a test, or
    cls.s3 = s3rver.for_class(cls, bucket="builds")  # one for a class (setUpClass)
    s3.env()            # CORRAL_S3_* and AWS_* for corrald, the node agent, executors
    s3.stored("a/b")    # how many times S3 completed a write of key a/b
    s3.gets("a/b")      # how many GETs of key a/b it answered 200
    s3.multipart("a/b") # its multipart uploads of a/b: created, parts, completed
    s3.put("builds", "a/b", data)   # an object to fetch (the executor's artifacts)

It offers what e2e/lib/exe_cases.py's scenarios use of an S3 server
(endpoint, access_key, secret_key, region, put). Requests are counted from
s3rver's own log: its request logger cuts the first 16 characters of each
line, which without colours are the method, so s3rver runs with
FORCE_COLOR=1 (the colour codes come first) and they are stripped here.
"""

import os
import re
import shutil
import unittest
import urllib.parse

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
S3RVER = os.path.join(HERE, "..", "s3rver", "node_modules", ".bin", "s3rver")
NODE = shutil.which("node") or "/usr/bin/node"


def available():
    return os.path.exists(S3RVER) and os.path.exists(NODE)


WHY = "s3rver is not installed (hack/deps.sh installs it)"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# "info: GET /bucket/key?query 200 3ms 5b"
REQUEST = re.compile(r"^info: ([A-Z]+) (/\S*) (\d{3}) ", re.M)


def require(test):
    if not available():
        raise unittest.SkipTest(WHY)


def need(test):
    """Skips test when its class has no s3rver (for_class found none)."""
    if getattr(test, "s3", None) is None:
        raise unittest.SkipTest(WHY)


class S3rver:
    access_key = "S3RVER"
    secret_key = "S3RVER"
    region = "us-east-1"

    def __init__(self, proc, url, bucket):
        self.proc, self.url, self.bucket = proc, url, bucket
        self.endpoint = url

    def env(self):
        return {"CORRAL_S3_ENDPOINT": self.url, "CORRAL_S3_PATH_STYLE": "1",
                "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_REGION": "us-east-1"}

    def object_url(self, key, bucket=None):
        return "%s/%s/%s" % (self.url, bucket or self.bucket, urllib.parse.quote(key))

    def get(self, key, bucket=None):
        """(status, bytes) of an anonymous GET."""
        st, _, body = harness.http("GET", self.object_url(key, bucket), timeout=60)
        return st, body

    def put(self, bucket, key, data):
        """Stores an object (anonymously: s3rver allows it; the bucket is
        made if needed)."""
        harness.http("PUT", "%s/%s" % (self.url, bucket), timeout=30)
        st, _, body = harness.http("PUT", self.object_url(key, bucket), bytes(data), timeout=60)
        assert st == 200, (st, body[:300])

    def stored(self, key, bucket=None):
        """How many times s3rver stored key (a PUT or a completed multipart
        upload), from its log."""
        pat = 'Stored object "%s" in bucket "%s"' % (key, bucket or self.bucket)
        return self.proc.log().count(pat)

    def stored_keys(self, bucket=None):
        b = re.escape(bucket or self.bucket)
        return re.findall(r'Stored object "([^"]+)" in bucket "%s"' % b, self.proc.log())

    def requests(self):
        """Every request s3rver answered, in order: (method, path without
        the query, decoded, status)."""
        text = ANSI.sub("", self.proc.log())
        return [(m, urllib.parse.unquote(urllib.parse.urlsplit(p).path), int(st))
                for m, p, st in REQUEST.findall(text)]

    def calls(self, method, key, bucket=None):
        """[(query, status)] of every `method` request on key, in order
        (the query as sent: "uploads=", "partNumber=2&uploadId=...")."""
        path = "/%s/%s" % (bucket or self.bucket, key)
        out = []
        for m, p, st in REQUEST.findall(ANSI.sub("", self.proc.log())):
            u = urllib.parse.urlsplit(p)
            if m == method and urllib.parse.unquote(u.path) == path:
                out.append((u.query, int(st)))
        return out

    def multipart(self, key, bucket=None):
        """What s3rver's log says of key's multipart uploads: {"created":
        InitiateMultipartUpload answered 200, "parts": UploadPart answered
        200, "completed": CompleteMultipartUpload answered 200, "puts":
        plain PUTs answered 200}."""
        posts = self.calls("POST", key, bucket)
        puts = self.calls("PUT", key, bucket)
        return {"created": sum(1 for q, st in posts if q.startswith("uploads") and st == 200),
                "parts": sum(1 for q, st in puts if "partNumber=" in q and st == 200),
                "completed": sum(1 for q, st in posts if q.startswith("uploadId=") and st == 200),
                "puts": sum(1 for q, st in puts if not q and st == 200)}

    def gets(self, key, bucket=None):
        """How many GETs of key it answered 200."""
        path = "/%s/%s" % (bucket or self.bucket, key)
        return sum(1 for m, p, st in self.requests() if m == "GET" and p == path and st == 200)


def start(cluster, bucket="logs", buckets=()):
    """Starts s3rver in the cluster's temp dir; returns an S3rver once it
    answers."""
    port = harness.free_port()
    url = "http://127.0.0.1:%d" % port
    data = os.path.join(cluster.tmpdir, "s3rver")
    os.makedirs(data, exist_ok=True)
    argv = [NODE, S3RVER, "-d", data, "-a", "127.0.0.1", "-p", str(port)]
    for b in (bucket,) + tuple(buckets):
        argv += ["--configure-bucket", b]
    proc = cluster.spawn("s3rver", argv, env={"FORCE_COLOR": "1"})
    harness.wait_until(lambda: harness.http("GET", url + "/", timeout=1)[0] == 200, 30,
                       "s3rver at " + url)
    return S3rver(proc, url, bucket)


def for_class(cls, bucket="logs", buckets=()):
    """One s3rver for every test of the class cls (node takes a second or
    two to start it): call it from setUpClass. It runs in a Cluster of its
    own, stopped after the class's last test. Objects stay from one test to
    the next, so tests use keys of their own or count from a baseline.
    Returns None when s3rver is not installed: the tests that need it call
    need(self), the others run."""
    if not available():
        return None
    cluster = harness.Cluster("s3rver-" + cls.__name__)
    cls.addClassCleanup(cluster.close)
    return start(cluster, bucket, buckets)
