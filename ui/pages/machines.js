// Agents and racks: state, resources used of total, tasks per agent, and
// decommission / freeze / activate (admins). Live from /api/watch.

import { h, replace, morph, badge, href, section, table, fmtAgo, fmtNum, confirmAction, toast, debounce } from '../js/dom.js';
import { get, api, enc } from '../js/api.js';
import * as watch from '../js/watch.js';

function usage(used, total) {
  const bar = h('div.bar', { title: `${fmtNum(used)} of ${fmtNum(total)}` }, h('div'));
  bar.firstChild.style.width = total ? Math.min(100, (100 * used) / total) + '%' : '0';
  return h('div', null, h('small', null, `${fmtNum(used)} / ${fmtNum(total)}`), bar);
}

export async function render(root, { kind }, ctx) {
  let stopped = false;
  const one = kind === 'agents' ? 'agent' : 'rack';
  const path = kind === 'agents' ? '/api/agents/agent/' : '/api/racks/rack/';

  async function change(id, action, state) {
    const url = path + enc(id) + '/' + action;
    const ok = await confirmAction(`${action[0].toUpperCase() + action.slice(1)} ${one} ${id}`,
      h('div', null, h('p', null, `Desired state becomes ${state}. This sends POST ${url}.`),
        action === 'decommission' ? h('p', null, 'Its tasks are moved elsewhere first.') : null), action === 'decommission');
    if (!ok) return;
    try {
      await api('POST', url, { message: 'from the UI' });
      toast(`${one} ${id}: ${action} requested`, 'ok');
      load().catch(() => {});
    } catch (e) {
      toast(`${action} failed: ${e.message}`, 'error');
    }
  }

  function actions(m) {
    const st = (m.currentState && m.currentState.state) || 'ACTIVE';
    const want = m.desiredState && (m.desiredState.state || m.desiredState);
    const b = [];
    if (!/DECOMMISSION/.test(st) && !/DECOMMISSION/.test(want || '')) b.push(h('button', { 'data-act': 'decommission', onclick: () => change(m.id, 'decommission', 'STARTING_DECOMMISSION') }, 'Decommission'));
    if (st === 'ACTIVE' && want !== 'FROZEN') b.push(h('button', { 'data-act': 'freeze', onclick: () => change(m.id, 'freeze', 'FROZEN') }, 'Freeze'));
    if (st !== 'ACTIVE' || (want && want !== 'ACTIVE')) b.push(h('button', { 'data-act': 'activate', onclick: () => change(m.id, 'activate', 'ACTIVE') }, 'Activate'));
    return h('div.actions', null, b);
  }

  async function load() {
    const [list, tasks] = await Promise.all([get('/api/' + kind), get('/api/tasks/active').catch(() => [])]);
    if (stopped) return;
    const by = new Map();
    for (const t of tasks) {
      const k = kind === 'agents' ? t.agentId : (t.rackId || (t.taskId && t.taskId.rackId));
      const u = by.get(k) || { n: 0, cpus: 0, mem: 0 };
      u.n++;
      u.cpus += (t.resources && t.resources.cpus) || 0;
      u.mem += (t.resources && t.resources.memoryMb) || 0;
      by.set(k, u);
    }
    const agentsOf = new Map();
    if (kind === 'racks') {
      for (const a of await get('/api/agents').catch(() => [])) agentsOf.set(a.rackId, (agentsOf.get(a.rackId) || 0) + 1);
    }
    const rows = list.map((m) => {
      const st = (m.currentState && m.currentState.state) || 'UNKNOWN';
      const want = m.desiredState && (m.desiredState.state || m.desiredState);
      const u = by.get(m.id) || { n: 0, cpus: 0, mem: 0 };
      const r = m.resources || {};
      const cells = kind === 'agents'
        ? [h('code', null, m.id), m.host || m.hostname || '—', m.rackId || '—',
          [badge(st), want && want !== st ? h('span.muted', null, ' → ' + want) : null],
          String(u.n), usage(u.cpus, r.cpus), usage(u.mem, r.memoryMb), fmtAgo(m.lastSeenAt), actions(m)]
        : [h('code', null, m.id), [badge(st), want && want !== st ? h('span.muted', null, ' → ' + want) : null],
          String(agentsOf.get(m.id) || 0), String(u.n), fmtAgo(m.lastSeenAt), actions(m)];
      return { attrs: { 'data-machine': m.id }, cells };
    });
    const headers = kind === 'agents'
      ? ['Agent', 'Host', 'Rack', 'State', 'Tasks', 'CPUs used', 'Memory (MB) used', 'Seen', '']
      : ['Rack', 'State', 'Agents', 'Tasks', 'Seen', ''];
    morph(root, h('div.page.machines', null,
      h('div.header', null, h('h1', null, kind === 'agents' ? 'Agents' : 'Racks'), h('span.sub', null, `${list.length} ${kind}`),
        h('a', { href: kind === 'agents' ? href.racks() : href.agents() }, kind === 'agents' ? 'Racks →' : 'Agents →')),
      section(kind === 'agents' ? 'Agents' : 'Racks', h('div.tablewrap', null, table(headers, rows, { cls: kind, empty: 'none known' })))));
  }

  const reload = debounce(() => load().catch(() => {}), 200);
  const unsub = watch.on((ev) => {
    if (ev.type === 'RESYNC' || ['agents', 'racks', 'intents/agents', 'intents/racks', 'tasks'].includes(ev.kind)) reload();
  });
  await load();
  return () => { stopped = true; unsub(); };
}
