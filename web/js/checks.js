// SPDX-License-Identifier: MIT
// Checks: one check (iface -> portal) with its steps and hints, and a matrix job
// (ifaces x portals) with live progress, cancel and its items.
import { get, post, del, pages, enc, idemKey } from './api.js';
import { h, put, clear, field, checkbox, table, statusBadge, dash, clearFieldErrors } from './dom.js';
import { flash, report, poll, heading, wbtn, onLeave, viewerNote } from './ui.js';

const STEPS = ['link', 'ping', 'tcp', 'iscsi'];
const MAX_ROWS = 500;

function stepsBox() {
  const boxes = STEPS.map((s) => checkbox('step-' + s, s, true));
  const fs = h('fieldset.inline', null, h('legend', { text: 'Steps' }), boxes);
  fs.value = () => boxes.filter((b) => b.input.checked).map((b) => b.input.name.slice(5));
  return fs;
}

// Options both forms share: steps, timeout, target and CHAP (write-only).
function options() {
  const steps = stepsBox();
  const timeout = field('timeout_ms', 'number', { label: 'Timeout (ms)', value: 5000, max: 60000, min: 1 });
  const target = field('target', 'text', { label: 'Target (optional: also log in to it)' });
  const user = field('chap.username', 'text', { label: 'CHAP username' });
  const pass = field('chap.password', 'password', { label: 'CHAP password', hint: 'Write-only: sent with this check, never shown or kept here.' });
  const el = h('div', null, steps, h('div.grid', null, timeout, target),
    h('details', null, h('summary', null, 'CHAP (for the target login)'), h('div.grid', null, user, pass)));
  el.apply = (body) => {
    const s = steps.value();
    if (s.length !== STEPS.length) body.steps = s;
    if (timeout.input.value) body.timeout_ms = Number(timeout.input.value);
    if (target.input.value.trim()) body.target = target.input.value.trim();
    if (user.input.value || pass.input.value) body.chap = { username: user.input.value, password: pass.input.value };
    return body;
  };
  el.forget = () => {
    if (pass.input.value) { pass.input.value = ''; pass.input.placeholder = 'set (sent, not kept)'; }
  };
  return el;
}

function stepRow(s) {
  const info = [];
  if (s.device) info.push('device ' + s.device);
  if (s.egress) info.push('egress ' + s.egress);
  if (s.source_address) info.push('source ' + s.source_address);
  if (s.rp_filter !== null && s.rp_filter !== undefined) info.push('rp_filter ' + s.rp_filter);
  const targets = s.targets && s.targets.length ? h('ul.plain', null, s.targets.map((t) => h('li.mono', { text: `${t.name} ${t.portals.join(' ')}` }))) : null;
  return h('tr', { testid: 'check-step-' + s.step },
    h('th', { scope: 'row', text: s.step }),
    h('td', null, statusBadge(s.status)),
    h('td', { text: s.latency_ms === null || s.latency_ms === undefined ? '—' : `${s.latency_ms} ms` }),
    h('td', { text: dash(s.reason) }),
    h('td', null, h('span', { text: s.hint || '' }),
      (s.warnings || []).map((w) => h('p.warn', { text: w })),
      targets,
      s.login ? h('p', { text: `login to ${s.login.target}: ${s.login.status}` }) : null),
    h('td', { text: info.join(', ') || '—' }));
}

function checkResult(r) {
  const steps = table('Steps', ['step', 'status', 'latency', 'reason', 'hint', 'details'].map((label) => ({ label })));
  put(steps.tbody, r.steps.map(stepRow));
  return h('section.card', { testid: 'check-result', 'aria-labelledby': 'cr-h' },
    h('h3', { id: 'cr-h', text: `${r.iface} → ${r.portal}` }),
    h('p', { testid: 'check-status' }, 'Status: ', statusBadge(r.status),
      r.reason ? ` (${r.reason})` : '', ` in ${r.elapsed_ms} ms`),
    r.hint ? h('p.hint', { text: r.hint }) : null,
    steps);
}

export async function render(main, _arg, alive) {
  const names = [];
  const ifaceSel = field('iface', 'select', { label: 'Iface', options: [] });
  const boxList = h('div.boxes');
  const boxFilter = field('iface-filter', 'text', { label: 'Show ifaces matching' });
  boxFilter.input.type = 'search';
  const selected = new Set();
  const drawBoxes = () => {
    const f = boxFilter.input.value.trim().toLowerCase();
    const shown = names.filter((n) => !f || n.toLowerCase().includes(f)).slice(0, 1000);
    put(boxList, shown.map((n) => {
      const c = checkbox('iface', n, selected.has(n), { value: n });
      c.input.addEventListener('change', () => { if (c.input.checked) selected.add(n); else selected.delete(n); });
      return c;
    }));
  };
  boxFilter.input.addEventListener('input', drawBoxes);
  const stop = pages('/ifaces', {}, (items, done) => {
    for (const it of items) names.push(it.name);
    if (done && alive()) {
      put(ifaceSel.input, names.map((n) => h('option', { value: n, text: n })));
      drawBoxes();
    }
  }, report);
  onLeave(stop);

  // ---- one check ----
  const portal = field('portal', 'text', { label: 'Portal', placeholder: '10.0.0.1:3260', required: true });
  const opt1 = options();
  const result = h('div', { 'aria-live': 'polite' });
  const f1 = h('form.card.w', { 'aria-labelledby': 'one-h', novalidate: true },
    h('h2', { id: 'one-h', text: 'Run a check' }),
    h('div.grid', null, ifaceSel, portal), opt1,
    h('div.row', null, h('button', { type: 'submit' }, 'Run check')));
  f1.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(f1);
    const name = ifaceSel.input.value;
    if (!name) { report(new Error('Choose an iface.')); return; }
    const body = opt1.apply({ portal: portal.input.value.trim() });
    opt1.forget();
    const btn = f1.querySelector('[type=submit]');
    btn.disabled = true;
    put(result, h('p.muted', { text: `Checking ${name} → ${body.portal}…` }));
    try {
      const { data } = await post('/ifaces/' + enc(name) + '/checks', body);
      if (alive()) put(result, checkResult(data));
    } catch (e) {
      clear(result);
      report(e, f1);
    } finally {
      btn.disabled = false;
    }
  });

  // ---- the matrix job ----
  const portals = field('portals', 'textarea', { label: 'Portals', hint: 'One per line: 10.0.0.1, 10.0.0.1:3260 or [fd00::1]:3260.' });
  const opt2 = options();
  const jobBox = h('div');
  const f2 = h('form.card.w', { 'aria-labelledby': 'job-h', novalidate: true },
    h('h2', { id: 'job-h', text: 'Check matrix' }),
    h('fieldset', null, h('legend', { text: 'Ifaces' }), boxFilter,
      h('div.row', null,
        h('button.secondary', { type: 'button', onclick: () => { for (const c of boxList.querySelectorAll('input')) { c.checked = true; selected.add(c.value); } } }, 'Select all shown'),
        h('button.secondary', { type: 'button', onclick: () => { selected.clear(); drawBoxes(); } }, 'Select none')),
      boxList),
    portals, opt2,
    h('div.row', null, h('button', { type: 'submit' }, 'Start job')));
  f2.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(f2);
    const body = opt2.apply({
      ifaces: [...selected],
      portals: portals.input.value.split('\n').map((s) => s.trim()).filter(Boolean),
    });
    opt2.forget();
    try {
      const { data } = await post('/checks', body, { headers: { 'Idempotency-Key': idemKey() } });
      flash(`Job started: ${data.total} checks.`);
      watch(data.id);
    } catch (e) {
      report(e, f2);
    }
  });

  let stopWatch = null;
  function watch(id) {
    if (stopWatch) stopWatch();
    const bar = h('progress', { role: 'progressbar', testid: 'job-progress', 'aria-label': 'Job progress', max: 1, value: 0 });
    const text = h('p', { 'aria-live': 'polite' });
    const cancel = wbtn('Cancel job', async () => {
      cancel.disabled = true;
      try { await del('/jobs/' + id); flash('Cancelling the job…'); } catch (e) { report(e); cancel.disabled = false; }
    });
    const items = table('Job items', ['#', 'iface', 'portal', 'status', 'reason', 'hint', 'ms'].map((label) => ({ label })));
    const more = h('p.muted');
    put(jobBox, h('section.card', { 'aria-labelledby': 'jw-h' }, h('h3', { id: 'jw-h', text: `Job ${id}` }), bar, text, h('div.row', null, cancel), items, more));
    let shown = -1;
    stopWatch = poll(async () => {
      const { data: j } = await get('/jobs/' + id);
      bar.max = Math.max(1, j.total);
      bar.value = j.done;
      bar.setAttribute('aria-valuemin', '0');
      bar.setAttribute('aria-valuemax', String(j.total));
      bar.setAttribute('aria-valuenow', String(j.done));
      text.textContent = `${j.state}: ${j.done} of ${j.total} done, ${j.ok} ok, ${j.failed} failed, ${j.cancelled} cancelled`;
      cancel.hidden = j.state !== 'running';
      const res = j.results || [];
      if (res.length !== shown) {
        shown = res.length;
        put(items.tbody, res.slice(0, MAX_ROWS).map((r) => h('tr', { testid: 'job-item-' + r.index },
          h('td', { text: String(r.index) }), h('th', { scope: 'row', text: r.iface }), h('td', { text: r.portal }),
          h('td', null, statusBadge(r.status)), h('td', { text: dash(r.reason) }), h('td', { text: r.hint || '' }),
          h('td', { text: String(r.elapsed_ms) }))));
        more.textContent = res.length > MAX_ROWS ? `Showing the first ${MAX_ROWS} of ${res.length} finished items.` : '';
      }
      return j.state === 'running';
    }, 500);
  }

  // ---- jobs kept by the daemon ----
  const jobs = h('div');
  get('/jobs').then(({ data }) => {
    if (!alive() || !data.jobs.length) return;
    const t = table('Recent jobs', ['job', 'state', 'progress', 'started', 'open'].map((label) => ({ label })));
    put(t.tbody, data.jobs.slice(0, 20).map((j) => h('tr', null,
      h('th', { scope: 'row', class: 'mono', text: j.id.slice(0, 8) }), h('td', null, statusBadge(j.state)),
      h('td', { text: `${j.done}/${j.total} (${j.ok} ok, ${j.failed} failed)` }), h('td', { text: j.created_at }),
      h('td', null, h('button.secondary', { type: 'button', 'aria-label': `Show job ${j.id.slice(0, 8)}`, onclick: () => watch(j.id) }, 'Show')))));
    put(jobs, h('h2', { text: 'Recent jobs' }), t);
  }).catch(() => {});

  put(main, heading('Checks'), viewerNote('Running checks needs the operator role.'), f1, result, f2, jobBox, jobs);
}
