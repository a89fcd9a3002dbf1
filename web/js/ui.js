// SPDX-License-Identifier: MIT
// Shared UI state and messages: the role, the flash (role=status) and alert (role=alert)
// areas, error reporting, and clean-ups run when the view changes (polls, timers).
import { h, put, clear, showFieldError, clearFieldErrors } from './dom.js';

export const state = { role: null, actor: null };

export const canWrite = () => state.role !== 'viewer';
export const isAdmin = () => state.role === 'admin' || state.role === null;

let flashTimer = 0;
export function flash(msg) {
  const el = document.getElementById('flash');
  put(el, msg);
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => clear(el), 8000);
}

export function alertMsg(msg, ...extra) {
  const el = document.getElementById('alert');
  put(el, h('span', { text: msg }), ...extra,
    h('button.link', { type: 'button', 'aria-label': 'Dismiss message', onclick: () => clear(el) }, '×'));
}

export function clearMessages() {
  clear(document.getElementById('alert'));
}

// Report an error: a 400 naming a field of `form` goes next to that field; anything else (and
// a 400 whose field is not in the form) goes to the alert area. 401/403 were handled already.
export function report(e, form) {
  if (e && e.handled) return;
  if (!e || e.status === undefined) { alertMsg(String(e && e.message || e)); console.error(e); return; }
  if (form) clearFieldErrors(form);
  const detail = e.message;
  if (form && e.status === 400 && e.field && showFieldError(form, e.field, detail)) return;
  const field = e.status === 400 && e.field ? ` (field ${e.field})` : '';
  alertMsg(`${e.problem.title || 'Error'} (${e.status}): ${detail}${field}`);
}

let cleanups = [];
export function onLeave(fn) { cleanups.push(fn); }
export function leave() {
  const c = cleanups;
  cleanups = [];
  for (const fn of c) { try { fn(); } catch (e) { console.error(e); } }
}

// A poll that stops when the view changes: fn() returns true to go on.
export function poll(fn, ms) {
  let timer = 0;
  let stopped = false;
  const tick = async () => {
    let again = false;
    try { again = await fn(); } catch (e) { report(e); }
    if (again && !stopped) timer = setTimeout(tick, ms);
  };
  const stop = () => { stopped = true; clearTimeout(timer); };
  onLeave(stop);
  tick();
  return stop;
}

// A write button: hidden (CSS) for a viewer.
export function wbtn(label, onclick, attrs = {}) {
  return h('button.w', { type: 'button', onclick, ...attrs }, label);
}

export function heading(text) {
  return h('h1', { text, tabindex: -1 });
}

// A note only a viewer sees, where write forms are hidden.
export function viewerNote(text) {
  return h('p.viewer-only.muted', { text });
}
