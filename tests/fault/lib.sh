# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# shellcheck disable=SC2034 # DAEMON_RC, START_LOG, ... are read by the case scripts
# Shared helpers of the fault suite (tests/fault/*.sh): a private mount namespace per case, the
# real daemon on a unix socket, requests with curl, whole-state snapshots of both mirrors
# (every file under <root>/ifaces byte for byte, and the sqlite rows) and PASS/FAIL lines.
#
# A case script does:
#     . "$(dirname "$(readlink -f "$0")")/lib.sh"
#     fault_enter "$@"          # re-runs the script in a private mount namespace
#     ...                       # the case, with check/pass/fail
#     fault_done                # prints the summary; exit 1 if anything failed
#
# Cleanup runs whatever the outcome (EXIT trap): every daemon started is killed, every mount made
# is unmounted (and vanishes with the namespace anyway), and the temp dir is removed from outside
# the namespace, where none of those mounts is visible, so rm -rf never crosses into one.
#
# Environment: IFACED_BIN (the daemon, set by meson), FAULT_KEEP=1 keeps the temp dir,
# FAULT_HTTP_TIMEOUT (seconds, default 30) bounds each request.
# Exit: 0 all PASS, 1 a FAIL, 77 skip, 99 the harness itself broke.
set -euo pipefail
export LC_ALL=C
# shellcheck source=tests/contract/record.sh
. "$(dirname "${BASH_SOURCE[0]}")/../contract/record.sh"

FAULT_NAME=$(basename "$0" .sh)
PASSES=0
FAILS=0
DAEMON_PIDS=()
MOUNTS=()

skip() {
        echo "SKIP: $FAULT_NAME: $*"
        exit 77
}

harness_fail() {
        echo "harness error: $FAULT_NAME: $*" >&2
        exit 99
}

pass() {
        echo "PASS: $*"
        PASSES=$((PASSES + 1))
}

fail() {
        echo "FAIL: $*"
        FAILS=$((FAILS + 1))
}

# check DESCRIPTION CMD...: PASS if CMD succeeds, FAIL otherwise.
check() {
        local desc=$1
        shift

        if "$@"; then
                pass "$desc"
        else
                fail "$desc"
        fi
}

info() {
        echo "INFO: $*"
}

now_ms() {
        echo $(($(date +%s%N) / 1000000))
}

# --- the namespace ------------------------------------------------------------------------------

# fault_enter: outside the namespace, check the prerequisites, make the temp dir and run this
# script again inside `unshare -m --propagation private`; returns only inside it.
fault_enter() {
        local rc=0 tool

        if [ "${FAULT_INNER:-}" = 1 ]; then
                W=$FAULT_WORK
                trap fault_cleanup_inner EXIT
                # An empty sysfs: no HBA, so the daemon makes no offload record of the host's.
                mkdir -p "$W/sysfs/class"
                return 0
        fi

        [ "$EUID" = 0 ] || skip "needs root (tmpfs mounts in a private mount namespace)"
        for tool in unshare mount umount curl jq sqlite3 dd base64 timeout; do
                command -v "$tool" >/dev/null || skip "$tool is not installed"
        done
        unshare -m --propagation private true 2>/dev/null ||
                skip "cannot create a private mount namespace (unshare -m)"
        if [ -z "${IFACED_BIN:-}" ] || [ ! -x "$IFACED_BIN" ]; then
                harness_fail "IFACED_BIN is not the daemon executable (run through meson test)"
        fi

        FAULT_WORK=$(mktemp -d "${TMPDIR:-/tmp}/ifaced-fault-$FAULT_NAME.XXXXXX")
        # shellcheck disable=SC2317 # called by the EXIT trap
        fault_cleanup_outer() {
                local f

                set +e
                # Daemons live in the namespace; if the inner shell died hard, end them here.
                for f in "$FAULT_WORK"/*.pid; do
                        [ -s "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null
                done
                if [ "${FAULT_KEEP:-}" = 1 ]; then
                        echo "kept $FAULT_WORK"
                else
                        rm -rf "$FAULT_WORK"
                fi
        }
        trap fault_cleanup_outer EXIT
        trap 'exit 130' INT TERM HUP

        FAULT_INNER=1 FAULT_WORK="$FAULT_WORK" unshare -m --propagation private \
                bash "$0" "$@" || rc=$?
        exit "$rc"
}

# shellcheck disable=SC2317 # called by the EXIT trap
fault_cleanup_inner() {
        local rc=$? pid i f

        set +e
        for pid in "${DAEMON_PIDS[@]}"; do
                if kill -0 "$pid" 2>/dev/null; then
                        kill -KILL "$pid" 2>/dev/null || true
                        wait "$pid" 2>/dev/null || true
                fi
        done
        for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
                umount -l "${MOUNTS[$i]}" 2>/dev/null || true
        done
        if [ "$FAILS" -gt 0 ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; }; then
                for f in "$W"/*.log; do
                        [ -f "$f" ] || continue
                        echo "--- end of $(basename "$f")"
                        tail -n 30 "$f" | sed 's/^/    /'
                done
        fi
}

fault_done() {
        contract_verdict # every answer, against openapi.yaml
        echo "$FAULT_NAME: $PASSES passed, $FAILS failed"
        [ "$FAILS" -eq 0 ] || exit 1
        exit 0
}

# --- filesystems --------------------------------------------------------------------------------

# mount_tmpfs DIR SIZE: a fresh tmpfs of SIZE (e.g. 256k) on DIR (created), unmounted at exit.
mount_tmpfs() {
        mkdir -p "$1"
        mount -t tmpfs -o "size=$2,mode=0700" tmpfs "$1" || harness_fail "cannot mount a tmpfs on $1"
        MOUNTS+=("$1")
}

# fill_fs DIR: fill the filesystem holding DIR completely, with DIR/.filler.
fill_fs() {
        dd if=/dev/zero of="$1/.filler" bs=4k status=none 2>/dev/null || true
        # tmpfs counts whole pages; make sure not one byte is left.
        dd if=/dev/zero of="$1/.filler2" bs=1 status=none 2>/dev/null || true
        [ "$(df --output=avail "$1" | tail -n 1 | tr -d ' ')" = 0 ] ||
                harness_fail "could not fill the filesystem of $1"
}

unfill_fs() {
        rm -f "$1/.filler" "$1/.filler2"
}

# mount_ext4 DIR SIZE: a fresh ext4 image of SIZE on a loop device, mounted on DIR (created) with
# errors=remount-ro, unmounted (and so detached) at exit. Returns 1 when loop devices or
# mkfs.ext4 are not available here.
mount_ext4() {
        command -v mkfs.ext4 >/dev/null || return 1
        [ -e /dev/loop-control ] || return 1
        mkdir -p "$1"
        truncate -s "$2" "$1.img" || return 1
        mkfs.ext4 -q -F -O ^has_journal "$1.img" >/dev/null 2>&1 || return 1
        mount -o loop,errors=remount-ro "$1.img" "$1" 2>/dev/null || return 1
        MOUNTS+=("$1")
}

# ext4_trigger DIR: the sysfs file that raises an error on the ext4 mounted on DIR.
ext4_trigger() {
        echo "/sys/fs/ext4/$(basename "$(findmnt -no SOURCE "$1")")/trigger_fs_error"
}

# can_force_ro DIR: whether force_ro can work on DIR here.
can_force_ro() {
        [ -w "$(ext4_trigger "$1")" ]
}

# force_ro DIR: make the ext4 mounted on DIR read-only the way a disk error does
# (errors=remount-ro), which works even while files on it are open for writing. Permanent until
# it is unmounted.
force_ro() {
        echo "iscsi-ifaced fault test" >"$(ext4_trigger "$1")" ||
                harness_fail "cannot raise an ext4 error on $1"
        touch "$1/.probe" 2>/dev/null && harness_fail "$1 is still writable after an fs error"
        return 0
}

# remount DIR OPTIONS: remount (for a tmpfs nobody has a file open for writing on).
remount() {
        mount -o "remount,$2" "$1" || harness_fail "cannot remount $1 $2"
}

# fault_dirs: the usual layout of a case: ROOT (the iscsi root, made by the daemon), DB (in
# $W/state) and LOCK (iscsiadm's lock dir); makes the directories that must exist.
fault_dirs() {
        mkdir -p "$W/state" "$W/lock"
        ROOT=$W/root
        DB=$W/state/ifaced.db
        LOCK=$W/lock
}

# --- the daemon ---------------------------------------------------------------------------------

# daemon_start NAME ROOT DB LOCKDIR [ARGS...]: start the daemon on unix:$W/NAME.sock with its
# output in $W/NAME.log and wait until /api/v1/health answers. Sets DAEMON (pid) and SOCK.
# Returns 1 (with DAEMON_RC set) if it exits instead.
daemon_start() {
        local name=$1 root=$2 db=$3 lock=$4 t0
        shift 4

        SOCK=$W/$name.sock
        DAEMON_RC=
        "$IFACED_BIN" --listen "unix:$SOCK" --iscsi-root "$root" --db "$db" --lock-dir "$lock" \
                --sysfs-root "$W/sysfs" --log-level debug "$@" >"$W/$name.log" 2>&1 &
        DAEMON=$!
        DAEMON_PIDS+=("$DAEMON")
        echo "$DAEMON" >"$W/$name.pid"
        t0=$(now_ms)
        while [ $(($(now_ms) - t0)) -lt 15000 ]; do
                if ! kill -0 "$DAEMON" 2>/dev/null; then
                        DAEMON_RC=0
                        wait "$DAEMON" || DAEMON_RC=$?
                        rm -f "$W/$name.pid"
                        return 1
                fi
                if [ -S "$SOCK" ] &&
                        curl -s -o /dev/null --max-time 2 --unix-socket "$SOCK" \
                                http://localhost/api/v1/health 2>/dev/null; then
                        return 0
                fi
                sleep 0.05
        done
        harness_fail "the daemon $name did not answer within 15 s"
}

# daemon_stop: SIGTERM the current daemon and wait for it (SIGKILL after 10 s).
daemon_stop() {
        local i

        [ -n "${DAEMON:-}" ] || return 0
        kill -TERM "$DAEMON" 2>/dev/null || true
        for i in $(seq 200); do
                kill -0 "$DAEMON" 2>/dev/null || break
                sleep 0.05
        done
        if kill -0 "$DAEMON" 2>/dev/null; then
                info "daemon $DAEMON ignored SIGTERM for 10 s; killing it"
                kill -KILL "$DAEMON" 2>/dev/null || true
        fi
        wait "$DAEMON" 2>/dev/null || true
        rm -f "$W"/*.pid
        DAEMON=
}

# daemon_must_fail NAME ROOT DB LOCKDIR [ARGS...]: run the daemon expecting it to refuse to start.
# Sets START_RC (124 if it was still running after 10 s) and START_LOG (its output).
daemon_must_fail() {
        local name=$1 root=$2 db=$3 lock=$4
        shift 4

        START_RC=0
        timeout -s KILL 10 "$IFACED_BIN" --listen "unix:$W/$name.sock" --iscsi-root "$root" \
                --db "$db" --lock-dir "$lock" --sysfs-root "$W/sysfs" "$@" \
                >"$W/$name.log" 2>&1 </dev/null || START_RC=$?
        START_LOG=$(cat "$W/$name.log")
}

# refused_cleanly: the last daemon_must_fail ended with an exit code from 1 to 127 of its own:
# not 0, not killed by a signal (a crash: 128+N), not still running after 10 s (124).
refused_cleanly() {
        if [ "$START_RC" = 0 ]; then
                echo "    the daemon exited 0"
                return 1
        elif [ "$START_RC" = 124 ] || [ "$START_RC" = 137 ]; then
                echo "    the daemon was still running after 10 s"
                return 1
        elif [ "$START_RC" -gt 128 ]; then
                echo "    the daemon died of signal $((START_RC - 128)) ($(kill -l $((START_RC - 128))))"
                return 1
        fi
        return 0
}

# daemon_has_option --OPTION: whether the daemon's --help lists it.
daemon_has_option() {
        # Not `--help | grep -q`: grep leaving early can cut the help's second write short, and
        # with pipefail the pipeline then fails although the option is there.
        local help
        help=$("$IFACED_BIN" --help 2>/dev/null) || return 1
        grep -q -- "$1\b" <<<"$help"
}

# --- requests -----------------------------------------------------------------------------------

# api METHOD PATH [BODY]: one request to the daemon on $SOCK; the body is JSON, or a JSON merge
# patch for PATCH. Sets STATUS, BODY and leaves the headers in $W/headers.
api() {
        local method=$1 path=$2
        local args=(-s -o "$W/body" -D "$W/headers" -w '%{http_code}' -X "$method" -H 'Expect:'
                --max-time "${FAULT_HTTP_TIMEOUT:-30}" --unix-socket "$SOCK")

        rm -f "$W/body" "$W/headers"
        : >"$W/headers"

        if [ $# -ge 3 ] && [ "$method" = PATCH ]; then
                args+=(-H 'Content-Type: application/merge-patch+json' --data-binary "$3")
        elif [ $# -ge 3 ]; then
                args+=(-H 'Content-Type: application/json' --data-binary "$3")
        fi
        STATUS=$(curl "${args[@]}" "http://localhost$path" 2>"$W/curl.err") || STATUS=000
        BODY=$(cat "$W/body" 2>/dev/null || true)
        contract_record "$method" "$path" "$STATUS" "$W/headers" "$W/body" "fault/lib.sh api" ||
                harness_fail "cannot record $method $path for the contract check"
}

# header NAME: the value of a header of the last response ("" when absent).
header() {
        tr -d '\r' <"$W/headers" | awk -v n="$(echo "$1" | tr '[:upper:]' '[:lower:]')" '
                { k = tolower($0); sub(/:.*/, "", k) }
                k == n { sub(/^[^:]*:[ \t]*/, ""); print; exit }'
}

# is_problem STATUS REGEX: the last response is an RFC 9457 problem with that status, whose detail
# matches the extended REGEX case-insensitively. Explains a mismatch on stdout.
is_problem() {
        local want=$1 re=$2 ctype detail st

        if [ "$STATUS" != "$want" ]; then
                echo "    expected status $want, got $STATUS: $BODY"
                return 1
        fi
        ctype=$(header Content-Type)
        case $ctype in
        application/problem+json*) ;;
        *)
                echo "    Content-Type is '$ctype', not application/problem+json"
                return 1
                ;;
        esac
        st=$(jq -r '.status // empty' <<<"$BODY" 2>/dev/null || true)
        detail=$(jq -r '.detail // empty' <<<"$BODY" 2>/dev/null || true)
        if [ "$st" != "$want" ]; then
                echo "    body status is '$st', not $want: $BODY"
                return 1
        fi
        if ! grep -Eqi -- "$re" <<<"$detail"; then
                echo "    detail '$detail' does not match /$re/ (body: $BODY)"
                return 1
        fi
        return 0
}

# status_is CODE: the last response had that status (explains a mismatch).
status_is() {
        if [ "$STATUS" = "$1" ]; then
                return 0
        fi
        echo "    expected status $1, got $STATUS: $BODY"
        return 1
}

# seed N: create records f1..fN through the API (harness error if one is refused).
seed() {
        local i

        for i in $(seq "$1"); do
                api POST /api/v1/ifaces "{\"name\":\"f$i\",\"net_ifacename\":\"eth$i\"}"
                [ "$STATUS" = 201 ] || harness_fail "seeding f$i: $STATUS $BODY"
        done
}

# --- snapshots ----------------------------------------------------------------------------------

# snap_files ROOT: every entry of ROOT/ifaces in name order: name, type, mode, size and the
# bytes (base64), one line each. A snapshot of the file mirror.
snap_files() {
        local f

        [ -d "$1/ifaces" ] || {
                echo "no ifaces/ directory"
                return 0
        }
        while IFS= read -r -d '' f; do
                printf '%s %s ' "$(basename "$f")" "$(stat -c '%F %a %s' "$f")"
                if [ -f "$f" ]; then
                        base64 -w 0 "$f"
                fi
                echo
        done < <(find "$1/ifaces" -mindepth 1 -maxdepth 1 -print0 | sort -z)
}

# snap_db DB: the rows of the sqlite mirror and the audit count (read-only).
snap_db() {
        sqlite3 -batch "file:$1?mode=ro" \
                "SELECT name, revision, origin, created_usec, updated_usec, hex(content)
                   FROM ifaces ORDER BY name;
                 SELECT 'audit', count(*), coalesce(max(id), 0) FROM audit;" 2>&1
}

# intents DB: the number of pending intents (the write protocol's journal).
intents() {
        sqlite3 -batch "file:$1?mode=ro" "SELECT count(*) FROM intents" 2>&1
}

# snapshot ROOT DB OUT: both mirrors into OUT.files and OUT.db.
snapshot() {
        snap_files "$1" >"$3.files"
        snap_db "$2" >"$3.db"
}

# same_snapshot A B: the two snapshots are identical (the differences are printed).
same_snapshot() {
        local ok=0

        if ! cmp -s "$1.files" "$2.files"; then
                echo "    ifaces/ changed:"
                diff -u "$1.files" "$2.files" | cut -c 1-160 | head -n 20 | sed 's/^/      /'
                ok=1
        fi
        if ! cmp -s "$1.db" "$2.db"; then
                echo "    sqlite rows changed:"
                diff -u "$1.db" "$2.db" | cut -c 1-160 | head -n 20 | sed 's/^/      /'
                ok=1
        fi
        return "$ok"
}

# mirrors_agree ROOT DB: every file under ifaces/ has a row with the same bytes and every row a
# file (the differences are printed).
mirrors_agree() {
        local root=$1 db=$2 name hex f ok=0

        while IFS='|' read -r name hex; do
                if [ ! -f "$root/ifaces/$name" ]; then
                        echo "    row '$name' has no file"
                        ok=1
                elif [ "$(od -An -v -tx1 "$root/ifaces/$name" | tr -d ' \n' |
                        tr '[:lower:]' '[:upper:]')" != "$hex" ]; then
                        echo "    ifaces/$name differs from its row"
                        ok=1
                fi
        done < <(sqlite3 -batch "file:$db?mode=ro" "SELECT name, hex(content) FROM ifaces")
        for f in "$root"/ifaces/* "$root"/ifaces/.[!.]*; do
                [ -e "$f" ] || continue
                name=$(basename "$f")
                if [ "$(sqlite3 -batch "file:$db?mode=ro" \
                        "SELECT count(*) FROM ifaces WHERE name = '$name'")" != 1 ]; then
                        echo "    ifaces/$name has no row"
                        ok=1
                fi
        done
        return "$ok"
}

# no_temp_files ROOT: nothing left in ROOT/.iscsi-ifaced but the instance lock, the revision
# reserve, the start-up prints of a clean stop and the running daemon's spare temp files (empty,
# made ahead of writes).
no_temp_files() {
        local left

        left=$(find "$1/.iscsi-ifaced" -mindepth 1 ! -name instance.lock ! -name revision-reserve \
                ! -name start-prints ! \( -type f -name '*.tmp' -empty \) 2>/dev/null)
        if [ -n "$left" ]; then
                echo "    left behind: $left"
                return 1
        fi
}
