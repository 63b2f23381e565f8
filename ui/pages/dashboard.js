// Dashboard: the requests the caller owns (an owner entry naming their id
// or email, or their group) or starred, with their health at a glance.
// Stars are kept per user in etcd (/api/users/settings).

import { h, replace, badge, href, section, table, toast } from '../js/dom.js';
import { whoami, starred, toggleStar, onStars } from '../js/api.js';
import { LiveRequests } from './requests.js';

export async function render(root, params, ctx) {
  const me = await whoami().catch(() => ({ user: { id: 'anonymous', groups: [] } }));
  const user = me.user || {};
  let stars = await starred();
  const live = new LiveRequests(() => draw());
  let sel = 0;
  let rowsShown = [];

  const owns = (r) => {
    const owners = r.owners.split(', ').filter(Boolean);
    return owners.includes(user.id) || (user.email && owners.includes(user.email)) ||
      (r.group && (user.groups || []).includes(r.group));
  };
  const health = (r) => {
    if (r.notReady.length) return badge('FAILED', r.notReady.join('\n'));
    if (r.pendingDeploy) return badge('PENDING', 'deploy ' + r.pendingDeploy + ' in progress');
    if (r.instances !== null && r.running < r.instances && ['SERVICE', 'WORKER'].includes(r.type)) return badge('WAITING', `${r.running}/${r.instances} running`);
    return badge('HEALTHY');
  };

  function list(title, rows, cls) {
    return section(title, table(['', 'Request', 'Type', 'State', 'Health', 'Instances', 'Deploy'], rows.map((r) => ({
      attrs: { 'data-request': r.id, class: rowsShown.indexOf(r) === sel ? 'selected' : null },
      cells: [h('button.star' + (stars.has(r.id) ? '.on' : ''), { onclick: () => star(r.id), 'aria-label': 'star ' + r.id }, stars.has(r.id) ? '★' : '☆'),
        h('a', { href: href.request(r.id) }, r.id), r.type, badge(r.state), health(r),
        r.instances === null ? String(r.running) : `${r.running}/${r.instances}`, r.pendingDeploy ? r.activeDeploy + ' → ' + r.pendingDeploy : r.activeDeploy || '—'],
    })), { cls, empty: cls === 'starred' ? 'no starred requests: star one with ☆ in the request list (or press s)' : 'none' }));
  }

  function draw() {
    const all = [...live.map.values()].sort((a, b) => a.id.localeCompare(b.id));
    const starredRows = all.filter((r) => stars.has(r.id));
    const owned = all.filter((r) => owns(r) && !stars.has(r.id));
    rowsShown = [...starredRows, ...owned];
    sel = Math.min(sel, Math.max(0, rowsShown.length - 1));
    const bad = rowsShown.filter((r) => r.notReady.length || r.state === 'SYSTEM_COOLDOWN').length;
    replace(root, h('div.page.dashboard', null,
      h('div.header', null, h('h1', null, 'Dashboard'), h('span.sub', null, user.id || ''),
        h('span.sub', { id: 'dash-summary' }, `${rowsShown.length} requests, ${bad} need attention`)),
      list('Starred', starredRows, 'starred'),
      list('Owned by you or your groups', owned, 'owned')));
  }

  async function star(id) {
    try { await toggleStar(id); } catch (e) { toast('Star failed: ' + e.message, 'error'); }
  }

  const unStars = onStars((s) => { stars = s; draw(); });
  ctx.keys({
    move: (d) => { sel = Math.max(0, Math.min(rowsShown.length - 1, sel + d)); draw(); },
    open: () => { if (rowsShown[sel]) location.hash = href.request(rowsShown[sel].id); },
    star: () => { if (rowsShown[sel]) star(rowsShown[sel].id); },
  });
  live.start();
  await live.load();
  return () => { live.stop(); unStars(); };
}
