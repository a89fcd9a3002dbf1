#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""GET /api/v1/events (docs/events.md) against the real daemon, read by a real client (curl -N),
in a private mount and network namespace: iscsiadm's own db root (/etc/iscsi) and lock dir are
the test's, so the real iscsiadm changes the records the daemon serves, and the links the test
makes with `ip link` are the daemon's NICs.

  - events of changes made through the API (ifaces, a binding with a CHAP secret that never
    shows), by iscsiadm (drift imports: origin external) and by `ip link` (nic.link,
    nic.address), each with its type and origin;
  - Last-Event-ID: exactly the missed events; an id the ring (--event-buffer 16) no longer
    covers, or of another run, gets one `reset`;
  - heartbeats; a viewer may stream, no token is a 401; --event-streams caps with a 503;
  - streams hold no HTTP thread (--threads 1, more streams than threads, the API answers fast);
  - a client that stops reading is dropped, the daemon's memory stays bounded;
  - If-None-Match: 304 for a record and a list, 200 with a new ETag after a change;
  - SIGTERM with streams open stops at once.

usage: events.py path/to/iscsi-ifaced
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ifd  # noqa: E402

FAILS = []
SECRET = "EvSecretPw4711x"
RING = 16
HEARTBEAT_MS = 300
MAX_STREAMS = 8


def check(ok, what):
    print("%s: %s" % ("ok" if ok else "FAIL", what))
    sys.stdout.flush()
    if not ok:
        FAILS.append(what)


def run(*argv, ok=True):
    p = subprocess.run(list(argv), capture_output=True, text=True)
    if ok and p.returncode != 0:
        raise RuntimeError("%s: %d %s%s" % (" ".join(argv), p.returncode, p.stdout, p.stderr))
    return p


Stream = ifd.EventStream


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def metric(d, name, hdr):
    st, _, body = d.raw("GET", "/metrics", headers=hdr)
    m = re.search(r"^%s (\S+)$" % re.escape(name), body.decode(), re.M)
    return float(m.group(1)) if m else None


def inside(binary):
    work = tempfile.mkdtemp(prefix="ifd-events-")
    d = None
    streams = []
    links = []
    try:
        run("ip", "link", "set", "lo", "up")
        # iscsiadm's compiled-in root and lock dir become the test's (this mount namespace only).
        dwork = os.path.join(work, "d")
        for sub in ("iscsi", "lock"):
            os.makedirs(os.path.join(dwork, sub), mode=0o700)
        run("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run/lock")
        os.makedirs("/run/lock/iscsi")
        run("mount", "--bind", os.path.join(dwork, "lock"), "/run/lock/iscsi")
        run("mount", "--bind", os.path.join(dwork, "iscsi"), "/etc/iscsi")
        # iscsiadm -o update wants its transport in sysfs: a sysfs of this network namespace,
        # its class/ on tmpfs with net/ kept and a tcp transport made up (as tests/compat do).
        run("mount", "-t", "sysfs", "sysfs", "/sys")
        keep = os.path.join(work, "sysfs-keep")
        os.makedirs(keep)
        run("mount", "--bind", "/sys/class/net", keep)
        run("mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/sys/class")
        os.makedirs("/sys/class/net")
        run("mount", "--move", keep, "/sys/class/net")
        os.makedirs("/sys/class/iscsi_transport/tcp")
        for k, v in (("handle", "1"), ("caps", "0x39")):
            with open("/sys/class/iscsi_transport/tcp/" + k, "w") as f:
                f.write(v + "\n")

        d = ifd.Daemon(binary, dwork, "--threads", "1", "--event-buffer", str(RING),
                       "--event-heartbeat-ms", str(HEARTBEAT_MS),
                       "--event-streams", str(MAX_STREAMS), auth_off=False)
        tokens = {}
        for role in ("viewer", "operator"):
            out = subprocess.run([binary, "token", "create", "--role", role, "--name", "ev-" + role,
                                  "--db", d.db], capture_output=True, text=True, check=True)
            tokens[role] = out.stdout.strip().split()[-1]
        viewer = {"Authorization": "Bearer " + tokens["viewer"]}
        op = {"Authorization": "Bearer " + tokens["operator"]}

        # --- auth ------------------------------------------------------------------------
        p = run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3",
                "http://127.0.0.1:%d/api/v1/events" % d.port, ok=False)
        check(p.stdout == "401", "no token: 401 (%s)" % p.stdout)

        s0 = Stream(d.port, tokens["viewer"])  # the control stream: open all along
        streams.append(s0)
        ok = s0.wait(lambda evs: s0.status is not None and s0.comments, 3)
        check(ok and s0.status == 200, "viewer streams: 200 and the opening comment (%s)" %
              s0.status)
        with s0.lock:
            head = "\n".join(s0.raw[:12])
        check("content-type: text/event-stream" in head.lower(),
              "Content-Type: text/event-stream")

        # --- through the API ---------------------------------------------------------------
        st, _, b = d.call("POST", "/api/v1/ifaces",
                          {"name": "ev0", "transport_name": "tcp", "net_ifacename": "lo"},
                          headers=op)
        check(st == 201, "POST ev0: 201 (%d %r)" % (st, b))
        e = s0.wait_event("iface.created", "ev0")
        check(bool(e) and e["data"].get("origin") == "api" and e["data"].get("revision", 0) > 0
              and e["id"] == e["data"].get("event_id") and "timestamp" in e["data"],
              "iface.created ev0, origin api, with id, revision and timestamp (%r)" % e)
        st, _, b = d.call("PATCH", "/api/v1/ifaces/ev0", {"mtu": 1400},
                          headers=dict(op, **{"Content-Type": "application/merge-patch+json"}))
        check(st == 200, "PATCH ev0: 200 (%d %r)" % (st, b))
        e = s0.wait_event("iface.changed", "ev0")
        check(bool(e) and e["data"].get("origin") == "api", "iface.changed ev0, origin api (%r)"
              % e)

        target = "iqn.2026-12.org.example:events"
        st, hdrs, b = d.call("POST", "/api/v1/bindings",
                             {"target": target, "portal": "127.0.0.1:3260", "tpgt": 1,
                              "iface": "ev0",
                              "auth": {"method": "CHAP", "username": "evuser",
                                       "password": SECRET}}, headers=op)
        check(st == 201, "POST binding with CHAP: 201 (%d %r)" % (st, b))
        bid = (b or {}).get("id") if isinstance(b, dict) else None
        e = s0.wait_event("binding.created", bid)
        check(bool(e) and e["data"].get("origin") == "api" and e["data"].get("id") == bid,
              "binding.created, origin api (%r)" % e)
        if bid:
            import urllib.parse
            st, _, _ = d.call("DELETE", "/api/v1/bindings/" + urllib.parse.quote(bid, safe=""),
                              headers=op)
            check(st == 204, "DELETE binding: 204 (%d)" % st)
            e = s0.wait_event("binding.deleted", bid)
            check(bool(e) and e["data"].get("origin") == "api", "binding.deleted, origin api")

        # --- a single check: each step as it ends, then the end ---------------------------
        st, _, b = d.call("POST", "/api/v1/ifaces/default/checks",
                          {"portal": "127.0.0.1:1", "steps": ["ping", "tcp"], "timeout_ms": 2000},
                          headers=op)
        check(st == 200 and b.get("status") == "failed" and b.get("reason") == "refused",
              "a check of 127.0.0.1:1 (ping, tcp): 200, failed, refused (%d %r)" % (st, b))
        fin = s0.wait(lambda evs: [e for e in evs if e.get("event") == "check.finished"], 5)
        with s0.lock:
            prog = [(e["data"].get("iface"), e["data"].get("portal"), e["data"].get("step"),
                     e["data"].get("status"), e["data"].get("reason"))
                    for e in s0.events if e.get("event") == "check.progress"]
        check(("default", "127.0.0.1:1", "tcp", "failed", "refused") in prog and
              len(prog) == 2 and {p[2] for p in prog} == {"ping", "tcp"},
              "check.progress: ping and tcp of default to 127.0.0.1:1, tcp failed refused (%r)" %
              (prog,))
        fd = fin[0]["data"] if fin else {}
        check(fd.get("iface") == "default" and fd.get("status") == "failed" and
              fd.get("reason") == "refused" and "step" not in fd,
              "check.finished: default, failed, refused (%r)" % (fd,))

        # --- conditional GETs ---------------------------------------------------------------
        st, h1, _ = d.call("GET", "/api/v1/ifaces/ev0", headers=viewer)
        etag = h1.get("etag")
        st2, h2, body2 = d.raw("GET", "/api/v1/ifaces/ev0",
                               headers=dict(viewer, **{"If-None-Match": etag or '"x"'}))
        check(st == 200 and etag and st2 == 304 and body2 == b"" and h2.get("etag") == etag,
              "record: If-None-Match with its ETag is 304 without a body (%s %s %d)" %
              (st, etag, st2))
        st, hl, _ = d.call("GET", "/api/v1/ifaces", headers=viewer)
        letag = hl.get("etag")
        st2, _, body2 = d.raw("GET", "/api/v1/ifaces",
                              headers=dict(viewer, **{"If-None-Match": 'W/"nope", ' +
                                                      (letag or '"x"')}))
        check(st == 200 and letag and st2 == 304 and body2 == b"",
              "list: If-None-Match with its ETag (in a list, weak form ignored) is 304 (%s %d)"
              % (letag, st2))
        st2, _, _ = d.raw("GET", "/api/v1/ifaces?limit=1",
                          headers=dict(viewer, **{"If-None-Match": letag or '"x"'}))
        check(st2 == 200, "another query of the list has another ETag: 200 (%d)" % st2)
        d.call("PATCH", "/api/v1/ifaces/ev0", {"mtu": 1500},
               headers=dict(op, **{"Content-Type": "application/merge-patch+json"}))
        st3, h3, _ = d.raw("GET", "/api/v1/ifaces/ev0",
                           headers=dict(viewer, **{"If-None-Match": etag or '"x"'}))
        st4, h4, _ = d.raw("GET", "/api/v1/ifaces",
                           headers=dict(viewer, **{"If-None-Match": letag or '"x"'}))
        check(st3 == 200 and h3.get("etag") not in (None, etag),
              "record after a change: 200 with a new ETag (%d %s)" % (st3, h3.get("etag")))
        check(st4 == 200 and h4.get("etag") not in (None, letag),
              "list after a change: 200 with a new ETag (%d %s)" % (st4, h4.get("etag")))
        st, hb, _ = d.call("GET", "/api/v1/bindings", headers=viewer)
        st2, _, _ = d.raw("GET", "/api/v1/bindings",
                          headers=dict(viewer, **{"If-None-Match": hb.get("etag", '"x"')}))
        check(st == 200 and st2 == 304, "bindings list: 304 (%d %d)" % (st, st2))

        # --- through the real iscsiadm (drift import) ----------------------------------------
        run("iscsiadm", "-m", "iface", "-I", "ext0", "-o", "new")
        e = s0.wait_event("iface.created", "ext0", timeout=10)
        check(bool(e) and e["data"].get("origin") == "external",
              "iscsiadm -o new: iface.created ext0, origin external (%r)" % e)
        run("iscsiadm", "-m", "iface", "-I", "ext0", "-o", "update", "-n",
            "iface.net_ifacename", "-v", "lo")
        e = s0.wait_event("iface.changed", "ext0", timeout=10)
        check(bool(e) and e["data"].get("origin") == "external",
              "iscsiadm -o update: iface.changed ext0, origin external (%r)" % e)
        run("iscsiadm", "-m", "iface", "-I", "ext0", "-o", "delete")
        e = s0.wait_event("iface.deleted", "ext0", timeout=10)
        check(bool(e) and e["data"].get("origin") == "external",
              "iscsiadm -o delete: iface.deleted ext0, origin external (%r)" % e)

        # --- through ip link (this network namespace is the daemon's) -----------------------
        n = s0.count()
        run("ip", "link", "add", "evl0", "type", "veth", "peer", "name", "evl1")
        links.append("evl0")
        e = s0.wait_event("nic.link", "evl0", start=n, timeout=10)
        check(bool(e) and "origin" not in e["data"], "ip link add: nic.link evl0 (%r)" % e)
        n = s0.count()
        run("ip", "link", "set", "evl1", "up")
        run("ip", "link", "set", "evl0", "up")
        e = s0.wait(lambda evs: [x for x in evs[n:] if x.get("event") == "nic.link" and
                                 x["data"].get("name") == "evl0" and
                                 x["data"].get("state") == "up"], 10)
        check(bool(e), "ip link set up: nic.link evl0 state up")
        n = s0.count()
        run("ip", "addr", "add", "10.213.0.1/24", "dev", "evl0")
        e = s0.wait_event("nic.address", "evl0", start=n, timeout=10)
        check(bool(e), "ip addr add: nic.address evl0 (%r)" % e)
        n = s0.count()
        run("ip", "link", "del", "evl0")
        links.remove("evl0")
        e = s0.wait(lambda evs: [x for x in evs[n:] if x.get("event") == "nic.link" and
                                 x["data"].get("name") == "evl0" and
                                 x["data"].get("state") == "removed"], 10)
        check(bool(e), "ip link del: nic.link evl0 state removed")

        # --- heartbeat -----------------------------------------------------------------------
        c0 = len(s0.comments)
        time.sleep(HEARTBEAT_MS * 3 / 1000.0)
        check(len(s0.comments) - c0 >= 2, "heartbeat comments on a quiet stream (%d in %d ms)"
              % (len(s0.comments) - c0, HEARTBEAT_MS * 3))

        # --- Last-Event-ID: exactly the missed ones ----------------------------------------
        s1 = Stream(d.port, tokens["viewer"])
        streams.append(s1)
        s1.wait(lambda evs: s1.comments, 3)
        d.call("PATCH", "/api/v1/ifaces/ev0", {"mtu": 1600},
               headers=dict(op, **{"Content-Type": "application/merge-patch+json"}))
        e = s1.wait_event("iface.changed", "ev0")
        last = e["id"] if e else None
        s1.close()
        streams.remove(s1)
        before = s0.count()
        for i in range(3):
            d.call("POST", "/api/v1/ifaces", {"name": "miss%d" % i, "transport_name": "tcp"},
                   headers=op)
        s0.wait(lambda evs: len(evs) >= before + 3)
        with s0.lock:
            missed = [x["id"] for x in s0.events if x.get("event") != "nic.link" and
                      x.get("event") != "nic.address"]
        missed = missed[missed.index(last) + 1:] if last in missed else None
        s2 = Stream(d.port, tokens["viewer"], last_id=last)
        streams.append(s2)
        got = s2.wait(lambda evs: len(evs) >= len(missed or []) and evs, 5)
        got_ids = [x["id"] for x in (got or []) if x.get("event") not in ("nic.link",
                                                                           "nic.address")]
        check(missed is not None and len(missed) == 3 and got_ids[:3] == missed and
              all(x.get("event") == "iface.created" for x in (got or [])[:3]),
              "Last-Event-ID: exactly the 3 missed events (%r, %r)" % (missed, got_ids))
        s2.close()
        streams.remove(s2)

        # --- Last-Event-ID the ring no longer covers, or of another run: reset --------------
        for i in range(RING):
            d.call("DELETE", "/api/v1/ifaces/miss%d" % (i % 3), headers=op) if i < 3 else \
                d.call("PATCH", "/api/v1/ifaces/ev0", {"mtu": 1000 + i},
                       headers=dict(op, **{"Content-Type": "application/merge-patch+json"}))
        s3 = Stream(d.port, tokens["viewer"], last_id=last)
        streams.append(s3)
        e = s3.wait(lambda evs: evs, 5)
        check(bool(e) and e[0].get("event") == "reset" and
              e[0]["data"].get("reason") == "buffer-overrun",
              "Last-Event-ID older than the ring (--event-buffer %d): one reset first (%r)" %
              (RING, e and e[0]))
        reset_id = e[0]["id"] if e else None
        d.call("PATCH", "/api/v1/ifaces/ev0", {"mtu": 1700},
               headers=dict(op, **{"Content-Type": "application/merge-patch+json"}))
        e = s3.wait_event("iface.changed", "ev0")
        check(bool(e) and sum(1 for x in s3.events if x.get("event") == "reset") == 1,
              "then live events, and no second reset")
        s3.close()
        streams.remove(s3)
        s4 = Stream(d.port, tokens["viewer"], last_id="1-1")
        streams.append(s4)
        e = s4.wait(lambda evs: evs, 5)
        check(bool(e) and e[0].get("event") == "reset" and
              e[0]["data"].get("reason") == "previous-run",
              "Last-Event-ID of another run: reset (%r)" % (e and e[0]))
        s4.close()
        streams.remove(s4)
        epoch = (reset_id or "0-0").split("-")[0]
        for bad, reason in (("not-an-id", "invalid-id"), ("%s-%d" % (epoch, 10 ** 12),
                                                          "unknown-id"),
                            ("-1", "invalid-id"), ("%s-99999999999999999999999" % epoch,
                                                   "invalid-id")):
            sx = Stream(d.port, tokens["viewer"], last_id=bad)
            streams.append(sx)
            e = sx.wait(lambda evs: evs, 5)
            check(bool(e) and e[0].get("event") == "reset" and
                  e[0]["data"].get("reason") == reason,
                  "Last-Event-ID %r: reset %s (%r)" % (bad, reason, e and e[0]))
            sx.close()
            streams.remove(sx)
        s5 = Stream(d.port, tokens["viewer"], last_id=reset_id)
        streams.append(s5)
        time.sleep(0.3)
        check(not [x for x in s5.events if x.get("event") == "reset"],
              "the reset's own id resumes without another reset")
        s5.close()
        streams.remove(s5)

        # --- no secret in any event --------------------------------------------------------
        with s0.lock:
            text = "\n".join(s0.raw)
        check(SECRET not in text and "evuser" not in text,
              "the CHAP secret (and user) appear in no event")

        # --- streams hold no HTTP thread (--threads 1) ---------------------------------------
        # Streams closed above go once a heartbeat finds their client gone.
        s0.wait(lambda evs: metric(d, "ifd_event_streams", viewer) == 1, 3)
        extra = [Stream(d.port, tokens["viewer"]) for _ in range(MAX_STREAMS - 1 - 1)]
        streams += extra
        for s in extra:
            s.wait(lambda evs, s=s: s.comments, 3)
        check(all(s.status == 200 for s in extra), "%d more streams: 200 each (%r)" %
              (len(extra), [s.status for s in extra]))
        open_now = metric(d, "ifd_event_streams", viewer)
        check(open_now == MAX_STREAMS - 1, "ifd_event_streams counts the open streams (%s)"
              % open_now)
        t0 = time.monotonic()
        for _ in range(20):
            st, _, _ = d.raw("GET", "/api/v1/ifaces", headers=viewer)
        dt = (time.monotonic() - t0) / 20
        check(st == 200 and dt < 0.1,
              "%d streams on 1 HTTP thread: GET /api/v1/ifaces still answers in %.1f ms" %
              (MAX_STREAMS - 1, dt * 1000))
        print("figure: %d open streams, --threads 1: GET /api/v1/ifaces mean %.2f ms"
              % (MAX_STREAMS - 1, dt * 1000))
        n = s0.count()
        d.call("PATCH", "/api/v1/ifaces/ev0", {"mtu": 1800},
               headers=dict(op, **{"Content-Type": "application/merge-patch+json"}))
        check(all(s.wait_event("iface.changed", "ev0", timeout=3) for s in extra),
              "every one of them gets the next event")

        # --- the cap: one more is fine, then 503 ---------------------------------------------
        s6 = Stream(d.port, tokens["viewer"])
        streams.append(s6)
        s6.wait(lambda evs: s6.comments, 3)
        p = run("curl", "-sS", "--max-time", "3", "-D", "-", "-H",
                "Authorization: Bearer " + tokens["viewer"],
                "http://127.0.0.1:%d/api/v1/events" % d.port, ok=False)
        head, _, body = p.stdout.replace("\r\n", "\n").partition("\n\n")
        try:
            b = json.loads(body)
        except ValueError:
            b = body
        check(head.startswith("HTTP/1.1 503") and
              "content-type: application/problem+json" in head.lower() and
              "retry-after: 5" in head.lower() and isinstance(b, dict) and
              "too-many-event-streams" in b.get("type", ""),
              "stream %d of --event-streams %d: 503 problem+json with Retry-After (%r %r)" %
              (MAX_STREAMS + 1, MAX_STREAMS, head[:40], b))
        for s in extra + [s6]:
            s.close()
            streams.remove(s)

        st, _, body = d.raw("GET", "/metrics", headers=viewer)
        check(re.search(r'^ifd_events_total\{type="nic.link"\} [1-9]', body.decode(), re.M)
              is not None and re.search(r'^ifd_events_total\{type="iface.created"\} [1-9]',
                                        body.decode(), re.M) is not None,
              "ifd_events_total counts by type")

        # --- SIGTERM with streams open --------------------------------------------------------
        more = [Stream(d.port, tokens["viewer"]) for _ in range(4)]
        streams += more
        for s in more:
            s.wait(lambda evs, s=s: s.comments, 3)
        t0 = time.monotonic()
        rc = d.stop()
        dt = time.monotonic() - t0
        check(rc == 0 and dt < 2.0, "SIGTERM with %d streams open: exit %d in %.2f s" %
              (len(more) + 1, rc, dt))
        print("figure: SIGTERM with %d streams open: stopped in %.3f s" % (len(more) + 1, dt))
        ended = all(s.proc.wait(timeout=3) is not None for s in more + [s0])
        check(ended, "every curl saw its stream end")
        log = d.log_text()
        check(b"Sanitizer" not in log and b"runtime error" not in log,
              "no sanitizer report in the log")
        d = None
        for s in streams:
            s.close()
        streams = []

        # --- a client that stops reading is dropped; memory stays bounded ---------------------
        # A daemon of its own with the default ring (1024): bursts of 300 events fit it, so the
        # control stream that reads keeps up while the one that does not falls behind.
        # Under AddressSanitizer freed memory is held in a quarantine (256 MB by default), which
        # would read as growth: keep it small, so that VmRSS still says what the daemon holds.
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS", ""),
                                                     "quarantine_size_mb=1",
                                                     "thread_local_quarantine_size_kb=64"]))
        d = ifd.Daemon(binary, os.path.join(work, "slow"), "--threads", "1", env=env)
        s0 = Stream(d.port)
        streams.append(s0)
        s0.wait(lambda evs: s0.comments, 3)
        viewer = {}
        dropped0 = metric(d, "ifd_event_streams_dropped_total", viewer)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", d.port))
        sock.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
        check(metric(d, "ifd_event_streams", viewer) == 2, "two streams: one reads, one not")
        rss0 = rss_kb(d.proc.pid)
        # Many links at once through one `ip -batch`: a nic.link event each, cheaply.
        batch = os.path.join(work, "batch")
        rounds, dropped, sent = 0, dropped0, 0
        t0 = time.monotonic()
        while rounds < 40 and dropped == dropped0:
            with open(batch, "w") as f:
                for i in range(150):
                    f.write("link add evs%da type veth peer name evs%db\n" % (i, i))
            run("ip", "-batch", batch)
            with open(batch, "w") as f:
                for i in range(150):
                    f.write("link del evs%da\n" % i)
            run("ip", "-batch", batch)
            rounds += 1
            time.sleep(0.3)
            dropped = metric(d, "ifd_event_streams_dropped_total", viewer)
        rss1 = rss_kb(d.proc.pid)
        check(dropped == dropped0 + 1,
              "the stream of a client that does not read is dropped once it falls behind "
              "(%s -> %s after %d rounds of 150 veth pairs added and deleted, %.1f s)" %
              (dropped0, dropped, rounds, time.monotonic() - t0))
        check(rss1 - rss0 < 16 * 1024,
              "the daemon's memory stays bounded meanwhile (VmRSS %d -> %d kB)" % (rss0, rss1))
        print("figure: a client that does not read dropped after %d rounds of 600 nic.link events "
              "(%.1f s); VmRSS %d -> %d kB" % (rounds, time.monotonic() - t0, rss0, rss1))
        sock.settimeout(3)
        closed = False
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                    break
        except socket.timeout:
            pass
        except OSError:
            closed = True
        check(closed, "its connection is closed by the daemon")
        sock.close()
        ev = metric(d, "ifd_event_streams", viewer)
        check(ev == 1, "the stream that reads is still open (ifd_event_streams %s)" % ev)
        n_links = s0.wait(lambda evs: len([x for x in evs if x.get("event") == "nic.link" and
                                           x["data"].get("name", "").startswith("evs")])
                          >= 600 * rounds, 5)
        check(bool(n_links), "and it got every nic.link event of the %d rounds" % rounds)
        check(d.stop() == 0, "SIGTERM: exit 0")
        log = d.log_text()
        check(b"Sanitizer" not in log and b"runtime error" not in log,
              "no sanitizer report in the log")
        d = None
    finally:
        for s in streams:
            s.close()
        if d:
            d.kill()
        for l in links:
            run("ip", "link", "del", l, ok=False)
        for m in ("/sys/class/net", "/sys/class", "/sys", "/etc/iscsi", "/run/lock/iscsi",
                  "/run/lock"):
            run("umount", m, ok=False)
        shutil.rmtree(work, ignore_errors=True)


def main():
    binary = os.path.abspath(sys.argv[1])
    if os.environ.get("IFD_EVENTS_NS") == "1":
        inside(binary)
        print("%d failure(s)" % len(FAILS))
        return 1 if FAILS else 0
    if os.geteuid() != 0:
        print("SKIP: needs root for private mount and network namespaces")
        return 77
    for tool in ("unshare", "ip", "curl", "iscsiadm"):
        if not shutil.which(tool):
            print("SKIP: %s missing" % tool)
            return 77
    if subprocess.run(["unshare", "-m", "-n", "--propagation", "private", "true"]).returncode:
        print("SKIP: unshare -m -n does not work here")
        return 77
    if not os.path.isdir("/etc/iscsi"):
        print("SKIP: no /etc/iscsi to mount over (open-iscsi not installed)")
        return 77
    sys.stdout.flush()
    # The namespaces go away with the process: nothing to clean up on the host, even on failure.
    return subprocess.run(["unshare", "-m", "-n", "--propagation", "private", sys.executable,
                           os.path.abspath(__file__), binary],
                          env=dict(os.environ, IFD_EVENTS_NS="1")).returncode


if __name__ == "__main__":
    sys.exit(main())
