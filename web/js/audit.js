// SPDX-License-Identifier: MIT
// Audit (admin): the trail, newest first, with the API's filters and its cursor pages.
import { get } from './api.js';
import { h, put, field, table, dash } from './dom.js';
import { heading, report } from './ui.js';

const filters = { name: '', actor: '', origin: '', action: '', since: '', until: '' };

export async function render(main, _arg, alive) {
  const f = {
    name: field('name', 'text', { label: 'Name (iface or token:<id>)', value: filters.name }),
    actor: field('actor', 'text', { label: 'Actor', value: filters.actor }),
    origin: field('origin', 'select', { label: 'Origin', options: [['', 'any'], 'api', 'external', 'auto'] }),
    action: field('action', 'text', { label: 'Action', value: filters.action }),
    since: field('since', 'text', { label: 'Since (UTC)', value: filters.since, placeholder: '2026-12-06T00:00:00Z' }),
    until: field('until', 'text', { label: 'Until (UTC)', value: filters.until, placeholder: '2026-12-07T00:00:00Z' }),
  };
  f.origin.input.value = filters.origin;
  const form = h('form.card', { 'aria-labelledby': 'af-h', novalidate: true }, h('h2', { id: 'af-h', text: 'Filters' }),
    h('div.grid', null, Object.values(f)), h('div.row', null, h('button', { type: 'submit' }, 'Apply filters')));
  const tbl = table('Audit', ['when', 'name', 'action', 'origin', 'revision', 'actor', 'request id', 'change'].map((label) => ({ label })));
  const prev = h('button', { type: 'button', onclick: () => { stack.pop(); load(); } }, 'Previous page');
  const next = h('button', { type: 'button', onclick: () => { stack.push(nextCursor); load(); } }, 'Next page');
  const info = h('span.muted');
  let stack = [null];
  let nextCursor = null;

  put(main, heading('Audit'), form, tbl, h('div.pager', null, prev, info, next));

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    for (const k of Object.keys(f)) filters[k] = f[k].input.value.trim();
    stack = [null];
    load();
  });

  async function load() {
    try {
      const { data } = await get('/audit', { query: { ...filters, limit: 50, cursor: stack[stack.length - 1] } });
      if (!alive()) return;
      nextCursor = data.next_cursor;
      put(tbl.tbody, data.items.length ? data.items.map((e) => h('tr', null,
        h('td', { text: e.at }), h('th', { scope: 'row', text: e.name }), h('td', { text: e.action }),
        h('td', { text: e.origin }), h('td', { text: String(e.revision) }), h('td', { text: dash(e.actor) }),
        h('td.mono', { text: dash(e.request_id) }),
        h('td', null, e.before || e.after ? h('details', null, h('summary', null, 'before / after'),
          h('div.diff', null, h('pre.text', { 'aria-label': 'before', text: e.before || '(none)' }), h('pre.text', { 'aria-label': 'after', text: e.after || '(none)' }))) : '—'))) :
        h('tr', null, h('td', { colspan: 8, text: 'No entries.' })));
      prev.disabled = stack.length <= 1;
      next.disabled = !nextCursor;
      info.textContent = `Page ${stack.length}`;
    } catch (e) {
      report(e, form);
    }
  }
  await load();
}
