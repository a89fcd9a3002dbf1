#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A lone write runs on its HTTP thread (docs/decisions.md "A lone write runs on its HTTP
thread"), and never at the cost of the other connections. Against the real daemon:
  - a create from one client runs on the HTTP thread that received it
    (ifd_http_writes_here_total moves by one a create), is a 201 with its file, and its row
    follows its answer: no intent is left in the db;
  - while iscsiadm's lock.write is held (as iscsiadm takes it: a hard link of lock), such a
    create waits for it on that thread. Meanwhile the other thread of the pool serves: new
    connections get their health and listing answers, and a second create is not run on the
    waiting thread nor on the free one (the counter stays, it goes to a writer thread). Both
    are 201s once the lock is released;
  - a create on a keep-alive connection whose thread serves another connection (both accepted
    while the other thread waited in place for iscsiadm's lock, so both on the same thread) is
    not run there; once that other connection is closed, the next create on it is;
  - a daemon with one HTTP thread never lends it to a write (the counter stays at 0);
  - SIGTERM while a create waits in place for the lock: the create gets its answer (a 503, the
    daemon is stopping), nothing of it is written, and the daemon exits 0 long before the lock
    timeout.

usage: write-here.py path/to/iscsi-ifaced
"""
import os
import http.client
import json
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ifd  # noqa: E402

FAILS = ifd.FAILS
check = ifd.check


def here(d):
    return int(ifd.metric_values(d)["ifd_http_writes_here_total"])


def waiting(d):
    st, _, body = d.call("GET", "/api/v1/health")
    if not isinstance(body, dict):
        return -1
    return body.get("iscsi_lock", {}).get("writes_waiting", 0)


def wait_for(pred, what, limit=15):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    check(False, what)
    return False


def in_background(d, method, path, body):
    """The call on a thread of its own. Its connection is the only one of its HTTP thread once
    the daemon has closed those of the calls before (the client closed them: a moment), and
    the calls after it wait until it is there."""
    out = {}
    time.sleep(0.3)

    def run():
        out["answer"] = d.call(method, path, body)

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.3)
    return t, out


class Lock:
    """iscsiadm's lock, taken as it takes it: lock.write, a hard link of lock."""

    def __init__(self, d):
        self.dir = os.path.join(d.work, "lock")

    def take(self):
        with open(os.path.join(self.dir, "lock"), "a"):
            pass
        os.link(os.path.join(self.dir, "lock"), os.path.join(self.dir, "lock.write"))

    def release(self):
        if os.path.exists(os.path.join(self.dir, "lock.write")):
            os.unlink(os.path.join(self.dir, "lock.write"))


def intents(d):
    db = sqlite3.connect(d.db)
    try:
        return db.execute("SELECT COUNT(*) FROM intents").fetchone()[0]
    finally:
        db.close()


def lone_writes(d):
    """One client on one keep-alive connection, as a controller or bench-client talks."""
    ifaces = os.path.join(d.root, "ifaces")
    before = here(d)
    c = keepalive(d)
    try:
        time.sleep(0.3)  # the daemon closes the connections of the calls before
        for i in range(5):
            st = create_on(c, "h%d" % i)
            check(st == 201 and os.path.isfile(os.path.join(ifaces, "h%d" % i)),
                  "a lone create h%d: 201 and its file (%s)" % (i, st))
        c.request("DELETE", "/api/v1/ifaces/h4")
        r = c.getresponse()
        r.read()
        check(r.status == 204 and not os.path.exists(os.path.join(ifaces, "h4")),
              "a lone delete: 204, the file is gone (%s)" % r.status)
    finally:
        c.close()
    check(here(d) - before == 6, "5 lone creates and a delete ran on their HTTP thread "
          "(counter moved by %d)" % (here(d) - before))
    wait_for(lambda: intents(d) == 0, "no intent is left after the lone writes")
    check(intents(d) == 0, "the rows followed their answers: no intent left")


def keepalive(d):
    """A keep-alive connection that has had an answer, so that it is on an HTTP thread."""
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    c.request("GET", "/api/v1/health")
    c.getresponse().read()
    return c


def create_on(c, name):
    c.request("POST", "/api/v1/ifaces", body=json.dumps({"name": name}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    return r.status


def not_beside_others(d):
    """Which thread a connection lands on is the accept's race; this makes it known. While a
    create waits on one HTTP thread for iscsiadm's lock, the other thread accepts every new
    connection: B and I land there together. Once that create is done, a create on B must not
    run on its thread (I is there too); after I is closed, one must."""
    lock = Lock(d)
    lock.take()
    try:
        t, o = in_background(d, "POST", "/api/v1/ifaces", {"name": "k0"})
        wait_for(lambda: waiting(d) == 1, "a create waits in place for the lock")
        b, i = keepalive(d), keepalive(d)
    finally:
        lock.release()
    t.join(30)
    check(o.get("answer", (None,))[0] == 201, "k0: 201 once the lock is released")
    try:
        # Each GET /metrics comes on a connection of its own: let the daemon close it first.
        before = here(d)
        time.sleep(0.3)
        st = create_on(b, "k1")
        check(st == 201 and here(d) == before,
              "a create on a connection whose thread serves another: 201, not run there "
              "(%s, counter moved by %d)" % (st, here(d) - before))
        i.close()
        before = here(d)
        time.sleep(0.3)
        st = create_on(b, "k2")
        check(st == 201 and here(d) == before + 1,
              "once the other connection is closed, the next one runs there "
              "(%s, counter moved by %d)" % (st, here(d) - before))
    finally:
        b.close()
        i.close()


def waits_in_place(d):
    lock = Lock(d)
    before = here(d)
    lock.take()
    try:
        t1, o1 = in_background(d, "POST", "/api/v1/ifaces", {"name": "w1"})
        wait_for(lambda: waiting(d) == 1, "the first create waits for iscsiadm's lock")
        check(here(d) - before == 1, "it waits on its HTTP thread (counter moved by %d)" %
              (here(d) - before))
        # The other thread serves new connections while that one waits.
        answers = [d.call("GET", "/api/v1/ifaces")[0] for _ in range(8)]
        check(answers == [200] * 8 and "answer" not in o1,
              "8 listings on new connections answered while the write waits (%s)" % answers)
        t2, o2 = in_background(d, "POST", "/api/v1/ifaces", {"name": "w2"})
        wait_for(lambda: waiting(d) == 2, "the second create waits for the lock too")
        check(here(d) - before == 1,
              "the second went to a writer thread: the free HTTP thread stays free "
              "(counter moved by %d)" % (here(d) - before))
        st = d.call("GET", "/api/v1/health")[0]
        check(st in (200, 503) and "answer" not in o1 and "answer" not in o2,
              "health answers while both wait (%s)" % st)
    finally:
        lock.release()
    for t in (t1, t2):
        t.join(30)
    for name, o in (("w1", o1), ("w2", o2)):
        st = o.get("answer", (None,))[0]
        check(st == 201 and os.path.isfile(os.path.join(d.root, "ifaces", name)),
              "%s: 201 once the lock is released, and its file (%s)" % (name, st))


def sigterm_in_place(d):
    lock = Lock(d)
    lock.take()
    try:
        t, o = in_background(d, "POST", "/api/v1/ifaces", {"name": "t1"})
        wait_for(lambda: waiting(d) == 1, "a create waits in place for the lock")
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        t.join(15)
        rc = d.proc.wait(timeout=15)
        took = time.monotonic() - t0
    finally:
        lock.release()
    st, _, body = o.get("answer", (None, None, None))
    check(st == 503, "SIGTERM: the waiting create is answered 503 (%s %s)" % (st, body))
    check(not os.path.exists(os.path.join(d.root, "ifaces", "t1")), "nothing of it is written")
    check(rc == 0 and took < 10,
          "the daemon exits 0 in %.1f s, long before the 20 s lock timeout (%s)" % (took, rc))


def main():
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="ifd-write-here-")
    daemons = []
    try:
        d = ifd.Daemon(binary, os.path.join(work, "d"), "--threads", "2",
                       "--lock-timeout-ms", "20000")
        daemons.append(d)
        lone_writes(d)
        not_beside_others(d)
        waits_in_place(d)
        sigterm_in_place(d)

        one = ifd.Daemon(binary, os.path.join(work, "one"), "--threads", "1")
        daemons.append(one)
        for i in range(3):
            st = one.call("POST", "/api/v1/ifaces", {"name": "o%d" % i})[0]
            check(st == 201, "one HTTP thread: create o%d is a 201 (%s)" % (i, st))
        check(here(one) == 0, "one HTTP thread is never lent to a write (counter %d)" % here(one))
    except Exception as ex:  # a crash of the test is a failure, with its cause
        check(False, "the test ran to its end (%r)" % ex)
    finally:
        for d in daemons:
            d.kill()
        if FAILS:
            for d in daemons:
                sys.stderr.write(d.log_text().decode(errors="replace")[-3000:])
        shutil.rmtree(work, ignore_errors=True)
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
