#!/bin/bash
# SPDX-License-Identifier: MIT
# fault.corrupt-db: the real daemon is started on a corrupt sqlite db that held records.
#  A. The header is overwritten.
#  B. The header is intact but the root page of the ifaces table is overwritten with junk.
# Each time the daemon must refuse to start (exit non-zero, not hang), with a message that names
# the db path and says what to do (restore it from a backup, or move it away: the records are
# re-imported from <root>/ifaces), and it must leave the corrupt file and ifaces/ as they were.
#  D. Junk in the audit trail (checked after the start, whose check covers the state tables
#     only): the daemon serves every record, and health and the log soon say the db is damaged
#     and what to do.
#  C. Doing what the message says (moving the db away) works: the daemon starts and serves every
#     record again, re-imported from ifaces/, with both mirrors agreeing.
# Everything runs in a private mount namespace (tests/fault/lib.sh).
. "$(dirname "$(readlink -f "$0")")/lib.sh"
fault_enter "$@"

# What an instruction looks like: a verb that tells the admin what to do with the file.
DO_RE='restore|backup|move|remove|rename|delete|re-?import'

mkdir -p "$W/state" "$W/lock"
ROOT=$W/root
DB=$W/state/ifaced.db
daemon_start seed "$ROOT" "$DB" "$W/lock" || harness_fail "the daemon did not start"
seed 5
daemon_stop
# A clean stop checkpoints the WAL; make sure every row is in the main file.
sqlite3 -batch "$DB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null ||
        harness_fail "cannot checkpoint $DB"
rm -f "$DB-wal" "$DB-shm"
cp "$DB" "$W/good.db"
snap_files "$ROOT" >"$W/files0"
ROOTPAGE=$(sqlite3 -batch "file:$DB?mode=ro" \
        "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'ifaces'")
PAGESIZE=$(sqlite3 -batch "file:$DB?mode=ro" 'PRAGMA page_size')
if [ -z "$ROOTPAGE" ] || [ "$ROOTPAGE" -le 1 ]; then
        harness_fail "no root page for the ifaces table"
fi

# refuses SLUG LABEL: the daemon must refuse to start on $DB, saying where and what to do, and touch
# neither the db nor ifaces/.
refuses() {
        local slug=$1 label=$2 before

        before=$(sha256sum <"$DB")
        daemon_must_fail "start-$slug" "$ROOT" "$DB" "$W/lock"
        info "$label: exit $START_RC: $(tr '\n' ' ' <<<"$START_LOG")"
        check "$label: the daemon refuses to start (exit 1..127: no crash, no hang)" \
                refused_cleanly
        check "$label: the message names the db path" grep -qF -- "$DB" <<<"$START_LOG"
        check "$label: the message says what to do (restore / move away / re-import)" \
                grep -Eqi -- "$DO_RE" <<<"$START_LOG"
        check "$label: the corrupt db file is left as it was" \
                test "$(sha256sum <"$DB")" = "$before"
        snap_files "$ROOT" >"$W/files1"
        check "$label: ifaces/ is left as it was" cmp -s "$W/files0" "$W/files1"
}

# --- A: the header is overwritten ---------------------------------------------------------------
printf 'this is not an sqlite header, it is junk written over it....' |
        dd of="$DB" bs=1 seek=0 conv=notrunc status=none
refuses header "header overwritten"

# --- B: junk in the middle (the ifaces table's root page) ---------------------------------------
cp "$W/good.db" "$DB"
head -c "$PAGESIZE" < <(yes 'corrupt page ') |
        dd of="$DB" bs="$PAGESIZE" seek=$((ROOTPAGE - 1)) conv=notrunc status=none
refuses root-page "ifaces root page overwritten"

# --- D: junk in the audit trail: found by the check that runs while the daemon serves -----------
cp "$W/good.db" "$DB"
AUDITPAGE=$(sqlite3 -batch "file:$DB?mode=ro" \
        "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'audit'")
[ -n "$AUDITPAGE" ] && [ "$AUDITPAGE" -gt 1 ] || harness_fail "no root page for the audit table"
head -c "$PAGESIZE" < <(yes 'corrupt page ') |
        dd of="$DB" bs="$PAGESIZE" seek=$((AUDITPAGE - 1)) conv=notrunc status=none
if daemon_start audit-junk "$ROOT" "$DB" "$W/lock"; then
        api GET '/api/v1/ifaces?limit=1000'
        check "audit page overwritten: the daemon starts and serves f1..f5" \
                test "$(jq -r '[.items[].name] | join(" ")' <<<"$BODY" 2>/dev/null)" = \
                "f1 f2 f3 f4 f5 default iser"
        damaged=
        for _ in $(seq 100); do
                api GET /api/v1/health
                if [ "$(jq -r '.db.ok' <<<"$BODY" 2>/dev/null)" = false ]; then
                        damaged=$BODY
                        break
                fi
                sleep 0.1
        done
        info "audit page overwritten: health: $(jq -c '.db' <<<"$damaged" 2>/dev/null)"
        check "audit page overwritten: health soon says the db is not ok, and the daemon failing" \
                test "$(jq -r '.status' <<<"$damaged" 2>/dev/null)" = failing
        check "audit page overwritten: health's detail names the db and says what to do" \
                bash -c 'grep -qF -- "$1" <<<"$2" && grep -Eqi -- "$3" <<<"$2"' _ "$DB" \
                "$(jq -r '.db.detail' <<<"$damaged" 2>/dev/null)" "$DO_RE"
        check "audit page overwritten: the log says the db is damaged, where and what to do" \
                bash -c 'grep -i damaged "$1" | grep -F -- "$2" | grep -Eqi -- "$3"' _ \
                "$W/audit-junk.log" "$DB" "$DO_RE"
        daemon_stop
else
        fail "audit page overwritten: the daemon does not start (exit $DAEMON_RC): $(cat "$W/audit-junk.log")"
fi

# --- C: follow the advice: move the db away, the records come back from ifaces/ ----------------
mv "$DB" "$DB.corrupt"
if daemon_start moved-away "$ROOT" "$DB" "$W/lock"; then
        api GET '/api/v1/ifaces?limit=1000'
        check "db moved away: the daemon starts and serves f1..f5 again, from ifaces/" \
                test "$(jq -r '[.items[].name] | join(" ")' <<<"$BODY" 2>/dev/null)" = \
                "f1 f2 f3 f4 f5 default iser"
        check "db moved away: both mirrors agree" mirrors_agree "$ROOT" "$DB"
        daemon_stop
else
        fail "db moved away: the daemon does not start (exit $DAEMON_RC)"
fi

fault_done
