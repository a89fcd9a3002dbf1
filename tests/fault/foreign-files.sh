#!/bin/bash
# SPDX-License-Identifier: MIT
# fault.foreign-files: a POST for a name whose ifaces/<name> exists but was never written by the
# daemon (it is not in the index). It used to rename over it and answer 201 with an empty audit
# "before"; for a directory it left an intent that recovery could not finish, and the next start
# failed without naming the file.
#  - for a symlink (to a file outside), a FIFO, a 2 MiB file, a file that fails the strict parse,
#    a valid record that --drift report left unimported, and a directory: 409, a detail naming
#    'ifaces/<name>' and why, nothing changed on disk (the link's target included) or in sqlite,
#    and no intent written;
#  - the daemon then restarts cleanly over all of them;
#  - an intent left (by an older daemon) for a name where a directory, FIFO or symlink stands does
#    not stop the start: the daemon starts, drops it and names the path in its log.
. "$(dirname "$(readlink -f "$0")")/lib.sh"
fault_enter "$@"

fault_dirs
daemon_start foreign "$ROOT" "$DB" "$LOCK" --drift report || harness_fail "no start"
seed 1
# A valid record that nobody imported: report mode leaves it alone (health says drift).
sed 's/f1/rep1/' "$ROOT/ifaces/f1" >"$ROOT/ifaces/rep1"
chmod 0600 "$ROOT/ifaces/rep1"
printf '# BEGIN RECORD 2.1.8\niface.iscsi_ifacename = target\niface.transport_name = tcp\n# END RECORD\n' \
        >"$W/outside-target"
cp "$W/outside-target" "$W/outside-target.orig"
ln -s "$W/outside-target" "$ROOT/ifaces/lnk1"
mkfifo "$ROOT/ifaces/fifo1"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'x' >"$ROOT/ifaces/huge1"
printf 'this is not\nan iface record\n' >"$ROOT/ifaces/junk1"
mkdir "$ROOT/ifaces/dir1"
sleep 0.3 # the watcher reports them (report mode)

# name:regex of the detail
CASES=(
        "lnk1:ifaces/lnk1.*symbolic link"
        "fifo1:ifaces/fifo1.*(FIFO|not a regular file)"
        "huge1:ifaces/huge1.*larger than 1 MiB"
        "junk1:ifaces/junk1.*cannot be imported"
        "rep1:ifaces/rep1.*report"
        "dir1:ifaces/dir1.*directory"
)
for c in "${CASES[@]}"; do
        name=${c%%:*}
        re=${c#*:}
        snapshot "$ROOT" "$DB" "$W/before"
        api POST /api/v1/ifaces "{\"name\":\"$name\",\"transport_name\":\"tcp\"}"
        check "POST over $name: 409 naming the file and why" is_problem 409 "$re"
        snapshot "$ROOT" "$DB" "$W/after"
        check "POST over $name: ifaces/ and sqlite unchanged" same_snapshot "$W/before" "$W/after"
        check "POST over $name: no intent left" [ "$(intents "$DB")" = 0 ]
done
check "the symlink's target outside the root is unchanged" cmp -s "$W/outside-target" "$W/outside-target.orig"
check "the symlink is still a symlink" [ -L "$ROOT/ifaces/lnk1" ]
api GET "/api/v1/audit?name=lnk1"
check "no audit entry for the refused names" [ "$(sqlite3 -batch "file:$DB?mode=ro" \
        "SELECT count(*) FROM audit WHERE name IN ('lnk1','fifo1','huge1','junk1','rep1','dir1')")" = 0 ]

daemon_stop
daemon_start foreign2 "$ROOT" "$DB" "$LOCK" --drift report
check "the daemon restarts over all of them" [ -n "$DAEMON" ]
api GET /api/v1/health
check "health lists them as problems (degraded)" [ "$(jq -r '.status' <<<"$BODY")" = degraded ]
daemon_stop

# Intents an older daemon left for names where something foreign now stands.
for name in dir1 fifo1 lnk1; do
        sqlite3 -batch "$DB" "INSERT INTO intents (name, content, revision, origin, created_usec)
                VALUES ('$name', '# BEGIN RECORD 2.1.8
iface.iscsi_ifacename = $name
iface.transport_name = tcp
# END RECORD
', 999999, 'api', 1)" || harness_fail "cannot plant an intent"
done
if daemon_start foreign3 "$ROOT" "$DB" "$LOCK"; then
        pass "the daemon starts over intents whose path is a directory, a FIFO, a symlink"
else
        fail "the daemon refused to start over the planted intents (rc $DAEMON_RC)"
fi
check "its log names the directory and what to do" \
        grep -q "ifaces/dir1' is a directory, which iscsi-ifaced did not write.*move it away" "$W/foreign3.log"
check "and the FIFO and the symlink" \
        grep -q "ifaces/fifo1' is not a regular file" "$W/foreign3.log"
check "the intents are dropped" [ "$(intents "$DB")" = 0 ]
check "the directory is left alone" [ -d "$ROOT/ifaces/dir1" ]
check "the FIFO is left alone" [ -p "$ROOT/ifaces/fifo1" ]
daemon_stop
fault_done
