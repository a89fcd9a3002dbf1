#!/bin/bash
# SPDX-License-Identifier: MIT
# fault.db-deleted: the sqlite db (db, db-wal, db-shm) is deleted while the real daemon runs.
# Accepted behaviours for writes: keep working against the open file, or fail cleanly (a 5xx
# problem+json whose detail names the db or says it is gone, and nothing written to ifaces/).
# Required: GET /api/v1/health reports the problem (db.ok false, a detail naming the path or
# saying the file was removed, overall status not "ok"). After a restart every record that was
# acknowledged is served again and both mirrors agree.
# Everything runs in a private mount namespace (tests/fault/lib.sh).
. "$(dirname "$(readlink -f "$0")")/lib.sh"
fault_enter "$@"

mkdir -p "$W/state" "$W/lock"
ROOT=$W/root
DB=$W/state/ifaced.db
daemon_start db-deleted "$ROOT" "$DB" "$W/lock" || harness_fail "the daemon did not start"
seed 3
api GET /api/v1/ifaces/f3
SEEN_ETAG=$(header ETag | tr -d '"')
rm -f "$DB" "$DB-wal" "$DB-shm"
[ ! -e "$DB" ] || harness_fail "$DB is still there"

# --- health -------------------------------------------------------------------------------------
api GET /api/v1/health
info "db deleted, health: $STATUS $BODY"
check "db deleted: health says db.ok = false" \
        test "$(jq -r .db.ok <<<"$BODY" 2>/dev/null)" = false
check "db deleted: the health detail names the path or says the file is gone" \
        grep -Eqi -- "$DB|deleted|removed|missing|no such file|gone|moved" \
        <<<"$(jq -r .db.detail <<<"$BODY" 2>/dev/null)"
check "db deleted: health status is not ok" \
        test "$(jq -r .status <<<"$BODY" 2>/dev/null)" != ok

# --- writes -------------------------------------------------------------------------------------
snap_files "$ROOT" >"$W/files0"
ACKED=(f1 f2 f3)
api POST /api/v1/ifaces '{"name":"new1","net_ifacename":"eth9"}'
info "db deleted, create: $STATUS $BODY"
case $STATUS in
201)
        info "db deleted: the daemon keeps writing (to the open, unlinked db)"
        ACKED+=(new1)
        check "db deleted: the acknowledged create is in ifaces/" test -f "$ROOT/ifaces/new1"
        ;;
5*)
        check "db deleted: the create fails cleanly ($STATUS naming the db or saying it is gone)" \
                is_problem "$STATUS" "$DB|deleted|removed|missing|no such file|gone|moved"
        snap_files "$ROOT" >"$W/files1"
        check "db deleted: the refused create wrote nothing to ifaces/" \
                cmp -s "$W/files0" "$W/files1"
        ;;
*)
        fail "db deleted: the create answers $STATUS (expected 201, or a 5xx that says why)"
        ;;
esac

api PATCH /api/v1/ifaces/f1 '{"net_ifacename":"eth7"}'
info "db deleted, update: $STATUS $BODY"
case $STATUS in
200) F1=eth7 ;;
5*)
        F1=eth1
        check "db deleted: the update fails cleanly ($STATUS naming the db or saying it is gone)" \
                is_problem "$STATUS" "$DB|deleted|removed|missing|no such file|gone|moved"
        ;;
*)
        F1=eth1
        fail "db deleted: the update answers $STATUS (expected 200, or a 5xx that says why)"
        ;;
esac

# --- restart ------------------------------------------------------------------------------------
daemon_stop
if daemon_start restarted "$ROOT" "$DB" "$W/lock"; then
        api GET '/api/v1/ifaces?limit=1000'
        got=$(jq -r '[.items[].name | select(. != "default" and . != "iser")] | join(" ")' \
                <<<"$BODY" 2>/dev/null)
        want=$(printf '%s\n' "${ACKED[@]}" | sort | tr '\n' ' ' | sed 's/ $//')
        check "restart: every acknowledged record is served ($want)" test "$got" = "$want"
        api GET /api/v1/ifaces/f1
        check "restart: f1 is its last acknowledged version (net_ifacename $F1)" \
                test "$(jq -r .net_ifacename <<<"$BODY" 2>/dev/null)" = "$F1"
        check "restart: both mirrors agree" mirrors_agree "$ROOT" "$DB"
        # The new db must not hand out an ETag a client saw before (the revision reserve).
        api GET /api/v1/ifaces/f1
        new_etag=$(header ETag | tr -d '"')
        info "restart: f1's ETag $new_etag, the highest seen before the db was lost $SEEN_ETAG"
        check "restart: revisions continue after those handed out before (no ETag reused)" \
                test "${new_etag:-0}" -gt "${SEEN_ETAG:-0}"
        api GET /api/v1/health
        check "restart: health is ok again" test "$(jq -r .db.ok <<<"$BODY" 2>/dev/null)" = true
        daemon_stop
else
        fail "restart: the daemon does not start again (exit $DAEMON_RC)"
fi

fault_done
