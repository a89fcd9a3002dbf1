// SPDX-License-Identifier: MIT
// End-to-end tests of the web UI against docs/ui.md, in Debian's chromium through playwright-core.
// Run by tests/ui/run.sh, which starts the daemon and passes (environment):
//   UI_URL        http://127.0.0.1:PORT of the daemon (--auth on, --web-root web/)
//   UI_TOKENS     a directory with token.viewer, token.operator, token.admin
//   UI_NIC        a NIC that exists where the daemon runs (ifdui0 in the private namespace, else lo)
//   UI_NETNS      1 when the daemon runs in a namespace of its own (lo has a global address there)
//   UI_SRC        the source tree (docs/screenshots/ is written there when UI_SCREENSHOTS=1)
//   UI_CHROMIUM   the browser (/usr/bin/chromium)
// Prints one "PASS: <n> <what>" or "FAIL: <n> <what>: <why>" line per check, the numbers being
// those of the brief (1 token prompt ... 10 overflow), 11 the keyboard, 12 a value outside a
// list. Exit 0 all passed, 1 otherwise.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const URL = process.env.UI_URL;
const TOKDIR = process.env.UI_TOKENS;
const NIC = process.env.UI_NIC || 'lo';
const NETNS = process.env.UI_NETNS === '1';
const SRC = process.env.UI_SRC || path.resolve(path.dirname(new globalThis.URL(import.meta.url).pathname), '../..');
const SCREENSHOTS = process.env.UI_SCREENSHOTS === '1';
const SHOTDIR = path.join(SRC, 'docs', 'screenshots');
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 360, height: 740 };
const T0 = Date.now();

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
        "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; " +
        "frame-ancestors 'none'";

const tokens = Object.fromEntries(['viewer', 'operator', 'admin'].map(
        (r) => [r, readFileSync(path.join(TOKDIR, `token.${r}`), 'utf8').trim()]));

const LAUNCH = {
        executablePath: process.env.UI_CHROMIUM || '/usr/bin/chromium',
        headless: true,
        // playwright's launch() gives every browser a fresh user-data-dir of its own under
        // TMPDIR (run.sh points TMPDIR into its temp dir, removed at exit).
        args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--no-first-run', '--disable-quic'],
};

// ------------------------------------------------------------------ reporting
let failures = 0;
let passes = 0;
const secs = () => ((Date.now() - T0) / 1000).toFixed(1);
function pass(id, what) {
        passes++;
        console.log(`PASS: ${id} ${what}`);
}
function fail(id, what, why) {
        failures++;
        console.log(`FAIL: ${id} ${what}: ${why}`);
}
// Playwright's messages carry a call log: the first lines say what was waited for.
function short(e) {
        const s = String(e && e.message ? e.message : e).replace(/\x1b\[[0-9;]*m/g, '');
        return s.split('\n').filter((l) => l.trim()).slice(0, 4).join(' | ').slice(0, 600);
}
// check(id, what, fn): fn returns nothing or a note; a throw is a FAIL with its message.
async function check(id, what, fn) {
        const t = Date.now();
        try {
                const note = await fn();
                pass(id, `${what}${note ? ` (${note})` : ''} [${Date.now() - t} ms]`);
                return true;
        } catch (e) {
                fail(id, what, short(e));
                return false;
        }
}
function assert(cond, msg) {
        if (!cond) throw new Error(msg);
}

// ------------------------------------------------------------------ the API, for setup
async function api(method, p, { token = tokens.admin, body, headers = {} } = {}) {
        const h = { Authorization: `Bearer ${token}`, ...headers };
        if (body !== undefined && !h['Content-Type'])
                h['Content-Type'] = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
        const r = await fetch(URL + p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
        const text = await r.text();
        let json = null;
        try {
                json = JSON.parse(text);
        } catch {
                /* text/plain or empty */
        }
        return { status: r.status, headers: r.headers, text, json };
}
async function mkIface(body) {
        const r = await api('POST', '/api/v1/ifaces', { body });
        if (r.status !== 201) throw new Error(`setup: POST /api/v1/ifaces ${JSON.stringify(body)}: ${r.status} ${r.text}`);
        return r;
}
// curl, as a second client would change a record behind the page's back.
function curl(...args) {
        return execFileSync('curl', ['-s', '-i', '--max-time', '10', '-H', `Authorization: Bearer ${tokens.admin}`, ...args],
                { encoding: 'utf8' });
}

// ------------------------------------------------------------------ browser helpers
let browser;
// A page in a context of its own (fresh sessionStorage); console errors, page errors and CSP
// violations (also from the securitypolicyviolation event) collected in page.problems.
//
// token: the page starts signed in, its token put in sessionStorage (key ifd.token, docs/ui.md)
// before the app's scripts run. Signing in through the dialog costs a token-less
// GET /api/v1/whoami (the app's probe): a failed authentication, and the daemon's tarpit delays
// every one from the 3rd within 60 s (docs/security.md), up to 5 s. So only the tests of the
// dialog (1, and the viewer of 7) sign in through it.
async function newPage({ token } = {}) {
        const ctx = await browser.newContext({ viewport: DESKTOP });
        ctx.setDefaultTimeout(6000);
        if (token) {
                await ctx.addInitScript((t) => {
                        try {
                                if (location.protocol === 'http:' && !sessionStorage.getItem('ifd.token'))
                                        sessionStorage.setItem('ifd.token', t);
                        } catch {
                                /* about:blank has no storage */
                        }
                }, token);
        }
        await ctx.addInitScript(() => {
                window.__ifdCsp = [];
                document.addEventListener('securitypolicyviolation', (e) =>
                        window.__ifdCsp.push(`${e.violatedDirective} ${e.blockedURI || ''} ${e.sourceFile || ''}:${e.lineNumber || ''}`));
        });
        const page = await ctx.newPage();
        page.problems = [];
        page.on('console', (m) => {
                if (m.type() === 'error') page.problems.push(`console: ${m.text().slice(0, 300)}`);
        });
        page.on('pageerror', (e) => page.problems.push(`pageerror: ${String(e.message).slice(0, 300)}`));
        page.httpErrors = [];
        page.on('response', async (r) => {
                if (r.status() < 400) return;
                const auth = await r.request().headerValue('authorization').catch(() => null);
                page.httpErrors.push({ status: r.status(), method: r.request().method(),
                        path: new globalThis.URL(r.url()).pathname, auth: !!auth });
        });
        return page;
}
async function cspViolations(page) {
        try {
                return await page.evaluate(() => window.__ifdCsp || []);
        } catch {
                return [];
        }
}
const tokenDialog = (page) => page.getByRole('dialog', { name: 'API token' });
const mainNav = (page) => page.getByRole('navigation', { name: 'Main' });

async function signIn(page, token, hash = '#/ifaces') {
        await page.goto(`${URL}/${hash}`);
        const dlg = tokenDialog(page);
        await dlg.waitFor();
        await dlg.getByLabel('Token', { exact: true }).fill(token);
        await dlg.getByRole('button', { name: 'Sign in' }).click();
        await dlg.waitFor({ state: 'hidden' });
        await mainNav(page).waitFor();
}
// openApp(page, hash): a page made with a token: load the app, wait for it (no dialog).
async function openApp(page, hash) {
        await page.goto(`${URL}/${hash}`);
        await mainNav(page).waitFor();
        if (await tokenDialog(page).isVisible()) throw new Error('the token dialog shows with a token in sessionStorage');
}
// Navigate by hash in the signed-in page (a same-document navigation).
async function go(page, hash) {
        await page.evaluate((h) => {
                location.hash = h;
        }, hash);
}
// Poll fn until it returns a truthy value, at most ms; returns the value or throws what.
async function until(fn, ms, what) {
        const end = Date.now() + ms;
        let last;
        for (;;) {
                try {
                        last = await fn();
                        if (last) return last;
                } catch (e) {
                        last = e;
                }
                if (Date.now() > end) throw new Error(`${what} (last: ${short(last)})`);
                await new Promise((r) => setTimeout(r, 50));
        }
}
// shot(page, name): docs/screenshots/<name>.png at the page's (desktop) size, with UI_SCREENSHOTS=1.
async function shot(page, name) {
        if (!SCREENSHOTS) return;
        mkdirSync(SHOTDIR, { recursive: true });
        await page.screenshot({ path: path.join(SHOTDIR, `${name}.png`) });
}
// Is the element within px of the other (vertically or horizontally adjacent boxes)?
async function near(a, b, px) {
        const ba = await a.boundingBox();
        const bb = await b.boundingBox();
        if (!ba || !bb) return false;
        const dx = Math.max(0, Math.max(ba.x, bb.x) - Math.min(ba.x + ba.width, bb.x + bb.width));
        const dy = Math.max(0, Math.max(ba.y, bb.y) - Math.min(ba.y + ba.height, bb.y + bb.height));
        return dx <= px && dy <= px;
}

// ------------------------------------------------------------------ 1. the token prompt
async function testToken() {
        const page = await newPage();
        try {
                await check(1, 'the token prompt: a dialog "API token" with "Token" and "Sign in" on first load', async () => {
                        await page.goto(`${URL}/`);
                        const dlg = tokenDialog(page);
                        await dlg.waitFor();
                        await dlg.getByLabel('Token', { exact: true }).waitFor();
                        await dlg.getByRole('button', { name: 'Sign in' }).waitFor();
                });
                await check(1, 'a wrong token: the error shows (token-error) and the dialog stays', async () => {
                        const dlg = tokenDialog(page);
                        await dlg.getByLabel('Token', { exact: true }).fill('ifd_not-a-token-0123456789');
                        await dlg.getByRole('button', { name: 'Sign in' }).click();
                        const err = page.getByTestId('token-error');
                        await err.waitFor();
                        const t = (await err.innerText()).trim();
                        assert(t.length > 0, 'token-error is empty');
                        assert(await dlg.isVisible(), 'the dialog went away after a wrong token');
                        return `"${t.slice(0, 80)}"`;
                });
                await check(1, 'the right token: the app (navigation "Main", whoami says admin), token in sessionStorage only', async () => {
                        const dlg = tokenDialog(page);
                        await dlg.getByLabel('Token', { exact: true }).fill(tokens.admin);
                        await dlg.getByRole('button', { name: 'Sign in' }).click();
                        await dlg.waitFor({ state: 'hidden' });
                        await mainNav(page).waitFor();
                        const who = page.getByTestId('whoami');
                        const w = await until(async () => {
                                const s = (await who.innerText()).trim();
                                return /admin/.test(s) && s;
                        }, 5000, 'whoami does not say admin');
                        const st = await page.evaluate(() => ({
                                ss: sessionStorage.getItem('ifd.token'),
                                ls: Object.keys(localStorage).length,
                                cookie: document.cookie,
                        }));
                        assert(st.ss === tokens.admin, `sessionStorage ifd.token is ${JSON.stringify(st.ss)}`);
                        assert(st.ls === 0, `localStorage holds ${st.ls} keys`);
                        const cookies = await page.context().cookies();
                        assert(cookies.length === 0 && !st.cookie, `cookies set: ${JSON.stringify(cookies)}`);
                        return `whoami "${w}"`;
                });
                await check(1, 'a 401 later (the stored token no longer accepted) brings the dialog back with the reason', async () => {
                        await page.evaluate(() => sessionStorage.setItem('ifd.token', 'ifd_000000000000_notatoken'));
                        await go(page, '#/nics');
                        const dlg = tokenDialog(page);
                        await dlg.waitFor();
                        const t = (await dlg.innerText()).replace(/\s+/g, ' ').trim();
                        assert(/401|again|not accepted|unknown|invalid|revoked/i.test(t), `the dialog gives no reason: "${t.slice(0, 200)}"`);
                        return `"${t.slice(0, 100)}"`;
                });
        } finally {
                await page.context().close();
        }
}

// ------------------------------------------------------------------ 2. create with a bad MAC
async function testCreate() {
        const page = await newPage({ token: tokens.admin });
        const name = 'uimac';
        try {
                await openApp(page, '#/ifaces');
                let form;
                await check(2, 'create with a bad hwaddress: the field error shows next to the field', async () => {
                        await page.getByTestId('iface-new').click();
                        form = page.getByRole('form', { name: 'New iface' });
                        await form.waitFor();
                        await form.getByLabel('name', { exact: true }).fill(name);
                        await form.getByLabel('hwaddress', { exact: true }).fill('52:54:00:zz:34');
                        await form.getByRole('button', { name: 'Create' }).click();
                        const err = page.getByTestId('error-hwaddress');
                        await err.waitFor();
                        const t = (await err.innerText()).trim();
                        assert(t.length > 0, 'error-hwaddress is empty');
                        const input = form.getByLabel('hwaddress', { exact: true });
                        const described = (await input.getAttribute('aria-describedby')) || '';
                        const errId = await err.getAttribute('id');
                        const linked = errId && described.split(/\s+/).includes(errId);
                        assert(linked || (await near(input, err, 60)),
                                'error-hwaddress is neither the input\'s aria-describedby nor within 60 px of it');
                        assert((await input.getAttribute('aria-invalid')) === 'true' || linked,
                                'the input is not marked aria-invalid');
                        const r = await api('GET', `/api/v1/ifaces/${name}`);
                        assert(r.status === 404, `the bad record was created anyway (${r.status})`);
                        await shot(page, 'iface-field-error');
                        return `"${t.slice(0, 90)}"${linked ? ', aria-describedby' : ''}`;
                });
                await check(2, 'fix it: created, in the table and in the detail\'s text view', async () => {
                        const mac = '52:54:00:12:34:56';
                        await form.getByLabel('hwaddress', { exact: true }).fill(mac);
                        await form.getByRole('button', { name: 'Create' }).click();
                        await until(async () => (await api('GET', `/api/v1/ifaces/${name}`)).status === 200, 5000,
                                'the iface was not created');
                        await go(page, '#/ifaces');
                        await page.getByRole('table', { name: 'Ifaces' }).getByTestId(`iface-row-${name}`).waitFor();
                        await go(page, `#/ifaces/${name}`);
                        const pre = page.getByTestId('iface-text');
                        const want = (await api('GET', `/api/v1/ifaces/${name}`, { headers: { Accept: 'text/plain' } })).text;
                        assert(want.includes(`iface.hwaddress = ${mac}`), `the API's text/plain lacks the MAC: ${want.slice(0, 200)}`);
                        await until(async () => (await pre.innerText()).trim() === want.trim(), 5000,
                                'iface-text is not the API\'s text/plain representation');
                        const tag = await pre.evaluate((el) => el.tagName);
                        assert(tag === 'PRE', `iface-text is a <${tag}>, not <pre>`);
                });
        } finally {
                await page.context().close();
        }
}

// ------------------------------------------------------------------ 3. a 412
async function testConflict() {
        const page = await newPage({ token: tokens.admin });
        const name = 'uiconf';
        try {
                await mkIface({ name, net_ifacename: NIC, ipaddress: NETNS ? '10.211.78.5' : '127.0.0.5' });
                await openApp(page, `#/ifaces/${name}`);
                let form;
                await check(3, 'a 412: edit, the record changes behind the page (curl PATCH with its ETag), Save: the conflict with "Reload"', async () => {
                        await page.getByRole('button', { name: 'Edit', exact: true }).click();
                        form = page.getByRole('form', { name: 'Edit iface' });
                        await form.waitFor();
                        await form.getByLabel('ipaddress', { exact: true }).fill('10.211.78.6');
                        // Behind the page's back: GET for the ETag, PATCH with If-Match.
                        const head = curl(`${URL}/api/v1/ifaces/${name}`);
                        const etag = (head.match(/^etag:\s*(.+?)\r?$/im) || [])[1];
                        assert(etag, `no ETag in GET: ${head.slice(0, 200)}`);
                        const out = curl('-X', 'PATCH', '-H', 'Content-Type: application/merge-patch+json',
                                '-H', `If-Match: ${etag}`, '-d', '{"ipaddress":"10.211.78.9"}', `${URL}/api/v1/ifaces/${name}`);
                        assert(/^HTTP\/1\.[01] 200/.test(out), `curl PATCH: ${out.split('\n')[0]}`);
                        await form.getByRole('button', { name: 'Save' }).click();
                        const c = page.getByTestId('conflict');
                        await c.waitFor();
                        await c.getByRole('button', { name: 'Reload' }).waitFor();
                        const r = await api('GET', `/api/v1/ifaces/${name}`);
                        assert(r.json && r.json.ipaddress === '10.211.78.9', `the page's Save overwrote the other change: ${r.text.slice(0, 200)}`);
                        await shot(page, 'iface-conflict');
                        return `"${(await c.innerText()).trim().replace(/\s+/g, ' ').slice(0, 100)}"`;
                });
                await check(3, 'Reload after the 412 shows the other client\'s value', async () => {
                        await page.getByTestId('conflict').getByRole('button', { name: 'Reload' }).click();
                        const where = await until(async () => {
                                const inp = page.getByRole('form', { name: 'Edit iface' }).getByLabel('ipaddress', { exact: true });
                                // Short timeouts: Reload renders the view again, an element can go meanwhile.
                                if ((await inp.count()) === 1 && (await inp.inputValue({ timeout: 200 }).catch(() => '')) === '10.211.78.9')
                                        return 'the form';
                                const pre = page.getByTestId('iface-text');
                                if ((await pre.count()) === 1 &&
                                        /iface\.ipaddress = 10\.211\.78\.9/.test(await pre.innerText({ timeout: 200 }).catch(() => '')))
                                        return 'the text view';
                                return false;
                        }, 5000, 'neither the edit form nor the text view shows ipaddress 10.211.78.9');
                        return `shown in ${where}`;
                });
                await check(3, 'Delete from the detail: the dialog "Delete iface" (Cancel keeps it, Delete removes it)', async () => {
                        await go(page, `#/ifaces/${name}`);
                        await page.getByTestId('iface-text').waitFor();
                        await page.getByTestId('iface-delete').click();
                        const dlg = page.getByRole('dialog', { name: 'Delete iface' });
                        await dlg.getByRole('button', { name: 'Cancel' }).click();
                        await dlg.waitFor({ state: 'hidden' });
                        assert((await api('GET', `/api/v1/ifaces/${name}`)).status === 200, 'Cancel deleted the iface');
                        await page.getByTestId('iface-delete').click();
                        await dlg.getByRole('button', { name: 'Delete', exact: true }).click();
                        await until(async () => (await api('GET', `/api/v1/ifaces/${name}`)).status === 404, 5000,
                                'the iface is still there after Delete');
                        await go(page, '#/ifaces');
                        await page.getByRole('table', { name: 'Ifaces' }).getByTestId('iface-row-uimac').waitFor();
                        assert((await page.getByTestId(`iface-row-${name}`).count()) === 0, `the table still lists ${name}`);
                });
        } finally {
                await page.context().close();
        }
}

// ------------------------------------------------------------------ 4. NICs with their ifaces
async function testNics() {
        const page = await newPage({ token: tokens.admin });
        try {
                await mkIface({ name: 'uinic', net_ifacename: NIC });
                await openApp(page, '#/nics');
                await check(4, `NICs: the row of ${NIC} lists the iface bound to it (uinic)`, async () => {
                        const table = page.getByRole('table', { name: 'NICs' });
                        await table.waitFor();
                        await table.getByTestId(`nic-row-${NIC}`).waitFor();
                        const cell = page.getByTestId(`nic-ifaces-${NIC}`);
                        await until(async () => /\buinic\b/.test(await cell.innerText()), 5000,
                                `nic-ifaces-${NIC} does not name uinic`);
                        return `"${(await cell.innerText()).trim().slice(0, 80)}"`;
                });
                await check(4, 'HBAs: a table "HBAs" on the same view', async () => {
                        await page.getByRole('table', { name: 'HBAs' }).waitFor({ state: 'attached' });
                });
        } finally {
                await page.context().close();
        }
}

// ------------------------------------------------------------------ 11. the keyboard alone
// From the navigation to a created iface and its deletion with Tab, Enter, typing and Escape
// only: no click, no mouse. Focus must be visible where it lands (an outline or a box shadow).
async function testKeyboard() {
        const page = await newPage({ token: tokens.admin });
        const name = 'uikbd';
        const focused = () => page.evaluate(() => {
                const a = document.activeElement;
                return a ? `${a.tagName.toLowerCase()}|${a.getAttribute('aria-label') || a.labels?.[0]?.innerText || a.innerText || a.name || ''}`.trim() : '';
        });
        // Tab until the focused element's text or label matches re (at most n presses).
        const tabTo = async (re, n = 60) => {
                for (let i = 0; i < n; i++) {
                        await page.keyboard.press('Tab');
                        if (re.test(await focused())) return;
                }
                throw new Error(`Tab never reached ${re} (last: ${await focused()})`);
        };
        try {
                await openApp(page, '#/health');
                await check(11, 'keyboard only: Tab to the "Ifaces" link and Enter opens the view; focus is visible', async () => {
                        await page.evaluate(() => document.activeElement && document.activeElement.blur());
                        await tabTo(/^a\|Ifaces$/);
                        const ring = await page.evaluate(() => {
                                const cs = getComputedStyle(document.activeElement);
                                return (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0) || cs.boxShadow !== 'none';
                        });
                        assert(ring, 'the focused link shows no outline or box shadow');
                        await page.keyboard.press('Enter');
                        await page.getByRole('table', { name: 'Ifaces' }).waitFor();
                });
                await check(11, 'keyboard only: "New iface", type a name, Enter creates it', async () => {
                        await tabTo(/^button\|New iface$/);
                        await page.keyboard.press('Enter');
                        const form = page.getByRole('form', { name: 'New iface' });
                        await form.waitFor();
                        await tabTo(/^input\|name/);
                        await page.keyboard.type(name);
                        await page.keyboard.press('Enter');
                        await until(async () => (await api('GET', `/api/v1/ifaces/${name}`)).status === 200, 5000,
                                'Enter in the form did not create the iface');
                });
                await check(11, 'keyboard only: the delete dialog takes focus, Escape closes it and gives focus back, Enter on Delete deletes', async () => {
                        await go(page, `#/ifaces/${name}`);
                        await page.getByTestId('iface-delete').waitFor();
                        await tabTo(/^button\|Delete$/);
                        await page.keyboard.press('Enter');
                        const dlg = page.getByRole('dialog', { name: 'Delete iface' });
                        await dlg.waitFor();
                        assert(await dlg.evaluate((d) => d.contains(document.activeElement)), 'focus is not in the dialog');
                        await page.keyboard.press('Escape');
                        await dlg.waitFor({ state: 'hidden' });
                        assert(/^button\|Delete$/.test(await focused()), `focus went to ${await focused()}, not back to Delete`);
                        await page.keyboard.press('Enter');
                        await dlg.waitFor();
                        await tabTo(/^button\|Delete$/, 10);
                        assert(await dlg.evaluate((d) => d.contains(document.activeElement)), 'Tab left the modal dialog');
                        await page.keyboard.press('Enter');
                        await until(async () => (await api('GET', `/api/v1/ifaces/${name}`)).status === 404, 5000,
                                'Enter on Delete did not delete the iface');
                });
        } finally {
                await page.context().close();
        }
}

// ------------------------------------------------------------------ 12. a value outside a list
// A record made from an HBA's sysfs holds the kernel's router state in router_autocfg
// (Advertised, as iscsiadm writes it); the edit form's select lists auto and disable. Editing
// another key must keep it: the select shows it, and Save does not unset it.
async function testKeptValue() {
        const page = await newPage({ token: tokens.admin });
        const name = 'uihba-ipv6';
        try {
                await mkIface({ name, transport_name: 'qla4xxx', hwaddress: '00:0e:1e:04:8b:14',
                        router_autocfg: 'Advertised', linklocal_autocfg: 'auto' });
                await openApp(page, `#/ifaces/${name}`);
                await check(12, 'a value outside a select\'s list (router_autocfg Advertised) is shown and kept when another key is saved', async () => {
                        await page.getByRole('button', { name: 'Edit', exact: true }).click();
                        const form = page.getByRole('form', { name: 'Edit iface' });
                        await form.waitFor();
                        await form.locator('summary', { hasText: 'More keys' }).click();
                        const sel = form.getByLabel('router_autocfg', { exact: true });
                        const shown = await sel.inputValue();
                        assert(shown === 'Advertised', `the select shows '${shown}', not Advertised`);
                        await form.getByLabel('mtu', { exact: true }).fill('1400');
                        await form.getByRole('button', { name: 'Save' }).click();
                        await until(async () => {
                                const r = await api('GET', `/api/v1/ifaces/${name}`);
                                return r.json && r.json.mtu === 1400;
                        }, 5000, 'mtu was not saved');
                        const r = await api('GET', `/api/v1/ifaces/${name}`);
                        assert(r.json.router_autocfg === 'Advertised',
                                `Save changed router_autocfg to ${JSON.stringify(r.json.router_autocfg)}`);
                        return 'mtu 1400 saved, router_autocfg still Advertised';
                });
        } finally {
                await page.context().close();
        }
}

// ------------------------------------------------------------------ 5. a failed check
async function testCheck() {
        const page = await newPage({ token: tokens.admin });
        const portal = '127.0.0.1:1';
        try {
                await mkIface({ name: 'uilo', net_ifacename: 'lo' });
                // What the API says for the same check: the step that fails and its hint.
                const r = await api('POST', '/api/v1/ifaces/uilo/checks', { body: { portal, timeout_ms: 3000 } });
                if (r.status !== 200) throw new Error(`setup: the API's own check: ${r.status} ${r.text}`);
                const failed = r.json.steps.find((s) => s.status === 'failed');
                await openApp(page, '#/checks');
                await check(5, `a check of a closed port (${portal} via lo): the failed step (${failed && failed.step}: ${failed && failed.reason}) and its hint shown`, async () => {
                        assert(failed && failed.hint, `the API's check has no failed step with a hint: ${r.text.slice(0, 300)}`);
                        const form = page.getByRole('form', { name: 'Run a check' });
                        await form.waitFor();
                        await form.getByLabel('Iface', { exact: true }).selectOption('uilo');
                        await form.getByLabel('Portal', { exact: true }).fill(portal);
                        await form.getByRole('button', { name: 'Run check' }).click();
                        await page.getByTestId('check-result').waitFor();
                        const status = page.getByTestId('check-status');
                        await until(async () => /failed/i.test(await status.innerText()), 8000, 'check-status does not say failed');
                        const step = page.getByTestId(`check-step-${failed.step}`);
                        const t = (await step.innerText()).replace(/\s+/g, ' ');
                        assert(/failed/i.test(t), `check-step-${failed.step} does not say failed: "${t.slice(0, 200)}"`);
                        assert(t.includes(failed.hint.replace(/\s+/g, ' ').trim()),
                                `check-step-${failed.step} lacks the hint "${failed.hint}": "${t.slice(0, 300)}"`);
                        for (const s of r.json.steps) await page.getByTestId(`check-step-${s.step}`).waitFor();
                        await page.getByTestId('check-result').scrollIntoViewIfNeeded();
                        await shot(page, 'check-result');
                        return `"${t.slice(0, 120)}"`;
                });
        } finally {
                await page.context().close();
        }
}

// ------------------------------------------------------------------ 6. a matrix job
async function testMatrix() {
        const page = await newPage({ token: tokens.admin });
        // 127.0.0.1:1 and :2 are refused at once (or fail at the link step); 10.211.78.99 is on
        // the dummy's subnet, where nothing ever answers: those items wait for their deadline,
        // so the progress is seen moving.
        const portals = ['127.0.0.1:1', '127.0.0.1:2', '10.211.78.99'];
        const ifaces = ['uilo', 'uinic'];
        const total = ifaces.length * portals.length;
        try {
                await openApp(page, '#/checks');
                await check(6, `a matrix job (${ifaces.length} ifaces x ${portals.length} portals): the progress moves to done`, async () => {
                        const form = page.getByRole('form', { name: 'Check matrix' });
                        await form.waitFor();
                        for (const i of ifaces) await form.getByRole('checkbox', { name: i, exact: true }).check();
                        await form.getByLabel('Portals', { exact: true }).fill(portals.join('\n'));
                        await form.getByRole('button', { name: 'Start job' }).click();
                        const bar = page.getByTestId('job-progress');
                        await bar.waitFor();
                        const role = await bar.getAttribute('role');
                        assert(role === 'progressbar', `job-progress has role ${role}`);
                        const seen = [];
                        const cancel = page.getByRole('button', { name: 'Cancel job' });
                        let cancelSeen = false;
                        await until(async () => {
                                const now = Number(await bar.getAttribute('aria-valuenow'));
                                const max = Number(await bar.getAttribute('aria-valuemax'));
                                if (seen.length === 0 || seen[seen.length - 1] !== now) seen.push(now);
                                if (!cancelSeen && (await cancel.count()) > 0 && (await cancel.first().isVisible())) cancelSeen = true;
                                return max === total && now === total;
                        }, 20000, `the progress did not reach ${total}/${total} (seen ${seen.join(',')})`);
                        // The end: every item in the table "Job items", "Cancel job" gone, "done" said.
                        const items = page.getByRole('table', { name: 'Job items' });
                        for (let i = 0; i < total; i++) await items.getByTestId(`job-item-${i}`).waitFor();
                        await until(async () => (await cancel.count()) === 0 || !(await cancel.first().isVisible()), 3000,
                                '"Cancel job" is still shown after the job is done');
                        await until(async () => /\bdone\b/i.test(await page.locator('main').innerText()), 5000,
                                'the job\'s state "done" is not shown');
                        await bar.scrollIntoViewIfNeeded();
                        await shot(page, 'check-job');
                        assert(seen.some((v) => v < total) || !NETNS,
                                `the progress was never seen below ${total} (seen ${seen.join(',')})`);
                        return `aria-valuenow seen ${seen.join(' -> ')} of ${total}${cancelSeen ? ', "Cancel job" shown while running' : ''}`;
                });
        } finally {
                await page.context().close();
        }
}

// ------------------------------------------------------------------ 7. roles
async function testRoles() {
        const page = await newPage();
        try {
                await signIn(page, tokens.viewer, '#/ifaces');
                await check(7, 'a viewer (signed in through the dialog): whoami says viewer, no write buttons, no Audit link', async () => {
                        const who = page.getByTestId('whoami');
                        await until(async () => /viewer/.test(await who.innerText()), 5000, 'whoami does not say viewer');
                        await page.getByRole('table', { name: 'Ifaces' }).getByTestId('iface-row-uinic').waitFor();
                        const shown = [];
                        if (await page.getByTestId('iface-new').isVisible()) shown.push('New iface');
                        if (await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).isVisible())
                                shown.push('the Audit link');
                        await go(page, '#/ifaces/uinic');
                        await page.getByTestId('iface-text').waitFor();
                        if (await page.getByRole('button', { name: 'Edit', exact: true }).isVisible()) shown.push('Edit');
                        if (await page.getByTestId('iface-delete').isVisible()) shown.push('Delete');
                        // The checks (operator: docs/security.md) and discovery.
                        for (const [hash, ready, names] of [
                                ['#/checks', 'Run a check', ['Run check', 'Start job']],
                                ['#/bindings', 'Discover', ['Discover']],
                        ]) {
                                await go(page, hash);
                                // The form may be hidden for a viewer: found hidden or not.
                                await page.getByRole('form', { name: ready, includeHidden: true }).waitFor({ state: 'attached' });
                                for (const n of names) {
                                        const b = page.getByRole('button', { name: n, exact: true });
                                        if ((await b.count()) > 0 && (await b.first().isVisible())) shown.push(`${n} (${hash})`);
                                }
                        }
                        if (shown.length === 0) return 'New iface, Edit, Delete, Run check, Start job, Discover: all hidden';
                        // Shown anyway: then a click must give a clear 403 naming the role needed.
                        if (shown.includes('Delete')) {
                                await page.getByTestId('iface-delete').click();
                                const dlg = page.getByRole('dialog', { name: 'Delete iface' });
                                if (await dlg.isVisible()) await dlg.getByRole('button', { name: 'Delete' }).click();
                                const alert = page.getByTestId('alert');
                                await alert.waitFor();
                                const t = await alert.innerText();
                                assert(/operator|admin/i.test(t), `the 403 does not name the role: "${t}"`);
                        }
                        throw new Error(`shown to a viewer: ${shown.join(', ')}`);
                });
                await check(7, 'a viewer on #/audit (admin only): the API\'s 403 shows as an alert naming the role needed', async () => {
                        // The viewer's page asks for a view only an admin may read: the API's 403
                        // detail names the role.
                        await go(page, '#/audit');
                        const alert = page.getByTestId('alert');
                        await until(async () => (await alert.count()) > 0 && (await alert.first().isVisible()), 5000,
                                'no alert for the viewer on #/audit');
                        const t = (await alert.first().innerText()).trim();
                        assert(/admin/i.test(t), `the alert does not name the role admin: "${t}"`);
                        assert(await alert.first().getAttribute('role') === 'alert', 'data-testid=alert is not role=alert');
                        return `"${t.slice(0, 100)}"`;
                });
        } finally {
                await page.context().close();
        }
        const op = await newPage({ token: tokens.operator });
        try {
                await openApp(op, '#/ifaces');
                await check(7, 'an operator: whoami says operator, "New iface" shown, no Audit link', async () => {
                        await until(async () => /operator/.test(await op.getByTestId('whoami').innerText()), 5000,
                                'whoami does not say operator');
                        await op.getByTestId('iface-new').waitFor();
                        const audit = op.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' });
                        assert(!(await audit.isVisible()), 'the Audit link is shown to an operator');
                });
        } finally {
                await op.context().close();
        }
}

// ------------------------------------------------------------------ 8, 9, 10: every view
const VIEWS = [
        { view: 'sign-in', hash: '#/ifaces', token: null, ready: (p) => tokenDialog(p) },
        { view: 'ifaces', hash: '#/ifaces', ready: (p) => p.getByRole('table', { name: 'Ifaces' }) },
        { view: 'iface-detail', hash: '#/ifaces/uinic', ready: (p) => p.getByTestId('iface-text') },
        { view: 'nics', hash: '#/nics', ready: (p) => p.getByRole('table', { name: 'NICs' }) },
        { view: 'checks', hash: '#/checks', ready: (p) => p.getByRole('form', { name: 'Run a check' }) },
        { view: 'bindings', hash: '#/bindings', ready: (p) => p.getByRole('form', { name: 'Discover' }) },
        { view: 'sessions', hash: '#/sessions', ready: (p) => p.getByRole('table', { name: 'Sessions' }) },
        { view: 'health', hash: '#/health', ready: (p) => p.getByTestId('health-status') },
        { view: 'audit', hash: '#/audit', ready: (p) => p.getByRole('table', { name: 'Audit' }) },
];

async function overflow(page) {
        return page.evaluate(() => {
                const vw = document.documentElement.clientWidth;
                const sw = Math.max(document.documentElement.scrollWidth, document.body ? document.body.scrollWidth : 0);
                const wide = [];
                if (sw > vw) {
                        for (const el of document.body.querySelectorAll('*')) {
                                const r = el.getBoundingClientRect();
                                if (r.right > vw + 1 && r.width > 0) {
                                        const id = el.getAttribute('data-testid') || el.id || el.className || '';
                                        wide.push(`${el.tagName.toLowerCase()}${id ? `[${String(id).slice(0, 30)}]` : ''} ${Math.round(r.right)}px`);
                                }
                                if (wide.length >= 4) break;
                        }
                }
                return { vw, sw, wide };
        });
}

async function settle(page) {
        await page.waitForLoadState('networkidle', { timeout: 3000 }).catch(() => {});
}

async function testViews() {
        const signedIn = await newPage({ token: tokens.admin });
        const anon = await newPage();
        for (const v of VIEWS) {
                const page = v.token === null ? anon : signedIn;
                const label = v.view === 'sign-in' ? 'the sign-in dialog' : v.hash;
                // A document load per view (about:blank first, else a hash change is in-document),
                // so each view has its own document response to check.
                const ui = [];
                const onResp = (r) => {
                        const u = new globalThis.URL(r.url());
                        if (u.origin === URL && !u.pathname.startsWith('/api/') && u.pathname !== '/openapi.yaml')
                                ui.push(r);
                };
                page.on('response', onResp);
                let resp;
                let ready = false;
                try {
                        await page.goto('about:blank');
                        page.problems.length = 0;
                        page.httpErrors.length = 0;
                        resp = await page.goto(`${URL}/${v.hash}`);
                        await v.ready(page).first().waitFor();
                        ready = true;
                        await settle(page);
                } catch (e) {
                        fail(8, `${label}: the view`, short(e));
                }
                page.off('response', onResp);
                if (!ready) continue;

                // 8. CSP and the other headers, no console errors, no CSP violations.
                await check(8, `${label}: the document has the CSP of docs/ui.md and the other headers; every UI file has the CSP; no console errors or CSP violations`, async () => {
                        const h = resp.headers();
                        const norm = (s) => String(s || '').replace(/\s+/g, ' ').trim();
                        assert(norm(h['content-security-policy']) === norm(CSP),
                                `content-security-policy is ${JSON.stringify(h['content-security-policy'])}`);
                        const want = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY' };
                        for (const [k, val] of Object.entries(want))
                                assert(String(h[k] || '').toLowerCase() === val.toLowerCase(), `${k} is ${JSON.stringify(h[k])}`);
                        assert(/no-cache/.test(h['cache-control'] || ''), `cache-control is ${JSON.stringify(h['cache-control'])}`);
                        assert(h.etag, 'no etag');
                        const bad = [];
                        for (const r of ui) {
                                const rh = await r.allHeaders();
                                if (r.status() === 200 && norm(rh['content-security-policy']) !== norm(CSP))
                                        bad.push(new globalThis.URL(r.url()).pathname);
                        }
                        assert(bad.length === 0, `UI files without the CSP: ${bad.join(', ')}`);
                        const csp = await cspViolations(page);
                        const probs = [...page.problems, ...csp.map((c) => `securitypolicyviolation: ${c}`)];
                        const errs = page.httpErrors.map((e) => `${e.method} ${e.path} ${e.status}${e.auth ? '' : ' (no token)'}`);
                        // Before sign-in the app asks nothing of the API: a request without a
                        // token would count as a failed sign-in (the tarpit).
                        const tokenless = page.httpErrors.filter((e) => !e.auth && e.path.startsWith('/api/'));
                        assert(tokenless.length === 0, `API requests without a token: ${tokenless.map((e) => e.path).join(', ')}`);
                        const note = v.token === null ? '; no API request without a token' : '';
                        assert(probs.length === 0, `${probs.slice(0, 5).join(' || ')}${errs.length ? ` [HTTP errors: ${errs.join(', ')}]` : ''}`);
                        return `${ui.length} UI answers${note}`;
                });

                // 10. overflow at a desktop width, screenshot, then at 360 px.
                await page.setViewportSize(DESKTOP);
                const d = await overflow(page);
                if (d.sw > d.vw) fail(10, `${label} at ${DESKTOP.width} px: no horizontal overflow`, `scrollWidth ${d.sw} > ${d.vw}: ${d.wide.join(', ')}`);
                else pass(10, `${label} at ${DESKTOP.width} px: no horizontal overflow (scrollWidth ${d.sw})`);
                await shot(page, v.view);
                await page.setViewportSize(PHONE);
                await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
                const m = await overflow(page);
                if (m.sw > m.vw) fail(10, `${label} at ${PHONE.width} px: no horizontal overflow`, `scrollWidth ${m.sw} > ${m.vw}: ${m.wide.join(', ')}`);
                else pass(10, `${label} at ${PHONE.width} px: no horizontal overflow (scrollWidth ${m.sw})`);
                await page.setViewportSize(DESKTOP);

                // 9. axe-core, its source evaluated through the DevTools protocol (Runtime.evaluate
                // is not subject to the page's CSP; a script tag by content would be blocked, and
                // bypassCSP is not needed: the CSP stays on for the whole run).
                await check(9, `${label}: axe-core finds no serious or critical violation`, async () => {
                        const cdp = await page.context().newCDPSession(page);
                        const ev = await cdp.send('Runtime.evaluate', { expression: AXE_SOURCE });
                        await cdp.detach();
                        if (ev.exceptionDetails) throw new Error(`axe did not load: ${JSON.stringify(ev.exceptionDetails).slice(0, 200)}`);
                        const res = await page.evaluate(async () => {
                                const r = await window.axe.run(document, { resultTypes: ['violations'] });
                                return r.violations.map((x) => ({
                                        id: x.id, impact: x.impact, help: x.help,
                                        nodes: x.nodes.slice(0, 3).map((n) => n.target.join(' ')),
                                }));
                        });
                        const bad = res.filter((x) => x.impact === 'serious' || x.impact === 'critical');
                        const minor = res.filter((x) => !bad.includes(x)).map((x) => `${x.id}/${x.impact}`);
                        assert(bad.length === 0, bad.map((x) => `${x.id} (${x.impact}: ${x.help}) at ${x.nodes.join('; ')}`).join(' || '));
                        return minor.length ? `minor: ${minor.join(', ')}` : 'no violations';
                });
        }
        await signedIn.context().close();
        await anon.context().close();
}

// ------------------------------------------------------------------ main
async function main() {
        browser = await chromium.launch(LAUNCH);
        console.log(`# chromium ${browser.version()}, daemon ${URL}, NIC ${NIC}${NETNS ? ' (private network namespace)' : ''}`);
        const parts = [testToken, testCreate, testConflict, testNics, testKeyboard, testKeptValue, testCheck, testMatrix,
                testRoles, testViews];
        for (const f of parts) {
                const t = Date.now();
                try {
                        await f();
                } catch (e) {
                        fail(f.name, 'setup', short(e));
                }
                console.log(`# ${f.name}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
        }
        await browser.close();
        console.log(`# ${passes} passed, ${failures} failed in ${secs()} s`);
        return failures === 0 ? 0 : 1;
}

const watchdog = setTimeout(() => {
        console.log('FAIL: the suite took over 240 s');
        process.exit(1);
}, 240000);
watchdog.unref();
main().then((rc) => process.exit(rc), (e) => {
        console.log(`FAIL: harness: ${short(e)}`);
        process.exit(1);
});
