#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A fake iSCSI target for discovery tests (stdlib only).

It listens on 127.0.0.1 (an ephemeral port), takes discovery sessions as RFC 7143 describes them
(Login: the security stage, with CHAP if asked, and the operational stage, then the full feature
phase; SessionType must be Discovery), answers a Text request SendTargets=All with a data segment
the test chooses (any bytes: hostile names and addresses can be fed as they are), answers NOP-Out
and Logout. Every PDU it gets is logged in `events`, so a test can see what the initiator sent.

    t = FakeTarget(reply=sendtargets([("iqn.2026-12.test:d1", ["127.0.0.1:3260,1"])]),
                   chap=("user", "secret"))
    t.start()            # t.port is the bound port
    ...
    t.reply = b"TargetName=iqn.2026-12.test:../x\\0"     # raw bytes, any time
    t.stop()

Only what libiscsi (the initiator of the daemon's checks and discovery) and open-iscsi need is
done: one connection per session, one PDU per Text answer (libiscsi takes no continuation), no
digests (None is answered when offered).

Run as a program with the daemon's path, it proves itself against the daemon's checks API
(POST /api/v1/ifaces/{name}/checks with the iscsi step lists what SendTargets returned), in a
private network namespace (ifd.in_private_netns): this is meson's integration.fake-target. `fake_target.py --serve [--chap U:P] [NAME=ADDR ...]` serves
until interrupted, printing its port.
"""
import hashlib
import os
import random
import socket
import struct
import sys
import threading

# Not the secrets module: tests/integration/secrets.py would shadow it for the scripts here.
_rand = random.SystemRandom()

OP_NOP_OUT, OP_LOGIN, OP_TEXT, OP_LOGOUT = 0x00, 0x03, 0x04, 0x06
OP_NOP_IN, OP_LOGIN_RSP, OP_TEXT_RSP, OP_LOGOUT_RSP, OP_REJECT = 0x20, 0x23, 0x24, 0x26, 0x3F
FLAG_T, FLAG_C, FLAG_F = 0x80, 0x40, 0x80
STAGE_SEC, STAGE_OP, STAGE_FFP = 0, 1, 3

# Login status (class << 8 | detail), RFC 7143 §11.13.5
ST_OK = 0x0000
ST_AUTH_FAILED = 0x0201
ST_NOT_FOUND = 0x0203
ST_MISSING_PARAM = 0x0207
ST_SESSION_TYPE = 0x0209
ST_INVALID_DURING_LOGIN = 0x020B


def _b(x):
    return x if isinstance(x, bytes) else str(x).encode("utf-8", "surrogateescape")


def sendtargets(targets):
    """The data segment of a SendTargets answer: targets is a list of (name, [address, ...]),
    each a str or bytes, written as TargetName=name and TargetAddress=address, NUL after each.
    Nothing is checked or escaped: that is the point."""
    out = b""
    for name, addresses in targets:
        out += b"TargetName=" + _b(name) + b"\0"
        for a in addresses:
            out += b"TargetAddress=" + _b(a) + b"\0"
    return out


def parse_keys(data):
    """key=value\\0 pairs of a data segment, as a dict of bytes (the last one wins) and the list
    in order."""
    pairs = []
    for item in data.split(b"\0"):
        if not item:
            continue
        k, _, v = item.partition(b"=")
        pairs.append((k, v))
    return dict(pairs), pairs


def encode_keys(pairs):
    return b"".join(_b(k) + b"=" + _b(v) + b"\0" for k, v in pairs)


def _pad(data):
    return data + b"\0" * (-len(data) % 4)


def chap_response(ident, secret, challenge):
    """CHAP_R for CHAP_I ident and CHAP_C challenge (bytes), RFC 1994: MD5(id, secret, chal)."""
    return hashlib.md5(bytes([ident & 0xFF]) + _b(secret) + challenge).digest()


def _hex_value(v):
    v = v.decode("ascii", "replace")
    if v[:2] in ("0x", "0X"):
        return bytes.fromhex(v[2:])
    if v[:2] in ("0b", "0B"):
        import base64
        return base64.b64decode(v[2:])
    raise ValueError("not a hex or base64 value: %r" % v)


class _Conn:
    """One initiator connection: a login, then the full feature phase."""

    def __init__(self, target, sock, peer):
        self.t = target
        self.s = sock
        self.peer = peer
        self.statsn = _rand.getrandbits(32)
        self.expcmdsn = 0
        self.stage = STAGE_SEC
        self.session_type = None
        self.keys = {}           # every login key the initiator sent (last value)
        self.chap_state = None   # None, "challenged", "done"
        self.chap_i = 0
        self.chap_c = b""
        self.tsih = 0

    # --- wire ---
    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def recv_pdu(self):
        bhs = self.recv_exact(48)
        ahs_len = bhs[4] * 4
        dlen = int.from_bytes(bhs[5:8], "big")
        if ahs_len:
            self.recv_exact(ahs_len)
        data = self.recv_exact(dlen + (-dlen % 4))[:dlen] if dlen else b""
        return bhs, data

    def send_pdu(self, bhs, data=b""):
        bhs = bytearray(bhs)
        bhs[4] = 0
        bhs[5:8] = len(data).to_bytes(3, "big")
        self.s.sendall(bytes(bhs) + _pad(data))

    def seq(self, bhs, advance_statsn=True):
        """StatSN, ExpCmdSN and MaxCmdSN into a response BHS."""
        bhs[24:28] = struct.pack(">I", self.statsn)
        if advance_statsn:
            self.statsn = (self.statsn + 1) & 0xFFFFFFFF
        bhs[28:32] = struct.pack(">I", self.expcmdsn)
        bhs[32:36] = struct.pack(">I", (self.expcmdsn + 31) & 0xFFFFFFFF)

    def note_cmdsn(self, req):
        cmdsn = struct.unpack(">I", req[24:28])[0]
        # Immediate commands (all the initiator sends here) do not advance ExpCmdSN.
        self.expcmdsn = cmdsn if req[0] & 0x40 else (cmdsn + 1) & 0xFFFFFFFF

    # --- login ---
    def login_rsp(self, req, flags, status, pairs):
        bhs = bytearray(48)
        bhs[0] = OP_LOGIN_RSP
        bhs[1] = flags
        bhs[2] = 0  # VersionMax
        bhs[3] = 0  # VersionActive
        bhs[8:14] = req[8:14]  # ISID
        bhs[14:16] = struct.pack(">H", self.tsih)
        bhs[16:20] = req[16:20]  # ITT
        self.seq(bhs)
        bhs[36] = status >> 8
        bhs[37] = status & 0xFF
        self.send_pdu(bhs, encode_keys(pairs))

    def fail_login(self, req, status, why):
        self.t._event(self, "login-failed", status=status, why=why)
        self.login_rsp(req, 0, status, [])
        raise EOFError  # the target closes the connection after a failed login

    def login(self, req, data):
        flags = req[1]
        transit = bool(flags & FLAG_T)
        csg = (flags >> 2) & 3
        nsg = flags & 3
        keys, pairs = parse_keys(data)
        self.keys.update(keys)
        self.note_cmdsn(req)
        self.t._event(self, "login", csg=csg, nsg=nsg, transit=transit, keys=pairs)
        if flags & FLAG_C:
            self.fail_login(req, ST_INVALID_DURING_LOGIN, "continued login PDUs are not taken")
        if b"SessionType" in keys and self.session_type is None:
            self.session_type = keys[b"SessionType"]
        if self.session_type is None and b"SessionType" not in keys:
            self.session_type = b"Normal"  # RFC 7143: the default
        if self.t.mode == "fail-login":
            self.fail_login(req, self.t.fail_status, "told to fail")
        if self.session_type == b"Normal":
            if keys.get(b"TargetName", self.keys.get(b"TargetName")) not in \
                    [_b(n) for n in self.t.normal_targets]:
                self.fail_login(req, ST_NOT_FOUND, "no such target for a normal session")
        elif self.session_type != b"Discovery":
            self.fail_login(req, ST_SESSION_TYPE, "unknown session type")
        if b"InitiatorName" not in self.keys:
            self.fail_login(req, ST_MISSING_PARAM, "no InitiatorName")

        if csg == STAGE_SEC:
            self.login_security(req, keys, transit, nsg)
        elif csg == STAGE_OP:
            if self.t.chap and self.chap_state != "done":
                self.fail_login(req, ST_AUTH_FAILED, "CHAP is required, the security stage was "
                                "skipped")
            self.login_operational(req, keys, transit, nsg)
        else:
            self.fail_login(req, ST_INVALID_DURING_LOGIN, "bad CSG %d" % csg)

    def login_security(self, req, keys, transit, nsg):
        chap = self.t.chap
        if b"AuthMethod" in keys:
            offered = keys[b"AuthMethod"].split(b",")
            if chap:
                if b"CHAP" not in offered:
                    self.fail_login(req, ST_AUTH_FAILED, "CHAP required, not offered")
                # Answer the method and stay in the security stage.
                self.login_rsp(req, (STAGE_SEC << 2), ST_OK, [("AuthMethod", "CHAP")])
                return
            if b"None" not in offered:
                self.fail_login(req, ST_AUTH_FAILED, "only AuthMethod=None here")
            self.stage = STAGE_OP
            self.login_rsp(req, FLAG_T | (STAGE_SEC << 2) | STAGE_OP, ST_OK,
                           [("AuthMethod", "None")])
            return
        if b"CHAP_A" in keys and chap:
            if b"5" not in keys[b"CHAP_A"].split(b","):
                self.fail_login(req, ST_AUTH_FAILED, "CHAP_A without MD5 (5)")
            self.chap_i = _rand.randrange(256)
            self.chap_c = os.urandom(16)
            self.chap_state = "challenged"
            self.login_rsp(req, (STAGE_SEC << 2), ST_OK,
                           [("CHAP_A", "5"), ("CHAP_I", str(self.chap_i)),
                            ("CHAP_C", "0x" + self.chap_c.hex())])
            return
        if b"CHAP_N" in keys and self.chap_state == "challenged":
            try:
                got = _hex_value(keys.get(b"CHAP_R", b""))
            except ValueError:
                got = b""
            user, secret = chap
            want = chap_response(self.chap_i, secret, self.chap_c)
            if keys[b"CHAP_N"] != _b(user) or got != want:
                self.t._event(self, "chap", ok=False, user=keys[b"CHAP_N"])
                self.fail_login(req, ST_AUTH_FAILED, "CHAP_N or CHAP_R wrong")
            self.t._event(self, "chap", ok=True, user=keys[b"CHAP_N"])
            answer = []
            if b"CHAP_I" in keys or b"CHAP_C" in keys:  # mutual CHAP: prove ourselves
                if not self.t.mutual:
                    self.fail_login(req, ST_AUTH_FAILED, "mutual CHAP asked, none configured")
                tuser, tsecret = self.t.mutual
                try:
                    ic = _hex_value(keys.get(b"CHAP_C", b""))
                    ii = int(keys.get(b"CHAP_I", b"-1"))
                except ValueError:
                    self.fail_login(req, ST_AUTH_FAILED, "bad CHAP_I/CHAP_C from the initiator")
                answer = [("CHAP_N", tuser), ("CHAP_R", "0x" + chap_response(ii, tsecret, ic).hex())]
            elif self.t.mutual and self.t.require_mutual:
                self.fail_login(req, ST_AUTH_FAILED, "mutual CHAP required, not asked")
            self.chap_state = "done"
            self.stage = STAGE_OP
            if transit and nsg == STAGE_FFP:
                nsg = STAGE_OP  # go through the operational stage all the same
            self.login_rsp(req, FLAG_T | (STAGE_SEC << 2) | STAGE_OP, ST_OK, answer)
            return
        self.fail_login(req, ST_AUTH_FAILED, "unexpected security keys %r" % sorted(keys))

    def login_operational(self, req, keys, transit, nsg):
        answer = []
        fixed = {
            b"HeaderDigest": b"None", b"DataDigest": b"None",
            b"MaxRecvDataSegmentLength": b"65536", b"DefaultTime2Wait": b"2",
            b"DefaultTime2Retain": b"0", b"ErrorRecoveryLevel": b"0", b"IFMarker": b"No",
            b"OFMarker": b"No", b"MaxConnections": b"1",
        }
        for k, v in fixed.items():
            if k in keys:
                answer.append((k, v))
        if b"HeaderDigest" in self.keys and (b"HeaderDigest", b"None") not in answer:
            answer.append((b"HeaderDigest", b"None"))
        if not transit or nsg != STAGE_FFP:
            self.login_rsp(req, (STAGE_OP << 2), ST_OK, answer)
            return
        self.tsih = 1 + _rand.randrange(0xFFFE)
        self.stage = STAGE_FFP
        self.t._event(self, "logged-in", session_type=self.session_type)
        self.login_rsp(req, FLAG_T | (STAGE_OP << 2) | STAGE_FFP, ST_OK, answer)

    # --- full feature phase ---
    def text(self, req, data):
        self.note_cmdsn(req)
        keys, pairs = parse_keys(data)
        self.t._event(self, "text", keys=pairs)
        if self.t.text_delay:
            self.t._stopping.wait(self.t.text_delay)
        reply = self.t.reply
        if callable(reply):
            reply = reply(self)
        bhs = bytearray(48)
        bhs[0] = OP_TEXT_RSP
        bhs[1] = FLAG_F
        bhs[16:20] = req[16:20]
        bhs[20:24] = b"\xff\xff\xff\xff"
        self.seq(bhs)
        if keys.get(b"SendTargets") is None:
            reply = b""
        self.send_pdu(bhs, _b(reply))

    def logout(self, req):
        self.note_cmdsn(req)
        self.t._event(self, "logout")
        bhs = bytearray(48)
        bhs[0] = OP_LOGOUT_RSP
        bhs[1] = FLAG_F
        bhs[2] = 0  # closed successfully
        bhs[16:20] = req[16:20]
        self.seq(bhs)
        self.send_pdu(bhs)

    def nop(self, req, data):
        self.note_cmdsn(req)
        if req[16:20] == b"\xff\xff\xff\xff":
            return
        bhs = bytearray(48)
        bhs[0] = OP_NOP_IN
        bhs[1] = FLAG_F
        bhs[8:16] = req[8:16]
        bhs[16:20] = req[16:20]
        bhs[20:24] = b"\xff\xff\xff\xff"
        self.seq(bhs)
        self.send_pdu(bhs, data)

    def reject(self, req, reason=0x04):
        bhs = bytearray(48)
        bhs[0] = OP_REJECT
        bhs[1] = FLAG_F
        bhs[2] = reason
        bhs[16:20] = b"\xff\xff\xff\xff"
        self.seq(bhs)
        self.send_pdu(bhs, req)

    def run(self):
        self.t._event(self, "connect")
        if self.t.mode == "close":
            return
        if self.t.mode == "garbage":
            self.recv_exact(48)
            self.s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" + b"\0" * 48)
            return
        while True:
            req, data = self.recv_pdu()
            op = req[0] & 0x3F
            if self.stage != STAGE_FFP:
                if op != OP_LOGIN:
                    raise EOFError  # a protocol error during login: drop the connection
                self.login(req, data)
            elif op == OP_TEXT and self.session_type == b"Discovery":
                self.text(req, data)
            elif op == OP_LOGOUT:
                self.logout(req)
                return
            elif op == OP_NOP_OUT:
                self.nop(req, data)
            else:
                self.t._event(self, "rejected", opcode=op)
                self.reject(req)


class FakeTarget:
    """mode: "ok" (default); "close" (accept and close at once: not iSCSI); "garbage" (answer the
    first PDU with HTTP bytes); "fail-login" (every login gets fail_status).
    chap: None or (user, secret) the initiator must prove; mutual: None or (user, secret) this
    target answers mutual CHAP with (required too with require_mutual). normal_targets: names a
    Normal session may log in to (and out of; nothing else is served). Both session types get
    the same CHAP. reply: the SendTargets data segment
    (bytes, or a callable taking the connection and returning bytes). text_delay: seconds to
    wait before answering a Text request."""

    def __init__(self, reply=b"", chap=None, mutual=None, mode="ok", text_delay=0.0,
                 fail_status=ST_NOT_FOUND, host="127.0.0.1", normal_targets=(),
                 require_mutual=False):
        self.reply = reply
        self.chap = chap
        self.mutual = mutual
        self.require_mutual = require_mutual
        self.normal_targets = list(normal_targets)
        self.mode = mode
        self.text_delay = text_delay
        self.fail_status = fail_status
        self.events = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._conns = set()
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((host, 0))
        self.ls.listen(64)
        self.host = host
        self.port = self.ls.getsockname()[1]
        self.portal = "%s:%d" % (host, self.port)
        self._thread = None

    def _event(self, conn, kind, **kw):
        with self._lock:
            self.events.append(dict(kind=kind, peer=conn.peer if conn else None, **kw))

    def events_of(self, kind):
        with self._lock:
            return [e for e in self.events if e["kind"] == kind]

    def clear(self):
        with self._lock:
            self.events = []

    def _serve_one(self, s, peer):
        c = _Conn(self, s, peer)
        try:
            c.run()
        except (EOFError, OSError) as e:
            if not isinstance(e, EOFError) and not self._stopping.is_set():
                self._event(c, "error", error=str(e))
        except Exception as e:  # a bug here must show in the test's output, not hang it
            self._event(c, "error", error=repr(e))
            print("fake_target: %r" % e, file=sys.stderr, flush=True)
        finally:
            with self._lock:
                self._conns.discard(s)
            try:
                s.close()
            except OSError:
                pass

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                s, peer = self.ls.accept()
            except OSError:
                return
            s.settimeout(30)
            with self._lock:
                self._conns.add(s)
            threading.Thread(target=self._serve_one, args=(s, peer), daemon=True).start()

    def start(self):
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()
        try:
            self.ls.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.ls.close()
        with self._lock:
            conns = list(self._conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread:
            self._thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --- self-test against the daemon's checks API (meson: integration.fake-target) ---

def _selftest(binary):
    import json
    import shutil
    import tempfile

    from ifd import Daemon
    from wire import check, failures

    work = tempfile.mkdtemp(prefix="ifd-faketgt.")
    d = None
    try:
        d = Daemon(binary, work)
        st, _, _ = d.call("POST", "/api/v1/ifaces",
                          {"name": "lo0", "transport_name": "tcp", "net_ifacename": "lo"})
        check(st == 201, "an iface bound to lo (%d)" % st)

        def run_check(t, **extra):
            body = {"portal": t.portal, "steps": ["tcp", "iscsi"], "timeout_ms": 5000}
            body.update(extra)
            st, _, res = d.call("POST", "/api/v1/ifaces/lo0/checks", body)
            if st != 200:
                return st, None, res
            step = [s for s in res["steps"] if s["step"] == "iscsi"][0]
            return st, step, res

        names = [("iqn.2026-12.test:disk1", ["127.0.0.1:3260,1"]),
                 ("iqn.2026-12.test:disk2", ["127.0.0.1:3260,1", "[::1]:3261,2"])]
        with FakeTarget(reply=sendtargets(names)) as t:
            st, step, res = run_check(t)
            got = step and {x["name"]: sorted(x["portals"]) for x in step.get("targets", [])}
            want = {n: sorted(a) for n, a in names}
            check(step and step["status"] == "ok" and got == want,
                  "a discovery session without CHAP: SendTargets lists %r (%s)"
                  % (got, json.dumps(res)[:400]))
            kinds = [e["kind"] for e in t.events]
            check("logged-in" in kinds and "text" in kinds and "logout" in kinds,
                  "the target saw login, text and logout: %s" % kinds)
            texts = t.events_of("text")
            check(texts and texts[0]["keys"] == [(b"SendTargets", b"All")],
                  "the Text request was SendTargets=All")
            logins = t.events_of("login")
            check(any((b"SessionType", b"Discovery") in e["keys"] for e in logins),
                  "the login said SessionType=Discovery")

        hostile = [(b"iqn.2026-12.test:../../etc/passwd", [b"127.0.0.1:3260,1"]),
                   (b"iqn.2026-12.test:a\nb\xff\xfe", [b"evil.example.com:3260,1"])]
        with FakeTarget(reply=sendtargets(hostile)) as t:
            st, step, res = run_check(t)
            names_got = step and [x["name"] for x in step.get("targets", [])]
            check(step is not None and step["status"] == "ok" and len(names_got) == 2,
                  "hostile bytes reach the initiator as they are: %r" % (names_got,))

        with FakeTarget(reply=sendtargets(names), chap=("duser", "dsecret-123456")) as t:
            st, step, _ = run_check(t, discovery_chap={"username": "duser",
                                                       "password": "dsecret-123456"})
            check(step and step["status"] == "ok" and len(step.get("targets", [])) == 2,
                  "discovery CHAP with the right secret: %s" % (step and step["status"]))
            check([e["ok"] for e in t.events_of("chap")] == [True], "the target checked CHAP")
            t.clear()
            st, step, _ = run_check(t, discovery_chap={"username": "duser",
                                                       "password": "wrong-secret-99"})
            check(step and step["status"] == "failed" and step["reason"] == "auth-failed",
                  "a wrong secret: auth-failed (%s %s)"
                  % (step and step["status"], step and step["reason"]))
            t.clear()
            st, step, _ = run_check(t)
            check(step and step["status"] == "failed" and step["reason"] == "auth-failed",
                  "no CHAP where it is required: auth-failed (%s)" % (step and step["reason"]))

        # The check logs in to a target after the discovery: mutual CHAP on that login.
        with FakeTarget(reply=sendtargets(names), chap=("duser", "dsecret-123456"),
                        mutual=("tuser", "tsecret-654321"),
                        normal_targets=["iqn.2026-12.test:disk1"]) as t:
            chap = {"username": "duser", "password": "dsecret-123456"}
            mchap = dict(chap, username_in="tuser", password_in="tsecret-654321")
            st, step, _ = run_check(t, discovery_chap=chap, target="iqn.2026-12.test:disk1",
                                    chap=mchap)
            check(step and step["status"] == "ok" and step["login"]["status"] == "ok",
                  "a normal login with mutual CHAP: ok (%r)"
                  % ((step and (step["status"], step.get("hint"), step.get("login"))),))
            check([e["session_type"] for e in t.events_of("logged-in")] ==
                  [b"Discovery", b"Normal"], "a discovery, then a normal session")
            t.clear()
            st, step, _ = run_check(t, discovery_chap=chap, target="iqn.2026-12.test:disk1",
                                    chap=dict(mchap, password_in="not-the-target-secret"))
            check(step and step["status"] == "failed" and step["reason"] == "auth-failed",
                  "the target proving a wrong mutual secret: auth-failed (%s)"
                  % (step and step["reason"]))
            st, step, _ = run_check(t, discovery_chap=chap, target="iqn.2026-12.test:nope")
            check(step and step["status"] == "failed",
                  "a login to an unknown target fails (%s)" % (step and step["reason"]))

        with FakeTarget(mode="close") as t:
            st, step, _ = run_check(t)
            check(step and step["status"] == "failed" and step["reason"] == "not-iscsi",
                  "a port that closes at once: not-iscsi (%s)" % (step and step["reason"]))

        rc = d.stop()
        check(rc == 0, "the daemon stops cleanly (exit %d)" % rc)
        d = None
    finally:
        if d:
            d.kill()
        shutil.rmtree(work, ignore_errors=True)
    print("fake-target: %d failure(s)" % failures())
    return 1 if failures() else 0


def _serve(args):
    chap = None
    targets = []
    while args:
        a = args.pop(0)
        if a == "--chap":
            chap = tuple(args.pop(0).split(":", 1))
        else:
            name, _, addr = a.partition("=")
            targets.append((name, [addr]))
    t = FakeTarget(reply=sendtargets(targets), chap=chap).start()
    print(t.port, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        t.stop()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        sys.exit(_serve(sys.argv[2:]))
    from ifd import in_private_netns
    rc = in_private_netns()
    if rc is not None:
        sys.exit(rc)
    sys.exit(_selftest(os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                                       else os.environ["IFACED_BIN"])))
