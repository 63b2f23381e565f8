// GitOps Sources (docs/gitops.md): each Source's repository, synced and
// fetched commit, conditions (Synced, Drifted, Failed with a refused
// commit's file:line problems), the last sync's changes, the drift, and
// the requests it created; "Sync now" asks for a fetch at once. Live from
// /api/watch.

import { h, replace, morph, href, section, kv, fmtAgo, condBadge, toast, debounce } from '../js/dom.js';
import { get, api, enc } from '../js/api.js';
import * as watch from '../js/watch.js';

const short = (c) => (c ? c.slice(0, 12) : '—');

function list(items, empty) {
  return items && items.length ? h('ul.plain', null, items.map((x) => h('li', null, h('code', null, x)))) : h('span.muted', null, empty);
}

function card(p, sync) {
  const s = p.source || {};
  const st = p.status || {};
  const conds = st.conditions || [];
  const failed = conds.find((c) => c.type === 'Failed' && c.status === 'True');
  return h('section.card.source', { 'data-source': s.name },
    h('div.header', null, h('h2', null, s.name),
      h('span.conds', null, conds.map((c) => [condBadge(c), ' '])),
      h('span.grow'),
      h('button', { 'data-act': 'sync', onclick: () => sync(s.name) }, 'Sync now')),
    p.problems ? h('div.card.error', { role: 'alert' }, h('pre', null, p.problems)) : null,
    failed ? h('div.card.error.source-failed', { role: 'alert' }, h('strong', null, failed.reason + ': '), h('pre', null, failed.message || '')) : null,
    h('div.grid2', null,
      kv([
        ['Repository', h('code', null, s.repository || '—')],
        ['Ref', s.ref || 'HEAD'],
        ['Path', s.path || '.'],
        ['Interval', s.interval || '60s'],
        ['Prune', s.prune ? 'yes' : 'no'],
        ['Self-heal', s.selfHeal ? 'yes' : 'no'],
      ]),
      kv([
        ['Synced commit', [h('code.synced-commit', { title: st.commit || '' }, short(st.commit)), ' ', h('span.muted', null, fmtAgo(st.syncedAt))]],
        ['Fetched commit', [h('code', { title: st.fetchedCommit || '' }, short(st.fetchedCommit)), ' ', h('span.muted', null, fmtAgo(st.fetchedAt))]],
        ['Requests', (st.requests || []).length
          ? h('span.source-requests', null, st.requests.map((r) => [h('a', { href: href.request(r) }, r), ' ']))
          : '—'],
      ])),
    h('div.grid2', null,
      h('div', null, h('h3', null, 'Last changes'), list(st.changes, 'none')),
      h('div.source-drift', null, h('h3', null, 'Drift'), list(st.drift, 'none'))));
}

export async function render(root, params, ctx) {
  let stopped = false;

  async function sync(name) {
    try {
      await api('POST', '/api/sources/source/' + enc(name) + '/sync');
      toast(`source ${name}: sync requested`, 'ok');
    } catch (e) {
      toast(`sync failed: ${e.message}`, 'error');
    }
  }

  async function load() {
    const sources = await get('/api/sources');
    if (stopped) return;
    morph(root, h('div.page.sources', null,
      h('div.header', null, h('h1', null, 'Sources'), h('span.sub', null, `${sources.length} GitOps source${sources.length === 1 ? '' : 's'}`)),
      sources.length ? sources.map((p) => card(p, sync))
        : section('Sources', h('p', null, 'No Source yet: see docs/gitops.md (corralctl source add NAME --repo URL).'))));
  }

  const reload = debounce(() => load().catch(() => {}), 200);
  const unsub = watch.on((ev) => {
    if (ev.type === 'RESYNC' || ['sources', 'status/sources'].includes(ev.kind)) reload();
  });
  await load();
  return () => { stopped = true; unsub(); };
}

// The "Managed by" row of a request or deploy (its GitOps annotations), or null.
export function managedBy(doc) {
  const a = (doc && doc.annotations) || {};
  const src = a['corral.io/source'];
  if (!src) return null;
  return ['Managed by', h('span.managed-by', null, 'source ', h('a', { href: '#/sources' }, src),
    a['corral.io/commit'] ? [' at ', h('code', { title: a['corral.io/commit'] }, short(a['corral.io/commit']))] : null)];
}
