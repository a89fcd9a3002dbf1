// SPDX-License-Identifier: MIT
// Sessions: each session's path (iface, NIC, local and portal addresses), state, LUNs with
// their devices; log out (a refused logout lists what uses the devices), rescan.
import { get, del, post, enc } from './api.js';
import { h, put, table, statusBadge, badge, dash, fmtBytes } from './dom.js';
import { flash, report, alertMsg, heading, wbtn } from './ui.js';

const addr = (a, p) => (a ? (a.includes(':') ? `[${a}]` : a) + (p ? `:${p}` : '') : '—');

function lunList(s) {
  if (!s.luns.length) return '—';
  return h('ul.plain', null, s.luns.map((l) => h('li', null,
    `LUN ${l.lun}: `,
    h('span.mono', { text: l.device || l.block || l.sg || 'no device' }),
    l.size_bytes ? ` ${fmtBytes(l.size_bytes)}` : '',
    l.vendor || l.model ? ` ${[l.vendor, l.model].filter(Boolean).join(' ')}` : '',
    l.state && l.state !== 'running' ? ` (${l.state})` : '',
    ' ', l.ready ? badge('ready', 'ok') : badge(dash(l.reason), 'warn'),
    l.holders.length ? h('span.muted', { text: ' held by ' + l.holders.map((x) => x.dm_name || x.name).join(', ') }) : null)));
}

export async function render(main, _arg, alive) {
  const { data } = await get('/sessions');
  if (!alive()) return;
  const uses = h('div');
  const tbl = table('Sessions', ['sid', 'target', 'iface', 'NIC', 'local address', 'portal', 'state', 'LUNs', 'origin', 'actions'].map((label) => ({ label })));
  put(tbl.tbody, data.items.length ? data.items.map((s) => {
    const cn = s.connection;
    return h('tr', { testid: 'session-row-' + s.sid },
      h('th', { scope: 'row', text: String(s.sid) }),
      h('td.mono', { text: s.target }),
      h('td', null, h('a', { href: '#/ifaces/' + enc(s.iface), text: s.iface })),
      h('td', { text: dash(cn.nic) }),
      h('td.mono', { text: addr(cn.local_address, cn.local_port) }),
      h('td.mono', { text: addr(cn.address || s.portal.address, cn.port || s.portal.port) + (s.tpgt !== null ? `,${s.tpgt}` : '') }),
      h('td', null, statusBadge(s.state), ' ', s.ready ? badge('ready', 'ok') : badge(`not ready: ${dash(s.not_ready_reason)}`, 'warn'),
        s.problem ? h('p.warn', { text: s.problem }) : null),
      h('td', null, lunList(s)),
      h('td', { text: s.origin }),
      h('td', null, h('div.row', null,
        wbtn('Log out', () => logout(s)),
        wbtn('Rescan', () => rescan(s), { class: 'secondary' }))));
  }) : h('tr', null, h('td', { colspan: 10, text: 'No sessions.' })));

  const reload = () => render(main, _arg, alive).catch(report);
  put(main, h('div.bar', null, heading('Sessions'), h('button.secondary', { type: 'button', onclick: reload }, 'Reload')),
    uses, tbl);

  async function logout(s) {
    const btn = document.activeElement;
    if (btn) btn.disabled = true;
    try {
      await del('/sessions/' + s.sid);
      flash(`Logged out of session ${s.sid}.`);
      reload();
    } catch (e) {
      if (btn) btn.disabled = false;
      if (e.status === 409 && Array.isArray(e.problem.uses)) {
        put(uses, h('section.card.conflict', { testid: 'logout-uses', 'aria-labelledby': 'lu-h' },
          h('h2', { id: 'lu-h', text: `Session ${s.sid} is in use` }),
          h('p', { text: e.message }),
          h('ul', null, e.problem.uses.map((u) => h('li', { text: `LUN ${u.lun} ${u.device}: ${u.kind} ${u.what}` }))),
          h('p.muted', { text: 'Unmount, stop or close what holds the devices, then log out again.' })));
        alertMsg(`Not logged out: session ${s.sid} is in use.`);
        uses.querySelector('h2').setAttribute('tabindex', '-1');
        uses.querySelector('h2').focus();
      } else report(e);
    }
  }

  async function rescan(s) {
    flash(`Rescanning session ${s.sid}…`);
    try {
      const { data: r } = await post('/sessions/' + s.sid + '/rescan', {});
      flash(`Rescanned session ${s.sid}: ${r.ready ? 'ready' : 'not ready (' + dash(r.not_ready_reason) + ')'}.`);
      reload();
    } catch (e) { report(e); }
  }
}
