#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/get-ab.sh: GET of one record as bench/perf.sh measures it (auth on, a viewer token, the
# daemon's 2 HTTP threads, rate limit and connections per client raised), this build against an
# older one (OLD_BIN), in alternating rounds over one state of N records. In a round, each build
# runs GET_PAIRS pairs of a GET_SECONDS load on it and one on bench/ceiling, back to back, which
# one goes first alternating (as perf.sh does); prints each pair, then the median over all pairs
# of each build's ratio to the ceiling. LOG_LEVEL is the daemons' (perf.sh runs warning; the
# daemon ships with info, which logs a line per request).
#
#   OLD_BIN=/path/to/old/iscsi-ifaced REPS=5 LOG_LEVEL=info bench/get-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
REPS=${REPS:-5}
GET_SECONDS=${GET_SECONDS:-2}
GET_PAIRS=${GET_PAIRS:-4} # runs of ours and of the ceiling a round, each build, 32 and 256
LOG_LEVEL=${LOG_LEVEL:-warning}
BUILD=${BUILD:-build}
NEW=$BUILD/server/iscsi-ifaced
CLIENT=$BUILD/bench/bench-client
CEILING=$BUILD/bench/ceiling
OLD=${OLD_BIN:?OLD_BIN=/path/to/an/older/iscsi-ifaced}
for x in "$NEW" "$CLIENT" "$CEILING" "$OLD"; do
	[ -x "$x" ] || { echo "build first: ./dev.sh build ($x is missing)" >&2; exit 2; }
done

W=$(mktemp -d /var/tmp/ifaced-getab.XXXXXX)
PID= # the daemon running, if any
CPID= # the ceiling
cleanup() {
	for p in $PID $CPID; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
	rm -rf "$W"
}
trap cleanup EXIT

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
load() { "$CLIENT" "$1" load "$GET_SECONDS" "$2" "$P" | field per_s; } # URL CONNS: requests/s
start() { # BIN: start it on the state; sets PID and URL
	rm -f "$W/s/port"
	"$1" --auth on --listen 127.0.0.1:0 --port-file "$W/s/port" --iscsi-root "$W/s/root" \
		--db "$W/s/db" --lock-dir "$W/s/lock" --log-level "$LOG_LEVEL" --threads 2 \
		--rate-limit 1000000000 --rate-burst 1000000000 --max-conn-per-client 4096 \
		2>>"$W/s/log" >/dev/null &
	PID=$!
	for _ in $(seq 200); do [ -s "$W/s/port" ] && break; sleep 0.05; done
	[ -s "$W/s/port" ] || { cat "$W/s/log" >&2; echo "get-ab.sh: $1 did not start" >&2; exit 1; }
	URL=http://127.0.0.1:$(cat "$W/s/port")
}
stop() { kill "$PID"; wait "$PID" || true; PID=; }

mkdir -p "$W/s/root" "$W/s/lock"
"$NEW" token create --role viewer --name bench --db "$W/s/db" >"$W/viewer" 2>/dev/null
"$NEW" token create --role operator --name bench --db "$W/s/db" >"$W/operator" 2>/dev/null
start "$NEW"
BENCH_TOKEN=$(cat "$W/operator") "$CLIENT" "$URL" create "$N" r 4 >/dev/null
export BENCH_TOKEN
BENCH_TOKEN=$(cat "$W/viewer")
P=/api/v1/ifaces/r$((N / 2))
# The ceiling serves this answer's bytes and headers (less those MHD writes), as perf.sh does.
curl -sf -D "$W/head" -o "$W/body" -H "Authorization: Bearer $BENCH_TOKEN" "$URL$P"
tr -d '\r' <"$W/head" | grep -iv '^\(HTTP/\|date:\|content-length:\|connection:\)' |
	grep . >"$W/headers" || true
stop
"$CEILING" "$W/cport" 2 "$W/body" "$W/headers" 2>/dev/null &
CPID=$!
until [ -s "$W/cport" ]; do sleep 0.02; done
CURL=http://127.0.0.1:$(cat "$W/cport")

echo "GET $P, auth on, log level $LOG_LEVEL, this build against OLD_BIN and each against" \
	"bench/ceiling: N=$N, $REPS rounds of $GET_PAIRS pairs, $GET_SECONDS s a load, $(nproc) cores," \
	"load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$REPS"); do
	for side in old new; do
		bin=$NEW; [ "$side" = old ] && bin=$OLD
		start "$bin"
		for c in 32 256; do
			# As bench/perf.sh: pairs back to back, which one goes first alternating.
			for p in $(seq "$GET_PAIRS"); do
				if [ $((p % 2)) = 1 ]; then
					b=$(load "$CURL" "$c"); o=$(load "$URL" "$c")
				else
					o=$(load "$URL" "$c"); b=$(load "$CURL" "$c")
				fi
				echo "$o / $b" | bc -l >>"$W/$side.$c"
				printf 'round %d %s, %d conns, pair %d: %.0f/s, ceiling %.0f/s, %.3fx\n' \
					"$r" "$side" "$c" "$p" "$o" "$b" "$(tail -1 "$W/$side.$c")"
			done
		done
		stop
	done
done
echo
echo "medians over $REPS rounds x $GET_PAIRS pairs of ours / ceiling   this build        old"
for c in 32 256; do
	printf 'GET one record, %3d connections          %10.3fx %10.3fx\n' "$c" \
		"$(median <"$W/new.$c")" "$(median <"$W/old.$c")"
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
