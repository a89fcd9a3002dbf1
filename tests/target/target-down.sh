#!/bin/bash
# SPDX-License-Identifier: MIT
# Tears down what tests/target/target-up.sh created: tgtd, the two namespaces with their veths
# and taps, and the state directory (idempotent; safe after a half-finished target-up.sh).
#
# Same knobs as target-up.sh: TARGET_NAME=ifdtgt TARGET_NET=215 TARGET_CTRL_PORT TARGET_RUN
# TARGET_STATE; TARGET_KEEP_IMAGES=1 keeps the LUN files (and so the state directory).
# Exit 0 when nothing of this instance is left, 1 otherwise.
set -uo pipefail

NAME=${TARGET_NAME:-ifdtgt}
NET=${TARGET_NET:-215}
CTRL_PORT=${TARGET_CTRL_PORT:-$((3000 + NET))}
RUN=${TARGET_RUN:-${TMPDIR:-/tmp}/iscsi-ifaced-target}
STATE=${TARGET_STATE:-$RUN/$NAME}
export TGT_IPC_SOCKET=${STATE}/tgtd.sock
TNS=${NAME}-tgt
INS=${NAME}-ini
TGTADM=(tgtadm -C "$CTRL_PORT" --lld iscsi)

log() { echo "target-down: $*" >&2; }
[ "$(id -u)" = 0 ] || {
        log "error: must run as root"
        exit 1
}
ns_exists() { ip netns list | awk '{print $1}' | grep -x -- "$1" >/dev/null; }
# tgtd of this instance: by its recorded pid, if that process is still a tgtd.
tgtd_alive() { [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = tgtd ] && kill -0 "$pid" 2>/dev/null; }
wait_gone() { for _ in $(seq "$1"); do tgtd_alive || return 0; sleep 0.1; done; ! tgtd_alive; }

# ---- tgtd: delete the targets (forcibly, sessions may still be open), then the system; tgtd
# ignores SIGTERM, so SIGKILL by its pid is the last resort.
pid=$(cat "$STATE/tgtd.pid" 2>/dev/null || true)
if command -v tgtadm >/dev/null && "${TGTADM[@]}" --mode target --op show >/dev/null 2>&1; then
        tids=$("${TGTADM[@]}" --mode target --op show 2>/dev/null |
                awk '/^Target [0-9]+:/ { sub(":", "", $2); print $2 }')
        for tid in $tids; do
                "${TGTADM[@]}" --mode target --op delete --force --tid "$tid" >/dev/null 2>&1 ||
                        log "warning: cannot delete target $tid"
        done
        tgtadm -C "$CTRL_PORT" --mode system --op delete >/dev/null 2>&1 || true
fi
if tgtd_alive && ! wait_gone 30; then
        log "tgtd $pid still alive: SIGKILL"
        kill -9 "$pid" 2>/dev/null
        wait_gone 30 || log "warning: tgtd $pid does not die"
fi
rm -f "$STATE/tgtd.pid" "${TGT_IPC_SOCKET}.${CTRL_PORT}" "${TGT_IPC_SOCKET}.${CTRL_PORT}.lock"

# ---- processes still inside our namespaces (an initiator tool left by an interrupted test, a
# tgtd whose pid file was lost), then the namespaces: deleting one destroys its veths and taps.
for ns in "$TNS" "$INS"; do
        ns_exists "$ns" || continue
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        if [ -n "$pids" ]; then
                for p in $pids; do
                        log "killing pid $p still in netns $ns ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-60))"
                        kill "$p" 2>/dev/null
                done
                for _ in $(seq 20); do
                        [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
                        sleep 0.1
                done
                for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        fi
        ip netns del "$ns" || log "warning: cannot delete netns $ns"
done
# A veth end left in the root namespace by an interrupted target-up.sh.
for l in "${NAME}-ia" "${NAME}-ib" "${NAME}-ta" "${NAME}-tb"; do
        ip link del "$l" 2>/dev/null
done

if [ "${TARGET_KEEP_IMAGES:-0}" != 1 ]; then
        rm -f "$STATE"/lun1.img "$STATE"/lun2.img "$STATE/env" "$STATE/env.tmp" "$STATE/tgtd.log"
        rmdir "$STATE" 2>/dev/null
        rmdir "$RUN" 2>/dev/null
else
        rm -f "$STATE/env" "$STATE/env.tmp"
fi

rc=0
for ns in "$TNS" "$INS"; do
        ns_exists "$ns" && {
                log "error: netns $ns still exists"
                rc=1
        }
done
for l in "${NAME}-ia" "${NAME}-ib" "${NAME}-ta" "${NAME}-tb"; do
        ip link show "$l" >/dev/null 2>&1 && {
                log "error: link $l still exists"
                rc=1
        }
done
tgtd_alive && {
        log "error: tgtd $pid still alive"
        rc=1
}
[ "$rc" = 0 ] && log "$NAME cleaned"
exit "$rc"
