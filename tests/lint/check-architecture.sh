#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Lint: docs/architecture.md stays true about threads. Every function that the daemon starts as a
# thread (the third argument of a pthread_create() in common/, engine/, api/ or server/) must be
# named in it, and so must MHD's pool when server/ starts one.
# usage: check-architecture.sh [SOURCE_ROOT]
set -euo pipefail

root=${1:-$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../..}
doc=$root/docs/architecture.md
[ -f "$doc" ] || {
        echo "check-architecture: $doc is missing"
        exit 1
}

missing=0
n=0
# pthread_create(&t, attr, FN, arg): the function may sit on the next line.
while read -r fn; do
        n=$((n + 1))
        if ! grep -q "\`$fn\`" "$doc"; then
                echo "check-architecture: thread function '$fn' is not named in docs/architecture.md"
                missing=$((missing + 1))
        fi
done < <(cat "$root"/common/*.c "$root"/engine/*.c "$root"/api/*.c "$root"/server/*.c |
        tr '\n' ' ' | grep -o 'pthread_create([^;]*;' |
        sed -E 's/pthread_create\(([^,]*),([^,]*),[[:space:]]*([A-Za-z_][A-Za-z0-9_]*).*/\3/' | sort -u)

if grep -q MHD_USE_INTERNAL_POLLING_THREAD "$root"/server/*.c &&
        ! grep -q 'MHD_USE_INTERNAL_POLLING_THREAD' "$doc"; then
        echo "check-architecture: server/ starts MHD's threads; docs/architecture.md does not say so"
        missing=$((missing + 1))
fi

if [ "$n" -eq 0 ]; then
        echo "check-architecture: found no pthread_create() at all: wrong source root?"
        exit 1
fi
if [ "$missing" -gt 0 ]; then
        exit 1
fi
echo "check-architecture: $n thread functions, all in docs/architecture.md"
