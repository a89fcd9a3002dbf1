#!/bin/bash
# SPDX-License-Identifier: MIT
# fault.ifaces-replaced: <root>/ifaces moved away, removed or replaced under the running daemon.
# It used to write on into the old directory through its kept fd (health ok), or take every file
# of a removed directory for a deletion and drop all the rows.
#  - mv ifaces away: health failing (503) naming it, a write 503 with a clear detail, nothing
#    written into the moved directory, sqlite keeps every row;
#  - mv it back: within 2 s health ok and writes work again, nothing lost;
#  - rm -rf ifaces: failing and 503 again, sqlite keeps every row (no N deletions);
#  - mkdir ifaces: the new directory is taken over, the records are kept and shown as missing
#    (health degraded), a write works and lands in the new directory;
#  - POST /api/v1/admin/restore-files writes the missing files back from sqlite, byte for byte,
#    and leaves alone a name where something else stands; health is ok again;
#  - a restart finds everything in place.
. "$(dirname "$(readlink -f "$0")")/lib.sh"
fault_enter "$@"

fault_dirs

rows() { sqlite3 -batch "file:$DB?mode=ro" "SELECT count(*) FROM ifaces"; }
# wait_health STATUS: health says STATUS within 3 s.
wait_health() {
        local t0
        t0=$(now_ms)
        while [ $(($(now_ms) - t0)) -lt 3000 ]; do
                api GET /api/v1/health
                [ "$(jq -r .status <<<"$BODY" 2>/dev/null)" = "$1" ] && return 0
                sleep 0.1
        done
        echo "    health is $(jq -r .status <<<"$BODY" 2>/dev/null) ($STATUS), not $1: $BODY"
        return 1
}

daemon_start repl "$ROOT" "$DB" "$LOCK" || harness_fail "no start"
seed 3
wait_health ok || harness_fail "not ok at start"

# 1. Moved away.
mv "$ROOT/ifaces" "$ROOT/ifaces.bak"
check "ifaces/ moved away: health failing" wait_health failing
check "health answers 503 then" status_is 503
check "and its iscsi_root detail says what happened" \
        grep -q "ifaces' was removed" <<<"$(jq -r .iscsi_root.detail <<<"$BODY")"
api POST /api/v1/ifaces '{"name":"n1","transport_name":"tcp"}'
check "a write is 503 with a clear detail" is_problem 503 "ifaces.*(removed|moved|replaced).*nothing was changed"
check "nothing was written into the moved directory" [ ! -e "$ROOT/ifaces.bak/n1" ]
check "sqlite keeps its 3 rows" [ "$(rows)" = 3 ]

# 2. Moved back.
mv "$ROOT/ifaces.bak" "$ROOT/ifaces"
check "moved back: health ok again" wait_health ok
api POST /api/v1/ifaces '{"name":"n1","transport_name":"tcp"}'
check "writes work again" status_is 201
check "into the directory iscsiadm reads" [ -f "$ROOT/ifaces/n1" ]

# 3. Removed.
sleep 0.2
rm -rf "$ROOT/ifaces"
check "removed: health failing" wait_health failing
api PATCH /api/v1/ifaces/f1 '{"mtu":9000}'
check "a write is 503" is_problem 503 "ifaces"
sleep 1.5
check "sqlite keeps all 4 rows: no deletion for each vanished file" [ "$(rows)" = 4 ]
api GET /api/v1/ifaces/f2
check "records are still served" status_is 200

# 4. A new, empty directory.
mkdir -m 0700 "$ROOT/ifaces"
check "a new ifaces/: taken over, health degraded" wait_health degraded
check "the records without a file are listed as missing" \
        [ "$(jq '[.problems[] | select(.kind == "missing")] | length' <<<"$BODY")" = 4 ]
check "sqlite still has 4 rows" [ "$(rows)" = 4 ]
api PATCH /api/v1/ifaces/f1 '{"mtu":9000}'
check "a write to a missing record works" status_is 200
check "and lands in the new directory" grep -q 'iface.mtu = 9000' "$ROOT/ifaces/f1"
api POST /api/v1/ifaces '{"name":"n2","transport_name":"tcp"}'
check "a create works" status_is 201
# Something the admin put at one of the names is never replaced.
echo "keep me" >"$ROOT/ifaces/f3"
sleep 0.3

# 5. Restore the rest from sqlite.
api POST /api/v1/admin/restore-files
check "restore-files: 200" status_is 200
check "it wrote the 2 files still missing (f2, n1)" [ "$(jq -r .restored <<<"$BODY")" = 2 ]
check "f3 (someone else's file) is left alone" [ "$(cat "$ROOT/ifaces/f3")" = "keep me" ]
# shellcheck disable=SC2317 # called through check
same_as_row() {
        [ "$(od -An -v -tx1 "$ROOT/ifaces/$1" | tr -d ' \n' | tr '[:lower:]' '[:upper:]')" = \
                "$(sqlite3 -batch "file:$DB?mode=ro" "SELECT hex(content) FROM ifaces WHERE name = '$1'")" ]
}
check "f2 is written back byte for byte" same_as_row f2
check "n1 is written back byte for byte" same_as_row n1
check "mode 0600" [ "$(stat -c %a "$ROOT/ifaces/f2")" = 600 ]
rm -f "$ROOT/ifaces/f3"
sleep 0.3 # the watcher sees the removal: f3 stays a record without a file, not a deletion
api POST /api/v1/admin/restore-files
check "a second restore writes f3 once the stranger is gone" [ "$(jq -r .restored <<<"$BODY")" = 1 ]
check "health ok" wait_health ok
check "both mirrors agree" mirrors_agree "$ROOT" "$DB"

daemon_stop
daemon_start repl2 "$ROOT" "$DB" "$LOCK" || harness_fail "no restart"
check "after a restart: ok" wait_health ok
check "5 records" [ "$(jq -r .records <<<"$BODY")" = 5 ]
daemon_stop

# 6. ifaces/ gone while the daemon was down: created empty at start, the records are kept.
rm -rf "$ROOT/ifaces"
daemon_start repl3 "$ROOT" "$DB" "$LOCK" || harness_fail "no start without ifaces/"
check "started without ifaces/: the records are kept" [ "$(rows)" = 5 ]
check "and shown as missing" wait_health degraded
api POST /api/v1/admin/restore-files
check "restore-files brings all 5 back" [ "$(jq -r .restored <<<"$BODY")" = 5 ]
check "both mirrors agree again" mirrors_agree "$ROOT" "$DB"
daemon_stop
fault_done
