// One live change stream per tab: GET /api/watch (server-sent events) read
// with fetch(), so it carries the Authorization header (EventSource cannot
// send headers, and a token in the URL would end up in logs). Pages
// subscribe with on(fn); fn gets parsed events {type, key, kind, rid, id2,
// value, rev}. A broken stream reconnects from the last revision seen, so
// nothing is missed; when that history is gone (compacted) subscribers get
// {type: 'RESYNC'} and reload what they show.

import { stream } from './api.js';

const subs = new Set();
const statusSubs = new Set();
let lastRev = 0;
let ctrl = null;
let backoff = 500;
let state = 'closed';
let started = false;

export function on(fn) {
  subs.add(fn);
  ensure();
  return () => subs.delete(fn);
}

export function onStatus(fn) {
  statusSubs.add(fn);
  fn(state);
  return () => statusSubs.delete(fn);
}

function setState(s) {
  state = s;
  statusSubs.forEach((fn) => fn(s));
}

export function restart() {
  if (ctrl) ctrl.abort();
  ctrl = null;
  lastRev = 0;
  started = false;
  ensure();
}

export function stop() {
  started = true; // no reconnect
  if (ctrl) ctrl.abort();
  ctrl = null;
  setState('closed');
}

function ensure() {
  if (started) return;
  started = true;
  connect();
}

// Kinds with two ids after the kind name, then kinds with one; the longest
// names first ("status/requests" before "requests"). A key is the prefix
// followed by one of these, so it is parsed from its end.
const KINDS2 = ['intents/deploys', 'status/deploys', 'status/runs', 'status/pending', 'history/tasks',
  'history/deploys', 'history/requests', 'intents/requests', 'lbcleanups', 'deploys', 'tasks', 'pending', 'runs'];
const KINDS1 = ['status/requests', 'status/jobs', 'intents/agents', 'intents/racks', 'auth/tokens',
  'auth/login-codes', 'users/settings', 'status/lb', 'status/sources', 'intents/sources', 'requests', 'cleanups',
  'agents', 'racks', 'sources'];

export function parseKey(key) {
  const parts = key.split('/');
  const tryKind = (kinds, nids) => {
    for (const k of kinds) {
      const kp = k.split('/');
      const at = parts.length - nids - kp.length;
      if (at < 1) continue;
      if (kp.every((p, i) => parts[at + i] === p)) {
        const ids = parts.slice(at + kp.length);
        return { kind: k, id1: ids[0], id2: ids[1] };
      }
    }
    return null;
  };
  // intents/deploys has three ids (rid, did, kind)
  const n = parts.length;
  if (n >= 5 && parts[n - 5] === 'intents' && parts[n - 4] === 'deploys')
    return { kind: 'intents/deploys', id1: parts[n - 3], id2: parts[n - 2] };
  return tryKind(KINDS2, 2) || tryKind(KINDS1, 1) || { kind: 'other' };
}

// The request a key belongs to, when it has one.
function requestOf(p) {
  if (p.kind === 'cleanups') return taskRequest(p.id1);
  if (['agents', 'racks', 'intents/agents', 'intents/racks', 'auth/tokens', 'auth/login-codes',
    'users/settings', 'sources', 'status/sources', 'intents/sources', 'other'].includes(p.kind)) return null;
  return p.id1;
}

// Task ids are <requestId>-<deployId>-<startedAt>-<instanceNo>-<host>-<rackId>;
// request ids may hold '-', deploy ids never do. Best effort.
export function taskRequest(taskId) {
  const m = /^(.*)-[A-Za-z0-9_.]+-\d{10,}-\d+-/.exec(taskId || '');
  return m ? m[1] : null;
}

async function connect() {
  ctrl = new AbortController();
  const mine = ctrl;
  setState('connecting');
  const q = lastRev ? '?revision=' + (lastRev + 1) : '';
  const dec = new TextDecoder();
  let buf = '';
  try {
    await stream('/api/watch' + q, {
      signal: mine.signal,
      onOpen: () => { setState('live'); backoff = 500; },
      onChunk: (bytes) => {
        buf += dec.decode(bytes, { stream: true });
        let at;
        while ((at = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, at);
          buf = buf.slice(at + 2);
          handle(block);
        }
      },
    });
  } catch (e) {
    if (mine.signal.aborted) return;
  }
  if (mine !== ctrl) return;
  setState('reconnecting');
  setTimeout(() => { if (mine === ctrl) connect(); }, backoff);
  backoff = Math.min(backoff * 2, 10000);
}

function handle(block) {
  let event = 'message';
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) event = line.slice(7);
    else if (line.startsWith('data: ')) data += line.slice(6);
  }
  if (!data) return;
  let d;
  try { d = JSON.parse(data); } catch { return; }
  if (event === 'error') {
    lastRev = 0; // compacted: start over from now, and reload
    emit({ type: 'RESYNC' });
    return;
  }
  if (d.modRevision) lastRev = Math.max(lastRev, d.modRevision);
  const p = parseKey(d.key || '');
  emit({ type: d.type, key: d.key, kind: p.kind, id1: p.id1, id2: p.id2, rid: requestOf(p), value: d.value, rev: d.modRevision });
}

function emit(ev) {
  for (const fn of [...subs]) {
    try { fn(ev); } catch (e) { console.error(e); }
  }
}
