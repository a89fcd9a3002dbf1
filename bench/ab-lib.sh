# SPDX-License-Identifier: MIT
# bench/ab-lib.sh: what the create A/B scripts (create-ab.sh, create-sim-ab.sh) share. Sourced
# from the top of the tree: the builds compared (this one in BUILD, default build/, and OLD_BIN),
# checked to be there, and helpers.

BUILD=${BUILD:-build}
NEW=$BUILD/server/iscsi-ifaced
CLIENT=$BUILD/bench/bench-client
OLD=${OLD_BIN:?OLD_BIN=/path/to/an/older/iscsi-ifaced}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for x in "$NEW" "$CLIENT" "$OLD"; do
	[ -x "$x" ] || { echo "build first: ./dev.sh build ($x is missing)" >&2; exit 2; }
done

# The last run's state was just deleted: on ext4 without a journal every new file would scan
# past its freed inodes while their table is cached (bench/perf.sh, docs/decisions.md).
ab_drop_caches() {
	if [ -w /proc/sys/vm/drop_caches ]; then
		sync
		echo 1 >/proc/sys/vm/drop_caches
	fi
}

# ab_start BIN DIR: a daemon as bench/perf.sh runs it (auth on, 2 HTTP threads, limits raised),
# on a fresh state in DIR with an operator token in DIR/operator; its pid in DIR/pid. It answers
# on DIR/port once ab_wait DIR returns.
ab_start() {
	local bin=$1 d=$2
	mkdir -p "$d/root" "$d/lock"
	"$bin" token create --role operator --name bench --db "$d/db" >"$d/operator" 2>/dev/null
	"$bin" --auth on --listen 127.0.0.1:0 --port-file "$d/port" --iscsi-root "$d/root" \
		--db "$d/db" --lock-dir "$d/lock" --log-level warning --threads 2 \
		--rate-limit 1000000000 --rate-burst 1000000000 --max-conn-per-client 4096 \
		2>>"$d/log" >/dev/null &
	echo $! >"$d/pid"
}

ab_wait() {
	local d=$1
	for _ in $(seq 200); do [ -s "$d/port" ] && return 0; sleep 0.05; done
	cat "$d/log" >&2
	echo "$(basename "$0"): the daemon in $d did not start" >&2
	exit 1
}

ab_url() { echo "http://127.0.0.1:$(cat "$1/port")"; }
