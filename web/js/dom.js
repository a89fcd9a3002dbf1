// SPDX-License-Identifier: MIT
// DOM helpers: everything is built with createElement and textContent (no innerHTML), so every
// value from the API stays text.

// h('tag.class', {attr: value, onclick: fn, dataset...}, ...children)
export function h(spec, attrs, ...kids) {
  const [tag, ...cls] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (cls.length) el.className = cls.join(' ');
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'testid') el.dataset.testid = v;
      else if (k === 'class') el.className += (el.className ? ' ' : '') + v;
      else if (k === 'text') el.textContent = v;
      else if (k in el && typeof v !== 'string' && k !== 'list') el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  add(el, kids);
  return el;
}

function add(el, kids) {
  for (const k of kids) {
    if (k === null || k === undefined || k === false) continue;
    if (Array.isArray(k)) add(el, k);
    else if (k instanceof Node) el.appendChild(k);
    else el.appendChild(document.createTextNode(String(k)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function put(el, ...kids) {
  clear(el);
  add(el, kids);
  return el;
}

let uid = 0;
export const nextId = (p) => `${p}-${++uid}`;

// A labelled input with its error slot (data-testid=error-<field>).
// kind: 'text' | 'number' | 'password' | 'select' | 'textarea'; opts: {options, value, hint, ...}
export function field(name, kind, opts = {}) {
  const id = nextId('f');
  const errId = id + '-err';
  let input;
  if (kind === 'select') {
    input = h('select', {id, name});
    for (const o of opts.options) {
      const [v, t] = Array.isArray(o) ? o : [o, o];
      input.appendChild(h('option', {value: v, text: t}));
    }
  } else if (kind === 'textarea') {
    input = h('textarea', {id, name, rows: opts.rows || 4, spellcheck: 'false'});
  } else {
    input = h('input', {id, name, type: kind || 'text', autocomplete: 'off', spellcheck: 'false'});
    if (kind === 'number') { input.min = opts.min ?? 0; if (opts.max !== undefined) input.max = opts.max; input.inputMode = 'numeric'; }
    if (kind === 'password') input.autocomplete = 'new-password';
  }
  if (opts.value !== undefined && opts.value !== null) input.value = String(opts.value);
  if (opts.placeholder) input.placeholder = opts.placeholder;
  if (opts.required) input.required = true;
  if (opts.list) input.setAttribute('list', opts.list);
  const err = h('p.error', {id: errId, testid: 'error-' + name, hidden: true});
  const hint = opts.hint ? h('p.hint', {id: id + '-hint', text: opts.hint}) : null;
  input.setAttribute('aria-describedby', hint ? `${errId} ${id}-hint` : errId);
  const wrap = h('div.field', null, h('label', {for: id, text: opts.label || name}), input, hint, err);
  wrap.input = input;
  wrap.err = err;
  return wrap;
}

// Field errors: show a problem's detail next to its field, else return false.
export function showFieldError(form, fieldName, detail) {
  const err = form.querySelector(`[data-testid="error-${CSS.escape(fieldName)}"]`);
  if (!err) return false;
  err.textContent = detail;
  err.hidden = false;
  const input = err.parentElement.querySelector('input, select, textarea');
  if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
  return true;
}

export function clearFieldErrors(form) {
  for (const e of form.querySelectorAll('.field .error')) { e.textContent = ''; e.hidden = true; }
  for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
}

// A checkbox with its label.
export function checkbox(name, label, checked, attrs = {}) {
  const id = nextId('c');
  const input = h('input', {type: 'checkbox', id, name, checked: !!checked, ...attrs});
  const wrap = h('div.check', null, input, h('label', {for: id, text: label}));
  wrap.input = input;
  return wrap;
}

// A modal dialog (native <dialog>: focus moves in, Escape closes); focus returns where it was.
// build(close) returns the dialog's content; resolves with the value given to close().
export function modal(title, build) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const tid = nextId('dlg');
    const dlg = h('dialog', {'aria-labelledby': tid});
    let result;
    const close = (v) => { result = v; dlg.close(); };
    dlg.append(h('h2', {id: tid, text: title}), build(close));
    dlg.addEventListener('close', () => {
      dlg.remove();
      if (opener && opener.isConnected && opener.focus) opener.focus();
      resolve(result);
    });
    document.body.appendChild(dlg);
    dlg.showModal();
  });
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
}

export const dash = (v) => (v === null || v === undefined || v === '' ? '—' : String(v));

// A table in a horizontally scrolling container. cols: [{label, key?, sort?}]
export function table(label, cols, opts = {}) {
  const thead = h('thead', null, h('tr', null, cols.map((c) => h('th', {scope: 'col'}, c.head || c.label))));
  const tbody = h('tbody');
  const t = h('table', {'aria-label': label, testid: opts.testid}, opts.caption ? h('caption', {text: opts.caption}) : null, thead, tbody);
  const wrap = h('div.scroll', {tabindex: 0, role: 'region', 'aria-label': label + ' (scrolls)'}, t);
  wrap.table = t;
  wrap.tbody = tbody;
  return wrap;
}

export function badge(text, kind) {
  return h('span.badge', {class: kind ? 'b-' + kind : null, text});
}

export function statusBadge(s) {
  const ok = ['ok', 'up', 'present', 'LOGGED_IN', 'done', 'created', 'adopted', 'running'];
  const bad = ['failed', 'failing', 'missing', 'down', 'FAILED', 'cancelled', 'error'];
  const warn = ['degraded', 'skipped', 'unsupported', 'pending', 'logging-in', 'unbound'];
  const k = ok.includes(s) ? 'ok' : bad.includes(s) ? 'bad' : warn.includes(s) ? 'warn' : null;
  return badge(dash(s), k);
}
