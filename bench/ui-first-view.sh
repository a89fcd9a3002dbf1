#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/ui-first-view.sh: the web UI's first view with N ifaces (default 1000) in Debian's
# chromium, against the same data fetched without the UI (bench/ui-first-view.mjs), medians
# over ROUNDS (default 5). Also the bytes of web/ as sent plain and gzipped (the daemon's log).
# A benchmark, not a test: it exits 0 however slow. Needs chromium and tests/ui/node_modules
# (./dev.sh deps installs both).
#   N=1000 ROUNDS=5 BUILD=build bench/ui-first-view.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/server/iscsi-ifaced
[ -x "$BIN" ] || { echo "no $BIN: build first"; exit 1; }
[ -x /usr/bin/chromium ] && [ -d tests/ui/node_modules/playwright-core ] ||
        { echo "chromium or tests/ui/node_modules missing: ./dev.sh deps"; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/ui-bench.XXXXXX")
PID=
cleanup() {
        [ -z "$PID" ] || kill "$PID" 2>/dev/null || true
        [ -z "$PID" ] || wait "$PID" 2>/dev/null || true
        rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/iscsi" "$W/lock"
TOKEN=$("$BIN" token create --role admin --name bench --db "$W/db" | awk '{print $NF}' | tail -1)
"$BIN" --listen 127.0.0.1:0 --port-file "$W/port" --iscsi-root "$W/iscsi" --db "$W/db" \
        --lock-dir "$W/lock" --web-root web --rate-limit 100000 --rate-burst 100000 \
        2>"$W/log" &
PID=$!
for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.05; done
[ -s "$W/port" ] || { cat "$W/log"; exit 1; }
grep -o 'Web UI: .*' "$W/log" | sed 's/^/bench: /'
URL=http://127.0.0.1:$(cat "$W/port") TOKEN=$TOKEN N=${N:-1000} ROUNDS=${ROUNDS:-5} \
        node bench/ui-first-view.mjs
