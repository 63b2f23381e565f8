"""Scenarios for corral-executor's e2e tests, shared by the two ways of
running it: under the real mesoslite (test_executor.py, through the v1
scheduler API) and under a fake agent endpoint (test_executor_agent.py, for
disconnects and withheld acknowledgements that mesoslite cannot stage).

A backend offers:
    start(executor_data, env=None, ports=0, task_id=None) -> Task
and a Task offers:
    wait_state(state, timeout) -> status dict, states() -> [state...],
    kill(grace_ms=None), sandbox (path), wait_executor_exit(timeout) -> code
"""

import base64
import hashlib
import http.server
import io
import json
import os
import subprocess
import tarfile
import threading
import time
import urllib.parse

import harness
import s3rver

EXECUTOR = os.path.join(harness.BIN, "corral-executor")


class FileServer:
    """A plain HTTP server on 127.0.0.1 serving in-memory files; records
    the paths it served."""

    def __init__(self):
        self.files = {}
        self.served = []
        self.stalled = set()
        self.release = threading.Event()
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                path = urllib.parse.urlsplit(self.path).path
                if path in outer.stalled:
                    # Send headers and a first byte, then nothing: a hung transfer.
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    outer.release.wait(30)
                    return
                with outer.lock:
                    data = outer.files.get(path)
                    outer.served.append((path, 200 if data is not None else 404))
                body = data if data is not None else b"not found\n"
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda *a: None  # clients hanging up are normal
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def put(self, path, data):
        with self.lock:
            self.files[path] = data
        return self.url + path

    def count(self, path):
        with self.lock:
            return sum(1 for p, s in self.served if p == path and s == 200)

    def stall(self, path):
        """Serves path as a transfer that never completes."""
        self.stalled.add(path)
        return self.url + path

    def stop(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def kill_task_group(status, task_id):
    """Test cleanup: SIGKILL what is left of the task's process group (named
    by the executor's TASK_RUNNING message, "started pid N") in case the
    executor itself was killed before it could stop the task. Only processes
    in that group whose environment carries TASK_ID=task_id are touched, so
    a reused pid of someone else's is never hit."""
    import signal
    msg = (status or {}).get("message", "")
    if not msg.startswith("started pid "):
        return
    pgid = int(msg.split()[-1])
    marker = ("TASK_ID=%s" % task_id).encode()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            with open("/proc/%s/environ" % d, "rb") as f:
                if marker not in f.read().split(b"\0"):
                    continue
            os.kill(int(d), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass


def md5(data):
    return hashlib.md5(data).hexdigest()


def b64(data):
    return base64.b64encode(data).decode()


def targz(files):
    """A .tar.gz (bytes) of {name: bytes or (bytes, mode)}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, content in files.items():
            mode = 0o644
            if isinstance(content, tuple):
                content, mode = content
            ti = tarfile.TarInfo(name)
            ti.size = len(content)
            ti.mode = mode
            ti.mtime = int(time.time())
            tf.addfile(ti, io.BytesIO(content))
    return buf.getvalue()


def s3_env(s3):
    """Executor settings pointing at the test's s3rver (e2e/lib/s3rver.py);
    none without one."""
    return s3.env() if s3 else {}


def read(path):
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")


def log_text(sandbox, name="service.log"):
    """Rotated files (in order) plus the current file."""
    out = []
    meta_path = os.path.join(sandbox, "logs", name + ".rotated.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        for r in meta["rotated"]:
            out.append(read(os.path.join(sandbox, r["file"])))
    p = os.path.join(sandbox, name)
    if os.path.exists(p):
        out.append(read(p))
    return "".join(out)


def build_java_service(workdir):
    """Compiles a tiny TestService.jar that reads its YAML config, prints a
    line and then serves until SIGTERM (a stand-in for the seed's Java
    service). Returns the jar's bytes."""
    src = os.path.join(workdir, "javasrc")
    os.makedirs(src, exist_ok=True)
    with open(os.path.join(src, "TestService.java"), "w") as f:
        f.write("""
import java.nio.file.*;
public class TestService {
    public static void main(String[] args) throws Exception {
        String cfg = new String(Files.readAllBytes(Paths.get("TestService.yaml"))).trim();
        System.out.println("TestService mode=" + args[0] + " config=[" + cfg + "] heap="
            + System.getenv("JVM_MAX_HEAP") + " mem=" + System.getenv("DEPLOY_MEM")
            + " port=" + System.getenv("PORT0"));
        System.out.flush();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> System.out.println("TestService stopping")));
        while (true) Thread.sleep(1000);
    }
}
""")
    subprocess.run(["javac", "-d", src, os.path.join(src, "TestService.java")], check=True,
                   capture_output=True, timeout=120)
    with open(os.path.join(src, "MANIFEST.MF"), "w") as f:
        f.write("Main-Class: TestService\n")
    jar = os.path.join(workdir, "TestService.jar")
    subprocess.run(["jar", "cfm", jar, os.path.join(src, "MANIFEST.MF"), "-C", src,
                    "TestService.class"], check=True, capture_output=True, timeout=120)
    with open(jar, "rb") as f:
        return f.read()


# --- scenarios (each takes a unittest.TestCase with .backend, .s3 (an
# s3rver, or None when it is not installed: then those using S3 skip),
# .files) ---

def artifacts_and_env(tc):
    """All three artifact kinds land where asked (the archive extracted),
    and the task sees Singularity's variables and the deploy's env."""
    s3rver.need(tc)
    slug = targz({"bin/hello.sh": (b"#!/bin/sh\necho hello from slug\n", 0o755),
                  "lib/data.txt": b"slug data\n"})
    tc.s3.put("builds", "svc/slug v1.tar.gz", slug)
    conf = b"listen: 8080\n"
    url = tc.files.put("/files/conf.json", b'{"a": 1}\n')
    data = {
        "cmd": ("./bin/hello.sh && cat lib/data.txt && cat etc/app.yaml && cat conf.json && "
                "echo ENV TASK_ID=$TASK_ID REQ=$TASK_REQUEST_ID DEP=$TASK_DEPLOY_ID "
                "INST=$INSTANCE_NO PORT=$PORT PORT0=$PORT0 HOST=$TASK_HOST RACK=$TASK_RACK_ID "
                "GREETING=$GREETING && ls"),
        "embeddedArtifacts": [{"name": "config", "filename": "app.yaml",
                               "targetFolderRelativeToTask": "etc", "md5sum": md5(conf),
                               "content": b64(conf)}],
        "externalArtifacts": [{"name": "json", "filename": "conf.json", "url": url,
                               "md5sum": md5(b'{"a": 1}\n'), "filesize": 9}],
        "s3Artifacts": [{"name": "slug", "filename": "slug.tar.gz", "s3Bucket": "builds",
                         "s3ObjectKey": "svc/slug v1.tar.gz", "md5sum": md5(slug),
                         "filesize": len(slug)}],
    }
    t = tc.backend.start(data, env={"GREETING": "hi-${TASK_REQUEST_ID}"}, ports=2)
    st = t.wait_state("TASK_FINISHED", 60)
    tc.assertIn("exited with status 0", st.get("message", ""))
    states = t.states()
    tc.assertEqual(states[:2], ["TASK_STARTING", "TASK_RUNNING"])
    log = log_text(t.sandbox)
    tc.assertIn("hello from slug", log)
    tc.assertIn("slug data", log)
    tc.assertIn("listen: 8080", log)
    tc.assertIn('{"a": 1}', log)
    line = [l for l in log.splitlines() if l.startswith("ENV ")][0]
    fields = dict(kv.split("=", 1) for kv in line.split()[1:])
    tc.assertEqual(fields["TASK_ID"], t.task_id)
    parts = t.task_id.split("-")  # request-deploy-startedAt-instance-host-rack
    req, dep, inst = parts[0], parts[1], parts[3]
    tc.assertEqual(fields["REQ"], req)
    tc.assertEqual(fields["DEP"], dep)
    tc.assertEqual(fields["INST"], inst)
    tc.assertEqual(fields["GREETING"], "hi-" + req)
    tc.assertTrue(fields["PORT0"].isdigit() and fields["PORT"] == fields["PORT0"], line)
    tc.assertTrue(fields["HOST"], line)
    tc.assertTrue(fields["RACK"], line)
    # The archive was extracted; the task record tells the node agent what happened.
    tc.assertIn("slug.tar.gz", log)
    rec = json.loads(read(os.path.join(t.sandbox, "corral-task.json")))
    tc.assertEqual(rec["state"], "TASK_FINISHED")
    tc.assertEqual(rec["exitCode"], 0)
    tc.assertEqual(rec["taskId"], t.task_id)
    # The app dir is removed after the task (not preserved), logs are kept.
    tc.assertFalse(os.path.exists(os.path.join(t.sandbox, "app")))
    tc.assertTrue(os.path.exists(os.path.join(t.sandbox, "service.log")))
    return t


def bad_md5_fails(tc):
    blob = b"some artifact bytes\n"
    url = tc.files.put("/files/blob.bin", blob)
    data = {"cmd": "echo should not run", "preserveTaskSandboxAfterFinish": True,
            "externalArtifacts": [{"name": "blob", "filename": "blob.bin", "url": url,
                                   "md5sum": "0" * 32}]}
    t = tc.backend.start(data)
    st = t.wait_state("TASK_FAILED", 60)
    msg = st.get("message", "")
    tc.assertIn("artifact 'blob': md5 mismatch: expected %s, got %s" % ("0" * 32, md5(blob)), msg)
    tc.assertEqual(st.get("reason"), "REASON_CONTAINER_LAUNCH_FAILED")
    tc.assertNotIn("TASK_RUNNING", t.states())
    app = os.path.join(t.sandbox, "app")
    tc.assertFalse(os.path.exists(os.path.join(app, "blob.bin")))
    tc.assertFalse(os.path.exists(os.path.join(app, "blob.bin.part")))
    tc.assertNotIn("should not run", log_text(t.sandbox))


def missing_s3_object_fails(tc):
    s3rver.need(tc)
    data = {"cmd": "true", "s3Artifacts": [{"name": "gone", "filename": "x.tgz", "s3Bucket": "builds",
                                            "s3ObjectKey": "does/not/exist.tgz"}]}
    t = tc.backend.start(data)
    st = t.wait_state("TASK_FAILED", 60)
    tc.assertIn("artifact 'gone': download of s3 object does/not/exist.tgz failed: HTTP 404",
                st.get("message", ""))


def sigterm_trap_gets_time(tc):
    data = {"cmd": ("trap 'echo got TERM; sleep 1; echo cleaned up; exit 0' TERM; echo ready; "
                    "while true; do sleep 0.1; done"),
            "sigKillProcessesAfterMillis": 20000}
    t = tc.backend.start(data)
    t.wait_state("TASK_RUNNING", 60)
    harness.wait_until(lambda: "ready" in log_text(t.sandbox), 20, "task ready")
    t.kill()
    st = t.wait_state("TASK_KILLED", 30)
    tc.assertIn("exited with status 0", st.get("message", ""))
    log = log_text(t.sandbox)
    tc.assertIn("got TERM", log)
    tc.assertIn("cleaned up", log)


def sigterm_ignored_gets_sigkill(tc):
    data = {"cmd": "trap '' TERM; echo ready; while true; do sleep 0.1; done",
            "sigKillProcessesAfterMillis": 1500}
    t = tc.backend.start(data)
    t.wait_state("TASK_RUNNING", 60)
    harness.wait_until(lambda: "ready" in log_text(t.sandbox), 20, "task ready")
    t.kill()
    st = t.wait_state("TASK_KILLED", 30)
    tc.assertIn("killed by signal 9", st.get("message", ""))


def chatty_logs_rotate(tc):
    n = 200000
    data = {"cmd": "seq 1 %d | sed 's/^/line /'; echo done-writing >&2" % n,
            "logMaxBytes": 256 * 1024, "logKeep": 1000}
    t = tc.backend.start(data)
    t.wait_state("TASK_FINISHED", 120)
    meta = json.loads(read(os.path.join(t.sandbox, "logs", "service.log.rotated.json")))
    tc.assertTrue(meta["finished"])
    tc.assertGreater(len(meta["rotated"]), 5)
    for r in meta["rotated"]:
        tc.assertLessEqual(os.path.getsize(os.path.join(t.sandbox, r["file"])), 256 * 1024)
    lines = log_text(t.sandbox).splitlines()
    numbered = [l for l in lines if l.startswith("line ")]
    tc.assertEqual(numbered, ["line %d" % i for i in range(1, n + 1)])
    tc.assertIn("done-writing", lines)


def partial_line_reaches_log(tc):
    """A line without its newline (a prompt) reaches service.log while the
    task runs on, without waiting for the newline (docs/executor.md)."""
    data = {"cmd": "printf 'password for backup: '; sleep 60; echo never"}
    t = tc.backend.start(data)
    t.wait_state("TASK_RUNNING", 30)
    harness.wait_until(lambda: "password for backup: " in log_text(t.sandbox), 10,
                       "the prompt in service.log (now %r)" % log_text(t.sandbox))
    tc.assertNotIn("never", log_text(t.sandbox))
    t.kill()
    t.wait_state("TASK_KILLED", 30)


def seed_deploy_runs(tc, seed_path):
    """The seed's deploy object, its S3 artifact pointed at the test's
    s3rver (same bucket and key; md5 and size of the slug built here)."""
    s3rver.need(tc)
    with open(seed_path) as f:
        deploy = json.load(f)
    jar = build_java_service(tc.workdir)
    slug = targz({"TestService.jar": jar})
    ed = deploy["executorData"]
    art = ed["s3Artifacts"][0]
    tc.s3.put(art["s3Bucket"], art["s3ObjectKey"], slug)
    art["md5sum"] = md5(slug)
    art["filesize"] = len(slug)
    t = tc.backend.start(ed, env=deploy.get("env"), ports=deploy["resources"].get("numPorts", 0),
                         request_id=deploy["requestId"], deploy_id=deploy["id"])
    t.wait_state("TASK_RUNNING", 60)
    harness.wait_until(lambda: "TestService mode=server" in log_text(t.sandbox), 60,
                       "the Java service to start")
    log = log_text(t.sandbox)
    tc.assertIn("config=[name: TestService] heap=384m mem=768", log)
    t.kill()
    t.wait_state("TASK_KILLED", 60)
    return t
