"""A headless Debian chromium for the UI's e2e tests and benchmark.

e2e/node/driver.mjs (puppeteer-core, pinned in e2e/node/package-lock.json,
installed by hack/deps.sh) runs /usr/bin/chromium; this wrapper talks to it
one JSON line at a time. Every wait has a deadline (no sleeps): waits run in
the page (waitForSelector / waitForFunction) and the Python side bounds each
call. close() ends the browser, then kills the driver's and chromium's
process groups whatever state they are in, so no browser outlives a test.

    b = browser.Browser(tmpdir)
    b.goto(url); b.wait_text("h1", "Requests"); b.screenshot(path)
    b.close()
"""
import json
import os
import queue
import shutil
import signal
import subprocess
import threading

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NODE_DIR = os.path.join(ROOT, "e2e", "node")
CHROMIUM = os.environ.get("CORRAL_CHROMIUM", "/usr/bin/chromium")


def available():
    """Why the browser cannot run here (a string), or None when it can."""
    if not shutil.which("node"):
        return "node is not installed (hack/deps.sh)"
    if not os.path.exists(CHROMIUM):
        return "%s is missing (hack/deps.sh installs Debian's chromium)" % CHROMIUM
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "puppeteer-core")):
        return "e2e/node/node_modules is missing (hack/deps.sh runs npm ci there)"
    return None


class BrowserError(AssertionError):
    pass


class Browser:
    def __init__(self, tmpdir, name="browser"):
        self.profile = os.path.join(tmpdir, name + "-profile")
        os.makedirs(self.profile, exist_ok=True)
        self.log = open(os.path.join(tmpdir, name + ".log"), "ab")
        self.proc = subprocess.Popen(
            ["node", os.path.join(NODE_DIR, "driver.mjs"), "--user-data-dir", self.profile,
             "--chromium", CHROMIUM],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, cwd=NODE_DIR,
            start_new_session=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.chromium_pid = None
        try:
            hello = self._next(60)
        except BrowserError:
            self.close()
            raise
        self.chromium_pid = hello.get("pid")

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _next(self, timeout):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise BrowserError("browser driver gave no answer within %ss" % timeout)
        if line is None:
            raise BrowserError("browser driver exited (see its log)")
        return json.loads(line)

    def call(self, op, timeout=15.0, **kw):
        """Runs one driver command; returns its value or raises
        BrowserError with the driver's message."""
        kw.update(op=op, timeout=int(timeout * 1000))
        self.proc.stdin.write((json.dumps(kw) + "\n").encode())
        self.proc.stdin.flush()
        r = self._next(timeout + 15)
        if not r.get("ok"):
            raise BrowserError("%s %s: %s" % (op, kw.get("selector") or kw.get("url") or
                                             (kw.get("js") or "")[:120], r.get("error")))
        return r.get("value")

    # -- conveniences --
    def goto(self, url, timeout=20.0):
        return self.call("goto", url=url, timeout=timeout)

    def wait(self, selector, timeout=15.0):
        return self.call("waitFor", selector=selector, timeout=timeout)

    def wait_text(self, selector, text, timeout=15.0):
        """Waits until an element matching selector contains text."""
        return self.call("waitFor", selector=selector, text=text, timeout=timeout)

    def wait_js(self, js, timeout=15.0):
        """Waits until the expression js is truthy in the page; returns it."""
        return self.call("waitFn", js=js, timeout=timeout)

    def js(self, js):
        return self.call("eval", js=js)

    def click(self, selector, timeout=15.0):
        return self.call("click", selector=selector, timeout=timeout)

    def type(self, selector, text):
        return self.call("type", selector=selector, text=text)

    def fill(self, selector, value):
        return self.call("fill", selector=selector, value=value)

    def press(self, key):
        return self.call("press", key=key)

    def screenshot(self, path, full_page=False):
        return self.call("screenshot", path=path, fullPage=full_page, timeout=30)

    def viewport(self, width, height):
        return self.call("viewport", width=width, height=height)

    def messages(self):
        return self.call("messages")

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b'{"op":"close"}\n')
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                pass
        # Whatever is left: puppeteer starts chromium in a process group of
        # its own; the driver has its own session.
        for pid in (self.chromium_pid, self.proc.pid):
            if pid:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self.log.close()
