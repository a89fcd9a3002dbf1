#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A binding whose session is logged in cannot be deleted (docs/bindings.md), as iscsiadm refuses
it (golden S10), with the session read from sysfs by engine/session.c. The sysfs is the fixture
tests/fixtures/sysfs/s01: golden S's session 1 to iqn.2003-01.org.example:disk1 at
127.0.0.1:3260, tpgt 1, through iface0.

- DELETE of that binding is a 409 naming session 1; its file keeps its bytes;
- a cascading delete of iface0 is a 409 too, and deletes none of its bindings (not even the one
  no session uses);
- the bindings no session uses (another portal of the target, another iface) are deleted, and
  an iface whose bindings are free is deleted with ?cascade=true.

usage: tests/integration/bindings-session.py IFACED_BIN     (meson: integration.bindings-session)
"""
import os
import shutil
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ifd import Daemon  # noqa: E402
from wire import check, failures  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.environ["IFACED_BIN"])
SYSFS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "sysfs", "s01")
TARGET = "iqn.2003-01.org.example:disk1"
IN_USE = TARGET + ",127.0.0.1,3260,1,iface0"
OTHER_PORTAL = TARGET + ",127.0.0.1,3261,1,iface0"
OTHER_IFACE = TARGET + ",127.0.0.1,3260,1,iface1"


def url(binding_id):
    return "/api/v1/bindings/" + urllib.parse.quote(binding_id, safe="")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    work = tempfile.mkdtemp(prefix="ifd-bsession.")
    d = None
    try:
        d = Daemon(BIN, work, "--sysfs-root", SYSFS)
        for name in ("iface0", "iface1"):
            st, _, b = d.call("POST", "/api/v1/ifaces",
                              {"name": name, "transport_name": "tcp", "net_ifacename": "lo"})
            check(st == 201, "iface %s (%d %r)" % (name, st, b))
        for port, iface in ((3260, "iface0"), (3261, "iface0"), (3260, "iface1")):
            st, _, b = d.call("POST", "/api/v1/bindings",
                              {"target": TARGET, "portal": "127.0.0.1:%d" % port, "tpgt": 1,
                               "iface": iface})
            check(st == 201, "binding %s:%d via %s (%d %r)" % (TARGET, port, iface, st, b))
        node = os.path.join(d.root, "nodes", TARGET, "127.0.0.1,3260,1", "iface0")
        before = read(node)

        st, _, b = d.call("DELETE", url(IN_USE))
        check(st == 409 and "session 1" in (b or {}).get("detail", ""),
              "DELETE of the binding in use is a 409 naming session 1 (%d %r)" % (st, b))
        check(read(node) == before, "its file keeps its bytes")

        st, _, b = d.call("DELETE", "/api/v1/ifaces/iface0?cascade=true")
        check(st == 409 and "session 1" in (b or {}).get("detail", ""),
              "a cascade over the binding in use is a 409 naming session 1 (%d %r)" % (st, b))
        for bid in (IN_USE, OTHER_PORTAL):
            st, _, _ = d.call("GET", url(bid))
            check(st == 200, "the cascade deleted nothing: %s is there (%d)" % (bid, st))

        st, _, b = d.call("DELETE", url(OTHER_PORTAL))
        check(st == 204, "a binding no session uses is deleted (%d %r)" % (st, b))
        st, _, b = d.call("DELETE", "/api/v1/ifaces/iface1?cascade=true")
        check(st == 204, "iface1, whose binding no session uses, is deleted with it (%d %r)"
              % (st, b))
        st, _, _ = d.call("GET", url(OTHER_IFACE))
        check(st == 404, "and its binding is gone (%d)" % st)
        st, _, b = d.call("GET", url(IN_USE))
        check(st == 200, "the binding in use is still served (%d)" % st)
    finally:
        if d:
            d.kill()
        shutil.rmtree(work, ignore_errors=True)
    print("bindings-session: %d failure(s)" % failures())
    return 1 if failures() else 0


if __name__ == "__main__":
    sys.exit(main())
