# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this
# Sourced by the guest scripts of `tests/vm/vm-lane.sh --target` (tests/vm/sessions.sh,
# bench/vm-login.sh): the target's facts from the kernel command line, the guest's two NICs,
# iscsid (the host's open-iscsi, configured in the guest's overlay), the daemon, and small
# helpers that stick to bash builtins (under TCG every exec costs 0.1-0.4 s).
#
# Topology (N = the lane's TARGET_NET; qemu runs in the target's namespace):
#   guest eth0 10.N.3.2/24 <-> tap0 10.N.3.1    route VIP via eth0 metric 10 (unbound traffic)
#   guest eth1 10.N.4.2/24 <-> tap1 10.N.4.1    route VIP via eth1 metric 20 (only when bound)
# so a session whose local address is eth1's went out through the iface bound to eth1.

declare -A LANE=()
read -r -a _cmdline </proc/cmdline
for _kv in "${_cmdline[@]}"; do
        if [[ $_kv == lane.*=* ]]; then
                _k=${_kv%%=*}
                LANE[${_k#lane.}]=${_kv#*=}
        fi
done
unset _cmdline _kv _k
if [ -z "${LANE[vip]:-}" ]; then
        echo "FAIL: no lane.vip= on the kernel command line: run this through tests/vm/vm-lane.sh --target"
        exit 1
fi
NET=${LANE[net]}
VIP=${LANE[vip]}
PORT=${LANE[port]:-3260}
PORTAL=$VIP:$PORT
IQN_OPEN=${LANE[iqn_open]}
IQN_CHAP=${LANE[iqn_chap]}
CHAP_USER=${LANE[chap_user]}
CHAP_PASS=${LANE[chap_pass]}
MCHAP_USER=${LANE[mchap_user]}
MCHAP_PASS=${LANE[mchap_pass]}
NONCE=${LANE[nonce]:-0}
ETH0_ADDR=$NET.3.2
ETH1_ADDR=$NET.4.2
DEAD_ADDR=$NET.4.77 # on eth1's subnet, owned by nobody: ARP goes unanswered
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# now_ms: milliseconds since the epoch (bash 5's EPOCHREALTIME, no exec).
now_ms() {
        local t=${EPOCHREALTIME/[.,]/}
        echo $((t / 1000))
}
# msleep SECONDS: sleep without an exec (read's timeout on a pipe that never gets a line).
exec {_SLEEP_FD}<> <(:)
msleep() { read -r -t "$1" -u "$_SLEEP_FD" _ || true; }
# median N...: the median of integers (the lower middle one for an even count).
median() {
        local -a sorted
        mapfile -t sorted < <(printf '%s\n' "$@" | sort -n)
        echo "${sorted[$(((${#sorted[@]} - 1) / 2))]}"
}

# guest_net_up: eth0 and eth1 on the taps, the two routes to the portal's VIP.
guest_net_up() {
        ip -batch - <<NETCFG
link set eth0 up
addr add $ETH0_ADDR/24 dev eth0
link set eth1 up
addr add $ETH1_ADDR/24 dev eth1
route add $VIP/32 via $NET.3.1 dev eth0 metric 10
route add $VIP/32 via $NET.4.1 dev eth1 metric 20
NETCFG
        # replies may come back on either path
        echo 2 >/proc/sys/net/ipv4/conf/all/rp_filter
        echo 2 >/proc/sys/net/ipv4/conf/eth1/rp_filter
}

# iscsid_socket: is iscsid's abstract control socket listening (as the daemon looks for it)?
iscsid_socket() {
        local -a u
        mapfile -t u </proc/net/unix
        [[ "${u[*]}" == *@ISCSIADM_ABSTRACT_NAMESPACE* ]]
}
# guest_iscsid_up: the host's iscsid with a guest-only /etc/iscsi (the overlay keeps the writes
# in the guest): an initiator name, a short replacement_timeout, no records; started by its unit
# when systemd is PID 1. Sets IPID.
guest_iscsid_up() {
        mkdir -p /etc/iscsi /run/lock/iscsi
        echo "InitiatorName=iqn.2024-01.test.ifdvm:guest" >/etc/iscsi/initiatorname.iscsi
        local conf=/etc/iscsi/iscsid.conf line lines=()
        while IFS= read -r line; do
                case $line in
                "iscsid.startup = "*) line="iscsid.startup = /bin/true" ;;
                "node.session.timeo.replacement_timeout = "*) line="node.session.timeo.replacement_timeout = 5" ;;
                esac
                lines+=("$line")
        done <"$conf"
        printf '%s\n' "${lines[@]}" >"$conf.new"
        mv "$conf.new" "$conf"
        rm -rf /etc/iscsi/nodes /etc/iscsi/send_targets /etc/iscsi/ifaces
        local pid1
        read -r pid1 </proc/1/comm
        if [ "$pid1" = systemd ]; then
                systemctl start iscsid.service || return 1 # its unit, as on a host (vm.systemd)
        else
                iscsid || return 1
        fi
        local i
        for i in {1..200}; do
                iscsid_socket && break
                msleep 0.05
        done
        iscsid_socket || return 1
        read -r IPID </run/iscsid.pid
}

# daemon_start DIR: the daemon on 127.0.0.1 (no auth: loopback only), its db and log in DIR,
# the guest's /etc/iscsi as its db root (the one iscsiadm and iscsid use). Sets DPID and URL.
daemon_start() {
        local d=$1 i
        mkdir -p "$d"
        rm -f "$d/port"
        "$IFACED_BIN" --auth off --listen 127.0.0.1:0 --port-file "$d/port" --iscsi-root /etc/iscsi \
                --db "$d/db.sqlite" --lock-dir /run/lock/iscsi \
                --initiator-name-file /etc/iscsi/initiatorname.iscsi \
                --iscsid-conf /etc/iscsi/iscsid.conf --log-level debug \
                </dev/null >>"$d/daemon.log" 2>&1 &
        DPID=$!
        for i in {1..300}; do
                [ -s "$d/port" ] && break
                kill -0 "$DPID" 2>/dev/null || break
                msleep 0.05
        done
        [ -s "$d/port" ] || return 1
        read -r i <"$d/port"
        URL=http://127.0.0.1:$i
}
# daemon_stop: SIGTERM, SIGKILL after 5 s; 0 if it stopped on SIGTERM.
daemon_stop() {
        local i rc=0
        [ -n "${DPID:-}" ] || return 0
        kill "$DPID" 2>/dev/null || true
        for i in {1..100}; do
                kill -0 "$DPID" 2>/dev/null || break
                msleep 0.05
        done
        if kill -0 "$DPID" 2>/dev/null; then
                kill -9 "$DPID" 2>/dev/null || true
                rc=1
        fi
        wait "$DPID" 2>/dev/null || true
        DPID=
        return "$rc"
}

# The answers go to the host for the contract check (tests/contract/README.md) through the
# lane's writable share (tests/vm/initramfs-init mounts it): each exchange's head and body as
# x<PID>-<N>.h and .b, and a line "x<PID>-<N> METHOD PATH STATUS" in index.<PID>, PID being the
# (sub)shell's own, since the script runs some requests in background subshells; vm-lane.sh
# checks them against openapi.yaml once the guest is off. Copied with builtins (a JSON body has
# no NUL): jq and friends would cost seconds an answer under TCG.
REC_DIR=
[ ! -d /run/lane-rec ] || REC_DIR=/run/lane-rec
REC_N=0
rec_copy() {
        local data=
        IFS= read -r -d '' data <"$1" || true
        printf '%s' "$data" >"$2"
}
rec_answer() { # METHOD PATH STATUS OUT
        local x
        [ -n "$REC_DIR" ] && [[ $3 =~ ^[1-5][0-9][0-9]$ ]] || return 0
        REC_N=$((REC_N + 1))
        x=x$BASHPID-$REC_N
        rec_copy "$4.h" "$REC_DIR/$x.h"
        rec_copy "$4" "$REC_DIR/$x.b"
        printf '%s %s %s %s\n' "$x" "$1" "$2" "$3" >>"$REC_DIR/index.$BASHPID"
}

# api OUT METHOD PATH [BODY-FILE]: one request to $URL (through the unix socket $API_UNIX if
# set); the body to OUT, the headers to OUT.h. Bodies come from files so that no secret is ever
# on curl's command line. Sets CODE, MS and REQ, and records the answer (rec_answer).
CODE=000
MS=0
REQ=
api() {
        local out=$1 method=$2 path=$3 body=${4-} ct=application/json res t
        local args=(-s -o "$out" -D "$out.h" -w '%{http_code} %{time_total}' -X "$method" --max-time 120)
        [ "$method" != PATCH ] || ct=application/merge-patch+json
        if [ -n "$body" ]; then args+=(-H "Content-Type: $ct" --data-binary "@$body"); fi
        REQ="$method $path"
        : >"$out"
        [ -z "${API_UNIX:-}" ] || args+=(--unix-socket "$API_UNIX")
        res=$(curl "${args[@]}" "$URL$path" 2>/dev/null) || true
        CODE=${res%% *}
        [ -n "$CODE" ] || CODE=000
        rec_answer "$method" "$path" "$CODE" "$out"
        t=${res#* }
        if [[ $t =~ ^([0-9]+)\.([0-9]{3}) ]]; then
                MS=$((10#${BASH_REMATCH[1]} * 1000 + 10#${BASH_REMATCH[2]}))
        else
                MS=0
        fi
}
# body FILE TEXT: write a request body (printf is a builtin: no exec, no command line).
body() { printf '%s' "$2" >"$1"; }
# urlenc STRING: percent-encode a binding id for a URL path.
urlenc() {
        local s=$1 enc='' c i
        for ((i = 0; i < ${#s}; i++)); do
                c=${s:i:1}
                case $c in
                [A-Za-z0-9._~-]) enc+=$c ;;
                *) enc+=$(printf '%%%02X' "'$c") ;;
                esac
        done
        echo "$enc"
}

# sysfs_sessions: the number of iSCSI sessions the kernel has.
sysfs_sessions() {
        local s n=0
        for s in /sys/class/iscsi_session/session*; do [ -e "$s" ] && n=$((n + 1)); done
        echo "$n"
}
# disk_of IQN: the block device (sdX) of the first LUN of the session to IQN, if any.
disk_of() {
        local s n b
        for s in /sys/class/iscsi_session/session*; do
                [ -e "$s/targetname" ] || continue
                read -r n <"$s/targetname"
                [ "$n" = "$1" ] || continue
                for b in "$s"/device/target*/*/block/*; do
                        if [ -e "$b" ]; then
                                echo "${b##*/}"
                                return 0
                        fi
                done
        done
        return 1
}
# wait_disk IQN TIMEOUT_S: poll (10 ms) until IQN's disk has its device node; prints sdX.
wait_disk() {
        local d='' end=$(($(now_ms) + $2 * 1000))
        while [ "$(now_ms)" -lt "$end" ]; do
                if d=$(disk_of "$1") && [ -b "/dev/$d" ]; then
                        echo "$d"
                        return 0
                fi
                msleep 0.01
        done
        return 1
}

# ---------------------------------------------------------------- checks
# For the scripts that source this: they set T0 (now_ms at their start), W (their work dir),
# PASSES=0 FAILS=0 and SECRETS (strings never to print: the CHAP passwords), then report each
# check with pass or fail (or expect), and end with finish.
el() { local d=$(($(now_ms) - T0)); printf '%d.%02d' $((d / 1000)) $((d % 1000 / 10)); }
pass() {
        PASSES=$((PASSES + 1))
        echo "PASS: $*"
}
fail() {
        FAILS=$((FAILS + 1))
        echo "FAIL: $*"
}
info() { echo "    [$(el)s] $*"; }
# hide TEXT: TEXT with the secrets masked, for the output.
hide() {
        local s=$1 x
        for x in "${SECRETS[@]}"; do s=${s//"$x"/<secret>}; done
        printf '%s' "$s"
}
# show FILE: the first 800 bytes of a response, indented, secrets masked.
show() {
        local t
        t=$(head -c 800 "$1" 2>/dev/null)
        hide "$t" | sed 's/^/    | /'
        echo
}
# expect LABEL OUT CODE JQ-EXPR [JQ-ARGS...]: pass if the last request answered CODE with a body
# for which JQ-EXPR is true (one jq).
expect() {
        local label=$1 out=$2 want=$3 expr=$4
        shift 4
        if [ "$CODE" = "$want" ] && jq -e "$@" "$expr" "$out" >/dev/null 2>&1; then
                pass "$label"
                return 0
        fi
        fail "$label: HTTP $CODE (want $want), want $expr"
        echo "    request: $REQ ($MS ms)"
        show "$out"
        return 1
}
# login NAME BINDING [EXTRA-JSON-MEMBERS]: POST /api/v1/sessions, the answer in $W/r-NAME.
login() {
        body "$W/b-$1" "{\"binding\": \"$2\"${3:+, $3}}"
        api "$W/r-$1" POST /api/v1/sessions "$W/b-$1"
}
# session_of NAME: "sid block" of the answer $W/r-NAME (its first LUN with a block device).
session_of() { jq -r '"\(.sid // "") \(first(.luns[]? | select(.block != null) | .block) // "")"' "$W/r-$1" 2>/dev/null; }
# logout NAME SID [QUERY]
logout() { api "$W/r-$1" DELETE "/api/v1/sessions/$2${3-}"; }
# has_session IQN: does sysfs have a session to IQN?
has_session() {
        local s n
        for s in /sys/class/iscsi_session/session*; do
                [ -e "$s/targetname" ] || continue
                read -r n <"$s/targetname"
                [ "$n" = "$1" ] && return 0
        done
        return 1
}
# setup_step PASS FAIL CMD...: run CMD; then pass PASS, or fail FAIL and end the script (the
# checks after a setup step need it).
setup_step() {
        local ok=$1 bad=$2
        shift 2
        if "$@"; then
                pass "$ok"
        else
                fail "$bad"
                finish
        fi
}
finish() {
        info "$PASSES passed, $FAILS failed"
        [ "$FAILS" = 0 ]
        exit
}
# uevents_count NAME: ifd_session_uevents_total of GET /metrics (the answer in $W/r-NAME) in
# UEVENTS, empty when the answer has none: how often kernel uevents woke the sessions watch
# before its 1 s tick (engine/uevent.c).
uevents_count() {
        local m
        UEVENTS=
        api "$W/r-$1" GET /metrics
        m=$(<"$W/r-$1")
        if [ "$CODE" = 200 ] && [[ $m =~ ifd_session_uevents_total\ ([0-9]+) ]]; then
                UEVENTS=${BASH_REMATCH[1]}
        fi
}
# uevents_woke LABEL: pass if the sessions watch was woken by kernel uevents (a login's session,
# connection and disks bring them).
uevents_woke() {
        uevents_count metrics
        if [ "${UEVENTS:-0}" -gt 0 ]; then
                pass "$1"
                info "ifd_session_uevents_total $UEVENTS"
        else
                fail "$1: HTTP $CODE, ifd_session_uevents_total ${UEVENTS:-absent}"
        fi
}
