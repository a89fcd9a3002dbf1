#!/bin/bash
# SPDX-License-Identifier: MIT
# Smoke test of the target lane: brings up tests/target/target-up.sh, proves discovery, login,
# CHAP, mutual CHAP and interface binding against it from the initiator namespace, then proves
# that tests/target/target-down.sh leaves nothing behind.
#
# usage: tests/target/smoke.sh        (meson: meson test -C build --suite target)
#   environment: the TARGET_* knobs of tests/target/target-up.sh (defaults: TARGET_NAME=ifdtgt,
#                TARGET_NET=215, state in ${TMPDIR:-/tmp}/iscsi-ifaced-target/ifdtgt)
# Prints one PASS: or FAIL: line per check. Exit 0 all passed, 1 a check failed, 77 skip (not
# root, no network namespaces, or tgt / libiscsi-bin missing and not installable).
# Runs of this script with the same TARGET_NAME are serialised by a lock next to the state dir.
set -euo pipefail

HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)
T0=$(date +%s%N)

export TARGET_NAME=${TARGET_NAME:-ifdtgt}
export TARGET_NET=${TARGET_NET:-215}
export TARGET_RUN=${TARGET_RUN:-${TMPDIR:-/tmp}/iscsi-ifaced-target}
export TARGET_STATE=${TARGET_STATE:-$TARGET_RUN/$TARGET_NAME}
LOCK=${TARGET_RUN}.${TARGET_NAME}.lock

el() { local d=$((($(date +%s%N) - T0) / 10000000)); printf '%d.%02d' $((d / 100)) $((d % 100)); }
log() { printf '[target-smoke %6ss] %s\n' "$(el)" "$*"; }
skip() {
        echo "SKIP: $*"
        exit 77
}

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, veths, tgtd)"
command -v ip >/dev/null || skip "no ip (iproute2)"
command -v python3 >/dev/null || skip "no python3 (SO_BINDTODEVICE probe)"
unshare -n true 2>/dev/null || skip "cannot create a network namespace"

# ---------------------------------------------------------------- packages
need=()
command -v tgtd >/dev/null && command -v tgtadm >/dev/null || need+=(tgt)
for t in iscsi-ls iscsi-inq iscsi-perf; do
        command -v "$t" >/dev/null || {
                need+=(libiscsi-bin)
                break
        }
done
if [ ${#need[@]} -gt 0 ]; then
        command -v apt-get >/dev/null || skip "${need[*]} missing and no apt-get"
        APTLOG=$(mktemp "${TMPDIR:-/tmp}/target-smoke-apt.XXXXXX")
        log "apt-get install ${need[*]} (log: $APTLOG)"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >"$APTLOG" 2>&1; then
                apt-get update >>"$APTLOG" 2>&1 || true
                DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" \
                        >>"$APTLOG" 2>&1 || skip "cannot install ${need[*]}: $(tail -n 1 "$APTLOG")"
        fi
        rm -f "$APTLOG"
        for t in tgtd tgtadm iscsi-ls iscsi-inq iscsi-perf; do
                command -v "$t" >/dev/null || skip "$t still missing after installing ${need[*]}"
        done
fi

# ---------------------------------------------------------------- lock, cleanup
mkdir -p "$(dirname "$LOCK")"
exec 9>"$LOCK"
if ! flock -w 200 9; then
        echo "FAIL: another run of tests/target/smoke.sh holds $LOCK for more than 200 s"
        exit 1
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/target-smoke.XXXXXX")
BG_PID=
DOWN_DONE=0
teardown() {
        "$HERE/target-down.sh" >>"$W/down.log" 2>&1 || true
        rm -rf -- "$TARGET_STATE"
}
cleanup() {
        local rc=$?
        trap - EXIT
        if [ -n "$BG_PID" ]; then
                kill "$BG_PID" 2>/dev/null || true
                wait "$BG_PID" 2>/dev/null || true
        fi
        if [ "$DOWN_DONE" = 0 ]; then
                teardown
        fi
        rm -rf -- "$W"
        exit "$rc"
}
# On a signal, meson (or a shell) may SIGKILL the whole process group half a second later, so
# the teardown runs detached in a session of its own; it inherits fd 9 and so holds the lock
# until it is done. A run killed outright with SIGKILL is cleaned up by the next run (below).
# The trap may run while a check's output is redirected into a file of $W, hence fd 7, a copy
# of the original stdout.
on_signal() {
        trap - EXIT INT TERM HUP
        echo "FAIL: interrupted (exit $1); tests/target/target-down.sh runs in the background" >&7
        [ -n "$BG_PID" ] && kill "$BG_PID" 2>/dev/null
        # shellcheck disable=SC2016 # $1..$3 are expanded by the inner bash
        setsid -f bash -c '"$1" >/dev/null 2>&1; rm -rf -- "$2" "$3"' teardown \
                "$HERE/target-down.sh" "$TARGET_STATE" "$W" </dev/null >/dev/null 2>&1 7>&-
        exit "$1"
}
exec 7>&1
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

FAILS=0
PASSES=0
pass() {
        echo "PASS: $*"
        PASSES=$((PASSES + 1))
}
fail() {
        echo "FAIL: $*"
        FAILS=$((FAILS + 1))
}
# show FILE: the start of a failed check's output, indented, for the error log. (head first: a
# reader that stops early would kill the writer with SIGPIPE, which pipefail + set -e turn fatal.)
show() { head -n 20 "$1" | sed 's/^/    | /' || true; }

# ---------------------------------------------------------------- up
# Leftovers of a run that was killed outright (SIGKILL) would make target-up.sh reuse them.
"$HERE/target-down.sh" >"$W/pre-down.log" 2>&1 || true
# fds 7 and 9 closed: tgtd must hold neither the caller's stdout (meson would wait for its EOF)
# nor the lock.
if ! "$HERE/target-up.sh" >"$W/up.log" 2>&1 7>&- 9>&-; then
        fail "tests/target/target-up.sh"
        show "$W/up.log"
        exit 1
fi
pass "tests/target/target-up.sh ($(el) s)"
# shellcheck disable=SC1091
. "$TARGET_STATE/env"
export TGT_IPC_SOCKET
TGTADM=(tgtadm -C "$CTRL_PORT" --lld iscsi)
# ini CMD...: run CMD in the initiator namespace, killed after 20 s so that a hang is a failure.
# --foreground keeps it in our process group, so a signal to the group reaches it.
ini() { timeout --foreground -k 2 20 ip netns exec "$INI_NS" "$@"; }
# run OUT CMD...: run CMD, output (both streams) into OUT, return its exit code.
run() {
        local out=$1
        shift
        "$@" >"$out" 2>&1
}
URL_CHAP="iscsi://${CHAP_USER}%${CHAP_PASS}@${PORTAL}/${IQN_CHAP}/1"

# ---------------------------------------------------------------- 1. discovery
lists_both() { grep -Fx "Target:${IQN_OPEN} Portal:${PORTAL},1" "$1" >/dev/null &&
        grep -Fx "Target:${IQN_CHAP} Portal:${PORTAL},1" "$1" >/dev/null; }
if run "$W/ls" ini iscsi-ls "iscsi://$PORTAL" && lists_both "$W/ls"; then
        pass "discovery: iscsi-ls iscsi://$PORTAL lists $IQN_OPEN and $IQN_CHAP"
else
        fail "discovery: iscsi-ls iscsi://$PORTAL"
        show "$W/ls"
fi

# ---------------------------------------------------------------- 2. binding to path B
if run "$W/lsb" ini env LIBISCSI_BIND_INTERFACES="$INI_IF_B" iscsi-ls "iscsi://$PORTAL" && lists_both "$W/lsb"; then
        pass "bound discovery: LIBISCSI_BIND_INTERFACES=$INI_IF_B iscsi-ls lists both targets"
else
        fail "bound discovery: LIBISCSI_BIND_INTERFACES=$INI_IF_B iscsi-ls"
        show "$W/lsb"
fi

# Routing: unbound traffic to the VIP takes path A, traffic out of path B gets B's address.
route_is() { # route_is OUT DEV SRC: the `ip route get` answer in OUT names DEV and SRC
        grep -E " dev $2 " "$1" >/dev/null && grep -E " src $3( |\$)" "$1" >/dev/null
}
if run "$W/rt" ip -n "$INI_NS" route get "$VIP" && route_is "$W/rt" "$INI_IF_A" "$INI_ADDR_A" &&
        run "$W/rtb" ip -n "$INI_NS" route get "$VIP" oif "$INI_IF_B" && route_is "$W/rtb" "$INI_IF_B" "$INI_ADDR_B"; then
        pass "routes: $VIP unbound via $INI_IF_A src $INI_ADDR_A, oif $INI_IF_B src $INI_ADDR_B"
else
        fail "routes to $VIP in $INI_NS"
        show "$W/rt"
        if [ -e "$W/rtb" ]; then show "$W/rtb"; fi
fi

# A plain TCP socket with SO_BINDTODEVICE (what libiscsi and iscsiadm do before connect()).
# Prints "bound=<dev> local=<addr>", or "connect failed: ..." and exits 2.
BINDPROBE='
import socket, sys
dev, host, port, tmo = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
s.settimeout(tmo)
try:
    s.connect((host, port))
except OSError as e:
    print("connect failed: %s" % (e.strerror or e.__class__.__name__))
    sys.exit(2)
bound = s.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16).split(b"\0")[0].decode()
print("bound=%s local=%s" % (bound, s.getsockname()[0]))
s.close()
'
if run "$W/probe" ini python3 -c "$BINDPROBE" "$INI_IF_B" "$VIP" "$PORT" 10 &&
        grep -Fx "bound=$INI_IF_B local=$INI_ADDR_B" "$W/probe" >/dev/null; then
        pass "SO_BINDTODEVICE $INI_IF_B -> $PORTAL connects from $INI_ADDR_B"
else
        fail "SO_BINDTODEVICE $INI_IF_B -> $PORTAL"
        show "$W/probe"
fi
# Bound to B, path A's own address is unreachable: the target has arp_ignore=1, so a port that
# cannot reach a portal really fails (about 3 s of ARP).
rc=0
run "$W/probe-a" ini python3 -c "$BINDPROBE" "$INI_IF_B" "${PORTAL_A%:*}" "$PORT" 8 || rc=$?
if [ "$rc" = 2 ] && grep '^connect failed' "$W/probe-a" >/dev/null; then
        pass "SO_BINDTODEVICE $INI_IF_B -> $PORTAL_A fails ($(cat "$W/probe-a"))"
else
        fail "SO_BINDTODEVICE $INI_IF_B -> $PORTAL_A should fail (rc $rc)"
        show "$W/probe-a"
fi

# The target's view of a live session: which initiator address does tgtd see? iscsi-perf keeps a
# session open for up to 15 s; we poll `tgtadm --op show` until the I_T nexus of our initiator
# name appears, then stop it. Unbound must show path A, bound to B must show path B: so the
# check would notice a binding that was silently ignored (libiscsi only logs a failed bind).
# nexus_ip INITIATOR: the "IP Address" of that initiator's first connection, if any.
nexus_ip() {
        "${TGTADM[@]}" --mode target --op show 2>/dev/null | awk -v ini="$1" '
                $1 == "Initiator:" { mine = ($2 == ini) }
                mine && $1 == "IP" && $2 == "Address:" { print $3; exit }'
}
# session_ip LABEL [BIND_IF]: sets SESSION_IP to the address tgtd saw for a session, or "".
# iscsi-perf is started directly (no function, no subshell), so BG_PID is its `timeout`, which
# passes our SIGTERM on to iscsi-perf.
SESSION_IP=
session_ip() {
        local iqn="iqn.2024-01.test.${NAME}:smoke-$1" envs=()
        [ -n "${2:-}" ] && envs=(LIBISCSI_BIND_INTERFACES="$2")
        SESSION_IP=
        timeout --foreground -k 2 20 ip netns exec "$INI_NS" env "${envs[@]}" \
                iscsi-perf -i "$iqn" -m 1 -t 15 "iscsi://$PORTAL/$IQN_OPEN/1" >"$W/perf-$1" 2>&1 &
        BG_PID=$!
        for _ in $(seq 100); do
                SESSION_IP=$(nexus_ip "$iqn")
                [ -n "$SESSION_IP" ] && break
                kill -0 "$BG_PID" 2>/dev/null || break
                sleep 0.1
        done
        [ -n "$SESSION_IP" ] || SESSION_IP=$(nexus_ip "$iqn")
        kill "$BG_PID" 2>/dev/null || true
        wait "$BG_PID" 2>/dev/null || true
        BG_PID=
}
session_ip unbound
if [ "$SESSION_IP" = "$INI_ADDR_A" ]; then
        pass "target sees an unbound session from $SESSION_IP (path A)"
else
        fail "target should see an unbound session from $INI_ADDR_A, saw '$SESSION_IP'"
        show "$W/perf-unbound"
fi
session_ip bound "$INI_IF_B"
if [ "$SESSION_IP" = "$INI_ADDR_B" ]; then
        pass "target sees a session bound to $INI_IF_B from $SESSION_IP (path B)"
else
        fail "target should see a session bound to $INI_IF_B from $INI_ADDR_B, saw '$SESSION_IP'"
        show "$W/perf-bound"
fi

# ---------------------------------------------------------------- 3. CHAP
if run "$W/open" ini iscsi-inq "iscsi://$PORTAL/$IQN_OPEN/1" && grep 'DIRECT_ACCESS' "$W/open" >/dev/null; then
        pass "login + INQUIRY on the open target $IQN_OPEN"
else
        fail "login + INQUIRY on the open target $IQN_OPEN"
        show "$W/open"
fi
# expect_login_fail LABEL PATTERN URL: iscsi-inq must fail with PATTERN in its output.
expect_login_fail() {
        local rc=0 out="$W/inq-${1//[^A-Za-z0-9]/_}"
        run "$out" ini iscsi-inq "$3" || rc=$?
        if [ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$rc" != 137 ] && grep -F "$2" "$out" >/dev/null; then
                pass "$1: login fails (rc $rc, \"$2\")"
        else
                fail "$1: login should fail with \"$2\" (rc $rc)"
                show "$out"
        fi
}
expect_login_fail "CHAP target without credentials" "Authentication failure" "iscsi://$PORTAL/$IQN_CHAP/1"
expect_login_fail "CHAP target with a wrong password" "Authentication failure" \
        "iscsi://${CHAP_USER}%wrong${CHAP_PASS}@${PORTAL}/${IQN_CHAP}/1"
if run "$W/chap" ini iscsi-inq "$URL_CHAP" && grep 'DIRECT_ACCESS' "$W/chap" >/dev/null; then
        pass "CHAP target with the right credentials: login + INQUIRY"
else
        fail "CHAP target with the right credentials"
        show "$W/chap"
fi
if run "$W/mchap" ini iscsi-inq "${URL_CHAP}?target_user=${MCHAP_USER}&target_password=${MCHAP_PASS}" &&
        grep 'DIRECT_ACCESS' "$W/mchap" >/dev/null; then
        pass "mutual CHAP with the right target secret: login + INQUIRY"
else
        fail "mutual CHAP with the right target secret"
        show "$W/mchap"
fi
expect_login_fail "mutual CHAP with a wrong target secret" "Invalid CHAP_R" \
        "${URL_CHAP}?target_user=${MCHAP_USER}&target_password=wrong${MCHAP_PASS}"
if run "$W/mchapb" ini env LIBISCSI_BIND_INTERFACES="$INI_IF_B" iscsi-inq \
        "${URL_CHAP}?target_user=${MCHAP_USER}&target_password=${MCHAP_PASS}" &&
        grep 'DIRECT_ACCESS' "$W/mchapb" >/dev/null; then
        pass "mutual CHAP bound to $INI_IF_B: login + INQUIRY"
else
        fail "mutual CHAP bound to $INI_IF_B"
        show "$W/mchapb"
fi

# ---------------------------------------------------------------- 4. down
DOWN_DONE=1
if "$HERE/target-down.sh" >"$W/down.log" 2>&1; then
        pass "tests/target/target-down.sh"
else
        fail "tests/target/target-down.sh"
        show "$W/down.log"
fi
left=$(ip netns list | awk -v a="$TGT_NS" -v b="$INI_NS" '$1 == a || $1 == b { print $1 }')
links=$(ip -o link show | awk -F': ' -v p="${NAME}-" 'index($2, p) == 1 { print $2 }')
tgtds=$(pgrep -f "tgtd -f -C $CTRL_PORT( |\$)" || true)
if [ -z "$left" ] && [ -z "$links" ] && [ -z "$tgtds" ] && [ ! -e "$TARGET_STATE" ]; then
        pass "nothing left: no netns $TGT_NS/$INI_NS, no ${NAME}-* link, no tgtd -C $CTRL_PORT, no state dir"
else
        fail "left behind: netns '${left//$'\n'/ }' links '${links//$'\n'/ }'" \
                "tgtd '${tgtds//$'\n'/ }' state '$(ls -d "$TARGET_STATE" 2>/dev/null)'"
        teardown
fi

log "$PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]
