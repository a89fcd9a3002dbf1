#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Run a command under the seccomp filter a unit's SystemCallFilter= and
RestrictAddressFamilies= would give it (package.deb, where systemd is not PID 1).

usage: seccomp-exec.py [--filter SPEC]... [--errno NAME] [--families "AF_X AF_Y"] -- CMD ARGS...

Each --filter is the value of one SystemCallFilter= line, applied in order as systemd applies
them: a list without "~" adds to the allowed calls, a list with "~" takes calls away. Groups
(@system-service, ...) are expanded with `systemd-analyze syscall-filter`, nested groups
included. A call outside the list fails with --errno (SystemCallErrorNumber=). --families allows
socket() only for those address families. Runs under /usr/bin/python3 for Debian's
python3-seccomp. Before the exec it proves the filter works: chown() (in @privileged) must fail
with EPERM when the filter takes it away; otherwise it exits 96.
"""
import errno
import os
import socket
import subprocess
import sys

import seccomp


def groups():
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], check=True,
                         capture_output=True, text=True).stdout
    table, cur = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            cur = table.setdefault(line.strip(), [])
        elif cur is not None and line.strip() and not line.strip().startswith("#"):
            cur.append(line.strip())
    return table


def expand(names, table, seen=None):
    seen = set() if seen is None else seen
    out = set()
    for n in names:
        if n.startswith("@"):
            if n in seen:
                continue
            seen.add(n)
            if n not in table:
                raise SystemExit("seccomp-exec: unknown group %s" % n)
            out |= expand(table[n], table, seen)
        else:
            out.add(n)
    return out


def main():
    args = sys.argv[1:]
    filters, err, families = [], "EPERM", None
    while args and args[0] != "--":
        opt = args.pop(0)
        val = args.pop(0)
        if opt == "--filter":
            filters.append(val)
        elif opt == "--errno":
            err = val
        elif opt == "--families":
            families = val.split()
        else:
            raise SystemExit("seccomp-exec: unknown option %s" % opt)
    if not args or len(args) < 2:
        raise SystemExit(__doc__)
    cmd = args[1:]

    table = groups()
    allowed = set()
    for f in filters:
        if f.startswith("~"):
            allowed -= expand(f[1:].split(), table)
        else:
            allowed |= expand(f.split(), table)

    flt = seccomp.SyscallFilter(defaction=seccomp.ERRNO(getattr(errno, err)))
    for name in sorted(allowed):
        if name == "socket" and families is not None:
            continue
        try:
            flt.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError, OSError):
            pass  # a call this architecture does not have
    if families is not None and "socket" in allowed:
        for fam in families:
            flt.add_rule(seccomp.ALLOW, "socket", seccomp.Arg(0, seccomp.EQ, getattr(socket, fam)))
    flt.load()

    if "chown" not in allowed:
        try:
            os.chown(sys.argv[0], os.stat(sys.argv[0]).st_uid, -1)
            print("seccomp-exec: chown() still works under the filter", file=sys.stderr)
            sys.exit(96)
        except PermissionError:
            pass
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
