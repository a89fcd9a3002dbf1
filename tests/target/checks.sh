#!/bin/bash
# SPDX-License-Identifier: MIT
# The connectivity checks of docs/checks.md against a real target: brings up
# tests/target/target-up.sh (its own instance, so it can run next to smoke.sh), starts the daemon
# inside the initiator namespace, and checks single checks (path binding, seen from the target's
# packet counters too; discovery; CHAP and mutual CHAP; every failure reason the lane can
# produce; input errors) and jobs (100 items, Idempotency-Key, cancel).
#
# usage: tests/target/checks.sh [DAEMON]   (meson: meson test -C build --suite target)
#   DAEMON: the built daemon (default: $IFACED_BIN, which meson sets to build/server/iscsi-ifaced)
#   environment: the TARGET_* knobs of tests/target/target-up.sh (defaults here: TARGET_NAME=ifdchk,
#                TARGET_NET=217, state in ${TMPDIR:-/tmp}/iscsi-ifaced-target/ifdchk);
#                CHECKS_KEEP=DIR copies the responses (c-*, job*), daemon.log etc. to DIR at exit
# Prints one PASS: or FAIL: line per check. Exit 0 all passed, 1 a check failed, 77 skip (not
# root, no network namespaces, a tool missing, or tgt missing and not installable).
# Runs of this script with the same TARGET_NAME are serialised by a lock next to the state dir.
set -euo pipefail
# shellcheck source=tests/contract/record.sh
. "$(dirname "$(readlink -f "$0")")/../contract/record.sh"
# shellcheck disable=SC2016 # the jq expressions name jq variables ($f, $dev...), passed with --arg

HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)
T0=$(date +%s%N)

BIN=${1:-${IFACED_BIN:-}}
export TARGET_NAME=${TARGET_NAME:-ifdchk}
export TARGET_NET=${TARGET_NET:-217}
export TARGET_RUN=${TARGET_RUN:-${TMPDIR:-/tmp}/iscsi-ifaced-target}
export TARGET_STATE=${TARGET_STATE:-$TARGET_RUN/$TARGET_NAME}
LOCK=${TARGET_RUN}.${TARGET_NAME}.lock

el() { local d=$((($(date +%s%N) - T0) / 10000000)); printf '%d.%02d' $((d / 100)) $((d % 100)); }
log() { printf '[target-checks %6ss] %s\n' "$(el)" "$*"; }
skip() {
        echo "SKIP: $*"
        exit 77
}

if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
        echo "FAIL: no daemon: pass its path as the argument or in IFACED_BIN (got '$BIN')"
        exit 1
fi
BIN=$(readlink -f "$BIN")
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, veths, tgtd)"
for t in ip curl jq python3 setsid flock; do
        command -v "$t" >/dev/null || skip "no $t"
done
unshare -n true 2>/dev/null || skip "cannot create a network namespace"

# ---------------------------------------------------------------- packages
if ! command -v tgtd >/dev/null || ! command -v tgtadm >/dev/null; then
        command -v apt-get >/dev/null || skip "tgt missing and no apt-get"
        APTLOG=$(mktemp "${TMPDIR:-/tmp}/target-checks-apt.XXXXXX")
        log "apt-get install tgt (log: $APTLOG)"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tgt >"$APTLOG" 2>&1; then
                apt-get update >>"$APTLOG" 2>&1 || true
                DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tgt \
                        >>"$APTLOG" 2>&1 || skip "cannot install tgt: $(tail -n 1 "$APTLOG")"
        fi
        rm -f "$APTLOG"
        if ! command -v tgtd >/dev/null || ! command -v tgtadm >/dev/null; then
                skip "tgtd still missing after installing tgt"
        fi
fi

# ---------------------------------------------------------------- lock, cleanup
mkdir -p "$(dirname "$LOCK")"
exec 9>"$LOCK"
if ! flock -w 200 9; then
        echo "FAIL: another run with TARGET_NAME=$TARGET_NAME holds $LOCK for more than 200 s"
        exit 1
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/target-checks.XXXXXX")
DPID=       # the daemon (in the initiator namespace)
LPID=       # the non-iSCSI listener (in the target namespace)
BG_PIDS=()  # requests running in the background
INI_NS=     # set from the env file once the target is up
TGT_NS=
XI=         # the extra veth end in the initiator namespace, once made
DOWN_DONE=0
# stop_pid PID SECONDS: SIGTERM, then SIGKILL after SECONDS; returns 0 if it exited in time.
stop_pid() {
        local p=$1 n=$(($2 * 10)) rc=0
        kill "$p" 2>/dev/null || return 0
        for _ in $(seq "$n"); do
                kill -0 "$p" 2>/dev/null || break
                sleep 0.1
        done
        if kill -0 "$p" 2>/dev/null; then
                kill -9 "$p" 2>/dev/null || true
                rc=1
        fi
        wait "$p" 2>/dev/null || true
        return "$rc"
}
teardown() {
        local p
        for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
        if [ -n "$DPID" ]; then stop_pid "$DPID" 3 || true; fi
        if [ -n "$LPID" ]; then stop_pid "$LPID" 1 || true; fi
        DPID=
        LPID=
        if [ -n "$XI" ]; then ip -n "$INI_NS" link del "$XI" 2>/dev/null || true; fi
        "$HERE/target-down.sh" >>"$W/down.log" 2>&1 || true
        rm -rf -- "$TARGET_STATE"
}
cleanup() {
        local rc=$?
        trap - EXIT
        if [ "$DOWN_DONE" = 0 ]; then
                teardown
        fi
        if [ -n "${CHECKS_KEEP:-}" ]; then
                mkdir -p "$CHECKS_KEEP" && cp -a "$W/." "$CHECKS_KEEP/" || true
        fi
        rm -rf -- "$W"
        exit "$rc"
}
# On a signal, meson (or a shell) may SIGKILL the whole process group half a second later, so
# the teardown runs detached in a session of its own; it inherits fd 9 and so holds the lock
# until it is done. target-down.sh kills what is left in the two namespaces (the daemon, the
# listener) and deleting them removes every link of ours. A run killed outright with SIGKILL is
# cleaned up by the next run (below). fd 7 is a copy of the original stdout.
on_signal() {
        trap - EXIT INT TERM HUP
        echo "FAIL: interrupted (exit $1); tests/target/target-down.sh runs in the background" >&7
        if [ -n "$DPID" ]; then kill -9 "$DPID" 2>/dev/null || true; fi
        if [ -n "$LPID" ]; then kill -9 "$LPID" 2>/dev/null || true; fi
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
# show FILE: the start of a failed check's output, indented. (head first: a reader that stops
# early would kill the writer with SIGPIPE, which pipefail + set -e turn fatal.)
show() { head -c 3000 "$1" 2>/dev/null | head -n 30 | awk '{ print "    | " $0 }' || true; }

# ---------------------------------------------------------------- up
# Leftovers of a run that was killed outright (SIGKILL) would make target-up.sh reuse them.
"$HERE/target-down.sh" >"$W/pre-down.log" 2>&1 || true
# fds 7 and 9 closed: tgtd must hold neither the caller's stdout nor the lock.
if ! "$HERE/target-up.sh" >"$W/up.log" 2>&1 7>&- 9>&-; then
        fail "tests/target/target-up.sh"
        show "$W/up.log"
        exit 1
fi
pass "tests/target/target-up.sh ($(el) s)"
# shellcheck disable=SC1091
. "$TARGET_STATE/env"
export TGT_IPC_SOCKET
P=10.${NET}
NPORTALS=50
BH_NET=${P}.20         # black hole: routed via A's gateway, owned by nothing in the target ns
X_NET=${P}.30          # the extra veth pair (its initiator end is down)
XI=${NAME}-xi
XT=${NAME}-xt
NOT_ISCSI_PORT=3299    # a listener in the target ns that answers like a web server

# Extra portal addresses on the target's lo for the job (tgtd listens on 0.0.0.0), routed like
# the VIP: via A metric 10, via B metric 20.
for i in $(seq "$NPORTALS"); do echo "addr add ${P}.10.$i/32 dev lo"; done >"$W/tgt.batch"
for i in $(seq "$NPORTALS"); do
        echo "route replace ${P}.10.$i/32 via ${P}.1.1 dev $INI_IF_A metric 10"
        echo "route replace ${P}.10.$i/32 via ${P}.2.1 dev $INI_IF_B metric 20"
done >"$W/ini.batch"
echo "route replace ${BH_NET}.0/24 via ${P}.1.1 dev $INI_IF_A" >>"$W/ini.batch"
if ip -n "$TGT_NS" -batch "$W/tgt.batch" && ip -n "$INI_NS" -batch "$W/ini.batch" &&
        ip -n "$INI_NS" link add "$XI" type veth peer name "$XT" netns "$TGT_NS" &&
        ip -n "$INI_NS" addr add "${X_NET}.2/24" dev "$XI" &&
        ip -n "$TGT_NS" addr add "${X_NET}.1/24" dev "$XT" &&
        ip -n "$TGT_NS" link set "$XT" up && ip -n "$INI_NS" link set "$XI" down; then
        pass "extra topology: $NPORTALS portals ${P}.10.1-$NPORTALS, black hole ${BH_NET}.0/24 via A," \
                "veth $XI (down) <-> $XT ${X_NET}.1"
else
        fail "extra topology"
        exit 1
fi

# A TCP listener that answers any connection like a web server that did not like the request.
cat >"$W/not-iscsi.py" <<'EOF'
import socketserver, sys
class H(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(1)
        try:
            self.request.recv(4096)
        except OSError:
            pass
        try:
            self.request.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
        except OSError:
            pass
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
S(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
EOF
setsid ip netns exec "$TGT_NS" python3 "$W/not-iscsi.py" "$NOT_ISCSI_PORT" \
        </dev/null >"$W/not-iscsi.log" 2>&1 7>&- 9>&- &
LPID=$!

# ---------------------------------------------------------------- the daemon
D=$W/d
mkdir -m 0700 "$D" "$D/iscsi" "$D/lock"
ip netns exec "$INI_NS" "$BIN" --auth off --listen 127.0.0.1:0 --port-file "$D/port" --iscsi-root "$D/iscsi" \
        --db "$D/db.sqlite" --lock-dir "$D/lock" --log-level debug \
        </dev/null >"$W/daemon.log" 2>&1 7>&- 9>&- &
DPID=$!
for _ in $(seq 100); do
        [ -s "$D/port" ] && break
        kill -0 "$DPID" 2>/dev/null || break
        sleep 0.1
done
if ! [ -s "$D/port" ]; then
        fail "daemon did not start in $INI_NS"
        show "$W/daemon.log"
        exit 1
fi
URL=http://127.0.0.1:$(cat "$D/port")
pass "daemon listens on $URL in $INI_NS"

# api OUT METHOD PATH [BODY [CURL-ARGS...]]: one request from the initiator namespace. The body
# goes to OUT, the headers to OUT.h. Sets CODE (000 when curl failed), MS (curl's time_total in
# ms) and REQ (for messages).
CODE=000
MS=0
REQ=
api() {
        local out=$1 method=$2 path=$3 body=${4-} res
        shift 3
        if [ $# -gt 0 ]; then shift; fi
        local args=(-s -o "$out" -D "$out.h" -w '%{http_code} %{time_total}' -X "$method" --max-time 40)
        if [ -n "$body" ]; then args+=(-H 'Content-Type: application/json' --data-binary "$body"); fi
        REQ="$method $path${body:+ $body}"
        [ ${#REQ} -le 400 ] || REQ="${REQ:0:400}..."
        : >"$out"
        res=$(timeout --foreground -k 2 50 ip netns exec "$INI_NS" curl "${args[@]}" "$@" "$URL$path" 2>/dev/null) || true
        CODE=${res%% *}
        [ -n "$CODE" ] || CODE=000
        MS=$(awk -v t="${res#* }" 'BEGIN { printf "%d", t * 1000 }')
        [ -e "$out.h" ] || : >"$out.h"
        contract_record "$method" "$path" "$CODE" "$out.h" "$out" "target api"
}
location() { awk 'tolower($1) == "location:" { sub(/\r$/, "", $2); print $2 }' "$1.h"; }
# JQ helpers for the expressions below: step("tcp") is that step of a check result.
JQDEFS='def step($s): first(.steps[] | select(.step == $s));'
# expect LABEL OUT CODE JQ-EXPR [JQ-ARGS...]: pass if the last request answered CODE with a body
# for which JQ-EXPR is true.
expect() {
        local label=$1 out=$2 want=$3 expr=$4
        shift 4
        if [ "$CODE" = "$want" ] && jq -e "$@" "$JQDEFS $expr" "$out" >/dev/null 2>&1; then
                pass "$label"
        else
                fail "$label: HTTP $CODE (want $want), want $expr"
                echo "    request: $REQ"
                show "$out"
        fi
}
# check NAME IFACE BODY: POST /api/v1/ifaces/IFACE/checks, the result in $W/c-NAME.
check() { api "$W/c-$1" POST "/api/v1/ifaces/$2/checks" "$3"; }
rx() { ip -n "$TGT_NS" -s -j link show "$1" | jq '.[0].stats64.rx.packets'; }

# ---------------------------------------------------------------- ifaces
# pa and pb on paths A and B, pn on a NIC that does not exist, pd on the extra veth (down).
for spec in "pa $INI_IF_A" "pb $INI_IF_B" "pn nosuch0" "pd $XI"; do
        read -r n d <<<"$spec"
        api "$W/if-$n" POST /api/v1/ifaces "$(jq -nc --arg n "$n" --arg d "$d" \
                '{name: $n, transport_name: "tcp", net_ifacename: $d}')"
        expect "iface $n on $d created" "$W/if-$n" 201 '.name == $n and .net_ifacename == $d' \
                --arg n "$n" --arg d "$d"
done

# ---------------------------------------------------------------- 1. binding, seen by the target
# bound_check IFACE DEV SRC TGT_IF OTHER_TGT_IF: a check of IFACE to the VIP; the target's
# TGT_IF receives the packets, OTHER_TGT_IF about none.
bound_check() {
        local f=$1 dev=$2 src=$3 tin=$4 tother=$5 a0 b0 a1 b1
        a0=$(rx "$tin")
        b0=$(rx "$tother")
        check "$f" "$f" "$(jq -nc --arg p "$VIP" '{portal: $p}')"
        a1=$(rx "$tin")
        b1=$(rx "$tother")
        expect "check $f -> $VIP: status ok, steps link ping tcp iscsi all ok (${MS} ms)" "$W/c-$f" 200 \
                '.status == "ok" and .reason == null and .iface == $f and .portal == $portal and
                 [.steps[].step] == ["link", "ping", "tcp", "iscsi"] and all(.steps[]; .status == "ok")' \
                --arg f "$f" --arg portal "$PORTAL"
        expect "check $f: tcp and iscsi steps have device $dev and source_address $src" "$W/c-$f" 200 \
                '[step("tcp"), step("iscsi")] | all(.[]; .device == $dev and .source_address == $src)' \
                --arg dev "$dev" --arg src "$src"
        expect "check $f: link step on $dev, ping from $src" "$W/c-$f" 200 \
                'step("link").device == $dev and step("ping").source_address == $src' \
                --arg dev "$dev" --arg src "$src"
        if [ $((a1 - a0)) -ge 5 ] && [ $((b1 - b0)) -le 2 ]; then
                pass "check $f: the target received it on $tin (+$((a1 - a0)) packets), not on $tother (+$((b1 - b0)))"
        else
                fail "check $f: target rx packets $tin +$((a1 - a0)) (want >= 5), $tother +$((b1 - b0)) (want <= 2)"
        fi
}
bound_check pb "$INI_IF_B" "$INI_ADDR_B" "$TGT_IF_B" "$TGT_IF_A"
bound_check pa "$INI_IF_A" "$INI_ADDR_A" "$TGT_IF_A" "$TGT_IF_B"
CODE_PA=$CODE
expect "check pb: the iscsi step's discovery lists $IQN_OPEN and $IQN_CHAP" "$W/c-pb" 200 \
        'step("iscsi").targets | map(.name) | (any(. == $o) and any(. == $c))' \
        --arg o "$IQN_OPEN" --arg c "$IQN_CHAP"
check steps pb "$(jq -nc --arg p "$VIP" '{portal: $p, steps: ["iscsi", "tcp"]}')"
expect "check with steps [iscsi, tcp]: only those, in the order tcp, iscsi" "$W/c-steps" 200 \
        '.status == "ok" and [.steps[].step] == ["tcp", "iscsi"]'

# ---------------------------------------------------------------- 2. login and CHAP
SECRETS=("$CHAP_PASS" "$MCHAP_PASS" "wrong$CHAP_PASS" "wrong$MCHAP_PASS")
login_ok() { # login_ok NAME IFACE LABEL BODY
        check "$1" "$2" "$4"
        expect "$3: ok, login ok (${MS} ms)" "$W/c-$1" 200 \
                '.status == "ok" and step("iscsi").status == "ok" and
                 step("iscsi").login.status == "ok" and step("iscsi").login.target == $t' \
                --arg t "$(jq -r .target <<<"$4")"
}
login_auth_failed() { # login_auth_failed NAME IFACE LABEL BODY
        check "$1" "$2" "$4"
        expect "$3: failed, reason auth-failed in the iscsi step (${MS} ms)" "$W/c-$1" 200 \
                '.status == "failed" and .reason == "auth-failed" and
                 step("iscsi").status == "failed" and step("iscsi").reason == "auth-failed"'
}
chap_body() { # chap_body USER PASS [USER_IN PASS_IN]
        jq -nc --arg p "$VIP" --arg t "$IQN_CHAP" --arg u "$1" --arg pw "$2" \
                --arg ui "${3-}" --arg pi "${4-}" \
                '{portal: $p, target: $t, chap: ({username: $u, password: $pw} +
                  (if $ui != "" then {username_in: $ui, password_in: $pi} else {} end))}'
}
login_ok login-open pa "login to the open target $IQN_OPEN" \
        "$(jq -nc --arg p "$VIP" --arg t "$IQN_OPEN" '{portal: $p, target: $t}')"
login_ok chap pa "CHAP with the right password" "$(chap_body "$CHAP_USER" "$CHAP_PASS")"
login_ok mchap pa "mutual CHAP with the right secrets" \
        "$(chap_body "$CHAP_USER" "$CHAP_PASS" "$MCHAP_USER" "$MCHAP_PASS")"
login_ok mchap-b pb "mutual CHAP bound to pb" \
        "$(chap_body "$CHAP_USER" "$CHAP_PASS" "$MCHAP_USER" "$MCHAP_PASS")"
expect "mutual CHAP bound to pb: iscsi step from $INI_ADDR_B" "$W/c-mchap-b" 200 \
        'step("iscsi").device == $dev and step("iscsi").source_address == $src' \
        --arg dev "$INI_IF_B" --arg src "$INI_ADDR_B"
login_auth_failed chap-none pa "CHAP target without credentials" \
        "$(jq -nc --arg p "$VIP" --arg t "$IQN_CHAP" '{portal: $p, target: $t}')"
login_auth_failed chap-wrong pa "CHAP with a wrong password" "$(chap_body "$CHAP_USER" "wrong$CHAP_PASS")"
login_auth_failed mchap-wrong pa "mutual CHAP with a wrong target secret" \
        "$(chap_body "$CHAP_USER" "$CHAP_PASS" "$MCHAP_USER" "wrong$MCHAP_PASS")"
leaks=
for f in "$W"/c-*chap*; do
        for s in "${SECRETS[@]}"; do
                if grep -F -- "$s" "$f" >/dev/null; then leaks+=" ${f##*/}"; fi
        done
done
if [ -z "$leaks" ]; then
        pass "no CHAP password in any response (headers included)"
else
        fail "CHAP password echoed in:$leaks"
fi

# ---------------------------------------------------------------- 3. input errors
bad() { # bad NAME LABEL FIELD BODY [IFACE]: 400 naming FIELD ("" = any field)
        check "$1" "${5:-pa}" "$4"
        expect "$2 -> 400${3:+ field $3}" "$W/c-$1" 400 '$f == "" or .field == $f' --arg f "$3"
}
bad no-portal "missing portal" portal '{}'
bad name-portal "portal given as a name" portal '{"portal":"localhost"}'
bad tmo0 "timeout_ms 0" timeout_ms "$(jq -nc --arg p "$VIP" '{portal: $p, timeout_ms: 0}')"
bad tmo60001 "timeout_ms 60001" timeout_ms "$(jq -nc --arg p "$VIP" '{portal: $p, timeout_ms: 60001}')"
bad bad-step "unknown step" steps "$(jq -nc --arg p "$VIP" '{portal: $p, steps: ["link", "bogus"]}')"
bad chap-no-target "chap without target" "" \
        "$(jq -nc --arg p "$VIP" '{portal: $p, chap: {username: "u", password: "p"}}')"
check no-iface nosuchiface "$(jq -nc --arg p "$VIP" '{portal: $p}')"
# (a 404 counts only if the route exists: the same request for pa answered 200 above)
expect "check of an unknown iface -> 404" "$W/c-no-iface" 404 '$pa == "200"' --arg pa "$CODE_PA"

# ---------------------------------------------------------------- 4. failure reasons
# Three black-holed checks in the background, more than the daemon's 2 HTTP threads: a single
# check suspends its connection, so the daemon still answers at once.
for i in 2 3 4; do
        (
                check "bh$i" pa "$(jq -nc --arg p "${BH_NET}.$i" '{portal: $p, timeout_ms: 2000}')"
                echo "$CODE" >"$W/bh$i.code"
        ) &
        BG_PIDS+=("$!")
done
sleep 0.3
api "$W/ifaces-bh" GET /api/v1/ifaces
if [ "$CODE" = 200 ] && [ "$MS" -lt 1000 ]; then
        pass "GET /api/v1/ifaces while 3 single checks wait on a black hole: 200 in $MS ms"
else
        fail "GET /api/v1/ifaces while 3 single checks wait on a black hole: HTTP $CODE after $MS ms (want 200 within 1000 ms)"
        show "$W/ifaces-bh"
fi
check timeout pa "$(jq -nc --arg p "${BH_NET}.1" '{portal: $p, timeout_ms: 2000}')"
expect "black-holed portal ${BH_NET}.1, timeout_ms 2000: failed, reason timeout" "$W/c-timeout" 200 \
        '.status == "failed" and .reason == "timeout" and step("link").status == "ok"'
if [ "$CODE" = 200 ] && [ "$MS" -ge 1800 ] && [ "$MS" -le 2350 ]; then
        pass "black-holed portal: answered after $MS ms (timeout_ms 2000; want 1800-2350)"
else
        fail "black-holed portal: answered after $MS ms (HTTP $CODE; want 1800-2350 for timeout_ms 2000)"
fi
for p in "${BG_PIDS[@]}"; do wait "$p" || true; done
BG_PIDS=()
bh_bad=
for i in 2 3 4; do
        if [ "$(cat "$W/bh$i.code" 2>/dev/null)" != 200 ] ||
                ! jq -e '.status == "failed" and .reason == "timeout"' "$W/c-bh$i" >/dev/null 2>&1; then
                bh_bad+=" ${BH_NET}.$i"
        fi
done
if [ -z "$bh_bad" ]; then
        pass "the 3 concurrent black-holed checks: 200, reason timeout"
else
        fail "concurrent black-holed checks without a 200 timeout result:$bh_bad"
        show "$W/c-bh${bh_bad##*.}"
fi
check link-down pd "$(jq -nc --arg p "${X_NET}.1" '{portal: $p}')"
expect "iface pd on $XI (down): failed, reason link-down, later steps skipped" "$W/c-link-down" 200 \
        '.status == "failed" and .reason == "link-down" and step("link").reason == "link-down" and
         all(.steps[] | select(.step != "link"); .status == "skipped")'
check no-dev pn "$(jq -nc --arg p "$VIP" '{portal: $p}')"
expect "iface pn on nosuch0: failed, reason no-such-device" "$W/c-no-dev" 200 \
        '.status == "failed" and .reason == "no-such-device" and step("link").reason == "no-such-device"'
check egress pb "$(jq -nc --arg p "$PORTAL_A" '{portal: $p}')"
expect "iface pb to path A's $PORTAL_A: failed in the link step, wrong-egress or no-route (${MS} ms)" \
        "$W/c-egress" 200 \
        '.status == "failed" and (.reason == "wrong-egress" or .reason == "no-route") and
         step("link").status == "failed"'
check not-iscsi pa "$(jq -nc --arg p "$VIP:$NOT_ISCSI_PORT" '{portal: $p}')"
expect "a web-like listener on $VIP:$NOT_ISCSI_PORT: tcp ok, failed, reason not-iscsi" "$W/c-not-iscsi" 200 \
        '.status == "failed" and .reason == "not-iscsi" and step("tcp").status == "ok" and
         step("iscsi").reason == "not-iscsi"'

# ICMP echo ignored by the target: the ping step fails, but tcp and iscsi get through, so the
# check is ok (docs/checks.md: a failed ping does not fail the check).
ip netns exec "$TGT_NS" sysctl -qw net.ipv4.icmp_echo_ignore_all=1
check no-ping pa "$(jq -nc --arg p "$VIP" '{portal: $p, timeout_ms: 2000}')"
ip netns exec "$TGT_NS" sysctl -qw net.ipv4.icmp_echo_ignore_all=0
expect "target ignores ICMP echo: ping failed (timeout), tcp and iscsi ok, the check ok (${MS} ms)" \
        "$W/c-no-ping" 200 \
        '.status == "ok" and .reason == null and step("ping").status == "failed" and
         step("ping").reason == "timeout" and step("tcp").status == "ok" and step("iscsi").status == "ok"'

# Every failed check above: its reason and hint are those of the deciding step, the first failed
# of link, tcp, iscsi, then ping.
DECIDING='first((.steps[] | select(.status == "failed" and .step != "ping")),
        (.steps[] | select(.status == "failed" and .step == "ping")))'
incons=
nfailed=0
for f in "$W"/c-*; do
        case $f in *.h) continue ;; esac
        jq -e '.status == "failed"' "$f" >/dev/null 2>&1 || continue
        nfailed=$((nfailed + 1))
        if ! jq -e "$DECIDING"' as $s | .reason == $s.reason and .hint == $s.hint' "$f" >/dev/null 2>&1; then
                incons+=" ${f##*/c-}"
                jq -c '{reason, hint, deciding_step: ('"$DECIDING"' | {step, reason, hint})}' "$f" \
                        >>"$W/incons" 2>/dev/null || true
        fi
done
if [ "$nfailed" -ge 8 ] && [ -z "$incons" ]; then
        pass "the $nfailed failed checks: reason and hint are those of the deciding step"
else
        fail "failed checks whose reason/hint are not those of the deciding step:${incons:- none} ($nfailed failed checks)"
        show "$W/incons"
fi

# ---------------------------------------------------------------- 5. a job of 100 items
# wait_job OUT LOCATION SECONDS: poll until the job is no longer running; 1 if it still is.
wait_job() {
        local end=$(($(date +%s%N) + $3 * 1000000000))
        while :; do
                api "$1" GET "$2"
                if [ "$CODE" = 200 ] && ! jq -e '.state == "running"' "$1" >/dev/null 2>&1; then return 0; fi
                [ "$(date +%s%N)" -lt "$end" ] || return 1
                sleep 0.1
        done
}
PORTALS=$(seq "$NPORTALS" | jq -sc --arg p "${P}.10." 'map($p + tostring)')
t_job=$(date +%s%N)
api "$W/job" POST /api/v1/checks "$(jq -nc --argjson p "$PORTALS" '{ifaces: ["pa", "pb"], portals: $p}')"
JOB=$(location "$W/job")
expect "job pa,pb x $NPORTALS portals: 202, Location /api/v1/jobs/{id} of the body's id, total 100" "$W/job" 202 \
        '$loc == "/api/v1/jobs/" + .id and .total == 100 and (.state == "running" or .state == "done")' \
        --arg loc "$JOB"
[ -n "$JOB" ] || JOB=/api/v1/jobs/no-location
if wait_job "$W/job-done" "$JOB" 60; then
        pass "job finished after $((($(date +%s%N) - t_job) / 1000000)) ms"
else
        fail "job $JOB not finished within 60 s (HTTP $CODE)"
        show "$W/job-done"
fi
expect "job: state done, total 100, done 100, ok 100, failed 0, finished_at set" "$W/job-done" 200 \
        '.state == "done" and .total == 100 and .done == 100 and .ok == 100 and .failed == 0 and
         .cancelled == 0 and .finished_at != null'
expect "job: results hold every index 0..99 once, in order" "$W/job-done" 200 \
        '[.results[].index] == [range(100)]'
expect "job: result i is ifaces[i / 50] x portals[i % 50], status ok, every step ok" "$W/job-done" 200 \
        'all(.results[]; .status == "ok" and all(.steps[]; .status == "ok") and
             .iface == (if .index < 50 then "pa" else "pb" end) and
             .portal == $p[.index % 50] + ":3260")' \
        --argjson p "$PORTALS"
expect "job: every tcp step left by its iface's path (pa $INI_ADDR_A, pb $INI_ADDR_B)" "$W/job-done" 200 \
        'all(.results[]; step("tcp") as $t |
             if .iface == "pa" then $t.source_address == $a and $t.device == $da
             else $t.source_address == $b and $t.device == $db end)' \
        --arg a "$INI_ADDR_A" --arg b "$INI_ADDR_B" --arg da "$INI_IF_A" --arg db "$INI_IF_B"

# ---------------------------------------------------------------- 6. Idempotency-Key
IDEM_BODY=$(jq -nc --arg p "$VIP" '{ifaces: ["pa"], portals: [$p]}')
api "$W/idem1" POST /api/v1/checks "$IDEM_BODY" -H 'Idempotency-Key: chk-idem.1'
L1=$(location "$W/idem1")
api "$W/idem2" POST /api/v1/checks "$IDEM_BODY" -H 'Idempotency-Key: chk-idem.1'
L2=$(location "$W/idem2")
if [ "$CODE" = 202 ] && [ -n "$L1" ] && [ "$L1" = "$L2" ]; then
        pass "Idempotency-Key: the same body again -> 202, the same Location $L1"
else
        fail "Idempotency-Key: the same body again -> HTTP $CODE Location '$L2' (first: '$L1')"
        show "$W/idem2"
fi
api "$W/idem3" POST /api/v1/checks "$(jq -nc --arg p "$PORTAL_B" '{ifaces: ["pb"], portals: [$p]}')" \
        -H 'Idempotency-Key: chk-idem.1'
expect "Idempotency-Key: the same key with another body -> 422" "$W/idem3" 422 'true'

# ---------------------------------------------------------------- 7. cancel
BH_PORTALS=$(seq 64 | jq -sc --arg p "${BH_NET}." 'map($p + tostring)')
api "$W/cjob" POST /api/v1/checks \
        "$(jq -nc --argjson p "$BH_PORTALS" '{ifaces: ["pa"], portals: $p, timeout_ms: 20000}')"
CJOB=$(location "$W/cjob")
expect "job of 64 black-holed portals, timeout_ms 20000: 202" "$W/cjob" 202 '.total == 64'
CJOB_CODE=$CODE
[ -n "$CJOB" ] || CJOB=/api/v1/jobs/no-location
sleep 0.3
api "$W/ifaces-busy" GET /api/v1/ifaces
expect "GET /api/v1/ifaces while that job runs: 200 in $MS ms" "$W/ifaces-busy" 200 \
        '$job == "202" and (.items | map(.name) | any(. == "pa"))' --arg job "$CJOB_CODE"
api "$W/jobs" GET /api/v1/jobs
expect "GET /api/v1/jobs: newest first, no results" "$W/jobs" 200 \
        '.jobs[0].id == ($loc | ltrimstr("/api/v1/jobs/")) and all(.jobs[]; has("results") | not)' \
        --arg loc "$CJOB"
api "$W/cjob-run" GET "$CJOB"
expect "the black-holed job is running" "$W/cjob-run" 200 '.state == "running" and .done < .total'
api "$W/cjob-del" DELETE "$CJOB"
expect "DELETE of the running job -> 200 with the job" "$W/cjob-del" 200 \
        '.id == ($loc | ltrimstr("/api/v1/jobs/"))' --arg loc "$CJOB"
t_del=$(date +%s%N)
state=
for _ in $(seq 20); do
        api "$W/cjob-after" GET "$CJOB"
        state=$(jq -r .state "$W/cjob-after" 2>/dev/null || true)
        [ "$state" = cancelled ] && break
        sleep 0.1
done
expect "cancelled job: state cancelled within 2 s ($((($(date +%s%N) - t_del) / 1000000)) ms), done < total or cancelled > 0" \
        "$W/cjob-after" 200 '.state == "cancelled" and (.done < .total or .cancelled > 0)'
api "$W/cjob-del2" DELETE "$CJOB"
expect "DELETE of the finished job -> 204" "$W/cjob-del2" 204 'true'
DEL2_CODE=$CODE
api "$W/cjob-gone" GET "$CJOB"
expect "GET of the deleted job -> 404" "$W/cjob-gone" 404 '$del == "204"' --arg del "$DEL2_CODE"

# ---------------------------------------------------------------- 8. refused (tgtd stopped)
TGTADM=(tgtadm -C "$CTRL_PORT" --lld iscsi)
for tid in 1 2; do "${TGTADM[@]}" --mode target --op delete --force --tid "$tid" >/dev/null 2>&1 || true; done
tgtadm -C "$CTRL_PORT" --mode system --op delete >/dev/null 2>&1 || true
for _ in $(seq 30); do
        [ "$(cat "/proc/$TGTD_PID/comm" 2>/dev/null)" = tgtd ] || break
        sleep 0.1
done
check refused pa "$(jq -nc --arg p "$VIP" '{portal: $p}')"
expect "tgtd stopped: failed, reason refused in the tcp step, iscsi skipped" "$W/c-refused" 200 \
        '.status == "failed" and .reason == "refused" and step("tcp").reason == "refused" and
         step("iscsi").status == "skipped"'

# ---------------------------------------------------------------- 9. the daemon, then down
if kill -0 "$DPID" 2>/dev/null; then
        pass "the daemon is still running"
else
        fail "the daemon died"
        tail -n 20 "$W/daemon.log" | sed 's/^/    | /'
fi
if stop_pid "$DPID" 5; then
        pass "the daemon stops on SIGTERM within 5 s"
else
        fail "the daemon does not stop on SIGTERM within 5 s"
fi
DPID=
leaks=
for s in "${SECRETS[@]}"; do
        if grep -r -a -F -l -- "$s" "$W/daemon.log" "$D" >"$W/leak" 2>/dev/null; then
                leaks+=" $(tr '\n' ' ' <"$W/leak")"
        fi
done
if [ -z "$leaks" ]; then
        pass "no CHAP password in the daemon's debug log, database or iscsi root"
else
        fail "CHAP password found in:${leaks//$W\//}"
fi

DOWN_DONE=1
teardown
left=$(ip netns list | awk -v a="$TGT_NS" -v b="$INI_NS" '$1 == a || $1 == b { print $1 }')
links=$(ip -o link show | awk -F': ' -v p="${NAME}-" 'index($2, p) == 1 { print $2 }')
tgtds=$(pgrep -f "tgtd -f -C $CTRL_PORT( |\$)" || true)
if [ -z "$left" ] && [ -z "$links" ] && [ -z "$tgtds" ] && [ ! -e "$TARGET_STATE" ]; then
        pass "nothing left: no netns $TGT_NS/$INI_NS, no ${NAME}-* link, no tgtd -C $CTRL_PORT, no state dir"
else
        fail "left behind: netns '${left//$'\n'/ }' links '${links//$'\n'/ }'" \
                "tgtd '${tgtds//$'\n'/ }' state '$(ls -d "$TARGET_STATE" 2>/dev/null)'"
        show "$W/down.log"
fi

contract_verdict # every answer, against openapi.yaml
log "$PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]
