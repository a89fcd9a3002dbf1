// SPDX-License-Identifier: MIT
// Ifaces: the paged table (filter, sort, pages), create, detail with the iscsiadm text, edit
// (merge patch with If-Match), delete with a confirmation dialog.
import { get, post, patch, del, pages, enc } from './api.js';
import { h, put, clear, field, checkbox, modal, table, badge, statusBadge, dash, clearFieldErrors } from './dom.js';
import { flash, report, alertMsg, onLeave, wbtn, heading } from './ui.js';

// ---- the keys of a record ------------------------------------------------------------------
const ED = 'enable|disable';
const HEAD = 'net_ifacename:s ipaddress:s prefix_len:255 hwaddress:s transport_name:tcp|iser|cxgb3i|cxgb4i|bnx2i|qla4xxx|be2iscsi|ocs|qedi initiatorname:s state:e vlan_id:65535 vlan_priority:255 vlan_state:e iface_num:2147483647 mtu:65535 port:65535';
const V4 = 'bootproto:dhcp|static subnet_mask:s gateway:s dhcp_alt_client_id_state:e dhcp_alt_client_id:s dhcp_dns:e dhcp_learn_iqn:e dhcp_req_vendor_id_state:e dhcp_vendor_id_state:e dhcp_vendor_id:s dhcp_slp_da:e fragmentation:e gratuitous_arp:e incoming_forwarding:e tos_state:e tos:255 ttl:255';
const V6 = 'ipv6_autocfg:nd|dhcpv6|disable linklocal_autocfg:auto|disable router_autocfg:auto|disable ipv6_linklocal:s ipv6_router:s dup_addr_detect_cnt:255 flow_label:4294967295 gratuitous_neighbor_adv:e hop_limit:255 mld:e nd_reachable_tmo:4294967295 nd_rexmit_time:4294967295 nd_stale_tmo:4294967295 router_adv_link_mtu:4294967295 traffic_class:255';
const TAIL = 'delayed_ack:e tcp_nagle:e tcp_wsf_state:e tcp_wsf:255 tcp_timer_scale:255 tcp_timestamp:e redirect:e def_task_mgmt_timeout:65535 header_digest:e data_digest:e immediate_data:e initial_r2t:e data_seq_inorder:e data_pdu_inorder:e erl:255 max_receive_data_len:4294967295 first_burst_len:4294967295 max_outstanding_r2t:65535 max_burst_len:4294967295 chap_auth:e bidi_chap:e strict_login_compliance:e discovery_auth:e discovery_logout:e';
const parseKeys = (s) => s.split(' ').map((kv) => {
  const [k, t] = kv.split(':');
  return { key: k, type: t === 's' ? 's' : t === 'e' ? ED.split('|') : /^\d+$/.test(t) ? Number(t) : t.split('|') };
});
const keysOf = (name) => parseKeys(`${HEAD} ${/ipv6/.test(name) ? V6 : V4} ${TAIL}`);
const MAIN = ['transport_name', 'net_ifacename', 'hwaddress', 'ipaddress', 'initiatorname'];
const BUILTIN = ['default', 'iser'];

function keyField(k, value) {
  if (typeof k.type === 'number') return field(k.key, 'number', { value, max: k.type });
  if (Array.isArray(k.type)) {
    const opts = k.key === 'transport_name' ? [...k.type] : [['', '(unset)'], ...k.type];
    // A value the list lacks stays a choice, and selected: a record made from an HBA's sysfs
    // holds the kernel's router state in router_autocfg (Advertised), an imported one may hold
    // anything. Without it the select would show the first option and a save would change it.
    if (value !== undefined && value !== null && value !== '' && !k.type.includes(value)) {
      opts.push([value, `${value} (as read)`]);
    }
    const f = field(k.key, 'select', { options: opts });
    f.input.value = value ?? (k.key === 'transport_name' ? 'tcp' : '');
    return f;
  }
  return field(k.key, 'text', { value, list: k.key === 'net_ifacename' ? 'nic-names' : null });
}

// The value of a key's input as JSON: '' is null (unset / 0).
function inputValue(k, input) {
  const v = input.value.trim();
  if (v === '') return null;
  return typeof k.type === 'number' ? Number(v) : v;
}

// A datalist of the host's NICs for net_ifacename (best effort).
async function nicList() {
  const dl = h('datalist', { id: 'nic-names' });
  get('/nics', { quiet: true }).then(({ data }) => {
    for (const n of data.items) dl.appendChild(h('option', { value: n.name }));
  }).catch(() => {});
  return dl;
}

// ---- the list ------------------------------------------------------------------------------
const COLS = [
  { key: 'name', label: 'name', sort: 'Sort by name' },
  { key: 'transport_name', label: 'transport', sort: 'Sort by transport' },
  { key: 'net_ifacename', label: 'NIC', sort: 'Sort by NIC' },
  { key: 'hwaddress', label: 'hwaddress', sort: 'Sort by hwaddress' },
  { key: 'ipaddress', label: 'ipaddress', sort: 'Sort by ipaddress' },
  { key: 'port_status', label: 'port status', sort: 'Sort by port status' },
  { key: 'warnings', label: 'warnings' },
];
const view = { filter: '', sort: 'name', dir: 1, page: 0, size: 50 };

function cmp(a, b) {
  const x = a[view.sort] ?? '';
  const y = b[view.sort] ?? '';
  return (x < y ? -1 : x > y ? 1 : 0) * view.dir || (a.name < b.name ? -1 : 1);
}

function matches(it, f) {
  if (!f) return true;
  for (const k of ['name', 'transport_name', 'net_ifacename', 'hwaddress', 'ipaddress', 'port_status', 'initiatorname']) {
    const v = it[k];
    if (v && String(v).toLowerCase().includes(f)) return true;
  }
  return false;
}

async function renderList(main, alive) {
  let items = [];
  let complete = false;
  let focusName = null;

  const tbl = table('Ifaces', COLS.map((c) => ({
    head: c.sort ? h('button.sort', { type: 'button', 'aria-label': c.sort, onclick: () => sortBy(c.key) }, c.label, h('span.arrow', { 'aria-hidden': 'true' })) : c.label,
  })));
  const ths = tbl.table.querySelectorAll('th');
  const filter = field('filter', 'text', { label: 'Filter', value: view.filter, hint: 'Part of a name, NIC, address, transport or port status.' });
  filter.input.type = 'search';
  filter.input.addEventListener('input', () => { view.filter = filter.input.value; view.page = 0; draw(); });
  const count = h('p.muted', { 'aria-live': 'polite' }, 'Loading…');
  const prev = h('button', { type: 'button', onclick: () => { view.page--; draw(); } }, 'Previous page');
  const next = h('button', { type: 'button', onclick: () => { view.page++; draw(); } }, 'Next page');
  const pageInfo = h('span.muted');
  const size = field('page-size', 'select', { label: 'Rows per page', options: ['25', '50', '100', '200'] });
  size.input.value = String(view.size);
  size.input.addEventListener('change', () => { view.size = Number(size.input.value); view.page = 0; draw(); });
  const formSlot = h('div');
  const newBtn = wbtn('New iface', () => openCreate(), { testid: 'iface-new', 'aria-expanded': 'false' });

  put(main,
    h('div.bar', null, heading('Ifaces'), newBtn),
    formSlot,
    h('div.bar', null, filter, size),
    count, tbl,
    h('div.pager', null, prev, pageInfo, next));

  function sortBy(key) {
    if (view.sort === key) view.dir = -view.dir; else { view.sort = key; view.dir = 1; }
    view.page = 0;
    items.sort(cmp);
    draw();
  }

  function draw() {
    const f = view.filter.trim().toLowerCase();
    const shown = f ? items.filter((it) => matches(it, f)) : items;
    const npages = Math.max(1, Math.ceil(shown.length / view.size));
    if (focusName) {
      const i = shown.findIndex((it) => it.name === focusName);
      if (i >= 0) view.page = Math.floor(i / view.size);
    }
    view.page = Math.min(Math.max(0, view.page), npages - 1);
    const start = view.page * view.size;
    const rows = shown.slice(start, start + view.size).map(row);
    put(tbl.tbody, rows.length ? rows : h('tr', null, h('td', { colspan: COLS.length, text: items.length ? 'No iface matches the filter.' : complete ? 'No ifaces yet.' : 'Loading…' })));
    COLS.forEach((c, i) => {
      if (!c.sort) return;
      const on = view.sort === c.key;
      if (on) ths[i].setAttribute('aria-sort', view.dir > 0 ? 'ascending' : 'descending'); else ths[i].removeAttribute('aria-sort');
      ths[i].querySelector('.arrow').textContent = on ? (view.dir > 0 ? ' ▲' : ' ▼') : '';
    });
    prev.disabled = view.page === 0;
    next.disabled = view.page >= npages - 1;
    pageInfo.textContent = `Page ${view.page + 1} of ${npages}`;
    count.textContent = `${shown.length}${f ? ` of ${items.length}` : ''} ifaces${complete ? '' : ' (loading more…)'}`;
    if (focusName) {
      const r = tbl.tbody.querySelector(`[data-testid="iface-row-${CSS.escape(focusName)}"]`);
      if (r) { r.classList.add('hl'); r.querySelector('a').focus(); }
      focusName = null;
    }
  }

  function row(it) {
    const warn = [...(it.warnings || [])];
    if (it.invalid) warn.push('invalid: ' + it.invalid);
    return h('tr', { testid: 'iface-row-' + it.name },
      h('th', { scope: 'row' }, h('a', { href: '#/ifaces/' + enc(it.name), text: it.name })),
      h('td', { text: it.transport_name }),
      h('td', { text: dash(it.net_ifacename) }),
      h('td', { text: dash(it.hwaddress) }),
      h('td', { text: dash(it.ipaddress) }),
      h('td', null, statusBadge(it.port_status)),
      h('td', null, warn.length ? h('ul.plain', null, warn.map((w) => h('li.warn', { text: w }))) : ''));
  }

  function load(selectName) {
    const fresh = [];
    complete = false;
    const stop = pages('/ifaces', {}, (page, done) => {
      if (!alive()) return;
      fresh.push(...page);
      // the first (small) page shows at once; each later page adds to it
      items = fresh.slice().sort(cmp);
      complete = done;
      if (done && selectName) focusName = selectName;
      draw();
    }, (e) => { count.textContent = 'Could not load the ifaces.'; report(e); });
    onLeave(stop);
  }

  async function openCreate() {
    if (formSlot.firstChild) { clear(formSlot); newBtn.setAttribute('aria-expanded', 'false'); newBtn.focus(); return; }
    newBtn.setAttribute('aria-expanded', 'true');
    const tid = 'new-iface-title';
    const name = field('name', 'text', { required: true, hint: 'A-Z a-z 0-9 _ . : -; a name containing "ipv6" takes IPv6 keys.' });
    const mainFields = MAIN.map((k) => keyField(keysOf('x').find((x) => x.key === k)));
    const more = h('div.grid');
    const moreBox = h('details', null, h('summary', null, 'More keys'), more);
    const fields = () => [...mainFields, ...more.querySelectorAll('.field')];
    const fillMore = () => {
      const old = {};
      for (const i of more.querySelectorAll('input, select')) old[i.name] = i.value;
      put(more, keysOf(name.input.value).filter((k) => !MAIN.includes(k.key)).map((k) => {
        const f = keyField(k);
        if (old[k.key] !== undefined) f.input.value = old[k.key];
        return f;
      }));
    };
    fillMore();
    name.input.addEventListener('change', fillMore);
    const form = h('form.card', { 'aria-labelledby': tid, novalidate: true },
      h('h2', { id: tid, text: 'New iface' }),
      h('div.grid', null, name, mainFields), moreBox,
      h('div.row', null, h('button', { type: 'submit' }, 'Create'),
        h('button.secondary', { type: 'button', onclick: () => openCreate() }, 'Cancel')),
      await nicList());
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      const body = { name: name.input.value.trim() };
      const keys = keysOf(body.name);
      for (const f of fields()) {
        const k = keys.find((x) => x.key === f.input.name);
        const v = k && inputValue(k, f.input);
        if (v !== null && v !== undefined && !(f.input.name === 'transport_name' && v === 'tcp')) body[f.input.name] = v;
      }
      const btn = form.querySelector('[type=submit]');
      btn.disabled = true;
      try {
        await post('/ifaces', body);
        flash(`Created iface ${body.name}.`);
        clear(formSlot);
        newBtn.setAttribute('aria-expanded', 'false');
        view.filter = ''; filter.input.value = '';
        items = [];
        load(body.name);
      } catch (e) {
        report(e, form);
      } finally {
        btn.disabled = false;
      }
    });
    put(formSlot, form);
    name.input.focus();
  }

  load(null);
  draw();
}

// ---- one iface -----------------------------------------------------------------------------
async function renderDetail(main, name, alive) {
  const [j, t] = await Promise.all([
    get('/ifaces/' + enc(name)),
    get('/ifaces/' + enc(name), { accept: 'text/plain' }),
  ]);
  if (!alive()) return;
  const it = j.data;
  const etag = j.etag;
  const builtin = BUILTIN.includes(name);
  const body = h('div');
  const reload = () => { if (alive()) renderDetail(main, name, alive).catch((e) => report(e)); };

  const warn = [...(it.warnings || [])];
  if (it.invalid) warn.push('invalid: ' + it.invalid);
  const dl = h('dl.kv');
  for (const k of keysOf(name)) {
    if (it[k.key] === undefined) continue;
    dl.append(h('dt', { text: k.key }), h('dd', { text: String(it[k.key]) }));
  }
  const edit = wbtn('Edit', () => openEdit(), { hidden: builtin, 'aria-expanded': 'false' });
  const delBtn = wbtn('Delete', () => confirmDelete(), { testid: 'iface-delete', hidden: builtin });
  put(main,
    h('p', null, h('a', { href: '#/ifaces' }, '← All ifaces')),
    heading(name),
    h('p', null, 'Port ', statusBadge(it.port_status), ` · transport ${it.transport_name} · ETag ${etag || '—'}`, builtin ? ' · built-in, read-only' : ''),
    warn.length ? h('ul.warnings', { 'aria-label': 'Warnings' }, warn.map((w) => h('li', { text: w }))) : null,
    h('div.row', null, edit, delBtn, h('button.secondary', { type: 'button', onclick: reload }, 'Reload')),
    body);
  const showInfo = () => put(body,
    h('section', { 'aria-labelledby': 'kv-h' }, h('h2', { id: 'kv-h', text: 'Keys' }), dl),
    h('section', { 'aria-labelledby': 'txt-h' }, h('h2', { id: 'txt-h', text: 'As iscsiadm prints it' }),
      h('pre.text', { testid: 'iface-text', tabindex: 0, text: t.data })));
  showInfo();

  function openEdit() {
    if (edit.getAttribute('aria-expanded') === 'true') { edit.setAttribute('aria-expanded', 'false'); showInfo(); edit.focus(); return; }
    edit.setAttribute('aria-expanded', 'true');
    const keys = keysOf(name);
    const mk = (k) => keyField(k, it[k.key] ?? (typeof k.type === 'number' ? 0 : null));
    const mainF = keys.filter((k) => MAIN.includes(k.key)).map(mk);
    const moreF = keys.filter((k) => !MAIN.includes(k.key)).map(mk);
    const conflict = h('div');
    const tid = 'edit-iface-title';
    const form = h('form.card', { 'aria-labelledby': tid, novalidate: true },
      h('h2', { id: tid, text: 'Edit iface' }),
      h('p.muted', { text: `${name}: only the keys you change are sent (a merge patch, If-Match ${etag}). An empty value unsets a key.` }),
      h('div.grid', null, mainF), h('details', null, h('summary', null, 'More keys'), h('div.grid', null, moreF)),
      conflict,
      h('div.row', null, h('button', { type: 'submit' }, 'Save'),
        h('button.secondary', { type: 'button', onclick: () => openEdit() }, 'Cancel')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      clear(conflict);
      const p = {};
      for (const f of [...mainF, ...moreF]) {
        const k = keys.find((x) => x.key === f.input.name);
        const v = inputValue(k, f.input);
        const was = it[k.key] ?? (typeof k.type === 'number' ? 0 : null);
        const now = v === null && typeof k.type === 'number' ? 0 : v;
        if (now !== was) p[k.key] = v;
      }
      if (!Object.keys(p).length) { flash('Nothing changed.'); return; }
      const btn = form.querySelector('[type=submit]');
      btn.disabled = true;
      try {
        const r = await patch('/ifaces/' + enc(name), p, etag);
        flash(`Saved iface ${name} (ETag ${r.etag}).`);
        reload();
      } catch (e) {
        if (e.status === 412) {
          put(conflict, h('div.conflict', { testid: 'conflict', role: 'alert' },
            h('p', { text: `Not saved: iface ${name} was changed by someone else since you loaded it (${e.message}). Reload to see the current record; your edits here are dropped.` }),
            h('button', { type: 'button', onclick: reload }, 'Reload')));
          conflict.querySelector('button').focus();
        } else report(e, form);
      } finally {
        btn.disabled = false;
      }
    });
    put(body, form);
    const first = form.querySelector('input, select');
    if (first) first.focus();
  }

  async function confirmDelete() {
    const cascade = checkbox('cascade', 'Also delete the bindings that go through it');
    const ok = await modal('Delete iface', (close) => h('div.stack', null,
      h('p', { text: `Delete iface ${name}? Its file ifaces/${name} is removed.` }),
      cascade,
      h('div.row', null,
        h('button.danger', { type: 'button', onclick: () => close(true) }, 'Delete'),
        h('button.secondary', { type: 'button', onclick: () => close(false), autofocus: true }, 'Cancel'))));
    if (!ok) return;
    try {
      await del('/ifaces/' + enc(name), etag, { query: cascade.input.checked ? { cascade: 'true' } : null });
      flash(`Deleted iface ${name}.`);
      location.hash = '#/ifaces';
    } catch (e) {
      if (e.status === 412) {
        put(body, h('div.conflict', { testid: 'conflict', role: 'alert' },
          h('p', { text: `Not deleted: iface ${name} was changed by someone else since you loaded it. Reload to see the current record.` }),
          h('button', { type: 'button', onclick: reload }, 'Reload')));
      } else if (e.status === 409 && Array.isArray(e.problem.bindings)) {
        alertMsg(`Not deleted: ${e.message}`, h('ul', null, e.problem.bindings.map((b) => h('li', { text: b }))));
      } else report(e);
    }
  }
}

export function render(main, arg, alive) {
  return arg ? renderDetail(main, arg, alive) : renderList(main, alive);
}
