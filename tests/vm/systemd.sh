#!/bin/bash
# SPDX-License-Identifier: MIT
# Guest side of vm.systemd (tests/vm/meson.build): the Debian package installed in a guest whose
# PID 1 is systemd (tests/vm/initramfs-init with lane.init=systemd), its units run by systemd on
# a real kernel, against the real target of `tests/vm/vm-lane.sh --target`. What
# tests/package/deb.py can only imitate on a host whose PID 1 is not systemd is applied here by
# systemd itself: the socket unit, Type=notify, the capability bounding set, NoNewPrivileges=,
# SystemCallFilter=, ProtectSystem=strict with its ReadWritePaths=, the device ACL,
# PrivateTmp=, Restart=. The iscsiadm the daemon runs inherits all of it.
#
# Checks, in order: dpkg -i (its postinst starts the units); the service active (READY=1); the
# sandbox as the kernel shows it in /proc; the API over the socket unit's socket; an iface
# written through the unit and read by iscsiadm; discovery and a login with a LUN through the
# unit (REPORT LUNS through /dev/sg*), a rescan (writes under /sys/devices), the logout; a change iscsiadm makes outside imported; reload; a kill -9 restarted
# with the record kept; stop; socket activation; no warning from the daemon; purge. One PASS: or
# FAIL: line per check; exit 1 if any failed.
#   run: tests/vm/systemd-lane.sh (builds the .deb if needed, then vm-lane.sh --target)
# shellcheck disable=SC2016 # jq expressions name jq variables ($b, $o), passed with --arg
set -uo pipefail
HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)
# shellcheck source=target-guest.sh
. "$HERE/target-guest.sh"
T0=$(now_ms)
W=$(mktemp -d /tmp/vm-systemd.XXXXXX)
PASSES=0
FAILS=0
SECRETS=()
DEB=${LANE[deb]:-}
UNIT=iscsi-ifaced.service
SOCK=/run/iscsi-ifaced/ifaced.sock
URL=http://localhost
API_UNIX=$SOCK

journal_tail() { journalctl -u "$UNIT" -o cat -n "${1:-20}" --no-pager 2>/dev/null | sed 's/^/    | /'; }
mainpid() { systemctl show -p MainPID --value "$UNIT"; }
# status_field PID NAME: a field of /proc/PID/status.
status_field() {
        local k v
        while IFS=$':\t ' read -r k v; do
                if [ "$k" = "$2" ]; then
                        echo "${v//[[:space:]]/}"
                        return 0
                fi
        done <"/proc/$1/status"
        return 1
}
# cap_mask NAME...: the bit mask of capability names, as /proc shows CapBnd (16 hex digits).
cap_mask() {
        local -A bit=([CAP_CHOWN]=0 [CAP_DAC_OVERRIDE]=1 [CAP_DAC_READ_SEARCH]=2 [CAP_FOWNER]=3
                [CAP_FSETID]=4 [CAP_KILL]=5 [CAP_SETGID]=6 [CAP_SETUID]=7 [CAP_NET_BIND_SERVICE]=10
                [CAP_NET_ADMIN]=12 [CAP_NET_RAW]=13 [CAP_IPC_LOCK]=14 [CAP_SYS_MODULE]=16
                [CAP_SYS_RAWIO]=17 [CAP_SYS_CHROOT]=18 [CAP_SYS_PTRACE]=19 [CAP_SYS_ADMIN]=21
                [CAP_SYS_NICE]=23 [CAP_SYS_RESOURCE]=24)
        local m=0 c
        for c in "$@"; do
                [ -n "${bit[$c]:-}" ] || return 1
                m=$((m | (1 << bit[$c])))
        done
        printf '%016x\n' "$m"
}
# wait_active SECONDS: until the service is active (systemctl is-active), or not.
wait_active() {
        local i
        for ((i = 0; i < $1 * 10; i++)); do
                [ "$(systemctl is-active "$UNIT")" = active ] && return 0
                msleep 0.1
        done
        return 1
}

# ---------------------------------------------------------------- 0. the guest
read -r PID1 </proc/1/comm
if [ "$PID1" = systemd ]; then
        pass "systemd is PID 1"
else
        fail "PID 1 is $PID1, not systemd: run through tests/vm/systemd-lane.sh"
        finish
fi
setup_step "setup: eth0 and eth1 on the target's taps" "setup: network" guest_net_up
setup_step "setup: iscsid started by its unit (its control socket listens)" \
        "setup: iscsid.service did not start" guest_iscsid_up

# ---------------------------------------------------------------- 1. install
if [ -z "$DEB" ] || [ ! -f "$DEB" ]; then
        fail "no package to install (lane.deb='$DEB')"
        finish
fi
# man-db's trigger would rebuild every index under TCG for minutes; nothing here reads them.
rm -f /var/lib/man-db/auto-update
if dpkg -i "$DEB" >"$W/dpkg.log" 2>&1; then
        pass "dpkg -i of the package under systemd: exit 0"
else
        fail "dpkg -i: exit $?"
        sed 's/^/    | /' "$W/dpkg.log" | tail -n 20
        finish
fi
info "installed ${DEB##*/}"
if wait_active 30; then
        pass "the postinst started the service: active, so it sent READY=1 (Type=notify)"
else
        fail "the service is $(systemctl is-active "$UNIT") after dpkg -i"
        systemctl status "$UNIT" --no-pager 2>&1 | sed 's/^/    | /' | head -n 20
        journal_tail 30
        finish
fi
for u in iscsi-ifaced.service iscsi-ifaced.socket; do
        st=$(systemctl is-enabled "$u" 2>&1)
        if [ "$st" = enabled ]; then
                pass "$u is enabled"
        else
                fail "$u is $st, not enabled"
        fi
done
if [ "$(systemctl is-active iscsi-ifaced.socket)" = active ] && [ -S "$SOCK" ] &&
        [ "$(stat -c '%G %a' "$SOCK")" = "iscsi-ifaced 660" ]; then
        pass "the socket unit listens on $SOCK, group iscsi-ifaced, mode 660"
else
        fail "the socket unit: $(systemctl is-active iscsi-ifaced.socket), $SOCK: $(stat -c '%F %G %a' "$SOCK" 2>&1)"
fi

# ---------------------------------------------------------------- 2. the sandbox
PID=$(mainpid)
info "MainPID $PID"
# shellcheck disable=SC2046 # one word a capability name
WANT_CAPS=$(cap_mask $(sed -n 's/^CapabilityBoundingSet=//p' /lib/systemd/system/$UNIT))
if [ -n "$WANT_CAPS" ] && [ "$(status_field "$PID" CapBnd)" = "$WANT_CAPS" ] &&
        [ "$(status_field "$PID" CapEff)" = "$WANT_CAPS" ]; then
        pass "the kernel's CapBnd and CapEff of the daemon are the unit's CapabilityBoundingSet= ($WANT_CAPS)"
else
        fail "CapBnd $(status_field "$PID" CapBnd), CapEff $(status_field "$PID" CapEff); the unit's set is ${WANT_CAPS:-unknown}"
fi
if [ "$(status_field "$PID" NoNewPrivs)" = 1 ] && [ "$(status_field "$PID" Seccomp)" = 2 ]; then
        pass "NoNewPrivs 1 and Seccomp 2 (a filter) on the daemon"
else
        fail "NoNewPrivs $(status_field "$PID" NoNewPrivs), Seccomp $(status_field "$PID" Seccomp) (want 1 and 2)"
fi
# ProtectSystem=strict: in the daemon's mount namespace /usr is read-only, /etc/iscsi is not.
if ! nsenter -t "$PID" -m touch /usr/lib/.ifdvm-probe 2>/dev/null &&
        nsenter -t "$PID" -m touch /etc/iscsi/.ifdvm-probe 2>/dev/null; then
        rm -f /etc/iscsi/.ifdvm-probe
        pass "ProtectSystem=strict: /usr is read-only in the daemon's mount namespace, /etc/iscsi is writable"
else
        fail "ProtectSystem=strict and ReadWritePaths=/etc/iscsi are not what the daemon's mount namespace shows"
fi

# ---------------------------------------------------------------- 3. the API and an iface
api "$W/r-health" GET /api/v1/health
expect "GET /api/v1/health over the socket unit's socket: 200, as admin (uid 0)" "$W/r-health" 200 \
        '.status == "ok"'
body "$W/b-if" '{"name": "lane1", "transport_name": "tcp", "net_ifacename": "eth1"}'
api "$W/r-if" POST /api/v1/ifaces "$W/b-if"
expect "iface lane1 bound to eth1 through the unit: 201" "$W/r-if" 201 '.name == "lane1"'
if iscsiadm -m iface -I lane1 >"$W/iface.txt" 2>&1 && grep -qx 'iface.net_ifacename = eth1' "$W/iface.txt"; then
        pass "iscsiadm reads the record the unit wrote: iface.net_ifacename = eth1"
else
        fail "iscsiadm -m iface -I lane1: $(head -c 300 "$W/iface.txt")"
fi

# ---------------------------------------------------------------- 4. a login through the unit
OPEN="$IQN_OPEN,$VIP,$PORT,1,lane1"
body "$W/b-disc" "{\"portal\": \"$PORTAL\", \"ifaces\": [\"lane1\"], \"bind\": true}"
api "$W/r-disc" POST /api/v1/discovery "$W/b-disc"
expect "discovery through lane1 with bind, iscsiadm inside the sandbox: 200" "$W/r-disc" 200 \
        '(.items[0].status == "ok") and (.bindings.created | index($o)) != null' --arg o "$OPEN"
login open "$OPEN"
read -r SID DEV < <(session_of open)
if expect "login to the open target through the unit: 201, ready, a LUN on a block device" "$W/r-open" 201 \
        '.ready == true and ([.luns[] | select(.block != null and .ready == true)] | length) >= 1' &&
        [ -n "$DEV" ] && [ -b "/dev/$DEV" ]; then
        pass "the LUN's /dev/$DEV exists when the login answers"
else
        fail "no block device for the login (sid '${SID:-}', device '${DEV:-}')"
        journal_tail 30
fi
info "login: sid ${SID:-?}, /dev/${DEV:-?}, $MS ms"
# REPORT LUNS goes through /dev/sg* (SG_IO): DeviceAllow=char-sg r lets the daemon open it.
expect "the login asked the target for its LUNs through /dev/sg* (DeviceAllow=char-sg r): expect_from report-luns" \
        "$W/r-open" 201 '.login.expect_from == "report-luns" and .login.expect_luns == [0, 1]'
uevents_woke "kernel uevents reach the daemon inside the unit (ifd_session_uevents_total > 0)"
# A rescan writes each SCSI device's rescan file and its host's scan file, under /sys/devices
# (ReadWritePaths=/sys/devices over ProtectKernelTunables=).
body "$W/b-rescan" '{"timeout_ms": 10000}'
api "$W/r-rescan" POST "/api/v1/sessions/${SID:-0}/rescan" "$W/b-rescan"
expect "rescan through the unit (writes under /sys/devices): 200, done, ready, the same block device" \
        "$W/r-rescan" 200 '.rescan.status == "done" and .ready == true and
         ([.luns[] | select(.block == $b)] | length) == 1' --arg b "${DEV:-none}"
logout out "${SID:-0}"
if [ "$CODE" = 204 ] && ! has_session "$IQN_OPEN"; then
        pass "logout through the unit: 204, no session in sysfs"
else
        fail "logout: HTTP $CODE, session still in sysfs: $(has_session "$IQN_OPEN" && echo yes || echo no)"
        show "$W/r-out"
fi

# ---------------------------------------------------------------- 5. iscsiadm outside, imported
iscsiadm -m iface -I lane1 -o update -n iface.mtu -v 1400 >"$W/upd.txt" 2>&1 ||
        fail "iscsiadm -o update: $(head -c 300 "$W/upd.txt")"
ok=0
for _ in {1..50}; do
        api "$W/r-if2" GET /api/v1/ifaces/lane1
        if [ "$CODE" = 200 ] && jq -e '.mtu == 1400' "$W/r-if2" >/dev/null 2>&1; then
                ok=1
                break
        fi
        msleep 0.2
done
if [ "$ok" = 1 ]; then
        pass "a change iscsiadm made outside the unit is imported: GET shows mtu 1400"
else
        fail "iscsiadm's change was not imported within 10 s"
        show "$W/r-if2"
fi

# ---------------------------------------------------------------- 6. reload, kill -9, stop
if systemctl reload "$UNIT" 2>"$W/reload.err" && wait_active 10 && [ "$(mainpid)" = "$PID" ]; then
        pass "systemctl reload: the same process, active again (RELOADING=1, READY=1)"
else
        fail "systemctl reload: $(head -c 300 "$W/reload.err"), now $(systemctl is-active "$UNIT"), MainPID $(mainpid) (was $PID)"
fi
kill -9 "$PID"
ok=0
for _ in {1..100}; do
        NEW=$(mainpid)
        if [ -n "$NEW" ] && [ "$NEW" != 0 ] && [ "$NEW" != "$PID" ] &&
                [ "$(systemctl is-active "$UNIT")" = active ]; then
                ok=1
                break
        fi
        msleep 0.1
done
if [ "$ok" = 1 ]; then
        pass "after kill -9 systemd restarts it (Restart=on-failure): active, MainPID $NEW"
else
        fail "after kill -9: $(systemctl is-active "$UNIT"), MainPID $(mainpid)"
        journal_tail 20
fi
api "$W/r-if3" GET /api/v1/ifaces/lane1
expect "after the restart the record is there: 200, mtu 1400" "$W/r-if3" 200 '.mtu == 1400'
if systemctl stop "$UNIT" 2>/dev/null && [ "$(systemctl show -p Result --value "$UNIT")" = success ]; then
        pass "systemctl stop: Result=success (SIGTERM, a clean exit)"
else
        fail "systemctl stop: $(systemctl is-active "$UNIT"), Result=$(systemctl show -p Result --value "$UNIT")"
        journal_tail 20
fi
# The socket unit still listens: a connection starts the service again, which takes the socket
# from systemd (sd_listen_fds) and answers on it.
api "$W/r-act" GET /api/v1/health
if [ "$CODE" = 200 ] && [ "$(systemctl is-active "$UNIT")" = active ]; then
        pass "after the stop a connection to the socket starts the service again (socket activation): 200"
else
        fail "socket activation: HTTP $CODE, the service is $(systemctl is-active "$UNIT")"
        journal_tail 20
fi
# The daemon's own messages of warning and above (systemd's about the kill -9 aside).
journalctl -u "$UNIT" -o cat --no-pager -p warning 2>/dev/null |
        grep -v -e '^-- ' -e "^$UNIT: " >"$W/warn.txt"
if [ ! -s "$W/warn.txt" ]; then
        pass "the daemon logged no warning or error under the unit"
else
        fail "the daemon's warnings and errors in the journal:"
        sed 's/^/    | /' "$W/warn.txt" | head -n 20
fi

# ---------------------------------------------------------------- 7. purge
if dpkg --purge iscsi-ifaced >"$W/purge.log" 2>&1 && [ "$(systemctl is-active "$UNIT")" != active ] &&
        [ ! -e "$SOCK" ] && [ ! -e /lib/systemd/system/$UNIT ]; then
        pass "dpkg --purge: exit 0, the service stopped, the socket and the units gone"
else
        fail "dpkg --purge: $(tail -n 3 "$W/purge.log" | tr '\n' ' '), service $(systemctl is-active "$UNIT"), socket $([ -e "$SOCK" ] && echo present || echo gone)"
fi
finish
