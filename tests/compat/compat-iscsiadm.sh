#!/bin/bash
# SPDX-License-Identifier: MIT
# compat.iscsiadm: the real iscsiadm and iscsi-ifaced share one iscsi db root and iscsiadm's lock
# inside a private mount namespace; each must read what the other writes, byte for byte.
#
# Nothing on the host is touched: a temp dir is bind-mounted over /etc/iscsi (and /var/lib/iscsi
# when it exists), a tmpfs over /run/lock, and a tmpfs over /sys/class fakes the kernel's tcp,
# iser and bnx2i transports that `iscsiadm -o update` insists on (/sys/class/net is kept).
# Needs root, unshare, iscsiadm 2.1.8, curl and jq; exit 77 (skip) when one is missing.
# Environment: IFACED_BIN (the daemon, set by meson). Exit: 0 all PASS, 1 a FAIL, 77 skip,
# 99 the harness itself broke.
set -euo pipefail
# shellcheck source=tests/contract/record.sh
. "$(dirname "$(readlink -f "$0")")/../contract/record.sh"
export LC_ALL=C

skip() {
        echo "SKIP: $*"
        exit 77
}

# --- outside the namespace: prerequisites, the temp dir, then re-run inside ---------------------
if [ "${COMPAT_INNER:-}" != 1 ]; then
        [ "$EUID" = 0 ] || skip "needs root (bind mounts over /etc/iscsi and /run/lock)"
        command -v iscsiadm >/dev/null || skip "iscsiadm is not installed (Debian: open-iscsi)"
        for tool in unshare curl jq cmp; do
                command -v "$tool" >/dev/null || skip "$tool is not installed"
        done
        version=$(iscsiadm --version 2>/dev/null | awk '{print $3}')
        [ "$version" = 2.1.8 ] ||
                skip "iscsiadm is '$version'; the record format under test is that of 2.1.8"
        [ -d /etc/iscsi ] || skip "/etc/iscsi does not exist: this iscsiadm uses another db root"
        unshare -m --propagation private true 2>/dev/null ||
                skip "cannot create a private mount namespace (unshare -m)"
        if [ -z "${IFACED_BIN:-}" ] || [ ! -x "$IFACED_BIN" ]; then
                echo "harness error: IFACED_BIN is not the daemon executable (run through meson test)" >&2
                exit 99
        fi

        WORK=$(mktemp -d "${TMPDIR:-/tmp}/compat-iscsiadm.XXXXXX")
        # shellcheck disable=SC2317 # called by the EXIT trap
        cleanup_outer() {
                local pid

                # The daemon lives in the namespace; if the inner shell died hard, end it here.
                if [ -s "$WORK/daemon.pid" ]; then
                        pid=$(cat "$WORK/daemon.pid")
                        kill -KILL "$pid" 2>/dev/null || true
                fi
                rm -rf "$WORK"
        }
        trap cleanup_outer EXIT
        trap 'exit 130' INT TERM HUP

        mkdir -p "$WORK/iscsi-db" "$WORK/state" "$WORK/sysfs-keep"
        echo "InitiatorName=iqn.2024-01.test.compat:host" >"$WORK/iscsi-db/initiatorname.iscsi"
        chmod 600 "$WORK/iscsi-db/initiatorname.iscsi"
        # Keep iscsiadm from asking the host's systemd to start iscsid.
        if [ -f /etc/iscsi/iscsid.conf ]; then
                sed 's|^iscsid.startup = .*|iscsid.startup = /bin/true|' /etc/iscsi/iscsid.conf \
                        >"$WORK/iscsi-db/iscsid.conf"
        else
                echo "iscsid.startup = /bin/true" >"$WORK/iscsi-db/iscsid.conf"
        fi

        rc=0
        COMPAT_INNER=1 COMPAT_WORK="$WORK" unshare -m --propagation private bash "$0" || rc=$?
        exit "$rc"
fi

# --- inside the namespace -----------------------------------------------------------------------
WORK=$COMPAT_WORK
STATE=$WORK/state
RCURL_DIR=$STATE
ROOT=/etc/iscsi
LOCK_DIR=/run/lock/iscsi
DAEMON=
PORT=
PASSES=0
FAILS=0

harness_fail() {
        echo "harness error: $*" >&2
        exit 99
}

pass() {
        echo "PASS: $*"
        PASSES=$((PASSES + 1))
}

fail() {
        echo "FAIL: $*"
        FAILS=$((FAILS + 1))
}

now_ms() {
        echo $(($(date +%s%N) / 1000000))
}

cleanup_inner() {
        local rc=$?

        if [ -n "$DAEMON" ] && kill -0 "$DAEMON" 2>/dev/null; then
                kill -KILL "$DAEMON" 2>/dev/null || true
                wait "$DAEMON" 2>/dev/null || true
        fi
        if [ "$FAILS" -gt 0 ] || [ "$rc" -ne 0 ]; then
                echo "--- end of the daemon log"
                tail -n 60 "$STATE/daemon.log" 2>/dev/null || true
        fi
}
trap cleanup_inner EXIT

mount --bind "$WORK/iscsi-db" /etc/iscsi
if [ -d /var/lib/iscsi ]; then
        mount --bind "$WORK/iscsi-db" /var/lib/iscsi
fi
mount -t tmpfs -o mode=1777 tmpfs /run/lock
mount --bind /sys/class/net "$WORK/sysfs-keep"
mount -t tmpfs -o mode=755 tmpfs /sys/class
mkdir -p /sys/class/net
mount --move "$WORK/sysfs-keep" /sys/class/net
# handle != 0 makes a transport count as loaded; caps as the kernel drivers report them
for t in tcp:1:0x39 iser:2:0x89 bnx2i:3:0x8b9; do
        IFS=: read -r name handle caps <<<"$t"
        mkdir -p "/sys/class/iscsi_transport/$name"
        echo "$handle" >"/sys/class/iscsi_transport/$name/handle"
        echo "$caps" >"/sys/class/iscsi_transport/$name/caps"
done

# --- helpers ------------------------------------------------------------------------------------

# api METHOD PATH [CONTENT-TYPE BODY]: sets STATUS and leaves the body in $STATE/body.
api() {
        local method=$1 path=$2
        local args=(-sS -o "$STATE/body" -D "$STATE/hdr" -w '%{http_code}' -X "$method" -H 'Expect:')

        if [ $# -ge 4 ]; then
                args+=(-H "Content-Type: $3" --data-binary "$4")
        fi
        : >"$STATE/hdr"
        STATUS=$(curl "${args[@]}" "http://127.0.0.1:$PORT$path" 2>"$STATE/curl.err") || STATUS=000
        contract_record "$method" "$path" "$STATUS" "$STATE/hdr" "$STATE/body" "compat api"
}

# our_text NAME FILE: GET the record as text/plain into FILE; prints the status.
our_text() {
        local st
        st=$(curl -sS -o "$2" -D "$STATE/text.hdr" -w '%{http_code}' -H 'Accept: text/plain' \
                "http://127.0.0.1:$PORT/api/v1/ifaces/$1" 2>/dev/null) || st=000
        contract_record GET "/api/v1/ifaces/$1" "$st" "$STATE/text.hdr" "$2" "compat our_text"
        echo "$st"
}

# adm_show NAME FILE: `iscsiadm -m iface -I NAME` into FILE; returns its rc.
adm_show() {
        iscsiadm -m iface -I "$1" >"$2" 2>"$STATE/adm.err"
}

# text_agrees NAME: our text/plain equals iscsiadm's show, byte for byte.
text_agrees() {
        adm_show "$1" "$STATE/adm.txt" || return 1
        [ "$(our_text "$1" "$STATE/our.txt")" = 200 ] || return 1
        cmp -s "$STATE/adm.txt" "$STATE/our.txt"
}

is_absent() {
        [ "$(our_text "$1" "$STATE/our.txt")" = 404 ]
}

# wait_for MS CMD...: retry CMD every 50 ms for up to MS; sets WAITED (ms).
wait_for() {
        local limit=$1 t0
        shift
        t0=$(now_ms)
        until "$@"; do
                if [ $(($(now_ms) - t0)) -ge "$limit" ]; then
                        WAITED=$(($(now_ms) - t0))
                        return 1
                fi
                sleep 0.05
        done
        WAITED=$(($(now_ms) - t0))
}

show_diff() {
        diff -u --label "$1" --label "$2" "$3" "$4" | head -n 40 | sed 's/^/    /' || true
}

health_field() {
        rcurl "http://127.0.0.1:$PORT/api/v1/health" >/dev/null 2>&1 || true
        jq -r "$1" "$RCURL_DIR/body" 2>/dev/null
}

# --- the daemon ---------------------------------------------------------------------------------

# iscsiadm's first run creates ifaces/ and its lock file <lock dir>/lock.
if ! iscsiadm -m iface >/dev/null 2>"$STATE/adm.err"; then
        harness_fail "iscsiadm -m iface fails on an empty db: $(cat "$STATE/adm.err")"
fi
[ -e "$LOCK_DIR/lock" ] || harness_fail "iscsiadm did not create $LOCK_DIR/lock"

"$IFACED_BIN" --auth off --listen 127.0.0.1:0 --port-file "$STATE/port" --iscsi-root "$ROOT" \
        --db "$STATE/ifaced.db" --lock-dir "$LOCK_DIR" --drift import --log-level debug \
        >"$STATE/daemon.log" 2>&1 &
DAEMON=$!
echo "$DAEMON" >"$WORK/daemon.pid"
for _ in $(seq 200); do
        [ -s "$STATE/port" ] && break
        kill -0 "$DAEMON" 2>/dev/null || harness_fail "the daemon exited at start"
        sleep 0.05
done
PORT=$(cat "$STATE/port" 2>/dev/null || true)
[ -n "$PORT" ] || harness_fail "the daemon wrote no port file within 10 s"
echo "daemon pid $DAEMON on 127.0.0.1:$PORT, iscsi root $ROOT (private mount namespace)"

# --- 1. records created through our API, read by iscsiadm ---------------------------------------

NAMES=(
        bare0
        nd0
        hw0
        eth0-ipv6
        bnx2i.00:10:18:aa:bb:01.ipv4.0
        full0
)
declare -A BODY=(
        [bare0]='{"name":"bare0"}'
        [nd0]='{"name":"nd0","net_ifacename":"eth1"}'
        [hw0]='{"name":"hw0","hwaddress":"00:0f:1f:92:6b:bf","initiatorname":"iqn.2020-01.com.example:hw0"}'
        [eth0-ipv6]='{"name":"eth0-ipv6","net_ifacename":"eth0","ipaddress":"fe80::1","ipv6_autocfg":"nd",
                "linklocal_autocfg":"auto","router_autocfg":"auto","ipv6_linklocal":"fe80::2",
                "ipv6_router":"fe80::fe","gratuitous_neighbor_adv":"enable","mld":"disable",
                "hop_limit":64,"flow_label":7,"dup_addr_detect_cnt":1,"nd_reachable_tmo":30000,
                "nd_rexmit_time":1000,"nd_stale_tmo":60000,"router_adv_link_mtu":1500,
                "traffic_class":2,"mtu":1500}'
        [bnx2i.00:10:18:aa:bb:01.ipv4.0]='{"name":"bnx2i.00:10:18:aa:bb:01.ipv4.0",
                "transport_name":"bnx2i","hwaddress":"00:10:18:aa:bb:01","ipaddress":"10.0.0.5",
                "subnet_mask":"255.255.255.0","gateway":"10.0.0.1","bootproto":"static",
                "vlan_id":100,"vlan_priority":3,"vlan_state":"enable","mtu":9000,"port":3260,
                "state":"enable","iface_num":1}'
        [full0]='{"name":"full0","net_ifacename":"eth2","initiatorname":"iqn.2020-01.com.example:full0",
                "state":"enable","vlan_state":"disable","dhcp_alt_client_id_state":"enable",
                "dhcp_alt_client_id":"client-7","dhcp_dns":"disable","dhcp_learn_iqn":"enable",
                "dhcp_req_vendor_id_state":"disable","dhcp_vendor_id_state":"enable",
                "dhcp_vendor_id":"vendor-x","dhcp_slp_da":"disable","fragmentation":"enable",
                "gratuitous_arp":"disable","incoming_forwarding":"enable","tos_state":"disable",
                "tos":8,"ttl":64,"delayed_ack":"enable","tcp_nagle":"disable",
                "tcp_wsf_state":"enable","tcp_wsf":2,"tcp_timer_scale":3,"tcp_timestamp":"disable",
                "redirect":"enable","def_task_mgmt_timeout":20,"header_digest":"disable",
                "data_digest":"enable","immediate_data":"disable","initial_r2t":"enable",
                "data_seq_inorder":"disable","data_pdu_inorder":"enable","erl":1,
                "max_receive_data_len":262144,"first_burst_len":65536,"max_outstanding_r2t":1,
                "max_burst_len":262144,"chap_auth":"enable","bidi_chap":"disable",
                "strict_login_compliance":"enable","discovery_auth":"disable",
                "discovery_logout":"enable"}'
)

for name in "${NAMES[@]}"; do
        api POST /api/v1/ifaces application/json "${BODY[$name]}"
        if [ "$STATUS" = 201 ]; then
                pass "POST $name -> 201"
        else
                fail "POST $name -> $STATUS: $(head -c 400 "$STATE/body" 2>/dev/null)"
        fi
done

# The listing iscsiadm must print, from the inputs above (not from the daemon).
{
        for name in "${NAMES[@]}"; do
                jq -r '"\(.name) \(.transport_name // "tcp"),\(.hwaddress // "<empty>"),\(.ipaddress // "<empty>"),\(.net_ifacename // "<empty>"),\(.initiatorname // "<empty>")"' \
                        <<<"${BODY[$name]}"
        done | sort
        echo "default tcp,<empty>,<empty>,<empty>,<empty>"
        echo "iser iser,<empty>,<empty>,<empty>,<empty>"
} >"$STATE/list.want"

rc=0
iscsiadm -m iface >"$STATE/list.got" 2>"$STATE/adm.err" || rc=$?
if [ "$rc" = 0 ] && cmp -s "$STATE/list.want" "$STATE/list.got"; then
        pass "iscsiadm -m iface: rc 0, lists our ${#NAMES[@]} records in order, then default and iser"
else
        fail "iscsiadm -m iface: rc $rc, stderr: $(head -c 300 "$STATE/adm.err")"
        show_diff expected "iscsiadm -m iface" "$STATE/list.want" "$STATE/list.got"
fi

for name in "${NAMES[@]}"; do
        rc=0
        adm_show "$name" "$STATE/adm.txt" || rc=$?
        status=$(our_text "$name" "$STATE/our.txt")
        if [ "$rc" = 0 ] && [ "$status" = 200 ] && cmp -s "$STATE/adm.txt" "$STATE/our.txt"; then
                pass "iscsiadm -m iface -I $name: rc 0, stdout = our text/plain byte for byte"
        else
                fail "iscsiadm -m iface -I $name: rc $rc (stderr: $(head -c 200 "$STATE/adm.err")), our GET $status"
                show_diff "iscsiadm -I $name" "GET text/plain" "$STATE/adm.txt" "$STATE/our.txt"
        fi
done

# iscsiadm rewrites a whole record on any update; setting mtu to the value it has must give back
# exactly the bytes we wrote, and the daemon must not mistake that rewrite for a change.
imported_before=$(health_field .drift.imported)
for name in "${NAMES[@]}"; do
        file="$ROOT/ifaces/$name"
        cp "$file" "$STATE/ours.bytes" 2>/dev/null || { fail "$file is missing"; continue; }
        mtu=$(sed -n 's/^iface\.mtu = //p' "$file")
        before=$(stat -c %y "$file" 2>/dev/null || true)
        sleep 0.01
        rc=0
        iscsiadm -m iface -I "$name" -o update -n iface.mtu -v "$mtu" >/dev/null 2>"$STATE/adm.err" || rc=$?
        if [ "$rc" != 0 ] || [ -s "$STATE/adm.err" ]; then
                fail "iscsiadm -I $name -o update -n iface.mtu -v $mtu: rc $rc, stderr: $(head -c 300 "$STATE/adm.err")"
        elif [ "$(stat -c %y "$file")" = "$before" ]; then
                harness_fail "iscsiadm did not rewrite $file"
        elif cmp -s "$STATE/ours.bytes" "$file"; then
                pass "iscsiadm rewrites ifaces/$name byte-identically to what we wrote"
        else
                fail "iscsiadm's rewrite of ifaces/$name differs from our bytes"
                show_diff "ours" "iscsiadm" "$STATE/ours.bytes" "$file"
        fi
done
sleep 1.2
imported_after=$(health_field .drift.imported)
if [ -n "$imported_before" ] && [ "$imported_before" = "$imported_after" ]; then
        pass "identical rewrites by iscsiadm are not imported as drift (imported stays $imported_after)"
else
        fail "identical rewrites by iscsiadm changed drift.imported from '$imported_before' to '$imported_after'"
fi

# --- 2. records changed by iscsiadm, picked up by the daemon ------------------------------------

# adm_then_wait LABEL CHECK NAME -- iscsiadm ARGS...: run iscsiadm, then wait until CHECK NAME.
adm_then_wait() {
        local label=$1 check=$2 name=$3 rc=0
        shift 4

        "$@" >/dev/null 2>"$STATE/adm.err" || rc=$?
        if [ "$rc" != 0 ] || grep -Eq 'Could not|Cannot|Can not|[Ii]nvalid' "$STATE/adm.err"; then
                fail "$label: iscsiadm $*: rc $rc, stderr: $(head -c 300 "$STATE/adm.err")"
                return
        fi
        if wait_for 3000 "$check" "$name"; then
                pass "$label: picked up in $WAITED ms"
        else
                fail "$label: not picked up within 3 s"
                if [ "$check" = text_agrees ]; then
                        show_diff "iscsiadm -I $name" "GET text/plain" "$STATE/adm.txt" "$STATE/our.txt"
                fi
        fi
}

adm_then_wait "iscsiadm -o new adm0" text_agrees adm0 -- \
        iscsiadm -m iface -I adm0 -o new
adm_then_wait "iscsiadm -o update adm0 net_ifacename" text_agrees adm0 -- \
        iscsiadm -m iface -I adm0 -o update -n iface.net_ifacename -v eth5
adm_then_wait "iscsiadm -o new adm1-ipv6" text_agrees adm1-ipv6 -- \
        iscsiadm -m iface -I adm1-ipv6 -o new
adm_then_wait "iscsiadm -o update adm1-ipv6 (net_ifacename)" text_agrees adm1-ipv6 -- \
        iscsiadm -m iface -I adm1-ipv6 -o update -n iface.net_ifacename -v eth6
adm_then_wait "iscsiadm -o update adm1-ipv6 (ipaddress fe80::5)" text_agrees adm1-ipv6 -- \
        iscsiadm -m iface -I adm1-ipv6 -o update -n iface.ipaddress -v fe80::5
adm_then_wait "iscsiadm -o update adm1-ipv6 (ipv6_autocfg)" text_agrees adm1-ipv6 -- \
        iscsiadm -m iface -I adm1-ipv6 -o update -n iface.ipv6_autocfg -v nd
adm_then_wait "iscsiadm -o update adm1-ipv6 (hop_limit)" text_agrees adm1-ipv6 -- \
        iscsiadm -m iface -I adm1-ipv6 -o update -n iface.hop_limit -v 32
adm_then_wait "iscsiadm -o update of our hw0 (initiatorname)" text_agrees hw0 -- \
        iscsiadm -m iface -I hw0 -o update -n iface.initiatorname -v iqn.2020-01.com.example:by-iscsiadm
adm_then_wait "iscsiadm -o update of our full0 (tcp_nagle)" text_agrees full0 -- \
        iscsiadm -m iface -I full0 -o update -n iface.tcp_nagle -v enable
adm_then_wait "iscsiadm -o delete of our nd0" is_absent nd0 -- \
        iscsiadm -m iface -I nd0 -o delete

api GET /api/v1/ifaces/hw0
if [ "$STATUS" = 200 ] &&
        [ "$(jq -r .initiatorname "$STATE/body")" = iqn.2020-01.com.example:by-iscsiadm ]; then
        pass "GET hw0 (JSON) shows iscsiadm's initiatorname"
else
        fail "GET hw0 (JSON): $STATUS $(head -c 300 "$STATE/body")"
fi

rcurl "http://127.0.0.1:$PORT/api/v1/health" >/dev/null 2>&1 || true
cp "$RCURL_DIR/body" "$STATE/health.json" 2>/dev/null || true
for ev in adm0:added adm0:changed adm1-ipv6:added adm1-ipv6:changed hw0:changed full0:changed nd0:removed; do
        n=${ev%%:*} a=${ev#*:}
        if jq -e --arg n "$n" --arg a "$a" \
                '.drift.recent | any(.name == $n and .action == $a)' "$STATE/health.json" >/dev/null 2>&1; then
                pass "health lists the import '$n $a' under drift"
        else
                fail "health does not list the import '$n $a' under drift: $(head -c 800 "$STATE/health.json")"
        fi
done
if jq -e '.status == "ok" and (.problems | length) == 0 and .drift.imported >= 7' \
        "$STATE/health.json" >/dev/null 2>&1; then
        pass "health: status ok, no problems, drift.imported = $(jq .drift.imported "$STATE/health.json")"
else
        fail "health: $(head -c 800 "$STATE/health.json")"
fi

# --- 3. bytes: our renderer writes what iscsiadm wrote ------------------------------------------

for name in adm0 adm1-ipv6; do
        file="$ROOT/ifaces/$name"
        cp "$file" "$STATE/adm.bytes"

        api PATCH "/api/v1/ifaces/$name" application/merge-patch+json '{}'
        if [ "$STATUS" = 200 ] && cmp -s "$STATE/adm.bytes" "$file"; then
                pass "no-op PATCH {} of iscsiadm's $name: 200, file unchanged"
        else
                fail "no-op PATCH {} of iscsiadm's $name: $STATUS $(head -c 300 "$STATE/body")"
        fi

        # Change a value and change it back: both writes are ours, the end must be iscsiadm's bytes.
        api PATCH "/api/v1/ifaces/$name" application/merge-patch+json '{"mtu":1500}'
        s1=$STATUS
        rc=0
        adm_show "$name" "$STATE/adm.txt" || rc=$?
        if [ "$s1" = 200 ] && [ "$rc" = 0 ] && grep -qx 'iface.mtu = 1500' "$STATE/adm.txt"; then
                pass "PATCH $name mtu 1500: iscsiadm reads our write (rc 0, iface.mtu = 1500)"
        else
                fail "PATCH $name mtu 1500: $s1, iscsiadm rc $rc: $(head -c 300 "$STATE/adm.err")"
        fi
        api PATCH "/api/v1/ifaces/$name" application/merge-patch+json '{"mtu":0}'
        if [ "$STATUS" = 200 ] && cmp -s "$STATE/adm.bytes" "$file"; then
                pass "PATCH $name back to mtu 0: our bytes equal the bytes iscsiadm wrote"
        else
                fail "PATCH $name back to mtu 0 ($STATUS): our bytes differ from iscsiadm's"
                show_diff "iscsiadm's $name" "ours" "$STATE/adm.bytes" "$file"
        fi
        rc=0
        adm_show "$name" "$STATE/adm.txt" || rc=$?
        if [ "$rc" = 0 ] && text_agrees "$name"; then
                pass "iscsiadm -m iface -I $name after our writes: rc 0, equals our text/plain"
        else
                fail "iscsiadm -m iface -I $name after our writes: rc $rc"
                show_diff "iscsiadm -I $name" "GET text/plain" "$STATE/adm.txt" "$STATE/our.txt"
        fi
done

# Our own writes are never mistaken for external changes.
sleep 1.2
imported_now=$(health_field .drift.imported)
if [ "$imported_now" = "$(jq .drift.imported "$STATE/health.json")" ]; then
        pass "our PATCHes of iscsiadm's records are not imported as drift (imported stays $imported_now)"
else
        fail "our PATCHes changed drift.imported from $(jq .drift.imported "$STATE/health.json") to '$imported_now'"
fi

# The whole listing agrees with our list, built from our JSON this time.
rcurl "http://127.0.0.1:$PORT/api/v1/ifaces?limit=1000" >/dev/null 2>&1 || true
jq -r '.items[] | "\(.name) \(.transport_name),\(.hwaddress // "<empty>"),\(.ipaddress // "<empty>"),\(.net_ifacename // "<empty>"),\(.initiatorname // "<empty>")"' \
        "$RCURL_DIR/body" >"$STATE/list.want" 2>/dev/null || true
rc=0
iscsiadm -m iface >"$STATE/list.got" 2>"$STATE/adm.err" || rc=$?
if [ "$rc" = 0 ] && [ -s "$STATE/list.want" ] && cmp -s "$STATE/list.want" "$STATE/list.got"; then
        pass "iscsiadm -m iface equals our list after changes from both sides ($(wc -l <"$STATE/list.got") lines)"
else
        fail "iscsiadm -m iface (rc $rc) differs from our list"
        show_diff "GET /api/v1/ifaces" "iscsiadm -m iface" "$STATE/list.want" "$STATE/list.got"
fi

# --- 4. files iscsiadm cannot read are reported, never imported ---------------------------------

has_problem() {
        health_field ".problems | any(.name == \"$1\" and .kind == \"unreadable\")" | grep -qx true
}

no_problems() {
        [ "$(health_field '.problems | length')" = 0 ]
}

# A hand edit with a key iscsiadm does not know (it then refuses the file and the whole listing).
printf '# BEGIN RECORD 2.1.8\niface.iscsi_ifacename = bad0\niface.transport_name = tcp\niface.bogus = 1\n# END RECORD\n' \
        >"$ROOT/ifaces/bad0"
rc=0
adm_show bad0 "$STATE/adm.txt" || rc=$?
[ "$rc" != 0 ] || harness_fail "iscsiadm accepts an unknown key (rc 0)"
if wait_for 3000 has_problem bad0; then
        pass "a file iscsiadm refuses (unknown key, its rc $rc) is reported in health as unreadable ($WAITED ms)"
else
        fail "health does not report the unreadable file bad0: $(health_field .)"
fi
api GET /api/v1/ifaces/bad0
if [ "$STATUS" = 404 ]; then
        pass "the unreadable bad0 is not imported (GET 404)"
else
        fail "the unreadable bad0 was imported: GET $STATUS $(head -c 300 "$STATE/body")"
fi

# An IPv6 address on a name without 'ipv6': iscsiadm writes IPv6 keys it then cannot read back.
adm_then_wait "iscsiadm -o new x01" text_agrees x01 -- iscsiadm -m iface -I x01 -o new
iscsiadm -m iface -I x01 -o update -n iface.net_ifacename -v eth9 >/dev/null 2>&1 || true
wait_for 3000 text_agrees x01 || fail "x01 with net_ifacename eth9 not picked up"
iscsiadm -m iface -I x01 -o update -n iface.ipaddress -v fe80::9 >/dev/null 2>&1 || true
rc=0
adm_show x01 "$STATE/adm.txt" || rc=$?
[ "$rc" != 0 ] || harness_fail "iscsiadm reads back an IPv6 record under a name without 'ipv6'"
if wait_for 3000 has_problem x01; then
        pass "iscsiadm's unreadable x01 (IPv6 keys, its rc $rc) is reported in health ($WAITED ms)"
else
        fail "health does not report the unreadable x01: $(health_field .)"
fi
api GET /api/v1/ifaces/x01
if [ "$STATUS" = 200 ] && [ "$(jq -r '.ipaddress // ""' "$STATE/body")" = "" ] &&
        [ "$(jq -r .net_ifacename "$STATE/body")" = eth9 ]; then
        pass "the unreadable version of x01 is not imported (GET keeps the last readable one)"
else
        fail "GET x01 after the unreadable rewrite: $STATUS $(head -c 300 "$STATE/body")"
fi

# The admin removes both files: the problems go, x01's removal is imported.
rm -f "$ROOT/ifaces/bad0" "$ROOT/ifaces/x01"
if wait_for 3000 no_problems && wait_for 3000 is_absent x01 && is_absent bad0; then
        pass "after the admin removes them: no problems, x01 and bad0 404 ($WAITED ms)"
else
        fail "after removing bad0 and x01: $(health_field .)"
fi

# --- 5. iscsiadm's lock -------------------------------------------------------------------------

if [ -e "$LOCK_DIR/lock.write" ]; then
        fail "$LOCK_DIR/lock.write exists while nobody writes"
fi
# Hold the lock the way iscsiadm does (a hard link of lock), release it after 1 s.
ln "$LOCK_DIR/lock" "$LOCK_DIR/lock.write"
(sleep 1 && rm -f "$LOCK_DIR/lock.write") &
releaser=$!
t0=$(now_ms)
(api POST /api/v1/ifaces application/json '{"name":"lk0","net_ifacename":"eth7"}' &&
        echo "$STATUS" >"$STATE/lk0.status") &
poster=$!
sleep 0.5
if kill -0 "$poster" 2>/dev/null && [ ! -e "$ROOT/ifaces/lk0" ]; then
        pass "POST waits while iscsiadm's lock.write is held (nothing written after 0.5 s)"
else
        fail "POST did not wait for iscsiadm's lock.write (done or file written within 0.5 s)"
fi
wait "$poster" || true
elapsed=$(($(now_ms) - t0))
wait "$releaser" || true
lk_status=$(cat "$STATE/lk0.status" 2>/dev/null || echo 000)
if [ "$lk_status" = 201 ] && [ "$elapsed" -ge 900 ]; then
        pass "POST completed with 201 after the lock was released ($elapsed ms)"
else
        fail "POST under iscsiadm's lock: status $lk_status after $elapsed ms (expected 201 after >= 900 ms)"
fi
rc=0
adm_show lk0 "$STATE/adm.txt" || rc=$?
if [ "$rc" = 0 ] && text_agrees lk0; then
        pass "iscsiadm -m iface -I lk0: rc 0, equals our text/plain"
else
        fail "iscsiadm -m iface -I lk0: rc $rc"
fi
if [ -e "$LOCK_DIR/lock.write" ]; then
        fail "$LOCK_DIR/lock.write is left after our write: iscsiadm would wait on it"
else
        pass "no lock.write left after our write"
fi

# --- 6. orderly stop ----------------------------------------------------------------------------

kill -TERM "$DAEMON"
rc=0
wait "$DAEMON" || rc=$?
DAEMON=
rm -f "$WORK/daemon.pid"
if [ "$rc" = 0 ]; then
        pass "SIGTERM: the daemon exits 0"
else
        fail "SIGTERM: the daemon exits $rc"
fi
rc=0
iscsiadm -m iface >/dev/null 2>"$STATE/adm.err" || rc=$?
if [ "$rc" = 0 ] && [ ! -e "$LOCK_DIR/lock.write" ]; then
        pass "iscsiadm -m iface after the daemon stopped: rc 0, no lock left"
else
        fail "iscsiadm -m iface after the daemon stopped: rc $rc"
fi

contract_verdict # every answer, against openapi.yaml
echo "compat.iscsiadm: $PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]
