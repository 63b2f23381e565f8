// Small DOM helpers. Text always goes in as text nodes (never as markup), so
// nothing a request, task or log line holds can become script.

export function h(tag, attrs, ...kids) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) {
        (el._on || (el._on = {}))[k.slice(2)] = v;
        el.addEventListener(k.slice(2), fire);
      }
      else if (k === 'class') el.className += (el.className ? ' ' : '') + v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'value') el.value = v;
      else if (k === 'checked') el.checked = !!v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, kids);
  return el;
}

function append(el, kids) {
  for (const k of kids) {
    if (k === undefined || k === null || k === false) continue;
    if (Array.isArray(k)) append(el, k);
    else el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}

// Handlers set through h() go through this one listener, so that morph can
// give a kept element the new draw's handlers.
function fire(e) {
  const f = this._on && this._on[e.type];
  return f ? f.call(this, e) : undefined;
}

// Redraws el's children as kids while keeping each element that is still
// there (same place, tag, id and class): its attributes, text and handlers
// become the new draw's. A live page redraws on every change, and a button
// removed between a press and its release gets no click; kept elements also
// keep what the user did to them (an open <details>, a focused input's text).
// kids must be fresh nodes, not ones already in el.
export function morph(el, ...kids) {
  const next = document.createElement('div');
  append(next, kids);
  morphKids(el, next);
  return el;
}

function sameNode(a, b) {
  if (a.nodeType !== b.nodeType || a.nodeName !== b.nodeName) return false;
  return a.nodeType !== Node.ELEMENT_NODE || (a.id === b.id && a.className === b.className);
}

function morphKids(old, next) {
  let o = old.firstChild;
  for (let n = next.firstChild; n;) {
    const after = n.nextSibling;
    if (o && sameNode(o, n)) {
      morphNode(o, n);
      o = o.nextSibling;
    } else {
      old.insertBefore(n, o); // new here; o may match a later one
    }
    n = after;
  }
  while (o) {
    const after = o.nextSibling;
    old.removeChild(o);
    o = after;
  }
}

function morphNode(o, n) {
  if (o.nodeType !== Node.ELEMENT_NODE) {
    if (o.nodeValue !== n.nodeValue) o.nodeValue = n.nodeValue;
    return;
  }
  for (const a of [...o.attributes]) {
    if (!n.hasAttribute(a.name) && !(a.name === 'open' && o.nodeName === 'DETAILS')) o.removeAttribute(a.name);
  }
  for (const a of n.attributes) {
    // style through the CSSOM: the CSP refuses it as an attribute
    if (a.name === 'style') o.style.cssText = n.style.cssText;
    else if (o.getAttribute(a.name) !== a.value) o.setAttribute(a.name, a.value);
  }
  if (n._on) for (const t of Object.keys(n._on)) o.addEventListener(t, fire);
  o._on = n._on;
  morphKids(o, n);
  // After the children: a <select> takes a value only among its options.
  if (o !== document.activeElement) {
    if ('value' in o && o.value !== n.value) o.value = n.value;
    if ('checked' in o) o.checked = n.checked;
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...kids) {
  clear(el);
  append(el, kids);
  return el;
}

export function link(href, ...kids) {
  return h('a', { href }, ...kids);
}

// Hash links of the app's objects (one place, so deep links agree).
export const href = {
  requests: (q) => '#/requests' + (q ? '?' + new URLSearchParams(q) : ''),
  request: (id) => '#/request/' + encodeURIComponent(id),
  deploy: (rid, did) => '#/request/' + encodeURIComponent(rid) + '/deploy/' + encodeURIComponent(did),
  task: (id, tab) => '#/task/' + encodeURIComponent(id) + (tab ? '/' + tab : ''),
  agents: () => '#/agents',
  racks: () => '#/racks',
  sources: () => '#/sources',
  status: () => '#/status',
  history: (q) => '#/history' + (q ? '?' + new URLSearchParams(q) : ''),
  dashboard: () => '#/dashboard',
};

export function fmtTime(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtAgo(ms, now = Date.now()) {
  if (!ms) return '—';
  let s = Math.round((now - ms) / 1000);
  const future = s < 0;
  s = Math.abs(s);
  let t;
  if (s < 60) t = s + 's';
  else if (s < 3600) t = Math.floor(s / 60) + 'm';
  else if (s < 86400) t = Math.floor(s / 3600) + 'h';
  else t = Math.floor(s / 86400) + 'd';
  return future ? 'in ' + t : t + ' ago';
}

export function fmtBytes(n) {
  if (n === undefined || n === null) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}

export function fmtNum(n, digits = 1) {
  if (n === undefined || n === null || Number.isNaN(n)) return '—';
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

// A state badge: the class says good / warn / bad / idle.
const TONE = {
  ACTIVE: 'good', TASK_RUNNING: 'good', SUCCEEDED: 'good', TASK_FINISHED: 'good', HEALTHY: 'good',
  True: 'good', SUCCESS: 'good', SERVING: 'good', DRAINING: 'warn',
  PAUSED: 'idle', FINISHED: 'idle', DELETED: 'idle', TASK_KILLED: 'idle', CANCELED: 'idle',
  FROZEN: 'idle', DECOMMISSIONED: 'idle', SUPERSEDED: 'idle', WAITING: 'warn',
  SYSTEM_COOLDOWN: 'bad', DELETING: 'warn', DEPLOYING_TO_UNPAUSE: 'warn', TASK_STAGING: 'warn',
  TASK_STARTING: 'warn', TASK_LAUNCHED: 'warn', TASK_KILLING: 'warn', DECOMMISSIONING: 'warn',
  STARTING_DECOMMISSION: 'warn', TASK_CLEANING: 'warn', PENDING: 'warn',
  TASK_FAILED: 'bad', TASK_LOST: 'bad', TASK_ERROR: 'bad', TASK_DROPPED: 'bad', TASK_GONE: 'bad',
  FAILED: 'bad', FAILED_INTERNAL_STATE: 'bad', DEAD: 'bad', False: 'bad',
};

export function badge(state, title) {
  const s = state || 'UNKNOWN';
  return h('span.badge.' + (TONE[s] || 'idle'), { title }, s.replace(/^TASK_/, ''));
}

// Conditions (docs/controllers.md): Valid, Ready and DocumentsValid are
// good when True; CoolingDown is bad when True; the rest only inform.
// A GitOps Source's (docs/gitops.md): Synced is good when True, Failed bad
// when True.
export function condBad(c) {
  return (['Valid', 'Ready', 'DocumentsValid', 'Synced'].includes(c.type) && c.status === 'False') ||
    (['CoolingDown', 'Failed'].includes(c.type) && c.status === 'True');
}

export function condBadge(c) {
  const positive = ['Valid', 'Ready', 'DocumentsValid', 'Synced'].includes(c.type);
  const tone = condBad(c) ? 'bad' : (positive || c.status === 'False' ? 'good' : 'warn');
  return h('span.badge.' + tone, { title: [c.status, c.reason, c.message].filter(Boolean).join(': ') }, c.type + (c.status === 'True' ? '' : ': no'));
}

export function kv(rows) {
  return h('dl.kv', null, rows.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v ?? '—')]));
}

export function table(headers, rows, opts = {}) {
  return h('table.grid' + (opts.cls ? '.' + opts.cls : ''), null,
    h('thead', null, h('tr', null, headers.map((x) => h('th', null, x)))),
    h('tbody', null, rows.length ? rows.map((r) => h('tr', r.attrs || null, r.cells.map((c) => h('td', null, c))))
      : h('tr', null, h('td.empty', { colspan: headers.length }, opts.empty || 'none'))));
}

export function section(title, ...kids) {
  return h('section.card', null, h('h2', null, title), ...kids);
}

// ---- toasts and dialogs -----------------------------------------------------

export function toast(msg, kind = 'info') {
  const box = document.getElementById('toasts');
  const t = h('div.toast.' + kind, { role: kind === 'error' ? 'alert' : 'status' }, msg);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 9000 : 5000);
}

// A modal built on <dialog>. body: nodes; fields: returned by collect() on
// OK. Resolves to collect()'s value, or null when cancelled.
export function dialog({ title, body, ok = 'OK', danger = false, collect = () => true }) {
  return new Promise((resolve) => {
    const err = h('p.error', { hidden: true });
    const okBtn = h('button' + (danger ? '.danger' : '.primary'), { type: 'submit', 'data-ok': '' }, ok);
    const form = h('form', { method: 'dialog' },
      h('h2', null, title), body, err,
      h('div.actions', null, h('button', { type: 'button', value: 'cancel', onclick: () => finish(null) }, 'Cancel'), okBtn));
    const dlg = h('dialog.modal', null, form);
    let done = false;
    function finish(v) {
      if (done) return;
      done = true;
      dlg.close();
      dlg.remove();
      resolve(v);
    }
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      let v;
      try { v = collect(form); } catch (ex) { err.hidden = false; err.textContent = ex.message; return; }
      finish(v);
    });
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); finish(null); });
    document.body.append(dlg);
    dlg.showModal();
    const first = form.querySelector('input, textarea, select');
    (first || okBtn).focus();
  });
}

// Confirms an action: says what will be sent where; resolves true/false.
export async function confirmAction(title, what, danger = false) {
  const r = await dialog({ title, body: h('div', null, what), ok: 'Confirm', danger });
  return r === true;
}

export function field(label, input, hint) {
  return h('label.field', null, h('span', null, label), input, hint ? h('small', null, hint) : null);
}

export function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}
