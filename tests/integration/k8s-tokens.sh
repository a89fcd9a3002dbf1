#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# packaging/kubernetes/register-tokens.sh (the DaemonSet's init container), and so
# `iscsi-ifaced token import`, against the real daemon: a Secret's tokens work with their roles, a second run changes nothing, a rotated token
# revokes the old one, and a placeholder, an unknown role or a known id with another secret are
# refused without writing anything.
# Usage: k8s-tokens.sh PATH/TO/iscsi-ifaced   (SOURCE_ROOT from meson's test env)
set -euo pipefail

BIN=$(readlink -f "$1")
SCRIPT=${SOURCE_ROOT:-$(dirname "$0")/../..}/packaging/kubernetes/register-tokens.sh
W=$(mktemp -d)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
cleanup() {
        [ -n "$PID" ] && kill "$PID" 2>/dev/null
        rm -rf "$W"
}
trap cleanup EXIT

for c in sqlite3 curl openssl basenc; do
        command -v "$c" >/dev/null || {
                echo "SKIP: $c is missing"
                exit 77
        }
done
mkdir -p "$W/bin" "$W/tok" "$W/iscsi" "$W/lock"
ln -s "$BIN" "$W/bin/iscsi-ifaced"
DB=$W/ifaced.db
mk() { printf 'ifd_%s_%s\n' "$(openssl rand -hex 6)" "$(openssl rand 32 | basenc --base64url | tr -d =)"; }
reg() { PATH=$W/bin:$PATH sh "$SCRIPT" "$DB" "$W/tok" >>"$W/reg.log" 2>&1; }
rows() { sqlite3 "$DB" "SELECT count(*) FROM tokens; SELECT count(*) FROM audit" | tr '\n' ' '; }
# code TOKEN METHOD PATH: the HTTP status of one request.
code() {
        local body=()
        [ "$2" = POST ] && body=(-H 'Content-Type: application/json' -d '{"name":"k8s0"}')
        rcurl -H "Authorization: Bearer $1" -X "$2" "${body[@]}" "http://127.0.0.1:$(cat "$W/port")$3"
}
# expect CODE TOKEN METHOD PATH WHAT
expect() {
        local got
        got=$(code "$2" "$3" "$4")
        if [ "$got" = "$1" ]; then pass "$5 ($3 $4: $got)"; else fail "$5 ($3 $4: $got, not $1)"; fi
}
up() { start --listen 127.0.0.1:0 --port-file "$W/port" --iscsi-root "$W/iscsi" --db "$DB" \
        --lock-dir "$W/lock" --web-root ""; }

mk >"$W/tok/viewer.token"
mk >"$W/tok/operator.token"
V1=$(cat "$W/tok/viewer.token")
O=$(cat "$W/tok/operator.token")
if reg; then pass "register: two tokens"; else fail "register: $(cat "$W/reg.log")"; fi
before=$(rows)
if reg && [ "$(rows)" = "$before" ]; then
        pass "a second run changes nothing ($before)"
else
        fail "a second run: rows $before -> $(rows)"
fi

mk >"$W/tok/viewer.token"
V2=$(cat "$W/tok/viewer.token")
reg || fail "register the rotated viewer token: $(tail -n 2 "$W/reg.log")"

up || fail "daemon did not start: $(cat "$W/log")"
expect 200 "$V2" GET /metrics "the rotated viewer token reads"
expect 401 "$V1" GET /api/v1/whoami "the previous viewer token is revoked"
expect 403 "$V2" POST /api/v1/ifaces "a viewer token does not write"
expect 201 "$O" POST /api/v1/ifaces "the operator token writes"
stop
if "$BIN" token list --db "$DB" | grep -q 'k8s-secret:viewer' &&
        [ "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE kind = 'token' AND
                action = 'create' AND after LIKE '%imported'")" = 3 ] &&
        [ "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE kind = 'token' AND
                action = 'revoke'")" = 1 ]; then
        pass "named k8s-secret:<role>, three creates and one revoke audited"
else
        fail "token list or audit: $("$BIN" token list --db "$DB")"
fi

# No secret on a command line: the token goes by file, and no output repeats it.
if grep -qF -- "${V2:17}" "$W/reg.log"; then fail "a secret in the script's output"; else
        pass "no secret in the output of token import"; fi

# Refusals: nothing written.
before=$(rows)
printf 'REPLACE-WITH-A-VIEWER-TOKEN\n' >"$W/tok/viewer.token"
if ! reg && [ "$(rows)" = "$before" ]; then pass "a placeholder is refused"; else fail "placeholder"; fi
printf '%s\n' "$V2" >"$W/tok/viewer.token"
cp "$W/tok/operator.token" "$W/tok/root.token"
if ! reg && [ "$(rows)" = "$before" ]; then pass "an unknown role is refused"; else fail "role"; fi
rm "$W/tok/root.token"
printf '%s%s\n' "${V2:0:17}" "$(openssl rand 32 | basenc --base64url | tr -d =)" >"$W/tok/viewer.token"
if ! reg && [ "$(rows)" = "$before" ] && grep -q 'another secret' "$W/reg.log"; then
        pass "a known id with another secret is refused"
else
        fail "a known id with another secret: $(tail -n 1 "$W/reg.log")"
fi

contract_verdict
echo "k8s-tokens: $fails failure(s)"
[ "$fails" -eq 0 ]
