#!/bin/bash
# SPDX-License-Identifier: MIT
# fault.lock-queue: iscsiadm holds its lock while several writes arrive together. Each write used
# to wait for the engine behind the one before it and then for the lock: the n-th answered after
# n x --lock-timeout-ms, SIGTERM waited for all of them (19.6 s against a 10 s drain), and health
# said ok throughout.
#  - 6 writes sent at once with --lock-timeout-ms 1000: every one answers 503 about 1000 ms after
#    its own arrival (under 3000 ms; a queue would take 6000), naming iscsiadm as the holder;
#  - while the lock is held, health is degraded and shows the lock: held, its holder (iscsiadm,
#    with the pid of the process we run as "iscsiadm") and its age;
#  - with --lock-timeout-ms 20000 and 6 writes waiting, SIGTERM stops the daemon within 3 s
#    (exit 0), every waiting client gets a 503, and nothing was written.
. "$(dirname "$(readlink -f "$0")")/lib.sh"
fault_enter "$@"

fault_dirs
mkdir -p "$W/bin"
N=6

# A process named iscsiadm that holds the lock, the way iscsiadm takes it.
cp "$(command -v sleep)" "$W/bin/iscsiadm"
hold_lock() {
        [ -e "$LOCK/lock" ] || : >"$LOCK/lock"
        ln "$LOCK/lock" "$LOCK/lock.write" || harness_fail "cannot take iscsiadm's lock"
        "$W/bin/iscsiadm" 300 &
        HOLDER=$!
        DAEMON_PIDS+=("$HOLDER")
}
release_lock() {
        rm -f "$LOCK/lock.write"
        kill "$HOLDER" 2>/dev/null || true
        wait "$HOLDER" 2>/dev/null || true
}

# fire N: N PATCHes at once in the background; each writes "<status> <ms>" to $W/w.<i>.
fire() {
        local i
        PIDS=()
        for i in $(seq "$1"); do
                (
                        t0=$(now_ms)
                        st=$(curl -s -o "$W/wbody.$i" -w '%{http_code}' -X PATCH --max-time 60 \
                                --unix-socket "$SOCK" -H 'Content-Type: application/merge-patch+json' \
                                --data-binary '{"mtu":9000}' http://localhost/api/v1/ifaces/f1) || st=000
                        echo "$st $(($(now_ms) - t0))" >"$W/w.$i"
                ) &
                PIDS+=($!)
        done
}

daemon_start q "$ROOT" "$DB" "$LOCK" --lock-timeout-ms 1000 || harness_fail "no start"
seed 1
sleep 0.2
snapshot "$ROOT" "$DB" "$W/s0"
hold_lock
fire "$N"
sleep 0.6
api GET /api/v1/health
check "lock held: health is degraded" [ "$(jq -r .status <<<"$BODY")" = degraded ]
check "health shows the lock held by iscsiadm with its pid" \
        grep -q "^iscsiadm (pid $HOLDER)\$" <<<"$(jq -r '.iscsi_lock.holder' <<<"$BODY")"
check "and its age (>= 500 ms)" [ "$(jq -r '.iscsi_lock.age_ms' <<<"$BODY")" -ge 500 ]
check "and the writes waiting" [ "$(jq -r '.iscsi_lock.writes_waiting' <<<"$BODY")" -ge 1 ]
for p in "${PIDS[@]}"; do wait "$p"; done
worst=0
for i in $(seq "$N"); do
        read -r st ms <"$W/w.$i"
        info "write $i: $st after $ms ms"
        [ "$ms" -gt "$worst" ] && worst=$ms
        check "write $i: 503" [ "$st" = 503 ]
done
# Each write's wait ends at its own deadline (1000 ms after it arrived); a queue of deadlines
# would answer the last of the 6 after about 6000 ms. 3000 ms leaves room for a loaded machine.
check "the slowest of $N answered near its own deadline, not behind the others: $worst ms < 3000" \
        [ "$worst" -lt 3000 ]
check "the 503 names iscsiadm as the holder" grep -q "held by iscsiadm (pid $HOLDER)" "$W/wbody.$N"
snapshot "$ROOT" "$DB" "$W/s1"
check "nothing was written" same_snapshot "$W/s0" "$W/s1"
release_lock
api GET /api/v1/health
check "released: health ok" [ "$(jq -r '.status + " " + (.iscsi_lock.held|tostring)' <<<"$BODY")" = "ok false" ]
daemon_stop

# SIGTERM while writes wait on a long lock timeout.
daemon_start q2 "$ROOT" "$DB" "$LOCK" --lock-timeout-ms 20000 || harness_fail "no start"
hold_lock
fire "$N"
sleep 0.5
t0=$(now_ms)
kill -TERM "$DAEMON"
rc=0
for _ in $(seq 200); do
        kill -0 "$DAEMON" 2>/dev/null || break
        sleep 0.05
done
took=$(($(now_ms) - t0))
if kill -0 "$DAEMON" 2>/dev/null; then
        fail "SIGTERM with $N writes waiting for the lock: still running after 10 s"
        kill -KILL "$DAEMON"
else
        wait "$DAEMON" || rc=$?
        info "stopped $took ms after SIGTERM, exit $rc"
        check "SIGTERM with $N writes waiting: stopped within 3 s ($took ms)" [ "$took" -le 3000 ]
        check "and exited 0" [ "$rc" = 0 ]
fi
DAEMON=
for p in "${PIDS[@]}"; do wait "$p"; done
n503=0
for i in $(seq "$N"); do
        read -r st ms <"$W/w.$i"
        [ "$st" = 503 ] && n503=$((n503 + 1))
done
check "every waiting client got a 503 ($n503 of $N)" [ "$n503" = "$N" ]
snapshot "$ROOT" "$DB" "$W/s2"
check "nothing was written" same_snapshot "$W/s1" "$W/s2"
release_lock
fault_done
