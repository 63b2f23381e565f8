"""A loopback HTTP proxy in front of s3rver that can hold requests, so a
test stops an upload at a point it chooses instead of racing it:

    gate = s3gate.start(self, s3.url)     # stopped at the test's cleanup
    gate.hold(lambda method, path, query: "partNumber=2" in query)
    held = harness.wait_until(gate.held, 60, "part 2 held")  # (method, path, query)
    ...                                    # kill the client, look at S3
    gate.release()                         # the held request fails (502), later ones pass

Requests are passed on to s3rver as they came (method, path, query,
headers, body; s3rver does not recompute SigV4 signatures, so a request
signed for the gate's host is accepted). A held request waits until
release() (or the gate closes), then is answered 502 without reaching
s3rver: the client that sent it never learns more. hold() arms a
predicate once: the first request it matches is held, the rest pass;
hold_each() holds every match, one at a time, release_one() lets the held
one through (it reaches s3rver) and holds the next.
"""

import http.client
import http.server
import threading
import urllib.parse

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
       "upgrade", "expect"}


class Gate:
    def __init__(self, upstream):
        u = urllib.parse.urlsplit(upstream)
        self.up_host, self.up_port = u.hostname, u.port
        self.lock = threading.Condition()
        self.pred = None
        self.each = False
        self.current = None   # (method, path, query) held now
        self.verdict = None   # "pass" or "fail" for the held one
        self.seen = []        # every (method, path, query) in order
        self.closed = False
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                try:
                    self._relay()
                except OSError:
                    pass  # the client went away (killed) or s3rver stopped

            def _relay(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                u = urllib.parse.urlsplit(self.path)
                what = (self.command, urllib.parse.unquote(u.path), u.query)
                if not gate._admit(what):
                    self._answer(502, {}, b"held by the test's gate")
                    return
                conn = http.client.HTTPConnection(gate.up_host, gate.up_port, timeout=120)
                try:
                    hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                    conn.request(self.command, self.path, body=body, headers=hdrs)
                    r = conn.getresponse()
                    data = r.read()
                    self._answer(r.status, {k: v for k, v in r.getheaders()
                                            if k.lower() not in HOP | {"content-length"}},
                                 data, head=self.command == "HEAD",
                                 length=r.getheader("Content-Length"))
                finally:
                    conn.close()

            def _answer(self, status, hdrs, data, head=False, length=None):
                self.send_response(status)
                for k, v in hdrs.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", length if head and length else str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                if not head:
                    self.wfile.write(data)
                self.close_connection = True

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _admit(self, what):
        """Whether the request goes on to s3rver (False: answer 502)."""
        with self.lock:
            self.seen.append(what)
            if self.closed or not self.pred or not self.pred(*what):
                return True
            # one held at a time: others that match wait their turn
            while self.current is not None and not self.closed:
                self.lock.wait()
            if self.closed or not self.pred:
                return True
            self.current, self.verdict = what, None
            if not self.each:
                self.pred = None
            self.lock.notify_all()
            while self.verdict is None and not self.closed:
                self.lock.wait()
            verdict = self.verdict
            self.current, self.verdict = None, None
            self.lock.notify_all()
            return verdict == "pass" or self.closed

    def hold(self, pred):
        """Holds the first request pred(method, path, query) matches."""
        with self.lock:
            self.pred, self.each = pred, False

    def hold_each(self, pred):
        """Holds every request pred matches, one at a time."""
        with self.lock:
            self.pred, self.each = pred, True

    def held(self):
        """(method, path, query) of the request held now, or None."""
        with self.lock:
            return self.current

    def release(self):
        """Fails the held request (502), stops holding."""
        with self.lock:
            self.pred = None
            if self.current is not None:
                self.verdict = "fail"
            self.lock.notify_all()

    def release_one(self):
        """Lets the held request through to s3rver; the next match is held."""
        with self.lock:
            if self.current is not None:
                self.verdict = "pass"
            self.lock.notify_all()

    def close(self):
        with self.lock:
            self.closed = True
            self.lock.notify_all()
        self.server.shutdown()
        self.server.server_close()


def start(test, upstream):
    """A gate in front of upstream (s3rver's URL), closed at test's cleanup."""
    g = Gate(upstream)
    test.addCleanup(g.close)
    return g

