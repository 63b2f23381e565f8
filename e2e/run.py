#!/usr/bin/env python3
"""Runs every e2e/test_*.py (or those named) in its own process, two at a
time, and prints a final "N passed, N failed" line.

    python3 e2e/run.py [test_api.py ...]   E2E_JOBS=1 to run serially

Under sanitized binaries (`make e2e-asan`: CORRAL_BIN and ASAN_OPTIONS,
UBSAN_OPTIONS with a log_path), each test file's reports go to a folder of
its own beside that log_path, and a test file that left any report fails,
with the head of the first report printed, even if its tests passed.
"""
import concurrent.futures
import glob
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = int(os.environ.get("E2E_TIMEOUT", "600"))
SANITIZER_VARS = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")


def sanitizer_env(name):
    """(environment, folder) for the test file `name`: the *SAN_OPTIONS whose
    log_path=<dir>/<base> becomes <dir>/<name>/<base>, and that folder (None
    when no log_path is set), emptied of an earlier run's reports."""
    env, folder = {}, None
    for var in SANITIZER_VARS:
        opts = os.environ.get(var, "").split(":")
        for i, opt in enumerate(opts):
            k, _, v = opt.partition("=")
            if k == "log_path" and v:
                folder = os.path.join(os.path.dirname(os.path.abspath(v)), name)
                opts[i] = "log_path=" + os.path.join(folder, os.path.basename(v))
                env[var] = ":".join(opts)
    if folder:
        os.makedirs(folder, exist_ok=True)
        for f in os.listdir(folder):
            os.remove(os.path.join(folder, f))
    return env, folder


def sanitizer_reports(folder):
    """Non-empty report files in folder, oldest first."""
    if not folder:
        return []
    files = [os.path.join(folder, f) for f in os.listdir(folder)]
    return sorted((f for f in files if os.path.getsize(f)), key=os.path.getmtime)


def run(path):
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, "lib") + os.pathsep +
               os.environ.get("PYTHONPATH", ""), PYTHONUNBUFFERED="1")
    san_env, san_folder = sanitizer_env(os.path.splitext(os.path.basename(path))[0])
    env.update(san_env)
    start = time.monotonic()
    try:
        r = subprocess.run([sys.executable, path, "-v"], capture_output=True, text=True,
                           env=env, timeout=TIMEOUT, cwd=os.path.dirname(HERE),
                           start_new_session=True)
        out, code = r.stdout + r.stderr, r.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        out += "\nTIMEOUT after %ds" % TIMEOUT
        code = -1
    m = re.search(r"^Ran (\d+) tests?", out, re.M)
    ran = int(m.group(1)) if m else 0
    fm = re.search(r"^FAILED \((.*)\)", out, re.M)
    failed = 0
    if fm:
        for part in fm.group(1).split(","):
            k, _, v = part.strip().partition("=")
            if k in ("failures", "errors"):
                failed += int(v)
    skm = re.search(r"skipped=(\d+)", out)
    skipped = int(skm.group(1)) if skm else 0
    reports = sanitizer_reports(san_folder)
    if reports:
        # Also those written after the tests' own check (late exits).
        with open(reports[0], errors="replace") as f:
            head = "".join(f.readlines()[:40])
        out += "\nsanitizer report(s): %s\nhead of %s:\n%s" % (" ".join(reports), reports[0], head)
        code = code or 1
        failed = failed or 1
    if code != 0 and failed == 0:
        failed = max(1, ran)
    return path, ran, failed, skipped, code, out, time.monotonic() - start


def main():
    names = sys.argv[1:]
    paths = [os.path.join(HERE, n) if not os.path.exists(n) else n for n in names] or \
        sorted(glob.glob(os.path.join(HERE, "test_*.py")))
    jobs = int(os.environ.get("E2E_JOBS", "2"))
    total_pass = total_fail = total_skip = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        for path, ran, failed, skipped, code, out, secs in ex.map(run, paths):
            name = os.path.basename(path)
            passed = ran - failed - skipped
            total_pass += max(passed, 0)
            total_fail += failed
            total_skip += skipped
            status = "ok  " if code == 0 else "FAIL"
            print("%s  %-32s %3d passed %3d failed %3d skipped  %5.1fs"
                  % (status, name, max(passed, 0), failed, skipped, secs), flush=True)
            if code != 0:
                print("    " + out[-8000:].replace("\n", "\n    "), flush=True)
    print("e2e: %d passed, %d failed, %d skipped" % (total_pass, total_fail, total_skip))
    return 1 if total_fail else 0


if __name__ == "__main__":
    sys.exit(main())
