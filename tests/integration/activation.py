#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""integration.activation: sd_notify and socket activation (server/notify.c) with the build's
daemon, as systemd would run it, without systemd.

  - a listening unix socket passed as fd 3 (LISTEN_FDS=1, LISTEN_PID) whose path is a unix:
    listener is served as it is: READY=1 on NOTIFY_SOCKET, the peer's uid is its identity
    (whoami), RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM, exit 0, and the socket
    file is left to its owner;
  - a passed socket that no listener names is closed with a warning, and the listener binds its
    own path;
  - LISTEN_PID of another process: nothing is taken, every listener is bound by the daemon.
Skips (77) when the daemon was built without libsystemd (meson -Dsystemd=disabled).
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else os.environ["IFACED_BIN"]
fails = 0


def check(cond, what):
    global fails
    print(("PASS: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        fails += 1
    return cond


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.unix_path)
        self.sock = s


def get(path, url):
    c = UnixConnection(path)
    c.request("GET", url)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, json.loads(body) if body else None


class Run:
    def __init__(self, work, tag, listens, passed=None, pid_ok=True):
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify_path = os.path.join(work, "notify." + tag)
        self.notify.bind(self.notify_path)
        self.notify.settimeout(0.2)
        self.log_path = os.path.join(work, "log." + tag)
        argv = [BIN, "--iscsi-root", os.path.join(work, "root"), "--lock-dir",
                os.path.join(work, "lock"), "--db", os.path.join(work, "db." + tag),
                "--web-root", ""]
        for l in listens:
            argv += ["--listen", l]
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path)
        pass_fds = []
        shell = 'exec "$@"'
        if passed is not None:
            fd = passed.fileno()
            pass_fds = [fd]
            pid = "$$" if pid_ok else "1"
            move = "" if fd == 3 else "exec 3<&%d %d<&-; " % (fd, fd)
            shell = move + 'export LISTEN_FDS=1 LISTEN_PID=%s; exec "$@"' % pid
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["sh", "-c", shell, "sh"] + argv, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env, pass_fds=pass_fds)
        self.msgs = []

    def wait(self, word, timeout=10.0):
        """True once a notify datagram holding the line word (e.g. READY=1) has come."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.msgs:
                if word in m.split("\n"):
                    self.msgs.remove(m)
                    return True
            exited = self.proc.poll() is not None
            try:
                self.msgs.append(self.notify.recv(4096).decode())
            except socket.timeout:
                if exited:
                    return False
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        return rc

    def text(self):
        with open(self.log_path) as f:
            return f.read()


def listening(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(16)
    return s


def main():
    r = subprocess.run(["nm", "-D", BIN], capture_output=True, text=True)
    if r.returncode == 0 and "sd_notify" not in r.stdout:
        print("SKIP: built without libsystemd (-Dsystemd=disabled)")
        sys.exit(77)
    work = tempfile.mkdtemp(prefix="ifd-activation.")
    os.makedirs(os.path.join(work, "root"), mode=0o700)
    os.makedirs(os.path.join(work, "lock"), mode=0o700)
    runs = []
    try:
        # ---- a passed socket named by a listener
        path = os.path.join(work, "api.sock")
        s = listening(path)
        d = Run(work, "a", ["unix:" + path], passed=s)
        runs.append(d)
        s.close()
        if not check(d.wait("READY=1"), "READY=1 once the passed socket is served"):
            print(d.text())
            return
        check("listening on unix:%s (passed by the service manager)" % path in d.text(),
              "the log says the socket was passed")
        st, b = get(path, "/api/v1/whoami")
        check(st == 200 and b.get("actor") == "uid:%d" % os.getuid(),
              "peer credentials on the passed socket: whoami %d %r" % (st, b))
        d.proc.send_signal(signal.SIGHUP)
        check(d.wait("RELOADING=1") and d.wait("READY=1"), "SIGHUP: RELOADING=1, then READY=1")
        st, _ = get(path, "/api/v1/health")
        check(st == 200, "serving after SIGHUP (%d)" % st)
        d.proc.send_signal(signal.SIGTERM)
        check(d.wait("STOPPING=1"), "SIGTERM: STOPPING=1")
        rc = d.stop()
        check(rc == 0, "exit 0 (%d)" % rc)
        check(os.path.exists(path), "the passed socket's file is left to its owner")

        # ---- a passed socket nobody names: closed with a warning; the listener binds its own
        other = os.path.join(work, "other.sock")
        own = os.path.join(work, "own.sock")
        s = listening(other)
        d = Run(work, "b", ["unix:" + own], passed=s)
        runs.append(d)
        s.close()
        check(d.wait("READY=1"), "unmatched: READY=1")
        check("matches no unix: listener" in d.text(),
              "unmatched: the passed socket is closed with a warning")
        st, _ = get(own, "/api/v1/health")
        check(st == 200, "unmatched: the listener bound its own path (%d)" % st)
        check(d.stop() == 0 and not os.path.exists(own),
              "unmatched: exit 0, and the socket it bound is removed")

        # ---- LISTEN_PID of another process: nothing is taken
        mine = os.path.join(work, "mine.sock")
        s = listening(os.path.join(work, "foreign.sock"))
        d = Run(work, "c", ["unix:" + mine], passed=s, pid_ok=False)
        runs.append(d)
        s.close()
        check(d.wait("READY=1") and "passed by the service manager" not in d.text(),
              "LISTEN_PID of another process: nothing taken, READY=1")
        st, _ = get(mine, "/api/v1/health")
        check(st == 200, "LISTEN_PID of another process: bound by the daemon (%d)" % st)
        check(d.stop() == 0, "LISTEN_PID of another process: exit 0")
    finally:
        for d in runs:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
    print("FAILED: %d check(s)" % fails if fails else "all checks passed")
    sys.exit(1 if fails else 0)
