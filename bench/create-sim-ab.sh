#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/create-sim-ab.sh: durable creates (POST /api/v1/ifaces, auth on, an operator token) from
# CLIENTS clients, this build and an older one (OLD_BIN) at the same time, each daemon on a fresh
# state of its own under /var/tmp, each with a client of its own; ROUNDS rounds, the two builds
# swapping which starts first each round. Prints each round's creates/s of both and their ratio,
# then the median ratio.
#
# Why at the same time: this machine's disk changes its flush time by a third from one minute to
# the next, so rounds one after the other (bench/create-ab.sh) need many of them to tell apart
# changes of a few percent. Run together, both builds meet the same disk and share its flushes
# and the 2 cores; their figures are lower than alone, and their ratio compares them under the
# same conditions. A build that costs more CPU or more flushes than the other shows as a ratio
# below 1 in every round. A benchmark, not a test: it asserts nothing about speed.
#
#   OLD_BIN=/path/to/old/iscsi-ifaced ROUNDS=6 N=1500 CLIENTS=1 bench/create-sim-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-6}
N=${N:-1500}
CLIENTS=${CLIENTS:-1}
WARM=${WARM:-100}
. bench/ab-lib.sh # BUILD, NEW, CLIENT, OLD (from OLD_BIN), checked

W=$(mktemp -d /var/tmp/ifaced-simab.XXXXXX)
PIDS= # the daemons and clients running
cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
	rm -rf "$W"
}
trap cleanup EXIT

echo "durable creates, this build and OLD_BIN at the same time: $ROUNDS rounds, N=$N each," \
	"$CLIENTS client(s) each, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
	d=$W/$r
	ab_drop_caches
	# Odd rounds start the new build first, even rounds the old one.
	if [ $((r % 2)) -eq 1 ]; then order="new old"; else order="old new"; fi
	for side in $order; do
		if [ "$side" = new ]; then ab_start "$NEW" "$d/$side"; else ab_start "$OLD" "$d/$side"; fi
		PIDS="$PIDS $(cat "$d/$side/pid")"
	done
	for side in $order; do
		ab_wait "$d/$side"
		# Unmeasured: each daemon's first writes (its spare temp files, its threads).
		BENCH_TOKEN=$(cat "$d/$side/operator") "$CLIENT" "$(ab_url "$d/$side")" create "$WARM" w 1 >/dev/null
	done
	cpids=
	for side in $order; do
		BENCH_TOKEN=$(cat "$d/$side/operator") "$CLIENT" "$(ab_url "$d/$side")" create "$N" s \
			"$CLIENTS" >"$d/$side/out" &
		cpids="$cpids $!"
	done
	PIDS="$PIDS $cpids"
	for p in $cpids; do wait "$p"; done
	new=$(field per_s <"$d/new/out")
	old=$(field per_s <"$d/old/out")
	[ -n "$new" ] && [ -n "$old" ] || { cat "$d"/*/out >&2; echo "create-sim-ab.sh: a client failed" >&2; exit 1; }
	ratio=$(echo "$new / $old" | bc -l)
	echo "$ratio" >>"$W/ratios"
	printf 'round %d (%s first): this build %.1f/s, old %.1f/s, ratio %.3f\n' "$r" "${order%% *}" \
		"$new" "$old" "$ratio"
	for side in new old; do
		kill "$(cat "$d/$side/pid")"
		wait "$(cat "$d/$side/pid")" || true
	done
	PIDS=
	rm -rf "$d"
done
printf 'median ratio (this build / old) over %d rounds: %.3f\n' "$ROUNDS" "$(median <"$W/ratios")"
