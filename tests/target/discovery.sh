#!/bin/bash
# SPDX-License-Identifier: MIT
# Discovery and bindings (docs/bindings.md) against a real target: brings up
# tests/target/target-up.sh (its own instance, so it can run next to smoke.sh and checks.sh),
# starts the daemon inside the initiator namespace, and checks SendTargets through a chosen iface
# (the target's packet counters show which path it took), discovery CHAP (tgtd's global discovery
# account), the typed failure reasons within timeout_ms, bindings of one portal through two ifaces
# that a later discovery leaves alone, and discovery jobs (wait: false, portals, cancel).
#
# usage: tests/target/discovery.sh [DAEMON]   (meson: meson test -C build --suite target)
#   DAEMON: the built daemon (default: $IFACED_BIN, which meson sets to build/server/iscsi-ifaced)
#   environment: the TARGET_* knobs of tests/target/target-up.sh (defaults here: TARGET_NAME=ifdbnd,
#                TARGET_NET=219, state in ${TMPDIR:-/tmp}/iscsi-ifaced-target/ifdbnd);
#                DISC_KEEP=DIR copies the responses, the daemon's iscsi root and log to DIR at exit
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
export TARGET_NAME=${TARGET_NAME:-ifdbnd}
export TARGET_NET=${TARGET_NET:-219}
export TARGET_RUN=${TARGET_RUN:-${TMPDIR:-/tmp}/iscsi-ifaced-target}
export TARGET_STATE=${TARGET_STATE:-$TARGET_RUN/$TARGET_NAME}
LOCK=${TARGET_RUN}.${TARGET_NAME}.lock

el() { local d=$((($(date +%s%N) - T0) / 10000000)); printf '%d.%02d' $((d / 100)) $((d % 100)); }
log() { printf '[target-discovery %6ss] %s\n' "$(el)" "$*"; }
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
for t in ip curl jq setsid flock stat; do
        command -v "$t" >/dev/null || skip "no $t"
done
unshare -n true 2>/dev/null || skip "cannot create a network namespace"

# ---------------------------------------------------------------- packages
if ! command -v tgtd >/dev/null || ! command -v tgtadm >/dev/null; then
        command -v apt-get >/dev/null || skip "tgt missing and no apt-get"
        APTLOG=$(mktemp "${TMPDIR:-/tmp}/target-discovery-apt.XXXXXX")
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

W=$(mktemp -d "${TMPDIR:-/tmp}/target-discovery.XXXXXX")
DPID=      # the daemon (in the initiator namespace)
INI_NS=    # set from the env file once the target is up
TGT_NS=
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
        if [ -n "$DPID" ]; then stop_pid "$DPID" 3 || true; fi
        DPID=
        "$HERE/target-down.sh" >>"$W/down.log" 2>&1 || true
        rm -rf -- "$TARGET_STATE"
}
cleanup() {
        local rc=$?
        trap - EXIT
        if [ "$DOWN_DONE" = 0 ]; then
                teardown
        fi
        if [ -n "${DISC_KEEP:-}" ]; then
                mkdir -p "$DISC_KEEP" && cp -a "$W/." "$DISC_KEEP/" || true
        fi
        rm -rf -- "$W"
        exit "$rc"
}
# On a signal, meson may SIGKILL the whole process group half a second later, so the teardown
# runs detached in a session of its own (as in checks.sh); it inherits fd 9 and so holds the lock
# until it is done. fd 7 is a copy of the original stdout.
on_signal() {
        trap - EXIT INT TERM HUP
        echo "FAIL: interrupted (exit $1); tests/target/target-down.sh runs in the background" >&7
        if [ -n "$DPID" ]; then kill -9 "$DPID" 2>/dev/null || true; fi
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
show() { head -c 3000 "$1" 2>/dev/null | head -n 30 | awk '{ print "    | " $0 }' || true; }

# ---------------------------------------------------------------- up
"$HERE/target-down.sh" >"$W/pre-down.log" 2>&1 || true
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
P=10.${NET}
BH=${P}.20.1           # black hole: routed via A's gateway, owned by nothing in the target ns
NOROUTE=192.0.2.1      # TEST-NET-1: the initiator namespace has no route to it
CLOSED_PORT=3261       # nothing listens there
DISC_USER=ifddisc
DISC_PASS=ifddiscpass123
echo "route replace ${P}.20.0/24 via ${P}.1.1 dev $INI_IF_A" >"$W/ini.batch"
if ip -n "$INI_NS" -batch "$W/ini.batch"; then
        pass "extra topology: black hole ${P}.20.0/24 via A"
else
        fail "extra topology"
        exit 1
fi

# ---------------------------------------------------------------- the daemon
D=$W/d
mkdir -m 0700 "$D" "$D/iscsi" "$D/lock"
echo "InitiatorName=iqn.2024-01.test.${NAME}:initiator" >"$D/initiatorname.iscsi"
: >"$D/iscsid.conf"
ip netns exec "$INI_NS" "$BIN" --auth off --listen 127.0.0.1:0 --port-file "$D/port" --iscsi-root "$D/iscsi" \
        --db "$D/db.sqlite" --lock-dir "$D/lock" --initiator-name-file "$D/initiatorname.iscsi" \
        --iscsid-conf "$D/iscsid.conf" --log-level debug \
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
ROOT=$D/iscsi

# api OUT METHOD PATH [BODY [CURL-ARGS...]]: one request from the initiator namespace (as in
# checks.sh). The body goes to OUT, the headers to OUT.h. Sets CODE, MS and REQ.
CODE=000
MS=0
REQ=
api() {
        local out=$1 method=$2 path=$3 body=${4-} res ct=application/json
        shift 3
        if [ $# -gt 0 ]; then shift; fi
        [ "$method" != PATCH ] || ct=application/merge-patch+json
        local args=(-s -o "$out" -D "$out.h" -w '%{http_code} %{time_total}' -X "$method" --max-time 70)
        if [ -n "$body" ]; then args+=(-H "Content-Type: $ct" --data-binary "$body"); fi
        REQ="$method $path${body:+ $body}"
        [ ${#REQ} -le 400 ] || REQ="${REQ:0:400}..."
        : >"$out"
        res=$(timeout --foreground -k 2 80 ip netns exec "$INI_NS" curl "${args[@]}" "$@" "$URL$path" 2>/dev/null) || true
        CODE=${res%% *}
        [ -n "$CODE" ] || CODE=000
        MS=$(awk -v t="${res#* }" 'BEGIN { printf "%d", t * 1000 }')
        [ -e "$out.h" ] || : >"$out.h"
        contract_record "$method" "$path" "$CODE" "$out.h" "$out" "target api"
}
location() { awk 'tolower($1) == "location:" { sub(/\r$/, "", $2); print $2 }' "$1.h"; }
JQDEFS='def item($f): first(.items[] | select(.iface == $f));
        def names: [.targets[].name] | sort;'
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
# disc NAME BODY: POST /api/v1/discovery, the answer in $W/d-NAME.
disc() { api "$W/d-$1" POST /api/v1/discovery "$2"; }
rx() { ip -n "$TGT_NS" -s -j link show "$1" | jq '.[0].stats64.rx.packets'; }
bid() { printf '%s,%s,%s,%s,%s' "$@"; }
# fstate ID...: for each binding id, its file's inode, mtime, size and sha256 (the file is
# nodes/<target>/<ip>,<port>,<tpgt>/<iface>).
fstate() {
        local id t a p g f
        for id in "$@"; do
                IFS=, read -r t a p g f <<<"$id"
                stat -c '%n %i %Y.%y %s' "$ROOT/nodes/$t/$a,$p,$g/$f" 2>&1 || true
                sha256sum "$ROOT/nodes/$t/$a,$p,$g/$f" 2>&1 || true
        done
}
# states_ok FSTATE REVS: both snapshots are of existing files and bindings (else a comparison
# of two equal error messages would pass).
states_ok() { ! grep -E 'No such file|cannot stat' "$1" >/dev/null && ! grep -v ' 200 \[' "$2" >/dev/null; }
# revs ID...: the revision and updated_at of each binding, one line each.
revs() {
        local id
        for id in "$@"; do
                api "$W/rev" GET "/api/v1/bindings/$id"
                echo "$id $CODE $(jq -c '[.revision, .updated_at, .startup]' "$W/rev" 2>/dev/null)"
        done
}

# ---------------------------------------------------------------- ifaces
# pa and pb on paths A and B, pn on a NIC that does not exist.
for spec in "pa $INI_IF_A" "pb $INI_IF_B" "pn nosuch0"; do
        read -r n d <<<"$spec"
        api "$W/if-$n" POST /api/v1/ifaces "$(jq -nc --arg n "$n" --arg d "$d" \
                '{name: $n, transport_name: "tcp", net_ifacename: $d}')"
        expect "iface $n on $d created" "$W/if-$n" 201 '.name == $n' --arg n "$n"
done

# ---------------------------------------------------------------- 1. discovery through pb
OPEN_B=$(bid "$IQN_OPEN" "$VIP" "$PORT" 1 pb)
CHAP_B=$(bid "$IQN_CHAP" "$VIP" "$PORT" 1 pb)
OPEN_A=$(bid "$IQN_OPEN" "$VIP" "$PORT" 1 pa)
CHAP_A=$(bid "$IQN_CHAP" "$VIP" "$PORT" 1 pa)
a0=$(rx "$TGT_IF_B")
b0=$(rx "$TGT_IF_A")
disc pb "$(jq -nc --arg p "$PORTAL" '{portal: $p, ifaces: ["pb"], bind: true}')"
a1=$(rx "$TGT_IF_B")
b1=$(rx "$TGT_IF_A")
expect "discovery of $PORTAL through pb: 200, done, one item ok (${MS} ms)" "$W/d-pb" 200 \
        '.state == "done" and .bind == true and (.items | length) == 1 and
         item("pb").status == "ok" and item("pb").reason == null and item("pb").portal == $p' \
        --arg p "$PORTAL"
expect "discovery through pb: from $INI_ADDR_B on $INI_IF_B" "$W/d-pb" 200 \
        'item("pb").source == $src and item("pb").device == $dev' --arg src "$INI_ADDR_B" --arg dev "$INI_IF_B"
expect "discovery through pb finds both targets, each at $VIP:$PORT tpgt 1" "$W/d-pb" 200 \
        '(item("pb") | names) == ([$o, $c] | sort) and
         all(item("pb").targets[]; .portals == [{address: $vip, port: ($port | tonumber), tpgt: 1}])' \
        --arg o "$IQN_OPEN" --arg c "$IQN_CHAP" --arg vip "$VIP" --arg port "$PORT"
expect "discovery through pb with bind: created $OPEN_B and $CHAP_B, none existing or failed" "$W/d-pb" 200 \
        '(.bindings.created | sort) == ([$o, $c] | sort) and .bindings.existing == [] and
         .bindings.failed == [] and .refused == []' --arg o "$OPEN_B" --arg c "$CHAP_B"
if [ $((a1 - a0)) -ge 4 ] && [ $((b1 - b0)) -le 2 ]; then
        pass "the target received the discovery on $TGT_IF_B (+$((a1 - a0)) packets), not on $TGT_IF_A (+$((b1 - b0)))"
else
        fail "target rx packets during the discovery through pb: $TGT_IF_B +$((a1 - a0)) (want >= 4), $TGT_IF_A +$((b1 - b0)) (want <= 2)"
fi
api "$W/b-open" GET "/api/v1/bindings/$OPEN_B"
expect "GET $OPEN_B: origin api, discovery send_targets $VIP:$PORT, layout portal-dir" "$W/b-open" 200 \
        '.origin == "api" and .iface == "pb" and .tpgt == 1 and .layout == "portal-dir" and
         .discovery == {type: "send_targets", address: $vip, port: ($port | tonumber)}' \
        --arg vip "$VIP" --arg port "$PORT"
st=$ROOT/send_targets/$VIP,$PORT
missing=
for id in "$OPEN_B" "$CHAP_B"; do
        IFS=, read -r t a p g f <<<"$id"
        [ -f "$ROOT/nodes/$t/$a,$p,$g/$f" ] || missing+=" nodes/$t/$a,$p,$g/$f"
        [ "$(readlink "$st/$id" 2>/dev/null)" = "$ROOT/nodes/$t/$a,$p,$g" ] || missing+=" send_targets link $id"
        [ "$(stat -c %a "$ROOT/nodes/$t/$a,$p,$g/$f" 2>/dev/null)" = 600 ] || missing+=" mode-of-$id"
done
[ -f "$st/st_config" ] || missing+=" st_config"
if [ -z "$missing" ]; then
        pass "files as iscsiadm's discovery writes them (D01): node files 0600, send_targets/$VIP,$PORT/st_config and a link per binding"
else
        fail "discovery files missing or wrong:$missing"
        (cd "$ROOT" && find . -printf '%p %m %l\n' | sort | sed 's/^/    | /' | head -n 20)
fi

# ---------------------------------------------------------------- 2. discovery CHAP
# tgtd: an account bound without --tid is bound to its global (discovery) target, so every
# discovery session must then authenticate (tgt's tgt-admin does this for incomingdiscoveryuser).
# Path B's own address is used as the portal here, so the VIP's discovery record stays without
# CHAP for the sections below.
if "${TGTADM[@]}" --mode account --op new --user "$DISC_USER" --password "$DISC_PASS" >"$W/tgtadm.log" 2>&1 &&
        "${TGTADM[@]}" --mode account --op bind --user "$DISC_USER" >>"$W/tgtadm.log" 2>&1; then
        pass "tgtd: discovery account $DISC_USER bound to the discovery (global) target"
        DISC_CHAP=1
else
        fail "tgtd refuses a discovery account: $(head -c 300 "$W/tgtadm.log")"
        DISC_CHAP=0
fi
if [ "$DISC_CHAP" = 1 ]; then
        disc_body() { jq -nc --arg p "$PORTAL_B" --argjson bind "$1" --arg u "${2-}" --arg pw "${3-}" \
                '{portal: $p, ifaces: ["pb"], bind: $bind} +
                 (if $u != "" then {auth: {username: $u, password: $pw}} else {} end)'; }
        disc chap-none "$(disc_body false)"
        expect "discovery CHAP required, none given: item failed, reason auth-failed" "$W/d-chap-none" 200 \
                'item("pb").status == "failed" and item("pb").reason == "auth-failed"'
        disc chap-wrong "$(disc_body false "$DISC_USER" "wrong$DISC_PASS")"
        expect "discovery CHAP with a wrong password: auth-failed" "$W/d-chap-wrong" 200 \
                'item("pb").status == "failed" and item("pb").reason == "auth-failed"'
        disc chap-ok "$(disc_body true "$DISC_USER" "$DISC_PASS")"
        expect "discovery CHAP with the right password, bind: ok, both targets, 2 bindings created" "$W/d-chap-ok" 200 \
                'item("pb").status == "ok" and (item("pb") | names) == ([$o, $c] | sort) and
                 (.bindings.created | length) == 2' --arg o "$IQN_OPEN" --arg c "$IQN_CHAP"
        stc=$ROOT/send_targets/${PORTAL_B%:*},$PORT/st_config
        if grep -x 'discovery.sendtargets.auth.authmethod = CHAP' "$stc" >/dev/null 2>&1 &&
                grep -x "discovery.sendtargets.auth.username = $DISC_USER" "$stc" >/dev/null &&
                grep -x "discovery.sendtargets.auth.password = $DISC_PASS" "$stc" >/dev/null; then
                pass "bind with discovery CHAP: st_config holds authmethod CHAP, the username and the password as iscsiadm stores them"
        else
                fail "st_config of ${PORTAL_B%:*},$PORT does not hold the discovery CHAP as iscsiadm stores it"
                show "$stc"
        fi
        disc chap-stored "$(disc_body false)"
        expect "discovery without auth now uses the stored discovery CHAP: ok" "$W/d-chap-stored" 200 \
                'item("pb").status == "ok" and (item("pb").targets | length) == 2'
        leaks=
        for f in "$W"/d-chap-*; do
                grep -F -- "$DISC_PASS" "$f" >/dev/null && leaks+=" ${f##*/}"
        done
        if [ -z "$leaks" ]; then
                pass "no discovery CHAP password in any response"
        else
                fail "discovery CHAP password echoed in:$leaks"
        fi
        "${TGTADM[@]}" --mode account --op unbind --user "$DISC_USER" >>"$W/tgtadm.log" 2>&1 ||
                fail "tgtadm: cannot unbind the discovery account"
fi

# ---------------------------------------------------------------- 3. failure reasons
# reason NAME LABEL IFACE PORTAL TIMEOUT_MS REASONS MAX_MS: one discovery that must fail with one
# of REASONS (a jq array) within MAX_MS, creating no binding.
reason() {
        local name=$1 label=$2 f=$3 portal=$4 tmo=$5 reasons=$6 max=$7
        disc "$name" "$(jq -nc --arg p "$portal" --arg f "$f" --argjson t "$tmo" \
                '{portal: $p, ifaces: [$f], bind: true, timeout_ms: $t}')"
        expect "$label: item failed, reason in $reasons, no binding (${MS} ms)" "$W/d-$name" 200 \
                'item($f).status == "failed" and (item($f).reason as $r | $rs | index($r)) != null and
                 (item($f).hint | type) == "string" and .bindings.created == []' \
                --arg f "$f" --argjson rs "$reasons"
        if [ "$CODE" = 200 ] && [ "$MS" -le "$max" ]; then
                pass "$label: answered in $MS ms (timeout_ms $tmo, limit $max)"
        else
                fail "$label: answered in $MS ms, HTTP $CODE (timeout_ms $tmo; want 200 within $max ms)"
        fi
}
reason ghost "ghost NIC (pn on nosuch0)" pn "$PORTAL" 3000 '["no-such-device"]' 1000
reason closed "closed port $VIP:$CLOSED_PORT" pa "$VIP:$CLOSED_PORT" 3000 '["refused"]' 1000
reason noroute "unroutable portal $NOROUTE" pa "$NOROUTE:$PORT" 3000 '["no-route","timeout"]' 3500
reason blackhole "black-holed portal $BH, timeout_ms 2000" pa "$BH:$PORT" 2000 '["timeout"]' 2600
if [ "$MS" -lt 1800 ]; then fail "black-holed portal: answered after $MS ms, before its timeout_ms 2000"; fi
reason wrongpath "pb to path A's own address $PORTAL_A" pb "$PORTAL_A" 5000 '["no-route","timeout","wrong-egress"]' 5600
if [ -z "$(find "$ROOT/nodes" -path "*$BH*" -o -path "*$NOROUTE*" 2>/dev/null)" ]; then
        pass "no node record for any failed portal"
else
        fail "node records written for failed portals"
fi
# Input errors.
disc bad-tmo "$(jq -nc --arg p "$PORTAL" '{portal: $p, ifaces: ["pa"], timeout_ms: 60001}')"
expect "timeout_ms 60001 -> 400, field timeout_ms" "$W/d-bad-tmo" 400 '.field == "timeout_ms"'
disc bad-portal "$(jq -nc '{portal: "target.example:3260", ifaces: ["pa"]}')"
expect "a host name as portal -> 400, field portal" "$W/d-bad-portal" 400 '.field == "portal"'
disc no-iface "$(jq -nc --arg p "$PORTAL" '{portal: $p, ifaces: ["nosuchiface"]}')"
# (a 404 counts only if the route exists: the discovery through pb answered 200 above)
if { [ "$CODE" = 404 ] && jq -e '.title or .detail' "$W/d-no-iface" >/dev/null 2>&1 &&
        jq -e '.state' "$W/d-pb" >/dev/null 2>&1; } ||
        { [ "$CODE" = 400 ] && jq -e '.field == "ifaces"' "$W/d-no-iface" >/dev/null 2>&1; }; then
        pass "an iface that does not exist -> $CODE"
else
        fail "an iface that does not exist -> HTTP $CODE (want 404, or 400 field ifaces)"
        show "$W/d-no-iface"
fi

# ---------------------------------------------------------------- 4. one portal, two ifaces
api "$W/patch-b" PATCH "/api/v1/bindings/$OPEN_B" '{"startup": "automatic"}'
expect "PATCH $OPEN_B startup automatic (an edit a later discovery must keep)" "$W/patch-b" 200 \
        '.startup == "automatic"'
fstate "$OPEN_B" "$CHAP_B" >"$W/pb.before"
revs "$OPEN_B" "$CHAP_B" >"$W/pb.revs.before"
sleep 1.1 # mtimes have 1 s resolution in %Y
disc pa "$(jq -nc --arg p "$PORTAL" '{portal: $p, ifaces: ["pa"], bind: true}')"
expect "discovery of $PORTAL through pa: ok from $INI_ADDR_A, created $OPEN_A and $CHAP_A" "$W/d-pa" 200 \
        'item("pa").status == "ok" and item("pa").source == $src and
         (.bindings.created | sort) == ([$o, $c] | sort) and .bindings.existing == []' \
        --arg src "$INI_ADDR_A" --arg o "$OPEN_A" --arg c "$CHAP_A"
api "$W/by-portal" GET "/api/v1/bindings?portal=$PORTAL"
expect "GET /api/v1/bindings?portal=$PORTAL: the 4 bindings (2 targets x pa, pb)" "$W/by-portal" 200 \
        '[.items[].id] == ([$a, $b, $c, $d] | sort)' \
        --arg a "$OPEN_A" --arg b "$CHAP_A" --arg c "$OPEN_B" --arg d "$CHAP_B"
api "$W/by-iface" GET "/api/v1/bindings?iface=pb&portal=$PORTAL"
expect "GET /api/v1/bindings?iface=pb&portal=...: pb's 2" "$W/by-iface" 200 \
        '[.items[].id] == ([$c, $d] | sort)' --arg c "$OPEN_B" --arg d "$CHAP_B"
fstate "$OPEN_B" "$CHAP_B" >"$W/pb.after"
revs "$OPEN_B" "$CHAP_B" >"$W/pb.revs.after"
if states_ok "$W/pb.before" "$W/pb.revs.before" && cmp -s "$W/pb.before" "$W/pb.after" &&
        cmp -s "$W/pb.revs.before" "$W/pb.revs.after"; then
        pass "discovery through pa left pb's bindings untouched (same inode, mtime, bytes, revision, startup)"
else
        fail "discovery through pa touched pb's bindings (or they were missing to begin with)"
        diff "$W/pb.before" "$W/pb.after" | sed 's/^/    | /' || true
        diff "$W/pb.revs.before" "$W/pb.revs.after" | sed 's/^/    | /' || true
fi
fstate "$OPEN_A" "$CHAP_A" "$OPEN_B" "$CHAP_B" >"$W/all.before"
revs "$OPEN_A" "$CHAP_A" "$OPEN_B" "$CHAP_B" >"$W/all.revs.before"
sleep 1.1
disc pb-again "$(jq -nc --arg p "$PORTAL" '{portal: $p, ifaces: ["pb"], bind: true}')"
expect "discovery through pb again: ok, both reported existing, none created" "$W/d-pb-again" 200 \
        'item("pb").status == "ok" and .bindings.created == [] and
         (.bindings.existing | sort) == ([$o, $c] | sort)' --arg o "$OPEN_B" --arg c "$CHAP_B"
fstate "$OPEN_A" "$CHAP_A" "$OPEN_B" "$CHAP_B" >"$W/all.after"
revs "$OPEN_A" "$CHAP_A" "$OPEN_B" "$CHAP_B" >"$W/all.revs.after"
if states_ok "$W/all.before" "$W/all.revs.before" && cmp -s "$W/all.before" "$W/all.after" &&
        cmp -s "$W/all.revs.before" "$W/all.revs.after"; then
        pass "a second discovery through pb changed no binding of pa or pb (files, revisions, pb's edited startup kept)"
else
        fail "a second discovery through pb changed bindings (or they were missing to begin with)"
        diff "$W/all.before" "$W/all.after" | sed 's/^/    | /' || true
        diff "$W/all.revs.before" "$W/all.revs.after" | sed 's/^/    | /' || true
fi
disc nobind "$(jq -nc --arg p "$PORTAL" '{portal: $p, ifaces: ["pa", "pb"], bind: false}')"
expect "discovery through pa and pb with bind false: 2 items ok, no bindings section entries" "$W/d-nobind" 200 \
        '(.items | length) == 2 and all(.items[]; .status == "ok") and
         ((.bindings // {created: []}).created == [])'

# ---------------------------------------------------------------- 5. jobs
# wait_disc OUT LOCATION SECONDS: poll until the discovery is no longer running.
wait_disc() {
        local end=$(($(date +%s%N) + $3 * 1000000000))
        while :; do
                api "$1" GET "$2"
                if [ "$CODE" = 200 ] && ! jq -e '.state == "running" or .state == "queued"' "$1" >/dev/null 2>&1; then return 0; fi
                [ "$(date +%s%N)" -lt "$end" ] || return 1
                sleep 0.1
        done
}
disc job "$(jq -nc --arg p "$PORTAL" '{portal: $p, ifaces: ["pa", "pb"], bind: false, wait: false}')"
JOB=$(location "$W/d-job")
expect "wait false: 202, Location /api/v1/discovery/{id} of the body's id" "$W/d-job" 202 \
        '$loc == "/api/v1/discovery/" + .id' --arg loc "$JOB"
[ -n "$JOB" ] || JOB=/api/v1/discovery/no-location
if wait_disc "$W/d-job-done" "$JOB" 20; then
        pass "discovery job $JOB finished"
else
        fail "discovery job $JOB not finished within 20 s (HTTP $CODE)"
        show "$W/d-job-done"
fi
expect "job: done, progress 2 of 2, both items ok with both targets" "$W/d-job-done" 200 \
        '.state == "done" and .progress == {done: 2, total: 2} and
         all(.items[]; .status == "ok" and (.targets | length) == 2)'
disc portals "$(jq -nc --arg a "$PORTAL" --arg b "$PORTAL_B" '{portals: [$a, $b], ifaces: ["pb"], bind: false}')"
PJOB=$(location "$W/d-portals")
expect "portals (a list): 202 without wait false, Location set" "$W/d-portals" 202 '$loc != ""' --arg loc "$PJOB"
[ -n "$PJOB" ] || PJOB=/api/v1/discovery/no-location
wait_disc "$W/d-portals-done" "$PJOB" 20 || true
expect "portals job: done, 2 items ok (one per portal), each from $INI_ADDR_B" "$W/d-portals-done" 200 \
        '.state == "done" and (.items | length) == 2 and ([.items[].portal] | sort) == ([$a, $b] | sort) and
         all(.items[]; .status == "ok" and .source == $src)' \
        --arg a "$PORTAL" --arg b "$PORTAL_B" --arg src "$INI_ADDR_B"
api "$W/d-portals-del" DELETE "$PJOB"
DEL_CODE=$CODE
api "$W/d-portals-gone" GET "$PJOB"
if [[ $DEL_CODE == 20? ]] && [ "$CODE" = 404 ]; then
        pass "DELETE of a finished discovery -> $DEL_CODE, then GET -> 404"
else
        fail "DELETE of a finished discovery -> $DEL_CODE, then GET -> $CODE (want 2xx, 404)"
fi
BHS=$(seq 2 9 | jq -sc --arg p "${P}.20." 'map($p + tostring + ":3260")')
disc cancel "$(jq -nc --argjson p "$BHS" '{portals: $p, ifaces: ["pa"], bind: true, timeout_ms: 20000}')"
CJOB=$(location "$W/d-cancel")
[ -n "$CJOB" ] || CJOB=/api/v1/discovery/no-location
sleep 0.3
api "$W/d-cancel-run" GET "$CJOB"
RUN_CODE=$CODE
expect "a discovery of 8 black-holed portals (timeout_ms 20000) is running" "$W/d-cancel-run" 200 \
        '.state == "running" and .progress.done < .progress.total'
api "$W/d-cancel-del" DELETE "$CJOB"
t_del=$(date +%s%N)
state=
for _ in $(seq 20); do
        api "$W/d-cancel-after" GET "$CJOB"
        state=$(jq -r .state "$W/d-cancel-after" 2>/dev/null || true)
        [ "$state" = cancelled ] && break
        [ "$CODE" = 404 ] && break
        sleep 0.1
done
if [ "$RUN_CODE" = 200 ] && { [ "$state" = cancelled ] || [ "$CODE" = 404 ]; }; then
        pass "DELETE of the running discovery: cancelled within $((($(date +%s%N) - t_del) / 1000000)) ms (state '$state', HTTP $CODE)"
else
        fail "DELETE of the running discovery: state '$state' (HTTP $CODE) after 2 s"
        show "$W/d-cancel-after"
fi

# ---------------------------------------------------------------- 6. untrusted names from the wire
# tgtadm refuses '/', blanks, '=', backslashes and non-ASCII bytes in a target name and cuts it at a comma
# (",b" never reaches tgtd), but accepts these, and SendTargets then hands them to the initiator:
# '..', more than 223 bytes, no iqn./eui./naa. prefix.
EVILS=("iqn.2024-01.test.evil:.." \
        "iqn.2024-01.test.evil:$(printf 'x%.0s' $(seq 210))" "notaniqn")
made=0
for i in "${!EVILS[@]}"; do
        if "${TGTADM[@]}" --mode target --op new --tid $((20 + i)) --targetname "${EVILS[$i]}" >"$W/evil.log" 2>&1 &&
                "${TGTADM[@]}" --mode target --op bind --tid $((20 + i)) --initiator-address ALL >>"$W/evil.log" 2>&1; then
                made=$((made + 1))
        else
                fail "tgtd refuses the target name ${EVILS[$i]:0:40}: $(head -c 200 "$W/evil.log")"
        fi
done
EVILS_JSON=$(printf '%s\n' "${EVILS[@]}" | jq -R . | jq -sc .)
disc evil "$(jq -nc --arg p "$PORTAL" '{portal: $p, ifaces: ["pb"], bind: true}')"
expect "$made hostile target names from the wire: each in refused (field target), the good two still found" \
        "$W/d-evil" 200 \
        'item("pb").status == "ok" and (item("pb") | names) == ([$o, $c] | sort) and
         ([.refused[] | select(.field == "target" and .iface == "pb")] | length) == ($e | length) and
         all(.refused[]; (.value | type) == "string" and (.reason | type) == "string")' \
        --arg o "$IQN_OPEN" --arg c "$IQN_CHAP" --argjson e "$EVILS_JSON"
found=$(find "$D" \( -path '*evil*' -o -path '*notaniqn*' \) 2>/dev/null | head -n 3)
if [ -z "$found" ]; then
        pass "nothing of the hostile names on disk"
else
        fail "hostile target names reached the disk: $found"
fi
for i in "${!EVILS[@]}"; do
        "${TGTADM[@]}" --mode target --op delete --force --tid $((20 + i)) >/dev/null 2>&1 || true
done

# ---------------------------------------------------------------- 7. the daemon, then down
api "$W/audit" GET "/api/v1/audit?limit=1000"
if [ "$CODE" = 200 ] && ! grep -F -- "$DISC_PASS" "$W/audit" >/dev/null; then
        pass "GET /api/v1/audit: 200, no discovery CHAP password in it"
else
        fail "GET /api/v1/audit: HTTP $CODE, or the discovery CHAP password in it"
fi
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
if [ "${DISC_CHAP:-0}" = 1 ] && grep -a -F -- "$DISC_PASS" "$W/daemon.log" >/dev/null 2>&1; then
        fail "discovery CHAP password in the daemon's debug log"
else
        pass "no discovery CHAP password in the daemon's debug log"
fi
if [ -n "${DISC_KEEP:-}" ]; then cp "$TARGET_STATE/tgtd.log" "$W/" 2>/dev/null || true; fi

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
