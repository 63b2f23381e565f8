// A log viewer. It streams the file through corrald's
// GET /api/logs/task/{taskId}/follow (the task's node agent follows the
// file through rotation and truncation and sends whole lines as the task
// writes them), appending as the bytes arrive. A stream that breaks while
// the task runs is opened again from the end of the last whole line it
// delivered. When no node agent answers for the task (corrald's 502; a
// 404 from a corrald without the route), it reads
// /api/sandbox/{taskId}/read from its offset once a second instead, and
// tries the stream again now and then. Follows the end, stops following when
// the reader scrolls up, numbers lines, highlights a search, jumps to the
// end, downloads the file. stop() (the page's cleanup) ends the stream.

import { h, replace, toast } from './dom.js';
import { get, enc, stream } from './api.js';

const CHUNK = 256 * 1024;
const START_TAIL = 512 * 1024; // a big file opens at its last 512 KiB
const MAX_LINES = 20000;        // lines kept in the page
const POLL_MS = 1000;           // polling: a read a second while the task runs
const RETRY_STREAM_MS = 15000;  // polling: try the stream again this often

export class LogView {
  // live(): whether the task may still write (keep tailing).
  constructor(el, taskId, path, live) {
    this.taskId = taskId;
    this.path = path;
    this.live = live;
    this.offset = 0;
    this.firstLine = 1;
    this.lines = [];
    this.partial = '';
    this.follow = true;
    this.stopped = false;
    this.timer = null;
    this.ctrl = null;          // the stream's AbortController
    this.mode = 'streaming';   // or 'polling'
    this.why = '';             // why it polls
    this.backoff = 500;        // before opening a broken stream again
    this.streamAt = 0;         // polling: when to try the stream again
    this.search = '';
    this.hits = [];
    this.hitAt = -1;
    this.info = h('span.muted', { id: 'log-info' });
    this.followBtn = h('button.follow', { id: 'log-follow', 'aria-pressed': 'true', title: 'follow the end (f)', onclick: () => this.setFollow(!this.follow) }, 'Follow');
    this.searchIn = h('input', { type: 'search', id: 'log-search', placeholder: 'Search the log', 'aria-label': 'search the log' });
    this.box = h('div.log', { id: 'log', tabindex: '0', role: 'log', 'aria-live': 'off' });
    replace(el, h('div.logbar', null, this.followBtn,
      h('button', { id: 'log-end', onclick: () => this.toEnd() }, 'Jump to end'),
      this.searchIn,
      h('button', { id: 'log-next', onclick: () => this.nextHit(1) }, 'Next'),
      h('button', { id: 'log-download', onclick: () => this.download() }, 'Download'),
      this.info), this.box);
    this.searchIn.addEventListener('input', () => this.setSearch(this.searchIn.value));
    this.searchIn.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); this.nextHit(e.shiftKey ? -1 : 1); } });
    this.box.addEventListener('scroll', () => {
      const atEnd = this.box.scrollTop + this.box.clientHeight >= this.box.scrollHeight - 4;
      if (atEnd !== this.follow) this.setFollow(atEnd, true);
    });
  }

  async start() {
    try {
      const dir = this.path.includes('/') ? this.path.slice(0, this.path.lastIndexOf('/')) : '';
      const name = this.path.slice(this.path.lastIndexOf('/') + 1);
      const listing = await get(`/api/sandbox/${enc(this.taskId)}/browse?path=${enc(dir)}`);
      const f = (listing.files || []).find((x) => x.name === name || x.name.endsWith('/' + name));
      if (f && f.size > START_TAIL) {
        this.offset = f.size - START_TAIL;
        this.skipFirst = true; // the first line read is cut
      }
    } catch { /* the stream or read will say */ }
    this.openStream();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ctrl) this.ctrl.abort();
    this.ctrl = null;
  }

  status(extra) {
    const state = this.live() ? (this.follow ? 'following' : 'paused') : 'task finished';
    this.info.dataset.mode = this.mode;
    this.info.textContent = `${this.path}: ${this.offset} bytes, ${state}, ` +
      (this.mode === 'streaming' ? 'streaming' : 'polling' + (this.why ? ' (' + this.why + ')' : '')) +
      (extra ? ' (' + extra + ')' : '');
  }

  // Streams from this.offset. The node agent sends whole lines, so
  // this.offset moves to the end of the last newline received: a stream
  // opened again from there repeats nothing (a partial line is dropped here
  // and comes again whole).
  async openStream() {
    this.timer = null;
    if (this.stopped) return;
    const ctrl = new AbortController();
    const dec = new TextDecoder();
    const live = this.live();
    let at = this.offset;
    let ended = false;
    this.ctrl = ctrl;
    this.partial = '';
    try {
      await stream(`/api/logs/task/${enc(this.taskId)}/follow?path=${enc(this.path)}&offset=${this.offset}` +
        (live ? '' : '&follow=false'), {
        signal: ctrl.signal,
        onOpen: () => {
          this.mode = 'streaming';
          this.why = '';
          this.status();
        },
        onChunk: (bytes) => {
          if (ctrl !== this.ctrl) return;
          const nl = bytes.lastIndexOf(10);
          if (nl >= 0) this.offset = at + nl + 1;
          at += bytes.length;
          this.add(dec.decode(bytes, { stream: true }));
          this.backoff = 500;
          this.status();
        },
      });
      ended = true;
    } catch (e) {
      if (this.stopped || ctrl !== this.ctrl) return;
      if (e.status) { // an answer, not a broken connection: no node agent for it
        this.ctrl = null;
        this.poll(e.message);
        return;
      }
    }
    if (this.stopped || ctrl !== this.ctrl) return;
    this.ctrl = null;
    if (ended && !live) { // a finished task's log, read to its end
      this.flushPartial();
      this.status();
      return;
    }
    // Broken, or ended while the task ran (the node agent restarted, or the
    // task ended: then once more without following, for what is left).
    this.status('reconnecting');
    this.timer = setTimeout(() => this.openStream(), ended && !this.live() ? 0 : this.backoff);
    this.backoff = Math.min(this.backoff * 2, 10000);
  }

  poll(why) {
    this.mode = 'polling';
    this.why = why;
    this.partial = '';
    this.streamAt = Date.now() + RETRY_STREAM_MS;
    this.tick();
  }

  async tick() {
    this.timer = null;
    if (this.stopped) return;
    if (this.live() && Date.now() >= this.streamAt) {
      // the stream starts at a line's start: the held partial line comes again, whole
      this.offset -= new TextEncoder().encode(this.partial).length;
      this.openStream();
      return;
    }
    let more = false;
    try {
      const r = await get(`/api/sandbox/${enc(this.taskId)}/read?path=${enc(this.path)}&offset=${this.offset}&length=${CHUNK}`);
      if (this.stopped) return;
      const data = r.data || '';
      const next = typeof r.nextOffset === 'number' ? r.nextOffset : this.offset + new TextEncoder().encode(data).length;
      if (data) this.add(data);
      more = next - this.offset >= CHUNK;
      this.offset = next;
      if (!more && !this.live()) this.flushPartial();
      this.status();
    } catch (e) {
      this.info.textContent = this.path + ': ' + e.message;
    }
    if (this.stopped) return;
    if (more) this.timer = setTimeout(() => this.tick(), 0);
    else if (this.live()) this.timer = setTimeout(() => this.tick(), POLL_MS);
  }

  // A finished log's last line may have no newline: show it.
  flushPartial() {
    if (!this.partial) return;
    this.add('\n');
  }

  add(data) {
    const text = this.partial + data;
    const parts = text.split('\n');
    this.partial = parts.pop();
    if (this.skipFirst && parts.length) { parts.shift(); this.skipFirst = false; }
    const frag = document.createDocumentFragment();
    for (const line of parts) {
      const n = this.firstLine + this.lines.length;
      this.lines.push(line);
      frag.append(this.lineEl(n, line));
    }
    this.box.append(frag);
    while (this.lines.length > MAX_LINES) {
      this.lines.shift();
      this.firstLine++;
      this.box.firstChild.remove();
    }
    if (this.search) this.findHits();
    if (this.follow) this.box.scrollTop = this.box.scrollHeight;
  }

  lineEl(n, line) {
    const text = h('span.tx');
    this.paintLine(text, line);
    return h('div.line', { 'data-n': n }, h('span.ln', null, String(n)), text);
  }

  paintLine(el, line) {
    replace(el);
    const q = this.search;
    if (!q) { el.textContent = line; return false; }
    let at = 0, i, hit = false;
    const low = line.toLowerCase(), ql = q.toLowerCase();
    while ((i = low.indexOf(ql, at)) >= 0) {
      el.append(line.slice(at, i), h('mark', null, line.slice(i, i + q.length)));
      at = i + q.length;
      hit = true;
    }
    el.append(line.slice(at));
    return hit;
  }

  setSearch(q) {
    this.search = q;
    const rows = this.box.children;
    for (let i = 0; i < rows.length; i++) {
      const hit = this.paintLine(rows[i].lastChild, this.lines[i]);
      rows[i].classList.toggle('hit', hit);
    }
    this.findHits();
    this.hitAt = -1;
  }

  findHits() {
    const ql = this.search.toLowerCase();
    this.hits = [];
    if (!ql) return;
    this.lines.forEach((l, i) => { if (l.toLowerCase().includes(ql)) this.hits.push(i); });
    this.info.dataset.hits = String(this.hits.length);
  }

  nextHit(d) {
    if (!this.hits.length) { toast('No match for ' + this.search); return; }
    this.hitAt = (this.hitAt + d + this.hits.length) % this.hits.length;
    this.setFollow(false);
    this.box.children[this.hits[this.hitAt]].scrollIntoView({ block: 'center' });
  }

  setFollow(on, fromScroll) {
    this.follow = on;
    this.followBtn.setAttribute('aria-pressed', on ? 'true' : 'false');
    if (on && !fromScroll) this.toEnd();
  }

  toEnd() {
    this.follow = true;
    this.followBtn.setAttribute('aria-pressed', 'true');
    this.box.scrollTop = this.box.scrollHeight;
  }

  async download() {
    const parts = [];
    let off = 0;
    try {
      for (let i = 0; i < 256; i++) { // 64 MiB at most
        const r = await get(`/api/sandbox/${enc(this.taskId)}/read?path=${enc(this.path)}&offset=${off}&length=${CHUNK}`);
        if (!r.data) break;
        parts.push(r.data);
        off = r.nextOffset ?? off + r.data.length;
      }
    } catch (e) {
      toast('Download failed: ' + e.message, 'error');
      return;
    }
    const url = URL.createObjectURL(new Blob(parts, { type: 'text/plain' }));
    const a = h('a', { href: url, download: `${this.taskId}-${this.path.replace(/\//g, '_')}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }
}
