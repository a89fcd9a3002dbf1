#!/bin/bash
# SPDX-License-Identifier: MIT
# TLS and listener policy of the real daemon (docs/security.md): a handshake against a test CA
# with a token, plain HTTP refused on the TLS port, the certificate reloaded on SIGHUP (and a bad
# pair on SIGHUP keeping the old one), a key that does not match refused at start, and the
# non-loopback policy (refused without TLS and auth, allowed with them or with --insecure, which
# then shows in health). The non-loopback listeners live in a network namespace of their own.
#
# usage: tests/integration/tls.sh IFACED_BIN     (meson: integration.tls)
set -euo pipefail

BIN=${1:-${IFACED_BIN:-}}
[ -x "$BIN" ] || {
        echo "usage: $0 IFACED_BIN"
        exit 2
}
BIN=$(readlink -f "$BIN")
command -v openssl >/dev/null || {
        echo "SKIP: no openssl"
        exit 77
}

W=$(mktemp -d "${TMPDIR:-/tmp}/ifd-tls.XXXXXX")
NS=ifdtls$$
PIDS=()
cleanup() {
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
        for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
        ip netns del "$NS" 2>/dev/null || true
        rm -rf "$W"
}
trap cleanup EXIT
. "$(dirname "$(readlink -f "$0")")/lib.sh"

# ---------------------------------------------------------------- a test CA and two server certs
cd "$W"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=ifd test CA" \
        -keyout ca.key -out ca.pem 2>/dev/null
for n in 1 2; do
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=ifd server $n" \
                -keyout s$n.key -out s$n.csr 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,IP:10.250.0.1\n' >ext
        openssl x509 -req -in s$n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
                -extfile ext -out s$n.pem 2>/dev/null
done
cp s1.pem cert.pem
cp s1.key key.pem
mkdir -p st/iscsi st/lock && chmod 700 st st/iscsi st/lock

TOKEN=$("$BIN" token create --role viewer --name tls --db st/db 2>/dev/null)

# start_daemon LOG ARGS...: start in the background, wait for the port file.
start_daemon() {
        local log=$1
        shift
        rm -f st/port
        "$@" --port-file st/port --iscsi-root st/iscsi --db st/db --lock-dir st/lock >"$log" 2>&1 &
        PIDS+=($!)
        for _ in $(seq 200); do
                [ -s st/port ] && return 0
                kill -0 "${PIDS[-1]}" 2>/dev/null || return 1
                sleep 0.02
        done
        return 1
}

subject_served() {
        openssl s_client -connect "127.0.0.1:$1" -CAfile ca.pem </dev/null 2>/dev/null |
                openssl x509 -noout -subject 2>/dev/null | sed 's/.*CN *= *//'
}

# ---------------------------------------------------------------- handshake, plain HTTP refused
start_daemon tls.log "$BIN" --listen 127.0.0.1:0 --tls-cert cert.pem --tls-key key.pem ||
        {
                cat tls.log
                exit 1
        }
P=$(cat st/port)
st=$(rcurl --cacert ca.pem -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$P/api/v1/health")
[ "$st" = 200 ] && pass "TLS handshake against the test CA, token accepted (200)" ||
        fail "TLS GET health: $st"
st=$(rcurl --cacert ca.pem "https://127.0.0.1:$P/api/v1/health")
[ "$st" = 401 ] && pass "over TLS without a token: 401" || fail "TLS without token: $st"
if curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$P/api/v1/health"; then
        fail "plain HTTP on the TLS port was answered"
else
        pass "plain HTTP on the TLS port is refused (curl exit $?)"
fi
if curl -s -o /dev/null --max-time 5 "https://127.0.0.1:$P/api/v1/health"; then
        fail "a client that does not trust the CA got through"
else
        pass "a client without the CA fails verification"
fi
[ "$(subject_served "$P")" = "ifd server 1" ] && pass "serves certificate 1" ||
        fail "serves '$(subject_served "$P")', want 'ifd server 1'"

# ---------------------------------------------------------------- reload on SIGHUP
cp s2.pem cert.pem
cp s2.key key.pem
kill -HUP "${PIDS[-1]}"
for _ in $(seq 100); do
        grep -F "reloaded the TLS certificate" tls.log >/dev/null && break
        sleep 0.02
done
[ "$(subject_served "$P")" = "ifd server 2" ] && pass "SIGHUP: serves certificate 2" ||
        fail "after SIGHUP serves '$(subject_served "$P")'"
# A mismatched pair on SIGHUP: the old one stays, and the log says why.
cp s1.key key.pem
kill -HUP "${PIDS[-1]}"
for _ in $(seq 100); do
        grep -F "keeping the old TLS certificate" tls.log >/dev/null && break
        sleep 0.02
done
grep -F "keeping the old TLS certificate" tls.log | grep -F "does not belong" >/dev/null &&
        pass "SIGHUP with a key of another certificate: kept the old pair, logged why" ||
        fail "bad reload not reported: $(tail -n 3 tls.log)"
[ "$(subject_served "$P")" = "ifd server 2" ] && pass "still serves certificate 2" ||
        fail "after a bad SIGHUP serves '$(subject_served "$P")'"
st=$(rcurl --cacert ca.pem -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$P/api/v1/ifaces")
[ "$st" = 200 ] && pass "still answers over TLS" || fail "after a bad SIGHUP: $st"
kill "${PIDS[-1]}"
wait "${PIDS[-1]}" 2>/dev/null && pass "stops cleanly" || fail "exit status $? on SIGTERM"

# ---------------------------------------------------------------- start-time refusals
set +e
"$BIN" --listen 127.0.0.1:0 --tls-cert cert.pem --tls-key key.pem --iscsi-root st/iscsi \
        --db st/db --lock-dir st/lock >bad.log 2>&1
rc=$?
set -e
[ $rc -ne 0 ] && grep -F "does not belong to the certificate" bad.log >/dev/null &&
        pass "a key of another certificate is refused at start (exit $rc)" ||
        fail "mismatched pair at start: exit $rc: $(cat bad.log)"
cp s2.key key.pem

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add d0 type veth peer name d1
ip -n "$NS" link set d1 up
ip -n "$NS" addr add 10.250.0.1/24 dev d0
ip -n "$NS" link set d0 up

set +e
ip netns exec "$NS" "$BIN" --listen 10.250.0.1:0 --iscsi-root st/iscsi --db st/db \
        --lock-dir st/lock >remote.log 2>&1
rc=$?
set -e
[ $rc -eq 2 ] && grep -F "refusing to listen on '10.250.0.1:0'" remote.log >/dev/null &&
        pass "a non-loopback listener without TLS is refused (exit 2)" ||
        fail "non-loopback without TLS: exit $rc: $(cat remote.log)"
set +e
ip netns exec "$NS" "$BIN" --listen 10.250.0.1:0 --auth off --tls-cert cert.pem \
        --tls-key key.pem --iscsi-root st/iscsi --db st/db --lock-dir st/lock >remote2.log 2>&1
rc=$?
set -e
[ $rc -eq 2 ] && grep -F "auth is off" remote2.log >/dev/null &&
        pass "a non-loopback listener with TLS but auth off is refused (exit 2)" ||
        fail "non-loopback with auth off: exit $rc: $(cat remote2.log)"

start_daemon remote3.log ip netns exec "$NS" "$BIN" --listen 10.250.0.1:0 --tls-cert cert.pem \
        --tls-key key.pem || fail "TLS + auth on a non-loopback address did not start: $(cat remote3.log)"
P=$(cat st/port)
st=$(rcurl --netns "$NS" --cacert ca.pem -H "Authorization: Bearer $TOKEN" \
        "https://10.250.0.1:$P/api/v1/health")
[ "$st" = 200 ] && pass "TLS + auth on a non-loopback address: 200" || fail "remote TLS: $st"
kill "${PIDS[-1]}"
wait "${PIDS[-1]}" 2>/dev/null || true

start_daemon remote4.log ip netns exec "$NS" "$BIN" --listen 10.250.0.1:0 --insecure --auth off ||
        fail "--insecure did not start: $(cat remote4.log)"
P=$(cat st/port)
grep -F "INSECURE" remote4.log >/dev/null && pass "--insecure is logged loudly" ||
        fail "no INSECURE line: $(cat remote4.log)"
rcurl --netns "$NS" "http://10.250.0.1:$P/api/v1/health" >/dev/null || true
ins=$(jq -r .security.insecure "$RCURL_DIR/body")
[ "$ins" = true ] && pass "--insecure shows in health" || fail "health security.insecure: $ins"
kill "${PIDS[-1]}"
wait "${PIDS[-1]}" 2>/dev/null || true

contract_verdict
echo "tls: $fails failure(s)"
[ $fails -eq 0 ]
