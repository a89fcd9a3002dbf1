#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Lint: the contract checker (tests/contract/validate.mjs) catches what it must. Against a small
# contract (tests/contract/selftest/openapi.yaml): good.jsonl passes (a HEAD, an event stream whose
# body is not JSON, a 404 and a 405 of x-any-path-responses, a web UI file); each record of
# bad.jsonl fails with the message on its line of bad.expect (an undocumented status, a missing
# required header, an undocumented header, a bad header value, an undocumented member, an
# undocumented media type, a body that is not JSON, a HEAD with a body, an unknown API path, a
# header sent twice).
# usage: check-contract-checker.sh [SOURCE_ROOT]   (default: two levels above this script)
set -euo pipefail

root=${1:-$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../..}
contract=$root/tests/contract
self=$contract/selftest

die() {
        echo "check-contract-checker: $*" >&2
        exit 1
}

command -v node >/dev/null 2>&1 || die "node is missing: ./dev.sh deps installs it"
[ -f "$contract/node_modules/ajv/package.json" ] ||
        die "$contract/node_modules is not installed: run ./dev.sh deps (or tests/contract/npm-ci.sh)"

export IFD_OPENAPI=$self/openapi.yaml
if ! out=$(node "$contract/validate.mjs" "$self/good.jsonl" 2>&1); then
        printf '%s\n' "$out" >&2
        die "good.jsonl was refused"
fi
if out=$(node "$contract/validate.mjs" "$self/bad.jsonl" 2>&1); then
        printf '%s\n' "$out" >&2
        die "bad.jsonl passed"
fi
want=$(grep -c . "$self/bad.expect")
got=$(grep -c '^CONTRACT:' <<<"$out" || true)
[ "$got" -eq "$want" ] || {
        printf '%s\n' "$out" >&2
        die "$got of the $want records of bad.jsonl were refused"
}
while IFS= read -r msg; do
        grep -qF -- "$msg" <<<"$out" || {
                printf '%s\n' "$out" >&2
                die "no failure says: $msg"
        }
done <"$self/bad.expect"
echo "check-contract-checker: good.jsonl passes, the $want records of bad.jsonl fail as expected"
