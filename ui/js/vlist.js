// A virtualised table: only the rows in view (plus a margin) exist in the
// DOM, so 10,000 rows scroll as smoothly as 10. Rows have one fixed height;
// positions are set through the CSSOM (no inline style markup, which the
// Content-Security-Policy forbids).
//
//   const v = new VList(container, {columns, rowHeight, render, onOpen, key});
//   v.setRows(array); v.move(+1); v.selected();
// columns: [{id, title, width (CSS grid track), sort: (a, b) => n}]
// render(row, col) -> string or Node.

import { h, clear } from './dom.js';

export class VList {
  constructor(el, opts) {
    this.opts = opts;
    this.rowH = opts.rowHeight || 34;
    this.rows = [];
    this.sel = 0;
    this.sortCol = opts.sortCol || null;
    this.sortDir = opts.sortDir || 1;
    this.pool = new Map(); // index -> row element
    const tracks = opts.columns.map((c) => c.width || '1fr').join(' ');
    this.head = h('div.vhead', { role: 'row' });
    this.tracks = tracks;
    this.viewport = h('div.vbody', { tabindex: '0', role: 'rowgroup' });
    this.spacer = h('div.vspacer');
    this.viewport.append(this.spacer);
    this.root = h('div.vlist', { role: 'table', 'aria-rowcount': '0' }, this.head, this.viewport);
    this.head.style.gridTemplateColumns = tracks;
    clear(el).append(this.root);
    this.renderHead();
    this.viewport.addEventListener('scroll', () => this.paint());
    this.viewport.addEventListener('click', (e) => {
      const r = e.target.closest('.vrow');
      if (!r || e.target.closest('a, button')) return;
      this.select(Number(r.dataset.index));
      if (opts.onOpen && e.detail >= 2) opts.onOpen(this.rows[this.sel]);
    });
    this.ro = new ResizeObserver(() => this.paint(true));
    this.ro.observe(this.viewport);
  }

  destroy() {
    this.ro.disconnect();
  }

  renderHead() {
    clear(this.head);
    for (const c of this.opts.columns) {
      const arrow = this.sortCol === c.id ? (this.sortDir > 0 ? ' ▲' : ' ▼') : '';
      const cell = h(c.sort ? 'button.vth.sortable' : 'div.vth', {
        role: 'columnheader', 'data-col': c.id,
        'aria-sort': this.sortCol === c.id ? (this.sortDir > 0 ? 'ascending' : 'descending') : null,
        onclick: c.sort ? () => this.sortBy(c.id) : null,
      }, c.title, arrow);
      this.head.append(cell);
    }
  }

  sortBy(id, dir) {
    if (dir) this.sortDir = dir;
    else if (this.sortCol === id) this.sortDir = -this.sortDir;
    else this.sortDir = 1;
    this.sortCol = id;
    this.renderHead();
    if (this.opts.onSort) this.opts.onSort(this.sortCol, this.sortDir);
    this.setRows(this.rows, true);
  }

  comparator() {
    const c = this.opts.columns.find((x) => x.id === this.sortCol);
    if (!c || !c.sort) return null;
    const d = this.sortDir;
    return (a, b) => d * c.sort(a, b);
  }

  // rows: the filtered rows (kept in the order given unless a column sorts).
  setRows(rows, keepSel) {
    const key = this.opts.key;
    const selKey = keepSel && this.rows[this.sel] ? key(this.rows[this.sel]) : null;
    const cmp = this.comparator();
    this.rows = cmp ? [...rows].sort(cmp) : rows;
    if (selKey !== null) {
      const i = this.rows.findIndex((r) => key(r) === selKey);
      this.sel = i >= 0 ? i : Math.min(this.sel, Math.max(0, this.rows.length - 1));
    } else {
      this.sel = 0;
    }
    this.root.setAttribute('aria-rowcount', String(this.rows.length));
    this.spacer.style.height = this.rows.length * this.rowH + 'px';
    this.paint(true);
  }

  // Re-renders the rows in view (after their data changed).
  refresh() { this.paint(true); }

  paint(force) {
    const top = this.viewport.scrollTop;
    const height = this.viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / this.rowH) - 8);
    const last = Math.min(this.rows.length, Math.ceil((top + height) / this.rowH) + 8);
    for (const [i, el] of this.pool) {
      if (force || i < first || i >= last) { el.remove(); this.pool.delete(i); }
    }
    for (let i = first; i < last; i++) {
      if (this.pool.has(i)) continue;
      const row = this.rows[i];
      const el = h('div.vrow' + (i === this.sel ? '.selected' : ''), {
        role: 'row', 'data-index': i, 'data-key': this.opts.key(row), 'aria-selected': i === this.sel ? 'true' : 'false',
      }, this.opts.columns.map((c) => h('div.vcell', { role: 'cell', 'data-col': c.id }, this.opts.render(row, c.id))));
      el.style.gridTemplateColumns = this.tracks;
      el.style.transform = `translateY(${i * this.rowH}px)`;
      el.style.height = this.rowH + 'px';
      this.viewport.append(el);
      this.pool.set(i, el);
    }
  }

  select(i) {
    if (!this.rows.length) return;
    this.sel = Math.max(0, Math.min(this.rows.length - 1, i));
    for (const [j, el] of this.pool) {
      el.classList.toggle('selected', j === this.sel);
      el.setAttribute('aria-selected', j === this.sel ? 'true' : 'false');
    }
    const y = this.sel * this.rowH;
    const vp = this.viewport;
    if (y < vp.scrollTop) vp.scrollTop = y;
    else if (y + this.rowH > vp.scrollTop + vp.clientHeight) vp.scrollTop = y + this.rowH - vp.clientHeight;
    this.paint();
  }

  move(d) { this.select(this.sel + d); }
  selected() { return this.rows[this.sel]; }
}
