// Status: the cluster summary of /api/state with small bar charts; redrawn
// when anything changes (at most once a second: /api/state walks the
// whole cache).

import { h, morph, badge, href, section, table, fmtTime, fmtAgo } from '../js/dom.js';
import { get } from '../js/api.js';
import * as watch from '../js/watch.js';

function bars(rows) {
  const max = Math.max(1, ...rows.map((r) => r[1]));
  return h('div.bars', null, rows.map(([label, n, tone]) => {
    const fill = h('div');
    fill.style.width = (100 * n) / max + '%';
    return [h('span', null, label), h('div.bar' + (tone ? '.' + tone : ''), null, fill), h('b', { 'data-stat': label }, String(n))];
  }));
}

function stat(label, n, id, tone) {
  return h('div.card', null, h('div.muted', null, label), h('div.stat' + (tone && n ? '.' + tone : ''), { id }, String(n)));
}

export async function render(root, params, ctx) {
  let stopped = false;
  let last = 0;
  let timer = null;

  async function load() {
    last = Date.now();
    const s = await get('/api/state');
    if (stopped) return;
    const leader = (s.hostStates || []).find((x) => x.master);
    morph(root, h('div.page.status', null,
      h('div.header', null, h('h1', null, 'Cluster status'), h('span.sub', null, 'generated ' + fmtTime(s.generatedAt))),
      !leader ? h('div.alert.bad', null, 'The replica that answered is not the leader; see its host state below.') : null,
      h('div.stats', null,
        stat('Requests', s.allRequests, 'st-requests'), stat('Active tasks', s.activeTasks, 'st-tasks'),
        stat('Pending tasks', s.scheduledTasks, 'st-pending'), stat('Late tasks', s.lateTasks, 'st-late', 'bad'),
        stat('Max task lag', Math.round((s.maxTaskLag || 0) / 1000) + ' s', 'st-lag'),
        stat('Active agents', s.activeAgents, 'st-agents'), stat('Deploys', s.numDeploys, 'st-deploys')),
      h('div.grid3', null,
        section('Requests by state', bars([['active', s.activeRequests], ['paused', s.pausedRequests, 'warn'],
          ['cooldown', s.cooldownRequests, 'bad'], ['finished', s.finishedRequests], ['pending', s.pendingRequests, 'warn'],
          ['cleaning', s.cleaningRequests, 'warn']])),
        section('Tasks by state', bars([['active', s.activeTasks], ['launching', s.launchingTasks, 'warn'],
          ['scheduled', s.scheduledTasks], ['late', s.lateTasks, 'bad'], ['cleaning', s.cleaningTasks, 'warn'],
          ['lb cleanup', s.lbCleanupTasks, 'warn']])),
        section('Agents and racks', bars([['agents active', s.activeAgents], ['agents decommissioning', s.decommissioningAgents, 'warn'],
          ['agents dead', s.deadAgents, 'bad'], ['agents unknown', s.unknownAgents, 'warn'], ['racks active', s.activeRacks],
          ['racks decommissioning', s.decommissioningRacks, 'warn'], ['racks dead', s.deadRacks, 'bad']]))),
      section('Replicas', table(['Replica', 'Leader', 'Mesos', 'Address', 'Up'], (s.hostStates || []).map((x) => ({ cells: [
        x.replicaId || x.hostname, x.master ? badge('ACTIVE', 'leader') : 'standby', x.mesosConnected ? badge('ACTIVE', 'connected') : badge('DEAD', 'not connected'),
        x.hostAddress, Math.round((x.uptime || 0) / 1000) + ' s'] })))),
      (s.activeDeploys || []).length ? section('Deploys in progress', table(['Request', 'Deploy', 'Since'], s.activeDeploys.map((d) => ({ cells: [
        h('a', { href: href.request(d.requestId) }, d.requestId), h('a', { href: href.deploy(d.requestId, d.deployId) }, d.deployId), fmtAgo(d.timestamp)] })))) : null,
      (s.listLateTasks || []).length ? section('Late tasks', table(['Pending task', 'Type', 'Due'], s.listLateTasks.map((t) => ({ cells: [
        h('a', { href: href.request(t.requestId) }, t.id), t.pendingType, fmtAgo(t.nextRunAt)] })))) : null));
  }

  // At most one /api/state a second, however fast things change.
  const unsub = watch.on(() => {
    if (timer) return;
    timer = setTimeout(() => { timer = null; load().catch(() => {}); }, Math.max(0, 1000 - (Date.now() - last)));
  });
  await load();
  return () => { stopped = true; unsub(); clearTimeout(timer); };
}
