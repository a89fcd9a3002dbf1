#!/bin/bash
# SPDX-License-Identifier: MIT
# End-to-end tests of the web UI (docs/ui.md) in Debian's chromium, driven by playwright-core
# (tests/ui/e2e.mjs). Starts the real daemon on an ephemeral loopback port with a temp state,
# --auth on and --web-root at the source tree's web/, makes a viewer, an operator and an admin
# token with `iscsi-ifaced token create`, then runs e2e.mjs against it.
#
# As root, the daemon and the browser run in a network namespace of their own (ip netns) with
# lo up, a global address on lo (the checks' link step wants one on the bound NIC) and a veth
# pair (ifdui0, 10.211.78.1/24, and its peer ifdui1) to bind an iface to; otherwise in the host's namespace with lo.
#
# usage: tests/ui/run.sh [DAEMON]      (meson: meson test -C build ui.e2e --print-errorlogs)
#   DAEMON: the built daemon (default: $IFACED_BIN, which meson sets)
#   environment: UI_SCREENSHOTS=1 writes docs/screenshots/<view>.png (desktop width);
#                UI_WEB_ROOT=DIR serves DIR instead of the source tree's web/;
#                UI_KEEP=DIR copies the daemon's log to DIR at exit
# Prints one PASS: or FAIL: line per check. Exit 0 all passed, 1 a check failed, 77 skip (chromium
# or node missing and not installable).
set -euo pipefail

HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)
SRC=${SOURCE_ROOT:-$(cd "$HERE/../.." && pwd -P)}
BIN=${1:-${IFACED_BIN:-}}
WEB=${UI_WEB_ROOT:-$SRC/web}
CHROMIUM=/usr/bin/chromium
T0=$(date +%s%N)

el() { local d=$((($(date +%s%N) - T0) / 10000000)); printf '%d.%02d' $((d / 100)) $((d % 100)); }
log() { printf '[ui %6ss] %s\n' "$(el)" "$*"; }
skip() {
        echo "SKIP: $*"
        exit 77
}
die() {
        echo "FAIL: $*"
        exit 1
}

if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
        die "no daemon: pass its path as the argument or in IFACED_BIN (got '$BIN')"
fi
BIN=$(readlink -f "$BIN")

# ---------------------------------------------------------------- packages
# apt_install PKG...: as root only (meson runs us unprivileged on some machines: then skip).
apt_install() {
        local aptlog
        [ "$(id -u)" = 0 ] || return 1
        command -v apt-get >/dev/null 2>&1 || return 1
        aptlog=$(mktemp "${TMPDIR:-/tmp}/ui-apt.XXXXXX")
        log "apt-get install $* (log: $aptlog)"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" \
                >"$aptlog" 2>&1; then
                apt-get update >>"$aptlog" 2>&1 || true
                if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
                        "$@" >>"$aptlog" 2>&1; then
                        tail -n 3 "$aptlog"
                        rm -f "$aptlog"
                        return 1
                fi
        fi
        rm -f "$aptlog"
}
if [ ! -x "$CHROMIUM" ]; then
        apt_install chromium || skip "chromium is missing and cannot be installed"
        [ -x "$CHROMIUM" ] || skip "no $CHROMIUM after installing chromium"
fi
if ! command -v node >/dev/null 2>&1; then
        # Debian's npm depends on Debian's nodejs; a node from elsewhere brings its own npm.
        apt_install nodejs npm || skip "node is missing and nodejs cannot be installed"
fi
if ! command -v npm >/dev/null 2>&1 && [ ! -f "$HERE/node_modules/.ifd-lock.sha256" ]; then
        apt_install npm || skip "npm is missing and cannot be installed (needed once for npm ci)"
fi
# npm ci from the lock file, unless node_modules already matches it (the registry is reachable;
# a failure here is a failure, not a skip).
"$HERE/npm-ci.sh" || die "tests/ui/npm-ci.sh failed (npm ci from tests/ui/package-lock.json)"

# ---------------------------------------------------------------- what must exist
# The help is read whole first: under pipefail, grep -q leaving early fails the pipe.
help=$("$BIN" --help 2>&1)
grep -q -- '--web-root' <<<"$help" ||
        die "$BIN has no --web-root option (docs/ui.md: the daemon serves web/)"
[ -f "$WEB/index.html" ] || die "no $WEB/index.html (docs/ui.md: the app is web/)"

# ---------------------------------------------------------------- cleanup
W=$(mktemp -d "${TMPDIR:-/tmp}/ui-e2e.XXXXXX")
chmod 0755 "$W"
NS=
DPID=
NPID=
# stop_pid PID: SIGTERM, SIGKILL after 5 s.
stop_pid() {
        local pid=$1
        kill -TERM "$pid" 2>/dev/null || return 0
        for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
}
cleanup() {
        local rc=$? p
        trap - EXIT INT TERM
        [ -n "$NPID" ] && stop_pid "$NPID"
        [ -n "$DPID" ] && stop_pid "$DPID"
        if [ -n "$NS" ]; then
                # Whatever is left in the namespace was started by this run (a browser whose
                # driver died): by pid.
                for p in $(ip netns pids "$NS" 2>/dev/null); do
                        kill -KILL "$p" 2>/dev/null || true
                done
                ip netns del "$NS" 2>/dev/null || true
        fi
        if [ -n "${UI_KEEP:-}" ]; then
                mkdir -p "$UI_KEEP" && cp -f "$W/daemon.log" "$UI_KEEP/" 2>/dev/null || true
        fi
        rm -rf "$W"
        log "done (exit $rc)"
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# ---------------------------------------------------------------- network namespace
RUN=()
NIC=lo
NETNS=0
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null 2>&1 && ip netns add "ifdui$$" 2>/dev/null; then
        NS=ifdui$$
        RUN=(ip netns exec "$NS")
        # A veth pair rather than a dummy link: some kernels here have no dummy driver. The peer
        # has no address, so nothing on 10.211.78.0/24 but ifdui0 itself ever answers.
        { "${RUN[@]}" ip link set lo up &&
                "${RUN[@]}" ip addr add 10.211.77.1/32 dev lo &&
                "${RUN[@]}" ip link add ifdui0 type veth peer name ifdui1 &&
                "${RUN[@]}" ip addr add 10.211.78.1/24 dev ifdui0 &&
                "${RUN[@]}" ip link set ifdui1 up &&
                "${RUN[@]}" ip link set ifdui0 up; } || die "cannot set up the network namespace $NS"
        NIC=ifdui0
        NETNS=1
        log "network namespace $NS: lo (127.0.0.1, 10.211.77.1), ifdui0 (10.211.78.1/24, veth to ifdui1)"
else
        log "no network namespace (not root or no ip netns): the host's lo"
fi

# ---------------------------------------------------------------- tokens, daemon
mkdir -p "$W/iscsi" "$W/lock" "$W/tmp" "$W/home"
chmod 0700 "$W/iscsi" "$W/lock"
for role in viewer operator admin; do
        (umask 077 && "$BIN" token create --role "$role" --name "ui-$role" --db "$W/db" \
                >"$W/token.$role" 2>>"$W/tokens.log") || die "token create --role $role: $(cat "$W/tokens.log")"
done
"${RUN[@]}" "$BIN" --listen 127.0.0.1:0 --port-file "$W/port" --auth on --web-root "$WEB" \
        --iscsi-root "$W/iscsi" --db "$W/db" --lock-dir "$W/lock" \
        --iscsid-conf "" --log-level info 2>"$W/daemon.log" &
DPID=$!
for _ in $(seq 250); do
        [ -s "$W/port" ] && break
        kill -0 "$DPID" 2>/dev/null || break
        sleep 0.02
done
if [ ! -s "$W/port" ]; then
        tail -n 20 "$W/daemon.log"
        die "the daemon did not start"
fi
URL=http://127.0.0.1:$(cat "$W/port")
log "daemon $DPID on $URL, web root $WEB"

# ---------------------------------------------------------------- the browser tests
rc=0
"${RUN[@]}" env UI_URL="$URL" UI_TOKENS="$W" UI_NIC="$NIC" UI_NETNS="$NETNS" UI_SRC="$SRC" \
        UI_CHROMIUM="$CHROMIUM" UI_SCREENSHOTS="${UI_SCREENSHOTS:-0}" TMPDIR="$W/tmp" \
        HOME="$W/home" node "$HERE/e2e.mjs" &
NPID=$!
wait "$NPID" || rc=$?
NPID=
if ! kill -0 "$DPID" 2>/dev/null; then
        echo "FAIL: the daemon died during the tests"
        tail -n 20 "$W/daemon.log"
        rc=1
fi
if [ "$rc" -ne 0 ]; then
        log "daemon log (last 30 lines):"
        tail -n 30 "$W/daemon.log"
fi
log "suite time $(el) s"
exit "$rc"
