#!/bin/bash
# SPDX-License-Identifier: MIT
# fault.enospc: the disk fills up under the real daemon.
#  A. The iscsi root is on a small tmpfs that is then filled: a create and an update get 507 with
#     a problem+json detail that says there is no space, and both mirrors are unchanged (every
#     file under ifaces/ byte for byte, the sqlite rows and the audit count), with no temp file
#     left. Once space is freed, the same requests succeed and the mirrors agree.
#  B. The sqlite db is on the full tmpfs instead: a create gets 507 (or 503) with a detail that
#     says there is no space or names the db, and nothing is half-written; then it recovers.
# Everything runs in a private mount namespace (tests/fault/lib.sh).
. "$(dirname "$(readlink -f "$0")")/lib.sh"
fault_enter "$@"

SPACE_RE='no space|space left|disk.*full|full'

# --- A: the iscsi root's filesystem is full -----------------------------------------------------
mount_tmpfs "$W/rootfs" 256k
mkdir -p "$W/state" "$W/lock"
ROOT=$W/rootfs/iscsi
DB=$W/state/ifaced.db
daemon_start root-full "$ROOT" "$DB" "$W/lock" || harness_fail "the daemon did not start"
seed 3

fill_fs "$W/rootfs"
snapshot "$ROOT" "$DB" "$W/a0"

api POST /api/v1/ifaces '{"name":"new1","net_ifacename":"eth9"}'
info "root full, create: $STATUS $BODY"
check "root full: create answers 507 with a no-space detail" is_problem 507 "$SPACE_RE"
check "root full: the title of the 507 does not say 'Record limit reached'" \
        test "$(jq -r .title <<<"$BODY" 2>/dev/null)" != "Record limit reached"
snapshot "$ROOT" "$DB" "$W/a1"
check "root full: create changed neither mirror" same_snapshot "$W/a0" "$W/a1"
check "root full: create left no temp file" no_temp_files "$ROOT"
info "root full: pending intents after the create: $(intents "$DB")"

api PATCH /api/v1/ifaces/f1 '{"net_ifacename":"eth7"}'
info "root full, update: $STATUS $BODY"
check "root full: update answers 507 with a no-space detail" is_problem 507 "$SPACE_RE"
snapshot "$ROOT" "$DB" "$W/a2"
check "root full: update changed neither mirror" same_snapshot "$W/a0" "$W/a2"
check "root full: update left no temp file" no_temp_files "$ROOT"
info "root full: pending intents after the update: $(intents "$DB")"

api GET /api/v1/ifaces/f1
check "root full: GET still serves the old version" \
        test "$STATUS:$(jq -r .net_ifacename <<<"$BODY" 2>/dev/null)" = 200:eth1

unfill_fs "$W/rootfs"
api POST /api/v1/ifaces '{"name":"new1","net_ifacename":"eth9"}'
check "root freed: the same create succeeds" status_is 201
api PATCH /api/v1/ifaces/f1 '{"net_ifacename":"eth7"}'
check "root freed: the same update succeeds" status_is 200
check "root freed: both mirrors agree" mirrors_agree "$ROOT" "$DB"
daemon_stop

# --- B: the sqlite db's filesystem is full ------------------------------------------------------
mount_tmpfs "$W/dbfs" 1m
ROOT=$W/root-b
DB=$W/dbfs/ifaced.db
daemon_start db-full "$ROOT" "$DB" "$W/lock" || harness_fail "the daemon did not start"
seed 3

fill_fs "$W/dbfs"
snapshot "$ROOT" "$DB" "$W/b0"

api POST /api/v1/ifaces '{"name":"new1","net_ifacename":"eth9"}'
info "db full, create: $STATUS $BODY"
if [ "$STATUS" = 503 ]; then
        check "db full: create answers 503 with a no-space or db-path detail" \
                is_problem 503 "$SPACE_RE|$DB"
else
        check "db full: create answers 507 with a no-space or db-path detail" \
                is_problem 507 "$SPACE_RE|$DB"
fi
snapshot "$ROOT" "$DB" "$W/b1"
check "db full: create changed neither mirror" same_snapshot "$W/b0" "$W/b1"
check "db full: create left no temp file" no_temp_files "$ROOT"

api PATCH /api/v1/ifaces/f1 '{"net_ifacename":"eth7"}'
info "db full, update: $STATUS $BODY"
if [ "$STATUS" = 503 ]; then
        check "db full: update answers 503 with a no-space or db-path detail" \
                is_problem 503 "$SPACE_RE|$DB"
else
        check "db full: update answers 507 with a no-space or db-path detail" \
                is_problem 507 "$SPACE_RE|$DB"
fi
snapshot "$ROOT" "$DB" "$W/b2"
check "db full: update changed neither mirror" same_snapshot "$W/b0" "$W/b2"

unfill_fs "$W/dbfs"
api POST /api/v1/ifaces '{"name":"new1","net_ifacename":"eth9"}'
check "db freed: the same create succeeds" status_is 201
check "db freed: both mirrors agree" mirrors_agree "$ROOT" "$DB"
check "db freed: no pending intent" test "$(intents "$DB")" = 0
daemon_stop

fault_done
