#!/bin/bash
# SPDX-License-Identifier: MIT
# fault.lock: iscsiadm holds its lock while the real daemon, started with a short
# --lock-timeout-ms, is asked to write. The lock is taken exactly as iscsiadm does it
# (libopeniscsiusr idbm.c): link("<lock_dir>/lock", "<lock_dir>/lock.write").
#  - a create and an update get 503 with a Retry-After header (whole seconds >= 1) after about
#    the timeout (at most 5 s), and a problem+json detail that speaks of the lock (not a bare
#    "Connection timed out"); nothing is written to either
#    mirror and iscsiadm's lock.write is left alone; reads keep working;
#  - iscsiadm writes a record file while it holds the lock (as it does): the daemon's watcher
#    sees it and waits for the lock too, but that must not stretch the bound: a write still gets
#    its 503 within the timeout (+1 s of slack) and GET /api/v1/health answers within 1 s;
#  - once iscsiadm's lock is released, the same requests succeed, the file iscsiadm wrote is
#    imported, and the daemon leaves no lock.write behind.
# Everything runs in a private mount namespace (tests/fault/lib.sh).
. "$(dirname "$(readlink -f "$0")")/lib.sh"
fault_enter "$@"

TIMEOUT_MS=300
LOCK_RE='lock|iscsiadm'

if ! daemon_has_option --lock-timeout-ms; then
        fail "the daemon has no --lock-timeout-ms option (docs/security.md documents it;" \
                "without it a request waits 30 s for iscsiadm's lock)"
        fault_done
fi

mkdir -p "$W/state" "$W/lock"
ROOT=$W/root
DB=$W/state/ifaced.db
LOCK=$W/lock
daemon_start lock "$ROOT" "$DB" "$LOCK" --lock-timeout-ms "$TIMEOUT_MS" ||
        harness_fail "the daemon did not start with --lock-timeout-ms $TIMEOUT_MS"
seed 2

# Let the watcher settle the daemon's own writes before iscsiadm comes.
sleep 0.3

# iscsiadm's lock: its lock file (created if missing), hard-linked to lock.write.
[ -e "$LOCK/lock" ] || : >"$LOCK/lock"
ln "$LOCK/lock" "$LOCK/lock.write" || harness_fail "cannot take iscsiadm's lock in $LOCK"
snapshot "$ROOT" "$DB" "$W/s0"

# is_lock_503 T0 MAX_MS: 503 (a problem+json) with Retry-After >= 1, answered after at least the
# timeout and at most MAX_MS.
# shellcheck disable=SC2317 # called through check
is_lock_503() {
        local took=$(($(now_ms) - $1)) ra

        is_problem 503 . || return 1
        ra=$(header Retry-After)
        if ! [[ "$ra" =~ ^[1-9][0-9]*$ ]]; then
                echo "    Retry-After is '$ra', not a whole number of seconds >= 1"
                return 1
        fi
        if [ "$took" -lt $((TIMEOUT_MS - 50)) ] || [ "$took" -gt "$2" ]; then
                echo "    answered after $took ms; expected $TIMEOUT_MS to $2 ms"
                return 1
        fi
}

# --- iscsiadm holds its lock --------------------------------------------------------------------
t0=$(now_ms)
api POST /api/v1/ifaces '{"name":"new1","net_ifacename":"eth9"}'
info "lock held, create after $(($(now_ms) - t0)) ms: $STATUS Retry-After '$(header Retry-After)' $BODY"
check "lock held: create answers 503 with Retry-After" is_lock_503 "$t0" 5000
check "lock held: the create's detail speaks of iscsiadm's lock" is_problem 503 "$LOCK_RE"

t0=$(now_ms)
api PATCH /api/v1/ifaces/f1 '{"net_ifacename":"eth7"}'
info "lock held, update after $(($(now_ms) - t0)) ms: $STATUS Retry-After '$(header Retry-After)' $BODY"
check "lock held: update answers 503 with Retry-After" is_lock_503 "$t0" 5000
check "lock held: the update's detail speaks of iscsiadm's lock" is_problem 503 "$LOCK_RE"

snapshot "$ROOT" "$DB" "$W/s1"
check "lock held: nothing was written to either mirror" same_snapshot "$W/s0" "$W/s1"
check "lock held: no pending intent" test "$(intents "$DB")" = 0
check "lock held: no temp file" no_temp_files "$ROOT"
check "lock held: iscsiadm's lock.write is still there and still iscsiadm's" \
        test "$(stat -c %i "$LOCK/lock.write" 2>/dev/null)" = "$(stat -c %i "$LOCK/lock")"
api GET /api/v1/ifaces/f1
check "lock held: reads keep working" status_is 200

# --- iscsiadm writes a record while it holds the lock -------------------------------------------
sed 's/^iface\.iscsi_ifacename = f2$/iface.iscsi_ifacename = ext1/' "$ROOT/ifaces/f2" \
        >"$ROOT/ifaces/ext1"
grep -q '^iface.iscsi_ifacename = ext1$' "$ROOT/ifaces/ext1" ||
        harness_fail "cannot make ifaces/ext1 from ifaces/f2"
chmod 0600 "$ROOT/ifaces/ext1"
sleep 0.2 # the watcher sees it and starts waiting for the lock
snapshot "$ROOT" "$DB" "$W/s2"

t0=$(now_ms)
api POST /api/v1/ifaces '{"name":"new1","net_ifacename":"eth9"}'
info "lock held + iscsiadm wrote ext1, create after $(($(now_ms) - t0)) ms: $STATUS Retry-After" \
        "'$(header Retry-After)' $BODY"
check "lock held + watcher waiting: create answers 503 within the timeout + 1 s" \
        is_lock_503 "$t0" $((TIMEOUT_MS + 1000))
t0=$(now_ms)
api GET /api/v1/health
took=$(($(now_ms) - t0))
info "lock held + watcher waiting, health after $took ms: $STATUS"
check "lock held + watcher waiting: health answers within 1 s" test "$took" -le 1000 -a "$STATUS" != 000
snapshot "$ROOT" "$DB" "$W/s3"
check "lock held + watcher waiting: nothing was written to either mirror" \
        same_snapshot "$W/s2" "$W/s3"

# --- iscsiadm unlocks, by removing lock.write ---------------------------------------------------
rm -f "$LOCK/lock.write"
api POST /api/v1/ifaces '{"name":"new1","net_ifacename":"eth9"}'
check "lock released: the same create succeeds" status_is 201
api PATCH /api/v1/ifaces/f1 '{"net_ifacename":"eth7"}'
check "lock released: the same update succeeds" status_is 200
# The watcher tries iscsiadm's lock once per settle period (50 ms), never waiting on it.
for _ in $(seq 100); do
        api GET /api/v1/ifaces/ext1
        [ "$STATUS" = 200 ] && break
        sleep 0.02
done
check "lock released: the file iscsiadm wrote is imported within 2 s" status_is 200
check "lock released: both mirrors agree" mirrors_agree "$ROOT" "$DB"
check "lock released: the daemon left no lock.write behind" test ! -e "$LOCK/lock.write"
daemon_stop

fault_done
