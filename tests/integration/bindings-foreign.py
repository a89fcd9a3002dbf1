#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Files of the node db the daemon did not write, and cannot import, are never written over
(docs/decisions.md, "Bindings are node files..."):

- an st_config that is not a discovery record stands where a discovery with bind:true would
  write its discovery record: the discovery reports the refusal (bindings.error), creates no
  binding, and the file keeps its bytes;
- an unparsable node file stands at a binding's path: POST of that binding is a 409 naming the
  path, and the file keeps its bytes; a symlinked target directory under nodes/ is never
  followed (409 or 503, the link's target untouched);
- a cascading iface delete that meets such a file deletes nothing.

usage: tests/integration/bindings-foreign.py IFACED_BIN      (meson: integration.bindings-foreign)
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_target import FakeTarget, sendtargets  # noqa: E402
from ifd import Daemon, in_private_netns  # noqa: E402
from wire import check, failures  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.environ["IFACED_BIN"])
IFACE = "lo0"
FOREIGN = b"# not a discovery record\nsomething = else\n"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def put(path, data):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    work = tempfile.mkdtemp(prefix="ifd-foreign.")
    d = None
    try:
        d = Daemon(BIN, work)
        st, _, b = d.call("POST", "/api/v1/ifaces",
                          {"name": IFACE, "transport_name": "tcp", "net_ifacename": "lo"})
        check(st == 201, "an iface bound to lo (%d %r)" % (st, b))

        # 1. A foreign st_config where the discovery record goes.
        with FakeTarget(reply=sendtargets([("iqn.2026-12.test:f1", ["127.0.0.1:3260,1"])])) as t:
            stc = os.path.join(d.root, "send_targets", "127.0.0.1,%d" % t.port, "st_config")
            put(stc, FOREIGN)
            st, _, res = d.call("POST", "/api/v1/discovery",
                                {"portal": t.portal, "ifaces": [IFACE], "bind": True})
            binds = (res or {}).get("bindings") if isinstance(res, dict) else None
            check(st == 200 and isinstance(binds, dict) and "st_config" in binds.get("error", ""),
                  "the discovery reports the foreign discovery record (%d %.400r)" % (st, res))
            check(binds is not None and not binds.get("created"),
                  "no binding is created past it (%r)" % (binds,))
            check(read(stc) == FOREIGN, "the foreign st_config keeps its bytes")
        st, _, b = d.call("GET", "/api/v1/bindings")
        check(st == 200 and b["items"] == [], "no binding exists (%r)" % (b,))

        # 2. An unparsable node file at a binding's path.
        node = os.path.join(d.root, "nodes", "iqn.2026-12.test:f2", "127.0.0.1,3260,1", IFACE)
        put(node, FOREIGN)
        body = {"target": "iqn.2026-12.test:f2", "portal": "127.0.0.1:3260", "tpgt": 1,
                "iface": IFACE}
        st, _, b = d.call("POST", "/api/v1/bindings", body)
        check(st == 409 and "nodes/iqn.2026-12.test:f2" in (b or {}).get("detail", ""),
              "POST over a foreign node file is a 409 naming it (%d %r)" % (st, b))
        check(read(node) == FOREIGN, "the foreign node file keeps its bytes")

        # 3. A symlinked target directory is never followed.
        outside = os.path.join(work, "outside")
        os.makedirs(outside)
        os.symlink(outside, os.path.join(d.root, "nodes", "iqn.2026-12.test:f3"))
        body["target"] = "iqn.2026-12.test:f3"
        st, _, b = d.call("POST", "/api/v1/bindings", body)
        check(st in (409, 503) and os.listdir(outside) == [],
              "POST through a symlinked target dir writes nothing through it (%d %r, %r)"
              % (st, b, os.listdir(outside)))

        # 4. A cascade that meets a foreign file deletes nothing.
        body["target"] = "iqn.2026-12.test:f4"
        st, _, b = d.call("POST", "/api/v1/bindings", body)
        check(st == 201, "a binding of the iface (%d %r)" % (st, b))
        good = os.path.join(d.root, "nodes", "iqn.2026-12.test:f4", "127.0.0.1,3260,1", IFACE)
        before = read(good)
        put(good + "", before.replace(b"node.startup = manual", b"node.startup = bogus"))
        st, _, b = d.call("DELETE", "/api/v1/ifaces/%s?cascade=true" % IFACE)
        check(st == 409, "the cascade is refused (%d %r)" % (st, b))
        check(os.path.exists(good) and os.path.exists(os.path.join(d.root, "ifaces", IFACE)),
              "the iface and its binding's file are still there")
        st, _, b = d.call("GET", "/api/v1/ifaces/" + IFACE)
        check(st == 200, "the iface is still served (%d)" % st)
    finally:
        if d:
            d.kill()
        if failures() and os.environ.get("IFD_KEEP"):
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("bindings-foreign: %d failure(s)" % failures())
    return 1 if failures() else 0


if __name__ == "__main__":
    rc = in_private_netns()
    sys.exit(rc if rc is not None else main())
