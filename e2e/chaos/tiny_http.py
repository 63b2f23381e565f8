#!/usr/bin/env python3
"""The process a chaos-test SERVICE task runs: a tiny HTTP server on
127.0.0.1:$PORT0, cheap enough to run dozens at once on two cores.

    tiny_http.py [--delay SECS] [--status CODE]

--delay: sleep before listening (a slow start: the health check sees the
connection refused until then). --status: the answer to every GET (200 by
default; the chaos tester's "badcheck" deploys answer 503 so the check never
passes). One connection at a time, one request per connection.
"""
import os
import socket
import sys
import time


def main():
    delay, status = 0.0, 200
    args = sys.argv[1:]
    while args:
        flag = args.pop(0)
        if flag == "--delay":
            delay = float(args.pop(0))
        elif flag == "--status":
            status = int(args.pop(0))
        else:
            sys.exit("tiny_http: unknown flag %r" % flag)
    port = int(os.environ.get("PORT0") or os.environ.get("PORT") or "0")
    if delay > 0:
        time.sleep(delay)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    print("tiny_http: listening on %d (status %d)" % (port, status), flush=True)
    reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}.get(status, "Status")
    body = b"ok\n" if status == 200 else b"not ok\n"
    head = ("HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            "Connection: close\r\n\r\n" % (status, reason, len(body))).encode()
    while True:
        conn, _ = srv.accept()
        try:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            conn.sendall(head + body)
        except OSError:
            pass
        finally:
            conn.close()


if __name__ == "__main__":
    main()
