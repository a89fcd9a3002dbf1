#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""CHAP secrets of bindings and discovery are write-only (docs/bindings.md): they go into the
node files and the discovery record (st_config), 0600 as iscsiadm writes them, and nowhere else.

With unique random passwords, this test runs a discovery with discovery CHAP (and mutual CHAP)
against the fake target (fake_target.py) requiring it, one again with the stored CHAP, a failing
one with a wrong password; creates a binding with CHAP passwords, patches them, clears one;
sends bad requests that carry passwords. Meanwhile it samples every /proc/*/cmdline and
/proc/*/environ. Then no password may appear in any response body or header, the daemon's log
(--log-level debug), GET /api/v1/audit, the sqlite audit table (sqlite3 CLI), or a sample.
The node files and st_config must hold the current ones, mode 0600.

(This file shadows the stdlib secrets module for the scripts in this directory: none of them
imports it.)

usage: tests/integration/secrets.py IFACED_BIN          (meson: integration.secrets)
"""
import glob
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_target import FakeTarget, sendtargets  # noqa: E402
from ifd import Daemon, in_private_netns  # noqa: E402
from wire import check, failures  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.environ["IFACED_BIN"])
IFACE = "lo0"


def pw(tag):
    """A unique printable password that says which one it is (the tag never leaks alone)."""
    return "Pw%s-%s" % (tag, os.urandom(12).hex())


PW = {
    "disc": pw("D"),          # discovery CHAP, right
    "disc_in": pw("DI"),      # discovery mutual CHAP (the target's secret)
    "disc_wrong": pw("DW"),   # discovery CHAP, wrong
    "b1": pw("B1"),           # binding CHAP at create
    "b1_in": pw("B1I"),       # binding mutual CHAP at create, cleared later
    "b1_new": pw("B1N"),      # binding CHAP after a PATCH
    "b2": pw("B2"),           # CHAP patched into a discovered binding
    "bad": pw("BAD"),         # in a request that is refused
    "bad_long": pw("BL") + "x" * 260,  # too long: refused
}
STORED_AT_END = {"disc", "disc_in", "b1_new", "b2"}


class ProcSampler:
    """Reads every /proc/*/cmdline and /proc/*/environ until stopped; keeps the hits."""

    def __init__(self, needles):
        self.needles = {k: v.encode() for k, v in needles.items()}
        self.hits = []
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        me = str(os.getpid())
        while not self._stop.is_set():
            for p in glob.glob("/proc/[0-9]*"):
                pid = os.path.basename(p)
                for what in ("cmdline", "environ"):
                    try:
                        with open(os.path.join(p, what), "rb") as f:
                            data = f.read()
                    except OSError:
                        continue
                    for k, n in self.needles.items():
                        if n in data:
                            self.hits.append((pid, what, k, pid == me))
            self.samples += 1
            self._stop.wait(0.01)

    def start(self):
        self._t.start()
        return self

    def stop(self):
        self._stop.set()
        self._t.join(10)


def q(binding_id):
    return "/api/v1/bindings/" + urllib.parse.quote(binding_id, safe="")


def file_of(root, target, ip, port, tpgt, iface=IFACE):
    return os.path.join(root, "nodes", target, "%s,%d,%d" % (ip, port, tpgt), iface)


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def mode_of(path):
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


def main():
    work = tempfile.mkdtemp(prefix="ifd-secrets.")
    d = None
    sampler = ProcSampler(PW).start()
    try:
        d = Daemon(BIN, work)
        st, _, b = d.call("POST", "/api/v1/ifaces",
                          {"name": IFACE, "transport_name": "tcp", "net_ifacename": "lo"})
        check(st == 201, "an iface bound to lo (%d %r)" % (st, b))
        targets = [("iqn.2026-12.test:s1", ["127.0.0.1:3260,1"]),
                   ("iqn.2026-12.test:s2", ["127.0.0.1:3260,1"])]
        with FakeTarget(reply=sendtargets(targets), chap=("duser", PW["disc"]),
                        mutual=("dtarget", PW["disc_in"]), require_mutual=True) as t:
            disc_auth = {"username": "duser", "password": PW["disc"],
                         "username_in": "dtarget", "password_in": PW["disc_in"]}
            body = {"portal": t.portal, "ifaces": [IFACE], "bind": True, "timeout_ms": 5000,
                    "auth": disc_auth}
            st, _, res = d.call("POST", "/api/v1/discovery", body)
            items = (res or {}).get("items") if isinstance(res, dict) else None
            check(st == 200 and items and items[0].get("status") == "ok",
                  "a discovery with discovery CHAP and mutual CHAP is ok (%d %.300r)" % (st, res))
            chap = t.events_of("chap")
            check(chap and all(e["ok"] for e in chap), "the target checked the CHAP: %r" % chap)
            created = ((res or {}).get("bindings") or {}).get("created") if isinstance(
                res, dict) else None
            check(sorted(created or []) == ["iqn.2026-12.test:s1,127.0.0.1,3260,1,lo0",
                                            "iqn.2026-12.test:s2,127.0.0.1,3260,1,lo0"],
                  "both targets are bound (%r)" % (created,))
            if isinstance(res, dict) and res.get("id"):
                d.call("GET", "/api/v1/discovery/" + res["id"])

            stc = os.path.join(d.root, "send_targets", "127.0.0.1,%d" % t.port, "st_config")
            text = read(stc).decode("ascii", "replace")
            check(("discovery.sendtargets.auth.authmethod = CHAP\n" in text and
                   "discovery.sendtargets.auth.username = duser\n" in text and
                   "discovery.sendtargets.auth.password = %s\n" % PW["disc"] in text and
                   "discovery.sendtargets.auth.username_in = dtarget\n" in text and
                   "discovery.sendtargets.auth.password_in = %s\n" % PW["disc_in"] in text),
                  "st_config holds the discovery CHAP as iscsiadm stores it")
            check(mode_of(stc) == 0o600, "st_config is 0600 (%s)"
                  % (oct(mode_of(stc)) if mode_of(stc) is not None else "missing"))

            # Without auth: the stored CHAP is used.
            t.clear()
            st, _, res = d.call("POST", "/api/v1/discovery",
                                {"portal": t.portal, "ifaces": [IFACE], "bind": True})
            items = (res or {}).get("items") if isinstance(res, dict) else None
            check(st == 200 and items and items[0].get("status") == "ok" and
                  [e["ok"] for e in t.events_of("chap")] == [True],
                  "a discovery without auth uses the stored CHAP (%d %.300r)" % (st, res))

            # A wrong password: auth-failed, and the wrong one is stored nowhere (bind false).
            t.clear()
            st, _, res = d.call("POST", "/api/v1/discovery",
                                {"portal": t.portal, "ifaces": [IFACE], "bind": False,
                                 "auth": {"username": "duser", "password": PW["disc_wrong"]}})
            items = (res or {}).get("items") if isinstance(res, dict) else None
            check(st == 200 and items and items[0].get("status") == "failed" and
                  items[0].get("reason") == "auth-failed",
                  "a wrong discovery password fails with auth-failed (%d %.300r)" % (st, res))
            check([e["ok"] for e in t.events_of("chap")] == [False],
                  "the target saw the wrong CHAP response")

            # Jobs: portals as a list answer 202, the job is read back.
            st, hdrs, res = d.call("POST", "/api/v1/discovery",
                                   {"portals": [t.portal], "ifaces": [IFACE], "bind": False,
                                    "auth": {"username": "duser", "password": PW["disc"]}})
            check(st == 202 and hdrs.get("location"),
                  "with portals, the answer is 202 with a Location (%d)" % st)
            if hdrs.get("location"):
                for _ in range(100):
                    st, _, res = d.call("GET", hdrs["location"])
                    if not isinstance(res, dict) or res.get("state") != "running":
                        break
                    t._stopping.wait(0.05)

        # A static binding with CHAP and mutual CHAP; then patched; then password_in cleared.
        b1 = {"target": "iqn.2026-12.test:static1", "portal": "127.0.0.1:3260", "tpgt": 1,
              "iface": IFACE, "startup": "manual",
              "auth": {"method": "CHAP", "username": "u1", "password": PW["b1"],
                       "username_in": "t1", "password_in": PW["b1_in"]}}
        st, hdrs, res = d.call("POST", "/api/v1/bindings", b1)
        b1_id = "iqn.2026-12.test:static1,127.0.0.1,3260,1,lo0"
        a = (res or {}).get("auth") if isinstance(res, dict) else None
        check(st == 201 and isinstance(a, dict) and a.get("password_set") is True and
              a.get("password_in_set") is True and "password" not in a and
              "password_in" not in a,
              "a binding with CHAP: 201, the answer says password_set only (%d %.300r)"
              % (st, res))
        f1 = file_of(d.root, "iqn.2026-12.test:static1", "127.0.0.1", 3260, 1)
        text = read(f1).decode("ascii", "replace")
        check("node.session.auth.authmethod = CHAP\n" in text and
              "node.session.auth.password = %s\n" % PW["b1"] in text and
              "node.session.auth.password_in = %s\n" % PW["b1_in"] in text,
              "its node file holds the passwords as iscsiadm writes them")
        check(mode_of(f1) == 0o600, "its node file is 0600 (%s)"
              % (oct(mode_of(f1)) if mode_of(f1) is not None else "missing"))

        st, _, res = d.call("PATCH", q(b1_id), {"auth": {"password": PW["b1_new"]}},
                            headers={"Content-Type": "application/merge-patch+json"})
        check(st == 200, "PATCH of the password: 200 (%d %.300r)" % (st, res))
        text = read(f1).decode("ascii", "replace")
        check("node.session.auth.password = %s\n" % PW["b1_new"] in text and
              PW["b1"] not in text, "the node file holds the new password, not the old one")
        # Mutual CHAP needs both members: clearing it is both to null.
        st, _, res = d.call("PATCH", q(b1_id), {"auth": {"username_in": None,
                                                         "password_in": None}},
                            headers={"Content-Type": "application/merge-patch+json"})
        a = (res or {}).get("auth") if isinstance(res, dict) else None
        check(st == 200 and isinstance(a, dict) and a.get("password_in_set") is False and
              a.get("password_set") is True and a.get("username_in") == "",
              "username_in and password_in null clear mutual CHAP (%d %.300r)" % (st, res))
        check(PW["b1_in"] not in read(f1).decode("ascii", "replace"),
              "the cleared password_in is gone from the node file")
        check(mode_of(f1) == 0o600, "the node file is still 0600 after the PATCHes")

        # CHAP patched into a discovered binding.
        s1 = "iqn.2026-12.test:s1,127.0.0.1,3260,1,lo0"
        st, _, res = d.call("PATCH", q(s1), {"auth": {"method": "CHAP", "username": "u2",
                                                     "password": PW["b2"]}},
                            headers={"Content-Type": "application/merge-patch+json"})
        check(st == 200, "CHAP patched into a discovered binding (%d %.300r)" % (st, res))
        f2 = file_of(d.root, "iqn.2026-12.test:s1", "127.0.0.1", 3260, 1)
        check("node.session.auth.password = %s\n" % PW["b2"] in
              read(f2).decode("ascii", "replace") and mode_of(f2) == 0o600,
              "its node file holds it, 0600")

        # Refused requests carrying passwords must not echo them.
        for body in ({"target": "iqn.2026-12.test:bad/x", "portal": "127.0.0.1:3260",
                      "tpgt": 1, "iface": IFACE,
                      "auth": {"method": "CHAP", "username": "u", "password": PW["bad"]}},
                     {"target": "iqn.2026-12.test:bad2", "portal": "127.0.0.1:3260",
                      "tpgt": 1, "iface": IFACE,
                      "auth": {"method": "CHAP", "username": "u", "password": PW["bad_long"]}},
                     {"target": "iqn.2026-12.test:bad3", "portal": "127.0.0.1:3260",
                      "tpgt": 1, "iface": IFACE,
                      "auth": {"method": "CHAP", "username": "u", "password": PW["bad"] + "\n"}}):
            st, _, res = d.call("POST", "/api/v1/bindings", body)
            check(400 <= st < 500, "a refused binding with a password: %d" % st)
        st, _, _ = d.call("POST", "/api/v1/discovery",
                          {"portal": "127.0.0.1:0", "auth": {"username": "u",
                                                              "password": PW["bad"]}})
        check(400 <= st < 500, "a refused discovery with a password: %d" % st)
        st, _, _ = d.call("PATCH", q(b1_id), {"auth": {"password": PW["bad_long"]}},
                          headers={"Content-Type": "application/merge-patch+json"})
        check(400 <= st < 500, "a refused PATCH with a password: %d" % st)

        # Read everything back through the API: every answer is kept and grepped below.
        try:
            for b in d.all_pages("/api/v1/bindings"):
                d.call("GET", q(b["id"]))
        except RuntimeError as e:
            check(False, "GET /api/v1/bindings: %s" % e)
        audit = d.all_pages("/api/v1/audit", param="cursor")
        check(any("static1" in str(a.get("name", "")) for a in audit),
              "the audit has rows for the bindings (%d rows)" % len(audit))
        rc = d.stop()
        check(rc == 0, "the daemon stops cleanly (exit %d)" % rc)
        sampler.stop()

        # --- the greps ---
        log = d.log_text()
        check(len(log) > 0, "the daemon logged something (%d bytes)" % len(log))
        r = subprocess.run(["sqlite3", "-readonly", d.db, "SELECT * FROM audit;"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        sql_audit = r.stdout
        check(r.returncode == 0 and sql_audit, "sqlite3 reads the audit table (%d rows, %s)"
              % (sql_audit.count(b"\n"), r.stderr.decode(errors="replace").strip()))
        r = subprocess.run(["sqlite3", "-readonly", d.db, ".dump"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=30)
        sql_all = r.stdout
        answers = b"".join(b"%d %s %s\n" % (a[2], a[0].encode(), a[1].encode()) +
                           b"".join(k.encode() + b": " + v.encode("latin-1", "replace") +
                                    b"\n" for k, v in a[3]) + a[4] + b"\n"
                           for a in d.answers)
        for k, p in PW.items():
            n = p.encode()
            where = [w for w, blob in (("responses", answers), ("log", log),
                                       ("sqlite audit", sql_audit)) if n in blob]
            check(not where, "password %s appears in no response, header, log line or audit "
                  "row%s" % (k, (": found in " + ", ".join(where)) if where else ""))
            hits = [h for h in sampler.hits if h[2] == k]
            check(not hits, "password %s appears in no /proc/*/cmdline or environ (%d samples)%s"
                  % (k, sampler.samples, (": %r" % hits[:3]) if hits else ""))
            if n in sql_all:  # the row mirror of a 0600 file may hold it, as the file does
                print("NOTE: password %s is in the sqlite database outside the audit (%s)"
                      % (k, "current" if k in STORED_AT_END else "NOT current"))
        # What must be stored, is: the files hold the current passwords only.
        everything = b""
        for dirpath, _, files in os.walk(d.root):
            for f in files:
                everything += read(os.path.join(dirpath, f))
        for k in ("disc_wrong", "b1", "b1_in", "bad", "bad_long"):
            check(PW[k].encode() not in everything,
                  "password %s (refused, replaced or cleared) is in no file" % k)
        for k in STORED_AT_END:
            check(PW[k].encode() in everything, "password %s is stored in the files" % k)
        d = None
    finally:
        sampler.stop()
        if d:
            d.kill()
        if failures() and os.environ.get("IFD_KEEP"):
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("secrets: %d failure(s)" % failures())
    return 1 if failures() else 0


if __name__ == "__main__":
    rc = in_private_netns()
    sys.exit(rc if rc is not None else main())
