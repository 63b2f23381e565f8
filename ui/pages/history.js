// Task history search: every task, active or finished, found by request,
// deploy, host, last state and start or update time (/api/history/tasks).
// The filters live in the address, so a search is a link.

import { h, replace, badge, href, section, table, fmtTime, fmtAgo, field } from '../js/dom.js';
import { get } from '../js/api.js';

const STATES = ['', 'TASK_RUNNING', 'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST',
  'TASK_ERROR', 'TASK_STAGING', 'TASK_STARTING', 'TASK_UNREACHABLE', 'TASK_GONE'];
const PAGE = 50;

// datetime-local <-> epoch ms (the browser's zone)
const toLocal = (ms) => {
  if (!ms) return '';
  const d = new Date(Number(ms));
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
};
const fromLocal = (s) => (s ? String(new Date(s).getTime()) : '');

export async function render(root, params, ctx) {
  const q = ctx.query;
  const inp = (id, name, attrs = {}) => h('input', Object.assign({ id, name, value: q.get(name) || '', autocomplete: 'off' }, attrs));
  const f = {
    requestId: inp('hs-request', 'requestId', { placeholder: 'any' }),
    deployId: inp('hs-deploy', 'deployId', { placeholder: 'any' }),
    host: inp('hs-host', 'host', { placeholder: 'any' }),
    lastTaskStatus: h('select', { id: 'hs-state', name: 'lastTaskStatus' },
      STATES.map((s) => h('option', { value: s, selected: (q.get('lastTaskStatus') || '') === s ? '' : undefined }, s || 'any'))),
    startedAfter: h('input', { id: 'hs-after', type: 'datetime-local', value: toLocal(q.get('startedAfter')) }),
    startedBefore: h('input', { id: 'hs-before', type: 'datetime-local', value: toLocal(q.get('startedBefore')) }),
  };
  const page = Math.max(1, Number(q.get('page')) || 1);
  const results = h('div', { id: 'hs-results' }, h('p.muted', null, 'Searching…'));

  function search(toPage) {
    const o = {};
    for (const k of ['requestId', 'deployId', 'host', 'lastTaskStatus']) if (f[k].value.trim()) o[k] = f[k].value.trim();
    const a = fromLocal(f.startedAfter.value), b = fromLocal(f.startedBefore.value);
    if (a) o.startedAfter = a;
    if (b) o.startedBefore = b;
    if (toPage > 1) o.page = String(toPage);
    location.hash = '#/history' + (Object.keys(o).length ? '?' + new URLSearchParams(o) : '');
  }

  const form = h('form.search', { id: 'hs-form', onsubmit: (e) => { e.preventDefault(); search(1); } },
    h('div.row', null, field('Request', f.requestId), field('Deploy', f.deployId), field('Host', f.host), field('Last state', f.lastTaskStatus)),
    h('div.row', null, field('Started after', f.startedAfter), field('Started before', f.startedBefore),
      h('div.actions', null, h('button.primary', { type: 'submit', id: 'hs-go' }, 'Search'),
        h('button', { type: 'button', onclick: () => { location.hash = '#/history'; } }, 'Clear'))));

  replace(root, h('div.page.history', null,
    h('div.header', null, h('h1', null, 'Task history')),
    section('Search', form), results));

  const api = new URLSearchParams();
  for (const k of ['requestId', 'deployId', 'host', 'lastTaskStatus', 'startedAfter', 'startedBefore']) if (q.get(k)) api.set(k, q.get(k));
  api.set('count', String(PAGE));
  api.set('page', String(page));
  api.set('orderDirection', 'DESC');
  let rows;
  try {
    rows = await get('/api/history/tasks?' + api);
  } catch (e) {
    replace(results, h('div.card.error', { role: 'alert' }, h('p', null, e.message)));
    return null;
  }
  replace(results,
    h('p.muted', { id: 'hs-summary' }, rows.length ? `page ${page}: ${rows.length} task${rows.length === 1 ? '' : 's'}, newest first` : 'no task matches'),
    h('div.tablewrap', null, table(['Task', 'Request', 'Deploy', 'Host', 'Last state', 'Started', 'Updated'],
      rows.map((x) => ({
        attrs: { 'data-task': x.taskId.id },
        cells: [h('a', { href: href.task(x.taskId.id) }, x.taskId.id), h('a', { href: href.request(x.taskId.requestId) }, x.taskId.requestId),
          h('a', { href: href.deploy(x.taskId.requestId, x.taskId.deployId) }, x.taskId.deployId), x.taskId.host || '—',
          badge(x.lastTaskState), fmtTime(x.taskId.startedAt), fmtAgo(x.updatedAt)],
      })), { cls: 'history-tasks', empty: 'no task matches' })),
    h('div.actions.pager', null,
      page > 1 ? h('button', { id: 'hs-prev', onclick: () => search(page - 1) }, '← Newer') : null,
      rows.length === PAGE ? h('button', { id: 'hs-next', onclick: () => search(page + 1) }, 'Older →') : null));
  return null;
}
