// Task (active or finished): ids, host, rack, ports, resources,
// environment, the status-update timeline, health checks; its sandbox
// files; its logs, tailed live. Kill with a grace period.

import { h, replace, morph, badge, href, kv, table, section, fmtTime, fmtAgo, fmtBytes, toast, dialog, field, debounce } from '../js/dom.js';
import { get, api, enc, ApiError } from '../js/api.js';
import * as watch from '../js/watch.js';
import { LogView } from '../js/logview.js';

// TASK_UNREACHABLE and TASK_UNKNOWN are not terminal: the task may still run
// (docs/mesosbridge.md, "Partitions and master failover").
const TERMINAL = ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED',
  'TASK_GONE', 'TASK_GONE_BY_OPERATOR'];
const LOGS = ['stdout', 'stderr', 'service.log'];

export async function render(root, { id, tab }, ctx) {
  let hist = null;
  let logView = null;
  let stopped = false;
  const isLive = () => hist && !TERMINAL.includes(hist.task.lastTaskState);
  const body = h('div.tabbody');
  const head = h('div');
  replace(root, h('div.page.task', { 'data-task': id }, head, body));

  async function load() {
    hist = await get('/api/history/task/' + enc(id));
    if (stopped) return;
    drawHead();
    if (tab === '') drawOverview();
  }

  function drawHead() {
    const t = hist.task;
    const tid = t.taskId;
    const tabs = [['', 'Overview'], ['files', 'Files'], ['logs', 'Logs']];
    morph(head,
      h('div.header', null, h('h1', { id: 'task-id' }, tid.id), badge(t.lastTaskState, 'task state'),
        h('a', { href: href.request(tid.requestId) }, tid.requestId), h('span.sub', null, 'deploy '),
        h('a', { href: href.deploy(tid.requestId, tid.deployId) }, tid.deployId),
        h('span.grow'),
        isLive() ? h('button.danger', { id: 'act-kill', onclick: kill }, 'Kill') : null),
      h('div.tabs', { role: 'tablist' }, tabs.map(([k, label]) => h('a.tab' + (k === tab ? '.current' : ''), { href: href.task(id, k), role: 'tab', 'data-tab': k || 'overview' }, label))));
  }

  function drawOverview() {
    const t = hist.task;
    const tid = t.taskId;
    const res = t.resources || {};
    const updates = hist.taskUpdates || t.taskUpdates || [];
    const last = updates[updates.length - 1] || {};
    replace(body,
      h('div.grid2', null,
        section('Task', kv([
          ['Request', h('a', { href: href.request(tid.requestId) }, tid.requestId)],
          ['Deploy', h('a', { href: href.deploy(tid.requestId, tid.deployId) }, tid.deployId)],
          ['Instance', String(tid.instanceNo)],
          ['Host', t.hostname || tid.host], ['Rack', t.rackId || tid.rackId || '—'], ['Agent', t.agentId || '—'],
          ['Ports', (t.ports || []).join(', ') || '—'],
          ['Resources', `${res.cpus ?? '—'} cpus, ${res.memoryMb ?? '—'} MB memory, ${res.diskMb ?? 0} MB disk`],
          ['Started', fmtTime(tid.startedAt) + ' (' + fmtAgo(tid.startedAt) + ')'],
          ['Last update', fmtTime(t.updatedAt)],
          last.exitCode !== undefined || last.exit_code !== undefined ? ['Exit code', String(last.exitCode ?? last.exit_code)] : null,
          hist.directory ? ['Sandbox', h('code', null, hist.directory)] : null,
        ])),
        section('Status updates', h('ol.timeline', { id: 'timeline' }, updates.map((u) => h('li', null,
          badge(u.taskState), h('span.when', null, fmtTime(u.timestamp)),
          u.reason ? h('div.muted', null, u.reason) : null,
          u.statusMessage || u.message ? h('div', null, u.statusMessage || u.message) : null,
          u.source ? h('div.muted', null, u.source.replace(/^SOURCE_/, '').toLowerCase()) : null))))),
      section('Health checks', table(['When', 'Status', 'Duration', 'Message'], (hist.healthcheckResults || []).map((c) => ({ cells: [
        fmtTime(c.timestamp), c.statusCode ? String(c.statusCode) : (c.errorMessage ? 'error' : '—'), c.durationMillis !== undefined ? c.durationMillis + ' ms' : '—', c.errorMessage || c.responseBody || ''] })), { empty: 'no health-check results' })),
      section('Environment', table(['Name', 'Value'], Object.entries(t.env || {}).sort().map(([k, v]) => ({ cells: [h('code', null, k), h('code', null, v)] })), { empty: 'no variables' })),
      h('details.card', null, h('summary', null, 'JSON'), h('pre.json', null, JSON.stringify(hist, null, 2))));
  }

  async function drawFiles() {
    const path = ctx.query.get('path') || '';
    replace(body, h('p.loading', null, 'Listing…'));
    let listing;
    try {
      listing = await get(`/api/sandbox/${enc(id)}/browse?path=${enc(path)}`);
    } catch (e) {
      replace(body, h('div.card.error', null, 'Sandbox: ' + e.message));
      return;
    }
    if (stopped) return;
    const crumbs = [h('a', { href: href.task(id, 'files') }, 'sandbox')];
    let acc = '';
    for (const p of path.split('/').filter(Boolean)) {
      acc = acc ? acc + '/' + p : p;
      crumbs.push(' / ', h('a', { href: href.task(id, 'files') + '?path=' + enc(acc) }, p));
    }
    const rows = (listing.files || []).map((f) => {
      const name = f.name.slice(f.name.lastIndexOf('/') + 1);
      const full = path ? path + '/' + name : name;
      const dir = (f.mode || '').startsWith('d');
      return { attrs: { 'data-file': full }, cells: [
        dir ? h('a', { href: href.task(id, 'files') + '?path=' + enc(full) }, name + '/') : h('a', { href: href.task(id, 'logs') + '?file=' + enc(full) }, name),
        dir ? '—' : fmtBytes(f.size), fmtTime((f.mtime || 0) * 1000), h('code', null, f.mode || '')] };
    });
    replace(body, section('Files', h('p', null, crumbs), table(['Name', 'Size', 'Modified', 'Mode'], rows, { cls: 'files', empty: 'empty directory' })));
  }

  function drawLogs() {
    const file = ctx.query.get('file') || 'stdout';
    const pick = h('div.actions', null, [...new Set([...LOGS, file])].map((f) => h('a.tab' + (f === file ? '.current' : ''), { href: href.task(id, 'logs') + '?file=' + enc(f), 'data-file': f }, f)));
    const holder = h('div');
    replace(body, h('section.card', null, pick, holder));
    logView = new LogView(holder, id, file, isLive);
    logView.start();
    ctx.keys({ other: (e) => { if (e.key === 'f') logView.setFollow(!logView.follow); } });
  }

  async function kill() {
    const grace = h('input', { type: 'number', id: 'dlg-grace', min: 0, step: 1000, placeholder: 'the deploy\'s kill policy' });
    const destroy = h('input', { type: 'checkbox', id: 'dlg-destroy' });
    const v = await dialog({ title: 'Kill ' + id, ok: 'Kill', danger: true,
      body: h('div', null, h('p', null, 'Sends DELETE /api/tasks/task/' + id + '. A long-running request starts a replacement.'),
        field('Grace period (ms) before SIGKILL', grace), h('label.check', null, destroy, 'destroy now (no grace, override)')),
      collect: () => {
        const b = { message: 'killed from the UI' };
        if (grace.value !== '') b.killGracePeriodMillis = Number(grace.value);
        if (destroy.checked) b.override = true;
        return b;
      } });
    if (!v) return;
    try {
      await api('DELETE', '/api/tasks/task/' + enc(id), v);
      toast('Kill of ' + id + ' requested', 'ok');
    } catch (e) {
      toast('Kill failed: ' + e.message, 'error');
    }
  }

  const reload = debounce(() => load().catch(() => {}), 150);
  const rid = watch.taskRequest(id);
  const unsub = watch.on((ev) => {
    if (ev.type === 'RESYNC') { reload(); return; }
    if (ev.rid !== rid) return;
    if ((ev.kind === 'tasks' || ev.kind === 'history/tasks') && ev.id2 === id) reload();
    if (ev.kind === 'cleanups' && ev.id1 === id) reload();
  });
  try {
    await load();
  } catch (e) {
    unsub();
    if (e instanceof ApiError && e.status === 404) {
      replace(root, h('div.card', null, h('h2', null, id), h('p', null, 'No such task (it may have been purged from history).')));
      return null;
    }
    throw e;
  }
  if (tab === 'files') drawFiles();
  if (tab === 'logs') drawLogs();
  return () => { stopped = true; unsub(); if (logView) logView.stop(); };
}
