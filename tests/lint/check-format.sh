#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Format check (lint suite): lists the C files that clang-format (with .clang-format) would
# change, and fails if there is any; apply with `clang-format -i FILE`. Exit 77 (skip) without
# clang-format (./dev.sh installs Debian's, version 14, whose output this tree follows).
# usage: check-format.sh [SOURCE_ROOT]   (default: two levels above this script)
set -euo pipefail

root=${1:-$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../..}
cd "$root"

if ! command -v clang-format >/dev/null 2>&1; then
        echo "check-format: clang-format not installed, skipping"
        exit 77
fi
[ -f .clang-format ] || {
        echo "check-format: no .clang-format in $root" >&2
        exit 1
}

files=()
while IFS= read -r -d '' f; do
        files+=("${f#./}")
done < <(find common engine api server tests -type f \( -name '*.c' -o -name '*.h' \) -print0 2>/dev/null | sort -z)

if [ ${#files[@]} -eq 0 ]; then
        echo "check-format: no C files under $root" >&2
        exit 1
fi

differ=0
for f in "${files[@]}"; do
        n=$(clang-format --style=file "$f" | diff "$f" - | grep -c '^>' || true)
        if [ "$n" -ne 0 ]; then
                printf '%s: %s line(s) would change\n' "$f" "$n"
                differ=$((differ + 1))
        fi
done

if [ "$differ" -ne 0 ]; then
        echo "check-format: $differ of ${#files[@]} files differ from .clang-format"
        exit 1
fi
echo "check-format: ${#files[@]} files match .clang-format"
