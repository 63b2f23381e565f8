// Requests: every request, in tabs by state, filtered by type and an
// instant search, sortable, virtualised; kept live from /api/watch (a
// change to any of a request's documents reloads that one request).

import { h, replace, badge, href, toast, condBad } from '../js/dom.js';
import { get, enc, starred, toggleStar, onStars, ApiError } from '../js/api.js';
import * as watch from '../js/watch.js';
import { VList } from '../js/vlist.js';
import { requestDialog } from '../js/requestedit.js';

export const TABS = [
  ['all', 'All', () => true],
  ['active', 'Active', (r) => r.state === 'ACTIVE' || r.state === 'DEPLOYING_TO_UNPAUSE'],
  ['paused', 'Paused', (r) => r.state === 'PAUSED'],
  ['cooldown', 'Cooldown', (r) => r.state === 'SYSTEM_COOLDOWN'],
  ['pending', 'Pending deploy', (r) => !!r.pendingDeploy],
  ['finished', 'Finished', (r) => r.state === 'FINISHED'],
  ['starred', '★ Starred', (r, stars) => stars.has(r.id)],
];
export const TYPES = ['SERVICE', 'WORKER', 'SCHEDULED', 'ON_DEMAND', 'RUN_ONCE'];

// The row a request parent shows as.
export function summary(p) {
  const r = p.request || {};
  const t = p.taskIds || {};
  const running = (t.healthy || []).length + (t.notYetHealthy || []).length;
  const rds = p.requestDeployState || {};
  return {
    id: r.id,
    type: r.requestType || '',
    state: p.state || '',
    instances: r.instances ?? (['SERVICE', 'WORKER'].includes(r.requestType) ? 1 : null),
    running,
    pending: (t.pending || []).length,
    activeDeploy: rds.activeDeploy ? rds.activeDeploy.deployId : '',
    pendingDeploy: rds.pendingDeploy ? rds.pendingDeploy.deployId : '',
    owners: (r.owners || []).join(', '),
    group: r.group || '',
    schedule: r.schedule || r.quartzSchedule || '',
    notReady: (p.conditions || []).filter(condBad).map((c) => c.type + ': ' + (c.message || c.reason || '')),
    text: [r.id, r.requestType, p.state, (r.owners || []).join(' '), r.group, rds.activeDeploy && rds.activeDeploy.deployId,
      rds.pendingDeploy && rds.pendingDeploy.deployId].filter(Boolean).join(' ').toLowerCase(),
  };
}

// Keeps a map id -> summary in step with the watch: a change to a
// request's documents reloads that request (a few at a time, coalesced).
export class LiveRequests {
  constructor(onChange) {
    this.map = new Map();
    this.onChange = onChange;
    this.queue = new Set();
    this.timer = null;
    this.busy = 0;
  }

  async load() {
    const list = await get('/api/requests');
    this.map = new Map(list.map((p) => [p.request.id, summary(p)]));
    this.onChange(null);
  }

  start() {
    this.unsub = watch.on((ev) => {
      if (ev.type === 'RESYNC') { this.load().catch(() => {}); return; }
      if (!ev.rid) return;
      if (!['requests', 'status/requests', 'deploys', 'status/deploys', 'intents/requests', 'intents/deploys',
        'tasks', 'pending', 'cleanups'].includes(ev.kind)) return;
      this.queue.add(ev.rid);
      if (!this.timer) this.timer = setTimeout(() => this.flush(), 100);
    });
  }

  stop() {
    if (this.unsub) this.unsub();
    clearTimeout(this.timer);
    this.stopped = true;
  }

  async flush() {
    this.timer = null;
    if (this.stopped) return;
    if (this.queue.size > 300) { // a burst: one list is cheaper
      this.queue.clear();
      await this.load().catch(() => {});
      return;
    }
    const ids = [...this.queue];
    this.queue.clear();
    const changed = [];
    const one = async (id) => {
      try {
        const p = await get('/api/requests/request/' + enc(id));
        this.map.set(id, summary(p));
      } catch (e) {
        if (e instanceof ApiError && (e.status === 404 || e.status === 403)) this.map.delete(id);
        else return;
      }
      changed.push(id);
    };
    for (let i = 0; i < ids.length; i += 8) await Promise.all(ids.slice(i, i + 8).map(one));
    if (!this.stopped && changed.length) this.onChange(changed);
  }
}

const num = (x) => (x === null || x === undefined ? -1 : x);

export async function render(root, params, ctx) {
  const q = ctx.query;
  let tab = q.get('tab') || 'all';
  let type = q.get('type') || '';
  let search = q.get('q') || '';
  let stars = await starred();

  const search$ = h('input.search', { type: 'search', placeholder: 'Search requests (/)', value: search, 'data-search': '', 'aria-label': 'search requests', id: 'search' });
  const type$ = h('select', { 'aria-label': 'request type', id: 'type' }, h('option', { value: '' }, 'All types'),
    TYPES.map((t) => h('option', { value: t }, t)));
  type$.value = type;
  const tabs$ = h('div.tabs', { role: 'tablist' });
  const count$ = h('span.count', { id: 'count' });
  const listEl = h('div.listwrap');
  replace(root, h('div.page.requests', null,
    h('div.toolbar', null, h('h1', null, 'Requests'), search$, type$, count$,
      h('button.primary', { id: 'act-new-request', onclick: async () => {
        const out = await requestDialog({ requestType: 'SERVICE', instances: 1 });
        if (out && out.request) location.hash = href.request(out.request.id);
      } }, 'New request')),
    tabs$, listEl));

  const star = (row) => h('button.star' + (stars.has(row.id) ? '.on' : ''), {
    title: stars.has(row.id) ? 'Unstar (s)' : 'Star (s)', 'aria-label': 'star ' + row.id,
    onclick: (e) => { e.stopPropagation(); doStar(row.id); },
  }, stars.has(row.id) ? '★' : '☆');

  const cols = [
    { id: 'star', title: '', width: '2.6rem' },
    { id: 'id', title: 'Request', width: 'minmax(12rem, 3fr)', sort: (a, b) => a.id.localeCompare(b.id) },
    { id: 'type', title: 'Type', width: '7.5rem', sort: (a, b) => a.type.localeCompare(b.type) },
    { id: 'state', title: 'State', width: '9rem', sort: (a, b) => a.state.localeCompare(b.state) },
    { id: 'instances', title: 'Instances', width: '6.5rem', sort: (a, b) => num(a.running) - num(b.running) || num(a.instances) - num(b.instances) },
    { id: 'deploy', title: 'Deploy', width: 'minmax(8rem, 2fr)', sort: (a, b) => (a.pendingDeploy || a.activeDeploy).localeCompare(b.pendingDeploy || b.activeDeploy) },
    { id: 'owners', title: 'Owners', width: 'minmax(8rem, 2fr)', sort: (a, b) => a.owners.localeCompare(b.owners) },
  ];
  const renderCell = (r, c) => {
    switch (c) {
      case 'star': return star(r);
      case 'id': return h('a.rid', { href: href.request(r.id), title: r.notReady.join('\n') || null }, r.id, r.notReady.length ? h('span.warn-dot', { title: r.notReady.join('\n') }, ' ⚠') : null);
      case 'type': return r.type;
      case 'state': return badge(r.state);
      case 'instances': return r.instances === null ? (r.running ? String(r.running) : '—') : `${r.running}/${r.instances}`;
      case 'deploy': return [r.activeDeploy || '—', r.pendingDeploy ? h('span.pending', { title: 'pending deploy' }, ' → ' + r.pendingDeploy) : null];
      case 'owners': return r.owners;
      default: return '';
    }
  };
  const vl = new VList(listEl, {
    columns: cols, rowHeight: 36, render: renderCell, key: (r) => r.id,
    sortCol: q.get('sort') || 'id', sortDir: q.get('dir') === 'desc' ? -1 : 1,
    onOpen: (r) => { if (r) location.hash = href.request(r.id); },
    onSort: () => save(),
  });
  const live = new LiveRequests(() => apply(true));

  function save() {
    const o = {};
    if (tab !== 'all') o.tab = tab;
    if (type) o.type = type;
    if (search) o.q = search;
    if (vl.sortCol !== 'id') o.sort = vl.sortCol;
    if (vl.sortDir < 0) o.dir = 'desc';
    ctx.setQuery(o);
  }

  function apply(keepSel) {
    const words = search.toLowerCase().split(/\s+/).filter(Boolean);
    const all = [...live.map.values()];
    const typed = type ? all.filter((r) => r.type === type) : all;
    const counts = {};
    for (const [id, , fn] of TABS) counts[id] = typed.filter((r) => fn(r, stars)).length;
    replace(tabs$, TABS.map(([id, label]) => h('button.tab' + (id === tab ? '.current' : ''), {
      role: 'tab', 'aria-selected': id === tab ? 'true' : 'false', 'data-tab': id,
      onclick: () => { tab = id; save(); apply(); },
    }, label, h('span.n', null, String(counts[id])))));
    const fn = (TABS.find((t) => t[0] === tab) || TABS[0])[2];
    const rows = typed.filter((r) => fn(r, stars) && words.every((w) => r.text.includes(w)));
    count$.textContent = `${rows.length} of ${live.map.size}`;
    vl.setRows(rows, keepSel);
  }

  async function doStar(id) {
    try {
      const on = await toggleStar(id);
      toast((on ? 'Starred ' : 'Unstarred ') + id, 'ok');
    } catch (e) {
      toast('Star failed: ' + e.message, 'error');
    }
  }

  search$.addEventListener('input', () => { search = search$.value; save(); apply(); });
  type$.addEventListener('change', () => { type = type$.value; save(); apply(); });
  const unStars = onStars((s) => { stars = s; apply(true); });
  ctx.keys({
    move: (d) => vl.move(d),
    open: () => { const r = vl.selected(); if (r) location.hash = href.request(r.id); },
    star: () => { const r = vl.selected(); if (r) doStar(r.id); },
  });
  live.start();
  await live.load();
  return () => { live.stop(); unStars(); vl.destroy(); };
}
