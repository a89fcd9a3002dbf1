#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A stand-in for iscsiadm over a fake sysfs tree, for tests/integration/sessions.py (the host
kernel has no iSCSI; the VM lane has the real one). It reads fake-iscsiadm.json next to itself:

  {"sysfs": DIR, "log": FILE, "targets": {IQN: {"sid": N, "rc": 0, "sleep": 0.0}}}

`-m node -T t -p p -I i --login` sleeps, then with rc 0 makes session N appear (with "later":
S, exits 15 at once and makes it appear S seconds later, as iscsid finishing an earlier login;
with "late": S, it appears S seconds after the call whatever becomes of it) (the class links
of session N and its connection, staged in the tree by the test), and exits rc; a session that is
there already gives 15, as iscsiadm does. `--logout` (by node or `-m session -r N`) removes them
(21 when there is none; with "logout_sleep": S, it returns S seconds after the session went);
`-m session -r N -s` prints counters as iscsiadm 2.1.8 does. Every call appends {"argv", "env", "pid", "start", "end"} to the log."""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CFG = json.load(open(os.path.join(HERE, "fake-iscsiadm.json")))
SYSFS = CFG["sysfs"]


def links(sid):
    return [os.path.join(SYSFS, "class/iscsi_session/session%d" % sid),
            os.path.join(SYSFS, "class/iscsi_connection/connection%d:0" % sid)]


def present(sid):
    return os.path.lexists(links(sid)[0])


def login(sid):
    for link in links(sid):
        staged = link + ".staged"  # the link target, staged by the test
        os.symlink(open(staged).read().strip(), link)


def logout(sid):
    for link in links(sid):
        if os.path.lexists(link):
            os.unlink(link)


def arg(flag):
    a = sys.argv
    return a[a.index(flag) + 1] if flag in a else None


def main():
    entry = {"argv": sys.argv, "env": dict(os.environ), "pid": os.getpid(), "start": time.time()}
    with open(CFG["log"], "a") as f:
        f.write(json.dumps(entry) + "\n")
    rc = 0
    if "--login" in sys.argv:
        t = CFG["targets"].get(arg("-T"), {})
        sid = t.get("sid", 0)
        if "late" in t and os.fork() == 0:
            # As iscsid finishing a login after iscsiadm was killed: the session comes later.
            os.setsid()
            if os.fork() == 0:
                time.sleep(t["late"])
                login(sid)
            os._exit(0)
        if "late" in t:
            os.wait()
        time.sleep(t.get("sleep", 0))
        if sid and present(sid) and "late" not in t:
            rc = 15
        elif "later" in t:
            # As iscsid still at an earlier login of the path: 15 now, the session a bit later.
            rc = 15
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(t["later"])
                    login(sid)
                os._exit(0)
            os.wait()
        else:
            rc = t.get("rc", 0)
            if rc == 0 and sid:
                login(sid)
        print("Logging in to [iface: %s, target: %s, portal: %s]" % (arg("-I"), arg("-T"),
                                                                     arg("-p")))
        if rc == 24:
            print("iscsiadm: Could not login to [iface: %s, target: %s, portal: %s]." %
                  (arg("-I"), arg("-T"), arg("-p")))
            print("iscsiadm: initiator reported error (24 - iSCSI login failed due to "
                  "authorization failure)")
    elif "--logout" in sys.argv:
        if arg("-m") == "session":
            sid = int(arg("-r"))
        else:
            sid = CFG["targets"].get(arg("-T"), {}).get("sid", 0)
        if sid and present(sid):
            logout(sid)
            print("Logout of [sid: %d] successful." % sid)
            # "logout_sleep": S, the session gone from sysfs S seconds before iscsiadm returns.
            time.sleep(next((t.get("logout_sleep", 0) for t in CFG["targets"].values()
                             if t.get("sid") == sid), 0))
        else:
            print("iscsiadm: No matching sessions found")
            rc = 21
    elif "-s" in sys.argv and arg("-m") == "session":
        sid = int(arg("-r"))
        if present(sid):
            print("Stats for session [sid: %d, target: t, portal: 127.0.0.1,3260]" % sid)
            print("iSCSI SNMP:")
            for k, v in (("txdata_octets", 4096), ("rxdata_octets", 123456), ("digest_err", 0),
                         ("timeout_err", 2)):
                print("\t%s: %d" % (k, v))
            print("\tbogus line without a number")
            print("iSCSI Extended:")
            print("\ttx_sendpage_failures: 0")
            print("\teh_abort_cnt: 1")
        else:
            print("iscsiadm: No session found.")
            rc = 21
    else:
        rc = 7
    with open(CFG["log"], "a") as f:
        f.write(json.dumps({"pid": os.getpid(), "end": time.time(), "rc": rc}) + "\n")
    sys.exit(rc)


main()
