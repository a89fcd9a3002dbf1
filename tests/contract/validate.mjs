// SPDX-License-Identifier: MIT
// openapi.yaml against the answers the daemon really gives, and against its own examples.
//
//   node tests/contract/validate.mjs FILE.jsonl...   every recorded exchange (one JSON object a
//                                                    line, see README "Contract") is an answer
//                                                    the contract allows: a documented status,
//                                                    documented headers with valid values, the
//                                                    required ones present, the body valid
//                                                    against the media type's schema
//   node tests/contract/validate.mjs --examples      every example in openapi.yaml validates
//                                                    against the schema it illustrates
//
// A record: {"method", "path" (as sent, with the query), "status", "headers": [[name, value],
// ...], "body" (text) or "body_hex" (bytes that are not UTF-8), "client" (who recorded it)}.
// Exit 0 when all is well, 1 naming each failure (request, status, what is wrong), 2 on a usage
// or setup error. The schemas are JSON Schema 2020-12 (OpenAPI 3.1) and are checked by Ajv.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const specPath = process.env.IFD_OPENAPI || join(here, '..', '..', 'openapi.yaml');
const spec = YAML.parse(readFileSync(specPath, 'utf8'));

// Headers every HTTP/1.1 answer may carry that say nothing about the API: framing and the
// connection. Every other header the daemon sends must be documented on the response.
const FRAMING = new Set(['content-type', 'content-length', 'date', 'connection',
        'transfer-encoding', 'keep-alive']);

// --- the schemas, in one Ajv instance -------------------------------------------------------
// components.schemas become the $defs of one schema ("spec"); every '#/components/schemas/X'
// reference, there and in inline schemas, is rewritten to 'spec#/$defs/X'.
const SPEC_ID = 'urn:iscsi-ifaced:openapi';

function rewriteRefs(node) {
        if (Array.isArray(node))
                return node.map(rewriteRefs);
        if (node && typeof node === 'object') {
                const out = {};
                for (const [k, v] of Object.entries(node)) {
                        if (k === '$ref' && typeof v === 'string' &&
                            v.startsWith('#/components/schemas/'))
                                out[k] = SPEC_ID + '#/$defs/' +
                                         v.slice('#/components/schemas/'.length);
                        else
                                out[k] = rewriteRefs(v);
                }
                return out;
        }
        return node;
}

// strictTypes and strictRequired are style rules (a 'required' beside an allOf or oneOf that
// names properties defined elsewhere is valid JSON Schema); unknown keywords stay errors.
const ajv = new Ajv2020({ strict: true, strictTypes: false, strictRequired: false, allErrors: true, allowUnionTypes: true,
        validateFormats: true });
addFormats(ajv);
// OpenAPI 3.1's own keywords in a Schema Object (annotations for the validator).
ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
ajv.addSchema({ $id: SPEC_ID, $defs: rewriteRefs(spec.components?.schemas || {}) });

const compiled = new Map();
function validatorFor(schema) {
        let v = compiled.get(schema);
        if (!v) {
                v = ajv.compile(rewriteRefs(schema));
                compiled.set(schema, v);
        }
        return v;
}

function errorsText(errors) {
        return (errors || []).slice(0, 6).map((e) => {
                let s = `${e.instancePath || '(root)'} ${e.message}`;
                if (e.keyword === 'additionalProperties')
                        s += `: '${e.params.additionalProperty}'`;
                else if (e.keyword === 'enum' || e.keyword === 'const')
                        s += ` (${JSON.stringify(e.params.allowedValues ?? e.params.allowedValue)})`;
                return s + ` [${e.schemaPath}]`;
        }).join('; ');
}

// --- references between non-schema objects (responses, headers, parameters) ----------------
function deref(obj) {
        let seen = 0;
        while (obj && obj.$ref) {
                if (++seen > 16 || !obj.$ref.startsWith('#/'))
                        throw new Error(`cannot follow $ref ${obj.$ref}`);
                let cur = spec;
                for (const part of obj.$ref.slice(2).split('/'))
                        cur = cur?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
                if (cur === undefined)
                        throw new Error(`dangling $ref ${obj.$ref}`);
                obj = cur;
        }
        return obj;
}

// --- finding the operation ------------------------------------------------------------------
const templates = Object.keys(spec.paths || {}).map((t) => {
        const literal = t.replace(/\{[^}]+\}/g, '').length;
        const re = new RegExp('^' + t.split(/(\{[^}]+\})/).map((p) =>
                p.startsWith('{') ? '[^/]+' : p.replace(/[.*+?^$()|[\]\\]/g, '\\$&')).join('') + '$');
        return { t, re, literal };
}).sort((a, b) => b.literal - a.literal); // a literal segment wins over a parameter

function findPath(path) {
        const p = path.split('?')[0];
        for (const c of templates)
                if (c.re.test(p))
                        return c.t;
        return null;
}

// The web UI (server/web.c, --web-root) serves its files at paths outside the API's: its pages,
// scripts and styles are not part of the contract (docs/ui.md says what they carry), so a 200 or
// 304 there is not checked. Any other status there, and every answer under /api/, is.
const WEB_UI = (path) => {
        const p = path.split('?')[0];
        return !p.startsWith('/api/') && p !== '/metrics' && p !== '/openapi.yaml';
};

// What any path can answer, known or not (openapi.yaml's x-any-path-responses): the answers
// given before routing, to the request as a whole, 404 and 405.
const ANY_PATH = spec['x-any-path-responses'] || {};

function mediaType(ct) {
        return (ct || '').split(';')[0].trim().toLowerCase();
}

function responseFor(op, status) {
        const r = op.responses || {};
        const s = String(status);
        return r[s] ?? r[s[0] + 'XX'] ?? r.default;
}

function checkOne(rec) {
        const fails = [];
        const method = rec.method.toUpperCase();
        const headers = new Map();
        for (const [k, v] of rec.headers || []) {
                const n = k.toLowerCase();
                if (headers.has(n) && n !== 'set-cookie')
                        fails.push(`header ${k} sent twice`);
                headers.set(n, v);
        }
        const tpl = findPath(rec.path);
        let resp, where;
        if (!tpl && WEB_UI(rec.path) && (rec.status === 200 || rec.status === 304))
                return []; // the web UI's files (docs/ui.md): not the API; integration.web checks them
        if (!tpl) {
                if (!ANY_PATH[rec.status] || rec.status === 405)
                        return [`${rec.path} is no path of the contract, and the answer is ` +
                                `${rec.status}, none of x-any-path-responses`];
                resp = ANY_PATH[rec.status];
                where = `x-any-path-responses ${rec.status}`;
        } else {
                const item = spec.paths[tpl];
                const opMethod = method === 'HEAD' && !item.head ? 'get' : method.toLowerCase();
                const op = item[opMethod];
                if (!op) {
                        if (!ANY_PATH[rec.status] || rec.status === 404)
                                return [`${method} is no operation of ${tpl}, and the answer ` +
                                        `is ${rec.status}, none of x-any-path-responses but 404`];
                        resp = ANY_PATH[rec.status];
                        where = `${method} ${tpl}: x-any-path-responses ${rec.status}`;
                } else {
                        resp = responseFor(op, rec.status) ?? ANY_PATH[rec.status];
                        where = `${opMethod.toUpperCase()} ${tpl} ${rec.status}`;
                        if (!resp)
                                return [`status ${rec.status} is not documented for ` +
                                        `${opMethod.toUpperCase()} ${tpl} (documented: ` +
                                        `${Object.keys(op.responses || {}).join(', ')})`];
                }
        }
        resp = deref(resp);

        // Headers: the documented ones valid (and present when required), no undocumented one.
        const documented = new Map();
        for (const [name, h] of Object.entries(resp.headers || {}))
                documented.set(name.toLowerCase(), [name, deref(h)]);
        for (const [n, [name, h]] of documented) {
                if (!headers.has(n)) {
                        if (h.required)
                                fails.push(`required header ${name} missing (${where})`);
                        continue;
                }
                if (h.schema) {
                        let v = headers.get(n);
                        const type = h.schema.type;
                        if (type === 'integer' && /^-?[0-9]+$/.test(v))
                                v = Number(v);
                        else if (type === 'boolean' && (v === 'true' || v === 'false'))
                                v = v === 'true';
                        const val = validatorFor(h.schema);
                        if (!val(v))
                                fails.push(`header ${name}: ${JSON.stringify(headers.get(n))} ` +
                                           `${errorsText(val.errors)} (${where})`);
                }
        }
        for (const n of headers.keys())
                if (!FRAMING.has(n) && !documented.has(n))
                        fails.push(`header ${n} is sent but not documented (${where})`);

        // The body.
        const ctFull = headers.get('content-type') || '';
        const ct = mediaType(ctFull);
        const body = rec.body_hex !== undefined ? Buffer.from(rec.body_hex, 'hex') :
                Buffer.from(rec.body ?? '', 'utf8');
        // Media type keys may carry parameters ("text/plain; version=0.0.4"): the exact key
        // wins, else the one whose type matches.
        const content = {};
        for (const [k, v] of Object.entries(resp.content || {})) {
                if (!(mediaType(k) in content) || k.replace(/ /g, '') === ctFull.replace(/ /g, ''))
                        content[mediaType(k)] = v;
        }
        if (method === 'HEAD' || rec.status === 204 || rec.status === 304) {
                if (body.length)
                        fails.push(`a ${method} ${rec.status} answer has a body (${where})`);
                if (ct && !content[ct] && rec.status !== 204)
                        fails.push(`Content-Type ${ct} is not documented (${where}; ` +
                                   `documented: ${Object.keys(content).join(', ') || 'none'})`);
                return fails;
        }
        if (!body.length && !Object.keys(content).length)
                return fails;
        if (!content[ct]) {
                fails.push(`Content-Type ${ct || '(none)'} is not documented (${where}; ` +
                           `documented: ${Object.keys(content).join(', ') || 'none'})`);
                return fails;
        }
        const schema = content[ct].schema;
        if (ct === 'text/event-stream')
                return fails; // a stream that never ends in one answer: its events are not bodies
        if (!schema)
                return fails;
        let value;
        if (ct === 'application/json' || ct.endsWith('+json')) {
                try {
                        value = JSON.parse(body.toString('utf8'));
                } catch (e) {
                        fails.push(`the ${ct} body is not JSON: ${e.message} (${where})`);
                        return fails;
                }
        } else {
                value = body.toString('utf8');
        }
        const val = validatorFor(schema);
        if (!val(value))
                fails.push(`body: ${errorsText(val.errors)} (${where})`);
        return fails;
}

function validateRecords(files) {
        let n = 0, bad = 0;
        for (const f of files) {
                const lines = readFileSync(f, 'utf8').split('\n').filter((l) => l.trim());
                for (const [i, line] of lines.entries()) {
                        let rec;
                        try {
                                rec = JSON.parse(line);
                        } catch (e) {
                                console.error(`${f}:${i + 1}: not a JSON line: ${e.message}`);
                                bad++;
                                continue;
                        }
                        n++;
                        let fails;
                        try {
                                fails = checkOne(rec);
                        } catch (e) {
                                fails = [`validator error: ${e.message}`];
                        }
                        if (fails.length) {
                                bad++;
                                const snippet = (rec.body ?? '').slice(0, 300);
                                console.error(`CONTRACT: ${rec.method} ${rec.path} -> ` +
                                        `${rec.status} (${rec.client ?? '?'}; ${f}:${i + 1})`);
                                for (const m of fails)
                                        console.error(`  - ${m}`);
                                if (snippet)
                                        console.error(`  body: ${snippet}`);
                        }
                }
        }
        console.error(`contract: ${n} answers checked against ${specPath}, ${bad} not as ` +
                      'documented');
        return bad ? 1 : 0;
}

// --- examples -------------------------------------------------------------------------------
function validateExamples() {
        let n = 0;
        const fails = [];
        const check = (where, schema, value) => {
                n++;
                let val;
                try {
                        val = validatorFor(schema);
                } catch (e) {
                        fails.push(`${where}: the schema does not compile: ${e.message}`);
                        return;
                }
                if (!val(value))
                        fails.push(`${where}: ${errorsText(val.errors)}`);
        };
        const media = (where, mt) => {
                if (!mt.schema)
                        return;
                if (mt.example !== undefined)
                        check(`${where} example`, mt.schema, mt.example);
                for (const [k, ex] of Object.entries(mt.examples || {})) {
                        const e = deref(ex);
                        if (e.value !== undefined)
                                check(`${where} examples.${k}`, mt.schema, e.value);
                }
        };
        const param = (where, p) => {
                p = deref(p);
                if (p.schema && p.example !== undefined)
                        check(`${where} parameter ${p.name} example`, p.schema, p.example);
                for (const [k, ex] of Object.entries(p.examples || {}))
                        if (deref(ex).value !== undefined)
                                check(`${where} parameter ${p.name} examples.${k}`, p.schema,
                                      deref(ex).value);
        };
        const response = (where, r) => {
                r = deref(r);
                for (const [ct, mt] of Object.entries(r.content || {}))
                        media(`${where} ${ct}`, mt);
                for (const [hn, h] of Object.entries(r.headers || {})) {
                        const hd = deref(h);
                        if (hd.schema && hd.example !== undefined)
                                check(`${where} header ${hn} example`, hd.schema, hd.example);
                }
        };
        for (const [tpl, item] of Object.entries(spec.paths || {})) {
                for (const p of item.parameters || [])
                        param(tpl, p);
                for (const m of ['get', 'put', 'post', 'delete', 'patch', 'head', 'options']) {
                        const op = item[m];
                        if (!op)
                                continue;
                        const where = `${m.toUpperCase()} ${tpl}`;
                        for (const p of op.parameters || [])
                                param(where, p);
                        for (const [ct, mt] of Object.entries(deref(op.requestBody || {}).content || {}))
                                media(`${where} request ${ct}`, mt);
                        for (const [st, r] of Object.entries(op.responses || {}))
                                response(`${where} ${st}`, r);
                }
        }
        for (const [name, r] of Object.entries(spec.components?.responses || {}))
                response(`components.responses.${name}`, r);
        // Examples inside schemas: 'examples' (JSON Schema) and 'example' (OpenAPI) of every
        // schema object, each against the schema it sits in.
        const walk = (where, s) => {
                if (Array.isArray(s)) {
                        s.forEach((x, i) => walk(`${where}/${i}`, x));
                        return;
                }
                if (!s || typeof s !== 'object')
                        return;
                if (s.example !== undefined)
                        check(`${where} example`, s, s.example);
                if (Array.isArray(s.examples))
                        s.examples.forEach((x, i) => check(`${where} examples[${i}]`, s, x));
                for (const [k, v] of Object.entries(s))
                        if (k !== 'example' && k !== 'examples' && k !== 'const' &&
                            k !== 'enum' && k !== 'default')
                                walk(`${where}/${k}`, v);
        };
        for (const [name, s] of Object.entries(spec.components?.schemas || {}))
                walk(`components.schemas.${name}`, s);
        for (const f of fails)
                console.error(`EXAMPLE: ${f}`);
        console.error(`contract: ${n} examples checked against their schemas, ${fails.length} invalid`);
        return fails.length ? 1 : 0;
}

const args = process.argv.slice(2);
if (args[0] === '--examples')
        process.exit(validateExamples());
if (!args.length) {
        console.error('usage: validate.mjs FILE.jsonl... | --examples');
        process.exit(2);
}
process.exit(validateRecords(args));
