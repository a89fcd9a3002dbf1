#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A table of bad requests to the bindings and discovery resources (docs/bindings.md): bad target
names, portals, tpgts, ifaces, startup values, auth members (control bytes, too long, wrong
types), settings keys and values, immutable members in a PATCH, malformed and percent-encoded
ids, bodies that are not objects, unknown members, timeout_ms out of range, ifaces not a list...

Each must be answered 4xx application/problem+json whose `field` names the member at fault (as
tests/integration/test-http-errors.c does for ifaces), and change nothing: after each one, the
files under the iscsi root (a digest of the tree), GET /api/v1/bindings and GET /api/v1/audit are
as before, and the fake target the discovery requests point at was never contacted (a refused
request does not touch the network). It runs in a private network namespace
(ifd.in_private_netns), with a live fake target so that a request wrongly accepted would
discover and bind something visible.

usage: tests/integration/bindings-bad-input.py IFACED_BIN  (meson: integration.bindings-bad-input)
"""
import json
import os
import shutil
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_target import FakeTarget, sendtargets  # noqa: E402
from ifd import Daemon, in_private_netns, tree, tree_diff  # noqa: E402
from wire import check, failures  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.environ["IFACED_BIN"])

J = "application/json"
MP = "application/merge-patch+json"
BCOLL = "/api/v1/bindings"
DISC = "/api/v1/discovery"
SEED_T = "iqn.2026-12.test:seed"
SEED_ID = SEED_T + ",127.0.0.1,3260,1,lo0"
SEED = BCOLL + "/" + urllib.parse.quote(SEED_ID, safe="")
SEED_RAW = BCOLL + "/" + SEED_ID  # the id as it is: ':' and ',' are fine in a path
ANY4XX = "4xx"
ANY = "(any)"
LONG = "a" * 256
T224 = "iqn.2026-12.test:" + "x" * (224 - len("iqn.2026-12.test:"))


_n = [0]


def good_binding(**over):
    """A valid POST body but for over; each its own target, so that a case wrongly accepted
    cannot turn the cases after it into 409s."""
    _n[0] += 1
    b = {"target": "iqn.2026-12.test:new%d" % _n[0], "portal": "127.0.0.1:3260", "tpgt": 1,
         "iface": "lo0"}
    for k, v in over.items():
        if v is DROP:
            b.pop(k, None)
        else:
            b[k] = v
    return b


DROP = object()


def good_disc(**over):
    b = {"portal": "@portal", "ifaces": ["lo0"], "bind": True, "timeout_ms": 2000}
    for k, v in over.items():
        if v is DROP:
            b.pop(k, None)
        else:
            b[k] = v
    return b


def auth(**kw):
    a = {"method": "CHAP", "username": "u1", "password": "p1-secret"}
    a.update(kw)
    return a


def settings(**kw):
    return {k.replace("__", "."): v for k, v in kw.items()}


S_REPL = "node.session.timeo.replacement_timeout"
S_QD = "node.session.queue_depth"
S_SCAN = "node.session.scan"
S_HD = "node.conn[0].iscsi.HeaderDigest"
S_NR = "node.session.nr_sessions"
S_LOGIN = "node.conn[0].timeo.login_timeout"

# (name, method, path, content type, body (a JSON value, or bytes as they are), status, field,
#  extra headers). status: an int or ANY4XX. field: a str, a tuple of acceptable ones, None (no
# field), ANY; a str ending in '*' is a prefix.
CASES = [
    # --- POST /api/v1/bindings: target ---
    ("target missing", "POST", BCOLL, J, good_binding(target=DROP), 400, "target"),
    ("target empty", "POST", BCOLL, J, good_binding(target=""), 400, "target"),
    ("target null", "POST", BCOLL, J, good_binding(target=None), 400, "target"),
    ("target number", "POST", BCOLL, J, good_binding(target=5), 400, "target"),
    ("target dotdot", "POST", BCOLL, J, good_binding(target="iqn.2026-12.test:../../x"), 400,
     "target"),
    ("target slash", "POST", BCOLL, J, good_binding(target="iqn.2026-12.test:a/b"), 400,
     "target"),
    ("target newline", "POST", BCOLL, J,
     good_binding(target="iqn.2026-12.test:a\nnode.startup = automatic"), 400, "target"),
    ("target 224 bytes", "POST", BCOLL, J, good_binding(target=T224), 400, "target"),
    ("target not iqn/eui/naa", "POST", BCOLL, J, good_binding(target="disk1"), 400, "target"),
    ("target comma", "POST", BCOLL, J, good_binding(target="iqn.2026-12.test:a,b"), 400,
     "target"),
    ("target non-ASCII", "POST", BCOLL, J, good_binding(target="iqn.2026-12.test:d\u00e9"), 400,
     "target"),
    # --- portal ---
    ("portal missing", "POST", BCOLL, J, good_binding(portal=DROP), 400, "portal"),
    ("portal host name", "POST", BCOLL, J, good_binding(portal="example.com:3260"), 400,
     "portal"),
    ("portal port 0", "POST", BCOLL, J, good_binding(portal="127.0.0.1:0"), 400, "portal"),
    ("portal port 65536", "POST", BCOLL, J, good_binding(portal="127.0.0.1:65536"), 400,
     "portal"),
    ("portal port letters", "POST", BCOLL, J, good_binding(portal="127.0.0.1:http"), 400,
     "portal"),
    ("portal ipv4 in brackets", "POST", BCOLL, J, good_binding(portal="[127.0.0.1]:3260"), 400,
     "portal"),
    ("portal bracket unclosed", "POST", BCOLL, J, good_binding(portal="[::1:3260"), 400,
     "portal"),
    ("portal slash", "POST", BCOLL, J, good_binding(portal="127.0.0.1/../x:3260"), 400,
     "portal"),
    ("portal with tpgt", "POST", BCOLL, J, good_binding(portal="127.0.0.1:3260,1"), 400,
     "portal"),
    ("portal list", "POST", BCOLL, J, good_binding(portal=["127.0.0.1:3260"]), 400, "portal"),
    # --- tpgt ---
    ("tpgt missing", "POST", BCOLL, J, good_binding(tpgt=DROP), 400, "tpgt"),
    ("tpgt -1", "POST", BCOLL, J, good_binding(tpgt=-1), 400, "tpgt"),
    ("tpgt 65536", "POST", BCOLL, J, good_binding(tpgt=65536), 400, "tpgt"),
    ("tpgt string", "POST", BCOLL, J, good_binding(tpgt="1"), 400, "tpgt"),
    ("tpgt float", "POST", BCOLL, J, good_binding(tpgt=1.5), 400, "tpgt"),
    ("tpgt true", "POST", BCOLL, J, good_binding(tpgt=True), 400, "tpgt"),
    # --- iface ---
    ("iface missing", "POST", BCOLL, J, good_binding(iface=DROP), 400, "iface"),
    ("iface unknown", "POST", BCOLL, J, good_binding(iface="nosuch"), ANY4XX, "iface"),
    ("iface traversal", "POST", BCOLL, J, good_binding(iface="../../x"), 400, "iface"),
    ("iface number", "POST", BCOLL, J, good_binding(iface=1), 400, "iface"),
    # --- startup ---
    ("startup unknown", "POST", BCOLL, J, good_binding(startup="sometimes"), 400, "startup"),
    ("startup number", "POST", BCOLL, J, good_binding(startup=1), 400, "startup"),
    ("startup case", "POST", BCOLL, J, good_binding(startup="Automatic"), 400, "startup"),
    # --- auth ---
    ("auth not an object", "POST", BCOLL, J, good_binding(auth="CHAP"), 400, "auth"),
    ("auth method PAP", "POST", BCOLL, J, good_binding(auth=auth(method="PAP")), 400,
     "auth.method"),
    ("auth username newline", "POST", BCOLL, J, good_binding(auth=auth(username="u\nx")), 400,
     "auth.username"),
    ("auth username 256", "POST", BCOLL, J, good_binding(auth=auth(username=LONG)), 400,
     "auth.username"),
    ("auth password 256", "POST", BCOLL, J, good_binding(auth=auth(password=LONG)), 400,
     "auth.password"),
    ("auth password control", "POST", BCOLL, J, good_binding(auth=auth(password="p\x01w")), 400,
     "auth.password"),
    ("auth password DEL", "POST", BCOLL, J, good_binding(auth=auth(password="p\x7fw")), 400,
     "auth.password"),
    # The body is checked before existence: a bad body for an existing binding is a 400.
    ("bad startup for the seed's key", "POST", BCOLL, J,
     good_binding(target=SEED_T, startup="sometimes"), 400, "startup"),
    ("auth password inner blank", "POST", BCOLL, J, good_binding(auth=auth(password="p w")),
     400, "auth.password"),
    ("auth password leading blank", "POST", BCOLL, J, good_binding(auth=auth(password=" pw")),
     400, "auth.password"),
    ("auth password number", "POST", BCOLL, J, good_binding(auth=auth(password=12345)), 400,
     "auth.password"),
    ("auth password non-ASCII", "POST", BCOLL, J, good_binding(auth=auth(password="p\u00e9w")),
     400, "auth.password"),
    ("auth username_in tab", "POST", BCOLL, J,
     good_binding(auth=auth(username_in="t\tu", password_in="tp")), 400, "auth.username_in"),
    ("auth password_in 256", "POST", BCOLL, J,
     good_binding(auth=auth(username_in="tu", password_in=LONG)), 400, "auth.password_in"),
    ("auth unknown member", "POST", BCOLL, J, good_binding(auth=auth(bogus=1)), 400,
     "auth.bogus"),
    ("auth read-only password_set", "POST", BCOLL, J,
     good_binding(auth=auth(password_set=True)), 400, "auth.password_set"),
    # --- settings ---
    ("settings not an object", "POST", BCOLL, J, good_binding(settings=[]), 400, "settings"),
    ("settings unknown key", "POST", BCOLL, J,
     good_binding(settings={"node.session.bogus": 1}), 400, "settings.node.session.bogus"),
    ("settings key not tunable", "POST", BCOLL, J,
     good_binding(settings={"node.name": "iqn.2026-12.test:x"}), 400, "settings.node.name"),
    ("settings key newline", "POST", BCOLL, J,
     good_binding(settings={"node.session.scan\nnode.startup": "auto"}), 400, "settings*"),
    ("settings timeout string", "POST", BCOLL, J, good_binding(settings={S_REPL: "120"}), 400,
     "settings." + S_REPL),
    ("settings timeout negative", "POST", BCOLL, J, good_binding(settings={S_LOGIN: -5}), 400,
     "settings." + S_LOGIN),
    ("settings timeout beyond int32", "POST", BCOLL, J,
     good_binding(settings={S_REPL: 99999999999}), 400, "settings." + S_REPL),
    ("settings queue_depth 100000", "POST", BCOLL, J, good_binding(settings={S_QD: 100000}), 400,
     "settings." + S_QD),
    ("settings nr_sessions 0", "POST", BCOLL, J, good_binding(settings={S_NR: 0}), 400,
     "settings." + S_NR),
    ("settings scan unknown", "POST", BCOLL, J, good_binding(settings={S_SCAN: "sometimes"}),
     400, "settings." + S_SCAN),
    ("settings digest MD5", "POST", BCOLL, J, good_binding(settings={S_HD: "MD5"}), 400,
     "settings." + S_HD),
    ("settings value injection", "POST", BCOLL, J,
     good_binding(settings={S_SCAN: "auto\nnode.startup = automatic"}), 400,
     "settings." + S_SCAN),
    # --- top level ---
    ("unknown member", "POST", BCOLL, J, good_binding(bogus=1), 400, "bogus"),
    ("read-only id", "POST", BCOLL, J, good_binding(id=SEED_ID), 400, "id"),
    ("read-only revision", "POST", BCOLL, J, good_binding(revision=1), 400, "revision"),
    ("read-only path", "POST", BCOLL, J, good_binding(path="nodes/x"), 400, "path"),
    ("body array", "POST", BCOLL, J, [good_binding()], 400, "body"),
    ("body string", "POST", BCOLL, J, "x", 400, "body"),
    ("body null", "POST", BCOLL, J, None, 400, "body"),
    ("body truncated", "POST", BCOLL, J, b'{"target":"iqn.2026-12.test:x"', 400, "body"),
    ("body duplicate member", "POST", BCOLL, J,
     b'{"target":"iqn.2026-12.test:a","target":"iqn.2026-12.test:b","portal":"127.0.0.1",'
     b'"tpgt":1,"iface":"lo0"}', 400, "body"),
    ("body empty", "POST", BCOLL, J, b"", 400, "body"),
    ("content-type text", "POST", BCOLL, "text/plain", good_binding(), 415, None),
    ("binding exists", "POST", BCOLL, J,
     good_binding(target=SEED_T), 409, ANY),
    # --- PATCH /api/v1/bindings/{id} ---
    ("PATCH target", "PATCH", SEED, MP, {"target": "iqn.2026-12.test:other"}, 400, "target"),
    ("PATCH portal", "PATCH", SEED, MP, {"portal": "127.0.0.2:3260"}, 400, "portal"),
    ("PATCH tpgt", "PATCH", SEED, MP, {"tpgt": 2}, 400, "tpgt"),
    ("PATCH iface", "PATCH", SEED, MP, {"iface": "default"}, 400, "iface"),
    ("PATCH id", "PATCH", SEED, MP, {"id": "x"}, 400, "id"),
    ("PATCH address", "PATCH", SEED, MP, {"address": "127.0.0.2"}, 400, "address"),
    ("PATCH discovery", "PATCH", SEED, MP, {"discovery": {"type": "static"}}, 400, "discovery"),
    ("PATCH layout", "PATCH", SEED, MP, {"layout": "old-single-file"}, 400, "layout"),
    ("PATCH origin", "PATCH", SEED, MP, {"origin": "external"}, 400, "origin"),
    ("PATCH startup bad", "PATCH", SEED, MP, {"startup": "never"}, 400, "startup"),
    ("PATCH auth password long", "PATCH", SEED, MP, {"auth": {"password": LONG}}, 400,
     "auth.password"),
    ("PATCH auth username CR", "PATCH", SEED, MP, {"auth": {"username": "a\rb"}}, 400,
     "auth.username"),
    ("PATCH settings unknown", "PATCH", SEED, MP, {"settings": {"node.session.bogus": 1}}, 400,
     "settings.node.session.bogus"),
    ("PATCH settings wrong type", "PATCH", SEED, MP, {"settings": {S_QD: "32"}}, 400,
     "settings." + S_QD),
    ("PATCH settings out of range", "PATCH", SEED, MP, {"settings": {S_LOGIN: -1}}, 400,
     "settings." + S_LOGIN),
    ("PATCH unknown member", "PATCH", SEED, MP, {"bogus": 1}, 400, "bogus"),
    ("PATCH body array", "PATCH", SEED, MP, [], 400, "body"),
    ("PATCH json content-type", "PATCH", SEED, J, {"startup": "automatic"}, 415, None),
    ("PATCH stale If-Match", "PATCH", SEED, MP, {"startup": "automatic"}, 412, None,
     {"If-Match": '"999999"'}),
    ("PATCH malformed If-Match", "PATCH", SEED, MP, {"startup": "automatic"}, 400, "If-Match",
     {"If-Match": "garbage"}),
    ("PATCH unknown binding", "PATCH", BCOLL + "/iqn.2026-12.test:nope,127.0.0.1,3260,1,lo0", MP,
     {"startup": "automatic"}, 404, (None, "id")),
    # --- ids in the path (GET, PATCH, DELETE) ---
    ("GET id without commas", "GET", BCOLL + "/nocommas", None, None, ANY4XX, (None, "id")),
    ("GET id six parts", "GET", SEED_RAW + ",x", None, None, ANY4XX, (None, "id")),
    ("GET id tpgt letters", "GET", BCOLL + "/iqn.2026-12.test:seed,127.0.0.1,3260,x,lo0",
     None, None, ANY4XX, (None, "id")),
    ("GET id traversal", "GET", BCOLL + "/..%2F..%2F..%2Fetc%2Fpasswd", None, None, ANY4XX,
     (None, "id")),
    ("GET id dotdot", "GET", BCOLL + "/%2e%2e", None, None, ANY4XX, (None, "id")),
    ("GET id NUL", "GET", SEED + "%00x", None, None, ANY4XX, (None, "id")),
    ("GET id newline", "GET", BCOLL + "/iqn.2026-12.test:seed%0A,127.0.0.1,3260,1,lo0", None,
     None, ANY4XX, (None, "id")),
    ("PATCH id traversal", "PATCH",
     BCOLL + "/iqn.2026-12.test:..%2F..%2Fx,127.0.0.1,3260,1,lo0", MP, {"startup": "automatic"},
     ANY4XX, (None, "id")),
    ("PATCH id NUL", "PATCH", SEED + "%00x", MP, {"startup": "automatic"}, ANY4XX, (None, "id")),
    ("DELETE id traversal", "DELETE",
     BCOLL + "/iqn.2026-12.test:seed,127.0.0.1,3260,1,..%2F..%2Fifaces%2Flo0", None, None,
     ANY4XX, (None, "id")),
    ("DELETE id iface path", "DELETE", BCOLL + "/iqn.2026-12.test:seed,127.0.0.1,3260,1,%2E%2E",
     None, None, ANY4XX, (None, "id")),
    ("DELETE id NUL", "DELETE", SEED + "%00", None, None, ANY4XX, (None, "id")),
    ("DELETE id host name", "DELETE", BCOLL + "/iqn.2026-12.test:seed,localhost,3260,1,lo0", None,
     None, ANY4XX, (None, "id")),
    ("DELETE unknown binding", "DELETE", BCOLL + "/iqn.2026-12.test:nope,127.0.0.1,3260,1,lo0",
     None, None, 404, (None, "id")),
    # --- GET /api/v1/bindings query ---
    ("list limit 0", "GET", BCOLL + "?limit=0", None, None, 400, "limit"),
    ("list limit letters", "GET", BCOLL + "?limit=ten", None, None, 400, "limit"),
    ("list unknown parameter", "GET", BCOLL + "?sort=id", None, None, 400, "sort"),
    ("list repeated parameter", "GET", BCOLL + "?iface=lo0&iface=default", None, None, 400,
     "iface"),
    ("list bad cursor", "GET", BCOLL + "?after=%00", None, None, 400, "after"),
    # --- POST /api/v1/discovery ---
    ("disc portal missing", "POST", DISC, J, good_disc(portal=DROP), 400, ("portal", "portals")),
    ("disc portal host name", "POST", DISC, J, good_disc(portal="localhost:@port"), 400,
     "portal"),
    ("disc portal port 0", "POST", DISC, J, good_disc(portal="127.0.0.1:0"), 400, "portal"),
    ("disc portal ipv4 in brackets", "POST", DISC, J, good_disc(portal="[127.0.0.1]:@port"), 400,
     "portal"),
    ("disc portal number", "POST", DISC, J, good_disc(portal=3260), 400, "portal"),
    ("disc portals not a list", "POST", DISC, J, good_disc(portal=DROP, portals="@portal"), 400,
     "portals"),
    ("disc portals 65", "POST", DISC, J, good_disc(portal=DROP, portals=["@portal"] * 65), 400,
     "portals"),
    ("disc portals bad entry", "POST", DISC, J,
     good_disc(portal=DROP, portals=["@portal", "evil.example.com"]), 400, "portals*"),
    ("disc ifaces not a list", "POST", DISC, J, good_disc(ifaces="lo0"), 400, "ifaces"),
    ("disc ifaces unknown", "POST", DISC, J, good_disc(ifaces=["lo0", "nosuch"]), ANY4XX,
     "ifaces*"),
    ("disc ifaces number", "POST", DISC, J, good_disc(ifaces=[5]), 400, "ifaces*"),
    ("disc ifaces traversal", "POST", DISC, J, good_disc(ifaces=["../lo0"]), 400, "ifaces*"),
    ("disc bind string", "POST", DISC, J, good_disc(bind="yes"), 400, "bind"),
    ("disc wait number", "POST", DISC, J, good_disc(wait=1), 400, "wait"),
    ("disc timeout_ms 0", "POST", DISC, J, good_disc(timeout_ms=0), 400, "timeout_ms"),
    ("disc timeout_ms 60001", "POST", DISC, J, good_disc(timeout_ms=60001), 400, "timeout_ms"),
    ("disc timeout_ms negative", "POST", DISC, J, good_disc(timeout_ms=-1), 400, "timeout_ms"),
    ("disc timeout_ms string", "POST", DISC, J, good_disc(timeout_ms="5000"), 400, "timeout_ms"),
    ("disc timeout_ms float", "POST", DISC, J, good_disc(timeout_ms=100.5), 400, "timeout_ms"),
    ("disc auth not an object", "POST", DISC, J, good_disc(auth=["u", "p"]), 400, "auth"),
    ("disc auth username newline", "POST", DISC, J,
     good_disc(auth={"username": "u\n", "password": "p"}), 400, "auth.username"),
    ("disc auth password 256", "POST", DISC, J,
     good_disc(auth={"username": "u", "password": LONG}), 400, "auth.password"),
    ("disc auth password number", "POST", DISC, J,
     good_disc(auth={"username": "u", "password": 7}), 400, "auth.password"),
    ("disc auth password_in control", "POST", DISC, J,
     good_disc(auth={"username": "u", "password": "p", "username_in": "t",
                     "password_in": "a\x02b"}), 400, "auth.password_in"),
    ("disc auth unknown member", "POST", DISC, J,
     good_disc(auth={"username": "u", "password": "p", "bogus": 1}), 400,
     "auth.bogus"),
    ("disc unknown member", "POST", DISC, J, good_disc(bogus=True), 400, "bogus"),
    ("disc body array", "POST", DISC, J, [good_disc()], 400, "body"),
    ("disc body number", "POST", DISC, J, 1, 400, "body"),
    ("disc body invalid JSON", "POST", DISC, J, b"{portal: 1}", 400, "body"),
    ("disc content-type text", "POST", DISC, "text/plain", good_disc(), 415, None),
    ("disc unknown discovery id", "GET", DISC + "/d-nosuch", None, None, 404, None),
    ("disc id traversal", "DELETE", DISC + "/..%2F..%2Fx", None, None, ANY4XX, (None, "id")),
]


def field_ok(spec, got):
    if spec is ANY:
        return True
    if isinstance(spec, tuple):
        return any(field_ok(s, got) for s in spec)
    if spec is None:
        return got is None
    if isinstance(spec, str) and spec.endswith("*"):
        return isinstance(got, str) and got.startswith(spec[:-1])
    return got == spec


def subst(value, portal, port):
    """'@portal' and '@port' in the strings of a JSON value become the fake target's."""
    if isinstance(value, str):
        return value.replace("@portal", portal).replace("@port", str(port))
    if isinstance(value, list):
        return [subst(v, portal, port) for v in value]
    if isinstance(value, dict):
        return {k: subst(v, portal, port) for k, v in value.items()}
    return value


def state(d):
    """Both mirrors and the audit, for before/after comparisons."""
    st, _, b = d.call("GET", BCOLL + "?limit=1000")
    st2, _, a = d.call("GET", "/api/v1/audit?limit=1000")
    for x in (a, b):
        if isinstance(x, dict):
            x.pop("request_id", None)  # problem+json of each answer has its own
    return tree(d.root), (st, b), (st2, a)


def main():
    work = tempfile.mkdtemp(prefix="ifd-bindbad.")
    d = None
    check(len(CASES) >= 40, "the table has at least 40 cases (%d)" % len(CASES))
    try:
        d = Daemon(BIN, work)
        st, _, b = d.call("POST", "/api/v1/ifaces",
                          {"name": "lo0", "transport_name": "tcp", "net_ifacename": "lo"})
        check(st == 201, "an iface bound to lo (%d %r)" % (st, b))
        st, _, b = d.call("POST", BCOLL, {"target": SEED_T, "portal": "127.0.0.1:3260",
                                          "tpgt": 1, "iface": "lo0"})
        check(st == 201 and isinstance(b, dict) and b.get("id") == SEED_ID,
              "a seed binding is created (%d %.300r)" % (st, b))
        st, _, b = d.call("GET", SEED)
        check(st == 200, "GET of the seed binding by its percent-encoded id (%d)" % st)
        st, _, b = d.call("GET", SEED_RAW)
        check(st == 200, "and by its id as it is (%d)" % st)

        with FakeTarget(reply=sendtargets([("iqn.2026-12.test:leak", ["127.0.0.1:3260,1"])])) \
                as t:
            first = state(d)
            check(first[1][0] == 200 and first[2][0] == 200,
                  "GET /api/v1/bindings and /api/v1/audit answer (%d, %d)"
                  % (first[1][0], first[2][0]))
            prev = first
            for case in CASES:
                name, method, path, ctype, body, want_st, want_field = case[:7]
                headers = dict(case[7]) if len(case) > 7 else {}
                path = subst(path, t.portal, t.port)
                if isinstance(body, bytes):
                    raw = body
                elif body is None and method in ("GET", "DELETE"):
                    raw = None
                else:
                    raw = json.dumps(subst(body, t.portal, t.port)).encode()
                if ctype:
                    headers["Content-Type"] = ctype
                st, hdrs, data = d.raw(method, path, raw, headers)
                try:
                    problem = json.loads(data)
                except ValueError:
                    problem = None
                ct = hdrs.get("content-type", "")
                ok_status = 400 <= st < 500 if want_st == ANY4XX else st == want_st
                is_problem = (ct.startswith("application/problem+json") and
                              isinstance(problem, dict) and problem.get("status") == st and
                              isinstance(problem.get("type"), str) and
                              isinstance(problem.get("title"), str))
                got_field = problem.get("field") if isinstance(problem, dict) else None
                check(ok_status and is_problem and field_ok(want_field, got_field),
                      "%s: %s %s -> %d %s field %r (want %s field %r)%s"
                      % (name, method, path[:80], st, ct, got_field, want_st, want_field,
                         "" if ok_status and is_problem and field_ok(want_field, got_field)
                         else ": %.300r" % data))
                now = state(d)
                if now != prev:
                    diff = tree_diff(prev[0], now[0])
                    check(False, "%s: changed something: files %r; bindings %s; audit %s"
                          % (name, diff[:5], "changed" if now[1] != prev[1] else "same",
                             "changed" if now[2] != prev[2] else "same"))
                    prev = now
            last = state(d)
            check(last[0] == first[0], "after the table, the files under the root are as "
                  "before: %r" % tree_diff(first[0], last[0])[:10])
            check(last[1] == first[1], "GET /api/v1/bindings is as before")
            check(last[2] == first[2], "GET /api/v1/audit has no new rows")
            check(not t.events, "the fake target was never contacted: %r"
                  % [e["kind"] for e in t.events][:10])
        check(not os.path.exists(os.path.join(d.root, "send_targets")) or
              not os.listdir(os.path.join(d.root, "send_targets")),
              "no discovery record was written")
        st, _, b = d.call("GET", SEED)
        check(st == 200 and isinstance(b, dict) and b.get("revision") ==
              (first[1][1]["items"][0].get("revision") if isinstance(first[1][1], dict) and
               first[1][1].get("items") else None),
              "the seed binding is still there, unchanged (%d)" % st)
        rc = d.stop()
        check(rc == 0, "the daemon stops cleanly (exit %d)" % rc)
        d = None
    finally:
        if d:
            d.kill()
        if failures() and os.environ.get("IFD_KEEP"):
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("bindings-bad-input: %d failure(s)" % failures())
    return 1 if failures() else 0


if __name__ == "__main__":
    rc = in_private_netns()
    sys.exit(rc if rc is not None else main())
