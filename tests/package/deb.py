#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""package.deb: the Debian package, installed on this host and run as its unit would run it.

Builds build-deb/iscsi-ifaced_*.deb with ./dev.sh package when it is missing or older than the
sources (`deb.py --ensure` does only that and prints its path, for vm.systemd), installs it
(dpkg -i), and purges it at the end, whatever happened. Then:
  - the files: binary in /usr/sbin, the units, tmpfiles.d and sysusers.d entries, the conffile,
    the man page (man --warnings clean), the docs; the group and /run/iscsi-ifaced its postinst
    made; systemd-analyze verify of the installed units, and the security score (<= 3.0);
  - the daemon from the unit's ExecStart= under the unit's capability bounding set (read from
    the installed unit file) and NoNewPrivileges= (setpriv), with its unix socket made as the
    socket unit makes it (ListenStream=, SocketGroup=, SocketMode=) and passed as sd_listen_fds
    expects it, and a NOTIFY_SOCKET: READY=1, RELOADING=1/READY=1 on SIGHUP, STOPPING=1;
  - in a network namespace with a veth pair to a peer namespace: the NIC and HBA inventory, an
    iface created, read and deleted, and a check whose ping step reaches the peer;
  - a throwaway user in the group with --unix-role UID:viewer reads over the socket and may not
    write; one outside the group cannot connect;
  - the negative control: the same ping check without CAP_NET_RAW fails with "Permission
    denied" (the namespace's net.ipv4.ping_group_range admits no group), with the daemon binding
    the socket itself (no activation), which takes the group of the setgid directory.
systemd is not PID 1 on the test hosts, so systemctl cannot start the unit: the rest of the
sandbox (the device ACL and the settings systemd makes into seccomp rules of its own) is not
applied here; packaging/README.md says what is and is not approximated. vm.systemd runs the same
.deb under systemd as PID 1 in the VM lane's guest (tests/vm/README.md).
Needs root (exit 77 otherwise).
"""
import fcntl
import grp
import http.client
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("SOURCE_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEB_DIR = os.environ.get("IFACED_DEB_DIR", os.path.join(SRC, "build-deb"))
PKG = "iscsi-ifaced"
GROUP = "iscsi-ifaced"
UNIT = "/lib/systemd/system/iscsi-ifaced.service"
SOCKET_UNIT = "/lib/systemd/system/iscsi-ifaced.socket"
LOCK = "/run/lock/iscsi-ifaced-package-test.lock"
SCORE_MAX = 3.0
# The sources the package is built from: a .deb older than any of them is built again.
SOURCES = ["meson.build", "meson_options.txt", "common", "engine", "api", "server", "web",
           "packaging", "debian"]

fails = 0


def ok(what):
    print("PASS: " + what, flush=True)


def bad(what):
    global fails
    fails += 1
    print("FAIL: " + what, flush=True)


def check(cond, what):
    (ok if cond else bad)(what)
    return cond


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(argv, **kw)


def newest_source_mtime():
    newest = 0.0
    for s in SOURCES:
        p = os.path.join(SRC, s)
        if os.path.isfile(p):
            newest = max(newest, os.stat(p).st_mtime)
        for dirpath, _, files in os.walk(p):
            for f in files:
                try:
                    newest = max(newest, os.stat(os.path.join(dirpath, f)).st_mtime)
                except OSError:
                    pass
    return newest


def find_deb():
    if not os.path.isdir(DEB_DIR):
        return None
    debs = sorted(f for f in os.listdir(DEB_DIR)
                  if f.startswith(PKG + "_") and f.endswith(".deb"))
    return os.path.join(DEB_DIR, debs[-1]) if debs else None


def ensure_deb():
    deb = find_deb()
    if deb and os.stat(deb).st_mtime >= newest_source_mtime():
        print("# using %s" % deb)
        return deb
    print("# %s: building it with ./dev.sh package" % ("stale .deb" if deb else "no .deb"),
          flush=True)
    t0 = time.monotonic()
    r = run([os.path.join(SRC, "dev.sh"), "package"], capture_output=False)
    print("# ./dev.sh package: %.0f s, exit %d" % (time.monotonic() - t0, r.returncode))
    deb = find_deb()
    if r.returncode != 0 or not deb:
        print("harness: ./dev.sh package failed")
        sys.exit(99)
    return deb


# ---------------------------------------------------------------- unit files

def unit_values(path, key):
    """Every value of key= in a unit file, continuation lines joined, in order."""
    vals, cur = [], None
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if cur is not None:
                cur += " " + line.rstrip("\\").strip()
                if not line.endswith("\\"):
                    vals.append(cur)
                    cur = None
                continue
            if line.lstrip().startswith(("#", ";")):
                continue
            m = re.match(r"\s*%s\s*=(.*)$" % re.escape(key), line)
            if not m:
                continue
            v = m.group(1).strip()
            if v.endswith("\\"):
                cur = v.rstrip("\\").strip()
            else:
                vals.append(v)
    return vals


def unit_caps(path):
    caps = []
    for v in unit_values(path, "CapabilityBoundingSet"):
        if v.startswith("~"):
            raise SystemExit("harness: a ~ (deny) CapabilityBoundingSet= is not handled here")
        if v == "":
            caps = []
        caps += v.split()
    return caps


# The file-system part of the unit, approximated in a private mount namespace (unshare -m):
# ProtectSystem=strict (every mount read-only but /dev, /proc and /sys), ReadWritePaths= and
# StateDirectory= (made writable again), ProtectKernelTunables= (/sys and /proc/sys read-only, then
# the ReadWritePaths= under /sys writable), ProtectHome= and PrivateTmp= (empty tmpfs). It proves
# itself before the exec: /usr must refuse a write, or the daemon is not started (exit 97).
SANDBOX = r"""
set -e
awk '{ print $5 }' /proc/self/mountinfo | sort -u | while read -r mp; do
        case $mp in /proc | /proc/* | /sys | /sys/* | /dev | /dev/*) continue ;; esac
        mount -o remount,bind,ro "$mp" 2>/dev/null || true
done
mount -o remount,bind,ro /sys
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
for d in /home /root /run/user; do
        [ -d "$d" ] && mount -t tmpfs -o ro,mode=0000 tmpfs "$d"
done
for d in /tmp /var/tmp; do
        mount -t tmpfs -o mode=1777 tmpfs "$d"
done
while [ "$1" != -- ]; do
        p=${1#-}
        shift
        [ -e "$p" ] || continue
        mount --bind "$p" "$p"
        mount -o remount,bind,rw "$p"
done
shift
if touch /usr/.ifd-sandbox-probe 2>/dev/null; then
        rm -f /usr/.ifd-sandbox-probe
        echo "sandbox: /usr is writable" >&2
        exit 97
fi
exec "$@"
"""


def unit_rw_paths(path):
    paths = []
    for v in unit_values(path, "ReadWritePaths"):
        paths += v.split()
    for v in unit_values(path, "StateDirectory"):
        paths += ["/var/lib/" + d for d in v.split()]
    return paths


def seccomp_prefix(path, helper):
    """The unit's SystemCallFilter=, SystemCallErrorNumber= and RestrictAddressFamilies= through
    seccomp-exec.py (Debian's python3-seccomp, hence /usr/bin/python3)."""
    argv = ["/usr/bin/python3", helper]
    for v in unit_values(path, "SystemCallFilter"):
        argv += ["--filter", v]
    for v in unit_values(path, "SystemCallErrorNumber")[-1:]:
        argv += ["--errno", v]
    fams = unit_values(path, "RestrictAddressFamilies")
    if fams:
        argv += ["--families", " ".join(fams)]
    return argv + ["--"]


def setpriv_prefix(caps, no_new_privs):
    bset = "-all" + "".join(",+" + c.lower().removeprefix("cap_") for c in caps)
    argv = ["setpriv", "--bounding-set", bset, "--inh-caps", "-all"]
    if no_new_privs:
        argv.append("--no-new-privs")
    return argv


# ---------------------------------------------------------------- HTTP over the unix socket

class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=15)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(15)
        s.connect(self.path)
        self.sock = s


def call(sock_path, method, path, body=None):
    c = UnixConnection(sock_path)
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=headers)
    r = c.getresponse()
    raw = r.read()
    c.close()
    try:
        return r.status, json.loads(raw) if raw else None
    except ValueError:
        return r.status, raw.decode(errors="replace")


# ---------------------------------------------------------------- the daemon

class Daemon:
    """The installed daemon: ExecStart= of the unit, under setpriv, in the namespace."""

    def __init__(self, work, ns, exec_start, caps, nnp, rw_paths, seccomp, sock_path, activate,
                 sock_group, sock_mode, extra):
        self.work = work
        self.ns = ns
        self.notify_path = os.path.join(work, "notify.%d" % len(os.listdir(work)))
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.notify.settimeout(0.2)
        self.sock_path = sock_path
        self.log_path = os.path.join(work, "daemon.%d.log" % len(os.listdir(work)))
        self.listen = None
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path)
        for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
            env.pop(k, None)
        pass_fds = []
        # sh puts the socket at fd 3 and names its own pid, which exec keeps for the daemon:
        # what systemd does for a socket unit's service.
        shell = 'exec "$@"'
        if activate:
            if os.path.lexists(sock_path):
                os.unlink(sock_path)
            self.listen = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listen.bind(sock_path)
            os.chown(sock_path, 0, grp.getgrnam(sock_group).gr_gid)
            os.chmod(sock_path, sock_mode)
            self.listen.listen(64)
            fd = self.listen.fileno()
            pass_fds.append(fd)
            move = "" if fd == 3 else "exec 3<&%d %d<&-; " % (fd, fd)
            shell = move + 'export LISTEN_FDS=1 LISTEN_PID=$$; exec "$@"'
        argv = (["ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private",
                 "sh", "-c", SANDBOX, "sandbox"] + rw_paths + ["--"] +
                setpriv_prefix(caps, nnp) + seccomp +
                ["sh", "-c", shell, "sh"] + exec_start + extra)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     pass_fds=pass_fds)
        if self.listen:
            self.listen.close()  # the daemon holds it now, as systemd would
        self.messages = []

    def wait_message(self, word, timeout=10.0):
        """Wait for a notify datagram holding word (e.g. READY=1); True if it came."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.messages:
                if word in m.split("\n"):
                    self.messages.remove(m)
                    return True
            if self.proc.poll() is not None:
                return False
            try:
                self.messages.append(self.notify.recv(4096).decode())
            except socket.timeout:
                pass
        return False

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.notify.close()

    def logtext(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""


def ping_check(sock_path, iface, portal):
    st, b = call(sock_path, "POST", "/api/v1/ifaces/%s/checks" % iface,
                 {"portal": portal, "steps": ["link", "ping"], "timeout_ms": 3000})
    step = {}
    if isinstance(b, dict):
        for s in b.get("steps", []):
            if s.get("step") == "ping":
                step = s
    return st, b, step


# ---------------------------------------------------------------- the test

def main():
    if os.geteuid() != 0:
        skip("needs root (dpkg -i, network namespaces, setpriv)")
    for tool in ("dpkg", "ip", "setpriv", "useradd", "userdel", "systemd-analyze", "man"):
        if not any(os.access(os.path.join(d, tool), os.X_OK)
                   for d in os.environ.get("PATH", "/usr/bin:/bin").split(":") + ["/usr/sbin",
                                                                                 "/sbin"]):
            skip("%s missing (./dev.sh deps installs it)" % tool)

    if run(["/usr/bin/python3", "-c", "import seccomp"]).returncode != 0:
        bad("Debian's python3-seccomp is missing (./dev.sh deps installs it): the unit's "
            "SystemCallFilter= cannot be applied")
        return

    lock = open(LOCK, "w")
    fcntl.flock(lock, fcntl.LOCK_EX)  # one installer of the package on this host at a time

    st = run(["dpkg-query", "-W", "-f=${db:Status-Status}", PKG])
    if st.returncode == 0 and st.stdout.strip() not in ("", "not-installed", "config-files"):
        skip("%s is installed on this host already (%s): not ours to purge" % (
            PKG, st.stdout.strip()))

    deb = ensure_deb()
    group_existed = True
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        group_existed = False
    state_existed = os.path.exists("/var/lib/iscsi-ifaced")
    run_existed = os.path.exists("/run/iscsi-ifaced")

    pid = os.getpid()
    ns, peer = "ifdpkg%d" % pid, "ifdpkgp%d" % pid
    users = ["ifdpkm%d" % pid, "ifdpko%d" % pid]  # a member of the group, and an outsider
    work = None
    daemons = []
    try:
        t0 = time.monotonic()
        r = run(["dpkg", "-i", deb], env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if not check(r.returncode == 0, "dpkg -i %s (%.1f s)" % (os.path.basename(deb),
                                                                 time.monotonic() - t0)):
            print(r.stdout[-3000:], r.stderr[-3000:])
            return
        files(deb)
        unit_checks()

        exec_start = shlex.split(unit_values(UNIT, "ExecStart")[-1])
        caps = unit_caps(UNIT)
        nnp = (unit_values(UNIT, "NoNewPrivileges") or ["no"])[-1] in ("yes", "true", "1")
        sock_path = unit_values(SOCKET_UNIT, "ListenStream")[-1]
        sock_group = unit_values(SOCKET_UNIT, "SocketGroup")[-1]
        sock_mode = int(unit_values(SOCKET_UNIT, "SocketMode")[-1], 8)
        # The conffile's listeners are used as they are (the daemon has a network namespace of
        # its own, so 127.0.0.1:8080 is free); its unix listener must be the socket unit's.
        conf_listen = unit_values("/etc/iscsi-ifaced.conf", "listen")
        check("unix:" + sock_path in conf_listen,
              "the conffile listens on the socket unit's ListenStream= (%s)"
              % ", ".join(conf_listen))
        check(exec_start[0] == "/usr/sbin/iscsi-ifaced" and "sh" not in exec_start[0],
              "ExecStart= runs /usr/sbin/iscsi-ifaced directly: %s" % " ".join(exec_start))
        check("CAP_NET_RAW" in caps and nnp,
              "the unit's bounding set has CAP_NET_RAW, NoNewPrivileges=yes: %s" % " ".join(caps))
        rw_paths = unit_rw_paths(UNIT)
        print("# the daemon runs under: %s" % " ".join(setpriv_prefix(caps, nnp)))
        print("# in a mount namespace with these writable: %s" % " ".join(rw_paths))

        # The namespace of the daemon (pk0, 10.231.0.1) and a peer to ping (pk1, 10.231.0.2).
        for n in (ns, peer):
            run(["ip", "netns", "add", n], check=True)
            run(["ip", "-n", n, "link", "set", "lo", "up"], check=True)
        run(["ip", "-n", ns, "link", "add", "pk0", "type", "veth", "peer", "name", "pk1",
             "netns", peer], check=True)
        run(["ip", "-n", ns, "addr", "add", "10.231.0.1/24", "dev", "pk0"], check=True)
        run(["ip", "-n", peer, "addr", "add", "10.231.0.2/24", "dev", "pk1"], check=True)
        run(["ip", "-n", ns, "link", "set", "pk0", "up"], check=True)
        run(["ip", "-n", peer, "link", "set", "pk1", "up"], check=True)
        pgr = run(["ip", "netns", "exec", ns, "cat", "/proc/sys/net/ipv4/ping_group_range"])
        print("# net.ipv4.ping_group_range in the namespace: %s" % pgr.stdout.strip())

        for u in users:
            run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", u],
                check=True)
        run(["usermod", "-a", "-G", GROUP, users[0]], check=True)
        member_uid = pwd.getpwnam(users[0]).pw_uid

        # Inside StateDirectory=, which the unit makes writable (the rest is read-only).
        work = tempfile.mkdtemp(prefix="test.", dir="/var/lib/iscsi-ifaced")
        root = os.path.join(work, "iscsi")
        os.makedirs(root, mode=0o700)
        os.makedirs(os.path.join(work, "lock"), mode=0o700)
        # The seccomp helper where the sandbox shows it (a checkout under /root would be hidden
        # by the ProtectHome= tmpfs).
        helper = os.path.join(work, "seccomp-exec.py")
        shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "seccomp-exec.py"),
                    helper)
        seccomp = seccomp_prefix(UNIT, helper)
        print("# under the unit's syscall filter: %s" % " ".join(seccomp[2:-1]))
        # The host's own db root, db and lock dir stay untouched; everything else is the unit's.
        extra = ["--iscsi-root", root, "--db", os.path.join(work, "ifaced.db"),
                 "--lock-dir", os.path.join(work, "lock"), "--unix-role", "%d:viewer" % member_uid]

        # ---- with the unit's capabilities, the socket passed as the socket unit passes it
        d = Daemon(work, ns, exec_start, caps, nnp, rw_paths, seccomp, sock_path, True,
                   sock_group, sock_mode, extra)
        daemons.append(d)
        if not check(d.wait_message("READY=1"), "READY=1 on NOTIFY_SOCKET (Type=notify)"):
            print(d.logtext())
            return
        check("passed by the service manager" in d.logtext(),
              "the daemon serves the passed socket (log: 'passed by the service manager')")
        features(d, sock_path, users, member_uid)

        os.kill(d.proc.pid, signal.SIGHUP)
        check(d.wait_message("RELOADING=1") and d.wait_message("READY=1"),
              "SIGHUP: RELOADING=1, then READY=1")
        st, _ = call(sock_path, "GET", "/api/v1/health")
        check(st == 200, "serving after the reload (%d)" % st)
        os.kill(d.proc.pid, signal.SIGTERM)
        check(d.wait_message("STOPPING=1"), "SIGTERM: STOPPING=1")
        rc = d.stop()
        check(rc == 0, "exit 0 after SIGTERM (%d)" % rc)
        check(os.path.exists(sock_path),
              "the passed socket is left bound for the socket unit (RemoveOnStop= is its job)")

        # ---- negative control: without CAP_NET_RAW, and without socket activation
        os.unlink(sock_path)
        nocap = [c for c in caps if c != "CAP_NET_RAW"]
        d = Daemon(work, ns, exec_start, nocap, nnp, rw_paths, seccomp, sock_path, False,
                   sock_group, sock_mode, extra)
        daemons.append(d)
        if not check(d.wait_message("READY=1"), "without activation: READY=1"):
            print(d.logtext())
            return
        try:
            sst = os.stat(sock_path)
            check(stat.S_IMODE(sst.st_mode) == 0o660 and
                  sst.st_gid == grp.getgrnam(GROUP).gr_gid,
                  "without activation the daemon binds %s 0660 group %s itself (setgid "
                  "directory)" % (sock_path, GROUP))
        except OSError as e:
            bad("without activation: %s: %s" % (sock_path, e))
        st, b = call(sock_path, "POST", "/api/v1/ifaces",
                     {"name": "pkg0", "transport_name": "tcp", "net_ifacename": "pk0"})
        check(st == 201, "negative control: an iface bound to pk0 (%d)" % st)
        st, b, step = ping_check(sock_path, "pkg0", "10.231.0.2")
        check(st == 200 and step.get("status") == "failed" and
              "Permission denied" in (step.get("hint") or ""),
              "negative control: without CAP_NET_RAW the ping step fails with Permission "
              "denied (%d, %s: %s)" % (st, step.get("status"), step.get("hint")))
        rc = d.stop()
        check(rc == 0, "negative control: exit 0 after SIGTERM (%d)" % rc)
        check(not os.path.exists(sock_path), "a socket it bound itself is removed on stop")
    finally:
        for d in daemons:
            d.kill()
        for n in (ns, peer):
            run(["ip", "netns", "del", n])
        for u in users:
            run(["userdel", u])
        r = run(["dpkg", "--purge", PKG])
        check(r.returncode == 0, "dpkg --purge %s" % PKG)
        if r.returncode != 0:
            print(r.stdout[-2000:], r.stderr[-2000:])
        if not group_existed:
            run(["groupdel", GROUP])
        if not run_existed:
            subprocess.run(["rm", "-rf", "/run/iscsi-ifaced"])
        if not state_existed:
            subprocess.run(["rm", "-rf", "/var/lib/iscsi-ifaced"])
        if work:
            subprocess.run(["rm", "-rf", work])
        check(run(["dpkg-query", "-W", "-f=${db:Status-Status}", PKG]).stdout.strip()
              in ("", "not-installed"), "purged: nothing of %s is left in dpkg" % PKG)


def files(deb):
    listed = run(["dpkg-query", "-L", PKG]).stdout.split("\n")
    for path in ("/usr/sbin/iscsi-ifaced", UNIT, SOCKET_UNIT,
                 "/usr/lib/tmpfiles.d/iscsi-ifaced.conf", "/usr/lib/sysusers.d/iscsi-ifaced.conf",
                 "/etc/iscsi-ifaced.conf", "/usr/share/man/man8/iscsi-ifaced.8.gz",
                 "/usr/share/doc/iscsi-ifaced/README.md.gz",
                 "/usr/share/doc/iscsi-ifaced/security.md.gz",
                 "/usr/share/iscsi-ifaced/web/index.html"):
        check(path in listed and os.path.exists(path), "installed: %s" % path)
    conff = run(["dpkg-query", "-W", "-f=${Conffiles}", PKG]).stdout
    check("/etc/iscsi-ifaced.conf" in conff, "/etc/iscsi-ifaced.conf is a conffile")
    r = run(["man", "--warnings", "-E", "UTF-8", "-l", "/usr/share/man/man8/iscsi-ifaced.8.gz"],
            env=dict(os.environ, MANWIDTH="80"))
    check(r.returncode == 0 and r.stderr.strip() == "",
          "man --warnings -l iscsi-ifaced.8.gz: no warning %r" % r.stderr.strip()[:300])
    try:
        g = grp.getgrnam(GROUP)
        check(True, "postinst made the system group %s (gid %d)" % (GROUP, g.gr_gid))
        sst = os.stat("/run/iscsi-ifaced")
        check(stat.S_IMODE(sst.st_mode) == 0o2750 and sst.st_gid == g.gr_gid,
              "postinst made /run/iscsi-ifaced 2750 root:%s (tmpfiles.d)" % GROUP)
    except (KeyError, OSError) as e:
        bad("group %s and /run/iscsi-ifaced: %s" % (GROUP, e))


def unit_checks():
    r = run(["systemd-analyze", "verify", UNIT, SOCKET_UNIT])
    check(r.returncode == 0 and (r.stdout + r.stderr).strip() == "",
          "systemd-analyze verify of the installed units: clean %r" % (r.stdout + r.stderr)[:500])
    r = run(["systemd-analyze", "security", "--offline=true", "--no-pager", UNIT])
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    score = float(m.group(1)) if m else 99.0
    check(score <= SCORE_MAX, "systemd-analyze security --offline=true: %.1f (at most %.1f)"
          % (score, SCORE_MAX))


def features(d, sock_path, users, member_uid):
    st, b = call(sock_path, "GET", "/api/v1/health")
    check(st == 200, "GET /api/v1/health over the passed unix socket as root (%d)" % st)
    st, b = call(sock_path, "GET", "/api/v1/whoami")
    check(st == 200 and isinstance(b, dict) and b.get("role") == "admin",
          "uid 0 on the socket is admin (%d %.200r)" % (st, b))
    r = run(["ip", "netns", "exec", d.ns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
             "http://127.0.0.1:8080/api/v1/ifaces"])
    check(r.stdout == "401", "the conffile's TCP listener 127.0.0.1:8080 wants a token (%s)"
          % r.stdout)

    # Inventory: the namespace's NIC with its address, and the HBA list.
    st, b = call(sock_path, "GET", "/api/v1/nics")
    text = json.dumps(b)
    check(st == 200 and "pk0" in text and "10.231.0.1" in text,
          "inventory: GET /api/v1/nics lists pk0 with 10.231.0.1 (%d)" % st)
    st, b = call(sock_path, "GET", "/api/v1/hbas")
    check(st == 200, "inventory: GET /api/v1/hbas (%d)" % st)

    # Iface writes: create, read, the record file, and (at the end) delete.
    st, b = call(sock_path, "POST", "/api/v1/ifaces",
                 {"name": "pkg0", "transport_name": "tcp", "net_ifacename": "pk0"})
    check(st == 201, "iface write: POST /api/v1/ifaces pkg0 bound to pk0 (%d %.200r)" % (st, b))
    st, b = call(sock_path, "GET", "/api/v1/ifaces/pkg0")
    check(st == 200, "iface read: GET /api/v1/ifaces/pkg0 (%d)" % st)
    rec = os.path.join(d.work, "iscsi", "ifaces", "pkg0")
    check(os.path.isfile(rec), "the record file %s exists" % rec)

    # A check with its ping step, from pk0 to the peer.
    st, b, step = ping_check(sock_path, "pkg0", "10.231.0.2")
    check(st == 200 and isinstance(b, dict) and b.get("status") == "ok" and
          step.get("status") == "ok",
          "check pkg0 -> 10.231.0.2 [link, ping] with the unit's capabilities: ok "
          "(%d, ping %s %s)" % (st, step.get("status"), step.get("hint")))

    # A user of the group with --unix-role UID:viewer, and one outside the group.
    pw = pwd.getpwnam(users[0])
    r = run(["setpriv", "--reuid", users[0], "--regid", str(pw.pw_gid), "--init-groups", "curl",
             "-s", "--unix-socket", sock_path, "http://localhost/api/v1/whoami"])
    try:
        who = json.loads(r.stdout)
    except ValueError:
        who = {}
    check(r.returncode == 0 and who.get("role") == "viewer",
          "a member of %s (uid %d, unix-role viewer) reads over the socket: whoami %.200r"
          % (GROUP, member_uid, r.stdout))
    r = run(["setpriv", "--reuid", users[0], "--regid", str(pw.pw_gid), "--init-groups", "curl",
             "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE", "--unix-socket",
             sock_path, "http://localhost/api/v1/ifaces/pkg0"])
    check(r.stdout == "403", "the viewer may not delete an iface (%s)" % r.stdout)
    pw = pwd.getpwnam(users[1])
    r = run(["setpriv", "--reuid", users[1], "--regid", str(pw.pw_gid), "--init-groups", "curl",
             "-s", "--unix-socket", sock_path, "http://localhost/api/v1/health"])
    check(r.returncode == 7, "a user outside %s cannot connect (curl exit %d, 7 = refused)"
          % (GROUP, r.returncode))

    st, b = call(sock_path, "DELETE", "/api/v1/ifaces/pkg0")
    check(st in (200, 204) and not os.path.exists(rec),
          "iface write: DELETE /api/v1/ifaces/pkg0 removes the record (%d)" % st)


def on_term(sig, frame):
    # meson's timeout sends SIGTERM: leave through main()'s finally, which purges the package.
    raise SystemExit("harness: signal %d, cleaning up" % sig)


if __name__ == "__main__":
    if sys.argv[1:] == ["--ensure"]:
        # vm.systemd installs the same .deb in its guest: build it if needed, print its path.
        print(ensure_deb())
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    main()
    print("FAILED: %d check(s)" % fails if fails else "all checks passed")
    sys.exit(1 if fails else 0)
