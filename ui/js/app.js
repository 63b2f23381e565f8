// Corral's web UI: the shell (navigation, routing, login, theme, keys).
// Routes live in the URL's fragment ("#/request/web"), so every page has a
// deep link, the back button works, and corrald serves one index.html.

import { h, replace, dialog, toast } from './dom.js';
import { auth, post, whoami, forgetMe, ApiError } from './api.js';
import * as watch from './watch.js';
import * as requestsPage from '../pages/requests.js';
import * as requestPage from '../pages/request.js';
import * as taskPage from '../pages/task.js';
import * as statusPage from '../pages/status.js';
import * as machinesPage from '../pages/machines.js';
import * as sourcesPage from '../pages/sources.js';
import * as deployPage from '../pages/deploy.js';
import * as historyPage from '../pages/history.js';
import * as dashboardPage from '../pages/dashboard.js';
import * as loginPage from '../pages/login.js';

const ROUTES = [
  [/^\/login$/, loginPage, () => ({})],
  [/^\/dashboard$/, dashboardPage, () => ({})],
  [/^\/requests$/, requestsPage, () => ({})],
  [/^\/request\/([^/]+)$/, requestPage, (m) => ({ id: m[1] })],
  [/^\/request\/([^/]+)\/deploy\/([^/]+)$/, deployPage, (m) => ({ rid: m[1], did: m[2] })],
  [/^\/task\/([^/]+)(?:\/(logs|files))?$/, taskPage, (m) => ({ id: m[1], tab: m[2] || '' })],
  [/^\/status$/, statusPage, () => ({})],
  [/^\/history$/, historyPage, () => ({})],
  [/^\/agents$/, machinesPage, () => ({ kind: 'agents' })],
  [/^\/racks$/, machinesPage, () => ({ kind: 'racks' })],
  [/^\/sources$/, sourcesPage, () => ({})],
];

const main = () => document.getElementById('view');
let cleanup = null;
let routeGen = 0;
let keyCtx = {};
let authEnabled = true;

// ---- theme -------------------------------------------------------------------

function applyTheme(t) {
  const theme = t || localStorage.getItem('corral.theme') ||
    (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
  document.documentElement.dataset.theme = theme;
  const b = document.getElementById('theme');
  if (b) b.textContent = theme === 'dark' ? '☀ Light' : '☾ Dark';
}

function toggleTheme() {
  const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
  localStorage.setItem('corral.theme', next);
  applyTheme(next);
}

// ---- routing -------------------------------------------------------------------

export function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/requests';
  const [path, qs] = raw.split('?');
  return { path, query: new URLSearchParams(qs || '') };
}

export function setQuery(q) {
  // Changes the fragment's query without a new history entry per keystroke.
  const { path } = parseHash();
  const s = new URLSearchParams(q).toString();
  history.replaceState(null, '', '#' + path + (s ? '?' + s : ''));
}

function route() {
  const { path, query } = parseHash();
  if (cleanup) { try { cleanup(); } catch (e) { console.error(e); } }
  cleanup = null;
  keyCtx = {};
  for (const [re, page, params] of ROUTES) {
    const m = re.exec(path);
    if (!m) continue;
    const p = params(m.map((x) => (x === undefined ? x : decodeURIComponent(x))));
    document.querySelectorAll('nav.top a[data-nav]').forEach((a) => {
      a.classList.toggle('current', path.startsWith(a.dataset.nav));
    });
    // Each visit renders into its own box: a page still loading when the
    // user moves on draws into a detached box, and its cleanup runs at once.
    const gen = ++routeGen;
    const root = h('div.view-page', null, h('div.loading', null, 'Loading…'));
    replace(main(), root);
    const ctx = {
      query,
      keys: (k) => { if (gen === routeGen) Object.assign(keyCtx, k); },
      setQuery: (q) => { if (gen === routeGen) setQuery(q); },
      authEnabled,
    };
    Promise.resolve(page.render(root, p, ctx)).then((c) => {
      if (gen === routeGen) cleanup = c || null;
      else if (c) { try { c(); } catch (e) { console.error(e); } }
    }).catch((e) => { if (gen === routeGen) showError(root, e); });
    return;
  }
  routeGen++;
  replace(main(), h('div.card', null, h('h2', null, 'Not found'), h('p', null, 'No page at ' + path)));
}

export function showError(root, e) {
  if (e instanceof ApiError && e.status === 401) return;
  replace(root, h('div.card.error', { role: 'alert' }, h('h2', null, 'Error'), h('p', null, e.message || String(e))));
}

// ---- login ---------------------------------------------------------------------

async function exchangeCode(code) {
  // The code came in the fragment (never sent to a server); drop it from the
  // address bar and history before anything else.
  history.replaceState(null, '', location.pathname + '#/dashboard');
  try {
    const r = await post('/api/auth/login', { code }, { noLogin: true });
    auth.set(r.token);
    forgetMe();
    toast('Logged in as ' + r.user.id, 'ok');
  } catch (e) {
    toast('Login link refused: ' + e.message, 'error');
  }
}

auth.onUnauthorized = () => {
  auth.clear();
  forgetMe();
  watch.stop();
  const { path } = parseHash();
  if (path !== '/login') location.hash = '#/login?next=' + encodeURIComponent(location.hash.slice(1) || '/dashboard');
};

export function loggedIn() {
  forgetMe();
  watch.restart();
  renderUser();
}

async function renderUser() {
  const box = document.getElementById('user');
  try {
    const me = await whoami();
    authEnabled = me.authEnabled !== false;
    replace(box, h('span.who', { title: (me.user.groups || []).join(', ') }, me.user.id || 'anonymous'),
      authEnabled ? h('button.link', { id: 'logout', onclick: logout }, 'Log out') : null);
  } catch {
    replace(box);
  }
}

function logout() {
  auth.clear();
  forgetMe();
  watch.stop();
  location.hash = '#/login';
}

// ---- keys ------------------------------------------------------------------------

let gPending = false;
function onKey(e) {
  const t = e.target;
  const typing = t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
  if (document.querySelector('dialog[open]')) return;
  if (typing) {
    if (e.key === 'Escape') t.blur();
    else if (e.key === 'Enter' && t.dataset.search !== undefined && keyCtx.open) { keyCtx.open(); e.preventDefault(); }
    else if ((e.key === 'ArrowDown' || e.key === 'ArrowUp') && t.dataset.search !== undefined && keyCtx.move) {
      keyCtx.move(e.key === 'ArrowDown' ? 1 : -1); e.preventDefault();
    }
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (gPending) {
    gPending = false;
    const to = { d: '#/dashboard', r: '#/requests', s: '#/status', h: '#/history', a: '#/agents', k: '#/racks' }[e.key];
    if (to) { location.hash = to; e.preventDefault(); }
    return;
  }
  switch (e.key) {
    case '/': {
      const s = document.querySelector('[data-search]');
      if (s) { s.focus(); s.select(); e.preventDefault(); }
      break;
    }
    case 'j': case 'ArrowDown': if (keyCtx.move) { keyCtx.move(1); e.preventDefault(); } break;
    case 'k': case 'ArrowUp': if (keyCtx.move) { keyCtx.move(-1); e.preventDefault(); } break;
    case 'Enter': case 'o': if (keyCtx.open) { keyCtx.open(); e.preventDefault(); } break;
    case 's': if (keyCtx.star) { keyCtx.star(); e.preventDefault(); } break;
    case 'g': gPending = true; setTimeout(() => { gPending = false; }, 1500); break;
    case 't': toggleTheme(); break;
    case '?': help(); break;
    default:
      if (keyCtx.other) keyCtx.other(e);
  }
}

function help() {
  const rows = [['/', 'search'], ['j / k, ↓ / ↑', 'next / previous row'], ['Enter or o', 'open the row'],
    ['s', 'star / unstar the request'], ['g d, g r, g s, g h, g a, g k', 'go to dashboard, requests, status, task history, agents, racks'],
    ['t', 'dark / light theme'], ['f (log)', 'follow the log'], ['Esc', 'leave a field, close a dialog'], ['?', 'this help']];
  dialog({ title: 'Keyboard', ok: 'Close', body: h('table.grid', null, h('tbody', null, rows.map(([k, v]) => h('tr', null, h('td', null, h('kbd', null, k)), h('td', null, v))))) });
}

// ---- start -------------------------------------------------------------------------

async function start() {
  applyTheme();
  document.getElementById('theme').addEventListener('click', toggleTheme);
  document.getElementById('help').addEventListener('click', help);
  document.addEventListener('keydown', onKey);
  watch.onStatus((s) => {
    const el = document.getElementById('live');
    el.dataset.state = s;
    el.title = 'change stream: ' + s;
    el.textContent = s === 'live' ? '● live' : '○ ' + s;
  });
  const m = /^#code=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (m) await exchangeCode(m[1]);
  try {
    const me = await whoami(true);
    authEnabled = me.authEnabled !== false;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      auth.clear();
      if (parseHash().path !== '/login') location.hash = '#/login?next=' + encodeURIComponent(location.hash.slice(1) || '/dashboard');
    }
  }
  renderUser();
  window.addEventListener('hashchange', route);
  route();
}

start();
