// SPDX-License-Identifier: MIT
// NICs and HBAs: state, addresses, the ifaces on each NIC, rp_filter warnings; the iSCSI
// hosts and the kernel's transports.
import { get, enc } from './api.js';
import { h, put, table, statusBadge, dash, badge } from './dom.js';
import { heading, report } from './ui.js';

function ifaceLinks(names) {
  if (!names || !names.length) return '—';
  return h('ul.plain', null, names.map((n) => h('li', null, h('a', { href: '#/ifaces/' + enc(n), text: n }))));
}

export async function render(main, _arg, alive) {
  const [nics, hbas, tr] = await Promise.all([
    get('/nics').catch((e) => ({ error: e })),
    get('/hbas').catch((e) => ({ error: e })),
    get('/transports').catch((e) => ({ error: e })),
  ]);
  if (!alive()) return;

  const nt = table('NICs', ['name', 'kind', 'state', 'MAC', 'MTU', 'addresses', 'speed', 'driver', 'rp_filter', 'ifaces', 'warnings'].map((label) => ({ label })));
  if (nics.error) report(nics.error);
  else {
    put(nt.tbody, nics.data.items.length ? nics.data.items.map((n) => {
      const warn = [];
      if (n.rp_filter.drops_bound_replies) {
        warn.push(`rp_filter ${n.rp_filter.value} (strict) drops replies to sessions bound to ${n.name} when it is not the route back; open-iscsi needs 0 or 2`);
      }
      if (n.ifaces.length && !n.up) warn.push('ifaces are bound here but the NIC is down');
      else if (n.ifaces.length && n.carrier === false) warn.push('ifaces are bound here but the NIC has no carrier');
      const state = [statusBadge(n.operstate), n.up ? '' : ' admin down', n.carrier === false ? ' no carrier' : ''];
      return h('tr', { testid: 'nic-row-' + n.name },
        h('th', { scope: 'row', text: n.name }),
        h('td', { text: n.kind + (n.parent ? ` (on ${n.parent})` : '') + (n.vlan_id !== null ? ` vlan ${n.vlan_id}` : '') }),
        h('td', null, state),
        h('td.mono', { text: dash(n.mac) }),
        h('td', { text: String(n.mtu) }),
        h('td', null, n.addresses.length ? h('ul.plain', null, n.addresses.map((a) => h('li.mono', { text: `${a.address}/${a.prefixlen}${a.scope !== 'global' ? ' ' + a.scope : ''}` }))) : '—'),
        h('td', { text: n.speed_mbps === null ? '—' : `${n.speed_mbps} Mb/s ${n.duplex}` }),
        h('td', { text: dash(n.driver) }),
        h('td', { text: dash(n.rp_filter.value) }),
        h('td', { testid: 'nic-ifaces-' + n.name }, ifaceLinks(n.ifaces),
          n.hbas.length ? h('p.muted', { text: 'HBA: ' + n.hbas.map((x) => `host${x.host} ${x.transport || ''}`).join(', ') }) : null),
        h('td', null, warn.length ? h('ul.plain', null, warn.map((w) => h('li.warn', { text: w }))) : ''));
    }) : h('tr', null, h('td', { colspan: 11, text: 'No NICs.' })));
  }

  const ht = table('HBAs', ['host', 'transport', 'offload', 'hwaddress', 'ipaddress', 'netdev', 'initiatorname', 'port', 'kernel ifaces', 'ifaces'].map((label) => ({ label })));
  if (hbas.error) report(hbas.error);
  else {
    put(ht.tbody, hbas.data.items.length ? hbas.data.items.map((b) => h('tr', { testid: 'hba-row-' + b.name },
      h('th', { scope: 'row', text: b.name }),
      h('td', { text: dash(b.transport) }),
      h('td', { text: b.offload ? 'yes' : 'no' }),
      h('td.mono', { text: dash(b.hwaddress) }),
      h('td.mono', { text: dash(b.ipaddress) }),
      h('td', { text: dash(b.netdev) }),
      h('td.mono', { text: dash(b.initiatorname) }),
      h('td', { text: [b.port_state, b.port_speed].filter(Boolean).join(', ') || '—' }),
      h('td', { text: b.kernel_ifaces.map((k) => k.name).join(', ') || '—' }),
      h('td', null, ifaceLinks(b.ifaces)))) : h('tr', null, h('td', { colspan: 10, text: 'No iSCSI hosts.' })));
  }

  const tt = table('Transports', ['name', 'loaded', 'capabilities'].map((label) => ({ label })));
  if (tr.error) report(tr.error);
  else {
    put(tt.tbody, tr.data.items.length ? tr.data.items.map((t) => h('tr', null,
      h('th', { scope: 'row', text: t.name }),
      h('td', null, t.loaded ? badge('loaded', 'ok') : badge('not loaded', 'warn')),
      h('td', { text: t.capabilities.join(', ') || '—' }))) : h('tr', null, h('td', { colspan: 3, text: 'No transports.' })));
  }

  put(main,
    h('div.bar', null, heading('NICs and HBAs'), h('button.secondary', { type: 'button', onclick: () => render(main, _arg, alive).catch(report) }, 'Reload')),
    h('h2', { text: 'NICs' }), nt,
    h('h2', { text: 'HBAs' }), ht,
    h('h2', { text: 'Transports' }), tt);
}
