#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/ab-read.sh: the read path of this build against an older one (OLD_BIN), over one state
# of N records made once, in alternating rounds: listing them all (pages of 1000, the median of 9
# listings a round) and GET of one record for 3 s from 2 client threads. Prints each round, then
# the medians over REPS rounds and this build / old. Auth off, log level warning (the read path
# only).
#
#   OLD_BIN=/path/to/old/iscsi-ifaced N=3000 REPS=7 bench/ab-read.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-3000}
REPS=${REPS:-5}
BUILD=${BUILD:-build}
NEW=$BUILD/server/iscsi-ifaced
CLIENT=$BUILD/bench/bench-client
OLD=${OLD_BIN:?OLD_BIN=/path/to/an/older/iscsi-ifaced}
[ -x "$NEW" ] && [ -x "$CLIENT" ] && [ -x "$OLD" ] || { echo "build first: ./dev.sh build" >&2; exit 2; }

W=$(mktemp -d /var/tmp/ifaced-ab.XXXXXX)
PID=
cleanup() {
	if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; fi
	rm -rf "$W"
}
trap cleanup EXIT

start() { # BIN DIR: start the daemon on DIR's state; sets PID and URL
	rm -f "$2/port"
	"$1" --auth off --listen 127.0.0.1:0 --port-file "$2/port" --iscsi-root "$2/root" \
		--db "$2/db" --lock-dir "$2/lock" --log-level warning 2>"$2/log" &
	PID=$!
	for _ in $(seq 200); do [ -s "$2/port" ] && break; sleep 0.05; done
	URL=http://127.0.0.1:$(cat "$2/port")
}
stop() { kill "$PID"; wait "$PID" || true; PID=; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

mkdir -p "$W/base/root" "$W/base/lock"
start "$NEW" "$W/base"
"$CLIENT" "$URL" create "$N" b >/dev/null
stop

echo "read path, this build against OLD_BIN: N=$N records, $REPS rounds, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
for r in $(seq "$REPS"); do
	for side in old new; do
		bin=$NEW; [ "$side" = old ] && bin=$OLD
		rm -rf "$W/$side"; cp -a "$W/base" "$W/$side"
		start "$bin" "$W/$side"
		l=$("$CLIENT" "$URL" list 9 | sed -n 's/.* p50_ms=\([^ ]*\).*/\1/p')
		g=$("$CLIENT" "$URL" get 3 2 b7 | sed -n 's/.* per_s=\([^ ]*\).*/\1/p')
		stop
		echo "$l" >>"$W/$side.list"; echo "$g" >>"$W/$side.get"
		printf 'round %d %s: list %.2f ms, get %.0f/s\n' "$r" "$side" "$l" "$g"
	done
done
ol=$(median <"$W/old.list"); nl=$(median <"$W/new.list")
og=$(median <"$W/old.get"); ng=$(median <"$W/new.get")
echo
echo "medians over $REPS rounds                  this build        old    this/old"
printf 'list all %6d records (ms)          %12.2f %10.2f    %6.3f\n' "$N" "$nl" "$ol" "$(echo "$nl / $ol" | bc -l)"
printf 'GET one record, 2 clients (per s)     %12.0f %10.0f    %6.3f\n' "$ng" "$og" "$(echo "$ng / $og" | bc -l)"
echo "load at the end: $(cut -d' ' -f1 /proc/loadavg)"
