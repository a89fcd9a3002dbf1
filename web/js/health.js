// SPDX-License-Identifier: MIT
// Health: status and problems.
import { request, post } from './api.js';
import { h, put, statusBadge } from './dom.js';
import { heading, report, flash, isAdmin, state } from './ui.js';

export async function render(main, _arg, alive) {
  // 503 (failing) still carries the health body
  const { data: d } = await request('GET', '/health', { okStatuses: [503] });
  if (!alive()) return;
  const part = (name, p) => h('li', null, `${name}: `, statusBadge(p.ok ? 'ok' : 'failed'), ` ${p.path} (${p.detail})`);
  const lock = d.iscsi_lock;
  const reload = () => render(main, _arg, alive).catch(report);
  const missing = d.problems.some((p) => p.kind === 'missing');
  put(main,
    h('div.bar', null, heading('Health'), h('button.secondary', { type: 'button', onclick: reload }, 'Reload')),
    h('p.big', { testid: 'health-status' }, 'Status: ', statusBadge(d.status)),
    h('ul', null,
      part('database', d.db), part('iscsi db root', d.iscsi_root),
      h('li', { text: `records: ${d.records}` }),
      h('li', { text: `iscsiadm lock: ${lock.held ? `held by ${lock.holder || 'unknown'} for ${lock.age_ms ?? '?'} ms` : 'free'}; writes waiting: ${lock.writes_waiting}` }),
      h('li', { text: `auth: ${d.security.auth ? 'on' : 'off'}${d.security.insecure ? ' (insecure)' : ''}` }),
      h('li', { text: `drift: ${d.drift.policy}, ${d.drift.imported} imported` }),
      h('li', { text: `version: ${d.version}` })),
    h('h2', { text: 'Problems' }),
    d.problems.length ? h('ul', { 'aria-label': 'Problems', testid: 'health-problems' }, d.problems.map((p) => h('li', null,
      h('strong', { text: p.name }), ` ${p.kind}: ${p.reason}`))) : h('p', { testid: 'health-problems', text: 'No problems.' }),
    missing && isAdmin() && state.role !== 'viewer' ? h('button', { type: 'button', onclick: async () => {
      try { const { data } = await post('/admin/restore-files'); flash(`Restored ${data.restored} files.`); reload(); } catch (e) { report(e); }
    } }, 'Restore missing files') : null,
    d.drift.recent.length ? h('div', null, h('h2', { text: 'Recent outside changes' }),
      h('ul', null, d.drift.recent.map((r) => h('li', { text: `${r.at} ${r.name} ${r.action} (revision ${r.revision})` })))) : null);
}
