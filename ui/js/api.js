// The REST API, with the caller's token. The token lives in sessionStorage
// (this tab only, gone when it closes) and travels only in the
// Authorization header, never in a URL.

const KEY = 'corral.token';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || 'HTTP ' + status);
    this.status = status;
    this.problems = (body && body.problems) || [];
  }
}

export const auth = {
  token: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
  onUnauthorized: () => {},
};

export function headers(extra) {
  const hd = Object.assign({}, extra);
  const t = auth.token();
  if (t) hd.Authorization = 'Bearer ' + t;
  return hd;
}

export async function api(method, path, body, opts = {}) {
  const init = { method, headers: headers(), cache: 'no-store', signal: opts.signal };
  if (body !== undefined) {
    // opts.yaml: body is YAML text, sent as written
    init.body = opts.yaml ? body : JSON.stringify(body);
    init.headers['Content-Type'] = opts.yaml ? 'application/yaml' : 'application/json';
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let doc = null;
  if (text.trim()) {
    try { doc = JSON.parse(text); } catch { doc = { message: text }; }
  }
  if (r.status === 401 && !opts.noLogin) auth.onUnauthorized();
  if (!r.ok) throw new ApiError(r.status, doc);
  return doc;
}

// A streaming GET (chunked text, server-sent events) with the caller's
// token, read with a ReadableStream reader: opts.onOpen() once the answer
// is a 2xx, then opts.onChunk(bytes) with each piece of the body as it
// arrives (a Uint8Array, cut anywhere, even inside a character). Resolves
// when the server ends the body. Rejects with an ApiError (its JSON message
// when it has one) when the answer is not a 2xx, and with fetch's error when
// the connection breaks or opts.signal aborts it. Never asks for a login:
// the caller decides what a 401 means.
export async function stream(path, opts) {
  const r = await fetch(path, { headers: headers(), signal: opts.signal, cache: 'no-store' });
  if (!r.ok) {
    const text = await r.text().catch(() => '');
    let doc = null;
    if (text.trim()) {
      try { doc = JSON.parse(text); } catch { doc = { message: text }; }
    }
    throw new ApiError(r.status, doc);
  }
  if (opts.onOpen) opts.onOpen();
  const reader = r.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    opts.onChunk(value);
  }
}

export const get = (p, o) => api('GET', p, undefined, o);
export const post = (p, b, o) => api('POST', p, b === undefined ? {} : b, o);
export const put = (p, b, o) => api('PUT', p, b, o);
export const del = (p, b, o) => api('DELETE', p, b, o);

export const enc = encodeURIComponent;

// The caller: {user: {id, groups...}, authEnabled, admin}; cached per page load.
let me = null;
export async function whoami(force) {
  if (!me || force) me = await get('/api/auth/user', { noLogin: true });
  return me;
}
export function forgetMe() { me = null; }

// Stars (Singularity's /api/users/settings), cached and kept in step.
let stars = null;
const starListeners = new Set();
export async function starred() {
  if (!stars) {
    try {
      stars = new Set((await get('/api/users/settings')).starredRequestIds || []);
    } catch {
      stars = new Set();
    }
  }
  return stars;
}
export function onStars(fn) { starListeners.add(fn); return () => starListeners.delete(fn); }
export async function toggleStar(id) {
  const s = await starred();
  const on = !s.has(id);
  const r = await api(on ? 'POST' : 'DELETE', '/api/users/settings/starred-requests', { starredRequestIds: [id] });
  stars = new Set(r.starredRequestIds || []);
  starListeners.forEach((fn) => fn(stars));
  return on;
}
export function setStars(list) {
  stars = new Set(list || []);
  starListeners.forEach((fn) => fn(stars));
}
