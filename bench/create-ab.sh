#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/create-ab.sh: durable creates (POST /api/v1/ifaces, auth on, an operator token) from 1 and
# from 32 clients, this build against an older one (OLD_BIN), in alternating rounds, each on a
# fresh daemon and state under /var/tmp (not tmpfs), as bench/perf.sh runs its creates. Prints
# each round (creates/s, p50, and the daemon's CPU time and context switches per create, from
# /proc/PID/stat and /proc/PID/task/*/status), then
# the medians over REPS rounds. A benchmark, not a test: it asserts nothing about speed.
#
#   OLD_BIN=/path/to/old/iscsi-ifaced REPS=5 C1=1000 C32=3000 bench/create-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-5}
C1=${C1:-1000}
C32=${C32:-3000}
. bench/ab-lib.sh # BUILD, NEW, CLIENT, OLD (from OLD_BIN), checked

W=$(mktemp -d /var/tmp/ifaced-createab.XXXXXX)
PID= # the daemon running, if any
cleanup() {
	[ -z "$PID" ] || { kill -9 "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; }
	rm -rf "$W"
}
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, in clock ticks
# Context switches of all the threads of $1, voluntary and not (a thread hand-off or an I/O
# wait is one each way).
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}'; }

# run SIDE BIN CLIENTS N ROUND: one fresh daemon, N creates from CLIENTS clients.
run() {
	local side=$1 bin=$2 clients=$3 n=$4 round=$5 d=$W/$1.$3.$5 out c0 c1 hz
	ab_drop_caches
	ab_start "$bin" "$d"
	PID=$(cat "$d/pid")
	ab_wait "$d"
	hz=$(getconf CLK_TCK)
	c0=$(cpu_ticks "$PID")
	s0=$(switches "$PID")
	out=$(BENCH_TOKEN=$(cat "$d/operator") "$CLIENT" "$(ab_url "$d")" create "$n" c "$clients")
	c1=$(cpu_ticks "$PID")
	s1=$(switches "$PID")
	kill "$PID"
	wait "$PID" || true
	PID=
	echo " $out" | field per_s >>"$W/$side.$clients.rate"
	echo "($c1 - $c0) * 1000000 / $hz / $n" | bc -l >>"$W/$side.$clients.cpu"
	echo "($s1 - $s0) / $n" | bc -l >>"$W/$side.$clients.csw"
	printf 'round %d %s, %2d clients: %7.1f/s, p50 %6.3f ms, daemon CPU %4.0f us and %4.1f context switches a create\n' \
		"$round" "$side" "$clients" "$(tail -1 "$W/$side.$clients.rate")" \
		"$(echo " $out" | field p50_ms)" "$(tail -1 "$W/$side.$clients.cpu")" \
		"$(tail -1 "$W/$side.$clients.csw")"
	# The state stays until the end: files deleted now would slow every later round's new
	# files (ext4 without a journal, docs/decisions.md).
}

echo "durable creates, this build against OLD_BIN: $REPS rounds, C1=$C1 C32=$C32, $(nproc) cores," \
	"load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$REPS"); do
	for side in old new; do
		bin=$NEW; [ "$side" = old ] && bin=$OLD
		run "$side" "$bin" 1 "$C1" "$r"
		run "$side" "$bin" 32 "$C32" "$r"
	done
done
echo
echo "medians over $REPS rounds                      this build        old"
for c in 1 32; do
	printf 'creates/s, %2d clients                   %10.1f %10.1f\n' "$c" \
		"$(median <"$W/new.$c.rate")" "$(median <"$W/old.$c.rate")"
	printf 'daemon CPU a create, %2d clients, us     %10.0f %10.0f\n' "$c" \
		"$(median <"$W/new.$c.cpu")" "$(median <"$W/old.$c.cpu")"
	printf 'context switches a create, %2d clients  %10.1f %10.1f\n' "$c" \
		"$(median <"$W/new.$c.csw")" "$(median <"$W/old.$c.csw")"
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
