#!/bin/bash
# SPDX-License-Identifier: MIT
# fault.readonly: the iscsi root becomes read-only under the real daemon, and the daemon is
# started on a read-only root.
#  A. While running: the root is an ext4 image on a loop device (errors=remount-ro) that is made
#     read-only the way a disk error does it (a tmpfs cannot be remounted ro while the daemon
#     holds files open on it). A create, an update and a delete get a clear error status (409,
#     500 or 503; the one the daemon gives is printed) whose problem+json detail says read-only,
#     nothing changes in either mirror, GET still serves the old version, and the mirrors agree
#     once the daemon stopped. What GET /api/v1/health says is printed, not asserted.
#  B. At start: the daemon refuses a read-only root (a tmpfs remounted ro), exits non-zero and
#     names the path.
# Everything runs in a private mount namespace (tests/fault/lib.sh).
. "$(dirname "$(readlink -f "$0")")/lib.sh"
fault_enter "$@"

RO_RE='read-only'

# is_ro_error: a clear error status whose detail says read-only.
# shellcheck disable=SC2317 # called through check
is_ro_error() {
        case $STATUS in
        409 | 500 | 503) is_problem "$STATUS" "$RO_RE" ;;
        *)
                echo "    expected 409, 500 or 503, got $STATUS: $BODY"
                return 1
                ;;
        esac
}

# --- A: the root turns read-only while the daemon runs ------------------------------------------
mkdir -p "$W/state" "$W/lock"
DB=$W/state/ifaced.db
if mount_ext4 "$W/disk" 8M && can_force_ro "$W/disk"; then
        ROOT=$W/disk/iscsi
        daemon_start ro-running "$ROOT" "$DB" "$W/lock" || harness_fail "the daemon did not start"
        seed 2

        force_ro "$W/disk"
        snapshot "$ROOT" "$DB" "$W/a0"

        api POST /api/v1/ifaces '{"name":"new1","net_ifacename":"eth9"}'
        info "root read-only, create: $STATUS $BODY"
        check "root read-only: create answers $STATUS with a detail that says read-only" is_ro_error
        snapshot "$ROOT" "$DB" "$W/a1"
        check "root read-only: create changed neither mirror" same_snapshot "$W/a0" "$W/a1"
        info "root read-only: pending intents after the create: $(intents "$DB")"

        api PATCH /api/v1/ifaces/f1 '{"net_ifacename":"eth7"}'
        info "root read-only, update: $STATUS $BODY"
        check "root read-only: update answers $STATUS with a detail that says read-only" is_ro_error
        snapshot "$ROOT" "$DB" "$W/a2"
        check "root read-only: update changed neither mirror" same_snapshot "$W/a0" "$W/a2"
        info "root read-only: pending intents after the update: $(intents "$DB")"

        api DELETE /api/v1/ifaces/f2
        info "root read-only, delete: $STATUS $BODY"
        check "root read-only: delete answers $STATUS with a detail that says read-only" is_ro_error
        snapshot "$ROOT" "$DB" "$W/a3"
        check "root read-only: delete changed neither mirror" same_snapshot "$W/a0" "$W/a3"

        api GET /api/v1/ifaces/f1
        check "root read-only: GET still serves the old version" \
                test "$STATUS:$(jq -r .net_ifacename <<<"$BODY" 2>/dev/null)" = 200:eth1

        api GET /api/v1/health
        info "root read-only, health: $STATUS $BODY"
        # Not asserted: health probes the root with access(2), which an ext4 that went read-only
        # on an error (emergency_ro) does not fail; only a write finds out.
        info "root read-only: health says iscsi_root ok=$(jq -r .iscsi_root.ok <<<"$BODY" \
                2>/dev/null) ($(jq -r .iscsi_root.detail <<<"$BODY" 2>/dev/null))"
        daemon_stop
        check "root read-only: both mirrors agree after the daemon stopped" mirrors_agree "$ROOT" "$DB"
else
        echo "SKIP: part A (root read-only while running): no loop device, mkfs.ext4 or" \
                "/sys/fs/ext4/*/trigger_fs_error here"
fi

# --- B: the daemon is started on a read-only root -----------------------------------------------
mount_tmpfs "$W/rootfs" 1m
ROOT=$W/rootfs/iscsi
mkdir -p "$ROOT/ifaces"
remount "$W/rootfs" ro
daemon_must_fail ro-start "$ROOT" "$W/state/other.db" "$W/lock"
info "start on a read-only root: exit $START_RC: $(tr '\n' ' ' <<<"$START_LOG")"
check "read-only root at start: the daemon refuses to start (exit 1..127: no crash, no hang)" \
        refused_cleanly
check "read-only root at start: the message names the path and says read-only" \
        grep -Eqi -- "$ROOT.*$RO_RE|$RO_RE.*$ROOT" <<<"$START_LOG"

fault_done
