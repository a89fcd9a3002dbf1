#!/bin/bash
# SPDX-License-Identifier: MIT
# Brings up a real iSCSI target (tgtd) in a network namespace of its own, reachable from an
# initiator namespace over two veth paths, with an open target and a CHAP + mutual CHAP target.
#
# Idempotent: every step checks before it creates; a re-run only rewrites the env file.
#
# Topology (N = TARGET_NET, default 215; the addresses exist only inside the two namespaces):
#
#   netns ${NAME}-ini                       netns ${NAME}-tgt
#   ${NAME}-ia 10.N.1.2/24  <--veth A-->  ${NAME}-ta 10.N.1.1/24
#   ${NAME}-ib 10.N.2.2/24  <--veth B-->  ${NAME}-tb 10.N.2.1/24
#   route 10.N.9.1 via A (metric 10)        lo: 10.N.9.1/32  (the portal "VIP")
#   route 10.N.9.1 via B (metric 20)        ${NAME}-tapK 10.N.(3+K).1/24 (TARGET_TAPS=K)
#
# Unbound connections to the VIP leave via A; a socket bound to ${NAME}-ib (SO_BINDTODEVICE)
# must leave via B, so the initiator address the target sees shows whether binding worked.
# tgtd listens on 0.0.0.0:PORT inside ${NAME}-tgt: SendTargets answers with the address the
# initiator connected to.
#
# Knobs (environment, all optional; tests/target/README.md):
#   TARGET_NAME=ifdtgt (<= 9 chars)  TARGET_NET=215  TARGET_PORT=3260
#   TARGET_CTRL_PORT=$((3000 + TARGET_NET))  TARGET_LUN_SIZE=64M
#   TARGET_IQN_PREFIX=iqn.2024-01.test.${TARGET_NAME}
#   TARGET_CHAP_USER=ifduser  TARGET_CHAP_PASS=ifdpass12345      (initiator CHAP on target 2)
#   TARGET_MCHAP_USER=ifdtgt  TARGET_MCHAP_PASS=ifdtgtpass123    (mutual CHAP on target 2)
#   TARGET_TAPS=0     tap devices in ${NAME}-tgt, for a qemu guest
#   TARGET_RUN=${TMPDIR:-/tmp}/iscsi-ifaced-target   TARGET_STATE=${TARGET_RUN}/${TARGET_NAME}
# Output: ${TARGET_STATE}/env (shell-sourceable), tgtd.log, tgtd.pid, lun1.img, lun2.img and
# the tgtd control socket, all in ${TARGET_STATE}. Exit 0 ready, 1 error.
set -euo pipefail

NAME=${TARGET_NAME:-ifdtgt}
NET=${TARGET_NET:-215}
PORT=${TARGET_PORT:-3260}
CTRL_PORT=${TARGET_CTRL_PORT:-$((3000 + NET))}
LUN_SIZE=${TARGET_LUN_SIZE:-64M}
IQN_PREFIX=${TARGET_IQN_PREFIX:-iqn.2024-01.test.${NAME}}
CHAP_USER=${TARGET_CHAP_USER:-ifduser}
CHAP_PASS=${TARGET_CHAP_PASS:-ifdpass12345}
MCHAP_USER=${TARGET_MCHAP_USER:-ifdtgt}
MCHAP_PASS=${TARGET_MCHAP_PASS:-ifdtgtpass123}
TAPS=${TARGET_TAPS:-0}
RUN=${TARGET_RUN:-${TMPDIR:-/tmp}/iscsi-ifaced-target}
STATE=${TARGET_STATE:-$RUN/$NAME}

TNS=${NAME}-tgt
INS=${NAME}-ini
P=10.${NET}
VIP=${P}.9.1
# tgtd and tgtadm both use ${TGT_IPC_SOCKET}.${CTRL_PORT}; it must be exported for every
# tgtadm call, and a unix socket path has at most 107 bytes.
export TGT_IPC_SOCKET=${STATE}/tgtd.sock

log() { echo "target-up: $*" >&2; }
die() {
        log "error: $*"
        exit 1
}

[ "$(id -u)" = 0 ] || die "must run as root"
[ ${#NAME} -le 9 ] || die "TARGET_NAME '$NAME' too long (link names are \${NAME}-tapN, max 15 chars)"
if ! [[ $NET =~ ^[0-9]+$ ]] || [ "$NET" -gt 255 ]; then die "TARGET_NET '$NET' is not an octet"; fi
sock=${TGT_IPC_SOCKET}.${CTRL_PORT}
[ ${#sock} -le 100 ] || die "control socket path too long (${#sock} bytes): set a shorter TARGET_RUN or TMPDIR"
for b in tgtd tgtadm ip truncate; do
        command -v "$b" >/dev/null || die "missing $b (apt-get install tgt iproute2)"
done
mkdir -p "$STATE"

ns_exists() { ip netns list | awk '{print $1}' | grep -x -- "$1" >/dev/null; }
link_in() { ip -n "$1" link show "$2" >/dev/null 2>&1; }
# NB: no `| grep -q` anywhere: under pipefail an early-exiting grep makes the pipeline fail at
# random (SIGPIPE in the writer).
addr_in() { ip -n "$1" -o addr show dev "$2" | grep -F " $3 " >/dev/null; }
ensure_addr() { addr_in "$1" "$2" "$3" || ip -n "$1" addr add "$3" dev "$2"; }
ensure_ns() {
        ns_exists "$1" || {
                log "netns add $1"
                ip netns add "$1"
        }
        ip -n "$1" link set lo up
}
ensure_veth() { # ensure_veth NS1 IF1 NS2 IF2
        if ! link_in "$1" "$2" || ! link_in "$3" "$4"; then
                log "veth $1/$2 <-> $3/$4"
                ip -n "$1" link del "$2" 2>/dev/null || true
                ip -n "$3" link del "$4" 2>/dev/null || true
                ip link del "$2" 2>/dev/null || true
                ip link add "$2" type veth peer name "$4"
                ip link set "$2" netns "$1"
                ip link set "$4" netns "$3"
        fi
        # No IPv6 on the paths: its link-up chatter (router solicitations 4 s apart, MLD reports,
        # DAD) lands on the target's receive counters for seconds, and the tests count those
        # packets to prove which path carried a login or a discovery.
        ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
        ip netns exec "$3" sysctl -qw "net.ipv6.conf.$4.disable_ipv6=1"
        ip -n "$1" link set "$2" up
        ip -n "$3" link set "$4" up
}

# ---- namespaces and links
ensure_ns "$TNS"
ensure_ns "$INS"
ensure_veth "$INS" "${NAME}-ia" "$TNS" "${NAME}-ta"
ensure_veth "$INS" "${NAME}-ib" "$TNS" "${NAME}-tb"
ensure_addr "$TNS" "${NAME}-ta" "${P}.1.1/24"
ensure_addr "$INS" "${NAME}-ia" "${P}.1.2/24"
ensure_addr "$TNS" "${NAME}-tb" "${P}.2.1/24"
ensure_addr "$INS" "${NAME}-ib" "${P}.2.2/24"
ensure_addr "$TNS" lo "${VIP}/32"
ip -n "$INS" route replace "${VIP}/32" via "${P}.1.1" dev "${NAME}-ia" metric 10
ip -n "$INS" route replace "${VIP}/32" via "${P}.2.1" dev "${NAME}-ib" metric 20
# Loose reverse-path filter on the initiator side (replies from the VIP may come back on either
# path). The target answers ARP only for addresses of the receiving interface, so that an
# initiator bound to the wrong path really fails instead of being answered anyway.
ip netns exec "$INS" sysctl -qw net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.default.rp_filter=2
ip netns exec "$TNS" sysctl -qw net.ipv4.conf.all.arp_ignore=1
for ((k = 0; k < TAPS; k++)); do
        tap=${NAME}-tap$k
        link_in "$TNS" "$tap" || {
                log "tap $TNS/$tap"
                ip -n "$TNS" tuntap add dev "$tap" mode tap
        }
        ensure_addr "$TNS" "$tap" "${P}.$((3 + k)).1/24"
        ip -n "$TNS" link set "$tap" up
done

# ---- tgtd
# Alive means: answers on its control socket. kill -0 is not enough: a SIGKILLed tgtd stays a
# zombie until it is reaped and leaves its socket file behind. tgtd ignores SIGTERM and SIGINT;
# tests/target/target-down.sh stops it with "tgtadm --mode system --op delete".
TGTADM=(tgtadm -C "$CTRL_PORT" --lld iscsi)
if ! "${TGTADM[@]}" --mode target --op show >/dev/null 2>&1; then
        log "starting tgtd (control port $CTRL_PORT, portal 0.0.0.0:$PORT in $TNS)"
        rm -f "$sock" "$sock.lock"
        # -f: foreground; we background it in a session of its own and keep its pid. Its output
        # goes to a file so that it holds no pipe of the caller open.
        setsid ip netns exec "$TNS" tgtd -f -C "$CTRL_PORT" --iscsi "portal=0.0.0.0:${PORT}" \
                >"$STATE/tgtd.log" 2>&1 </dev/null &
        echo $! >"$STATE/tgtd.pid"
        up=0
        for _ in $(seq 100); do
                if "${TGTADM[@]}" --mode target --op show >/dev/null 2>&1; then
                        up=1
                        break
                fi
                kill -0 "$(cat "$STATE/tgtd.pid")" 2>/dev/null || break
                sleep 0.1
        done
        [ "$up" = 1 ] || die "tgtd does not answer on $sock (exited, or not up after 10 s);" \
                "log: $(tail -n 3 "$STATE/tgtd.log" 2>/dev/null)"
fi

# NB: "--op show --tid N" prints only negotiation parameters, so slice the full listing.
show_all() { "${TGTADM[@]}" --mode target --op show; }
show_tid() { show_all | awk -v t="Target $1:" '/^Target /{p=(index($0,t)==1)} p'; }
has_target() { show_all | grep "^Target $1: " >/dev/null; }
has_lun() { show_tid "$1" | grep -x "        LUN: $2" >/dev/null; }
has_account() { "${TGTADM[@]}" --mode account --op show | grep -x "    $1" >/dev/null; }

mk_target() { # mk_target TID IQN IMAGE
        local tid=$1 iqn=$2 img=$3
        [ -f "$img" ] || truncate -s "$LUN_SIZE" "$img"
        has_target "$tid" || "${TGTADM[@]}" --mode target --op new --tid "$tid" --targetname "$iqn"
        has_lun "$tid" 1 || "${TGTADM[@]}" --mode logicalunit --op new --tid "$tid" --lun 1 --backing-store "$img"
        show_tid "$tid" | grep -x '        ALL' >/dev/null ||
                "${TGTADM[@]}" --mode target --op bind --tid "$tid" --initiator-address ALL
}

# target 1: open (no authentication)
mk_target 1 "${IQN_PREFIX}:disk1" "$STATE/lun1.img"
# target 2: CHAP (incoming) and mutual CHAP (outgoing)
mk_target 2 "${IQN_PREFIX}:disk2-chap" "$STATE/lun2.img"
has_account "$CHAP_USER" || "${TGTADM[@]}" --mode account --op new --user "$CHAP_USER" --password "$CHAP_PASS"
has_account "$MCHAP_USER" || "${TGTADM[@]}" --mode account --op new --user "$MCHAP_USER" --password "$MCHAP_PASS"
show_tid 2 | grep -x "        ${CHAP_USER}" >/dev/null ||
        "${TGTADM[@]}" --mode account --op bind --tid 2 --user "$CHAP_USER"
show_tid 2 | grep -x "        ${MCHAP_USER} (outgoing)" >/dev/null ||
        "${TGTADM[@]}" --mode account --op bind --tid 2 --user "$MCHAP_USER" --outgoing

cat >"$STATE/env.tmp" <<ENV
# generated by tests/target/target-up.sh; source me
NAME=$NAME
NET=$NET
TGT_NS=$TNS
INI_NS=$INS
TGT_IF_A=${NAME}-ta
TGT_IF_B=${NAME}-tb
INI_IF_A=${NAME}-ia
INI_IF_B=${NAME}-ib
INI_ADDR_A=${P}.1.2
INI_ADDR_B=${P}.2.2
VIP=$VIP
PORT=$PORT
PORTAL=${VIP}:${PORT}
PORTAL_A=${P}.1.1:${PORT}
PORTAL_B=${P}.2.1:${PORT}
TAPS=$TAPS
TAP_PREFIX=${NAME}-tap
IQN_OPEN=${IQN_PREFIX}:disk1
IQN_CHAP=${IQN_PREFIX}:disk2-chap
CHAP_USER=$CHAP_USER
CHAP_PASS=$CHAP_PASS
MCHAP_USER=$MCHAP_USER
MCHAP_PASS=$MCHAP_PASS
TGT_IPC_SOCKET=$TGT_IPC_SOCKET
CTRL_PORT=$CTRL_PORT
TGTD_PID=$(cat "$STATE/tgtd.pid" 2>/dev/null || true)
STATE=$STATE
ENV
mv "$STATE/env.tmp" "$STATE/env"
log "ready: portal ${VIP}:${PORT}, targets ${IQN_PREFIX}:disk1 (open), ${IQN_PREFIX}:disk2-chap (CHAP); env: $STATE/env"
