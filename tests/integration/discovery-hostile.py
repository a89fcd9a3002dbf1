#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Discovery against a hostile target (docs/bindings.md, "Discovery"): target names and
TargetAddress values from the wire are untrusted. A fake target (fake_target.py) answers
SendTargets with valid targets mixed with names holding '/', '..', paths, control bytes, blanks,
non-UTF-8 bytes, commas, 224 bytes, names that are not iqn/eui/naa; and addresses that are host
names, hold '/', have bad ports, bad or missing tpgts, abused brackets. POST /api/v1/discovery
with bind:true through an iface bound to lo must

- list each hostile one in `refused`, with a `field` and a `reason`, and never bind it;
- bind the valid ones (a 223-byte name among them);
- create nothing outside <root>/nodes/<valid target>/... and <root>/send_targets/, no path with
  '..' or a byte outside printable ASCII, no symlink out of the root, nothing outside the root;
- keep both mirrors in agreement: GET /api/v1/bindings and the node files.

It runs in a private network namespace (see ifd.in_private_netns).

usage: tests/integration/discovery-hostile.py IFACED_BIN   (meson: integration.discovery-hostile)
"""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_target import FakeTarget, sendtargets  # noqa: E402
from ifd import Daemon, in_private_netns, tree  # noqa: E402
from wire import check, failures  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.environ["IFACED_BIN"])
IFACE = "lo0"
ESCAPE = "ifd-escape-" + os.urandom(6).hex()  # a file no hostile path may create in /tmp
UP = "../" * 12

A = "127.0.0.1:3260,1"
LONG_OK = "iqn.2026-12.test:" + "l" * (223 - len("iqn.2026-12.test:"))
LONG_BAD = "iqn.2026-12.test:x224" + "l" * (224 - len("iqn.2026-12.test:x224"))

# (name, [addresses]) that must be bound: (target, ip, port, tpgt) each.
VALID = [
    ("iqn.2026-12.test:good1", ["127.0.0.1:3260,1"]),
    ("iqn.2026-12.test:good2", ["127.0.0.1:3261,2", "[::1]:3260,3"]),
    ("eui.02004567A425678D", ["127.0.0.1:3260,1"]),
    ("naa.52004567BA64678D", ["127.0.0.1:3260,65535"]),
    ("naa.6001405AB0CD1234EF56789012345678", ["127.0.0.1:3260,0"]),
    (LONG_OK, ["127.0.0.1:3260,1"]),
]
BOUND = {("iqn.2026-12.test:good1", "127.0.0.1", 3260, 1),
         ("iqn.2026-12.test:good2", "127.0.0.1", 3261, 2),
         ("iqn.2026-12.test:good2", "::1", 3260, 3),
         ("eui.02004567A425678D", "127.0.0.1", 3260, 1),
         ("naa.52004567BA64678D", "127.0.0.1", 3260, 65535),
         ("naa.6001405AB0CD1234EF56789012345678", "127.0.0.1", 3260, 0),
         (LONG_OK, "127.0.0.1", 3260, 1)}
VALID_NAMES = {t for t, _, _, _ in BOUND}

# Hostile target names, each with a valid address: refused with field "target".
BAD_NAMES = [
    ("slash", b"iqn.2026-12.test:a/b"),
    ("dotdot", b".."),
    ("dot", b"."),
    ("iqn dotdot", b"iqn.2026-12.test:.."),
    ("iqn dotdot path", b"iqn.2026-12.test:../../etc/passwd"),
    ("iqn escape to /tmp", ("iqn.2026-12.test:" + UP + "tmp/" + ESCAPE).encode()),
    ("plain escape to /tmp", (UP + "tmp/" + ESCAPE).encode()),
    ("absolute path", ("/tmp/" + ESCAPE).encode()),
    ("etc passwd", b"../../etc/passwd"),
    ("newline", b"iqn.2026-12.test:a\nb"),
    ("newline then key", b"iqn.2026-12.test:nl\nnode.startup = automatic"),
    ("carriage return", b"iqn.2026-12.test:cr\r"),
    ("tab", b"iqn.2026-12.test:t\tb"),
    ("control byte", b"iqn.2026-12.test:c\x01d"),
    ("escape sequence", b"iqn.2026-12.test:\x1b[31mred"),
    ("del", b"iqn.2026-12.test:d\x7f"),
    ("space", b"iqn.2026-12.test:sp ace"),
    ("leading space", b" iqn.2026-12.test:lead"),
    ("trailing space", b"iqn.2026-12.test:trail "),
    ("224 bytes", LONG_BAD.encode()),
    ("4000 bytes", b"iqn.2026-12.test:" + b"z" * 4000),
    ("not utf-8", b"iqn.2026-12.test:\xff\xfe\x80"),
    ("utf-8 non-ascii", "iqn.2026-12.test:d\u00e9j\u00e0".encode()),
    ("no scheme", b"target1"),
    ("unknown scheme", b"foo.2026-12.test:x"),
    ("iqn bad date", b"iqn.20x6-12.test:x"),
    ("iqn month 13", b"iqn.2026-13.test:x"),
    ("eui short", b"eui.0123"),
    ("eui not hex", b"eui.0123456789ABCDEZ"),
    ("naa 20 hex", b"naa.0123456789ABCDEF0123"),
    ("comma", b"iqn.2026-12.test:a,b"),
    ("comma id forgery", b"iqn.2026-12.test:x,127.0.0.1,3260,1,lo0"),
    ("empty", b""),
]

# Hostile TargetAddress values, each the only portal of a valid name: refused, field a portal's.
BAD_ADDRS = [
    ("host name", b"evil.example.com:3260,1"),
    ("localhost", b"localhost:3260,1"),
    ("slash in address", b"127.0.0.1/../../x:3260,1"),
    ("slash in port", b"127.0.0.1:3260/..,1"),
    ("slash in tpgt", b"127.0.0.1:3260,1/../x"),
    ("dotdot address", b"..:3260,1"),
    ("port 0", b"127.0.0.1:0,1"),
    ("port 65536", b"127.0.0.1:65536,1"),
    ("port letters", b"127.0.0.1:abc,1"),
    ("port negative", b"127.0.0.1:-1,1"),
    ("port huge", b"127.0.0.1:99999999999999999999,1"),
    ("port empty", b"127.0.0.1:,1"),
    ("tpgt -2", b"127.0.0.1:3260,-2"),
    ("tpgt 65536", b"127.0.0.1:3260,65536"),
    ("tpgt letters", b"127.0.0.1:3260,x"),
    ("tpgt empty", b"127.0.0.1:3260,"),
    ("tpgt huge", b"127.0.0.1:3260,99999999999999999999"),
    ("tpgt twice", b"127.0.0.1:3260,1,2"),
    ("tpgt missing", b"127.0.0.1:3260"),
    ("brackets around ipv4", b"[127.0.0.1]:3260,1"),
    ("bracket unclosed", b"[::1:3260,1"),
    ("bracket unopened", b"::1]:3260,1"),
    ("brackets doubled", b"[[::1]]:3260,1"),
    ("brackets empty", b"[]:3260,1"),
    ("junk after bracket", b"[::1]x:3260,1"),
    ("two bracket groups", b"[::1]:3260][::2]:1,1"),
    ("newline in address", b"127.0.0.1\n:3260,1"),
    ("space in address", b" 127.0.0.1:3260,1"),
    ("not utf-8 address", b"127.0.0.\xff:3260,1"),
    ("bad ipv4", b"127.0.0.256:3260,1"),
    ("empty address", b""),
]

PORTAL_FIELDS = ("portal", "address", "port", "tpgt", "target_address", "TargetAddress")


def discover(d, t, **extra):
    body = {"portal": t.portal, "ifaces": [IFACE], "bind": True, "timeout_ms": 5000}
    body.update(extra)
    return d.call("POST", "/api/v1/discovery", body)


def id_of(target, ip, port, tpgt, iface=IFACE):
    return "%s,%s,%d,%d,%s" % (target, ip, port, tpgt, iface)


def files_mirror(root):
    """The bindings the node files say exist: {id: path} from nodes/<t>/<ip>,<port>,<tpgt>/<if>,
    and the old-style nodes/<t>/<ip>,<port> files as tpgt -1."""
    out = {}
    nodes = os.path.join(root, "nodes")
    if not os.path.isdir(nodes):
        return out
    for t in os.listdir(nodes):
        for p in os.listdir(os.path.join(nodes, t)):
            pp = os.path.join(nodes, t, p)
            if os.path.isdir(pp) and not os.path.islink(pp):
                ip, port, tpgt = p.rsplit(",", 2)
                for i in os.listdir(pp):
                    out["%s,%s,%s,%s,%s" % (t, ip, port, tpgt, i)] = "nodes/%s/%s/%s" % (t, p, i)
            else:
                ip, port = p.rsplit(",", 1)
                out["%s,%s,%s,-1,%s" % (t, ip, port, "default")] = "nodes/%s/%s" % (t, p)
    return out


def printable(s):
    return all(0x20 < ord(ch) < 0x7F for ch in s)


def check_refused_one(res, field_ok, what):
    """res is a discovery answer with exactly one hostile entry: it must be refused once."""
    refused = res.get("refused") if isinstance(res, dict) else None
    if not isinstance(refused, list):
        check(False, "%s: the answer has a refused list (%r)" % (what, res))
        return
    ok = (len(refused) == 1 and isinstance(refused[0], dict) and
          field_ok(refused[0].get("field")) and isinstance(refused[0].get("reason"), str) and
          refused[0].get("reason") and isinstance(refused[0].get("value"), str) and
          refused[0].get("iface") == IFACE)
    check(ok, "%s: refused once with a field and a reason: %r" % (what, refused))
    bnd = res.get("bindings") or {}
    check(not bnd.get("created") and not bnd.get("failed"),
          "%s: nothing new is bound, nothing failed: %r" % (what, bnd))


def check_tree(d, before):
    root = d.root
    after = tree(root)
    new = sorted(set(after) - set(before))
    changed = sorted(k for k in before if k in after and before[k] != after[k] and
                     not k.startswith(("nodes", "send_targets")))
    check(not changed, "nothing that was there before changed outside nodes/ and "
          "send_targets/: %r" % changed[:10])
    allowed_top = {"nodes", "send_targets"}
    stray = []
    for rel in new:
        parts = rel.split(os.sep)
        if parts[0] == ".iscsi-ifaced" and rel.endswith(".tmp") and \
                os.path.isfile(os.path.join(root, rel)) and \
                os.path.getsize(os.path.join(root, rel)) == 0:
            continue  # a spare temp file the daemon made ahead of its writes (empty)
        if parts[0] not in allowed_top:
            stray.append(rel)
        elif parts[0] == "nodes" and len(parts) > 1 and parts[1] not in VALID_NAMES:
            stray.append(rel)
    check(not stray, "nothing is created outside nodes/<valid target>/ and send_targets/: %r"
          % stray[:10])
    dotdot = [k for k in after if ".." in k]
    check(not dotdot, "no path under the root holds '..': %r" % dotdot[:10])
    odd = [k for k in after if not printable(k.replace(os.sep, "x"))]
    check(not odd, "no path under the root holds a blank, a control byte or non-ASCII: %r"
          % odd[:10])
    # iscsiadm links send_targets/<portal>/<target>,<ip>,<port>,<tpgt>,<iface> to the node's
    # portal directory with an absolute path under its db root: only such links, to valid nodes.
    for rel, (kind, _, target) in after.items():
        if kind == "link":
            parts = target.split("/")
            check(rel.startswith("send_targets" + os.sep) and ".." not in parts and
                  len(parts) >= 3 and parts[-3] == "nodes" and parts[-2] in VALID_NAMES and
                  rel.split(os.sep)[-1].split(",")[0] == parts[-2],
                  "the symlink %s points to the portal dir of a valid node (%s)" % (rel, target))
    # send_targets/: the discovery record of the fake target's portal, links to valid nodes only
    st = os.path.join(root, "send_targets")
    for dirpath, dirnames, filenames in os.walk(st):
        for n in dirnames + filenames:
            if n == "st_config" or dirpath == st:
                continue
            check(n.split(",")[0] in VALID_NAMES,
                  "send_targets/ names only valid targets: %r" % os.path.join(dirpath, n))
    # Outside the root: the work dir gets only the daemon's own files, /tmp no escape.
    extra = set(os.listdir(d.work)) - {"iscsi", "lock", "db", "db-wal", "db-shm", "db-journal",
                                        "db.lock", "log", "port"}
    check(not extra, "nothing new in the daemon's work dir: %r" % sorted(extra))
    check(not os.path.lexists(os.path.join("/tmp", ESCAPE)) and
          not os.path.lexists(os.path.join(d.work, "etc")) and
          not os.path.lexists(os.path.join(os.path.dirname(d.work), "etc", "passwd")),
          "no hostile path escaped the root (/tmp/%s, <work>/etc)" % ESCAPE)


def check_mirrors(d, what):
    files = files_mirror(d.root)
    try:
        items = d.all_pages("/api/v1/bindings")
    except RuntimeError as e:
        check(False, "%s: GET /api/v1/bindings: %s" % (what, e))
        return {}
    api = {b.get("id"): b for b in items if isinstance(b, dict)}
    check(set(api) == set(files), "%s: GET /api/v1/bindings and the node files agree: "
          "only in the API %r, only in files %r"
          % (what, sorted(set(api) - set(files))[:5], sorted(set(files) - set(api))[:5]))
    for i, b in api.items():
        if i in files:
            check(b.get("path") == files[i], "%s: %s: its path is its file (%r)"
                  % (what, i, b.get("path")))
    for i, rel in files.items():
        try:
            text = open(os.path.join(d.root, rel), "rb").read().decode("ascii")
        except (OSError, UnicodeDecodeError) as e:
            check(False, "%s: %s is readable ASCII (%s)" % (what, rel, e))
            continue
        t, ip, port, tpgt, _ = i.rsplit(",", 4) if i.count(",") >= 4 else (i, "", "", "", "")
        check(("node.name = %s\n" % t) in text and
              ("node.conn[0].address = %s\n" % ip) in text and
              ("node.conn[0].port = %s\n" % port) in text and
              ("node.tpgt = %s\n" % tpgt) in text,
              "%s: %s says its own target, address, port and tpgt" % (what, rel))
    return api


def main():
    work = tempfile.mkdtemp(prefix="ifd-dischostile.")
    d = None
    try:
        d = Daemon(BIN, work)
        st, _, b = d.call("POST", "/api/v1/ifaces",
                          {"name": IFACE, "transport_name": "tcp", "net_ifacename": "lo"})
        check(st == 201, "an iface bound to lo (%d %r)" % (st, b))
        before = tree(d.root)

        # 1. Everything at once: valid targets between the hostile ones.
        entries = []
        for i, (name, addrs) in enumerate(VALID):
            entries.append((name, addrs))
            entries += [(n, [A]) for _, n in BAD_NAMES[i::len(VALID)]]
        entries += [("iqn.2026-12.test:addr%02d" % i, [a]) for i, (_, a) in enumerate(BAD_ADDRS)]
        entries.append(VALID[0])  # a duplicate of a valid one
        with FakeTarget(reply=sendtargets(entries)) as t:
            st, _, res = discover(d, t)
            check(st == 200 and isinstance(res, dict),
                  "a discovery with %d hostile entries answers 200 (%d %.300r)"
                  % (len(BAD_NAMES) + len(BAD_ADDRS), st, res))
            res = res if isinstance(res, dict) else {}
            items = res.get("items") or [{}]
            check(res.get("state") == "done" and len(items) == 1 and
                  items[0].get("status") == "ok" and items[0].get("iface") == IFACE,
                  "it is done and its one item is ok (%.300r)" % (items,))
            check(len(t.events_of("text")) == 1, "SendTargets was asked once")
            refused = res.get("refused") or []
            by_field = {}
            for r in refused:
                by_field.setdefault(r.get("field") if isinstance(r, dict) else None, []).append(r)
            check(len(by_field.get("target", [])) == len(BAD_NAMES),
                  "each of the %d hostile names is refused with field target (%d are)"
                  % (len(BAD_NAMES), len(by_field.get("target", []))))
            n_portal = sum(len(v) for k, v in by_field.items() if k in PORTAL_FIELDS)
            check(n_portal == len(BAD_ADDRS),
                  "each of the %d hostile addresses is refused with a portal's field (%d are; "
                  "fields %r)" % (len(BAD_ADDRS), n_portal, sorted(map(str, by_field))))
            check(all(isinstance(r, dict) and isinstance(r.get("reason"), str) and r["reason"]
                      and isinstance(r.get("value"), str) and r.get("iface") == IFACE
                      and r.get("portal") == t.portal for r in refused),
                  "every refused entry has the portal, the iface, the value and a reason")
            values = [r.get("value") for r in refused if isinstance(r, dict) and
                      isinstance(r.get("value"), str)]

            def shown(s):
                # as it is, or cut short when long (the contract does not bound it)
                return s in values or (len(s) > 128 and any(
                    len(v) >= 64 and s.startswith(v.rstrip(".\u2026")) for v in values))

            for what, n in BAD_NAMES:
                s = n.decode("ascii", "replace")
                if printable(s) and n:
                    check(shown(s), "the refused list shows the name %.80r as it is" % s)
            for what, a in BAD_ADDRS:
                s = a.decode("ascii", "replace")
                if printable(s) and a:
                    check(shown(s), "the refused list shows the address %r as it is" % s)
            check(all(printable(v.replace(" ", "x")) for v in values),
                  "every refused value is escaped to printable ASCII: %r"
                  % [v for v in values if not printable(v.replace(" ", "x"))][:5])
            bnd = res.get("bindings") or {}
            want = {id_of(*b) for b in BOUND}
            created = set(bnd.get("created") or [])
            check(created == want, "the valid ones are bound: missing %r, extra %r"
                  % (sorted(want - created), sorted(created - want)))
            check(not bnd.get("failed"), "no binding failed: %r" % (bnd.get("failed"),))
        check_tree(d, before)
        api = check_mirrors(d, "after the mixed discovery")
        check(set(api) == {id_of(*b) for b in BOUND},
              "exactly the valid bindings exist: %r" % sorted(set(api))[:12])
        for b in api.values():
            check(b.get("origin") == "api" and (b.get("discovery") or {}).get("type") ==
                  "send_targets" and b.get("iface") == IFACE and b.get("layout") == "portal-dir",
                  "%s: origin api, found by send_targets, portal-dir layout" % b.get("id"))

        # 2. One hostile entry at a time next to a valid one: exactly that one is refused.
        for what, n in BAD_NAMES:
            with FakeTarget(reply=sendtargets([VALID[0], (n, [A])])) as t:
                st, _, res = discover(d, t)
                check(st == 200, "name %s: 200 (%d)" % (what, st))
                check_refused_one(res, lambda f: f == "target", "name %s" % what)
                if isinstance(res, dict):
                    check((res.get("bindings") or {}).get("existing") ==
                          [id_of(VALID[0][0], "127.0.0.1", 3260, 1)],
                          "name %s: the valid one is reported existing" % what)
        for i, (what, a) in enumerate(BAD_ADDRS):
            name = "iqn.2026-12.test:solo%02d" % i
            with FakeTarget(reply=sendtargets([VALID[0], (name, [a])])) as t:
                st, _, res = discover(d, t)
                check(st == 200, "address %s: 200 (%d)" % (what, st))
                check_refused_one(res, lambda f: f in PORTAL_FIELDS, "address %s" % what)
        # A target with a good and a bad portal: the good one is bound, the bad one refused.
        mixed = "iqn.2026-12.test:halfgood"
        with FakeTarget(reply=sendtargets([(mixed, [b"127.0.0.1:3262,4", b"127.0.0.1:0,5"])])) \
                as t:
            st, _, res = discover(d, t)
            res = res if isinstance(res, dict) else {}
            refused = res.get("refused") or []
            check(len(refused) == 1 and refused[0].get("field") in PORTAL_FIELDS,
                  "a target with one bad portal of two: that portal is refused (%r)" % refused)
            created = (res.get("bindings") or {}).get("created")
            check(created == [id_of(mixed, "127.0.0.1", 3262, 4)],
                  "and its good portal is bound (%r)" % (created,))
        VALID_NAMES.add(mixed)
        BOUND.add((mixed, "127.0.0.1", 3262, 4))

        check_tree(d, before)
        api = check_mirrors(d, "after each hostile entry alone")
        check(set(api) == {id_of(*b) for b in BOUND},
              "still exactly the valid bindings: %r" % sorted(set(api) - {id_of(*b)
                                                                          for b in BOUND}))
        # 3. A run cancelled while SendTargets is unanswered: 202 with Location, as its start.
        with FakeTarget(reply=sendtargets([VALID[0]]), text_delay=3.0) as t:
            st, h, res = discover(d, t, wait=False, bind=False)
            loc = h.get("location")
            check(st == 202 and isinstance(res, dict) and loc == "/api/v1/discovery/%s"
                  % res.get("id"), "a run with wait false: 202 and its Location (%d %r)"
                  % (st, loc))
            st, h2, res2 = d.call("DELETE", loc or "/api/v1/discovery/x")
            check(st == 202 and h2.get("location") == loc,
                  "cancelling it while it runs: 202 with the same Location (%d %r %.200r)"
                  % (st, h2.get("location"), res2))
            state = None
            for _ in range(100):
                st, _, res2 = d.call("GET", loc or "/api/v1/discovery/x")
                state = res2.get("state") if isinstance(res2, dict) else None
                if state != "running":
                    break
                time.sleep(0.05)
            check(state == "cancelled", "and then it is cancelled (%r)" % state)
            st, _, _ = d.call("DELETE", loc or "/api/v1/discovery/x")
            check(st == 204, "deleting the cancelled run: 204 (%d)" % st)
        check_tree(d, before)

        st, _, _ = d.call("GET", "/api/v1/health")
        check(st == 200, "the daemon is healthy (%d)" % st)
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
    print("discovery-hostile: %d failure(s)" % failures())
    return 1 if failures() else 0


if __name__ == "__main__":
    rc = in_private_netns()
    sys.exit(rc if rc is not None else main())
