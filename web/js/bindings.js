// SPDX-License-Identifier: MIT
// Discovery and bindings: discover through chosen ifaces, review, bind; the bindings with
// their CHAP state (passwords are write-only: "set" or "not set"), log in and watch the
// readiness, edit (merge patch with If-Match), unbind.
import { get, post, patch, del, pages, enc } from './api.js';
import { h, put, clear, field, checkbox, modal, table, statusBadge, badge, dash, clearFieldErrors } from './dom.js';
import { flash, report, alertMsg, poll, heading, wbtn, onLeave, viewerNote } from './ui.js';

const portalOf = (a, port) => (a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`);
const chapText = (a) => (a.method !== 'CHAP' ? 'none'
  : `CHAP ${a.username || '(no name)'}, password ${a.password_set ? 'set' : 'not set'}` +
    (a.username_in || a.password_in_set ? `; mutual ${a.username_in || '(no name)'}, password ${a.password_in_set ? 'set' : 'not set'}` : ''));

function chapFields(prefix, what) {
  const f = {
    username: field(prefix + 'username', 'text', { label: `${what} username` }),
    password: field(prefix + 'password', 'password', { label: `${what} password` }),
    username_in: field(prefix + 'username_in', 'text', { label: `${what} username_in (mutual)` }),
    password_in: field(prefix + 'password_in', 'password', { label: `${what} password_in (mutual)` }),
  };
  f.all = [f.username, f.password, f.username_in, f.password_in];
  return f;
}

export async function render(main, _arg, alive) {
  const loginBox = h('div', { testid: 'login-status', 'aria-live': 'polite' });
  const bindingsBox = h('div');
  put(main, heading('Discovery and bindings'),
    viewerNote('Discovering, binding, logging in and unbinding need the operator role.'),
    discoverForm(alive, () => loadBindings()), loginBox, bindingsBox);

  // ---- the bindings list ----
  let items = [];
  let page = 0;
  const size = 50;
  const filter = field('filter', 'text', { label: 'Filter', hint: 'Part of a target, portal or iface.' });
  filter.input.type = 'search';
  filter.input.addEventListener('input', () => { page = 0; draw(); });
  const tbl = table('Bindings', ['target', 'portal', 'tpgt', 'iface', 'startup', 'CHAP', 'found by', 'origin', 'actions'].map((label) => ({ label })));
  const count = h('p.muted', { 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', onclick: () => { page--; draw(); } }, 'Previous page');
  const next = h('button', { type: 'button', onclick: () => { page++; draw(); } }, 'Next page');
  const info = h('span.muted');
  put(bindingsBox, h('div.bar', null, h('h2', { text: 'Bindings' }),
    h('button.secondary', { type: 'button', onclick: () => loadBindings() }, 'Reload bindings')),
  filter, count, tbl, h('div.pager', null, prev, info, next));

  function draw() {
    const f = filter.input.value.trim().toLowerCase();
    const shown = f ? items.filter((b) => b.id.toLowerCase().includes(f)) : items;
    const n = Math.max(1, Math.ceil(shown.length / size));
    page = Math.min(Math.max(0, page), n - 1);
    const rows = shown.slice(page * size, page * size + size).map(row);
    put(tbl.tbody, rows.length ? rows : h('tr', null, h('td', { colspan: 9, text: items.length ? 'No binding matches the filter.' : 'No bindings.' })));
    prev.disabled = page === 0;
    next.disabled = page >= n - 1;
    info.textContent = `Page ${page + 1} of ${n}`;
    count.textContent = `${shown.length}${f ? ` of ${items.length}` : ''} bindings`;
  }

  function row(b) {
    const old = b.layout === 'old-single-file';
    return h('tr', { testid: 'binding-row-' + b.id },
      h('th.mono', { scope: 'row', text: b.target }),
      h('td.mono', { text: b.portal }),
      h('td', { text: String(b.tpgt) }),
      h('td', null, h('a', { href: '#/ifaces/' + enc(b.iface), text: b.iface })),
      h('td', { text: b.startup }),
      h('td', { text: chapText(b.auth) }),
      h('td', { text: b.discovery.type === 'send_targets' ? `SendTargets ${portalOf(b.discovery.address, b.discovery.port)}` : 'static' }),
      h('td', null, b.origin, old ? h('span.muted', { text: ' (old-style, read-only)' }) : null),
      h('td', null, h('div.row', null,
        wbtn('Log in', () => login(b)),
        old ? null : wbtn('Edit', () => edit(b), { class: 'secondary' }),
        old ? null : wbtn('Unbind', () => unbind(b), { class: 'danger' }))));
  }

  function loadBindings() {
    const fresh = [];
    const stop = pages('/bindings', { cursorParam: 'after', nextKey: 'next' }, (p, done) => {
      if (!alive()) return;
      fresh.push(...p);
      items = fresh.slice();
      draw();
      if (!done) count.textContent += ' (loading more…)';
    }, report);
    onLeave(stop);
  }

  async function unbind(b) {
    const ok = await modal('Unbind', (close) => h('div.stack', null,
      h('p', { text: `Delete the binding ${b.id}? Its node record ${b.path} is removed.` }),
      h('div.row', null, h('button.danger', { type: 'button', onclick: () => close(true) }, 'Unbind'),
        h('button.secondary', { type: 'button', autofocus: true, onclick: () => close(false) }, 'Cancel'))));
    if (!ok) return;
    try {
      await del('/bindings/' + enc(b.id), `"${b.revision}"`);
      flash(`Unbound ${b.id}.`);
      loadBindings();
    } catch (e) {
      if (e.status === 412) conflictAlert(b);
      else report(e);
    }
  }

  function conflictAlert(b) {
    alertMsg(`Not saved: ${b.id} was changed by someone else since the list was loaded.`,
      h('span.conflict', { testid: 'conflict' }, ' ', h('button', { type: 'button', onclick: () => { clear(document.getElementById('alert')); loadBindings(); } }, 'Reload')));
  }

  async function edit(b) {
    const startup = field('startup', 'select', { options: ['manual', 'automatic', 'onboot'] });
    startup.input.value = b.startup;
    const method = field('auth.method', 'select', { label: 'CHAP method', options: ['None', 'CHAP'] });
    method.input.value = b.auth.method;
    const c = chapFields('auth.', 'CHAP');
    c.username.input.value = b.auth.username || '';
    c.username_in.input.value = b.auth.username_in || '';
    c.password.input.placeholder = b.auth.password_set ? 'set (leave empty to keep)' : 'not set';
    c.password_in.input.placeholder = b.auth.password_in_set ? 'set (leave empty to keep)' : 'not set';
    const form = h('form.stack', { novalidate: true },
      h('p.muted', { text: b.id }), startup, method, c.all,
      h('div.row', null, h('button', { type: 'submit' }, 'Save'),
        h('button.secondary', { type: 'button', onclick: () => form.closest('dialog').close() }, 'Cancel')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      const p = {};
      if (startup.input.value !== b.startup) p.startup = startup.input.value;
      const auth = {};
      if (method.input.value !== b.auth.method) auth.method = method.input.value;
      for (const k of ['username', 'username_in']) {
        const v = c[k].input.value.trim();
        if (v !== (b.auth[k] || '')) auth[k] = v || null;
      }
      for (const k of ['password', 'password_in']) if (c[k].input.value) auth[k] = c[k].input.value;
      if (Object.keys(auth).length) p.auth = auth;
      if (!Object.keys(p).length) { form.closest('dialog').close(); return; }
      try {
        await patch('/bindings/' + enc(b.id), p, `"${b.revision}"`);
        form.closest('dialog').close();
        flash(`Saved ${b.id}.`);
        loadBindings();
      } catch (e) {
        if (e.status === 412) { form.closest('dialog').close(); conflictAlert(b); } else report(e, form);
      }
    });
    await modal('Edit binding', () => form);
  }

  // ---- log in and watch ----
  async function login(b) {
    put(loginBox, h('p', { text: `Logging in to ${b.id}…` }));
    try {
      const r = await post('/sessions', { binding: b.id, wait: false }, { okStatuses: [] });
      if (r.status === 202) watchLogin(r.data.id, b);
      else showSession(r.data, b);
    } catch (e) {
      put(loginBox, h('p.error', { text: `Login to ${b.id} failed: ${e.message}` }),
        e.problem.output ? h('pre.text', { text: e.problem.output }) : null);
      if (e.handled) return;
      report(e);
    }
  }

  function showSession(s, b) {
    const l = s.login || {};
    put(loginBox, h('section.card', { 'aria-label': 'Login' },
      h('p', null, `${b.id}: session ${s.sid} `, statusBadge(l.status || s.state), ' ',
        s.ready ? badge('ready', 'ok') : badge(`not ready: ${s.not_ready_reason || 'unknown'}`, 'warn')),
      h('p', null, h('a', { href: '#/sessions' }, 'See it in Sessions'))));
  }

  function watchLogin(id, b) {
    const cancel = wbtn('Cancel login', async () => {
      try { await del('/logins/' + id); } catch (e) { report(e); }
    });
    const text = h('p');
    const detail = h('div');
    put(loginBox, h('section.card', { 'aria-label': 'Login' }, h('p', { text: `Login to ${b.id}` }), text, detail, cancel));
    poll(async () => {
      const { data: op } = await get('/logins/' + id);
      const it = op.items[0] || {};
      put(text, statusBadge(it.status), it.sid ? ` session ${it.sid}` : '', ' ',
        it.ready ? badge('ready', 'ok') : badge(it.status === 'running' || it.status === 'pending' ? 'waiting for devices' : 'not ready', 'warn'),
        it.elapsed_ms !== null && it.elapsed_ms !== undefined ? ` ${it.elapsed_ms} ms` : '');
      put(detail,
        it.detail ? h('p', { text: it.detail }) : null,
        it.expect_luns && it.expect_luns.length ? h('p', { text: `expected LUNs ${it.expect_luns.join(', ')} (from ${it.expect_from})` }) : null,
        it.error ? h('p.error', { text: `${it.error.type}: ${it.error.detail}` }) : null,
        it.output ? h('pre.text', { text: it.output }) : null,
        op.state !== 'running' && it.sid ? h('p', null, h('a', { href: '#/sessions' }, 'See it in Sessions')) : null);
      cancel.hidden = op.state !== 'running';
      return op.state === 'running';
    }, 500);
  }

  loadBindings();
}

// ---- discovery ----
function discoverForm(alive, onBound) {
  const portal = field('portal', 'text', { label: 'Portal', placeholder: '10.0.0.1:3260', required: true });
  const boxes = h('div.boxes');
  get('/ifaces', { query: { transport_name: 'tcp', limit: 1000 } }).then(({ data }) => {
    if (alive()) put(boxes, data.items.map((it) => checkbox('ifaces', it.name, false, { value: it.name })));
  }).catch(report);
  const bind = checkbox('bind', 'Bind what is found (create a binding for each target portal and iface)');
  const timeout = field('timeout_ms', 'number', { label: 'Timeout per exchange (ms)', value: 5000, min: 1, max: 60000 });
  const c = chapFields('auth.', 'Discovery CHAP');
  const chapState = h('p.muted', { testid: 'discovery-chap-state' });
  const result = h('div');
  const form = h('form.card.w', { 'aria-labelledby': 'disc-h', novalidate: true },
    h('h2', { id: 'disc-h', text: 'Discover' }),
    h('div.grid', null, portal, timeout),
    h('fieldset', null, h('legend', { text: 'Ifaces' }), h('p.hint', { text: 'None chosen: every tcp iface (else default), as iscsiadm picks them.' }), boxes),
    bind,
    h('details', null, h('summary', null, 'Discovery CHAP (write-only)'), h('div.grid', null, c.all), chapState),
    h('div.row', null, h('button', { type: 'submit' }, 'Discover')));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    const body = { portal: portal.input.value.trim(), bind: bind.input.checked };
    const ifs = [...boxes.querySelectorAll('input:checked')].map((i) => i.value);
    if (ifs.length) body.ifaces = ifs;
    if (timeout.input.value) body.timeout_ms = Number(timeout.input.value);
    const auth = {};
    for (const k of ['username', 'password', 'username_in', 'password_in']) if (c[k].input.value) auth[k] = c[k].input.value;
    if (Object.keys(auth).length) body.auth = auth;
    const sentPw = !!auth.password;
    const btn = form.querySelector('[type=submit]');
    btn.disabled = true;
    put(result, h('p.muted', { text: `Discovering ${body.portal}…` }));
    try {
      let { status, data } = await post('/discovery', body);
      for (const k of ['password', 'password_in']) {
        if (c[k].input.value) { c[k].input.value = ''; c[k].input.placeholder = body.bind ? 'set' : 'sent, not saved'; }
      }
      if (sentPw) chapState.textContent = body.bind ? `Discovery CHAP for ${body.portal}: password set.` : 'Discovery CHAP was sent with this run only (saved only when binding).';
      if (status === 202) {
        await new Promise((resolve) => poll(async () => {
          data = (await get('/discovery/' + enc(data.id))).data;
          if (alive()) put(result, h('p', { text: `Discovering: ${data.progress.done} of ${data.progress.total}` }));
          if (data.state === 'running') return true;
          resolve();
          return false;
        }, 500));
      }
      if (alive()) put(result, discoveryResult(data, onBound));
      if (body.bind) onBound();
    } catch (e) {
      clear(result);
      report(e, form);
    } finally {
      btn.disabled = false;
    }
  });
  return h('div', null, form, result);
}

function discoveryResult(d, onBound) {
  const t = table('Discovered targets', ['iface', 'portal asked', 'status', 'target', 'target portal', 'tpgt', 'via', 'binding'].map((label) => ({ label })), { testid: 'discovery-result' });
  const created = new Set(d.bindings ? d.bindings.created : []);
  const existing = new Set(d.bindings ? d.bindings.existing : []);
  const failed = new Map(d.bindings ? d.bindings.failed.map((f) => [f.id, f.reason]) : []);
  const toBind = [];
  const rows = [];
  for (const it of d.items) {
    const via = [it.device, it.source].filter(Boolean).join(' from ') || '—';
    if (it.status !== 'ok' || !it.targets.length) {
      rows.push(h('tr', null, h('th', { scope: 'row', text: it.iface }), h('td.mono', { text: it.portal }),
        h('td', null, statusBadge(it.status), it.reason ? ` ${it.reason}` : ''),
        h('td', { colspan: 3, text: it.hint || (it.status === 'ok' ? 'no targets offered' : '') }),
        h('td', { text: via }), h('td', { text: '' })));
      continue;
    }
    for (const tg of it.targets) {
      for (const p of tg.portals) {
        const id = `${tg.name},${p.address},${p.port},${p.tpgt},${it.iface}`;
        const req = { target: tg.name, portal: portalOf(p.address, p.port), tpgt: p.tpgt, iface: it.iface };
        let cell;
        if (created.has(id)) cell = badge('created', 'ok');
        else if (existing.has(id)) cell = badge('existing', 'ok');
        else if (failed.has(id)) cell = h('span.error', { text: 'failed: ' + failed.get(id) });
        else {
          toBind.push(req);
          cell = wbtn('Bind', async (ev) => {
            const btn = ev.currentTarget;
            try { await post('/bindings', req); put(btn.parentElement, badge('created', 'ok')); flash(`Bound ${id}.`); onBound(); } catch (e) { report(e); }
          });
        }
        rows.push(h('tr', null, h('th', { scope: 'row', text: it.iface }), h('td.mono', { text: it.portal }),
          h('td', null, statusBadge(it.status)), h('td.mono', { text: tg.name }),
          h('td.mono', { text: portalOf(p.address, p.port) }), h('td', { text: String(p.tpgt) }),
          h('td', { text: via }), h('td', null, cell)));
      }
    }
  }
  put(t.tbody, rows.length ? rows : h('tr', null, h('td', { colspan: 8, text: 'Nothing was asked.' })));
  const bindAll = toBind.length ? wbtn(`Bind all ${toBind.length}`, async () => {
    let ok = 0;
    for (const req of toBind) {
      try { await post('/bindings', req); ok++; } catch (e) { if (e.status !== 409) { report(e); break; } }
    }
    flash(`Created ${ok} bindings.`);
    for (const b of t.querySelectorAll('tbody button')) b.replaceWith(badge('bound', 'ok'));
    bindAll.remove();
    onBound();
  }) : null;
  return h('section.card', { 'aria-labelledby': 'dr-h' },
    h('h3', { id: 'dr-h', text: `Discovery ${d.id}: ${d.state}` }),
    t, bindAll,
    d.refused.length ? h('div', null, h('h4', { text: 'Refused (never written)' }),
      h('ul', null, d.refused.map((r) => h('li', { text: `${r.iface} ${r.portal}: ${r.field} ${r.value}: ${r.reason}` })))) : null);
}
