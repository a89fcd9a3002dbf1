#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/nics-http.sh: the NIC inventory over HTTP with many links. In a network namespace of its
# own it makes N veth devices (N/2 pairs), runs the daemon inside, and measures in the same go:
#   - GET /api/v1/nics (all N) latency, median of REPS, against `ip -j addr` (the baseline);
#   - how long a link change (ip link set X down) takes to show in GET /api/v1/nics/X.
# Root only. N=1000 REPS=20 CHANGES=20 bench/nics-http.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
REPS=${REPS:-20}
CHANGES=${CHANGES:-20}
BUILD=${BUILD:-build}
BIN=$BUILD/server/iscsi-ifaced
CLIENT=$BUILD/bench/bench-client
[ -x "$BIN" ] && [ -x "$CLIENT" ] || { echo "build first: ./dev.sh build" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run as root (network namespace)" >&2; exit 2; }

NS=ifdbench$$
WORK=$(mktemp -d /var/tmp/nics-bench.XXXXXX)
PID=
cleanup() {
	if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; fi
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
in_ns() { ip netns exec "$NS" "$@"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now_ms() { echo $(($(date +%s%N) / 1000)) | awk '{printf "%.3f", $1 / 1000}'; }

ip netns add "$NS"
in_ns ip link set lo up
for i in $(seq 0 $((N / 2 - 1))); do
	echo "link add a$i type veth peer name b$i"
	echo "link set a$i up"
	echo "link set b$i up"
	echo "addr add 10.$((i / 250)).$((i % 250)).1/30 dev a$i"
done >"$WORK/batch"
t0=$(date +%s%N)
in_ns ip -batch "$WORK/batch"
echo "made $N links in $((($(date +%s%N) - t0) / 1000000)) ms"

ip netns exec "$NS" "$BIN" --auth off --listen 127.0.0.1:0 --port-file "$WORK/port" --iscsi-root "$WORK/root" \
	--db "$WORK/db" --lock-dir "$WORK/lock" --log-level warning 2>"$WORK/log" &
PID=$!
for _ in $(seq 400); do [ -s "$WORK/port" ] && break; sleep 0.05; done
URL=http://127.0.0.1:$(cat "$WORK/port")
count=$(in_ns curl -s "$URL/api/v1/nics" | jq '.items | length')
echo "the API lists $count NICs"

ours=$(in_ns "$CLIENT" "$URL" lat /api/v1/nics "$REPS" | sed -n 's/.* p50_ms=\([^ ]*\).*/\1/p')
for r in $(seq 10); do
	s=$(date +%s%N); in_ns ip -j addr >/dev/null; e=$(date +%s%N)
	echo "($e - $s) / 1000000" | bc -l
done >"$WORK/ip"
base=$(median <"$WORK/ip")

for i in $(seq 0 $((CHANGES - 1))); do
	in_ns "$CLIENT" "$URL" until "/api/v1/nics/b$i" '"up":false' 2000 >"$WORK/until$i" &
	w=$!
	sleep 0.05
	t=$(now_ms)
	in_ns ip link set "b$i" down
	wait "$w" || true
	at=$(sed -n 's/.* at_ms=\([^ ]*\).*/\1/p' "$WORK/until$i")
	echo "$at - $t" | bc -l
done >"$WORK/change"
change=$(median <"$WORK/change")
worst=$(sort -g "$WORK/change" | tail -1)

kill "$PID"; wait "$PID" || true; PID=

echo
printf 'GET /api/v1/nics (%d NICs), median of %d      %8.2f ms\n' "$count" "$REPS" "$ours"
printf 'ip -j addr (baseline), median of 10          %8.2f ms   ratio %.2fx\n' "$base" "$(echo "$base / $ours" | bc -l)"
printf 'link down -> visible in the API, median of %d %8.2f ms   (worst %.2f ms; includes ip(8) itself)\n' "$CHANGES" "$change" "$worst"
