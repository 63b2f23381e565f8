"""A small S3-compatible object server for tests: path-style GET, HEAD and
PUT of objects, with AWS Signature Version 4 checked on every request
(header form). It listens on 127.0.0.1 only and keeps objects in memory.

    s3 = S3Server(access_key="AK", secret_key="SK")   # serving on s3.endpoint
    s3.put("bucket", "dir/app.tar.gz", data)
    ... GET http://127.0.0.1:<port>/bucket/dir/app.tar.gz (signed) ...
    s3.requests  # [(method, path, status)]
    s3.stop()

Run as a script to serve from the command line:
    python3 s3_server.py --port 9000 --access-key AK --secret-key SK
"""

import argparse
import datetime
import hashlib
import hmac
import http.server
import threading
import urllib.parse

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _xml_error(code, message):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
            "<Message>%s</Message></Error>" % (code, message)).encode()


def sigv4_signature(secret, date, region, service, string_to_sign):
    def h(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()
    k = h(("AWS4" + secret).encode(), date)
    k = h(k, region)
    k = h(k, service)
    k = h(k, "aws4_request")
    return hmac.new(k, string_to_sign.encode(), hashlib.sha256).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body=b"", headers=None, head=False):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)
        self.server.s3._record(self.command, self.path, status)

    def _check_auth(self, payload):
        s3 = self.server.s3
        auth = self.headers.get("Authorization")
        if not auth:
            return "AccessDenied", "anonymous requests are not allowed"
        try:
            algo, rest = auth.split(" ", 1)
            parts = dict(p.strip().split("=", 1) for p in rest.split(","))
            cred = parts["Credential"].split("/")
            signed = parts["SignedHeaders"].split(";")
            sig = parts["Signature"]
        except (ValueError, KeyError):
            return "AuthorizationHeaderMalformed", "cannot parse Authorization"
        if algo != "AWS4-HMAC-SHA256" or len(cred) != 5:
            return "AuthorizationHeaderMalformed", "bad algorithm or credential scope"
        key, date, region, service, term = cred
        if key != s3.access_key:
            return "InvalidAccessKeyId", "unknown access key"
        if service != "s3" or term != "aws4_request" or region != s3.region:
            return "AuthorizationHeaderMalformed", "bad credential scope"
        if "host" not in signed:
            return "AccessDenied", "host must be signed"
        amz_date = self.headers.get("x-amz-date", "")
        if not amz_date.startswith(date):
            return "AccessDenied", "x-amz-date does not match the credential date"
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc)
        except ValueError:
            return "AccessDenied", "bad x-amz-date"
        if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > 900:
            return "RequestTimeTooSkewed", "request time too skewed"
        content_sha = self.headers.get("x-amz-content-sha256", "")
        if content_sha != "UNSIGNED-PAYLOAD" and content_sha != hashlib.sha256(payload).hexdigest():
            return "XAmzContentSHA256Mismatch", "payload hash mismatch"
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        cquery = "&".join("%s=%s" % (urllib.parse.quote(k, safe="-_.~"),
                                     urllib.parse.quote(v, safe="-_.~"))
                          for k, v in sorted(query))
        cheaders = "".join("%s:%s\n" % (h, " ".join((self.headers.get(h) or "").split()))
                           for h in signed)
        creq = "\n".join([self.command, url.path, cquery, cheaders, ";".join(signed), content_sha])
        sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, "%s/%s/%s/aws4_request" % (date, region, service),
                         hashlib.sha256(creq.encode()).hexdigest()])
        want = sigv4_signature(s3.secret_key, date, region, service, sts)
        if not hmac.compare_digest(want, sig):
            return "SignatureDoesNotMatch", "signature does not match"
        return None

    def _object(self):
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        parts = path.lstrip("/").split("/", 1)
        if len(parts) != 2 or not parts[0] or not parts[1]:
            return None, None
        return parts[0], parts[1]

    def _get(self, head):
        s3 = self.server.s3
        err = self._check_auth(b"")
        if err:
            self._send(403, _xml_error(*err), {"Content-Type": "application/xml"}, head)
            return
        bucket, key = self._object()
        with s3.lock:
            data = s3.objects.get((bucket, key))
        if data is None:
            self._send(404, _xml_error("NoSuchKey", "the specified key does not exist"),
                       {"Content-Type": "application/xml"}, head)
            return
        self._send(200, data, {"Content-Type": "application/octet-stream",
                               "ETag": '"%s"' % hashlib.md5(data).hexdigest()}, head)

    def do_GET(self):
        self._get(False)

    def do_HEAD(self):
        self._get(True)

    def do_PUT(self):
        s3 = self.server.s3
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        err = self._check_auth(body)
        if err:
            self._send(403, _xml_error(*err), {"Content-Type": "application/xml"})
            return
        bucket, key = self._object()
        if not bucket:
            self._send(400, _xml_error("InvalidRequest", "path-style /bucket/key expected"))
            return
        s3.put(bucket, key, body)
        self._send(200, b"", {"ETag": '"%s"' % hashlib.md5(body).hexdigest()})


class S3Server:
    def __init__(self, access_key="corral-test", secret_key="corral-secret", region="us-east-1",
                 port=0):
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.objects = {}
        self.requests = []
        self.lock = threading.Lock()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda *a: None  # clients hanging up are normal
        self.httpd.s3 = self
        self.port = self.httpd.server_address[1]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def _record(self, method, path, status):
        with self.lock:
            self.requests.append((method, path, status))

    def put(self, bucket, key, data):
        with self.lock:
            self.objects[(bucket, key)] = bytes(data)

    def gets(self, key_suffix):
        """How many GETs of a path ending with key_suffix were answered 200."""
        with self.lock:
            return sum(1 for m, p, s in self.requests
                       if m == "GET" and s == 200 and urllib.parse.unquote(p).endswith(key_suffix))

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--access-key", default="corral-test")
    ap.add_argument("--secret-key", default="corral-secret")
    ap.add_argument("--region", default="us-east-1")
    a = ap.parse_args()
    srv = S3Server(a.access_key, a.secret_key, a.region, a.port)
    print("s3 server on %s" % srv.endpoint, flush=True)
    try:
        srv.thread.join()
    except KeyboardInterrupt:
        srv.stop()
