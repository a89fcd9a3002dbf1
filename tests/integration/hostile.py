#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The write path against a hostile client (issue 9), on the wire with raw sockets and the real
daemon:

- a client that sends a write and then shuts its write side (nc -N, HTTP/1.0 tools) gets its
  answer, and what it was told is what happened (a GET afterwards agrees);
- request smuggling is refused with 400 and a closed connection: two Content-Lengths,
  Content-Length with Transfer-Encoding, a coding other than chunked; a chunk size or a
  Content-Length that overflows 64 bits, and a declared Content-Length over the body cap, are a
  413 at once;
- repeated query parameters are a 400 naming the parameter;
- stray signals (SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM) do not kill the daemon, and are logged;
- --unix-role 0:ROLE is refused at start (uid 0 is always admin).

usage: tests/integration/hostile.py IFACED_BIN        (meson: integration.hostile)
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from wire import check, connect, failures, status_of

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.environ["IFACED_BIN"])



def body_of(data):
    return data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""


def read_until_closed(s, timeout):
    """Everything the server sends until it closes (or timeout); (data, closed)."""
    s.settimeout(timeout)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return out, True
        except socket.timeout:
            return out, False
        if not chunk:
            return out, True
        out += chunk
    return out, False


def exchange(port, raw, half_close=False, timeout=5):
    """Send raw; optionally shut the write side; return (answer, closed by the server)."""
    s = connect(port)
    try:
        s.sendall(raw)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        return read_until_closed(s, timeout)
    finally:
        s.close()


def req(method, path, body=None, extra=b"", version=b"HTTP/1.1"):
    r = b"%s %s %s\r\nHost: x\r\n" % (method.encode(), path.encode(), version)
    if body is not None:
        r += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return r + extra + b"\r\n" + (body or b"")


def get(port, path):
    data, _ = exchange(port, req("GET", path, extra=b"Connection: close\r\n"))
    return status_of(data), body_of(data)


class Daemon:
    def __init__(self, work, *args):
        self.work = work
        self.port_file = os.path.join(work, "port")
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.log = os.path.join(work, "log")
        self.proc = subprocess.Popen(
            [BIN, "--listen", "127.0.0.1:0", "--port-file", self.port_file,
             "--iscsi-root", os.path.join(work, "iscsi"), "--db", os.path.join(work, "db"),
             "--lock-dir", os.path.join(work, "lock"), "--idle-timeout", "3"] + list(args),
            stdout=subprocess.DEVNULL, stderr=open(self.log, "a"))
        for _ in range(250):
            if os.path.exists(self.port_file) and open(self.port_file).read().strip():
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.port = int(open(self.port_file).read())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=15)


def test_half_close(port, iscsi_dir):
    # POST, then shut the write side: the answer comes, and the record exists.
    body = b'{"name":"hc0","transport_name":"tcp"}'
    data, closed = exchange(port, req("POST", "/api/v1/ifaces", body), half_close=True)
    st = status_of(data)
    check(st == 201, "a half-closed POST is answered (%d)" % st)
    check(closed, "and the connection is closed after the answer")
    st, _ = get(port, "/api/v1/ifaces/hc0")
    check(st == 201 and os.path.exists(os.path.join(iscsi_dir, "ifaces", "hc0")) or
          (st == 200 and os.path.exists(os.path.join(iscsi_dir, "ifaces", "hc0"))),
          "what it was told happened: GET is %d and the file exists" % st)

    # PUT and PATCH half-closed: the answer is the new state, and GET agrees.
    body = b'{"transport_name":"tcp","mtu":1500}'
    data, _ = exchange(port, req("PUT", "/api/v1/ifaces/hc0", body), half_close=True)
    st = status_of(data)
    check(st == 200 and json.loads(body_of(data)).get("mtu") == 1500,
          "a half-closed PUT is answered (%d)" % st)
    patch = b'{"mtu":9000}'
    data, _ = exchange(port, b"PATCH /api/v1/ifaces/hc0 HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Type: application/merge-patch+json\r\nContent-Length: %d\r\n\r\n"
                       % len(patch) + patch, half_close=True)
    st = status_of(data)
    check(st == 200, "a half-closed PATCH is answered (%d)" % st)
    st, b = get(port, "/api/v1/ifaces/hc0")
    check(st == 200 and json.loads(b).get("mtu") == 9000, "GET shows the patched mtu")

    # A refused write is answered too, and changes nothing.
    data, _ = exchange(port, req("POST", "/api/v1/ifaces", b'{"name":"hc0"}'), half_close=True)
    check(status_of(data) == 409, "a half-closed conflicting POST gets its 409 (%d)"
          % status_of(data))

    # HTTP/1.0 with the body and FIN in one go.
    body = b'{"name":"hc1","transport_name":"tcp"}'
    data, _ = exchange(port, req("POST", "/api/v1/ifaces", body, version=b"HTTP/1.0"),
                       half_close=True)
    check(status_of(data) == 201, "a half-closed HTTP/1.0 POST is answered (%d)"
          % status_of(data))

    # DELETE half-closed: 204, and the record and its file are gone.
    data, _ = exchange(port, req("DELETE", "/api/v1/ifaces/hc1"), half_close=True)
    check(status_of(data) == 204, "a half-closed DELETE is answered (%d)" % status_of(data))
    st, _ = get(port, "/api/v1/ifaces/hc1")
    check(st == 404 and not os.path.exists(os.path.join(iscsi_dir, "ifaces", "hc1")),
          "the deleted record is gone (GET %d)" % st)

    # Many at once, each answered and each answer true.
    socks = []
    for i in range(20):
        s = connect(port)
        b = b'{"name":"hcm%d","transport_name":"tcp"}' % i
        s.sendall(req("POST", "/api/v1/ifaces", b))
        s.shutdown(socket.SHUT_WR)
        socks.append(s)
    answered = 0
    for i, s in enumerate(socks):
        data, _ = read_until_closed(s, 10)
        s.close()
        st = status_of(data)
        exists = get(port, "/api/v1/ifaces/hcm%d" % i)[0] == 200
        if (st == 201) == exists and st == 201:
            answered += 1
    check(answered == 20, "20 concurrent half-closed POSTs: %d answered and true" % answered)


def smuggle(port, raw, want, what):
    t0 = time.monotonic()
    data, closed = exchange(port, raw, timeout=5)
    dt = time.monotonic() - t0
    st = status_of(data)
    check(st == want and closed and dt < 2,
          "%s: %d (want %d), closed %s, in %.2f s" % (what, st, want, closed, dt))


def test_smuggling(port, iscsi_dir):
    body = b'{"name":"sm0","transport_name":"tcp"}'
    head = b"POST /api/v1/ifaces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    smuggle(port, head + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n"
            % (len(body), len(body) + 5) + body + b"GET /", 400, "two differing Content-Lengths")
    smuggle(port, head + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n"
            % len(body) + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n", 400,
            "Content-Length with Transfer-Encoding")
    smuggle(port, head + b"Transfer-Encoding: gzip, chunked\r\n\r\n" + b"%x\r\n" % len(body) +
            body + b"\r\n0\r\n\r\n", 400, "Transfer-Encoding gzip, chunked")
    smuggle(port, head + b"Transfer-Encoding: identity\r\nContent-Length: %d\r\n\r\n"
            % len(body) + body, 400, "Transfer-Encoding identity")
    smuggle(port, head + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" +
            b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n", 400, "two Transfer-Encodings")
    # libmicrohttpd 0.9.75 refuses these itself, before our handler sees them, and says 413:
    # refused at once and closed all the same.
    smuggle(port, head + b"Transfer-Encoding: chunked\r\n\r\n"
            b"10000000000000001\r\n" + body + b"\r\n0\r\n\r\n", 413,
            "a chunk size that overflows 64 bits")
    smuggle(port, head + b"Content-Length: 99999999999999999999999\r\n\r\n", 413,
            "a Content-Length that overflows 64 bits")
    smuggle(port, head + b"Content-Length: 2000000\r\n\r\n" + body, 413,
            "Content-Length over the 1 MiB it would read, body not sent")
    smuggle(port, b"GET /api/v1/ifaces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\n"
            b"Authorization: Bearer b\r\n\r\n", 400, "two Authorization headers")
    st, _ = get(port, "/api/v1/ifaces/sm0")
    check(st == 404 and not os.path.exists(os.path.join(iscsi_dir, "ifaces", "sm0")),
          "none of them created anything (GET %d)" % st)
    # The ordinary forms still work: one Content-Length (twice the same is fine), or chunked.
    data, _ = exchange(port, head + b"Content-Length: %d\r\nContent-Length: %d\r\n"
                       b"Connection: close\r\n\r\n" % (len(body), len(body)) + body)
    check(status_of(data) == 201, "two equal Content-Lengths are one (%d)" % status_of(data))
    body = b'{"name":"sm1","transport_name":"tcp"}'
    data, _ = exchange(port, head + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
                       b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    check(status_of(data) == 201, "a chunked POST is accepted (%d)" % status_of(data))


def test_repeated_args(port):
    for path, field in (("/api/v1/ifaces?limit=1&limit=2", "limit"),
                        ("/api/v1/ifaces?transport_name=tcp&transport_name=iser",
                         "transport_name"),
                        ("/api/v1/health?x=1&x=1", "x")):
        st, b = get(port, path)
        try:
            f = json.loads(b).get("field")
        except ValueError:
            f = None
        check(st == 400 and f == field, "%s: %d naming %r" % (path, st, f))
    st, _ = get(port, "/api/v1/ifaces?limit=1")
    check(st == 200, "a single limit is fine (%d)" % st)


def test_signals(d):
    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE, signal.SIGALRM):
        d.proc.send_signal(sig)
        time.sleep(0.2)
        alive = d.proc.poll() is None
        st = get(d.port, "/api/v1/health")[0] if alive else 0
        check(alive and st == 200, "%s: the daemon is still there (health %d)"
              % (signal.Signals(sig).name, st))
    log = open(d.log, errors="replace").read()
    check("SIGUSR1" in log, "the stray signal is logged")


def test_unix_role_root(work):
    p = subprocess.Popen([BIN, "--listen", "127.0.0.1:0", "--unix-role", "0:viewer",
                          "--iscsi-root", os.path.join(work, "iscsi"),
                          "--db", os.path.join(work, "db"), "--lock-dir",
                          os.path.join(work, "lock")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:  # it started: the mapping was taken
        p.kill()
        _, err = p.communicate()
    check(p.returncode == 2 and "uid 0 is always admin" in err,
          "--unix-role 0:viewer is refused (exit %d: %s)" % (p.returncode, err.strip()))
    r = subprocess.run([BIN, "--help"], stdout=subprocess.PIPE, text=True, timeout=10)
    check("uid 0 is always admin" in r.stdout, "--help still says uid 0 is always admin")


def main():
    work = tempfile.mkdtemp(prefix="ifd-hostile.")
    d = None
    try:
        for sub in ("iscsi", "lock"):
            os.makedirs(os.path.join(work, sub), mode=0o700)
        iscsi_dir = os.path.join(work, "iscsi")
        d = Daemon(work, "--auth", "off")
        only = os.environ.get("HOSTILE_ONLY", "")
        if not only or "half" in only:
            test_half_close(d.port, iscsi_dir)
        if not only or "smuggl" in only:
            test_smuggling(d.port, iscsi_dir)
        if not only or "args" in only:
            test_repeated_args(d.port)
        if not only or "signal" in only:
            test_signals(d)
        rc = d.stop()
        check(rc == 0, "the daemon stops cleanly (exit %d)" % rc)
        d = None
        if not only or "unix" in only:
            test_unix_role_root(work)
    finally:
        if d:
            d.proc.kill()
            d.proc.wait()
        if failures() and os.environ.get("HOSTILE_KEEP"):
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("hostile: %d failure(s)" % failures())
    return 1 if failures() else 0


if __name__ == "__main__":
    sys.exit(main())
