#!/bin/bash
# SPDX-License-Identifier: MIT
# Installs tests/contract/node_modules from package-lock.json (npm ci) unless it is already what the
# lock file says: a stamp (node_modules/.ifd-lock.sha256, the lock's sha256) is written after a
# successful npm ci. The packages (package.json): ajv and ajv-formats check bodies and headers
# against the schemas, yaml reads openapi.yaml, @redocly/cli lints it.
# usage: tests/contract/npm-ci.sh     (./dev.sh deps calls it)
# Exit 0 installed or up to date; 1 npm ci failed; 2 node or npm missing.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
STAMP=node_modules/.ifd-lock.sha256

want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] &&
        [ -f node_modules/ajv/package.json ] && [ -f node_modules/yaml/package.json ] &&
        [ -x node_modules/.bin/redocly ]; then
        exit 0
fi
for t in node npm; do
        if ! command -v "$t" >/dev/null 2>&1; then
                echo "tests/contract/npm-ci.sh: $t is missing" >&2
                exit 2
        fi
done
echo "tests/contract/npm-ci.sh: npm ci in $PWD" >&2
if ! npm ci --no-audit --no-fund --loglevel=error >&2; then
        echo "tests/contract/npm-ci.sh: npm ci failed" >&2
        exit 1
fi
printf '%s\n' "$want" >"$STAMP"
