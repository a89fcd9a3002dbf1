#!/bin/sh
# SPDX-License-Identifier: MIT
# register-tokens.sh DB DIR: register the bearer tokens of DIR/<role>.token (role viewer,
# operator or admin; one token a file, as in secret-tokens.example.yaml) in the daemon's
# database DB, so that a Secret's tokens work on every host. The daemon keeps only SHA-256 of a
# token's secret (docs/security.md); this writes the same row and audit entry as
# `iscsi-ifaced token create`, with the id and secret taken from the file. A token is named
# k8s-secret:<role>; when the Secret's token of a role changes, the previous one is revoked.
# A token already registered is left alone; one whose id is known with another secret or role,
# or revoked, is refused (exit 1) rather than overwritten.
#
# Needs iscsi-ifaced, sqlite3, sha256sum and date (GNU). It writes the tokens table of schema
# v2 (engine/store.c) directly, because the token CLI cannot import a given token yet; run it
# only while no daemon writes the same database (an init container).
set -eu

die() {
        echo "register-tokens: $*" >&2
        exit 1
}

[ $# -eq 2 ] || die "usage: register-tokens.sh DB DIR"
db=$1
dir=$2
[ -d "$dir" ] || die "$dir: not a directory"

# Creates and migrates the database if need be (the daemon's own code), prints nothing we need.
iscsi-ifaced token list --db "$db" >/dev/null

n=0
for f in "$dir"/*.token; do
        [ -e "$f" ] || continue
        role=$(basename "$f" .token)
        case $role in
        viewer | operator | admin) ;;
        *) die "$f: the file name must be viewer.token, operator.token or admin.token" ;;
        esac
        token=$(cat "$f")
        printf '%s\n' "$token" | grep -Eqx 'ifd_[0-9a-f]{12}_[A-Za-z0-9_-]{43}' ||
                die "$f: not a token (ifd_<12 hex>_<43 base64url>, docs/security.md)"
        id=$(printf '%s' "$token" | cut -c5-16)
        secret=$(printf '%s' "$token" | cut -c18-)
        hash=$(printf '%s' "$secret" | sha256sum | cut -d' ' -f1)
        name="k8s-secret:$role"
        now=$(date +%s%6N)

        # Every value below is checked above: hex, a fixed role, a fixed name.
        known=$(sqlite3 "$db" "SELECT role || ' ' || hash || ' ' || ifnull(revoked_usec, '-')
                FROM tokens WHERE id = '$id'")
        if [ -n "$known" ]; then
                [ "$known" = "$role $hash -" ] ||
                        die "$f: token $id is in the database with another secret or role, or revoked"
                echo "register-tokens: $role token $id already registered"
        else
                sqlite3 "$db" <<SQL
.bail on
BEGIN IMMEDIATE;
INSERT INTO tokens (id, role, name, hash, created_usec) VALUES ('$id', '$role', '$name', '$hash', $now);
INSERT INTO audit (at_usec, name, action, origin, revision, actor, request_id, before, after, kind)
        VALUES ($now, 'token:$id', 'create', 'api', 0, 'k8s:register-tokens', NULL, NULL,
                'role=$role name=$name', 'token');
COMMIT;
SQL
                echo "register-tokens: $role token $id registered"
        fi
        # The Secret's previous token of this role, if it was rotated.
        for old in $(sqlite3 "$db" "SELECT id FROM tokens WHERE name = '$name' AND id != '$id'
                        AND revoked_usec IS NULL"); do
                sqlite3 "$db" <<SQL
.bail on
BEGIN IMMEDIATE;
UPDATE tokens SET revoked_usec = $now WHERE id = '$old';
INSERT INTO audit (at_usec, name, action, origin, revision, actor, request_id, before, after, kind)
        VALUES ($now, 'token:$old', 'revoke', 'api', 0, 'k8s:register-tokens', NULL, NULL, NULL,
                'token');
COMMIT;
SQL
                echo "register-tokens: $role token $old revoked (no longer in the Secret)"
        done
        n=$((n + 1))
done
[ "$n" -gt 0 ] || die "$dir: no <role>.token file"
