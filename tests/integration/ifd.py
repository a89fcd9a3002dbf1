# SPDX-License-Identifier: MIT
"""What the python API tests (fake_target.py, discovery-hostile.py, bindings-bad-input.py,
secrets.py) share: the real daemon on an ephemeral loopback port with a temp db root and
database, an HTTP/JSON client that keeps every answer (status, headers, body) for tests that must
grep them, and a digest of a directory tree.

Every answer raw() receives is also recorded for the contract check (tests/contract/README.md):
with IFD_CONTRACT_DIR set (tests/meson.build sets it), one JSON line per exchange goes to
<dir>/<script>-<pid>.jsonl, and when the script ends the file is checked against openapi.yaml
(node tests/contract/validate.mjs); an answer the contract does not allow fails the script."""
import atexit
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.parse

_record_file = None

FAILS = []  # what check() found wrong, in order


def check(ok, what):
    """One line per check: "ok: what" or "FAIL: what"; failures are kept in FAILS."""
    print("%s: %s" % ("ok" if ok else "FAIL", what))
    if not ok:
        FAILS.append(what)


def _contract_check():
    """At exit: the recorded answers against openapi.yaml. A failure ends the process with 1,
    whatever the script's own outcome was (the reasons are printed by the checker)."""
    if not _record_file or not os.path.exists(_record_file):
        return
    sys.stdout.flush()
    src = os.environ.get("SOURCE_ROOT") or os.path.join(os.path.dirname(__file__), "..", "..")
    r = subprocess.run(["node", os.path.join(src, "tests", "contract", "validate.mjs"),
                        _record_file])
    if r.returncode != 0:
        print("FAIL: answers that openapi.yaml does not allow (see above; %s)" % _record_file,
              flush=True)
        sys.stderr.flush()
        os._exit(1)


def record(method, path, status, headers, body, client="ifd.py"):
    """Append one exchange to the contract record (a no-op without IFD_CONTRACT_DIR). headers:
    (name, value) pairs as received; body: bytes."""
    global _record_file
    d = os.environ.get("IFD_CONTRACT_DIR")
    if not d:
        return
    if _record_file is None:
        os.makedirs(d, exist_ok=True)
        name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
        _record_file = os.path.join(d, "%s-%d.jsonl" % (name, os.getpid()))
        atexit.register(_contract_check)
    rec = {"client": client, "method": method, "path": path, "status": status,
           "headers": [[k, v] for k, v in headers]}
    try:
        rec["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        rec["body_hex"] = body.hex()
    with open(_record_file, "a") as f:
        f.write(json.dumps(rec) + "\n")

# A global-scope address on lo in the private network namespace: the daemon's link checks want
# an address of the portal's family on the bound NIC that is not host-scoped, and lo's 127.0.0.1
# is host-scoped.
NETNS_ADDR = "10.211.77.1"


def in_private_netns():
    """Run this script again in a private network namespace (unshare -n) with lo up and
    NETNS_ADDR on it, so an iface bound to lo can reach a fake target on 127.0.0.1 without
    touching the host's network. Returns the exit status to end with, or None when already
    inside. Needs root and unshare: else 77 (skip)."""
    if os.environ.get("IFD_IN_NETNS") == "1":
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "addr", "add", NETNS_ADDR + "/32", "dev", "lo"]):
            subprocess.run(cmd, check=True)
        return None
    if os.geteuid() != 0:
        print("SKIP: needs root for a private network namespace")
        return 77
    for tool in ("unshare", "ip"):
        if not shutil.which(tool):
            print("SKIP: %s missing" % tool)
            return 77
    if subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        print("SKIP: unshare -n does not work here")
        return 77
    env = dict(os.environ, IFD_IN_NETNS="1")
    sys.stdout.flush()
    return subprocess.run(["unshare", "-n", sys.executable] + sys.argv, env=env).returncode


class Daemon:
    """The daemon in work/ (iscsi/, db, lock/, log, port), --auth off unless args say otherwise.
    call() returns (status, headers as a dict with lower-case names, body: parsed JSON or bytes)."""

    def __init__(self, binary, work, *args, auth_off=True, env=None):
        self.binary = binary
        self.work = work
        self.root = os.path.join(work, "iscsi")
        self.db = os.path.join(work, "db")
        self.log = os.path.join(work, "log")
        self.port_file = os.path.join(work, "port")
        self.answers = []  # (method, path, status, raw headers, raw body) of every call
        for sub in ("iscsi", "lock"):
            os.makedirs(os.path.join(work, sub), mode=0o700, exist_ok=True)
        self.args = list(args)
        self.auth_off = auth_off
        self.env = env
        self.start()

    def start(self):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        argv = [self.binary, "--listen", "127.0.0.1:0", "--port-file", self.port_file,
                "--iscsi-root", self.root, "--db", self.db,
                "--lock-dir", os.path.join(self.work, "lock"), "--log-level", "debug"]
        if self.auth_off:
            argv += ["--auth", "off"]
        self.proc = subprocess.Popen(argv + self.args, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "a"), env=self.env)
        for _ in range(500):
            if os.path.exists(self.port_file) and open(self.port_file).read().strip():
                break
            if self.proc.poll() is not None:
                raise RuntimeError("the daemon exited (%d): %s" % (
                    self.proc.returncode, open(self.log, errors="replace").read()[-2000:]))
            time.sleep(0.02)
        self.port = int(open(self.port_file).read())

    def raw(self, method, path, body=None, headers=None, timeout=70):
        """body: bytes sent as they are (or None). Returns (status, headers, raw body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            h = dict(headers or {})
            if body is not None and "Content-Type" not in h:
                h["Content-Type"] = "application/json"
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            hdrs = r.getheaders()
        finally:
            conn.close()
        self.answers.append((method, path, r.status, hdrs, data))
        record(method, path, r.status, hdrs, data)
        return r.status, {k.lower(): v for k, v in hdrs}, data

    def call(self, method, path, body=None, headers=None, timeout=70):
        """body: a JSON value (dumped), or bytes/str sent as they are."""
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode("utf-8", "surrogateescape")
        st, hdrs, data = self.raw(method, path, body, headers, timeout)
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data
        return st, hdrs, parsed

    def all_pages(self, path, key="items", param="after"):
        """Every item of a paged list: its next (or next_cursor) goes back as ?param=."""
        items, cursor = [], None
        for _ in range(1000):
            sep = "&" if "?" in path else "?"
            p = path + ("%s%s=%s" % (sep, param, urllib.parse.quote(cursor, safe=""))
                        if cursor else "")
            st, _, b = self.call("GET", p)
            if st != 200 or not isinstance(b, dict):
                raise RuntimeError("GET %s: %d %r" % (p, st, b))
            items += b.get(key, [])
            cursor = b.get("next") or b.get("next_cursor")
            if not cursor:
                break
        return items

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=15)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def log_text(self):
        return open(self.log, "rb").read()


_SERIES = re.compile(r'^([a-z_]+) (\S+)$', re.M)


def metric_values(d):
    """GET /metrics of Daemon d: {name: value} of its series without labels."""
    st, _, body = d.raw("GET", "/metrics")
    if st != 200:
        raise RuntimeError("GET /metrics: %d" % st)
    return {m.group(1): float(m.group(2)) for m in _SERIES.finditer(body.decode())}


def tree(root):
    """{relative path: (type, mode, sha256 of the content or link target)} of everything under
    root (the root itself excluded), less the empty spare temp files the daemon's spare thread
    makes ahead of writes (.iscsi-ifaced/*.tmp), which come and go on their own time."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if (rel.startswith(".iscsi-ifaced" + os.sep) and rel.endswith(".tmp") and
                    stat.S_ISREG(st.st_mode) and st.st_size == 0):
                continue
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), "")
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    out[rel] = ("file", stat.S_IMODE(st.st_mode),
                                hashlib.sha256(f.read()).hexdigest())
            else:
                out[rel] = ("other", stat.S_IMODE(st.st_mode), "")
    return out


def tree_diff(a, b):
    """What differs between two tree() results, as short lines."""
    lines = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            lines.append("%s: %r -> %r" % (k, a.get(k), b.get(k)))
    return lines


class EventStream:
    """curl -N on /api/v1/events (docs/events.md); a thread parses the SSE messages into
    self.events (dicts of id, event, data as parsed JSON) and keeps the comment lines
    (self.comments) and every line (self.raw)."""

    def __init__(self, port, token=None, last_id=None, extra=()):
        argv = ["curl", "-sS", "-N", "--no-buffer", "-D", "-",
                "http://127.0.0.1:%d/api/v1/events" % port]
        if token:
            argv += ["-H", "Authorization: Bearer " + token]
        if last_id:
            argv += ["-H", "Last-Event-ID: " + last_id]
        self.proc = subprocess.Popen(argv + list(extra), stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.events, self.comments, self.raw = [], [], []
        self.status = None
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        cur = {}
        in_headers = True
        for line in self.proc.stdout:
            line = line.decode("utf-8", "replace").rstrip("\r\n")
            with self.lock:
                self.raw.append(line)
                if in_headers:
                    m = re.match(r"HTTP/1\.[01] (\d+)", line)
                    if m:
                        self.status = int(m.group(1))
                    if line == "":
                        in_headers = False
                    continue
                if line == "":
                    if "event" in cur or "data" in cur:
                        if "data" in cur:
                            try:
                                cur["data"] = json.loads(cur["data"])
                            except ValueError:
                                pass
                        self.events.append(cur)
                    cur = {}
                elif line.startswith(":"):
                    self.comments.append(line)
                else:
                    k, _, v = line.partition(":")
                    cur[k] = v[1:] if v.startswith(" ") else v

    def wait(self, pred, timeout=5.0):
        """Wait until pred(events) is true; returns it (or False at the timeout)."""
        end = time.monotonic() + timeout
        while True:
            with self.lock:
                r = pred(list(self.events))
            if r or time.monotonic() > end:
                return r
            time.sleep(0.02)

    def wait_event(self, etype, name=None, start=0, timeout=5.0):
        def find(evs):
            for e in evs[start:]:
                d = e.get("data") if isinstance(e.get("data"), dict) else {}
                if e.get("event") == etype and (name is None or
                                                name in (d.get("name"), d.get("id"))):
                    return e
            return None
        return self.wait(find, timeout)

    def count(self):
        with self.lock:
            return len(self.events)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.t.join(timeout=5)
