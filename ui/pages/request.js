// Request: its spec, conditions, deploys (active and pending, with
// progress), tasks (active, pending, finished) and history; actions that
// confirm what they send and say what changed. Live from /api/watch.

import { h, replace, morph, badge, condBad, condBadge, href, kv, table, section, fmtTime, fmtAgo, toast, dialog, field, confirmAction, debounce } from '../js/dom.js';
import { get, api, enc, starred, toggleStar, onStars, ApiError } from '../js/api.js';
import * as watch from '../js/watch.js';
import { managedBy } from './sources.js';
import { deployDialog } from '../js/deployedit.js';
import { requestDialog } from '../js/requestedit.js';

const LONG = ['SERVICE', 'WORKER'];
const RUNNABLE = ['SCHEDULED', 'ON_DEMAND'];

// What an action changed, from the request parent before and after.
export function changes(a, b) {
  const out = [];
  const pick = (p) => ({
    state: p && p.state,
    instances: p && p.request && p.request.instances,
    activeDeploy: p && p.requestDeployState && p.requestDeployState.activeDeploy && p.requestDeployState.activeDeploy.deployId,
    pendingDeploy: p && p.requestDeployState && p.requestDeployState.pendingDeploy && p.requestDeployState.pendingDeploy.deployId,
  });
  const x = pick(a), y = pick(b);
  for (const k of Object.keys(x)) if (x[k] !== y[k]) out.push(`${k}: ${x[k] ?? '—'} → ${y[k] ?? '—'}`);
  return out;
}

// Sends one change after the user confirmed it; toasts what changed.
async function act(ctx, { title, method, path, body, danger, before, done }) {
  const what = h('div', null, h('p', null, 'This sends:'),
    h('pre.json', null, `${method} ${path}` + (body !== undefined ? '\n' + JSON.stringify(body, null, 2) : '')));
  if (!(await confirmAction(title, what, danger))) return null;
  try {
    const r = await api(method, path, body);
    const diff = r && r.request ? changes(before, r) : [];
    toast(title + ': done' + (diff.length ? ' (' + diff.join('; ') + ')' : ''), 'ok');
    if (done) done(r);
    return r || {};
  } catch (e) {
    toast(title + ' failed: ' + e.message + (e.problems.length ? ' — ' + e.problems.join('; ') : ''), 'error');
    return null;
  }
}

// An optional duration in minutes (an expiring action: it reverts after).
function durationField() {
  const el = h('input', { type: 'number', min: 1, step: 1, id: 'dlg-duration', placeholder: 'for good' });
  return { el, field: field('Revert after (minutes)', el, 'empty: the change stays'), ms: () => {
    if (!el.value.trim()) return undefined;
    const m = Number(el.value);
    if (!Number.isInteger(m) || m < 1) throw new Error('revert after: whole minutes, at least 1');
    return m * 60000;
  } };
}

function numberDialog(title, label, value, extra) {
  const input = h('input', { type: 'number', min: 0, step: 1, value, id: 'dlg-number', required: true });
  const msg = h('input', { type: 'text', id: 'dlg-message', placeholder: 'why (recorded in history)' });
  const dur = durationField();
  return dialog({
    title, body: h('div', null, field(label, input), extra || null, dur.field, field('Message', msg)),
    collect: () => {
      const n = Number(input.value);
      if (!Number.isInteger(n) || n < 0) throw new Error(label + ': a whole number');
      return { n, message: msg.value.trim() || undefined, durationMillis: dur.ms(), extra: extra && extra.querySelector('input') ? extra.querySelector('input').checked : false };
    },
  });
}

export async function render(root, { id }, ctx) {
  const base = '/api/requests/request/' + enc(id);
  let parent = null;
  let stars = await starred();
  let stopped = false;
  let runWait = null; // {runId} while waiting for a run's task

  async function load() {
    const hist = '/api/history/request/' + enc(id);
    const [p, active, pending, tasks, deploys, events] = await Promise.all([
      get(base),
      get(hist + '/tasks/active').catch(() => []),
      get('/api/tasks/scheduled/request/' + enc(id)).catch(() => []),
      get(hist + '/tasks?count=50').catch(() => []),
      get(hist + '/deploys?count=50').catch(() => []),
      get(hist + '/requests?count=50').catch(() => []),
    ]);
    if (stopped) return;
    parent = p;
    draw({ active, pending, tasks, deploys, events });
  }

  function buttons() {
    const r = parent.request;
    const type = r.requestType;
    const paused = parent.state === 'PAUSED';
    const b = [];
    const reload = () => load().catch(() => {});
    if (LONG.includes(type) || type === 'ON_DEMAND') {
      b.push(h('button', { id: 'act-scale', onclick: async () => {
        const bounce = h('label.check', null, h('input', { type: 'checkbox' }), 'bounce after scaling');
        const v = await numberDialog('Scale ' + id, type === 'ON_DEMAND' ? 'Max concurrent tasks' : 'Instances', r.instances ?? 1, LONG.includes(type) ? bounce : null);
        if (!v) return;
        await act(ctx, { title: 'Scale ' + id, method: 'PUT', path: base + '/scale', before: parent,
          body: { instances: v.n, message: v.message, bounce: v.extra || undefined, durationMillis: v.durationMillis }, done: reload });
      } }, 'Scale'));
    }
    if (paused) {
      b.push(h('button', { id: 'act-unpause', onclick: () => act(ctx, { title: 'Unpause ' + id, method: 'POST', path: base + '/unpause', body: {}, before: parent, done: reload }) }, 'Unpause'));
    } else {
      b.push(h('button', { id: 'act-pause', onclick: async () => {
        const kill = h('input', { type: 'checkbox', id: 'dlg-kill', checked: true });
        const dur = durationField();
        const v = await dialog({ title: 'Pause ' + id, ok: 'Next',
          body: h('div', null, h('label.check', null, kill, 'kill its tasks (else they keep running; nothing new starts)'), dur.field),
          collect: () => ({ killTasks: kill.checked, durationMillis: dur.ms() }) });
        if (v) await act(ctx, { title: 'Pause ' + id, method: 'POST', path: base + '/pause', body: v, before: parent, done: reload });
      } }, 'Pause'));
    }
    if (LONG.includes(type) && !paused) {
      b.push(h('button', { id: 'act-bounce', onclick: () => act(ctx, { title: 'Bounce ' + id, method: 'POST', path: base + '/bounce', body: { incremental: true }, before: parent, done: reload }) }, 'Bounce'));
    }
    if (RUNNABLE.includes(type) && !paused) b.push(h('button.primary', { id: 'act-run', onclick: runNow }, 'Run now'));
    if (parent.state === 'SYSTEM_COOLDOWN') {
      b.push(h('button', { id: 'act-exit-cooldown', onclick: () => act(ctx, { title: 'Exit cooldown', method: 'POST', path: base + '/exit-cooldown', body: {}, before: parent, done: reload }) }, 'Exit cooldown'));
    }
    b.push(h('button', { id: 'act-edit', onclick: async () => {
      if (await requestDialog(parent.request, { edit: true })) reload();
    } }, 'Edit'));
    b.push(h('button', { id: 'act-deploy', onclick: async () => {
      const cur = parent.pendingDeploy || parent.activeDeploy || { requestId: id, command: '', resources: { cpus: 0.1, memoryMb: 64 } };
      const next = Object.assign({}, cur, { id: 'd' + Date.now().toString(36) });
      delete next.timestamp;
      if (await deployDialog(id, next)) reload();
    } }, 'New deploy'));
    b.push(h('button.danger', { id: 'act-delete', onclick: async () => {
      const input = h('input', { type: 'text', id: 'dlg-confirm-id', placeholder: id });
      const ok = await dialog({ title: 'Delete ' + id, ok: 'Delete', danger: true,
        body: h('div', null, h('p', null, 'Deletes the request (its tasks are killed; history stays). This sends DELETE ' + base + '.'),
          field('Type the request id to confirm', input)),
        collect: () => { if (input.value !== id) throw new Error('type ' + id); return true; } });
      if (!ok) return;
      try {
        await api('DELETE', base, { message: 'deleted from the UI' });
        toast('Deleted ' + id, 'ok');
        location.hash = href.requests();
      } catch (e) { toast('Delete failed: ' + e.message, 'error'); }
    } }, 'Delete'));
    return b;
  }

  async function runNow() {
    const args = h('input', { type: 'text', id: 'dlg-args', placeholder: '--flag value' });
    const follow = h('input', { type: 'checkbox', id: 'dlg-follow', checked: true });
    const v = await dialog({ title: 'Run ' + id + ' now', ok: 'Run',
      body: h('div', null, field('Arguments (split on spaces)', args), h('label.check', null, follow, 'then open the new task\'s log')),
      collect: () => ({ args: args.value.trim() ? args.value.trim().split(/\s+/) : [], follow: follow.checked }) });
    if (!v) return;
    try {
      const r = await api('POST', base + '/run', { commandLineArgs: v.args.length ? v.args : undefined, message: 'run from the UI' });
      const runId = r.pendingRequest && r.pendingRequest.runId;
      toast('Run ' + runId + ' queued' + (v.follow ? '; waiting for its task…' : ''), 'ok');
      if (v.follow && runId) runWait = { runId };
      if (runWait) findRunTask();
    } catch (e) {
      toast('Run failed: ' + e.message, 'error');
    }
  }

  // The run's task: GET .../run/{runId} answers once the task exists; asked
  // again on every change of this request (no polling).
  async function findRunTask() {
    if (!runWait) return;
    try {
      const t = await get(base + '/run/' + enc(runWait.runId));
      if (t && t.id && runWait) {
        runWait = null;
        location.hash = href.task(t.id, 'logs');
      }
    } catch { /* not yet */ }
  }

  function alerts() {
    const out = [];
    const bad = (parent.conditions || []).filter(condBad);
    if (bad.length) {
      out.push(h('div.alert.bad', { id: 'conditions-bad' }, h('strong', null, 'Not ready: '),
        h('ul.conditions', null, bad.map((c) => h('li', null, h('b', null, c.type), ' — ', c.reason || '', c.message ? ': ' + c.message : '')))));
    }
    if (parent.state === 'PAUSED' && !parent.expiringPause) out.push(h('div.alert', null, 'Paused.'));
    for (const [k, what] of [['expiringScale', 'Scale'], ['expiringPause', 'Pause'], ['expiringBounce', 'Bounce'], ['expiringSkipHealthchecks', 'Skipping health checks']]) {
      const x = parent[k];
      if (!x) continue;
      const inner = x.expiringAPIRequestObject || x;
      const start = x.startMillis || x.timestamp || inner.timestamp;
      const dur = inner.durationMillis || x.durationMillis;
      const until = start && dur ? start + dur : null;
      const detail = k === 'expiringScale' && inner.instances !== undefined ? ` to ${inner.instances}` : '';
      const back = x.revertToInstances !== undefined ? ` (back to ${x.revertToInstances})` : '';
      out.push(h('div.alert', { 'data-expiring': k }, `${what}${detail} expires `, until ? fmtTime(until) + ' (' + fmtAgo(until) + ')' : 'later', back, '.'));
    }
    if (parent.state === 'SYSTEM_COOLDOWN') out.push(h('div.alert.bad', null, 'In cooldown after repeated failures: new tasks are delayed.'));
    const pds = parent.pendingDeployState;
    if (pds) {
      const did = pds.deployMarker && pds.deployMarker.deployId;
      const target = (pds.deployProgress && pds.deployProgress.targetActiveInstances) || 0;
      const want = parent.request.instances || 1;
      const bar = h('div.progress', { title: `${target} of ${want}` }, h('div'));
      bar.firstChild.style.width = Math.min(100, (100 * target) / want) + '%';
      out.push(h('div.alert', { id: 'pending-deploy' },
        h('div.actions', null, h('strong', null, 'Deploy '), h('a', { href: href.deploy(id, did) }, did), ' ',
          badge(pds.currentDeployState, 'deploy state'), h('span', { id: 'deploy-target' }, ` target ${target}/${want}`), bar,
          target < want ? h('button', { id: 'act-advance', onclick: () => act(ctx, { title: 'Advance deploy ' + did, method: 'POST', path: '/api/deploys/update',
            body: { requestId: id, deployId: did, targetActiveInstances: Math.min(want, target + 1) }, before: parent, done: () => load().catch(() => {}) }) }, 'Advance') : null,
          h('button', { id: 'act-cancel-deploy', onclick: () => act(ctx, { title: 'Cancel deploy ' + did, method: 'DELETE',
            path: '/api/deploys/deploy/' + enc(did) + '/request/' + enc(id), before: parent, danger: true, done: () => load().catch(() => {}) }) }, 'Cancel deploy'))));
    }
    return out;
  }

  function draw(d) {
    const r = parent.request;
    const ad = parent.activeDeploy;
    const t = parent.taskIds || {};
    const running = (t.healthy || []).length + (t.notYetHealthy || []).length;
    const starBtn = h('button.star' + (stars.has(id) ? '.on' : ''), { id: 'star', title: 'star (s)', onclick: () => doStar() }, stars.has(id) ? '★' : '☆');
    morph(root, h('div.page.request', { 'data-request': id },
      h('div.header', null, starBtn, h('h1', null, id), h('span.sub', null, r.requestType), badge(parent.state, 'request state'),
        h('span.sub', { id: 'instances' }, LONG.includes(r.requestType) ? `${running}/${r.instances ?? 1} running` : `${running} running`),
        h('span.grow'), h('div.actions', null, buttons())),
      alerts(),
      h('div.grid2', null,
        section('Request', kv([
          ['Type', r.requestType], ['State', badge(parent.state)],
          r.instances !== undefined ? ['Instances', String(r.instances)] : null,
          r.schedule || r.quartzSchedule ? ['Schedule', h('code', null, r.schedule || r.quartzSchedule), r.scheduleTimeZone ? ' ' + r.scheduleTimeZone : ''] : null,
          nextFire(parent.jobStatus),
          lastRun(parent.jobStatus),
          ['Owners', (r.owners || []).join(', ') || '—'],
          r.group ? ['Group', r.group] : null,
          managedBy(r),
          ['Conditions', h('span.conds', null, (parent.conditions || []).map((c) => [condBadge(c), ' ']))],
        ]), h('details', null, h('summary', null, 'JSON'), h('pre.json', null, JSON.stringify(r, null, 2)))),
        section('Active deploy', ad ? kv([
          ['Deploy', h('a', { href: href.deploy(id, ad.id) }, ad.id)],
          ['Command', h('code', null, [ad.command, ...(ad.arguments || [])].filter(Boolean).join(' ') || '—')],
          ['Resources', ad.resources ? `${ad.resources.cpus ?? '—'} cpus, ${ad.resources.memoryMb ?? '—'} MB, ${ad.resources.numPorts ?? 0} ports` : '—'],
          ['Deployed', fmtTime(parent.requestDeployState.activeDeploy && parent.requestDeployState.activeDeploy.timestamp)],
        ]) : h('p.muted', null, 'No active deploy.'))),
      section('Active tasks', h('div.tablewrap', null, table(['Task', 'Instance', 'Host', 'Rack', 'State', 'Started'],
        d.active.map((x) => ({ attrs: { 'data-task': x.taskId.id }, cells: [h('a', { href: href.task(x.taskId.id) }, x.taskId.id), String(x.taskId.instanceNo), x.taskId.host, x.taskId.rackId || '—', badge(x.lastTaskState), fmtAgo(x.taskId.startedAt)] })),
        { cls: 'active-tasks', empty: 'no active tasks' }))),
      loadBalancer(parent.loadBalancer),
      d.pending.length ? section('Pending and scheduled tasks', table(['Pending task', 'Type', 'Run at', 'Run id'],
        d.pending.map((x) => { const p = x.pendingTask.pendingTaskId; return { cells: [p.id, p.pendingType, fmtTime(p.nextRunAt) + ' (' + fmtAgo(p.nextRunAt) + ')', x.pendingTask.runId || '—'] }; }))) : null,
      h('div.grid2', null,
        section('Deploy history', table(['Deploy', 'Result', 'When', 'By'], d.deploys.map((x) => ({ cells: [
          h('a', { href: href.deploy(id, x.deployMarker.deployId) }, x.deployMarker.deployId),
          x.deployResult ? badge(x.deployResult.deployState, x.deployResult.message) : badge('PENDING'),
          fmtTime(x.deployMarker.timestamp), x.deployMarker.user || '—'] })), { cls: 'deploy-history' })),
        section('Request history', table(['Event', 'When', 'By', 'Message'], d.events.map((x) => ({ cells: [x.eventType, fmtTime(x.createdAt), x.user || '—', x.message || ''] })), { cls: 'request-history' }))),
      section(h('span', null, 'Task history ', h('a.sub', { id: 'search-history', href: href.history({ requestId: id }) }, 'search all')), h('div.tablewrap', null, table(['Task', 'Deploy', 'Last state', 'Updated'], d.tasks.map((x) => ({ cells: [
        h('a', { href: href.task(x.taskId.id) }, x.taskId.id), x.taskId.deployId, badge(x.lastTaskState), fmtTime(x.updatedAt)] })), { cls: 'task-history', empty: 'no finished tasks' }))),
    ));
  }

  // What the load balancer serves (docs/loadbalancing.md): the last change,
  // the tasks in it, and the ones taken out and draining before their kill.
  function loadBalancer(lb) {
    if (!lb) return null;
    const rows = [
      ...(lb.upstreams || []).map((u) => ({ attrs: { 'data-lb-task': u.taskId }, cells: [h('a', { href: href.task(u.taskId) }, u.taskId), u.upstream, badge('SERVING'), fmtAgo(u.at)] })),
      ...(lb.removed || []).map((u) => ({ attrs: { 'data-lb-task': u.taskId }, cells: [h('a', { href: href.task(u.taskId) }, u.taskId), u.upstream, badge('DRAINING'), fmtAgo(u.at)] })),
      ...(lb.pending || []).filter((u) => !(lb.upstreams || []).some((x) => x.taskId === u.taskId))
        .map((u) => ({ attrs: { 'data-lb-task': u.taskId }, cells: [h('a', { href: href.task(u.taskId) }, u.taskId), u.upstream, badge('WAITING'), '—'] })),
    ];
    return section('Load balancer', h('div', { id: 'load-balancer' },
      kv([['Provider', lb.provider || '—'], ['Last change', h('span', null, badge(lb.state || 'UNKNOWN', lb.message || ''), ' ', h('code', null, lb.loadBalancerRequestId || '—'), ' ', fmtAgo(lb.updatedAt))],
        lb.message ? ['Message', h('span', { id: 'lb-message' }, lb.message)] : null]),
      h('div.tablewrap', null, table(['Task', 'Upstream', 'State', 'Since'], rows, { cls: 'lb-upstreams', empty: 'no task in the load balancer' }))));
  }

  // The jobs controller's memory (jobStatus): when the schedule fires next
  // and how the last run ended.
  function nextFire(js) {
    if (!js || !js.nextFireAt || r0().requestType !== 'SCHEDULED') return null;
    return ['Next run', h('span', { id: 'next-fire' }, js.nextFireAt < 0 ? 'never' : fmtTime(js.nextFireAt) + ' (' + fmtAgo(js.nextFireAt) + ')',
      js.missedRuns ? h('span.muted', null, ` · ${js.missedRuns} missed (${js.lastMissedReason || '?'})`) : null)];
  }
  function lastRun(js) {
    const l = js && js.lastRun;
    if (!l || !l.taskId) return null;
    return ['Last run', h('span', { id: 'last-run' }, h('a', { href: href.task(l.taskId) }, l.taskId), ' ',
      badge(l.success ? 'SUCCEEDED' : 'FAILED', l.message || ''), ' ', fmtAgo(l.finishedAt))];
  }
  const r0 = () => parent.request;

  async function doStar() {
    try { await toggleStar(id); } catch (e) { toast('Star failed: ' + e.message, 'error'); }
  }

  const reload = debounce(() => {
    load().catch((e) => {
      if (e instanceof ApiError && e.status === 404) {
        replace(root, h('div.card', null, h('h2', null, id), h('p', null, 'This request no longer exists.'), h('a', { href: href.requests() }, 'All requests')));
      }
    });
    findRunTask();
  }, 120);
  const unsub = watch.on((ev) => {
    if (ev.type === 'RESYNC' || ev.rid === id) reload();
  });
  const unStars = onStars((s) => { stars = s; if (parent) load().catch(() => {}); });
  ctx.keys({ star: doStar });
  await load();
  return () => { stopped = true; unsub(); unStars(); };
}
