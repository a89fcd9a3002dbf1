# SPDX-License-Identifier: MIT
"""What the raw-socket tests (limits.py, hostile.py, tls-halfclose.py) share: PASS/FAIL lines with
a failure count, a TCP connection to the daemon on loopback, and the status code and parts of a
raw HTTP answer."""
import socket

_fails = 0


def check(ok, what):
    """Print PASS or FAIL for what; count the failures."""
    global _fails
    print(("PASS: " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        _fails += 1


def failures():
    return _fails


def status_of(data):
    """The status code of a raw HTTP answer, or 0."""
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def split_answer(data):
    """(status, [(name, value)], body) of one raw HTTP/1.1 answer (Content-Length framed)."""
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:] if ":" in l]
    n = next((int(v) for k, v in hdrs if k.lower() == "content-length"), len(rest))
    return status_of(data), hdrs, rest[:n]


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s
