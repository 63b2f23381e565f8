// Deploy: one deploy's definition, its progress (while pending) or result,
// and the tasks it ran. Live from /api/watch.

import { h, replace, morph, badge, href, kv, section, table, fmtTime, debounce } from '../js/dom.js';
import { get, enc, ApiError } from '../js/api.js';
import * as watch from '../js/watch.js';

export async function render(root, { rid, did }, ctx) {
  let stopped = false;

  async function load() {
    const hist = '/api/history/request/' + enc(rid);
    const [parent, d, active, done] = await Promise.all([
      get('/api/requests/request/' + enc(rid)).catch(() => null),
      get(hist + '/deploy/' + enc(did)).catch((e) => { if (e instanceof ApiError && e.status === 404) return null; throw e; }),
      get(hist + '/tasks/active').catch(() => []),
      get(hist + '/tasks?count=200').catch(() => []),
    ]);
    if (stopped) return;
    const pds = parent && parent.pendingDeployState && parent.pendingDeployState.deployMarker &&
      parent.pendingDeployState.deployMarker.deployId === did ? parent.pendingDeployState : null;
    const isActive = parent && parent.requestDeployState && parent.requestDeployState.activeDeploy &&
      parent.requestDeployState.activeDeploy.deployId === did;
    const deploy = (d && d.deploy) || (pds && parent.pendingDeploy) || (isActive && parent.activeDeploy) || null;
    if (!d && !deploy) {
      replace(root, h('div.card', null, h('h2', null, did), h('p', null, 'No such deploy of ' + rid + '.')));
      return;
    }
    const result = d && d.deployResult;
    const state = pds ? pds.currentDeployState : result ? result.deployState : isActive ? 'SUCCEEDED' : 'PENDING';
    const want = (parent && parent.request && parent.request.instances) || 1;
    const target = pds && pds.deployProgress ? pds.deployProgress.targetActiveInstances || 0 : null;
    const mine = (x) => x.taskId.deployId === did;
    const tasks = [...active.filter(mine), ...done.filter(mine)];
    let progress = null;
    if (pds) {
      const running = active.filter(mine).filter((x) => x.lastTaskState === 'TASK_RUNNING').length;
      const bar = h('div.progress', null, h('div'));
      bar.firstChild.style.width = Math.min(100, (100 * running) / want) + '%';
      progress = section('Progress', kv([
        ['State', badge(state)], ['Target', `${target}/${want} instances`],
        ['Running', h('span', { id: 'deploy-running' }, `${running}/${want}`)], ['', bar]]));
    }
    morph(root, h('div.page.deploy', { 'data-deploy': did },
      h('div.header', null, h('h1', null, did), badge(state, 'deploy state'), h('span.sub', null, 'of '), h('a', { href: href.request(rid) }, rid)),
      progress,
      h('div.grid2', null,
        section('Deploy', kv([
          ['Command', h('code', null, deploy ? [deploy.command, ...(deploy.arguments || [])].filter(Boolean).join(' ') : '—')],
          deploy && deploy.resources ? ['Resources', `${deploy.resources.cpus ?? '—'} cpus, ${deploy.resources.memoryMb ?? '—'} MB, ${deploy.resources.numPorts ?? 0} ports`] : null,
          deploy && deploy.healthcheck ? ['Health check', h('code', null, JSON.stringify(deploy.healthcheck))] : null,
          ['Submitted', fmtTime((d && d.deployMarker && d.deployMarker.timestamp) || (deploy && deploy.timestamp))],
          ['By', (d && d.deployMarker && d.deployMarker.user) || '—'],
        ]), deploy ? h('details', null, h('summary', null, 'JSON'), h('pre.json', null, JSON.stringify(deploy, null, 2))) : null),
        section('Result', result ? kv([['State', badge(result.deployState)], ['Message', result.message || '—'], ['When', fmtTime(result.timestamp)],
          (result.deployFailures || []).length ? ['Failures', h('ul', null, result.deployFailures.map((f) => h('li', null, [f.reason, f.taskId && f.taskId.id, f.message].filter(Boolean).join(': '))))] : null])
          : h('p.muted', null, pds ? 'In progress.' : 'No result recorded.'))),
      section('Tasks of this deploy', h('div.tablewrap', null, table(['Task', 'Instance', 'Host', 'State', 'Updated'], tasks.map((x) => ({ cells: [
        h('a', { href: href.task(x.taskId.id) }, x.taskId.id), String(x.taskId.instanceNo), x.taskId.host, badge(x.lastTaskState), fmtTime(x.updatedAt)] })),
      { cls: 'deploy-tasks', empty: 'no tasks' })))));
  }

  const reload = debounce(() => load().catch(() => {}), 150);
  const unsub = watch.on((ev) => { if (ev.type === 'RESYNC' || ev.rid === rid) reload(); });
  await load();
  return () => { stopped = true; unsub(); };
}
