#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A write over TLS from a client that half-closes (issue 9, the TLS side of hostile.py): what the
client is told must be what happened. The real daemon with a test CA made by openssl (as in
tls.sh), --auth off on loopback; for each way of half-closing, a POST creating an iface, then the
client reads until the end; a TLS GET with curl --cacert afterwards says whether it was created.
Either the client got its 201 and the record exists, or it got no answer and nothing was created;
"created without an answer" is the failure this looks for.

The ways, each with TLS 1.3 and TLS 1.2:
- fin: the TCP write side shut after the request, without a close_notify (nc -N over a TLS
  tunnel, a client that shuts the socket under its TLS library);
- notify: a close_notify after the request, the TCP connection left open both ways;
- notify+fin: a close_notify, then the TCP write side shut.

The client is ssl.SSLObject over memory BIOs: SSLSocket.shutdown() drops the TLS state (the
answer could not be read), and SSLSocket.unwrap() waits for the server's close_notify, throwing
away the data before it.

usage: tests/integration/tls-halfclose.py IFACED_BIN        (meson: integration.tls-halfclose)
"""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import ifd
from wire import check, failures, split_answer, status_of

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.environ["IFACED_BIN"])


def sh(work, *argv):
    subprocess.run(argv, cwd=work, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_ca(work):
    """A test CA and a server certificate for 127.0.0.1, as tls.sh makes them."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    sh(work, "openssl", "req", "-x509", *ec, "-days", "2", "-subj", "/CN=ifd test CA",
       "-keyout", "ca.key", "-out", "ca.pem")
    sh(work, "openssl", "req", *ec, "-subj", "/CN=ifd server", "-keyout", "key.pem",
       "-out", "s.csr")
    with open(os.path.join(work, "ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    sh(work, "openssl", "x509", "-req", "-in", "s.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
       "-CAcreateserial", "-days", "2", "-extfile", "ext", "-out", "cert.pem")


def start_daemon(work):
    port_file = os.path.join(work, "port")
    log = open(os.path.join(work, "log"), "a")
    proc = subprocess.Popen(
        [BIN, "--listen", "127.0.0.1:0", "--port-file", port_file, "--auth", "off",
         "--tls-cert", os.path.join(work, "cert.pem"), "--tls-key", os.path.join(work, "key.pem"),
         "--iscsi-root", os.path.join(work, "iscsi"), "--db", os.path.join(work, "db"),
         "--lock-dir", os.path.join(work, "lock"), "--idle-timeout", "3", "--log-level", "debug"],
        stdout=subprocess.DEVNULL, stderr=log)
    log.close()
    for _ in range(250):
        if os.path.exists(port_file) and open(port_file).read().strip():
            return proc, int(open(port_file).read())
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    return proc, 0


class TLSClient:
    """A TLS client over a plain socket, with the TLS layer and the TCP socket closed apart."""

    def __init__(self, port, cafile, version):
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.minimum_version = ctx.maximum_version = version
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_hostname="127.0.0.1")
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("the server closed during the handshake")
                self.inc.write(data)
        self.flush()

    def flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def send(self, data):
        self.tls.write(data)
        self.flush()

    def close_notify(self):
        try:
            self.tls.unwrap()  # writes our close_notify; the server's is not here yet
        except ssl.SSLWantReadError:
            pass
        self.flush()

    def read_all(self, timeout):
        """The plaintext until the server ends (close_notify, TCP end or reset) or timeout; and
        how it ended."""
        got, deadline = b"", time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got, "timeout"
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return got, "timeout"
            except ConnectionResetError:
                return got, "reset"
            if data:
                self.inc.write(data)
            else:
                self.inc.write_eof()
            try:
                while True:
                    chunk = self.tls.read(65536)
                    if not chunk:
                        return got, "a TLS close" if data else "TCP end, no close_notify"
                    got += chunk
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                return got, "a TLS close"
            except ssl.SSLError as e:
                return got, "TLS error (%s)" % e.reason
            if not data:
                return got, "TCP end, no close_notify"

    def close(self):
        self.sock.close()


def post(name):
    body = b'{"name":"%s","transport_name":"tcp"}' % name.encode()
    return (b"POST /api/v1/ifaces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


def curl_get(work, port, path):
    """GET path over TLS with curl: the status (0: none), the answer recorded for the contract."""
    head, body = os.path.join(work, "curl.h"), os.path.join(work, "curl.b")
    r = subprocess.run(["curl", "-s", "-o", body, "-D", head, "-w", "%{http_code}",
                        "--max-time", "5", "--cacert", os.path.join(work, "ca.pem"),
                        "https://127.0.0.1:%d%s" % (port, path)],
                       stdout=subprocess.PIPE, text=True)
    try:
        st = int(r.stdout)
    except ValueError:
        return 0
    if st:
        with open(head, "rb") as h, open(body, "rb") as b:
            _, hdrs, _ = split_answer(h.read())
            ifd.record("GET", path, st, hdrs, b.read(), client="tls-halfclose.py")
    return st


def half_closed_post(work, port, name, how, version):
    c = TLSClient(port, os.path.join(work, "ca.pem"), version)
    try:
        c.send(post(name))
        if how.startswith("notify"):
            c.close_notify()
        if how.endswith("fin"):
            c.sock.shutdown(socket.SHUT_WR)
        data, end = c.read_all(5)
    finally:
        c.close()
    st = status_of(data)
    if st:
        _, hdrs, answer = split_answer(data)
        ifd.record("POST", "/api/v1/ifaces", st, hdrs, answer, client="tls-halfclose.py")
    got = curl_get(work, port, "/api/v1/ifaces/" + name)
    on_disk = os.path.exists(os.path.join(work, "iscsi", "ifaces", name))
    what = "%s, %s: answer %s (then %s), GET %d, file %s" % (
        how, version.name, st or "none", end, got, "present" if on_disk else "absent")
    if st == 201:
        check(got == 200 and on_disk, what + ": answered 201 and created")
    elif st == 0 and got == 200:
        check(False, what + ": CREATED WITHOUT AN ANSWER")
    else:
        check(st == 0 and got == 404 and not on_disk, what + ": no answer and nothing created")


def main():
    work = tempfile.mkdtemp(prefix="ifd-tlshc.")
    proc = None
    # meson stops a test that runs over its time with SIGTERM: clean up then too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        make_ca(work)
        for sub in ("iscsi", "lock"):
            os.makedirs(os.path.join(work, sub), mode=0o700)
        proc, port = start_daemon(work)
        check(port != 0, "the daemon listens with TLS")
        if port:
            n = 0
            # The control: no half-close, the answer comes the ordinary way.
            check(curl_get(work, port, "/api/v1/ifaces") == 200, "a TLS GET with the test CA")
            for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
                for how in ("fin", "notify", "notify+fin"):
                    n += 1
                    half_closed_post(work, port, "hc%d" % n, how, version)
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=15)
            proc = None
            check(rc == 0, "the daemon stops cleanly (exit %d)" % rc)
    finally:
        if proc:
            proc.kill()
            proc.wait()
        if failures():
            try:
                print("daemon log (tail):\n" + open(os.path.join(work, "log")).read()[-3000:])
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)
    print("tls-halfclose: %d failure(s)" % failures())
    return 1 if failures() else 0


if __name__ == "__main__":
    sys.exit(main())
