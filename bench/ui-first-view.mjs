// SPDX-License-Identifier: MIT
// bench/ui-first-view.mjs (run by bench/ui-first-view.sh): how long the web UI's first view
// takes with N ifaces, in Debian's chromium, against the same data fetched without the UI.
//   env: URL (the daemon), TOKEN (an admin token), N (ifaces to create), ROUNDS
// Each round is a fresh browser context (no cache): navigation to #/ifaces, then
//   first rows  the first row of the table is visible (the first page of 200 drawn);
//   all loaded  the count says every iface is loaded ("<total> ifaces");
// and the baseline, in a page of the same origin: fetch() of every page of /api/v1/ifaces
// (limit 200, then 1000, as the UI pages them) and JSON.parse, no DOM. Medians and ratios.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../tests/ui/package.json'));
const { chromium } = require('playwright-core');

const URL = process.env.URL;
const TOKEN = process.env.TOKEN;
const N = Number(process.env.N || 1000);
const ROUNDS = Number(process.env.ROUNDS || 5);
const H = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

async function createIfaces() {
        let made = 0;
        const one = async (i) => {
                const r = await fetch(`${URL}/api/v1/ifaces`, { method: 'POST', headers: H,
                        body: JSON.stringify({ name: `b${String(i).padStart(5, '0')}`, transport_name: 'tcp',
                                hwaddress: `02:00:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}` }) });
                if (r.status === 201) made++;
                else if (r.status !== 409) throw new Error(`POST /api/v1/ifaces: ${r.status} ${await r.text()}`);
        };
        for (let i = 0; i < N; i += 16)
                await Promise.all(Array.from({ length: Math.min(16, N - i) }, (_, k) => one(i + k)));
        return made;
}

const t0 = Date.now();
const made = await createIfaces();
const total = (await (await fetch(`${URL}/api/v1/ifaces?limit=1`, { headers: H })).json());
console.log(`bench: ${made} ifaces created in ${Date.now() - t0} ms; ${ROUNDS} rounds`);

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
        args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--no-first-run', '--disable-quic'] });
const first = [], all = [], base = [], nav = [];
let expect = 0;
for (let r = 0; r < ROUNDS; r++) {
        // The floor: a fresh context's navigation to a plain file of the same origin (no script).
        {
                const c = await browser.newContext();
                const p = await c.newPage();
                const s = Date.now();
                await p.goto(`${URL}/app.css`);
                nav.push(Date.now() - s);
                await c.close();
        }
        const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
        await ctx.addInitScript((t) => { try { sessionStorage.setItem('ifd.token', t); } catch { /* */ } }, TOKEN);
        const page = await ctx.newPage();
        const s = Date.now();
        await page.goto(`${URL}/#/ifaces`);
        await page.waitForSelector('[data-testid^="iface-row-"]', { state: 'visible', timeout: 30000 });
        first.push(Date.now() - s);
        await page.waitForFunction(() => /^\d+ ifaces$/.test((document.querySelector('main p.count, main [data-testid=iface-count]') || document.body).innerText.trim()) ||
                [...document.querySelectorAll('main p')].some((p) => /^\d+ ifaces$/.test(p.innerText.trim())), null, { timeout: 30000 });
        all.push(Date.now() - s);
        const n = await page.evaluate(() => [...document.querySelectorAll('main p')].map((p) => p.innerText.trim()).find((t) => /^\d+ ifaces$/.test(t)));
        expect = Number(String(n).split(' ')[0]);
        // The baseline: the same data, fetched and parsed in the page, no UI.
        const b = await page.evaluate(async (t) => {
                const s0 = performance.now();
                let cursor = null, limit = 200, items = 0;
                do {
                        const q = new URLSearchParams({ limit: String(limit) });
                        if (cursor) q.set('cursor', cursor);
                        const res = await fetch(`/api/v1/ifaces?${q}`, { headers: { Authorization: `Bearer ${t}` } });
                        const d = JSON.parse(await res.text());
                        items += d.items.length;
                        cursor = d.next_cursor;
                        limit = 1000;
                } while (cursor);
                return { ms: performance.now() - s0, items };
        }, TOKEN);
        base.push(b.ms);
        console.log(`round ${r + 1}: first rows ${first[r]} ms, all ${expect} loaded ${all[r]} ms; navigation floor ${nav[r]} ms; baseline fetch+parse of ${b.items} ${b.ms.toFixed(1)} ms`);
        await ctx.close();
}
await browser.close();
const mf = median(first), ma = median(all), mb = median(base), mn = median(nav);
console.log(`BENCH ui first view with ${expect} ifaces (${total.items ? 'API ok' : ''}): first rows median ${mf} ms, all loaded median ${ma} ms (goal: usable < 1000 ms)`);
console.log(`BENCH navigation floor (a fresh context loading a plain file of the same origin): median ${mn} ms; all loaded less the floor: ${ma - mn} ms`);
console.log(`BENCH baseline (fetch + JSON.parse of every page, no DOM): median ${mb.toFixed(1)} ms; (all loaded - floor)/baseline ${((ma - mn) / mb).toFixed(1)}x`);
