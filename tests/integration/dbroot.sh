#!/bin/bash
# SPDX-License-Identifier: MIT
# The real daemon started WITHOUT --iscsi-root picks the db root of the installed iscsiadm and
# logs which and why (docs/decisions.md, "The default iscsi root is the installed iscsiadm's"):
#   1. the compiled-in root of /usr/sbin/iscsiadm (the one `strings` shows); a record created
#      over HTTP is then listed by that iscsiadm;
#   2. with the binaries blanked out: an existing directory with iscsiadm's layout;
#   3. and without that layout: the fixed default.
# Everything runs in a private mount namespace with tmpfs over /etc/iscsi, /var/lib and /run/lock,
# so the host's db root is never touched (checked at the end). Needs root and unshare; else skip.
#
# usage: tests/integration/dbroot.sh IFACED_BIN     (meson: integration.dbroot)
set -euo pipefail

BIN=$(readlink -f "${1:-${IFACED_BIN:-}}")
SRC=${SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}

if [ "${DBROOT_IN_NS:-}" != 1 ]; then
        [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for a private mount namespace"; exit 77; }
        for t in unshare curl strings; do
                command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }
        done
        [ -x /usr/sbin/iscsiadm ] || { echo "SKIP: open-iscsi is not installed"; exit 77; }
        unshare -m --propagation private true 2>/dev/null ||
                { echo "SKIP: unshare -m does not work here"; exit 77; }
        snapshot() { ls -la --time-style=full-iso /etc/iscsi 2>&1; ls -ld /var/lib/iscsi 2>&1 || true; }
        before=$(snapshot)
        rc=0
        DBROOT_IN_NS=1 unshare -m --propagation private "$0" "$BIN" || rc=$?
        if [ "$before" != "$(snapshot)" ]; then
                echo "FAIL: the host's /etc/iscsi or /var/lib/iscsi changed"
                diff <(echo "$before") <(snapshot) || true
                exit 1
        fi
        echo "PASS: the host's /etc/iscsi and /var/lib/iscsi are unchanged"
        exit $rc
fi

# --- inside the private mount namespace ---------------------------------------------------------
W=$(mktemp -d "${TMPDIR:-/tmp}/ifd-dbroot.XXXXXX")
. "$(dirname "$(readlink -f "$0")")/lib.sh"
BLANKED=()
cleanup() {
        if [ -n "$PID" ]; then kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; fi
        for b in "${BLANKED[@]}"; do
                umount "$b" 2>/dev/null || true
        done
        rm -rf "$W" || true
}
trap cleanup EXIT

mount -t tmpfs -o mode=0755 tmpfs /etc/iscsi
mount -t tmpfs -o mode=0755 tmpfs /var/lib
mount -t tmpfs -o mode=0755 tmpfs /run/lock
mkdir -p /run/lock/iscsi "$W/db"

up() { # [ARGS...]: start the daemon (no --iscsi-root unless given); 1 if it did not come up
        start --listen 127.0.0.1:0 --port-file "$W/port" --auth off --db "$W/db/ifaced.db" \
                --sysfs-root "$SRC/tests/fixtures/sysfs/tcp" "$@"
}
logged() { grep -F "iscsi root $1" "$W/log" >/dev/null; }
chosen() { # WHAT LINE: the daemon starts without --iscsi-root and logs "iscsi root LINE"
        if up; then
                logged "$2" && pass "logged: $(grep -o "iscsi root .*" "$W/log" | head -n 1)" ||
                        fail "$1: $(cat "$W/log")"
                stop
        else
                fail "did not start with $1: $(cat "$W/log")"
        fi
}

# 1. The compiled-in root, as `strings` reads it from the installed binary.
want=$(strings -a /usr/sbin/iscsiadm | sed -n 's|^\(/.*\)/ifaces$|\1|p' | sort -u)
if [ "$(echo "$want" | wc -l)" -ne 1 ] || [ -z "$want" ]; then
        echo "SKIP: /usr/sbin/iscsiadm does not name exactly one <root>/ifaces: [$want]"
        exit 77
fi
mkdir -p "$want"
if up; then
        if logged "$want: the compiled-in path of /usr/sbin/iscsiadm"; then
                pass "logged: $(grep -o "iscsi root .*" "$W/log" | head -n 1)"
        else
                fail "no 'iscsi root $want: the compiled-in path of /usr/sbin/iscsiadm' in: $(cat "$W/log")"
        fi
        st=$(rcurl -H 'Content-Type: application/json' -d '{"name":"dbroot0","net_ifacename":"lo"}' \
                -X POST "http://127.0.0.1:$(cat "$W/port")/api/v1/ifaces")
        [ "$st" = 201 ] || fail "POST /api/v1/ifaces: $st"
        [ -f "$want/ifaces/dbroot0" ] && pass "the record is written to $want/ifaces/" ||
                fail "no $want/ifaces/dbroot0"
        if /usr/sbin/iscsiadm -m iface 2>&1 | grep -q '^dbroot0 '; then
                pass "iscsiadm -m iface lists it"
        else
                fail "iscsiadm -m iface does not list it: $(/usr/sbin/iscsiadm -m iface 2>&1)"
        fi
        stop
else
        fail "did not start without --iscsi-root: $(cat "$W/log")"
fi

# 2. No binary says (every candidate blanked by a bind mount): an existing dir with the layout.
: >"$W/blank"
for b in /usr/sbin/iscsiadm /sbin/iscsiadm /usr/lib64/libopeniscsiusr.so.0 \
        /usr/lib/*/libopeniscsiusr.so.0 /usr/lib/libopeniscsiusr.so.0; do
        [ -e "$b" ] || continue
        b=$(readlink -f "$b")
        mountpoint -q "$b" && continue # /sbin -> usr/sbin: already blanked
        mount --bind "$W/blank" "$b"
        BLANKED+=("$b")
done
rm -rf /etc/iscsi/* /etc/iscsi/.iscsi-ifaced "$W/db"/*
mkdir -p /var/lib/iscsi/nodes
chosen "the layout fallback" "/var/lib/iscsi: an existing directory with iscsiadm's layout (nodes/); no installed iscsiadm or libopeniscsiusr names its db root (/usr/sbin/iscsiadm names no db root"

# 3. No layout anywhere: the fixed default (/etc/iscsi, open-iscsi's own default).
rm -rf /var/lib/iscsi "$W/db"/*
chosen "the fixed default" "/etc/iscsi: the fixed default; no installed iscsiadm or libopeniscsiusr names its db root"

# --iscsi-root wins, and says so.
mkdir -p "$W/given"
# (The help is read whole first: `--help | grep -q` under pipefail fails when grep leaves before
# the help's last write.)
HELP=$("$BIN" --help)
if grep -q "compiled-in root of the" <<<"$HELP"; then
        pass "--help describes the detection"
else
        fail "--help: $("$BIN" --help | grep -A3 iscsi-root)"
fi
rm -rf "$W/db"/*
if up --iscsi-root "$W/given"; then
        logged "$W/given: given by --iscsi-root" && pass "logged: iscsi root given by --iscsi-root" ||
                fail "--iscsi-root: $(cat "$W/log")"
        stop
else
        fail "did not start with --iscsi-root: $(cat "$W/log")"
fi
contract_verdict
[ "$fails" -eq 0 ]
