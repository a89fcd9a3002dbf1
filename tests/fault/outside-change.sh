#!/bin/bash
# SPDX-License-Identifier: MIT
# fault.outside-change: a write must never revert a change made outside (iscsiadm, an admin)
# that the daemon has not imported yet. Under iscsiadm's lock the file is compared with the
# bytes last written; a difference is imported first (so a stale If-Match gets 412 and the
# audit "before" is what was on disk), or the write is refused with 409 when it cannot be.
#  - import mode, a change made and PATCHed at once (inside the watcher's settle window): the
#    PATCH with the old ETag gets 412, the outside bytes stay; a PATCH without If-Match applies on
#    top of them, and its audit "before" is exactly the outside bytes;
#  - an admin edit our parser refuses (a key of a newer open-iscsi): the next PATCH gets 409
#    naming the file, the edit survives byte for byte;
#  - report mode: every outside change makes writes to that record 409, the file stays;
#  - drift import of values the API refuses (ipaddress 999.1.1.1; both hwaddress and
#    net_ifacename): imported marked invalid (on the record and in health), and a PATCH that
#    fixes the value succeeds.
. "$(dirname "$(readlink -f "$0")")/lib.sh"
fault_enter "$@"

fault_dirs

etag() { header ETag; }

daemon_start imp "$ROOT" "$DB" "$LOCK" || harness_fail "no start"
seed 2
sleep 0.2
api GET /api/v1/ifaces/f1
OLD_ETAG=$(etag)
# The outside change and the PATCH together: no time for the watcher.
sed -i 's/^iface.net_ifacename = eth1$/iface.net_ifacename = outside1/' "$ROOT/ifaces/f1"
cp "$ROOT/ifaces/f1" "$W/outside-f1"
curl -s -o "$W/body" -w '%{http_code}' -X PATCH --unix-socket "$SOCK" \
        -H 'Content-Type: application/merge-patch+json' -H "If-Match: $OLD_ETAG" \
        --data-binary '{"mtu":9000}' http://localhost/api/v1/ifaces/f1 >"$W/status"
STATUS=$(cat "$W/status")
BODY=$(cat "$W/body")
check "PATCH with the ETag from before the outside change: 412" status_is 412
check "the outside change is still in the file" cmp -s "$ROOT/ifaces/f1" "$W/outside-f1"
api PATCH /api/v1/ifaces/f1 '{"mtu":9000}'
check "PATCH without If-Match: 200" status_is 200
check "and it applies on top of the outside change" \
        [ "$(jq -r '.net_ifacename + " " + (.mtu|tostring)' <<<"$BODY")" = "outside1 9000" ]
check "the file has both" grep -q 'net_ifacename = outside1' "$ROOT/ifaces/f1"
BEFORE=$(sqlite3 -batch "file:$DB?mode=ro" \
        "SELECT before FROM audit WHERE name = 'f1' AND origin = 'api' ORDER BY id DESC LIMIT 1")
check "the audit's before of that PATCH is exactly the outside bytes" \
        [ "$BEFORE" = "$(cat "$W/outside-f1")" ]
check "the outside change is audited as external" [ "$(sqlite3 -batch "file:$DB?mode=ro" \
        "SELECT count(*) FROM audit WHERE name = 'f1' AND origin = 'external'")" = 1 ]

# An admin edit the strict parser refuses.
printf 'iface.a_key_of_a_newer_open_iscsi = 1\n' >>"$ROOT/ifaces/f2"
cp "$ROOT/ifaces/f2" "$W/edit-f2"
api PATCH /api/v1/ifaces/f2 '{"mtu":1500}'
check "PATCH of a record whose file we cannot parse: 409 naming it" \
        is_problem 409 "ifaces/f2.*cannot be imported"
check "the admin's edit survives byte for byte" cmp -s "$ROOT/ifaces/f2" "$W/edit-f2"
api DELETE /api/v1/ifaces/f2
check "DELETE of it: 409 too" is_problem 409 "ifaces/f2"
check "the file is still there" cmp -s "$ROOT/ifaces/f2" "$W/edit-f2"

# Values the API refuses, imported from outside.
printf '# BEGIN RECORD 2.1.8\niface.iscsi_ifacename = bad1\niface.net_ifacename = eth9\niface.ipaddress = 999.1.1.1\niface.transport_name = tcp\n# END RECORD\n' \
        >"$ROOT/ifaces/bad1"
printf '# BEGIN RECORD 2.1.8\niface.iscsi_ifacename = bad2\niface.net_ifacename = eth9\niface.hwaddress = 00:11:22:33:44:55\niface.transport_name = tcp\n# END RECORD\n' \
        >"$ROOT/ifaces/bad2"
chmod 0600 "$ROOT/ifaces/bad1" "$ROOT/ifaces/bad2"
sleep 0.5
api GET /api/v1/ifaces/bad1
check "a record with ipaddress 999.1.1.1 is imported" status_is 200
check "marked invalid, naming the field" grep -q 'ipaddress' <<<"$(jq -r '.invalid // empty' <<<"$BODY")"
api GET /api/v1/health
check "health lists it as invalid" [ "$(jq -r '[.problems[] | select(.name == "bad1") | .kind] | join(",")' <<<"$BODY")" = invalid ]
api PATCH /api/v1/ifaces/bad1 '{"ipaddress":"10.0.0.9"}'
check "a PATCH that fixes the address succeeds" status_is 200
check "and the record is no longer invalid" [ "$(jq -r '.invalid // "none"' <<<"$BODY")" = none ]
api GET /api/v1/health
check "nor in health" [ "$(jq -r '[.problems[] | select(.name == "bad1")] | length' <<<"$BODY")" = 0 ]
api GET /api/v1/ifaces/bad2
check "a record with both hwaddress and net_ifacename is imported, marked invalid" \
        [ -n "$(jq -r '.invalid // empty' <<<"$BODY")" ]
api PATCH /api/v1/ifaces/bad2 '{"net_ifacename":null}'
check "a PATCH that drops one binding key succeeds" status_is 200
check "the file now binds by hwaddress only" \
        [ "$(grep -c 'net_ifacename\|hwaddress = 00:11:22:33:44:55' "$ROOT/ifaces/bad2")" = 1 ]
daemon_stop

# Report mode: every outside change blocks writes to that record until it is dealt with.
daemon_start rep "$ROOT" "$DB" "$LOCK" --drift report || harness_fail "no start"
api POST /api/v1/ifaces '{"name":"r1","net_ifacename":"eth1"}'
status_is 201 || harness_fail "cannot create r1"
sed -i 's/eth1/outside-r1/' "$ROOT/ifaces/r1"
cp "$ROOT/ifaces/r1" "$W/outside-r1"
sleep 0.3
api PATCH /api/v1/ifaces/r1 '{"mtu":1400}'
check "report mode: PATCH after an outside change is 409" is_problem 409 "ifaces/r1.*report"
check "report mode: the outside change is not overwritten" cmp -s "$ROOT/ifaces/r1" "$W/outside-r1"
api PUT /api/v1/ifaces/r1 '{"name":"r1","transport_name":"tcp","net_ifacename":"eth1"}'
check "report mode: PUT too" is_problem 409 "ifaces/r1"
check "report mode: still not overwritten" cmp -s "$ROOT/ifaces/r1" "$W/outside-r1"
daemon_stop
fault_done
