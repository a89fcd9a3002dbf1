#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Lint: openapi.yaml under Redocly CLI's recommended-strict rules (tests/contract/redocly.yaml;
# each rule changed there says why), and every example in it valid against the schema it
# illustrates (tests/contract/validate.mjs --examples, Ajv on JSON Schema 2020-12). Both come
# from tests/contract/node_modules (package-lock.json; ./dev.sh deps runs npm ci there).
# usage: check-openapi.sh [SOURCE_ROOT]   (default: two levels above this script)
set -euo pipefail

root=${1:-$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../..}
contract=$root/tests/contract

die() {
        echo "check-openapi: $*" >&2
        exit 1
}

command -v node >/dev/null 2>&1 || die "node is missing: ./dev.sh deps installs it"
if [ ! -x "$contract/node_modules/.bin/redocly" ] || [ ! -f "$contract/node_modules/ajv/package.json" ]; then
        die "$contract/node_modules is not installed: run ./dev.sh deps (or tests/contract/npm-ci.sh)"
fi

# No telemetry and no update check: a lint neither phones home nor depends on the network.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
fail=0
if ! out=$("$contract/node_modules/.bin/redocly" lint "$root/openapi.yaml" \
        --config "$contract/redocly.yaml" --format=codeframe 2>&1); then
        printf '%s\n' "$out" | grep -v '[║╔╚]' >&2
        echo "check-openapi: Redocly CLI's lint failed (above)" >&2
        fail=1
else
        printf '%s\n' "$out" | grep -v '[║╔╚]' | grep -E 'validated|valid|ignored' || true
fi
if ! node "$contract/validate.mjs" --examples; then
        echo "check-openapi: examples that their schemas refuse (above)" >&2
        fail=1
fi
exit $fail
