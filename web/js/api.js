// SPDX-License-Identifier: MIT
// The API client: bearer token from sessionStorage, problem+json errors as ApiError,
// 401 brings the token dialog back, 403 shows the role needed.

const KEY = 'ifd.token';

export const token = {
  get: () => sessionStorage.getItem(KEY) || '',
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  get field() { return this.problem.field; }
}

// Hooks the shell sets: on401(reason), on403(detail).
export const hooks = { on401: () => {}, on403: () => {} };

// request('GET', '/ifaces', {query, body, etag, accept, type, headers, quiet})
// Resolves {status, data, etag, location}; rejects with ApiError (handled 401/403 included,
// marked .handled so views do not report them twice).
export async function request(method, path, opts = {}) {
  let url = '/api/v1' + path;
  if (opts.query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
    const s = q.toString();
    if (s) url += (url.includes('?') ? '&' : '?') + s;
  }
  const headers = { Accept: opts.accept || 'application/json', ...(opts.headers || {}) };
  const t = token.get();
  if (t) headers.Authorization = 'Bearer ' + t;
  if (opts.etag) headers['If-Match'] = opts.etag;
  const init = { method, headers, cache: 'no-store' };
  if (opts.body !== undefined) {
    headers['Content-Type'] = opts.type || 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, { title: 'Network error', detail: 'the daemon did not answer: ' + e.message });
  }
  const ct = res.headers.get('Content-Type') || '';
  let data = null;
  if (res.status !== 204 && method !== 'HEAD') {
    const text = await res.text();
    if (ct.includes('json')) {
      try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    } else data = text;
  }
  if (!res.ok && !(opts.okStatuses || []).includes(res.status)) {
    const problem = data && typeof data === 'object' ? data : { detail: typeof data === 'string' && data ? data : res.statusText };
    const err = new ApiError(res.status, problem);
    if (res.status === 401 && !opts.quiet) { err.handled = true; hooks.on401(err.message); }
    if (res.status === 403 && !opts.quiet) { err.handled = true; hooks.on403(err.message); }
    throw err;
  }
  return { status: res.status, data, etag: res.headers.get('ETag'), location: res.headers.get('Location') };
}

export const get = (p, o) => request('GET', p, o);
export const post = (p, body, o = {}) => request('POST', p, { ...o, body });
export const patch = (p, body, etag, o = {}) => request('PATCH', p, { ...o, body, etag, type: 'application/merge-patch+json' });
export const del = (p, etag, o = {}) => request('DELETE', p, { ...o, etag });

export const enc = encodeURIComponent;

// Every page of a cursor-paged list: onPage(items, done) is called as pages arrive.
// The first page is small so the first view comes fast; the rest come in big pages.
// Returns a function that stops further pages.
export function pages(path, { query = {}, cursorParam = 'cursor', nextKey = 'next_cursor', first = 200, rest = 1000 }, onPage, onError) {
  let stopped = false;
  (async () => {
    let cursor = null;
    let limit = first;
    try {
      do {
        const q = { ...query, limit };
        if (cursor) q[cursorParam] = cursor;
        const { data } = await get(path, { query: q });
        if (stopped) return;
        cursor = data[nextKey];
        onPage(data.items || [], !cursor);
        limit = rest;
      } while (cursor && !stopped);
    } catch (e) {
      if (!stopped) onError(e);
    }
  })();
  return () => { stopped = true; };
}

// A random Idempotency-Key.
export function idemKey() {
  const a = new Uint8Array(12);
  crypto.getRandomValues(a);
  return 'ui-' + Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
}
