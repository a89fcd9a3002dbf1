#!/bin/bash
# SPDX-License-Identifier: MIT
# The HBA inventory over HTTP on fixture sysfs trees (--sysfs-root): the daemon creates the
# offload ports' iface records exactly as iscsiadm 2.1.8 does (byte for byte against the files
# the real iscsiadm wrote, tests/fixtures/sysfs/expected/), with origin auto, idempotently, never
# overwriting a file that exists; /api/v1/hbas and /api/v1/transports describe the tree; a
# garbled tree gives unknown values, not a crash.
set -euo pipefail

BIN=${IFACED_BIN:?IFACED_BIN not set}
FIX=${SOURCE_ROOT:?SOURCE_ROOT not set}/tests/fixtures/sysfs
for t in curl jq sqlite3 cmp; do
        command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hbas-sysfs.XXXXXX")
PID=
fails=0
cleanup() {
        if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; fi
        rm -rf "$WORK"
}
trap cleanup EXIT
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# shellcheck source=tests/contract/record.sh
. "$(dirname "$(readlink -f "$0")")/../contract/record.sh"
RCURL_DIR=$WORK

start() { # $1 = state dir, $2 = sysfs tree
        rm -f "$1/port"
        "$BIN" --auth off --listen 127.0.0.1:0 --port-file "$1/port" --iscsi-root "$1/root" --db "$1/db" \
                --lock-dir "$1/lock" --sysfs-root "$2" --log-level warning 2>>"$1/log" &
        PID=$!
        for _ in $(seq 200); do [ -s "$1/port" ] && break; sleep 0.05; done
        [ -s "$1/port" ] || { cat "$1/log"; echo "harness: daemon did not start"; exit 99; }
        URL=http://127.0.0.1:$(cat "$1/port")
}
stop() {
        kill "$PID" && wait "$PID" || fail "daemon exit status"
        PID=
}
get() {
        rcurl "$URL$1" >/dev/null || true
        cat "$RCURL_DIR/body"
}
status() { rcurl "$URL$1"; }

for tree in bnx2i cxgb4i qla4xxx be2iscsi qedi; do
        d=$WORK/$tree
        mkdir -p "$d"
        start "$d" "$FIX/$tree"
        want=$(cd "$FIX/expected/$tree" && ls | sort)
        have=$(cd "$d/root/ifaces" && ls | sort)
        if [ "$want" = "$have" ]; then
                pass "$tree: the records iscsiadm creates: $(echo $want)"
        else
                fail "$tree: names differ: want [$(echo $want)] have [$(echo $have)]"
        fi
        for f in $want; do
                cmp -s "$FIX/expected/$tree/$f" "$d/root/ifaces/$f" \
                        || fail "$tree: ifaces/$f differs from iscsiadm's bytes"
        done
        [ "$(sqlite3 "$d/db" "SELECT DISTINCT origin FROM ifaces")" = auto ] \
                && pass "$tree: origin auto in sqlite" || fail "$tree: origins"
        n=$(echo "$want" | wc -w)
        [ "$(get /api/v1/hbas | jq '[.items[] | select(.offload)] | length')" -ge 1 ] \
                && pass "$tree: /api/v1/hbas lists offload ports" || fail "$tree: hbas $(get /api/v1/hbas | head -c 300)"
        [ "$(get /api/v1/hbas | jq '[.items[].ifaces[]] | length')" = "$n" ] \
                && pass "$tree: every auto record is listed under its HBA" \
                || fail "$tree: hba ifaces $(get /api/v1/hbas | jq -c '[.items[] | {host, ifaces}]')"
        revs=$(get '/api/v1/ifaces?limit=1000' | jq -c '[.items[] | .name]')
        etags=$(for f in $want; do rcurl "$URL/api/v1/ifaces/$f" >/dev/null; grep -i '^etag' "$RCURL_DIR/headers"; done)
        stop

        # Idempotent: a restart creates nothing new and keeps the revisions.
        start "$d" "$FIX/$tree"
        [ "$(get '/api/v1/ifaces?limit=1000' | jq -c '[.items[] | .name]')" = "$revs" ] \
                && pass "$tree: restart creates nothing new" || fail "$tree: records changed on restart"
        etags2=$(for f in $want; do rcurl "$URL/api/v1/ifaces/$f" >/dev/null; grep -i '^etag' "$RCURL_DIR/headers"; done)
        [ "$etags" = "$etags2" ] && pass "$tree: revisions kept" || fail "$tree: revisions changed"
        # Every record made from sysfs takes a write of another key: a value iscsiadm writes
        # there (the kernel's router state in router_autocfg) is not refused.
        bad=
        for f in $want; do
                st=$(rcurl -X PATCH -H 'Content-Type: application/merge-patch+json' -d '{"mtu":1500}' \
                        "$URL/api/v1/ifaces/$f")
                [ "$st" = 200 ] || bad="$bad $f:$st:$(jq -r .detail "$RCURL_DIR/body" 2>/dev/null)"
        done
        [ -z "$bad" ] && pass "$tree: every record takes a PATCH of mtu" || fail "$tree: PATCH mtu:$bad"
        stop
done

# A file that is already there (iscsiadm's, here edited) is never overwritten.
d=$WORK/keep
mkdir -p "$d/root/ifaces"
f=qla4xxx.00:0e:1e:04:8b:14.ipv4.0
sed 's/^iface.mtu = .*/iface.mtu = 9000/' "$FIX/expected/qla4xxx/$f" >"$d/root/ifaces/$f"
start "$d" "$FIX/qla4xxx"
grep -q '^iface.mtu = 9000$' "$d/root/ifaces/$f" && pass "an existing offload file is not overwritten" \
        || fail "existing file overwritten"
[ "$(sqlite3 "$d/db" "SELECT origin FROM ifaces WHERE name = '$f'")" = external ] \
        && pass "it is imported as external" || fail "origin of the existing file"
get /api/v1/hbas/host14 | jq -e '.transport == "qla4xxx" and .offload and (.kernel_ifaces | length) == 3 and .hwaddress == "00:0e:1e:04:8b:14"' >/dev/null \
        && pass "GET /api/v1/hbas/host14" || fail "host14: $(get /api/v1/hbas/host14 | head -c 400)"
[ "$(get /api/v1/hbas/14 | jq -r .name)" = host14 ] && pass "GET /api/v1/hbas/14" || fail "hbas/14"
for bad in 99 host99 bogus host 14x; do
        [ "$(status "/api/v1/hbas/$bad")" = 404 ] || fail "hbas/$bad is not 404"
done
pass "unknown hosts -> 404"
get /api/v1/transports | jq -e '[.items[] | select(.name == "qla4xxx")][0] | .caps == "0x48b8" and .loaded and (.capabilities | index("DATA_PATH_OFFLOAD")) and (.capabilities | index("LOGIN_OFFLOAD"))' >/dev/null \
        && pass "transports: qla4xxx caps decoded" || fail "transports: $(get /api/v1/transports)"
# An iface bound by hwaddress to the HBA's MAC is present; the port's record lists it.
rcurl -X POST -H 'Content-Type: application/json' \
        -d '{"name":"q0","transport_name":"qla4xxx","hwaddress":"00:0E:1E:04:8B:14"}' "$URL/api/v1/ifaces" >/dev/null
get /api/v1/ifaces/q0 | jq -e '.port_status == "present"' >/dev/null && pass "an iface on the HBA's MAC: port present" \
        || fail "q0: $(get /api/v1/ifaces/q0)"
get /api/v1/hbas/host14 | jq -e '.ifaces | index("q0")' >/dev/null && pass "host14 lists q0" || fail "host14 ifaces"
# The IPv6 record made from host14's sysfs holds the kernel's router state (Advertised) in
# router_autocfg, as iscsiadm writes it: a write of another key keeps it and is accepted.
f6=qla4xxx.00:0e:1e:04:8b:14.ipv6.1
st=$(rcurl -X PATCH -H 'Content-Type: application/merge-patch+json' -d '{"mtu":1400}' \
        "$URL/api/v1/ifaces/$f6")
[ "$st" = 200 ] && grep -qx 'iface.mtu = 1400' "$d/root/ifaces/$f6" &&
        grep -qx 'iface.router_autocfg = Advertised' "$d/root/ifaces/$f6" &&
        pass "a PATCH of mtu on an HBA's IPv6 record: 200, router_autocfg Advertised kept" ||
        fail "PATCH mtu of $f6: $st $(cat "$RCURL_DIR/body")"
st=$(rcurl -X PATCH -H 'Content-Type: application/merge-patch+json' \
        -d '{"router_autocfg":"sometimes"}' "$URL/api/v1/ifaces/$f6")
[ "$st" = 400 ] && [ "$(jq -r .field "$RCURL_DIR/body")" = router_autocfg ] &&
        pass "router_autocfg 'sometimes': 400 naming the field" ||
        fail "PATCH router_autocfg sometimes: $st $(cat "$RCURL_DIR/body")"
stop

# Hot-plug: a port that appears after the start gets its records on SIGHUP.
d=$WORK/hotplug
mkdir -p "$d/sys"
cp -a "$FIX/tcp/." "$d/sys/"
start "$d" "$d/sys"
[ -z "$(ls "$d/root/ifaces")" ] && pass "hotplug: no offload port, no record" || fail "hotplug: records before the port"
# An iface on the port to come: its GET body is kept for the inventory it showed (api/ifaces.c)
# and must follow the new scan.
[ "$(rcurl -X POST -H 'Content-Type: application/json' \
        -d '{"name":"h0","transport_name":"bnx2i","hwaddress":"00:10:18:aa:bb:10"}' "$URL/api/v1/ifaces")" = 201 ] \
        || fail "hotplug: POST h0"
for _ in 1 2; do
        get /api/v1/ifaces/h0 | jq -e '.port_status == "missing"' >/dev/null \
                && pass "hotplug: h0's port is missing before it appears" || fail "hotplug h0 before: $(get /api/v1/ifaces/h0)"
done
rm -rf "$d/sys" && mkdir "$d/sys" && cp -a "$FIX/bnx2i/." "$d/sys/"
kill -HUP "$PID"
for _ in $(seq 60); do get /api/v1/ifaces/h0 | jq -e '.port_status == "present"' >/dev/null && break; sleep 0.05; done
get /api/v1/ifaces/h0 | jq -e '.port_status == "present"' >/dev/null \
        && pass "hotplug: h0's port is present once it appears" || fail "hotplug h0 after: $(get /api/v1/ifaces/h0)"
for _ in $(seq 100); do [ "$(ls "$d/root/ifaces" | wc -l)" -ge 3 ] && break; sleep 0.05; done
[ "$(cd "$d/root/ifaces" && ls | grep -vx h0 | sort)" = "$(cd "$FIX/expected/bnx2i" && ls | sort)" ] \
        && pass "hotplug: SIGHUP creates the new port's records" || fail "hotplug: $(ls "$d/root/ifaces")"
get /api/v1/hbas | jq -e '[.items[] | select(.transport == "bnx2i")] | length == 2' >/dev/null \
        && pass "hotplug: /api/v1/hbas shows the new ports" || fail "hotplug hbas: $(get /api/v1/hbas | head -c 300)"
stop

# Garbled sysfs: unknown values, no crash, no half-made records.
d=$WORK/garbled
mkdir -p "$d"
start "$d" "$FIX/garbled"
[ "$(status /api/v1/hbas)" = 200 ] && [ "$(status /api/v1/transports)" = 200 ] \
        && pass "garbled: hbas and transports answer 200" || fail "garbled: status"
get /api/v1/transports | jq -e 'all(.items[]; (.caps == null) or (.caps | test("^0x")))' >/dev/null \
        && pass "garbled: unreadable caps are null" || fail "garbled transports: $(get /api/v1/transports)"
[ "$(get /api/v1/health | jq -r .status)" = ok ] && pass "garbled: health ok" || fail "garbled health: $(get /api/v1/health)"
stop

# Connectivity checks of offload ifaces (docs/checks.md): the link step judges the HBA port from
# sysfs (be2iscsi: host15 LINK UP with an address, host16 LINK DOWN); tcp and iscsi are
# unsupported; ping goes to the HBA through the kernel's iSCSI netlink, which this host kernel
# may lack (then unsupported, said so) -- tests/vm proves the request against a real kernel.
d=$WORK/checks
mkdir -p "$d"
start "$d" "$FIX/be2iscsi"
post_check() {
        rcurl -X POST -H 'Content-Type: application/json' -d "$2" "$URL/api/v1/ifaces/$1/checks" \
                >/dev/null || true
        cat "$RCURL_DIR/body"
}
r=$(post_check be2iscsi.00:00:c9:bb:cc:15.ipv4.0 '{"portal":"192.0.2.99","timeout_ms":1500}')
[ "$(jq -r '.steps[0].step + "=" + .steps[0].status' <<<"$r")" = link=ok ] \
        && pass "offload check: link ok on host15 (LINK UP, 192.0.2.15)" || fail "offload link: $r"
[ "$(jq -r '.steps[0].device + " " + .steps[0].source_address' <<<"$r")" = "host15 192.0.2.15" ] \
        && pass "offload check: device host15, source 192.0.2.15" || fail "offload device: $r"
[ "$(jq -r '[.steps[2].status, .steps[3].status] | join(",")' <<<"$r")" = unsupported,unsupported ] \
        && pass "offload check: tcp and iscsi are unsupported, with a hint" || fail "offload tcp/iscsi: $r"
ping=$(jq -r '.steps[1].status' <<<"$r")
if python3 -c 'import socket; socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 8)' 2>/dev/null; then
        [ "$ping" != ok ] && [ -n "$(jq -r '.steps[1].hint // empty' <<<"$r")" ] \
                && pass "offload check: ping through a fixture HBA is not ok, and says why ($ping)" \
                || fail "offload ping on a kernel with iSCSI netlink: $r"
else
        [ "$ping" = unsupported ] && jq -r '.steps[1].hint' <<<"$r" | grep -F "no iSCSI transport netlink" >/dev/null \
                && pass "offload check: ping is unsupported here, and the hint says this kernel has no iSCSI netlink" \
                || fail "offload ping without iSCSI netlink: $r"
fi
[ "$(jq -r .status <<<"$r")" = ok ] || [ "$ping" != unsupported ] \
        && pass "offload check: unsupported steps do not fail the check" || fail "offload status: $r"
r=$(post_check be2iscsi.00:00:c9:bb:cc:16.ipv4.0 '{"portal":"192.0.2.99"}')
[ "$(jq -r '.status + " " + .reason + " " + .steps[1].status' <<<"$r")" = "failed link-down skipped" ] \
        && pass "offload check: host16 (LINK DOWN) fails with link-down, ping skipped" || fail "offload link-down: $r"
stop

contract_verdict # every answer, against openapi.yaml
[ "$fails" = 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all checks passed"
