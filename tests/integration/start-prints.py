#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Start-up prints (docs/decisions.md "Start-up prints") against the real daemon: a clean stop
writes down each file it knows with its print; the next start trusts an unchanged file without
reading it, and never trusts a changed one.

  1. 20 records created, a clean stop: .iscsi-ifaced/start-prints names all 20.
  2. While stopped, one file is changed in place, keeping its size and its mtime (only the ctime
     can tell), and one row of the db by hand. The next start trusts the 18 others and reads
     those two (the log counts them): the file's change is imported (GET shows it, the audit an
     external change), and the edited row meets its file, which wins. The prints file is gone once
     started.
  3. A stale prints file (a copy from before a later write) is ignored whole: a file changed in
     place then is still found.
  4. After a kill -9 no prints are written: the next start reads every file.

usage: start-prints.py path/to/iscsi-ifaced
"""
import os
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ifd  # noqa: E402

FAILS = ifd.FAILS
check = ifd.check
N = 20


def trusted(d, since):
    """The last 'Start-up prints: X of Y' line of the log after byte offset since."""
    text = d.log_text()[since:].decode(errors="replace")
    m = re.findall(r"Start-up prints: (\d+) of (\d+) file", text)
    return tuple(int(x) for x in m[-1]) if m else None


def edit_in_place(path, old, new):
    """Change old to new (same length) in the file, keeping its mtime and its inode."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        data = f.read()
        assert old in data and len(old) == len(new)
        f.seek(0)
        f.write(data.replace(old, new, 1))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    st2 = os.stat(path)
    assert st2.st_size == st.st_size and st2.st_mtime_ns == st.st_mtime_ns


def main():
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="ifd-prints-")
    d = None
    try:
        d = ifd.Daemon(binary, os.path.join(work, "d"))
        ifaces = os.path.join(d.root, "ifaces")
        prints = os.path.join(d.root, ".iscsi-ifaced", "start-prints")
        for i in range(N):
            st, _, _ = d.call("POST", "/api/v1/ifaces", {"name": "p%d" % i,
                                                        "net_ifacename": "eth1"})
            check(st == 201, "create p%d" % i)
        time.sleep(0.1)  # the last change is settled (50 ms) by the stop
        check(d.stop() == 0, "a clean stop")
        lines = open(prints).read().splitlines() if os.path.exists(prints) else []
        check(len(lines) == N + 1 and lines[0].startswith("iscsi-ifaced-start-prints 3 "),
              "the stop wrote the prints of all %d records (%d lines)" % (N, len(lines)))
        stale = os.path.join(work, "stale-prints")
        shutil.copy(prints, stale)

        # 2. One file changed in place, size and mtime kept; one row of the db changed by hand
        # (its revision kept): neither is trusted.
        edit_in_place(os.path.join(ifaces, "p3"), b"eth1", b"eth2")
        db = sqlite3.connect(d.db)
        db.execute("UPDATE ifaces SET content = replace(content, 'eth1', 'eth9') WHERE name = 'p7'")
        db.commit()
        db.close()
        since = len(d.log_text())
        d.start()
        check(trusted(d, since) == (N - 2, N),
              "the start trusted the %d unchanged files (%s)" % (N - 2, trusted(d, since)))
        st, _, body = d.call("GET", "/api/v1/ifaces/p7")
        check(st == 200 and body.get("net_ifacename") == "eth1",
              "a row changed by hand is checked against its file, which wins (%s)" %
              body.get("net_ifacename"))
        check(not os.path.exists(prints), "the prints are removed once started")
        st, _, body = d.call("GET", "/api/v1/ifaces/p3")
        check(st == 200 and body.get("net_ifacename") == "eth2",
              "the changed file was read and imported (%s %s)" % (st, body.get("net_ifacename")))
        st, _, audit = d.call("GET", "/api/v1/audit?name=p3")
        origins = [a.get("origin") for a in (audit or {}).get("items", [])]
        check(st == 200 and "external" in origins, "audited as an external change (%s)" % origins)
        st, _, body = d.call("GET", "/api/v1/ifaces/p4")
        check(st == 200 and body.get("net_ifacename") == "eth1", "p4 is as it was")

        # 3. A stale prints file: the db has moved on since it was written.
        st, _, _ = d.call("PATCH", "/api/v1/ifaces/p5", {"net_ifacename": "eth3"},
                          headers={"Content-Type": "application/merge-patch+json"})
        check(st == 200, "a write after the start (%d)" % st)
        time.sleep(0.1)
        check(d.stop() == 0, "a clean stop")
        shutil.copy(stale, prints)
        edit_in_place(os.path.join(ifaces, "p6"), b"eth1", b"eth4")
        since = len(d.log_text())
        d.start()
        check(trusted(d, since) is None,
              "stale prints are ignored whole (%s)" % (trusted(d, since),))
        check(b"not of this database's revision" in d.log_text()[since:], "the log says why")
        st, _, body = d.call("GET", "/api/v1/ifaces/p6")
        check(st == 200 and body.get("net_ifacename") == "eth4",
              "a change under stale prints is found (%s)" % body.get("net_ifacename"))
        st, _, body = d.call("GET", "/api/v1/ifaces/p5")
        check(st == 200 and body.get("net_ifacename") == "eth3", "p5 keeps its write")

        # 4. A kill -9 writes no prints; the next start reads everything.
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        check(not os.path.exists(prints), "no prints after a kill -9")
        since = len(d.log_text())
        d.start()
        check(trusted(d, since) is None, "the start after a kill -9 reads every file")
        st, _, body = d.call("GET", "/api/v1/ifaces")
        check(st == 200 and len([i for i in body["items"] if i["name"].startswith("p")]) == N,
              "all %d records are there" % N)
    finally:
        if d:
            d.kill()
        shutil.rmtree(work, ignore_errors=True)
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
