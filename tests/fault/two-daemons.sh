#!/bin/bash
# SPDX-License-Identifier: MIT
# fault.two-daemons: a second daemon on the same database (another, empty --iscsi-root, the same
# --db) while the first runs. Without a lock it took every row for a file removed outside and
# deleted it, and the first daemon's health still said ok.
#  - the second daemon refuses to start, names the holder (the first one's pid and root), and
#    changes nothing in the database;
#  - the first one keeps its records and says ok;
#  - the token CLI keeps working next to the running daemon (create, list, revoke), and the
#    daemon honours a CLI revoke;
#  - once the first daemon stops, another may use the database.
. "$(dirname "$(readlink -f "$0")")/lib.sh"
fault_enter "$@"

fault_dirs
mkdir -p "$W/root2"
daemon_start first "$ROOT" "$DB" "$LOCK" || harness_fail "the first daemon did not start"
FIRST=$DAEMON
FIRST_SOCK=$SOCK
seed 3
sleep 0.2
snapshot "$ROOT" "$DB" "$W/s0"

daemon_must_fail second "$W/root2" "$DB" "$LOCK"
check "a second daemon on the same database refuses to start" refused_cleanly
# shellcheck disable=SC2317 # called through check
names_holder() {
        grep -q "in use by another iscsi-ifaced (pid $FIRST, iscsi root $ROOT)" <<<"$START_LOG" ||
                {
                        echo "    log: $START_LOG"
                        return 1
                }
}
check "its error names the holder: pid $FIRST and its iscsi root" names_holder
snapshot "$ROOT" "$DB" "$W/s1"
check "the database and ifaces/ are unchanged" same_snapshot "$W/s0" "$W/s1"
check "the second daemon wrote nothing in its root" [ -z "$(ls -A "$W/root2")" ]

SOCK=$FIRST_SOCK
api GET /api/v1/health
check "the first daemon still says ok" status_is 200
check "and still has its 3 records" [ "$(jq -r '.records' <<<"$BODY")" = 3 ]

# The token CLI shares the database with the running daemon.
TOKEN=$("$IFACED_BIN" token create --role viewer --name cli --db "$DB" 2>"$W/cli.err") || TOKEN=
check "token create works next to the running daemon" grep -q '^ifd_[0-9a-f]\{12\}_' <<<"$TOKEN"
TID=$(cut -d_ -f2 <<<"$TOKEN")
check "token list shows it" grep -q "$TID" < <("$IFACED_BIN" token list --db "$DB" 2>&1)
check "token revoke works next to the running daemon" \
        "$IFACED_BIN" token revoke "$TID" --db "$DB"

daemon_stop
daemon_start third "$ROOT" "$DB" "$LOCK" || harness_fail "no daemon could take the database after the first stopped"
api GET /api/v1/ifaces
check "after the first stops, another daemon uses the database (its 3 records)" \
        [ "$(jq '[.items[] | select(.name | startswith("f"))] | length' <<<"$BODY")" = 3 ]
daemon_stop
fault_done
