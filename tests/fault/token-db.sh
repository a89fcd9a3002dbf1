#!/bin/bash
# SPDX-License-Identifier: MIT
# fault.token-db: the database is replaced (restored from a backup copy) or deleted under the
# running daemon. Iface writes were refused, but token create and revoke answered 201 and 204
# into the unlinked file; a later restore from backup then un-revoked a token.
#  - replaced: token create and revoke answer 503 with a clear detail, iface writes too; health
#    is failing and says so; reads served from memory (GET ifaces, GET one) keep working, and
#    nothing reaches the file now at the path;
#  - deleted: the same;
#  - after a restart on the file now at the path, the revocation that was refused did not
#    vanish silently: the token is as that file says.
. "$(dirname "$(readlink -f "$0")")/lib.sh"
fault_enter "$@"

fault_dirs

tokens_in() { sqlite3 -batch "file:$1?mode=ro" "SELECT count(*) || ':' || count(revoked_usec) FROM tokens"; }

daemon_start tok "$ROOT" "$DB" "$LOCK" || harness_fail "no start"
seed 1
api POST /api/v1/tokens '{"role":"viewer","name":"before"}'
status_is 201 || harness_fail "cannot create a token: $STATUS $BODY"
TID=$(jq -r .id <<<"$BODY")
sleep 0.2

# A restore from backup: a copy of the db put in place of the live file.
sqlite3 -batch "$DB" ".backup '$W/state/backup.db'" || harness_fail "cannot back up the db"
mv "$W/state/backup.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
BEFORE_NEW=$(tokens_in "$DB")

api POST /api/v1/tokens '{"role":"viewer","name":"after"}'
check "db replaced: token create is 503" is_problem 503 "database.*(deleted|replaced).*nothing was changed"
check "with Retry-After" [ -n "$(header Retry-After)" ]
api DELETE "/api/v1/tokens/$TID"
check "db replaced: token revoke is 503" is_problem 503 "database.*(deleted|replaced)"
api POST /api/v1/ifaces '{"name":"x1","transport_name":"tcp"}'
check "db replaced: iface create is 503" is_problem 503 "database.*replaced"
check "nothing reached the file now at the path" [ "$(tokens_in "$DB")" = "$BEFORE_NEW" ]
check "nor ifaces/" [ ! -e "$ROOT/ifaces/x1" ]
api GET /api/v1/health
check "health is failing (503, db.ok false)" [ "$STATUS:$(jq -r .db.ok <<<"$BODY")" = 503:false ]
check "and says the database was replaced" grep -q "replaced" <<<"$(jq -r .db.detail <<<"$BODY")"
api GET /api/v1/ifaces/f1
check "reads from memory keep working" status_is 200
api GET /api/v1/ifaces
check "lists too" status_is 200
daemon_stop

# Deleted.
daemon_start tok2 "$ROOT" "$DB" "$LOCK" || harness_fail "no restart"
api GET /api/v1/tokens
check "after a restart the token is as the file at the path says (not revoked)" \
        [ "$(jq -r --arg id "$TID" '.items[] | select(.id == $id) | .revoked // false' <<<"$BODY")" = false ]
rm -f "$DB" "$DB-wal" "$DB-shm"
api POST /api/v1/tokens '{"role":"viewer","name":"after"}'
check "db deleted: token create is 503" is_problem 503 "database.*deleted"
api DELETE "/api/v1/tokens/$TID"
check "db deleted: token revoke is 503" is_problem 503 "database.*deleted"
check "no database file appeared" [ ! -e "$DB" ]
daemon_stop
fault_done
