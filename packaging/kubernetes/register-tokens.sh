#!/bin/sh
# SPDX-License-Identifier: MIT
# register-tokens.sh DB DIR: register the bearer tokens of DIR/<role>.token (role viewer,
# operator or admin; one token a file, as in secret-tokens.example.yaml) in the daemon's
# database DB, so that a Secret's tokens work on every host. Each goes through
# `iscsi-ifaced token import`, which keeps only SHA-256 of its secret and audits it
# (docs/security.md). A token is named k8s-secret:<role>; --replace revokes the previous token of
# that name when the Secret's token of a role changes. A token already registered is left alone;
# one whose id is known with another secret or role, or revoked, is refused (exit 1) rather than
# overwritten; so are a placeholder and a file name that is not a role.
set -eu

die() {
        echo "register-tokens: $*" >&2
        exit 1
}

[ $# -eq 2 ] || die "usage: register-tokens.sh DB DIR"
db=$1
dir=$2
[ -d "$dir" ] || die "$dir: not a directory"

n=0
for f in "$dir"/*.token; do
        [ -e "$f" ] || continue
        role=$(basename "$f" .token)
        case $role in
        viewer | operator | admin) ;;
        *) die "$f: the file name must be viewer.token, operator.token or admin.token" ;;
        esac
        iscsi-ifaced token import --role "$role" --name "k8s-secret:$role" --replace \
                --file "$f" --db "$db" || die "$f: not registered"
        n=$((n + 1))
done
[ "$n" -gt 0 ] || die "$dir: no <role>.token file"
