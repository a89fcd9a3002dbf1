#!/bin/bash
# SPDX-License-Identifier: MIT
# Guest side of vm.sessions (tests/vm/meson.build): logins, logouts and ready devices
# (docs/sessions.md) through the API only, with the guest kernel's iscsi_tcp against the real
# target of `tests/vm/vm-lane.sh --target` (tgtd on the host, two virtio NICs). The host kernel
# has no SCSI or iSCSI: only the guest logs in. Uses tests/vm/target-guest.sh for the NICs,
# iscsid and the daemon.
#
# Checks, in order: an iface bound to eth1 and discovery through it; login to the open target
# (201, a block device that takes I/O, the session's local address is eth1's); a repeated login
# adopts (200, same sid, one session); CHAP + mutual CHAP (201) and a wrong password (422
# login-auth-failed, no session, the secrets in no response, log or command line); two logins in
# parallel; logout of a device held open and of a mounted one (409 naming the use), then 204;
# a dead portal (504 login-timeout within timeout_ms + slack while /api/v1/health answers); a
# restart of the daemon with sessions up; a logout made outside the API, told on the event
# stream. One PASS: or FAIL: line per check; exit 1 if any failed.
#   run: IFACED_BIN=build/server/iscsi-ifaced tests/vm/vm-lane.sh --target tests/vm/sessions.sh
set -uo pipefail
# shellcheck disable=SC2016 # jq expressions name jq variables ($f...), passed with --arg
HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)
# shellcheck source=target-guest.sh
. "$HERE/target-guest.sh"
T0=$(now_ms)
W=$(mktemp -d /tmp/vm-sessions.XXXXXX)
D=$W/d
MNT=/mnt/ifdvm-lun
WRONG_PASS=wrongpass0987
SECRETS=("$CHAP_PASS" "$MCHAP_PASS" "$WRONG_PASS")
PASSES=0
FAILS=0
SAMPLER=
cleanup() {
        if [ -n "$SAMPLER" ]; then kill "$SAMPLER" 2>/dev/null || true; fi
        exec 3>&- 2>/dev/null || true
        mountpoint -q "$MNT" 2>/dev/null && umount "$MNT"
        daemon_stop || true
}
trap cleanup EXIT

daemon_log_tail() { tail -n "${1:-15}" "$D/daemon.log" 2>/dev/null | sed 's/^/    | /'; }

# ---------------------------------------------------------------- 0. the guest
setup_step "setup: eth0 and eth1 on the target's taps" "setup: network" guest_net_up
setup_step "setup: iscsid runs (its control socket listens)" "setup: iscsid did not start" \
        guest_iscsid_up
if daemon_start "$D"; then
        pass "setup: the daemon listens"
        info "$URL, pid $DPID"
else
        fail "setup: the daemon did not start"
        daemon_log_tail
        finish
fi

# ---------------------------------------------------------------- 1. iface and discovery
body "$W/b-if" '{"name": "lane1", "transport_name": "tcp", "net_ifacename": "eth1"}'
api "$W/r-if" POST /api/v1/ifaces "$W/b-if"
expect "iface lane1 bound to eth1: 201" "$W/r-if" 201 '.name == "lane1"'
OPEN="$IQN_OPEN,$VIP,$PORT,1,lane1"
CHAP="$IQN_CHAP,$VIP,$PORT,1,lane1"
body "$W/b-disc" "{\"portal\": \"$PORTAL\", \"ifaces\": [\"lane1\"], \"bind\": true}"
api "$W/r-disc" POST /api/v1/discovery "$W/b-disc"
expect "discovery through lane1 with bind: 200, both targets bound to lane1" "$W/r-disc" 200 \
        '(.items[0].status == "ok") and (.bindings.created | sort) == ([$o, $c] | sort)' \
        --arg o "$OPEN" --arg c "$CHAP"
info "discovery: $MS ms"

# ---------------------------------------------------------------- 2. login to the open target
login open "$OPEN"
LOGIN_OPEN_MS=$MS
read -r SID_OPEN DEV_OPEN < <(session_of open)
if expect "login to the open target: 201, ready, a LUN on a block device" "$W/r-open" 201 \
        '.ready == true and .target == $t and .iface == "lane1" and
         ([.luns[] | select(.block != null and .ready == true)] | length) >= 1' --arg t "$IQN_OPEN" &&
        [ -n "$DEV_OPEN" ] && [ -b "/dev/$DEV_OPEN" ]; then
        pass "the open target's LUN: /dev/<block> exists when the login answers"
else
        fail "the open target's LUN: no block device node /dev/'$DEV_OPEN' when the login answered"
fi
info "login open: sid $SID_OPEN, /dev/$DEV_OPEN, $LOGIN_OPEN_MS ms"
expect "the session goes out of eth1: connection.local_address is eth1's address" "$W/r-open" 201 \
        '.connection.local_address == $a' --arg a "$ETH1_ADDR"
expect "the login waited for the LUNs the target reports (REPORT LUNS: 0 and 1; LUN 0 a controller)" \
        "$W/r-open" 201 \
        '.login.expect_from == "report-luns" and .login.expect_luns == [0, 1] and
         ([.luns[] | select(.lun == 0 and .type == 12 and .block == null and .ready)] | length) == 1'
if [ -b "/dev/$DEV_OPEN" ]; then
        printf 'IFDVM-%s\n' "$NONCE" >"$W/nonce"
        dd if="$W/nonce" of="/dev/$DEV_OPEN" bs=512 count=1 conv=sync oflag=direct 2>"$W/dd.err"
        dd if="/dev/$DEV_OPEN" of="$W/readback" bs=512 count=1 iflag=direct 2>>"$W/dd.err"
        rb=
        read -r rb <"$W/readback" || true
        if [ "$rb" = "IFDVM-$NONCE" ]; then
                pass "I/O on the open target's LUN: a nonce written with O_DIRECT reads back"
                echo "HOSTCHECK: lun1 nonce"
        else
                fail "I/O on /dev/$DEV_OPEN: read back '$rb', want IFDVM-$NONCE ($(tr '\n' ' ' <"$W/dd.err"))"
        fi
else
        fail "I/O on the open target's LUN: no device"
fi

uevents_woke "the login's kernel uevents woke the sessions watch (ifd_session_uevents_total > 0)"

# ---------------------------------------------------------------- 3. a repeated login adopts
login open2 "$OPEN"
expect "a repeated login: 200, adopted, the same sid" "$W/r-open2" 200 \
        '.sid == ($sid | tonumber) and .login.status == "adopted"' --arg sid "${SID_OPEN:-0}"
n=$(sysfs_sessions)
if [ "$n" = 1 ]; then
        pass "after the repeated login: one session in /sys/class/iscsi_session"
else
        fail "after the repeated login: $n sessions in /sys/class/iscsi_session (want 1)"
fi

# ---------------------------------------------------------------- 3b. rescan and statistics
body "$W/b-rescan" '{"timeout_ms": 10000}'
api "$W/r-rescan" POST "/api/v1/sessions/${SID_OPEN:-0}/rescan" "$W/b-rescan"
expect "rescan of the open session: 200, done, ready, the same block device" "$W/r-rescan" 200 \
        '.rescan.status == "done" and .ready == true and
         ([.luns[] | select(.block == $b)] | length) == 1' --arg b "${DEV_OPEN:-none}"
api "$W/r-stats" GET "/api/v1/sessions/${SID_OPEN:-0}/stats"
expect "statistics of the open session: 200, iscsiadm's counters (octets sent after the I/O, digest and timeout errors)" \
        "$W/r-stats" 200 \
        '.counters.txdata_octets > 0 and (.counters.digest_err | type) == "number" and
         (.counters.timeout_err | type) == "number" and (.extended | type) == "object"'

# ---------------------------------------------------------------- 4. CHAP + mutual CHAP
# A sampler reads every /proc/*/cmdline (bash builtins only) while the CHAP logins run; it
# records the pid and program of any command line holding a secret, never the secret.
sampler() {
        local n=0 f a s x hits=
        while [ ! -e "$W/sampler.stop" ]; do
                for f in /proc/[0-9]*/cmdline; do
                        mapfile -d '' -t a 2>/dev/null <"$f" || continue
                        s="${a[*]}"
                        for x in "${SECRETS[@]}"; do
                                if [[ $s == *"$x"* ]]; then hits+=" ${f#/proc/}:${a[0]##*/}"; fi
                        done
                done
                n=$((n + 1))
                msleep 0.05 # an iscsiadm lives longer than that under TCG
        done
        echo "$n$hits" >"$W/sampler.out"
}
sampler &
SAMPLER=$!
CHAPBODY="{\"auth\": {\"method\": \"CHAP\", \"username\": \"$CHAP_USER\", \"password\": \"$CHAP_PASS\","
CHAPBODY+=" \"username_in\": \"$MCHAP_USER\", \"password_in\": \"$MCHAP_PASS\"}}"
body "$W/b-chap-patch" "$CHAPBODY"
CHAPU=$(urlenc "$CHAP")
api "$W/r-chap-patch" PATCH "/api/v1/bindings/$CHAPU" "$W/b-chap-patch"
expect "PATCH the CHAP target's binding: CHAP + mutual CHAP, 200, passwords only as *_set" \
        "$W/r-chap-patch" 200 \
        '.auth.method == "CHAP" and .auth.username == $u and .auth.password_set == true and
         .auth.username_in == $m and .auth.password_in_set == true' \
        --arg u "$CHAP_USER" --arg m "$MCHAP_USER"
login chap "$CHAP"
read -r SID_CHAP DEV_CHAP < <(session_of chap)
if expect "login with CHAP + mutual CHAP: 201, ready, a LUN on a block device" "$W/r-chap" 201 \
        '.ready == true and .target == $t and .chap.outgoing == true and .chap.incoming == true and
         ([.luns[] | select(.block != null and .ready == true)] | length) >= 1' --arg t "$IQN_CHAP" &&
        [ -n "$DEV_CHAP" ] && [ -b "/dev/$DEV_CHAP" ]; then
        pass "the CHAP target's LUN: /dev/<block> exists when the login answers"
else
        fail "the CHAP target's LUN: no block device node /dev/'$DEV_CHAP'"
fi
info "login chap: sid $SID_CHAP, /dev/$DEV_CHAP, $MS ms"
logout chap-out "$SID_CHAP"
if [ "$CODE" = 204 ] && ! has_session "$IQN_CHAP"; then
        pass "logout of the CHAP session: 204, no session in sysfs"
else
        fail "logout of the CHAP session $SID_CHAP: HTTP $CODE (want 204), session in sysfs: $(has_session "$IQN_CHAP" && echo yes || echo no)"
        show "$W/r-chap-out"
fi
body "$W/b-chap-wrong" "{\"auth\": {\"password\": \"$WRONG_PASS\"}}"
api "$W/r-chap-wrong" PATCH "/api/v1/bindings/$CHAPU" "$W/b-chap-wrong"
[ "$CODE" = 200 ] || fail "PATCH a wrong CHAP password: HTTP $CODE (want 200)"
login badchap "$CHAP"
BAD_MS=$MS
expect "login with a wrong CHAP password: 422 urn:iscsi-ifaced:problem:login-auth-failed" "$W/r-badchap" 422 \
        '.type == "urn:iscsi-ifaced:problem:login-auth-failed"'
expect "the auth failure carries iscsiadm_exit 24 and iscsiadm's output" "$W/r-badchap" 422 \
        '.iscsiadm_exit == 24 and (.output | type) == "string"'
info "wrong password: $BAD_MS ms"
if has_session "$IQN_CHAP"; then
        fail "after the failed CHAP login: a session to $IQN_CHAP in sysfs"
else
        pass "after the failed CHAP login: no session to the CHAP target in sysfs"
fi
body "$W/b-chap-right" "{\"auth\": {\"password\": \"$CHAP_PASS\"}}"
api "$W/r-chap-right" PATCH "/api/v1/bindings/$CHAPU" "$W/b-chap-right"
[ "$CODE" = 200 ] || fail "PATCH the right CHAP password back: HTTP $CODE (want 200)"
: >"$W/sampler.stop"
wait "$SAMPLER" 2>/dev/null
SAMPLER=
read -r samples hits <"$W/sampler.out" || samples=0
if [ "${samples:-0}" -ge 3 ] && [ -z "${hits:-}" ]; then
        pass "no CHAP secret in any /proc/*/cmdline sampled during the CHAP logins"
        info "$samples sweeps of /proc/*/cmdline"
else
        fail "CHAP secret in /proc/*/cmdline (pid:program):${hits:-} ($samples sweeps; want >= 3 and none)"
fi

# ---------------------------------------------------------------- 5. two logins in parallel
logout open-out "$SID_OPEN"
[ "$CODE" = 204 ] || {
        fail "logout of the open session $SID_OPEN before the parallel logins: HTTP $CODE (want 204)"
        show "$W/r-open-out"
}
n=$(sysfs_sessions)
[ "$n" = 0 ] || fail "before the parallel logins: $n sessions in sysfs (want 0)"
t0=$(now_ms)
(
        login par-open "$OPEN"
        echo "$CODE" >"$W/par-open.code"
) &
p1=$!
(
        login par-chap "$CHAP"
        echo "$CODE" >"$W/par-chap.code"
) &
p2=$!
wait "$p1" "$p2"
PAR_MS=$(($(now_ms) - t0))
read -r c1 <"$W/par-open.code" || c1=000
read -r c2 <"$W/par-chap.code" || c2=000
read -r SID_OPEN DEV_OPEN < <(session_of par-open)
read -r SID_CHAP DEV_CHAP < <(session_of par-chap)
if [ "$c1" = 201 ] && [ "$c2" = 201 ] && [ -n "$DEV_OPEN" ] && [ -n "$DEV_CHAP" ] &&
        [ "$DEV_OPEN" != "$DEV_CHAP" ] && [ -b "/dev/$DEV_OPEN" ] && [ -b "/dev/$DEV_CHAP" ] &&
        [ "$(sysfs_sessions)" = 2 ]; then
        pass "two logins in parallel (both targets): both 201 with their own block device, 2 sessions"
        info "parallel: open sid $SID_OPEN /dev/$DEV_OPEN, chap sid $SID_CHAP /dev/$DEV_CHAP, $PAR_MS ms for both"
else
        fail "two logins in parallel: HTTP $c1 and $c2 (want 201, 201), devices '$DEV_OPEN' '$DEV_CHAP', $(sysfs_sessions) sessions"
        show "$W/r-par-open"
        show "$W/r-par-chap"
fi

# ---------------------------------------------------------------- 6. logout of devices in use
if [ -b "/dev/$DEV_OPEN" ]; then
        exec 3<>"/dev/$DEV_OPEN"
        logout busy-open "$SID_OPEN"
        expect "logout while the device is held open: 409, uses[] names the device, kind open, this shell's pid" \
                "$W/r-busy-open" 409 \
                'any(.uses[]; .kind == "open" and (.device == $d or .device == "/dev/" + $d) and
                              (.what | startswith("pid " + $pid + " ")))' \
                --arg d "$DEV_OPEN" --arg pid "$$"
        exec 3>&-
        has_session "$IQN_OPEN" || fail "the refused logout of $SID_OPEN logged it out anyway"
else
        fail "logout while the device is held open: no device"
fi
if [ -b "/dev/$DEV_CHAP" ] && command -v mkfs.ext4 >/dev/null; then
        mkdir -p "$MNT"
        if mkfs.ext4 -q -F -E nodiscard "/dev/$DEV_CHAP" >"$W/mkfs.log" 2>&1 &&
                mount -t ext4 "/dev/$DEV_CHAP" "$MNT" 2>>"$W/mkfs.log"; then
                logout busy-mnt "$SID_CHAP"
                expect "logout while the device is mounted: 409, uses[] names the device, kind mount, its mount point" \
                        "$W/r-busy-mnt" 409 \
                        'any(.uses[]; .kind == "mount" and (.device == $d or .device == "/dev/" + $d) and
                                      .what == $m)' \
                        --arg d "$DEV_CHAP" --arg m "$MNT"
                umount "$MNT"
                logout unmounted "$SID_CHAP"
                gone=1
                for _ in {1..50}; do
                        [ -b "/dev/$DEV_CHAP" ] || break
                        msleep 0.02
                done
                [ -b "/dev/$DEV_CHAP" ] && gone=0
                if [ "$CODE" = 204 ] && [ "$gone" = 1 ] && ! has_session "$IQN_CHAP"; then
                        pass "logout after the unmount: 204, the device and the session are gone"
                else
                        fail "logout after the unmount: HTTP $CODE (want 204), /dev/$DEV_CHAP gone: $gone, session in sysfs: $(has_session "$IQN_CHAP" && echo yes || echo no)"
                        show "$W/r-unmounted"
                fi
        else
                fail "mkfs.ext4 or mount of /dev/$DEV_CHAP: $(tr '\n' ' ' <"$W/mkfs.log")"
        fi
else
        fail "logout while mounted: no device /dev/'$DEV_CHAP' or no mkfs.ext4"
fi

# ---------------------------------------------------------------- 7. a dead portal
DEAD="$IQN_OPEN,$DEAD_ADDR,3260,1,lane1"
body "$W/b-dead" "{\"target\": \"$IQN_OPEN\", \"portal\": \"$DEAD_ADDR:3260\", \"tpgt\": 1, \"iface\": \"lane1\"}"
api "$W/r-dead-bind" POST /api/v1/bindings "$W/b-dead"
expect "a binding to a dead portal on eth1's subnet: 201" "$W/r-dead-bind" 201 '.id == $id' --arg id "$DEAD"
(
        login dead "$DEAD" '"timeout_ms": 3000'
        echo "$CODE $MS" >"$W/dead.code"
) &
pd=$!
# /api/v1/health while the login waits: every answer 200, none slower than 1.5 s
hn=0
hbad=0
hmax=0
while [ ! -s "$W/dead.code" ]; do
        api "$W/r-health" GET /api/v1/health
        hn=$((hn + 1))
        [ "$CODE" = 200 ] || hbad=$((hbad + 1))
        [ "$MS" -le "$hmax" ] || hmax=$MS
        msleep 0.1
done
wait "$pd"
read -r dcode dms <"$W/dead.code"
CODE=$dcode
MS=$dms
REQ="POST /api/v1/sessions {\"binding\": \"$DEAD\", \"timeout_ms\": 3000}"
expect "login to a dead portal, timeout_ms 3000: 504 urn:iscsi-ifaced:problem:login-timeout" "$W/r-dead" 504 \
        '.type == "urn:iscsi-ifaced:problem:login-timeout"'
if [ "$dms" -ge 2900 ] && [ "$dms" -le 5000 ]; then
        pass "the dead portal's 504 comes after timeout_ms 3000 and within 2 s of slack"
else
        fail "the dead portal's answer came after $dms ms (want 2900..5000)"
fi
info "dead portal: HTTP $dcode in $dms ms"
if [ "$hn" -ge 3 ] && [ "$hbad" = 0 ] && [ "$hmax" -le 1500 ]; then
        pass "GET /api/v1/health answers 200 while the dead portal's login waits"
        info "$hn health requests, the slowest $hmax ms"
else
        fail "GET /api/v1/health during the dead login: $hn requests, $hbad not 200, the slowest $hmax ms (want >= 3, 0, <= 1500)"
fi

# ---------------------------------------------------------------- 8. restart with sessions up
login chap-again "$CHAP"
read -r SID_CHAP DEV_CHAP < <(session_of chap-again)
[ "$CODE" = 201 ] || {
        fail "login to the CHAP target again before the restart: HTTP $CODE (want 201)"
        show "$W/r-chap-again"
}
n=$(sysfs_sessions)
info "stopping the daemon"
if daemon_stop; then
        pass "the daemon stops on SIGTERM with sessions up"
else
        fail "the daemon did not stop on SIGTERM within 5 s"
fi
n2=$(sysfs_sessions)
[ "$n" = 2 ] && [ "$n2" = 2 ] || fail "sessions in sysfs before/after the daemon stopped: $n/$n2 (want 2/2)"
info "starting the daemon again"
if daemon_start "$D"; then
        info "the daemon listens again"
        api "$W/r-list" GET /api/v1/sessions
        expect "after a restart, GET /api/v1/sessions lists both sessions again with their devices, origin api" "$W/r-list" 200 \
                '(.items // .) as $s |
                 ($s | length) == 2 and all($s[]; .origin == "api" and .ready) and
                 any($s[]; .sid == ($o | tonumber) and any(.luns[]; .block == $ob)) and
                 any($s[]; .sid == ($c | tonumber) and any(.luns[]; .block == $cb))' \
                --arg o "${SID_OPEN:-0}" --arg ob "$DEV_OPEN" --arg c "${SID_CHAP:-0}" --arg cb "$DEV_CHAP"
else
        fail "after a restart, the daemon did not start"
        daemon_log_tail
fi

# ---------------------------------------------------------------- 8b. a logout made outside
# iscsiadm logs the CHAP session out behind the daemon's back: the event stream tells it
# (session.state logged-out, origin api: a session the daemon logged in), woken by the kernel's
# uevents rather than its 1 s tick (engine/uevent.c).
: >"$W/events.txt"
curl -sN --max-time 30 "$URL/api/v1/events" >"$W/events.txt" 2>/dev/null &
EVPID=$!
for _ in {1..100}; do
        ev=$(<"$W/events.txt")
        [[ $ev == *"iscsi-ifaced events"* ]] && break
        msleep 0.05
done
uevents_count metrics0
UE0=${UEVENTS:-0}
t_out=$(now_ms)
iscsiadm -m session -r "${SID_CHAP:-0}" -u >"$W/outside-logout.txt" 2>&1 ||
        info "iscsiadm -u: $(head -c 200 "$W/outside-logout.txt")"
t_seen=
for _ in {1..200}; do
        ev=$(<"$W/events.txt")
        if [[ $ev == *'"state":"logged-out"'* ]]; then
                t_seen=$(now_ms)
                break
        fi
        msleep 0.05
done
kill "$EVPID" 2>/dev/null
wait "$EVPID" 2>/dev/null
sed -n 's/^data: //p' "$W/events.txt" >"$W/events.json"
if [ -n "$t_seen" ] && jq -e -s --argjson sid "${SID_CHAP:-0}" \
        '[.[] | select(.type == "session.state" and .state == "logged-out" and .sid == $sid and
                        .origin == "api")] | length == 1' "$W/events.json" >/dev/null 2>&1; then
        pass "a logout made outside the API is on the event stream once: session.state logged-out, origin api"
        info "seen $((t_seen - t_out)) ms after iscsiadm -u began"
else
        fail "no single session.state logged-out event for sid ${SID_CHAP:-0} within 10 s of the outside logout"
        sed 's/^/    | /' "$W/events.txt" | tail -n 10
fi
uevents_count metrics1
if [ "${UEVENTS:-0}" -gt "$UE0" ]; then
        pass "the outside logout's uevents woke the sessions watch (ifd_session_uevents_total grew)"
else
        fail "ifd_session_uevents_total did not grow with the outside logout (was $UE0)"
fi

# ---------------------------------------------------------------- 9. the secrets
# one grep for all (every exec costs)
leaks=$(grep -a -l -F -e "$CHAP_PASS" -e "$MCHAP_PASS" -e "$WRONG_PASS" "$W"/r-* 2>/dev/null | tr '\n' ' ')
if [ -z "$leaks" ]; then
        pass "no CHAP secret in any response body or header"
else
        fail "CHAP secret in the responses: $leaks"
fi
if [ -s "$D/daemon.log" ] && ! grep -a -F -e "$CHAP_PASS" -e "$MCHAP_PASS" -e "$WRONG_PASS" "$D/daemon.log" >/dev/null; then
        pass "no CHAP secret in the daemon's log (debug level)"
else
        fail "the daemon's log is empty or holds a CHAP secret"
fi
if kill -0 "$DPID" 2>/dev/null; then
        pass "the daemon is still running"
else
        fail "the daemon died"
        daemon_log_tail 30
fi
finish
