#!/bin/bash
# SPDX-License-Identifier: MIT
# --config (docs/security.md, "Config file") with the real daemon: options from the file take
# effect, the command line given after it wins, repeated keys repeat, errors name the file, the
# line and the option, and packaging/iscsi-ifaced.conf itself parses.
#
# usage: tests/integration/config.sh IFACED_BIN     (meson: integration.config)
set -euo pipefail

BIN=$(readlink -f "${1:-${IFACED_BIN:-}}")
SRC=${SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
W=$(mktemp -d "${TMPDIR:-/tmp}/ifd-config.XXXXXX")
. "$(dirname "$(readlink -f "$0")")/lib.sh"
cleanup() {
        [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
        rm -rf "$W"
}
trap cleanup EXIT

mkdir -p "$W/iscsi" "$W/lock"
chmod 700 "$W" "$W/iscsi" "$W/lock"

cat >"$W/a.conf" <<CONF
# a comment, then blank lines and spaces around '='

listen = 127.0.0.1:0
listen=unix:$W/sock
port-file   =   $W/port
iscsi-root = $W/iscsi
db = $W/db
lock-dir = $W/lock
auth = off
idle-timeout = 7
log-level = debug
CONF

start --config "$W/a.conf" || fail "did not start with a.conf: $(cat "$W/log")"
P=$(cat "$W/port")
[ "$(rcurl "http://127.0.0.1:$P/api/v1/health")" = 200 ] &&
        pass "options from the file: TCP listener, auth off" || fail "health over TCP"
[ "$(rcurl --unix-socket "$W/sock" http://x/api/v1/health)" = 200 ] &&
        pass "a repeated key repeats: the unix listener too" || fail "health over the unix socket"
grep -F "listening on unix:$W/sock" "$W/log" >/dev/null && pass "both listeners logged" ||
        fail "log: $(cat "$W/log")"
# The file's listeners replace the default 127.0.0.1:8080 (the packaged config lists it itself:
# kept as well, it was bound twice and the unit's start failed with "Address already in use").
[ "$(grep -c "listening on" "$W/log")" = 2 ] && ! grep -F "listening on 127.0.0.1:8080" "$W/log" \
        >/dev/null && pass "the file's listeners replace the default one" ||
        fail "listeners: $(grep "listening on" "$W/log")"
stop

# The command line after --config wins: auth back on.
start --config "$W/a.conf" --auth on || fail "did not start: $(cat "$W/log")"
P=$(cat "$W/port")
[ "$(rcurl "http://127.0.0.1:$P/api/v1/health")" = 401 ] &&
        pass "--auth on after --config overrides the file's auth = off" || fail "override"
# Tokens made and revoked by the CLI while the daemon runs count at the next request.
TOKEN=$("$BIN" token create --role viewer --name cli --db "$W/db" 2>/dev/null)
code() { rcurl -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$P/api/v1/ifaces"; }
[ "$(code)" = 200 ] && [ "$(code)" = 200 ] && pass "a token created by the CLI works at once" ||
        fail "CLI token: $(code)"
"$BIN" token revoke "${TOKEN:4:12}" --db "$W/db" 2>/dev/null
[ "$(code)" = 401 ] && pass "a token revoked by the CLI is refused at the next request" ||
        fail "CLI revoke: $(code)"
"$BIN" token list --db "$W/db" | grep -E "^${TOKEN:4:12} +viewer .*Z +cli$" >/dev/null &&
        pass "token list shows it revoked, without its secret" ||
        fail "token list: $("$BIN" token list --db "$W/db")"
"$BIN" token list --db "$W/db" | grep -F -- "${TOKEN:17}" >/dev/null &&
        fail "token list shows a secret" || true
stop

expect_refusal() { # DESC PATTERN CONF-LINES...
        local desc=$1 pat=$2 rc
        shift 2
        printf '%s\n' "$@" >"$W/bad.conf"
        set +e
        "$BIN" --config "$W/bad.conf" --iscsi-root "$W/iscsi" --db "$W/db" --lock-dir "$W/lock" \
                >"$W/bad.log" 2>&1
        rc=$?
        set -e
        if [ $rc -eq 2 ] && grep -E -- "$pat" "$W/bad.log" >/dev/null; then
                pass "$desc (exit 2: $(head -n 1 "$W/bad.log"))"
        else
                fail "$desc: exit $rc: $(cat "$W/bad.log")"
        fi
}
expect_refusal "an unknown key names the file and the line" "bad.conf:2: unknown option" \
        "listen = 127.0.0.1:0" "colour = blue"
expect_refusal "a bad value names the option" "--auth: invalid value 'maybe'" "auth = maybe"
expect_refusal "a key without a value" "bad.conf:1: unknown option or missing value 'threads'" \
        "threads"
expect_refusal "no --config inside a config file" "no --config inside a config file" \
        "config = /etc/other.conf"
expect_refusal "a non-loopback listener from the file needs TLS" "refusing to listen on '10.1.2.3:8443'" \
        "listen = 10.1.2.3:8443"

# The example shipped in packaging/ parses (paths overridden to this test's).
if start --config "$SRC/packaging/iscsi-ifaced.conf" --listen 127.0.0.1:0 --port-file "$W/port" \
        --iscsi-root "$W/iscsi" --db "$W/db" --lock-dir "$W/lock"; then
        pass "packaging/iscsi-ifaced.conf parses and the daemon starts with it"
        stop
else
        fail "packaging/iscsi-ifaced.conf: $(cat "$W/log")"
fi

contract_verdict
echo "config: $fails failure(s)"
[ $fails -eq 0 ]
