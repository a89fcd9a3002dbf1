#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Group commit (engine/group.c) against the real daemon: writes that queue while one waits for
the locks are made durable together, and each is answered on its own.

iscsiadm's lock.write is held (as iscsiadm takes it: a hard link of lock) while 30 writes
arrive: creates of ifaces g0..g19, a second create of g5, a create of a name where a directory
the daemon did not write stands (ifaces/gdir), two bindings of the iface "default", and a create
of a binding on an iface that does not exist. When the lock is released they run in few batches
(ifd_write_batches_total moves by at most 3, ifd_write_batched_total by all 25 writes that
queued; the bad bodies are refused before they queue). Then each write got its own answer:
  - every create of a free name is a 201, and the file in ifaces/ is the record's, byte for byte;
  - of the two creates of g5 one is a 201 and the other a 409 (they never share a batch);
  - the create over the foreign directory is a 409 naming it, and the directory is untouched;
  - a binding on a missing iface is a 404, the two bindings are 201s with their node files;
  - no intent is left in the db, and the db's rows are the files;
  - after a restart every record is there with the same ETag.
Then a storm of 32 concurrent clients (400 creates) all succeed with fewer batches than writes.

usage: group.py path/to/iscsi-ifaced
"""
import os
import sqlite3
import sys
import tempfile
import shutil
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ifd  # noqa: E402

FAILS = ifd.FAILS
check = ifd.check
N = 20


def batches(d):
    return ifd.metric_values(d)


def run_all(jobs):
    """Run each (method, path, body) at once, each on a connection of its own."""
    out = [None] * len(jobs)

    def one(i, job):
        out[i] = d_call(*job)

    threads = [threading.Thread(target=one, args=(i, j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    return threads, out


def d_call(method, path, body):
    return DAEMON.call(method, path, body)


def queued(d):
    st, _, body = d.call("GET", "/api/v1/health")
    if not isinstance(body, dict):  # a 503 while writes are stuck still says how many
        return 0
    return body.get("iscsi_lock", {}).get("writes_waiting", 0)


def main():
    global DAEMON
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="ifd-group-")
    d = None
    try:
        # 32 clients, each a new connection per request: the per-address limit (64) would
        # refuse a few while closed ones are still being cleaned up.
        d = DAEMON = ifd.Daemon(binary, os.path.join(work, "d"), "--lock-timeout-ms", "20000",
                                "--max-conn-per-client", "512")
        ifaces = os.path.join(d.root, "ifaces")
        os.makedirs(os.path.join(ifaces, "gdir"))
        with open(os.path.join(ifaces, "gdir", "keep"), "w") as f:
            f.write("not ours\n")
        target = "iqn.2026-12.test.group:t"
        jobs = [("POST", "/api/v1/ifaces", {"name": "g%d" % i}) for i in range(N)]
        jobs.append(("POST", "/api/v1/ifaces", {"name": "g5"}))
        jobs.append(("POST", "/api/v1/ifaces", {"name": "gdir"}))
        for k in range(2):
            jobs.append(("POST", "/api/v1/bindings", {"target": target + str(k),
                                                      "portal": "192.0.2.%d:3260" % (k + 1),
                                                      "tpgt": 1, "iface": "default"}))
        jobs.append(("POST", "/api/v1/bindings", {"target": target + "x",
                                                  "portal": "192.0.2.9:3260", "tpgt": 1,
                                                  "iface": "nosuch"}))
        # Refused before they queue: a bad name, a bad body.
        jobs.append(("POST", "/api/v1/ifaces", {"name": "bad name"}))
        jobs.append(("POST", "/api/v1/ifaces", {"name": "g-bad", "iface.port": "x"}))
        queueing = len(jobs) - 2

        before = batches(d)
        lock = os.path.join(d.work, "lock")
        with open(os.path.join(lock, "lock"), "w"):
            pass
        os.link(os.path.join(lock, "lock"), os.path.join(lock, "lock.write"))
        try:
            threads, out = run_all(jobs)
            deadline = time.monotonic() + 15
            while queued(d) < queueing and time.monotonic() < deadline:
                time.sleep(0.05)
            check(queued(d) == queueing,
                  "all %d writes wait behind iscsiadm's lock (%d)" % (queueing, queued(d)))
        finally:
            os.unlink(os.path.join(lock, "lock.write"))
        for t in threads:
            t.join()
        after = batches(d)
        nb = after["ifd_write_batches_total"] - before["ifd_write_batches_total"]
        nw = after["ifd_write_batched_total"] - before["ifd_write_batched_total"]
        check(nw == queueing and 1 <= nb <= 3,
              "%d writes ran in %d batches (metrics: %d writes)" % (queueing, nb, nw))

        statuses = [o[0] for o in out]
        g5 = [statuses[5], statuses[N]]
        check(all(statuses[i] == 201 for i in range(N) if i != 5),
              "every create of a free name is a 201 (%s)" % statuses[:N])
        check(sorted(g5) == [201, 409], "of two creates of g5, one 201 and one 409 (%s)" % g5)
        st, _, body = out[N + 1]
        check(st == 409 and "gdir" in str(body) and "did not write" in str(body),
              "a create over a foreign directory: 409 naming it (%s %s)" % (st, body))
        check(os.path.isfile(os.path.join(ifaces, "gdir", "keep")), "the directory is untouched")
        check([o[0] for o in out[N + 2:N + 4]] == [201, 201],
              "two bindings of one iface in the batch: 201 (%s)" % [o[:1] for o in out[N + 2:]])
        check(out[N + 4][0] == 404, "a binding on a missing iface: 404 (%s)" % (out[N + 4],))
        check([o[0] for o in out[N + 5:]] == [400, 400],
              "bad input: 400 (%s)" % [o[0] for o in out[N + 5:]])

        etags = {}
        for i in range(N):
            st, h, body = d.call("GET", "/api/v1/ifaces/g%d" % i)
            etags["g%d" % i] = h.get("etag")
            path = os.path.join(ifaces, "g%d" % i)
            check(st == 200 and os.path.isfile(path), "g%d is served and its file is there" % i)
        for k in range(2):
            p = os.path.join(d.root, "nodes", target + str(k), "192.0.2.%d,3260,1" % (k + 1),
                             "default")
            check(os.path.isfile(p), "binding %d's node file is there" % k)

        # The rows of the last batch follow their answers within the applier's linger (a few
        # ms): no intent is left once it has written them.
        for _ in range(500):
            db = sqlite3.connect(d.db)
            intents = db.execute("SELECT COUNT(*) FROM intents").fetchone()[0]
            rows = dict(db.execute("SELECT name, content FROM ifaces").fetchall())
            nodes = db.execute("SELECT COUNT(*) FROM nodes").fetchone()[0]
            db.close()
            if intents == 0:
                break
            time.sleep(0.01)
        check(intents == 0, "no intent is left (%d)" % intents)
        same = all(open(os.path.join(ifaces, n)).read() == c for n, c in rows.items())
        check(len(rows) == N and same, "the db's %d rows are the files, byte for byte" % len(rows))
        check(nodes == 2, "two node rows (%d)" % nodes)

        d.stop()
        d.start()
        moved = [n for n, e in etags.items() if d.call("GET", "/api/v1/ifaces/" + n)[1].get(
            "etag") != e]
        check(not moved, "after a restart every record keeps its ETag (%s)" % moved)

        # 32 clients at once: every write durable and answered, in fewer batches than writes.
        before = batches(d)
        nxt = iter(range(400))
        lk = threading.Lock()
        errors = []

        def client():
            while True:
                with lk:
                    i = next(nxt, None)
                if i is None:
                    return
                st, _, body = d.call("POST", "/api/v1/ifaces", {"name": "s%d" % i})
                if st != 201:
                    errors.append((i, st, body))

        ts = [threading.Thread(target=client) for _ in range(32)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        after = batches(d)
        nb = after["ifd_write_batches_total"] - before["ifd_write_batches_total"]
        nw = after["ifd_write_batched_total"] - before["ifd_write_batched_total"]
        files = [n for n in os.listdir(ifaces) if n.startswith("s")]
        check(not errors and len(files) == 400, "400 creates from 32 clients: all 201, all files "
              "there (%d errors, %d files)" % (len(errors), len(files)))
        check(nw == 400 and nb < nw, "in %d batches (%d writes)" % (nb, nw))
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
