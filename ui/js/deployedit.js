// The new-deploy editor: a form for the common fields, or the whole deploy
// object as JSON or YAML. The server validates; its problems are shown next
// to the editor, which stays open until the deploy is accepted or the user
// gives up. Form and JSON convert both ways; YAML is made from them, and
// YAML the user edited is sent as written (Content-Type application/yaml),
// since the browser has no YAML reader: switching away from it drops the
// edits, after asking.

import { h, dialog, field, toast } from './dom.js';
import { api } from './api.js';

// ---- JSON -> YAML (block style) -----------------------------------------------

const PLAIN = /^[A-Za-z_./@][A-Za-z0-9_./@ -]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|~|y|n)$/i;

function yamlScalar(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v !== 'string') return String(v);
  if (PLAIN.test(v) && !RESERVED.test(v) && v.trim() === v && !v.includes(' #') && !v.includes(': ')) return v;
  return JSON.stringify(v); // a JSON string is a YAML double-quoted scalar
}

const isBox = (v) => v !== null && typeof v === 'object';
const isEmptyBox = (v) => (Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0);

export function toYaml(v, ind = '') {
  if (!isBox(v)) return ind + yamlScalar(v) + '\n';
  if (isEmptyBox(v)) return ind + (Array.isArray(v) ? '[]' : '{}') + '\n';
  let out = '';
  if (Array.isArray(v)) {
    for (const x of v) {
      if (isBox(x) && !isEmptyBox(x)) {
        const inner = toYaml(x, ind + '  ');
        out += ind + '- ' + inner.slice(ind.length + 2);
      } else {
        out += ind + '- ' + (isBox(x) ? (Array.isArray(x) ? '[]' : '{}') : yamlScalar(x)) + '\n';
      }
    }
    return out;
  }
  for (const [k, x] of Object.entries(v)) {
    const key = yamlScalar(String(k));
    if (isBox(x) && !isEmptyBox(x)) out += ind + key + ':\n' + toYaml(x, ind + '  ');
    else out += ind + key + ': ' + (isBox(x) ? (Array.isArray(x) ? '[]' : '{}') : yamlScalar(x)) + '\n';
  }
  return out;
}

// ---- the form's fields <-> the deploy object ---------------------------------------

const num = (s) => (s.trim() === '' ? undefined : Number(s));

function formFields(d) {
  const res = d.resources || {};
  const hc = d.healthcheck || {};
  const env = Object.entries(d.env || {}).map(([k, v]) => k + '=' + v).join('\n');
  const inp = (id, value, attrs = {}) => h('input', Object.assign({ id, value: value ?? '' }, attrs));
  return {
    id: inp('df-id', d.id, { required: true, autocomplete: 'off' }),
    command: inp('df-command', d.command),
    cpus: inp('df-cpus', res.cpus, { inputmode: 'decimal' }),
    mem: inp('df-mem', res.memoryMb, { inputmode: 'numeric' }),
    ports: inp('df-ports', res.numPorts, { inputmode: 'numeric' }),
    hc: inp('df-hc-uri', hc.uri, { placeholder: '/health (HTTP check on the first port)' }),
    step: inp('df-step', d.deployInstanceCountPerStep, { inputmode: 'numeric', placeholder: 'all at once' }),
    env: h('textarea.code', { id: 'df-env', rows: 3, spellcheck: 'false', placeholder: 'KEY=value, one per line' }, env),
  };
}

// The object with the form's values over it; throws on a bad value.
function readForm(f, base) {
  const d = JSON.parse(JSON.stringify(base));
  const set = (o, k, v) => { if (v === undefined || v === '') delete o[k]; else o[k] = v; };
  set(d, 'id', f.id.value.trim());
  set(d, 'command', f.command.value);
  const res = Object.assign({}, d.resources);
  for (const [k, el] of [['cpus', f.cpus], ['memoryMb', f.mem], ['numPorts', f.ports]]) {
    const n = num(el.value);
    if (n !== undefined && !Number.isFinite(n)) throw new Error(k + ': a number');
    set(res, k, n);
  }
  d.resources = res;
  const uri = f.hc.value.trim();
  if (uri) d.healthcheck = Object.assign({}, d.healthcheck, { uri });
  else if (d.healthcheck) delete d.healthcheck.uri;
  if (d.healthcheck && Object.keys(d.healthcheck).length === 0) delete d.healthcheck;
  const step = num(f.step.value);
  if (step !== undefined && !Number.isInteger(step)) throw new Error('instances per step: a whole number');
  set(d, 'deployInstanceCountPerStep', step);
  const env = {};
  for (const line of f.env.value.split('\n')) {
    if (!line.trim()) continue;
    const i = line.indexOf('=');
    if (i <= 0) throw new Error('environment: "' + line + '" is not KEY=value');
    env[line.slice(0, i).trim()] = line.slice(i + 1);
  }
  set(d, 'env', Object.keys(env).length ? env : undefined);
  return d;
}

// ---- the dialog ----------------------------------------------------------------------

export async function deployDialog(rid, base) {
  let obj = base;            // the deploy as last read from the form or JSON
  let mode = 'form';
  let yamlText = null;       // what the YAML tab shows
  let yamlEdited = false;
  let problems = [];
  for (;;) {
    const f = formFields(obj);
    const ta = h('textarea.code', { id: 'deploy-json', spellcheck: 'false', rows: 18 }, JSON.stringify(obj, null, 2));
    const ya = h('textarea.code', { id: 'deploy-yaml', spellcheck: 'false', rows: 18 }, yamlText ?? toYaml(obj));
    ya.addEventListener('input', () => { yamlEdited = true; });
    const unpause = h('input', { type: 'checkbox', id: 'deploy-unpause' });
    const panes = {
      form: h('div.deploy-form', null,
        field('Deploy id', f.id, 'new for this request: letters, digits, _ and .'),
        field('Command', f.command, 'run by the shell; empty for an image\'s entrypoint'),
        h('div.row', null, field('CPUs', f.cpus), field('Memory (MB)', f.mem), field('Ports', f.ports)),
        field('Health check path', f.hc), field('Instances per step', f.step), field('Environment', f.env)),
      json: ta,
      yaml: ya,
    };
    const err = h('p.error', { id: 'deploy-mode-error', hidden: true });
    const tabs = h('div.tabs', { role: 'tablist' });
    const show = () => {
      for (const [m, pane] of Object.entries(panes)) pane.hidden = m !== mode;
      tabs.querySelectorAll('button').forEach((b) => b.classList.toggle('current', b.dataset.mode === mode));
    };
    // Leaving a mode reads it into obj; an error keeps the user there.
    const leave = () => {
      if (mode === 'form') obj = readForm(f, obj);
      else if (mode === 'json') {
        try { obj = JSON.parse(ta.value); } catch (e) { throw new Error('not JSON: ' + e.message); }
      }
    };
    for (const m of ['form', 'json', 'yaml']) {
      tabs.append(h('button.tab', { type: 'button', id: 'deploy-mode-' + m, 'data-mode': m, onclick: () => {
        if (m === mode) return;
        try {
          if (mode === 'yaml' && yamlEdited) {
            if (!window.confirm('Drop your YAML edits? (The browser cannot read YAML back into the form.)')) return;
            yamlEdited = false;
          }
          leave();
        } catch (e) { err.hidden = false; err.textContent = e.message; return; }
        err.hidden = true;
        yamlText = null;
        if (m === 'form') { const g = formFields(obj); for (const k of Object.keys(f)) { f[k].value = g[k].value; } }
        if (m === 'json') ta.value = JSON.stringify(obj, null, 2);
        if (m === 'yaml') ya.value = toYaml(obj);
        mode = m;
        show();
      } }, m === 'form' ? 'Form' : m.toUpperCase()));
    }
    show();
    const probs = problems.length ? h('ul.problems', { id: 'deploy-problems' }, problems.map((p) => h('li', null, p))) : null;
    const r = await dialog({
      title: 'New deploy of ' + rid, ok: 'Deploy',
      body: h('div.deploy-editor', null, tabs, err, probs, panes.form, panes.json, panes.yaml,
        h('label.check', null, unpause, 'unpause the request when it succeeds')),
      collect: () => {
        if (mode === 'yaml') {
          yamlText = ya.value;
          return { yaml: ya.value, unpause: unpause.checked };
        }
        leave();
        yamlText = null;
        return { deploy: obj, unpause: unpause.checked };
      },
    });
    if (!r) return null;
    try {
      let out;
      if (r.yaml !== undefined) {
        // The user's YAML goes under `deploy:` as written, indented.
        const body = 'deploy:\n' + r.yaml.replace(/^---\s*\n/, '').split('\n').map((l) => (l ? '  ' + l : l)).join('\n') +
          (r.unpause ? '\nunpauseOnSuccessfulDeploy: true\n' : '\n');
        out = await api('POST', '/api/deploys', body, { yaml: true });
      } else {
        out = await api('POST', '/api/deploys', { deploy: r.deploy, unpauseOnSuccessfulDeploy: r.unpause || undefined });
      }
      const did = out && out.pendingDeploy ? out.pendingDeploy.id : (r.deploy && r.deploy.id) || '';
      toast('Deploy ' + did + ' started', 'ok');
      return out;
    } catch (e) {
      problems = e.problems && e.problems.length ? e.problems : [e.message];
    }
  }
}
