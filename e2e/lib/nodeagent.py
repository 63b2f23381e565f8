"""Starts bin/corral-nodeagent for e2e tests (docs/nodeagent.md)."""

import os

import harness


def start(cluster, work_dir, args=None, env=None, port=None, name="nodeagent"):
    """Starts a node agent on a free loopback port (or `port`) over work_dir;
    returns (proc, url) once /healthz answers."""
    port = port or harness.free_port()
    url = "http://127.0.0.1:%d" % port
    argv = [os.path.join(harness.BIN, "corral-nodeagent"), "--listen", "127.0.0.1:%d" % port,
            "--work-dir", work_dir, "--scan-interval-ms", "300", "--log-level", "debug"]
    argv += list(args or [])
    proc = cluster.spawn(name, argv, env=env)
    harness.wait_until(lambda: harness.http("GET", url + "/healthz", timeout=1)[0] == 200, 15,
                       "node agent at " + url)
    proc.url = url
    proc.port = port
    return proc, url
