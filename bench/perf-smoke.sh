#!/bin/bash
# SPDX-License-Identifier: MIT
# bench.smoke: bench/perf.sh on tiny numbers (N=20, one round) builds, runs and prints every row of
# its table with a number. It asserts nothing about speed: the benchmark reports, tests assert.
# Needs root and iscsiadm (the baseline runs in a private mount namespace); skipped otherwise.
#   bench/perf-smoke.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v iscsiadm >/dev/null || { echo "SKIP: needs iscsiadm"; exit 77; }
[ -x "$BUILD/bench/bench-client" ] || { echo "SKIP: bench-client not built (libcurl)"; exit 77; }

out=$(BUILD=$BUILD N=20 BIG=40 REPS=1 C1=5 C32=10 WARM=5 ISCSIADM_N=5 GET_SECONDS=0.3 GET_PAIRS=2 bash bench/perf.sh)
echo "$out"
rows=$(echo "$out" | grep -c '^| [^w-]') || true
want=18 # and two cold start-ups where the page cache can be dropped
[ -w /proc/sys/vm/drop_caches ] && want=20
[ "$rows" = "$want" ] || { echo "FAIL: expected $want rows, got $rows"; exit 1; }
# Every row: ours a number or several ("p99 / max"); baseline the same or "-"; ratio "N.NNx" or "-".
num='[0-9]+(\.[0-9]+)?'
nums="$num( / $num)*"
bad=$(echo "$out" | grep '^| [^w-]' |
	grep -Ev "\| $nums \| ($nums|-) \| (${num}x|-) \|\$") || true
[ -z "$bad" ] || { echo "FAIL: rows without a number:"; echo "$bad"; exit 1; }
echo "PASS: $rows rows"
