// A headless Debian chromium driven over the DevTools protocol by
// puppeteer-core, for Corral's Python e2e tests (e2e/lib/browser.py) and
// bench/ui.py. One JSON command per stdin line, one JSON answer per stdout
// line ({"ok": true, "value": ...} or {"ok": false, "error": "..."}); the
// first line out is {"ready": true, "pid": <chromium's pid>}.
//
//   node driver.mjs --user-data-dir DIR [--chromium /usr/bin/chromium]
//
// Commands: goto {url}, waitFor {selector, text?, timeout?}, waitFn {js,
// timeout?}, eval {js}, click {selector}, type {selector, text}, fill
// {selector, value}, press {key}, screenshot {path, fullPage?}, viewport
// {width, height}, messages {} (console errors, page errors and failed
// requests so far: CSP violations land there), close {}.
import puppeteer from 'puppeteer-core';
import readline from 'node:readline';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};

const browser = await puppeteer.launch({
  executablePath: opt('--chromium', '/usr/bin/chromium'),
  headless: true,
  userDataDir: opt('--user-data-dir'),
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
    '--disable-extensions', '--disable-background-networking', '--disable-sync',
    '--disable-component-update', '--metrics-recording-only', '--mute-audio'],
  handleSIGINT: true, handleSIGTERM: true, handleSIGHUP: true,
});
const page = await browser.newPage();
await page.setViewport({ width: 1280, height: 860 });
const messages = [];
page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') messages.push(m.type() + ': ' + m.text()); });
page.on('pageerror', (e) => messages.push('pageerror: ' + e.message));
page.on('requestfailed', (r) => {
  const f = r.failure();
  // Aborted streams (the watch when a page goes away) are ordinary.
  if (f && !/ERR_ABORTED/.test(f.errorText)) messages.push('requestfailed: ' + r.url() + ' ' + f.errorText);
});

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
out({ ready: true, pid: browser.process().pid });

// Live pages re-render rows as the watch reports changes, so the element
// found may be replaced before it is clicked ("Node is detached from
// document"): find it again and retry, as a person would, until timeout.
async function onElement(selector, timeout, act) {
  const end = Date.now() + timeout;
  for (;;) {
    await page.waitForSelector(selector, { timeout: Math.max(end - Date.now(), 1), visible: true });
    try {
      return await act();
    } catch (e) {
      if (!/detached|not clickable|no longer attached/i.test(e.message) || Date.now() >= end) throw e;
    }
  }
}

async function run(c) {
  const timeout = c.timeout || 15000;
  switch (c.op) {
    case 'goto':
      await page.goto(c.url, { waitUntil: 'domcontentloaded', timeout });
      return null;
    case 'waitFor':
      if (c.text === undefined) {
        await page.waitForSelector(c.selector, { timeout, visible: c.visible !== false });
        return null;
      }
      await page.waitForFunction((sel, text) => [...document.querySelectorAll(sel)]
        .some((e) => e.textContent.includes(text)), { timeout, polling: 'mutation' }, c.selector, c.text);
      return null;
    case 'waitFn': {
      const h = await page.waitForFunction(c.js, { timeout, polling: c.polling || 100 });
      return await h.jsonValue();
    }
    case 'eval':
      return await page.evaluate(c.js);
    case 'click':
      await onElement(c.selector, timeout, () => page.click(c.selector));
      return null;
    case 'type':
      await onElement(c.selector, timeout, () => page.type(c.selector, c.text));
      return null;
    case 'fill':
      await page.waitForSelector(c.selector, { timeout, visible: true });
      await page.$eval(c.selector, (e, v) => { e.value = v; e.dispatchEvent(new Event('input', { bubbles: true })); }, c.value);
      return null;
    case 'press':
      await page.keyboard.press(c.key);
      return null;
    case 'screenshot':
      await page.screenshot({ path: c.path, fullPage: !!c.fullPage });
      return c.path;
    case 'viewport':
      await page.setViewport({ width: c.width, height: c.height });
      return null;
    case 'messages':
      return messages.splice(0);
    case 'close':
      await browser.close();
      return null;
    default:
      throw new Error('unknown op ' + c.op);
  }
}

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let c;
  try { c = JSON.parse(line); } catch (e) { out({ ok: false, error: 'bad command: ' + e.message }); continue; }
  try {
    out({ ok: true, value: await run(c) });
  } catch (e) {
    out({ ok: false, error: String(e && e.message || e) });
  }
  if (c.op === 'close') break;
}
try { await browser.close(); } catch { /* closed */ }
process.exit(0);
