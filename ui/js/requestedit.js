// The request editor: new requests (from the Requests page) and edits of
// an existing one (its page). A form for the common fields over the whole
// Singularity request object, or that object as JSON; POST /api/requests
// creates or replaces it (Singularity's semantics: the body is the whole
// request). The server's problems are shown inline and the editor stays
// open until the request is accepted or the user gives up.

import { h, dialog, field, toast } from './dom.js';
import { api } from './api.js';

const TYPES = ['SERVICE', 'WORKER', 'SCHEDULED', 'ON_DEMAND', 'RUN_ONCE'];
const LONG = ['SERVICE', 'WORKER'];

function fields(r) {
  const inp = (id, value, attrs = {}) => h('input', Object.assign({ id, value: value ?? '', autocomplete: 'off' }, attrs));
  return {
    id: inp('rf-id', r.id, { required: true }),
    type: h('select', { id: 'rf-type' }, TYPES.map((t) => h('option', { value: t, selected: r.requestType === t ? '' : undefined }, t))),
    instances: inp('rf-instances', r.instances, { inputmode: 'numeric', placeholder: '1' }),
    schedule: inp('rf-schedule', r.schedule || r.quartzSchedule, { placeholder: 'cron, e.g. 0 3 * * *' }),
    zone: inp('rf-zone', r.scheduleTimeZone, { placeholder: 'UTC' }),
    owners: inp('rf-owners', (r.owners || []).join(', '), { placeholder: 'user or email, comma separated' }),
    group: inp('rf-group', r.group),
    lb: h('input', { type: 'checkbox', id: 'rf-lb', checked: !!r.loadBalanced }),
  };
}

// r with the form's values over it; throws on a bad value.
function read(f, r) {
  const o = JSON.parse(JSON.stringify(r));
  const set = (k, v) => { if (v === undefined || v === '') delete o[k]; else o[k] = v; };
  set('id', f.id.value.trim());
  set('requestType', f.type.value);
  if (LONG.includes(o.requestType)) {
    const n = f.instances.value.trim() === '' ? undefined : Number(f.instances.value);
    if (n !== undefined && (!Number.isInteger(n) || n < 0)) throw new Error('instances: a whole number');
    set('instances', n);
  } else {
    delete o.instances;
  }
  if (o.requestType === 'SCHEDULED') {
    if (!f.schedule.value.trim()) throw new Error('schedule: required for a SCHEDULED request');
    delete o.quartzSchedule;
    set('schedule', f.schedule.value.trim());
    set('scheduleTimeZone', f.zone.value.trim());
  } else {
    delete o.schedule; delete o.quartzSchedule; delete o.scheduleTimeZone;
  }
  const owners = f.owners.value.split(',').map((s) => s.trim()).filter(Boolean);
  set('owners', owners.length ? owners : undefined);
  set('group', f.group.value.trim());
  if (o.requestType === 'SERVICE') set('loadBalanced', f.lb.checked || undefined);
  else delete o.loadBalanced;
  return o;
}

// Opens the editor for r (a request object; {} for a new one). Resolves
// with the API's answer once accepted, null if the user gives up.
export async function requestDialog(r, { edit = false } = {}) {
  let obj = r;
  let mode = 'form';
  let problems = [];
  for (;;) {
    const f = fields(obj);
    if (edit) f.id.readOnly = true; // a request's id never changes
    const ta = h('textarea.code', { id: 'request-json', spellcheck: 'false', rows: 16 }, JSON.stringify(obj, null, 2));
    const sched = h('div.row', null, field('Schedule', f.schedule), field('Time zone', f.zone));
    const inst = field('Instances', f.instances);
    const lb = h('label.check', null, f.lb, 'load balanced (docs: loadbalancing)');
    const typeChanged = () => {
      sched.hidden = f.type.value !== 'SCHEDULED';
      inst.hidden = !LONG.includes(f.type.value);
      lb.hidden = f.type.value !== 'SERVICE';
    };
    f.type.addEventListener('change', typeChanged);
    typeChanged();
    const form = h('div.request-form', null, h('div.row', null, field('Request id', f.id), field('Type', f.type)),
      inst, sched, field('Owners', f.owners), field('Group', f.group), lb);
    const err = h('p.error', { hidden: true });
    const tabs = h('div.tabs', { role: 'tablist' });
    const show = () => {
      form.hidden = mode !== 'form';
      ta.hidden = mode !== 'json';
      tabs.querySelectorAll('button').forEach((b) => b.classList.toggle('current', b.dataset.mode === mode));
    };
    const leave = () => {
      if (mode === 'form') obj = read(f, obj);
      else {
        try { obj = JSON.parse(ta.value); } catch (e) { throw new Error('not JSON: ' + e.message); }
      }
    };
    for (const m of ['form', 'json']) {
      tabs.append(h('button.tab', { type: 'button', id: 'request-mode-' + m, 'data-mode': m, onclick: () => {
        if (m === mode) return;
        try { leave(); } catch (e) { err.hidden = false; err.textContent = e.message; return; }
        err.hidden = true;
        if (m === 'json') ta.value = JSON.stringify(obj, null, 2);
        else {
          const g = fields(obj);
          for (const k of Object.keys(f)) {
            if (k === 'lb') f.lb.checked = g.lb.checked;
            else f[k].value = g[k].value;
          }
          typeChanged();
        }
        mode = m;
        show();
      } }, m === 'form' ? 'Form' : 'JSON'));
    }
    show();
    const probs = problems.length ? h('ul.problems', { id: 'request-problems' }, problems.map((p) => h('li', null, p))) : null;
    const body = await dialog({
      title: edit ? 'Edit request ' + r.id : 'New request', ok: edit ? 'Save' : 'Create',
      body: h('div.request-editor', null, tabs, err, probs, form, ta,
        h('p.muted', null, 'POST /api/requests with the whole request; the server validates it.')),
      collect: () => { leave(); return obj; },
    });
    if (!body) return null;
    try {
      const out = await api('POST', '/api/requests', body);
      toast((edit ? 'Saved ' : 'Created ') + body.id, 'ok');
      return out;
    } catch (e) {
      problems = e.problems && e.problems.length ? e.problems : [e.message];
    }
  }
}
