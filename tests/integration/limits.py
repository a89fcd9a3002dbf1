#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Limits of the real daemon (docs/security.md), with raw sockets:

- a request target over 8 KiB is a 414, a request line and headers over 16 KiB or over 100
  header fields and cookies a 431, each problem+json with its request id (header and member),
  the connection closed; heads just within the limits are served, the worst of them for the
  connection's memory pool too (a Cookie header filling the head, with the most cookies and
  query arguments); heads over them (up to 18 KiB and 140 fields, cookies and query arguments
  by construction, server/http.c) still get our answer, the worst of them too, and beyond the
  pool (48 KiB) libmicrohttpd's own 431 closes the connection and the server goes on;
- a body over 64 KiB is a 413: up to 1 MiB is read and dropped first, so a client that sends
  its body late, or slowly, still reads the 413 and keeps its connection; a declared length
  over 1 MiB is refused at once, before its body, and a chunked body is cut off past 1 MiB
  (the connection closed);
- connections per client address are capped (the one over the cap is closed at once while the
  others still work), and so are connections in all (the one over waits until a slot frees);
- an idle connection, and one that stalls in the middle of its headers, are closed after the
  idle timeout, so a slow client cannot keep a slot;
- a flood of bad tokens from one client slows that client only.

usage: tests/integration/limits.py IFACED_BIN        (meson: integration.limits)
"""
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import json

import ifd
from wire import check, connect, failures, split_answer, status_of

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.environ["IFACED_BIN"])
PER_CLIENT = 4
TOTAL = 10
IDLE_S = 3  # long enough that the held connections of the per-client check are not idle yet on a busy machine



def request(port, raw, read_all=True):
    s = connect(port)
    try:
        s.sendall(raw)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
            if not read_all and b"\r\n\r\n" in out:
                break
        return out
    finally:
        s.close()


def head_refused(port, raw, want, what, path):
    """raw is answered with our problem+json `want`: the request id in X-Request-Id and in
    request_id, and the connection closed. The answer is recorded for the contract check."""
    st, hdrs, body = split_answer(request(port, raw))
    h = {k.lower(): v for k, v in hdrs}
    try:
        doc = json.loads(body)
    except ValueError:
        doc = {}
    ok = (st == want and h.get("content-type") == "application/problem+json" and
          doc.get("status") == want and h.get("x-request-id") and
          doc.get("request_id") == h.get("x-request-id") and
          h.get("connection", "").lower() == "close")
    check(ok, "%s: %d problem+json with its request id, connection closed (%d %s %s)"
          % (what, want, st, h.get("content-type"), body[:160]))
    ifd.record("GET", path, st, hdrs, body, client="limits.py")


def head_served(port, raw, what):
    st, hdrs, body = split_answer(request(port, raw))
    check(st == 200, "%s is served (%d %s)" % (what, st, body[:120]))
    ifd.record("GET", "/api/v1/health", st, hdrs, body, client="limits.py")


def fields(n, size=1):
    return b"".join(b"X-H%d: %s\r\n" % (i, b"v" * size) for i in range(n))


def cookie_head(start, fields, n, size):
    """start + fields + a Cookie header of n cookies + the blank line: size bytes in all. The
    worst head for libmicrohttpd's pool (server/http.c): it copies the Cookie header, and keeps
    a record of each cookie as of each field and query argument."""
    cookies = [b"c%d=" % i for i in range(n)]
    fixed = len(start) + len(fields) + len(b"Cookie: \r\n\r\n") + len(b"; ".join(cookies))
    assert size >= fixed, "the cookies do not fit in %d bytes" % size
    cookies[0] += b"z" * (size - fixed)
    raw = start + fields + b"Cookie: " + b"; ".join(cookies) + b"\r\n\r\n"
    assert len(raw) == size
    return raw


def test_head_limits(port):
    get = b"GET /api/v1/health"
    # Within the limits: an 8 KiB target, 16 KiB of head, 100 fields.
    target = b"/api/v1/health?x=" + b"a" * (8192 - 17)
    head_served(port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                "an 8192-byte request target")
    line = get + b" HTTP/1.1\r\n"
    pad = 16384 - len(line) - len(b"Connection: close\r\n") - len(b"X-Pad: \r\n") - 2
    head_served(port, line + b"Connection: close\r\nX-Pad: " + b"p" * pad + b"\r\n\r\n",
                "a head of exactly 16384 bytes")
    head_served(port, line + b"Connection: close\r\n" + fields(99) + b"\r\n",
                "100 header fields")
    args = b"&".join(b"q%d=1" % i for i in range(32))
    head_served(port, cookie_head(get + b"?" + args + b" HTTP/1.1\r\n", b"Connection: close\r\n",
                                  98, 16384),
                "a head of exactly 16384 bytes with 32 query arguments, a Cookie header of 98 "
                "cookies filling it, and one more field")
    # Over them, up to what the pool is sized for (server/http.c): ours.
    head_refused(port, b"GET /api/v1/health?x=" + b"a" * 8200 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                 414, "an 8 KiB + 21 byte request target", "/api/v1/health?x=...")
    head_refused(port, b"GET /api/v1/ifaces?x=" + b"a" * 18000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                 414, "an 18 KB request line", "/api/v1/ifaces?x=...")
    head_refused(port, line + b"Connection: close\r\nX-Pad: " + b"p" * (pad + 1) + b"\r\n\r\n",
                 431, "a head of 16385 bytes", "/api/v1/health")
    big = line + b"Host: x\r\nX-Pad: " + b"b" * (18 * 1024 - 60) + b"\r\n\r\n"
    head_refused(port, big, 431, "a head of %d bytes" % len(big), "/api/v1/health")
    head_refused(port, line + b"Host: x\r\n" + fields(100) + b"\r\n", 431,
                 "101 header fields", "/api/v1/health")
    head_refused(port, line + b"Host: x\r\n" + fields(139) + b"\r\n", 431,
                 "140 header fields", "/api/v1/health")
    head_refused(port, cookie_head(line, b"Host: x\r\n", 138, 18 * 1024), 431,
                 "an 18 KiB head, a Cookie header of 138 cookies filling it", "/api/v1/health")
    # Beyond the pool: libmicrohttpd answers itself (HTML, not recorded: not our answer), and
    # closes the connection.
    for what, raw in (("a 64 KiB head", line + b"Host: x\r\nX-Pad: " + b"b" * (64 * 1024 - 60) +
                       b"\r\n\r\n"),
                      ("4000 header fields", line + b"Host: x\r\n" + fields(4000) + b"\r\n")):
        st = status_of(request(port, raw, read_all=False))
        check(st == 431, "%s is refused by libmicrohttpd itself (%d)" % (what, st))


def keepalive_answer(s):
    """One answer read from keep-alive socket s (head, then Content-Length bytes), or b""."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
        _, hdrs, body = split_answer(data)
        n = next((int(v) for k, v in hdrs if k.lower() == "content-length"), 0)
        while len(data.partition(b"\r\n\r\n")[2]) < n:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return data


def hold_served(port, n):
    """n keep-alive connections from this address, each known to be counted by the daemon: each
    answered a request and stays open. A connection the daemon closed a moment ago may still
    count for a while after (libmicrohttpd frees it on a later turn of its loop), taking a slot:
    then try again."""
    for _ in range(50):
        held = [connect(port) for _ in range(n)]
        ok = True
        for s in held:
            try:
                s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            except OSError:
                ok = False
                continue
            ok = ok and status_of(keepalive_answer(s)) == 200
        if ok:
            return held
        for s in held:
            s.close()
        time.sleep(0.1)
    check(False, "%d connections from one address are served at once" % n)
    sys.exit(1)


def read_answer(s, timeout=5.0):
    """One Content-Length framed answer from s (raw bytes), or what came before a close."""
    s.settimeout(timeout)
    out = b""
    while True:
        head, sep, rest = out.partition(b"\r\n\r\n")
        if sep:
            n = next((int(l.split(b":", 1)[1]) for l in head.split(b"\r\n")
                      if l.lower().startswith(b"content-length:")), 0)
            if len(rest) >= n:
                return out
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return out
        if not chunk:
            return out
        out += chunk


def test_body_limits(port):
    """Bodies over 64 KiB: the 413 reaches a client that sends its body late (read and dropped up
    to 1 MiB, the connection kept), a declared length over 1 MiB is refused before its body, and
    a chunked body is cut off past 1 MiB."""
    post = (b"POST /api/v1/ifaces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
    body = b"{" + b" " * (900 * 1024) + b"}"
    s = connect(port)
    try:
        s.sendall(post + b"Content-Length: %d\r\n\r\n" % len(body) + body[:1024])
        # The rest comes late and slowly: refused at once and closed, it would meet a reset.
        time.sleep(0.5)
        sent = True
        try:
            for i in range(1024, len(body), 64 * 1024):
                s.sendall(body[i:i + 64 * 1024])
                time.sleep(0.02)
        except OSError as e:
            sent = e
        data = read_answer(s)
        check(sent is True and status_of(data) == 413,
              "a 900 KB body sent late is read whole and answered 413 (send: %s, answer %d)"
              % (sent, status_of(data)))
        try:
            s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            st = status_of(read_answer(s))
        except OSError as e:
            st = e
        check(st == 200, "and its connection serves the next request (%s)" % st)
    finally:
        s.close()

    s = connect(port)
    try:
        t0 = time.monotonic()
        s.sendall(post + b"Content-Length: %d\r\n\r\n" % (2 * 1024 * 1024))
        data = read_answer(s, timeout=3)
        check(status_of(data) == 413 and time.monotonic() - t0 < 2 and closed_within(s, 2),
              "a declared 2 MiB body is refused before it is sent, and closed (%d)"
              % status_of(data))
    finally:
        s.close()

    s = connect(port)
    try:
        chunk = b" " * 65536
        s.sendall(post + b"Transfer-Encoding: chunked\r\n\r\n")
        sent = 0
        # A careful client: it stops sending once an answer has come.
        try:
            while sent < 3 * 1024 * 1024 and not select.select([s], [], [], 0.05)[0]:
                s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
        except OSError:
            pass
        check(1024 * 1024 <= sent < 3 * 1024 * 1024 and closed_within(s, 2),
              "a chunked body is cut off past 1 MiB: the connection closed (after %d bytes)"
              % sent)
    finally:
        s.close()


def closed_within(s, seconds):
    """True if the peer closes s within seconds (recv returns b"" or resets)."""
    s.settimeout(seconds)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def main():
    work = tempfile.mkdtemp(prefix="ifd-limits.")
    proc = None
    try:
        for d in ("iscsi", "lock"):
            os.makedirs(os.path.join(work, d), mode=0o700)
        port_file = os.path.join(work, "port")
        proc = subprocess.Popen(
            [BIN, "--auth", "off", "--listen", "127.0.0.1:0", "--port-file", port_file,
             "--iscsi-root", os.path.join(work, "iscsi"), "--db", os.path.join(work, "db"),
             "--lock-dir", os.path.join(work, "lock"), "--max-conn-per-client", str(PER_CLIENT),
             "--idle-timeout", str(IDLE_S)],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "log"), "w"))
        for _ in range(250):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.02)
        port = int(open(port_file).read())

        ok = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

        # --- sizes
        test_head_limits(port)
        body = b"{" + b" " * (70 * 1024) + b"}"
        st = status_of(request(port, b"POST /api/v1/ifaces HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                               b"Connection: close\r\n\r\n" % len(body) + body, read_all=False))
        check(st == 413, "a 70 KB body is a 413 (%d)" % st)
        test_body_limits(port)
        check(status_of(request(port, ok)) == 200, "the server still answers after them")

        # --- connections per client
        held = hold_served(port, PER_CLIENT)
        extra = connect(port)
        check(closed_within(extra, 2), "connection %d from one address is closed at once"
              % (PER_CLIENT + 1))
        extra.close()
        held[0].sendall(ok)
        check(status_of(held[0].recv(65536)) == 200, "the %d held connections still work"
              % PER_CLIENT)
        for s in held:
            s.close()
        time.sleep(0.2)

        # --- idle and stalled connections
        idle = connect(port)
        t0 = time.monotonic()
        closed = closed_within(idle, IDLE_S + 3)
        dt = time.monotonic() - t0
        check(closed and dt < IDLE_S + 2.5, "an idle connection is closed after %.1f s" % dt)
        idle.close()

        slow = connect(port)
        slow.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")  # and never the end
        t0 = time.monotonic()
        closed = closed_within(slow, IDLE_S + 3)
        dt = time.monotonic() - t0
        check(closed and dt < IDLE_S + 2.5,
              "a connection stalled in its headers is closed after %.1f s" % dt)
        slow.close()

        # A slowloris that holds every slot of its address does not hold anyone else's: other
        # clients (here 127.0.0.2) still get in.
        hogs = [connect(port) for _ in range(PER_CLIENT)]
        for h in hogs:
            h.sendall(b"GET / HTTP/1.1\r\n")
        other = socket.create_connection(("127.0.0.1", port), timeout=5,
                                         source_address=("127.0.0.2", 0))
        other.sendall(ok)
        check(status_of(other.recv(65536)) == 200,
              "another address is served while one address holds all its slots")
        other.close()
        for h in hogs:
            h.close()

        proc.send_signal(signal.SIGTERM)
        check(proc.wait(timeout=15) == 0, "the daemon stops cleanly")
        proc = None

        # --- connections in all: at the cap, a new one waits (not served) until a slot frees
        if os.path.exists(port_file):
            os.unlink(port_file)
        proc = subprocess.Popen(
            [BIN, "--auth", "off", "--listen", "127.0.0.1:0", "--port-file", port_file,
             "--iscsi-root", os.path.join(work, "iscsi"), "--db", os.path.join(work, "db"),
             "--lock-dir", os.path.join(work, "lock"), "--max-conn-per-client", str(PER_CLIENT),
             "--max-connections", str(TOTAL)],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "log3"), "w"))
        for _ in range(250):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.02)
        port = int(open(port_file).read())
        keep = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
        held = []
        for a in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
            while len(held) < TOTAL and sum(1 for h in held if h[0] == a) < PER_CLIENT:
                held.append((a, socket.create_connection(("127.0.0.1", port), timeout=5,
                                                         source_address=(a, 0))))
        for _, h in held:
            h.sendall(keep)
        check(all(status_of(h.recv(65536)) == 200 for _, h in held),
              "%d connections from three addresses are served" % len(held))
        extra = socket.create_connection(("127.0.0.1", port), timeout=5,
                                         source_address=("127.0.0.4", 0))
        extra.sendall(keep)
        extra.settimeout(0.5)
        try:
            early = extra.recv(65536)
        except socket.timeout:
            early = None
        check(early is None, "connection %d in all is not served while %d are open"
              % (TOTAL + 1, TOTAL))
        held.pop()[1].close()
        extra.settimeout(5)
        check(status_of(extra.recv(65536)) == 200, "it is served once one of them closes")
        extra.close()
        for _, h in held:
            h.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        proc = None

        # --- tarpitted clients that hang up, or still wait, do not stall the stop
        if os.path.exists(port_file):
            os.unlink(port_file)
        proc = subprocess.Popen(
            [BIN, "--listen", "127.0.0.1:0", "--port-file", port_file,
             "--iscsi-root", os.path.join(work, "iscsi"), "--db", os.path.join(work, "db"),
             "--lock-dir", os.path.join(work, "lock")],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "log2"), "w"))
        for _ in range(250):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.02)
        port = int(open(port_file).read())
        bad = (b"GET /api/v1/ifaces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ifd_000000000000_"
               + b"x" * 43 + b"\r\n\r\n")
        for _ in range(8):  # they hang up before their (delayed) 401
            s = connect(port)
            s.sendall(bad)
            s.close()
        waiting = []
        for _ in range(3):  # these still wait for theirs
            s = connect(port)
            s.sendall(bad)
            waiting.append(s)
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=20)
        dt = time.monotonic() - t0
        check(rc == 0 and dt < 3, "SIGTERM with tarpitted clients (gone or waiting): exit %d in %.2f s"
              % (rc, dt))
        answered = sum(1 for s in waiting if status_of(s.recv(4096)) == 401)
        check(answered == 3, "the waiting clients got their 401 before the stop (%d of 3)"
              % answered)
        for s in waiting:
            s.close()
        proc = None
    finally:
        if proc:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    print("limits: %d failure(s)" % failures())
    return 1 if failures() else 0


if __name__ == "__main__":
    sys.exit(main())
