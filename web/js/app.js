// SPDX-License-Identifier: MIT
// The shell: token dialog, who am I, navigation and the hash router.
import { hooks, token, get, ApiError } from './api.js';
import { state, flash, alertMsg, clearMessages, leave } from './ui.js';
import { clear } from './dom.js';
import * as ifaces from './ifaces.js';
import * as nics from './nics.js';
import * as checks from './checks.js';
import * as bindings from './bindings.js';
import * as sessions from './sessions.js';
import * as health from './health.js';
import * as audit from './audit.js';

const routes = { ifaces, nics, checks, bindings, sessions, health, audit };
const $ = (id) => document.getElementById(id);
const main = $('main');
const dlg = $('token-dialog');
let signedIn = false;
let renderSeq = 0;

// ---- the token dialog ----------------------------------------------------------------------
let dlgOpener = null;
function askToken(reason) {
  $('token-reason').textContent = reason || 'This daemon needs an API token.';
  $('token-error').textContent = '';
  $('token-input').value = '';
  if (!dlg.open) {
    dlgOpener = document.activeElement;
    dlg.showModal();
  }
  $('token-input').focus();
}
dlg.addEventListener('close', () => {
  const o = dlgOpener;
  dlgOpener = null;
  if (o && o.isConnected && o !== document.body) o.focus();
  else main.focus();
});
$('token-cancel').addEventListener('click', () => dlg.close());
// A daemon run with --auth off answers without a token; asked for only when the user says so,
// since a request without credentials counts as a failed sign-in with auth on (the tarpit).
$('token-none').addEventListener('click', async () => {
  const old = token.get();
  token.clear();
  try {
    await whoami();
  } catch (e) {
    if (old) token.set(old);
    $('token-error').textContent = e.status === 401 ? `This daemon needs a token: ${e.message}` : `Could not sign in: ${e.message}`;
    $('token-input').focus();
    return;
  }
  dlg.close();
  flash(`Signed in as ${describe()}`);
  route();
});
$('token-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const t = $('token-input').value.trim();
  if (!t) { $('token-error').textContent = 'Enter a token.'; return; }
  const old = token.get();
  token.set(t);
  try {
    await whoami();
  } catch (e) {
    if (old) token.set(old); else token.clear();
    $('token-error').textContent = e.status === 401 ? `Not accepted: ${e.message}` : `Could not sign in: ${e.message}`;
    $('token-input').focus();
    return;
  }
  dlg.close();
  flash(`Signed in as ${describe()}`);
  route();
});
$('signin').addEventListener('click', () => askToken('Enter an API token.'));
$('signout').addEventListener('click', () => {
  token.clear();
  signedIn = false;
  state.role = null;
  state.actor = null;
  showWho();
  leave();
  clear(main);
  askToken('Signed out. Enter an API token to go on.');
});

hooks.on401 = (reason) => {
  // Calls made together fail together (and the daemon's tarpit answers them one by one):
  // one prompt for them all, not one more after the user closed it.
  if (!signedIn) return;
  signedIn = false;
  showWho();
  askToken(`Sign in again: ${reason}`);
};
hooks.on403 = (detail) => alertMsg(`Not allowed: ${detail}`);

// ---- who am I ------------------------------------------------------------------------------
function describe() {
  const a = state.actor ? ` (${state.actor.replace(':', ' ')})` : '';
  return `${state.role || 'role unknown'}${a}`;
}

function showWho() {
  $('whoami').textContent = signedIn ? describe() : 'not signed in';
  document.body.dataset.role = state.role || 'unknown';
  $('signin').hidden = signedIn && !!token.get();
  $('signout').hidden = !token.get();
}

// GET /api/v1/whoami; where the daemon does not have it (404), the role is found by trying:
// the audit trail answers an admin, and a 403 names the caller and its role.
async function whoami() {
  const quiet = { quiet: true };
  let role = null;
  let actor = null;
  try {
    const { data } = await get('/whoami', quiet);
    role = data.role || null;
    actor = data.actor || null;
  } catch (e) {
    if (e.status !== 404) throw e;
    try {
      await get('/audit', { ...quiet, query: { limit: 1 } });
      role = 'admin';
    } catch (e2) {
      if (e2.status === 401 || e2.status === 0) throw e2;
      const m = /(\S+) has the (viewer|operator|admin) role/.exec(e2.message);
      if (m) { actor = m[1]; role = m[2]; }
    }
    if (!actor) {
      const m = /^ifd_([0-9a-f]{12})_/.exec(token.get());
      if (m) actor = 'token:' + m[1];
    }
  }
  state.role = role;
  state.actor = actor;
  signedIn = true;
  showWho();
}

// ---- the router ----------------------------------------------------------------------------
function parse() {
  const parts = (location.hash.replace(/^#\/?/, '') || 'ifaces').split('/');
  return { view: parts[0], arg: parts.slice(1).map(decodeURIComponent).join('/') };
}

function markNav(view) {
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === '#/' + view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  leave();
  clearMessages();
  const { view, arg } = parse();
  const mod = routes[view];
  if (!mod) { location.replace('#/ifaces'); return; }
  markNav(view);
  if (!signedIn) return;
  const seq = ++renderSeq;
  clear(main);
  try {
    await mod.render(main, arg, () => seq === renderSeq);
  } catch (e) {
    if (!e.handled) alertMsg(e instanceof ApiError ? `${e.problem.title || 'Error'} (${e.status}): ${e.message}` : String(e));
    if (!(e instanceof ApiError)) console.error(e);
  }
}

window.addEventListener('hashchange', () => {
  route().then(() => {
    // Move focus to the new view's heading for keyboard and screen reader users, unless the
    // view put it somewhere already (a form field, a highlighted row).
    if (main.contains(document.activeElement) && document.activeElement !== main) return;
    const h1 = main.querySelector('h1');
    if (h1) h1.focus();
  });
});

async function start() {
  showWho();
  if (!token.get()) {
    // Nothing to try yet: a request without a token would count as a failed sign-in.
    askToken('This daemon needs an API token (or, run with --auth off, none).');
    return;
  }
  try {
    await whoami();
  } catch (e) {
    if (e.status === 401) askToken(token.get() ? `Sign in again: ${e.message}` : 'This daemon needs an API token.');
    else alertMsg(`Cannot reach the daemon: ${e.message}`);
    return;
  }
  route();
}
start();
