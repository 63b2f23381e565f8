"""bench/loadgen.c, the constant-rate load generator of `make bench B=api`,
against a small HTTP/1.1 server on loopback that records every request: it
sends exactly rate x duration requests after the warmup ones, takes the ids
in order, substitutes them in the path and the body, keeps to its pool of
connections, reads every framing of an answer, and counts every answer; a
dropped connection, a missing answer or no server at all make it exit 1.
No timing is asserted. loadgen is built with ASan and UBSan (clang when
there is one), so a leak or undefined behaviour fails its exit status too.
"""

import http.server
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading

import harness

spec = importlib.util.spec_from_file_location("bench_api",
                                              os.path.join(harness.ROOT, "bench", "api.py"))
bench_api = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_api)


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers by the id's kind (the path's last segment up to '-'):
    chunk, close (Connection: close), eof (body until close), conflict
    (409), empty (204), drop (closes without an answer), hold (answers
    nothing until the test ends); anything else 200 with a length."""
    protocol_version = "HTTP/1.1"
    # Its head and body go out in two writes: with Nagle the second waits
    # for the client's delayed ACK (40 ms a request).
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.answer(b"")

    def do_POST(self):
        self.answer(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def answer(self, body):
        srv = self.server
        with srv.lock:
            srv.seen.append({"method": self.command, "path": self.path, "body": body,
                             "headers": dict(self.headers), "port": self.client_address[1]})
        kind = self.path.rsplit("/", 1)[-1].split("-")[0]
        if kind == "drop":
            self.close_connection = True
        elif kind == "hold":
            srv.release.wait()
            self.close_connection = True
        elif kind == "chunk":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"3\r\nabc\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n")
        elif kind == "eof":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
            self.close_connection = True
        elif kind == "empty":
            self.send_response(204)
            self.end_headers()
        else:
            status, out = (409, b'{"message":"taken"}') if kind == "conflict" else (200, b"{}")
            self.send_response(status)
            self.send_header("Content-Length", str(len(out)))
            if kind == "close":
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(out)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the whole pool connects at once

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.seen = []
        self.release = threading.Event()
        self.url = "http://127.0.0.1:%d" % self.server_address[1]


class LoadgenTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.build_dir = tempfile.mkdtemp(prefix="corral-loadgen-")
        cls.loadgen = bench_api.build_loadgen(cls.build_dir, sanitize=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.build_dir, ignore_errors=True)

    def serve(self):
        srv = Server()
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()

        def stop():
            srv.release.set()
            srv.shutdown()
            srv.server_close()
            thread.join()
        self.addCleanup(stop)
        return srv

    def write(self, name, text):
        path = os.path.join(self.cluster.tmpdir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_loadgen(self, *args):
        r = subprocess.run([self.loadgen] + list(args), capture_output=True, text=True,
                           timeout=60)
        # Where ASAN_OPTIONS sends reports elsewhere, the harness checks them.
        self.assertNotIn("Sanitizer", r.stderr)
        return r.returncode, r.stdout, r.stderr, bench_api.parse_loadgen(r.stdout)

    def check_counts(self, fig, **want):
        self.assertEqual({k: fig[k] for k in want}, {k: float(v) for k, v in want.items()})
        self.assertLessEqual(fig["p50"], fig["p90"])
        self.assertLessEqual(fig["p90"], fig["p99"])
        self.assertLessEqual(fig["p99"], fig["p999"])
        self.assertLessEqual(fig["p999"], fig["max"])

    def test_get_ids_in_order_after_warmup(self):
        srv = self.serve()
        ids = ["id-%d" % k for k in range(60)]
        rc, out, err, fig = self.run_loadgen(
            "--url", srv.url, "--rate", "200", "--duration", "1", "--warmup", "0.25",
            "--connections", "1", "--path", "/things/{}", "--ids",
            self.write("ids", "\n".join(ids) + "\n"), "-H", "X-Bench: yes")
        self.assertEqual(rc, 0, out + err)
        self.check_counts(fig, scheduled=200, sent=200, answered=200, non2xx=0, errors=0,
                          missing=0, warmup=50, warmup_failed=0, rate_asked=200, **{"2xx": 200})
        # One connection: the server sees them in the order they were due,
        # the 50 warmup ones first, the ids cycled.
        self.assertEqual([s["path"] for s in srv.seen],
                         ["/things/%s" % ids[k % 60] for k in range(250)])
        self.assertEqual({s["method"] for s in srv.seen}, {"GET"})
        self.assertEqual({s["headers"].get("Host") for s in srv.seen},
                         {srv.url[len("http://"):]})
        self.assertEqual({s["headers"].get("X-Bench") for s in srv.seen}, {"yes"})
        self.assertEqual(len({s["port"] for s in srv.seen}), 1)
        self.assertIn("loadgen: GET /things/{} at 200/s", out)
        self.assertIn("1 connections to %s:" % srv.url, out)

    def test_post_bodies_on_a_pool(self):
        srv = self.serve()
        ids = ["req-%d" % k for k in range(200)]
        rc, out, err, fig = self.run_loadgen(
            "--url", srv.url + "/base/", "--rate", "200", "--duration", "1",
            "--connections", "8", "--path", "/api/deploys",
            "--ids", self.write("ids", "\n".join(ids) + "\n"),
            "--body", self.write("body", '{"deploy":{"requestId":"{}","id":"b1"},"note":"{} x"}'),
            "-H", "Authorization: Bearer s3cret")
        self.assertEqual(rc, 0, out + err)
        self.check_counts(fig, scheduled=200, sent=200, answered=200, non2xx=0, errors=0,
                          missing=0, warmup=0, **{"2xx": 200})
        self.assertEqual(len(srv.seen), 200)
        bodies = [json.loads(s["body"]) for s in srv.seen]
        self.assertEqual(sorted(b["deploy"]["requestId"] for b in bodies), sorted(ids))
        self.assertTrue(all(b["note"] == b["deploy"]["requestId"] + " x" for b in bodies))
        for s in srv.seen:
            self.assertEqual((s["method"], s["path"]), ("POST", "/base/api/deploys"))
            self.assertEqual(s["headers"].get("Content-Type"), "application/json")
            self.assertEqual(s["headers"].get("Authorization"), "Bearer s3cret")
        self.assertLessEqual(len({s["port"] for s in srv.seen}), 8)

    def test_every_framing_of_an_answer(self):
        srv = self.serve()
        kinds = ["plain-1", "chunk-1", "close-1", "eof-1", "conflict-1", "empty-1"]
        rc, out, err, fig = self.run_loadgen(
            "--url", srv.url, "--rate", "200", "--duration", "0.6", "--connections", "2",
            "--path", "/x/{}", "--ids", self.write("ids", "\n".join(kinds)))
        # Non-2xx answers are counted, not failures of loadgen's own.
        self.assertEqual(rc, 0, out + err)
        self.check_counts(fig, scheduled=120, sent=120, answered=120, non2xx=20, errors=0,
                          missing=0, **{"2xx": 100})
        self.assertEqual(len(srv.seen), 120)
        self.assertIn("first non-2xx: 409 to request 4 (id 'conflict-1')", out)

    def test_dropped_connection_and_missing_answer(self):
        srv = self.serve()
        ids = ["plain-%d" % k for k in range(40)]
        ids[10], ids[20] = "drop-10", "hold-20"
        rc, out, err, fig = self.run_loadgen(
            "--url", srv.url, "--rate", "100", "--duration", "0.4", "--connections", "4",
            "--timeout", "0.5", "--path", "/x/{}", "--ids", self.write("ids", "\n".join(ids)))
        self.assertEqual(rc, 1, out + err)
        self.check_counts(fig, scheduled=40, sent=40, answered=38, errors=1, missing=1,
                          **{"2xx": 38})
        self.assertIn("first error: request 10 (id 'drop-10'): the server closed", out)
        # The dropped connection was opened again for the requests after it.
        self.assertEqual(sorted(s["path"] for s in srv.seen), sorted("/x/" + i for i in ids))

    def test_requests_wait_for_a_free_connection(self):
        # The only connection never gets request 5's answer: the requests
        # due after it queue (counted as waiting) and are never sent.
        srv = self.serve()
        ids = ["plain-%d" % k for k in range(20)]
        ids[5] = "hold-5"
        rc, out, err, fig = self.run_loadgen(
            "--url", srv.url, "--rate", "100", "--duration", "0.2", "--connections", "1",
            "--timeout", "0.5", "--path", "/x/{}", "--ids", self.write("ids", "\n".join(ids)))
        self.assertEqual(rc, 1, out + err)
        self.check_counts(fig, scheduled=20, sent=6, answered=5, errors=0, missing=15)
        self.assertGreaterEqual(fig["waited"], 14)
        self.assertEqual([s["path"] for s in srv.seen], ["/x/" + i for i in ids[:6]])

    def test_no_server(self):
        # Bound but not listening: nothing can take the port meanwhile.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            rc, out, err, fig = self.run_loadgen(
                "--url", "http://127.0.0.1:%d" % s.getsockname()[1], "--rate", "100",
                "--duration", "1")
        self.assertEqual(rc, 1, out + err)
        self.assertIsNone(fig)
        self.assertIn("cannot connect", err)

    def test_usage(self):
        rc, out, _, _ = self.run_loadgen("--help")
        self.assertEqual(rc, 0)
        self.assertIn("usage: loadgen", out)
        for args in (["--url", "http://127.0.0.1:1"],
                     ["--url", "http://127.0.0.1:1", "--rate", "10", "--path", "/x/{}"],
                     ["--url", "https://127.0.0.1:1", "--rate", "10"],
                     ["--url", "http://127.0.0.1:1", "--rate", "10", "--connections", "0"]):
            rc, out, err, _ = self.run_loadgen(*args)
            self.assertEqual(rc, 2, args)
            self.assertIn("loadgen --help", err)


if __name__ == "__main__":
    harness.main()
