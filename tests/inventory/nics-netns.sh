#!/bin/bash
# SPDX-License-Identifier: MIT
# The NIC inventory against real links: in a network namespace of its own, the test makes veth
# pairs, a VLAN and addresses, runs the daemon inside it, changes the links (down/up, rename,
# address add/remove, MTU, delete, rp_filter) and checks that GET /api/v1/nics follows within
# a second. Needs root (exit 77 otherwise). Removes the namespace and the daemon on any exit.
set -euo pipefail

BIN=${IFACED_BIN:?IFACED_BIN not set}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for a network namespace"; exit 77; }
for t in ip curl jq; do
        command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done

NS=ifdnic$$
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nics-netns.XXXXXX")
PID=
fails=0

cleanup() {
        if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; fi
        ip netns del "$NS" 2>/dev/null || true
        rm -rf "$WORK"
}
trap cleanup EXIT

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
in_ns() { ip netns exec "$NS" "$@"; }
# shellcheck source=tests/contract/record.sh
. "$(dirname "$(readlink -f "$0")")/../contract/record.sh"
RCURL_DIR=$WORK

ip netns add "$NS"
in_ns ip link set lo up
in_ns ip link add v0 type veth peer name v1
# This host kernel may lack 802.1Q: the VLAN checks then say so and are skipped.
HAVE_VLAN=1
in_ns ip link add link v0 name v0.42 type vlan id 42 2>/dev/null || HAVE_VLAN=0
in_ns ip link add link v0 name m0 type macvlan mode bridge
in_ns ip link add br0 type bridge
in_ns ip addr add 10.77.0.1/24 dev v0
in_ns ip addr add fd00:77::1/64 dev v0 nodad
in_ns ip link set v0 up
in_ns ip link set v1 up
[ "$HAVE_VLAN" = 1 ] && in_ns ip link set v0.42 up
in_ns ip link set m0 up

# ip netns exec mounts a sysfs of the namespace, so speed and driver are the namespace's own.
ip netns exec "$NS" "$BIN" --auth off --listen 127.0.0.1:0 --port-file "$WORK/port" --iscsi-root "$WORK/root" \
        --db "$WORK/db" --lock-dir "$WORK/lock" --log-level warning 2>"$WORK/log" &
PID=$!
for _ in $(seq 200); do [ -s "$WORK/port" ] && break; sleep 0.05; done
[ -s "$WORK/port" ] || { cat "$WORK/log"; echo "harness: daemon did not start"; exit 99; }
URL=http://127.0.0.1:$(cat "$WORK/port")
get() {
        rcurl --netns "$NS" "$URL$1" >/dev/null || true
        cat "$RCURL_DIR/body"
}
status() { rcurl --netns "$NS" "$URL$1"; }

# wait_for DESCRIPTION PATH JQ-EXPR: poll until the expression is true, at most DEADLINE_MS
# (1 s; the qemu lane, where every process start costs tens of ms under TCG, allows more).
DEADLINE_MS=${NICS_DEADLINE_MS:-1000}
wait_for() {
        local what=$1 path=$2 expr=$3 t0 ms
        t0=$(date +%s%N)
        while :; do
                if get "$path" | jq -e "$expr" >/dev/null 2>&1; then
                        ms=$((($(date +%s%N) - t0) / 1000000))
                        if [ "$ms" -le "$DEADLINE_MS" ]; then
                                pass "$what (shown after $ms ms)"
                        else
                                fail "$what: shown only after $ms ms (deadline $DEADLINE_MS ms)"
                        fi
                        return 0
                fi
                ms=$((($(date +%s%N) - t0) / 1000000))
                if [ "$ms" -gt "$DEADLINE_MS" ]; then
                        fail "$what: not shown within $DEADLINE_MS ms; last: $(get "$path" | head -c 400)"
                        return 0
                fi
                sleep 0.01
        done
}

# The start state.
nic=$(get /api/v1/nics/v0)
echo "$nic" | jq -e '.kind == "veth" and .parent == "v1" and .up and .mtu == 1500 and (.mac | test("^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"))' >/dev/null \
        && pass "v0: veth, peer v1, up, mtu, MAC" || fail "v0 start state: $nic"
echo "$nic" | jq -e '[.addresses[] | select(.family == "inet" and .address == "10.77.0.1" and .prefixlen == 24 and .scope == "global")] | length == 1' >/dev/null \
        && pass "v0: IPv4 address with prefix and scope" || fail "v0 addresses: $nic"
echo "$nic" | jq -e '[.addresses[] | select(.family == "inet6" and .address == "fd00:77::1" and .prefixlen == 64)] | length == 1' >/dev/null \
        && pass "v0: IPv6 address" || fail "v0 IPv6: $nic"
if [ "$HAVE_VLAN" = 1 ]; then
        get /api/v1/nics/v0.42 | jq -e '.kind == "vlan" and .vlan_id == 42 and .parent == "v0"' >/dev/null \
                && pass "v0.42: vlan 42 on v0" || fail "v0.42: $(get /api/v1/nics/v0.42)"
else
        echo "SKIP: this kernel has no 802.1Q support (ip link add type vlan: unknown device type)"
fi
get /api/v1/nics/m0 | jq -e '.kind == "macvlan" and .parent == "v0" and .vlan_id == null' >/dev/null \
        && pass "m0: macvlan on v0" || fail "m0: $(get /api/v1/nics/m0)"
get /api/v1/nics/br0 | jq -e '.kind == "bridge" and .up == false' >/dev/null \
        && pass "br0: bridge, down" || fail "br0: $(get /api/v1/nics/br0)"
get /api/v1/nics/lo | jq -e '.kind == "physical" and (.flags | index("LOOPBACK"))' >/dev/null \
        && pass "lo: loopback flag" || fail "lo: $(get /api/v1/nics/lo)"
echo "$nic" | jq -e '(.speed_mbps == null or (.speed_mbps | type) == "number") and (.duplex | IN("full","half","unknown")) and (.rp_filter | has("value"))' >/dev/null \
        && pass "v0: speed/duplex/driver/rp_filter present (unknown allowed)" || fail "v0 sysfs fields: $nic"

# Filters.
[ "$(get '/api/v1/nics?kind=veth' | jq -c '[.items[].name]')" = '["v0","v1"]' ] \
        && pass "?kind=veth" || fail "?kind=veth: $(get '/api/v1/nics?kind=veth' | jq -c '[.items[].name]')"
[ "$(get '/api/v1/nics?kind=macvlan' | jq -c '[.items[].name]')" = '["m0"]' ] \
        && pass "?kind=macvlan" || fail "?kind=macvlan"
[ "$(get '/api/v1/nics?up=false' | jq -c '[.items[].name]')" = '["br0"]' ] \
        && pass "?up=false" || fail "?up=false: $(get '/api/v1/nics?up=false' | jq -c '[.items[].name]')"
# br0 is down, so it has not even an IPv6 link-local address.
[ "$(get '/api/v1/nics?has_address=true' | jq -c '[.items[].name] | index("v0") != null and index("br0") == null')" = true ] \
        && pass "?has_address=true" || fail "?has_address=true: $(get '/api/v1/nics?has_address=true' | jq -c '[.items[].name]')"
[ "$(status '/api/v1/nics?up=maybe')" = 400 ] && pass "?up=maybe -> 400" || fail "?up=maybe"
[ "$(status '/api/v1/nics?bogus=1')" = 400 ] && pass "unknown filter -> 400" || fail "unknown filter"
[ "$(status /api/v1/nics/nosuch0)" = 404 ] && pass "unknown NIC -> 404" || fail "unknown NIC"

# Relations: ifaces bound to a NIC, and ifaces whose port is missing.
rcurl --netns "$NS" -X POST -H 'Content-Type: application/json' \
        -d '{"name":"b0","net_ifacename":"v0"}' "$URL/api/v1/ifaces" >/dev/null
mac1=$(get /api/v1/nics/v1 | jq -r .mac)
rcurl --netns "$NS" -X POST -H 'Content-Type: application/json' \
        -d "{\"name\":\"b1\",\"hwaddress\":\"${mac1^^}\"}" "$URL/api/v1/ifaces" >/dev/null
st=$(rcurl --netns "$NS" -X POST -H 'Content-Type: application/json' \
        -d '{"name":"pre0","net_ifacename":"nope0"}' "$URL/api/v1/ifaces") || true
r="$(cat "$RCURL_DIR/body")
$st"
[ "$(echo "$r" | tail -1)" = 201 ] && echo "$r" | head -1 | jq -e '.port_status == "missing" and (.warnings | length) == 1 and (.warnings[0] | test("nope0"))' >/dev/null \
        && pass "an iface on a missing NIC is accepted, with port_status missing and a warning" \
        || fail "pre-provisioned iface: $r"
get /api/v1/ifaces/b0 | jq -e '.port_status == "present" and (has("warnings") | not)' >/dev/null \
        && pass "b0: port present" || fail "b0: $(get /api/v1/ifaces/b0)"
get /api/v1/ifaces/default | jq -e '.port_status == "unbound"' >/dev/null \
        && pass "default: unbound" || fail "default port_status"
get /api/v1/nics/v0 | jq -e '.ifaces == ["b0"]' >/dev/null && pass "v0 lists b0 (by net_ifacename)" || fail "v0 ifaces: $(get /api/v1/nics/v0 | jq -c .ifaces)"
get /api/v1/nics/v1 | jq -e '.ifaces == ["b1"]' >/dev/null && pass "v1 lists b1 (by MAC, any case)" || fail "v1 ifaces: $(get /api/v1/nics/v1 | jq -c .ifaces)"
# A GET body can be sent back as it is (read-only fields are ignored).
body=$(get /api/v1/ifaces/pre0)
[ "$(rcurl --netns "$NS" -X PUT -H 'Content-Type: application/json' -d "$body" "$URL/api/v1/ifaces/pre0")" = 200 ] \
        && pass "PUT of a GET body (with port_status and warnings) -> 200" || fail "PUT of a GET body"

# Changes, each within a second.
in_ns ip link set v1 down
wait_for "v1 down" /api/v1/nics/v1 '.up == false'
in_ns ip link set v1 up
wait_for "v1 up" /api/v1/nics/v1 '.up == true'
in_ns ip link set v1 down
in_ns ip link set v1 name v9
wait_for "rename v1 -> v9" /api/v1/nics/v9 '.name == "v9" and .kind == "veth"'
[ "$(status /api/v1/nics/v1)" = 404 ] && pass "old name v1 -> 404" || fail "v1 after rename"
wait_for "v0's peer follows the rename" /api/v1/nics/v0 '.parent == "v9"'
in_ns ip addr add 10.88.0.1/16 dev v9
wait_for "address add" /api/v1/nics/v9 '[.addresses[] | select(.address == "10.88.0.1" and .prefixlen == 16)] | length == 1'
in_ns ip addr del 10.88.0.1/16 dev v9
wait_for "address remove" /api/v1/nics/v9 '[.addresses[] | select(.address == "10.88.0.1")] | length == 0'
in_ns ip link set v0 mtu 9000
wait_for "MTU change" /api/v1/nics/v0 '.mtu == 9000'
in_ns ip link add v5 type veth peer name v6
wait_for "new link" /api/v1/nics/v5 '.kind == "veth"'
in_ns ip link del m0
wait_for "delete m0" /api/v1/nics '[.items[].name] | index("m0") == null'
# A GET's body is kept on the record for the inventory it showed (api/ifaces.c): two GETs of
# pre0 before the change, so the body shown as missing is kept, must not outlive the change.
for _ in 1 2; do
        get /api/v1/ifaces/pre0 | jq -e '.port_status == "missing"' >/dev/null \
                && pass "pre0: missing before its port exists" || fail "pre0 before: $(get /api/v1/ifaces/pre0)"
done
in_ns ip link add nope0 type veth peer name nope1
wait_for "the missing port appears: pre0 becomes present" /api/v1/ifaces/pre0 '.port_status == "present"'
in_ns ip link del nope0
wait_for "the port goes again: pre0 is missing again" /api/v1/ifaces/pre0 '.port_status == "missing"'
# rp_filter has no netlink event: it is refreshed every few seconds.
in_ns sh -c 'echo 1 > /proc/sys/net/ipv4/conf/v0/rp_filter'
t0=$(date +%s)
for _ in $(seq 80); do get /api/v1/nics/v0 | jq -e '.rp_filter.value == 1 and .rp_filter.drops_bound_replies' >/dev/null && break; sleep 0.1; done
get /api/v1/nics/v0 | jq -e '.rp_filter.drops_bound_replies' >/dev/null \
        && pass "rp_filter strict on v0 is flagged (after $(($(date +%s) - t0)) s)" || fail "rp_filter: $(get /api/v1/nics/v0 | jq -c .rp_filter)"

kill "$PID"
wait "$PID" && pass "SIGTERM: exit 0" || fail "daemon exit status"
PID=
contract_verdict # every answer, against openapi.yaml
[ "$fails" = 0 ] || { echo "$fails check(s) failed"; cat "$WORK/log"; exit 1; }
echo "all checks passed"
