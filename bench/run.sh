#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/run.sh: figures for iscsi-ifaced and, in the same go, for the iscsiadm script a user
# would otherwise run (the baseline). Prints medians over REPS rounds and the ratios.
#
#   N=500 REPS=3 bench/run.sh        (run as root: the baseline needs a private mount namespace)
#   OLD_BIN=/path/to/iscsi-ifaced bench/run.sh
#                                    also runs an older build of the daemon in every round, and
#                                    prints this build's figures against it (a change's cost)
#
# Both sides write to the same disk (a directory under /var/tmp, not tmpfs). Our creates are
# durable (fsync of file, directories and sqlite); iscsiadm's are not (it never fsyncs).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-500}
REPS=${REPS:-3}
GET_SECONDS=${GET_SECONDS:-3}
BUILD=${BUILD:-build}
BIN=$BUILD/server/iscsi-ifaced
CLIENT=$BUILD/bench/bench-client
[ -x "$BIN" ] && [ -x "$CLIENT" ] || { echo "build first: ./dev.sh build" >&2; exit 2; }
command -v iscsiadm >/dev/null || { echo "iscsiadm missing (apt-get install open-iscsi)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run as root (the iscsiadm baseline uses unshare -m)" >&2; exit 2; }

WORK=$(mktemp -d /var/tmp/ifaced-bench.XXXXXX)
PID=
cleanup() {
	if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

ours_round() { # $1 = round [$2 = binary]; prints "create_per_s list_ms get_per_s"
	local d=$WORK/ours$1${2:+-old} bin=${2:-$BIN}
	mkdir -p "$d"
	"$bin" --auth off --listen 127.0.0.1:0 --port-file "$d/port" --iscsi-root "$d/root" --db "$d/db" \
		--lock-dir "$d/lock" --log-level warning 2>"$d/log" &
	PID=$!
	for _ in $(seq 100); do [ -s "$d/port" ] && break; sleep 0.05; done
	local url=http://127.0.0.1:$(cat "$d/port")
	local c l g
	c=$("$CLIENT" "$url" create "$N" b | field per_s)
	l=$("$CLIENT" "$url" list 5 | field p50_ms)
	g=$("$CLIENT" "$url" get "$GET_SECONDS" 2 b0 | field per_s)
	kill "$PID"; wait "$PID" || true; PID=
	echo "$c $l $g"
}

# The baseline: real iscsiadm on a private db root, lock dir and fake tcp transport.
base_round() { # $1 = round; prints "create_per_s list_ms"
	local d=$WORK/base$1
	mkdir -p "$d/db"
	cp /etc/iscsi/initiatorname.iscsi "$d/db/" 2>/dev/null || true
	sed 's|^iscsid.startup = .*|iscsid.startup = /bin/true|' /etc/iscsi/iscsid.conf >"$d/db/iscsid.conf"
	N=$N D=$d unshare -m --propagation private bash -c '
		set -e
		mount --bind "$D/db" /etc/iscsi
		[ -d /var/lib/iscsi ] && mount --bind "$D/db" /var/lib/iscsi
		mount -t tmpfs tmpfs /run/lock
		mkdir -p "$D/keep"; mount --bind /sys/class/net "$D/keep"
		mount -t tmpfs tmpfs /sys/class
		mkdir -p /sys/class/net /sys/class/iscsi_transport/tcp
		mount --move "$D/keep" /sys/class/net
		echo 1 >/sys/class/iscsi_transport/tcp/handle
		echo 0x39 >/sys/class/iscsi_transport/tcp/caps
		t0=$(date +%s.%N)
		for i in $(seq 0 $((N - 1))); do
			iscsiadm -m iface -I b$i -o new >/dev/null
			iscsiadm -m iface -I b$i -o update -n iface.net_ifacename -v eth1 >/dev/null
		done
		t1=$(date +%s.%N)
		for r in 1 2 3 4 5; do
			s=$(date +%s.%N); iscsiadm -m iface >/dev/null; e=$(date +%s.%N)
			echo "$e - $s" | bc -l
		done >"$D/list"
		echo "$N / ($t1 - $t0)" | bc -l >"$D/create"
	'
	echo "$(cat "$d/create") $(awk '{print $1 * 1000}' "$d/list" | median)"
}

echo "iscsi-ifaced benchmark: N=$N records, $REPS rounds, $(nproc) cores, $(date -u +%FT%TZ)"
for r in $(seq "$REPS"); do
	read -r oc ol og <<<"$(ours_round "$r")"
	read -r bc bl <<<"$(base_round "$r")"
	printf 'round %d: ours create %.0f/s list %.1f ms get %.0f/s | iscsiadm create %.0f/s list %.1f ms\n' \
		"$r" "$oc" "$ol" "$og" "$bc" "$bl"
	if [ -n "${OLD_BIN:-}" ]; then
		read -r xc xl xg <<<"$(ours_round "$r" "$OLD_BIN")"
		printf 'round %d: old  create %.0f/s list %.1f ms get %.0f/s\n' "$r" "$xc" "$xl" "$xg"
		echo "$xc" >>"$WORK/xc"; echo "$xl" >>"$WORK/xl"; echo "$xg" >>"$WORK/xg"
	fi
	echo "$oc" >>"$WORK/oc"; echo "$ol" >>"$WORK/ol"; echo "$og" >>"$WORK/og"
	echo "$bc" >>"$WORK/bc"; echo "$bl" >>"$WORK/bl"
done
oc=$(median <"$WORK/oc"); ol=$(median <"$WORK/ol"); og=$(median <"$WORK/og")
bc=$(median <"$WORK/bc"); bl=$(median <"$WORK/bl")
echo
echo "medians over $REPS rounds                 iscsi-ifaced    iscsiadm (baseline)   ratio"
printf 'create + set net_ifacename (per s)     %12.0f    %12.0f          %6.2fx\n' "$oc" "$bc" "$(echo "$oc / $bc" | bc -l)"
printf 'list all %5d records (ms)            %12.2f    %12.2f          %6.2fx faster\n' "$N" "$ol" "$bl" "$(echo "$bl / $ol" | bc -l)"
printf 'GET one record, 2 clients (per s)      %12.0f    %12s\n' "$og" "n/a"
echo "(ours: durable, fsync of file + dirs + sqlite WAL per write; iscsiadm: no fsync, in-place rewrite)"
if [ -n "${OLD_BIN:-}" ]; then
	xc=$(median <"$WORK/xc"); xl=$(median <"$WORK/xl"); xg=$(median <"$WORK/xg")
	echo
	echo "this build against OLD_BIN ($OLD_BIN), same rounds   this        old      this/old"
	printf 'create + set net_ifacename (per s)            %12.0f %10.0f    %6.3f\n' "$oc" "$xc" "$(echo "$oc / $xc" | bc -l)"
	printf 'list all %5d records (ms)                   %12.2f %10.2f    %6.3f\n' "$N" "$ol" "$xl" "$(echo "$ol / $xl" | bc -l)"
	printf 'GET one record, 2 clients (per s)             %12.0f %10.0f    %6.3f\n' "$og" "$xg" "$(echo "$og / $xg" | bc -l)"
fi
