#!/bin/bash
# SPDX-License-Identifier: MIT
# Installs tests/ui/node_modules from package-lock.json (npm ci) unless it is already what the
# lock file says: a stamp (node_modules/.ifd-lock.sha256, the lock's sha256) is written after a
# successful npm ci. No browser is downloaded: playwright-core has no install step, the tests
# drive Debian's /usr/bin/chromium.
# usage: tests/ui/npm-ci.sh     (./dev.sh deps and tests/ui/run.sh call it)
# Exit 0 installed or up to date; 1 npm ci failed; 2 node or npm missing.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
STAMP=node_modules/.ifd-lock.sha256

want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] &&
        [ -f node_modules/playwright-core/package.json ] && [ -f node_modules/axe-core/axe.min.js ]; then
        exit 0
fi
for t in node npm; do
        if ! command -v "$t" >/dev/null 2>&1; then
                echo "tests/ui/npm-ci.sh: $t is missing" >&2
                exit 2
        fi
done
echo "tests/ui/npm-ci.sh: npm ci in $PWD" >&2
# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: belt and braces, playwright-core downloads nothing anyway.
if ! PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >&2; then
        echo "tests/ui/npm-ci.sh: npm ci failed" >&2
        exit 1
fi
printf '%s\n' "$want" >"$STAMP"
