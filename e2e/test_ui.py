"""The web UI in a real browser: headless Debian chromium (e2e/lib/browser.py)
against real etcd, mesoslite running real processes and corrald with --auth.

One walk through the pages as an operator would: log in with a one-time
login link, the Requests list (search, tabs, keys), a request (scale it and
see the count change without a reload; a new deploy's progress, live), a
task (files, its log streamed through the node agent: a line written after
the page opened shows within seconds, the stream ends when the page is left,
and the page falls back to polling when the node agent goes away), an
on-demand run from the UI that jumps to the new task's log, the Status
page, agents (decommission one), racks, the deploy page, the Dashboard with
a star, both themes and a phone-sized screen. A screenshot of each page is
saved in the test's temp dir (screenshots/; kept when the test fails; set
UI_SCREENSHOTS=DIR to copy them there too). No page may log a script error
or a Content-Security-Policy violation.

Every wait has a deadline and waits for something on the page (no sleeps).
"""
import json
import os
import re
import shutil
import unittest
from unittest import mock

import browser
import harness
import nodeagent

PREFIX = "/corral"
ML_ARGS = ["--heartbeat-interval", "1", "--allocation-interval", "0.2",
           "--update-retry-interval", "1"]
# A task that writes a numbered line every 0.3 s, so a test can tell a line
# written after a page opened.
TICKER = "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.3; done"

skip = browser.available()


@unittest.skipIf(skip, skip or "")
class UiCase(harness.TestCase):
    def setUp(self):
        super().setUp()
        c = self.cluster
        self.admin = "tok-admin-" + os.urandom(16).hex()
        self.viewer = "tok-viewer-" + os.urandom(16).hex()
        path = os.path.join(c.tmpdir, "tokens")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("%s admin admins\n%s viewer team-v\n" % (self.admin, self.viewer))
        c.etcd()
        c.mesoslite(agents=2, racks="r1,r2", args=ML_ARGS)
        # The node agent of mesoslite's agents: the log viewer streams
        # through it (corrald's /api/logs/task/{id}/follow).
        self.na, self.na_url = nodeagent.start(c, os.path.join(c.tmpdir, "mesos"))
        with mock.patch.dict(os.environ, {"CORRAL_NODEAGENT_PORT": str(self.na.port)}):
            self.api = c.corrald(args=["--auth", "--auth-token-file", path])
        harness.wait_until(lambda: c.etcd_get_json(PREFIX + "/framework"), 30, "framework id")
        self.shots = os.path.join(c.tmpdir, "screenshots")
        os.makedirs(self.shots)
        self.b = browser.Browser(c.tmpdir)
        self.addCleanup(self.b.close)

    # ---- helpers ----

    def call(self, method, path, body=None, token=None, want=200):
        st, doc = harness.http_json(method, self.api + path, body,
                                    headers={"Authorization": "Bearer " + (token or self.admin)})
        self.assertEqual(st, want, "%s %s -> %d %r" % (method, path, st, doc))
        return doc

    def shot(self, name):
        path = os.path.join(self.shots, name + ".png")
        self.b.screenshot(path)
        dest = os.environ.get("UI_SCREENSHOTS")
        if dest:
            os.makedirs(dest, exist_ok=True)
            shutil.copy(path, os.path.join(dest, name + ".png"))

    def na_metric(self, name):
        st, _, body = harness.http("GET", self.na_url + "/metrics", timeout=5)
        self.assertEqual(st, 200)
        return int(re.search(r"^%s (\d+)$" % name, body.decode(), re.M).group(1))

    def ticks(self):
        """The tick numbers the log shows, in order; they must run from 0
        without a gap or a repeat."""
        n = self.b.js("[...document.querySelectorAll('#log .tx')]"
                      ".map(e => /^tick-(\\d+)$/.exec(e.textContent)).filter(m => m).map(m => +m[1])")
        self.assertEqual(n, list(range(len(n))), "the log lost or repeated lines")
        return len(n)

    def page(self, hash_, ready):
        """Navigates inside the app (no reload) and waits for selector ready."""
        self.b.js("location.hash = %s" % json.dumps(hash_))
        self.b.wait(ready, 20)

    def text(self, selector):
        return self.b.js("(document.querySelector(%s) || {}).textContent || ''" % json.dumps(selector))

    def run_steps(self, fn):
        """Runs fn; on failure saves failure.png and prints the page's
        messages and text, then fails."""
        try:
            fn()
        except Exception:
            try:
                self.shot("failure")
                print("\npage messages: %r\nhash: %s\npage text: %s" % (
                    self.b.messages(), self.b.js("location.hash"),
                    self.b.js("document.body.innerText.slice(0, 3000)")))
            except Exception as e:  # the browser itself may be gone
                print("no failure screenshot: %s" % e)
            raise

    def no_script_errors(self):
        # HTTP errors the steps cause on purpose (a refused deploy, a run
        # not started yet, no token yet) are logged as failed loads; any
        # other message is a script error or a policy violation.
        bad = [m for m in self.b.messages() if "Failed to load resource" not in m]
        self.assertEqual(bad, [], "the page logged errors (CSP violations included)")

    def login_with_code(self):
        made = self.call("POST", "/api/auth/login-codes")
        self.assertTrue(made["loginPath"].startswith("/ui/#code="))
        self.b.goto(self.api + made["loginPath"])
        self.b.wait_text("#user .who", "admin", 20)
        # The code left the address bar; the token is in this tab's storage.
        self.assertNotIn("code=", self.b.js("location.href"))
        self.assertTrue(self.b.js("sessionStorage.getItem('corral.token').startsWith('crl_')"))
        return made

    def create(self, rid, rtype, command, did="v1", **extra):
        req = {"id": rid, "requestType": rtype, "owners": ["admin"]}
        req.update(extra)
        self.call("POST", "/api/requests", req)
        self.call("POST", "/api/deploys", {"deploy": {
            "requestId": rid, "id": did, "command": command,
            "resources": {"cpus": 0.05, "memoryMb": 16}}})


class TestUi(UiCase):
    def test_pages_live(self):
        self.run_steps(self.pages_live)

    def pages_live(self):
        b = self.b
        self.create("web", "SERVICE", TICKER, instances=1)
        self.create("job", "ON_DEMAND", "echo ran:", instances=2)
        self.create("idle", "WORKER", "sleep 1000", instances=1)
        self.call("POST", "/api/requests/request/idle/pause", {})

        # A one-time login link logs the browser in; the code works once.
        made = self.login_with_code()
        st, _ = harness.http_json("POST", self.api + "/api/auth/login",
                                  {"code": made["loginPath"].split("code=", 1)[1]})
        self.assertEqual(st, 401)

        # A page still loading when the user moves on (the dashboard, just
        # after login) never draws over the next one: the dashboard's first
        # fetch is held back a second, so it is still loading when the
        # requests page draws.
        b.js("""(() => {
            const f = window.fetch;
            window.fetch = (u, o) => {
              if (window.held || !/pages\\/dashboard\\.js/.test(new Error().stack)) return f(u, o);
              window.held = true;
              return new Promise((ok) => setTimeout(ok, 1000)).then(() => f(u, o))
                .then(async (r) => { await r.clone().text(); setTimeout(() => { window.heldDone = true; }); return r; });
            };
            location.hash = '#/status';
        })()""")
        b.wait("#st-requests")
        b.js("location.hash = '#/dashboard'")
        b.wait_js("window.held === true")
        b.js("location.hash = '#/requests'")
        b.wait(".vrow[data-key='web']", 20)
        b.wait_js("window.heldDone === true", 20)
        self.assertTrue(b.js("!document.querySelector('.dashboard') && "
                             "!!document.querySelector(\".vrow[data-key='web']\")"),
                        "the dashboard drew over the requests page")

        # Requests: every request, tabs, instant search, keys.
        self.page("#/requests", ".vrow[data-key='web']")
        b.wait(".vrow[data-key='job']")
        b.wait_text(".tab[data-tab='paused'] .n", "1")
        self.shot("requests")
        b.click(".tab[data-tab='paused']")
        b.wait_js("document.querySelectorAll('.vrow').length === 1 && "
                  "!!document.querySelector(\".vrow[data-key='idle']\")")
        self.assertIn("tab=paused", b.js("location.hash"))  # a deep link
        b.click(".tab[data-tab='all']")
        b.press("/")
        b.type("#search", "jo")
        b.wait_js("document.querySelectorAll('.vrow').length === 1")
        b.press("Enter")  # opens the selected row
        b.wait("[data-request='job']")
        b.js("history.back()")
        b.wait_js("location.hash.startsWith('#/requests') && "
                  "document.querySelector('#search') && document.querySelector('#search').value === 'jo'")

        # Request: scale from the UI; the count changes live, no reload.
        self.page("#/request/web", "[data-request='web'] #instances")
        b.wait_text("#instances", "1/1 running", 60)
        b.js("window.__noReload = 1")
        b.js("document.querySelector('#act-scale').__kept = 1;"
             " document.querySelector('[data-request=web] details').open = true")
        b.click("#act-scale")
        b.fill("#dlg-number", "2")
        b.fill("#dlg-duration", "90")   # an expiring scale: reverts in 90 minutes
        b.click("dialog [data-ok]")
        b.wait_text("dialog pre.json", "PUT /api/requests/request/web/scale")
        b.wait_text("dialog pre.json", '"durationMillis": 5400000')
        b.click("dialog [data-ok]")
        b.wait_text("#toasts", "instances: 1 → 2")
        b.wait_text("[data-expiring='expiringScale']", "expires")
        self.assertIn("in 1h", self.text("[data-expiring='expiringScale']"))
        b.wait_text("#instances", "2/2 running", 60)
        b.wait_js("document.querySelectorAll('.active-tasks tbody tr[data-task]').length === 2", 30)
        self.assertEqual(b.js("window.__noReload"), 1)
        # Those redraws kept what was still there: the same button (a press
        # and release across a redraw still clicks) and the opened JSON.
        self.assertEqual(b.js("document.querySelector('#act-scale').__kept"), 1)
        self.assertTrue(b.js("document.querySelector('[data-request=web] details').open"))
        self.shot("request")

        # A new deploy from the editor: refused with the server's problems
        # shown inline, then accepted; its progress updates live. (v1 must
        # have finished first: one pending deploy at a time.)
        b.wait_js("!document.querySelector('#pending-deploy')", 60)
        # The form first; what it holds carries over to JSON and YAML, and
        # the YAML, edited, is sent as written.
        b.click("#act-deploy")
        b.wait("#df-id")
        b.fill("#df-id", "bad-id!")
        b.fill("#df-command", TICKER)
        b.fill("#df-cpus", "0.05")
        b.fill("#df-mem", "16")
        b.fill("#df-env", "GREETING=hello")
        b.click("dialog [data-ok]")
        b.wait("#deploy-problems")
        self.assertIn("id", self.text("#deploy-problems"))
        b.click("#deploy-mode-json")
        sent = json.loads(b.js("document.querySelector('#deploy-json').value"))
        self.assertEqual((sent["id"], sent["command"], sent["resources"]["memoryMb"], sent["env"]),
                         ("bad-id!", TICKER, 16, {"GREETING": "hello"}))
        b.click("#deploy-mode-yaml")
        yaml = b.js("document.querySelector('#deploy-yaml').value")
        self.assertIn('id: "bad-id!"\n', yaml)
        self.assertIn("  memoryMb: 16\n", yaml)
        b.fill("#deploy-yaml", "# edited as YAML\n" + yaml.replace('id: "bad-id!"', "id: v2"))
        b.click("dialog [data-ok]")
        b.wait_text("#pending-deploy", "v2", 20)
        b.wait_text(".deploy-history", "v2", 60)
        b.wait_js("!document.querySelector('#pending-deploy')", 90)
        b.wait_js("[...document.querySelectorAll('.deploy-history tbody tr')].some("
                  "r => r.textContent.includes('v2') && r.textContent.includes('SUCCEEDED'))", 30)
        self.assertEqual(b.js("window.__noReload"), 1)

        # Deploy page.
        self.page("#/request/web/deploy/v2", "[data-deploy='v2']")
        b.wait_text(".deploy-tasks", "web-v2-", 30)
        self.shot("deploy")

        # Task: overview, files, and the log tailing a line written after
        # the page opened.
        task = self.call("GET", "/api/history/request/web/tasks/active")[0]["taskId"]["id"]
        self.page("#/task/" + task, "#timeline")
        b.wait_text(".badge", "RUNNING")
        self.shot("task")
        b.click(".tab[data-tab='files']")
        b.wait(".files tr[data-file='stdout']")
        self.shot("task-files")
        b.click(".files tr[data-file='stdout'] a")
        b.wait_text("#log", "tick-")
        # It streams: the node agent serves one follow stream (the page's,
        # through corrald), and a line the task writes after the page opened
        # shows within a couple of seconds, nothing lost or repeated.
        streams = self.na_metric("corral_nodeagent_log_streams_total")
        self.assertGreaterEqual(streams, 1)
        self.assertEqual(self.na_metric("corral_nodeagent_log_streams"), 1)
        b.wait_js("document.querySelector('#log-info').dataset.mode === 'streaming'")
        first = self.ticks()
        b.wait_text("#log", "tick-%d" % (first + 3), 3)
        self.ticks()
        self.assertEqual(b.js("document.querySelector('#log-follow').getAttribute('aria-pressed')"),
                         "true")
        b.type("#log-search", "tick-1")
        b.wait("#log mark")
        self.shot("task-log")
        # Leaving the page ends its stream.
        b.click(".tab[data-tab='overview']")
        b.wait("#timeline")
        harness.wait_until(lambda: self.na_metric("corral_nodeagent_log_streams") == 0, 10,
                           "the log page's stream to end")
        # Back on the log, the node agent goes away: the broken stream is
        # opened again, corrald answers that no node agent is reachable, and
        # the page polls the sandbox API from where the stream stopped.
        b.click(".tab[data-tab='logs']")
        b.wait_text("#log", "tick-")
        b.wait_js("document.querySelector('#log-info').dataset.mode === 'streaming'")
        self.assertEqual(self.na_metric("corral_nodeagent_log_streams_total"), streams + 1)
        self.na.stop()
        b.wait_js("document.querySelector('#log-info').dataset.mode === 'polling'", 15)
        last = self.ticks()
        b.wait_text("#log", "tick-%d" % (last + 3), 10)
        self.ticks()

        # An on-demand run from the UI jumps to its task's log.
        self.page("#/request/job", "#act-run")
        b.click("#act-run")
        b.type("#dlg-args", "hello-from-ui")
        b.click("dialog [data-ok]")
        b.wait_js("location.hash.startsWith('#/task/job-') && location.hash.includes('/logs')", 60)
        b.wait_text("#log", "ran: hello-from-ui", 30)

        # Task history search: from the request's link, then by last state;
        # the filters are in the address.
        self.page("#/request/job", "#search-history")
        b.click("#search-history")
        b.wait(".history-tasks tr[data-task^='job-']", 20)
        b.js("document.querySelector('#hs-state').value = 'TASK_FINISHED'")
        b.click("#hs-go")
        b.wait_js("location.hash.includes('lastTaskStatus=TASK_FINISHED') && "
                  "location.hash.includes('requestId=job')")
        b.wait_js("(() => { const r = [...document.querySelectorAll('.history-tasks tbody tr[data-task]')];"
                  " return r.length > 0 && r.every(x => x.textContent.includes('FINISHED')); })()", 30)
        self.shot("history")
        self.page("#/history?requestId=nosuch", "#hs-summary")
        b.wait_text("#hs-summary", "no task matches")

        # Status.
        self.page("#/status", "#st-requests")
        b.wait_text("#st-requests", "3")
        self.shot("status")

        # Agents: decommission one; its state changes live.
        self.page("#/agents", ".agents tr[data-machine]")
        agent = b.js("document.querySelector('.agents tr[data-machine]').dataset.machine")
        self.shot("agents")
        b.click(".agents tr[data-machine='%s'] [data-act='decommission']" % agent)
        b.click("dialog [data-ok]")
        b.wait_js("/DECOMMISSION/.test(document.querySelector(\".agents tr[data-machine='%s']\")"
                  ".textContent)" % agent, 30)
        self.page("#/racks", ".racks tr[data-machine='r1']")
        self.shot("racks")

        # Dashboard: a star from the request list shows up there.
        self.page("#/requests", ".vrow[data-key='web']")
        b.click(".vrow[data-key='web'] .star")
        b.wait(".vrow[data-key='web'] .star.on")
        self.assertEqual(self.call("GET", "/api/users/settings")["starredRequestIds"], ["web"])
        self.page("#/dashboard", ".starred tr[data-request='web']")
        b.wait(".owned tr[data-request='job']")
        self.shot("dashboard")

        # Dark theme (kept across pages) and a phone-sized screen.
        b.press("t")
        b.wait_js("document.documentElement.dataset.theme === 'dark'")
        self.page("#/request/web", "[data-request='web'] #instances")
        self.shot("request-dark")
        b.viewport(390, 844)
        self.page("#/requests", ".vrow[data-key='web']")
        self.shot("requests-phone")
        b.viewport(1280, 860)

        # A new request from the form: the server's problems inline, then
        # created; then edited. A scheduled request shows when it fires next.
        self.page("#/requests", "#act-new-request")
        b.click("#act-new-request")
        b.fill("#rf-id", "bad id!")
        b.js("const t = document.querySelector('#rf-type'); t.value = 'SCHEDULED';"
             " t.dispatchEvent(new Event('change'))")
        b.fill("#rf-schedule", "0 3 * * *")
        b.click("dialog [data-ok]")
        b.wait("#request-problems")
        b.fill("#rf-id", "nightly")
        b.click("dialog [data-ok]")
        b.wait_js("location.hash === '#/request/nightly'", 20)
        self.assertEqual(self.call("GET", "/api/requests/request/nightly")["request"]["schedule"],
                         "0 3 * * *")
        self.call("POST", "/api/deploys", {"deploy": {
            "requestId": "nightly", "id": "v1", "command": "echo nightly",
            "resources": {"cpus": 0.05, "memoryMb": 16}}})
        b.wait("#next-fire", 30)
        self.assertRegex(self.text("#next-fire"), r"\d{2}:\d{2}")
        b.click("#act-edit")
        self.assertTrue(b.js("document.querySelector('#rf-id').readOnly"))
        b.fill("#rf-schedule", "30 4 * * *")
        b.click("dialog [data-ok]")
        b.wait_text("[data-request='nightly']", "30 4 * * *", 20)
        self.assertEqual(self.call("GET", "/api/requests/request/nightly")["request"]["schedule"],
                         "30 4 * * *")
        self.no_script_errors()


class TestUiAuth(UiCase):
    def test_login_page_and_limits(self):
        self.run_steps(self.login_page_and_limits)

    def login_page_and_limits(self):
        b = self.b
        self.create("web", "WORKER", "sleep 1000", instances=1, group="team-a")
        self.create("seen", "WORKER", "sleep 1000", instances=1, group="team-v")
        # No token: the login page; a bad token is refused there.
        b.goto(self.api + "/ui/#/requests")
        b.wait("#token")
        self.shot("login")
        b.fill("#token", "crl_" + "0" * 64)
        b.click("#login")
        b.wait_text("#login-error", "Refused")
        # A viewer sees only what its groups may read.
        b.fill("#token", self.viewer)
        b.click("#login")
        b.wait_js("location.hash.startsWith('#/requests')")
        b.wait(".vrow[data-key='seen']")
        self.assertFalse(b.js("!!document.querySelector(\".vrow[data-key='web']\")"))
        b.wait_text("#user .who", "viewer")
        # Logging out forgets the token.
        b.click("#logout")
        b.wait("#token")
        self.assertIsNone(b.js("sessionStorage.getItem('corral.token')"))
        # The static files carry the security headers; the API's tokens never
        # appear in a URL the UI requests (checked in the corrald log).
        st, hdrs, _ = harness.http("GET", self.api + "/ui/js/app.js")
        self.assertEqual(st, 200)
        self.assertIn("script-src 'self'", hdrs["content-security-policy"])
        self.assertEqual(hdrs["content-type"], "text/javascript; charset=utf-8")
        st, _, _ = harness.http("GET", self.api + "/ui/js/app.js", headers={"If-None-Match": hdrs["etag"]})
        self.assertEqual(st, 304)
        st, _, _ = harness.http("GET", self.api + "/ui/..%2fMakefile")
        self.assertEqual(st, 404)
        log = "".join(p.log() for p in self.cluster.procs if p.name.startswith("corrald"))
        self.assertNotIn(self.viewer, log)
        self.no_script_errors()


if __name__ == "__main__":
    harness.main()
