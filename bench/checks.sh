#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/checks.sh: connectivity checks (docs/checks.md) against a real iSCSI target, with the
# baseline measured in the same go. It brings up its own target instance (tests/target,
# TARGET_NAME=ifdbch TARGET_NET=216: tgtd in a netns behind two veth paths), runs the daemon in
# the initiator namespace with two ifaces, pa (bound to path A) and pb (path B), and prints:
#
#   1. one check through the iscsi step, POST /api/v1/ifaces/pb/checks {"portal":VIP,
#      "steps":["iscsi"]} on a keep-alive connection, N times: median, p90, min; next to
#      libiscsi's own SendTargets discovery bound to the same NIC (bench/iscsi-disc-bench, N
#      times); ratio check / libiscsi (goal < 2x). For information: the full four-step check,
#      the check's own elapsed_ms as the daemon reports it, and the HTTP floor (GET of one iface
#      record on the same kind of connection).
#   2. one job of PORTALS black-holed portals (routed via path A to addresses that the target
#      namespace silently drops) on iface pa, timeout_ms 1000: POST to state done, polling
#      Location every 10 ms (goal < 1.5 s); meanwhile GET /api/v1/ifaces from THREADS keep-alive
#      clients, against the same figure measured just before, idle (goal: ratio >= 0.8). The job
#      uses pa: from pb, which has no route to them, the link step fails at once (wrong-egress).
#
# Each part runs REPS rounds; the summary gives medians over the rounds (min: the smallest).
# A benchmark, not a test: it exits 0 however slow; non-zero only if something could not run.
# Root only (network namespaces, tgtd).
#   N=200 REPS=3 SLICES=10 PORTALS=100 THREADS=3 IDLE_SECONDS=1 BUILD=build bench/checks.sh
# CHECKS_TARGET_NAME / CHECKS_TARGET_NET choose another target instance.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200}
REPS=${REPS:-3}
PORTALS=${PORTALS:-100}
THREADS=${THREADS:-3}
IDLE_SECONDS=${IDLE_SECONDS:-1}
SLICES=${SLICES:-10}
BUILD=${BUILD:-build}
export TARGET_NAME=${CHECKS_TARGET_NAME:-ifdbch}
export TARGET_NET=${CHECKS_TARGET_NET:-216}
export TARGET_RUN=${TARGET_RUN:-${TMPDIR:-/tmp}/iscsi-ifaced-target}
BIN=$BUILD/server/iscsi-ifaced
CLIENT=$BUILD/bench/bench-client
DISC=$BUILD/bench/iscsi-disc-bench
TARGET=tests/target

die() {
	echo "checks.sh: $*" >&2
	exit 2
}
[ "$(id -u)" = 0 ] || die "run as root (network namespaces, tgtd)"
[ -x "$BIN" ] && [ -x "$CLIENT" ] || die "build first: ./dev.sh build (needs libcurl for bench-client)"
[ -x "$DISC" ] || die "$DISC missing: install libiscsi-dev, then meson setup --reconfigure $BUILD && ninja -C $BUILD"
for b in tgtd tgtadm ip jq bc flock; do
	command -v "$b" >/dev/null || die "missing $b (apt-get install tgt iproute2 jq bc util-linux)"
done
[ "$PORTALS" -ge 1 ] && [ "$PORTALS" -le 1000 ] || die "PORTALS must be 1..1000"

WORK=$(mktemp -d /var/tmp/checks-bench.XXXXXX)
PID=
TARGET_STARTED=0
cleanup() {
	local rc=$?
	set +e
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	if [ "$TARGET_STARTED" = 1 ]; then
		bash "$TARGET/target-down.sh" >"$WORK/target-down.log" 2>&1 ||
			{ echo "checks.sh: warning: target-down.sh failed:" >&2; cat "$WORK/target-down.log" >&2; }
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
ratio() { echo "$1 / $2" | bc -l; }

# Runs with the same target name wait for each other (as tests/target/smoke.sh does).
LOCK=${TARGET_RUN}.${TARGET_NAME}.lock
mkdir -p "$(dirname "$LOCK")"
exec 9>"$LOCK"
flock -w 200 9 || die "another run holds $LOCK for more than 200 s"

# ---- target (leftovers of a killed run first); fd 9 closed so that tgtd does not hold the lock
TARGET_STARTED=1
bash "$TARGET/target-down.sh" >/dev/null 2>&1 9>&- || true
bash "$TARGET/target-up.sh" >"$WORK/target-up.log" 2>&1 9>&- ||
	{ cat "$WORK/target-up.log" >&2; die "target-up.sh failed"; }
# shellcheck disable=SC1090,SC1091
. "$TARGET_RUN/$TARGET_NAME/env"
in_ns() { ip netns exec "$INI_NS" "$@"; }

# Black hole: 10.NET.100.0/22 is routed via path A; in the target namespace a blackhole route
# drops it without an ICMP error, whether or not that namespace forwards.
HOLE=10.$NET.100.0/22
ip -n "$INI_NS" route replace "$HOLE" via "10.$NET.1.1" dev "$INI_IF_A"
ip -n "$TGT_NS" route replace blackhole "$HOLE"
portals=$(for i in $(seq 0 $((PORTALS - 1))); do echo "10.$NET.$((100 + i / 250)).$((1 + i % 250))"; done |
	jq -R . | jq -cs .)

# ---- daemon in the initiator namespace
D=$WORK/d
mkdir -m 0700 "$D" "$D/iscsi" "$D/lock"
in_ns "$BIN" --auth off --listen 127.0.0.1:0 --port-file "$D/port" --iscsi-root "$D/iscsi" --db "$D/db.sqlite" \
	--lock-dir "$D/lock" --log-level warning >"$D/log" 2>&1 9>&- </dev/null &
PID=$!
for _ in $(seq 200); do [ -s "$D/port" ] && break; kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
[ -s "$D/port" ] || { cat "$D/log" >&2; die "the daemon did not start"; }
URL=http://127.0.0.1:$(cat "$D/port")
api() { # api METHOD PATH [BODY]: prints the body, then a line with the HTTP status
	in_ns curl -sS -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} \
		-w '\n%{http_code}\n' "$URL$2"
}
for i in "pa:$INI_IF_A" "pb:$INI_IF_B"; do
	out=$(api POST /api/v1/ifaces "{\"name\":\"${i%%:*}\",\"transport_name\":\"tcp\",\"net_ifacename\":\"${i#*:}\"}")
	[ "$(tail -n 1 <<<"$out")" = 201 ] || die "creating iface ${i%%:*} failed: $out"
done

ISCSI_BODY="{\"portal\":\"$VIP\",\"steps\":[\"iscsi\"]}"
FULL_BODY="{\"portal\":\"$VIP\"}"
JOB_BODY="{\"ifaces\":[\"pa\"],\"portals\":$portals,\"timeout_ms\":1000}"

# One check by hand: it must work, through path B, before anything is measured.
out=$(api POST /api/v1/ifaces/pb/checks "$FULL_BODY")
code=$(tail -n 1 <<<"$out")
res=$(sed '$d' <<<"$out")
[ "$code" = 200 ] && [ "$(jq -r .status <<<"$res" 2>/dev/null)" = ok ] ||
	die "the check from pb to $VIP did not succeed (HTTP $code): $res"
iscsi_step=$(jq -c '.steps[] | select(.step == "iscsi")' <<<"$res")
dev=$(jq -r '.device' <<<"$iscsi_step")
src=$(jq -r '.source_address' <<<"$iscsi_step")
ntg=$(jq -r '.targets | length' <<<"$iscsi_step")

echo "connectivity checks benchmark: N=$N checks, $REPS rounds, job of $PORTALS black-holed portals," \
	"$THREADS GET clients, $(nproc) cores, $(date -u +%FT%TZ)"
echo "target $TARGET_NAME: portal $VIP:$PORT; iface pb -> $INI_IF_B ($INI_ADDR_B), pa -> $INI_IF_A ($INI_ADDR_A)"
echo "first check from pb: iscsi step device=$dev source=$src, $ntg targets"
[ "$dev" = "$INI_IF_B" ] && [ "$src" = "$INI_ADDR_B" ] ||
	echo "NOTE: the iscsi step did not report path B ($INI_IF_B, $INI_ADDR_B)"

# ---- part 1: latency of one check vs libiscsi's discovery, REPS rounds. Each round runs the
# four measurements in SLICES interleaved slices (the machine's slow phases last longer than a
# slice) and pools their samples.
pct() { sort -g "$1" | awk -v p="$2" '{a[NR]=$1} END {i=int(NR*p/100)+1; if(i>NR)i=NR; print a[i]}'; }
[ "$SLICES" -le "$N" ] || SLICES=$N
echo
for r in $(seq "$REPS"); do
	rm -f "$WORK"/s_*
	for s in $(seq "$SLICES"); do
		n=$((N / SLICES))
		[ "$s" = "$SLICES" ] && n=$((N - (SLICES - 1) * (N / SLICES)))
		d=$(BENCH_SAMPLES=$WORK/s_disc in_ns "$DISC" "$VIP:$PORT" "$INI_IF_B" "$n") ||
			die "iscsi-disc-bench failed"
		c=$(BENCH_SAMPLES=$WORK/s_chk in_ns "$CLIENT" "$URL" post /api/v1/ifaces/pb/checks \
			"$ISCSI_BODY" "$n" status=ok) || die "a check (steps iscsi) failed; daemon log: $(tail -n 5 "$D/log")"
		BENCH_SAMPLES=$WORK/s_full in_ns "$CLIENT" "$URL" post /api/v1/ifaces/pb/checks "$FULL_BODY" \
			"$n" status=ok >/dev/null || die "a check (four steps) failed; daemon log: $(tail -n 5 "$D/log")"
		BENCH_SAMPLES=$WORK/s_http in_ns "$CLIENT" "$URL" lat /api/v1/ifaces/pb "$n" >/dev/null ||
			die "GET /api/v1/ifaces/pb failed"
		field elapsed_p50_ms <<<"$c" >>"$WORK/s_own"
		if [ "$r$s" = 11 ] && [ "$(field device <<<"$d")" != "$INI_IF_B" ]; then
			echo "NOTE: libiscsi's socket reports device $(field device <<<"$d"), source $(field source <<<"$d")"
		fi
	done
	for k in disc chk full http; do
		pct "$WORK/s_$k" 50 >>"$WORK/${k}_p50_ms"
		pct "$WORK/s_$k" 90 >>"$WORK/${k}_p90_ms"
		pct "$WORK/s_$k" 0 >>"$WORK/${k}_min_ms"
	done
	[ -s "$WORK/s_own" ] && median <"$WORK/s_own" >>"$WORK/chk_own"
	ratio "$(tail -n 1 "$WORK/chk_p50_ms")" "$(tail -n 1 "$WORK/disc_p50_ms")" >>"$WORK/lat_ratio"
	printf 'round %d: check (iscsi) p50 %.3f ms | libiscsi discovery p50 %.3f ms | ratio %.2fx | four steps p50 %.3f ms | GET one record p50 %.3f ms\n' \
		"$r" "$(tail -n 1 "$WORK/chk_p50_ms")" "$(tail -n 1 "$WORK/disc_p50_ms")" \
		"$(tail -n 1 "$WORK/lat_ratio")" "$(tail -n 1 "$WORK/full_p50_ms")" "$(tail -n 1 "$WORK/http_p50_ms")"
done

# ---- part 2: a job of black-holed portals, and GET throughput idle vs during the job
for r in $(seq "$REPS"); do
	j=$(in_ns "$CLIENT" "$URL" job "$JOB_BODY" "$IDLE_SECONDS" "$THREADS" /api/v1/ifaces) ||
		die "the job round failed; daemon log: $(tail -n 5 "$D/log")"
	for k in job_ms idle_per_s loaded_per_s ratio max_item_ms; do
		field "$k" <<<"$j" >>"$WORK/job_$k"
	done
	printf 'round %d: job %s, %s/%s done, reasons %s: %.0f ms (slowest item %.0f ms) | GET /api/v1/ifaces idle %.0f/s, during the job %.0f/s, ratio %.2f\n' \
		"$r" "$(field state <<<"$j")" "$(field "done" <<<"$j")" "$(field total <<<"$j")" \
		"$(field reasons <<<"$j")" "$(field job_ms <<<"$j")" "$(field max_item_ms <<<"$j")" \
		"$(field idle_per_s <<<"$j")" "$(field loaded_per_s <<<"$j")" "$(field ratio <<<"$j")"
	[ "$(field state <<<"$j")" = "done" ] || echo "NOTE: the job ended in state $(field state <<<"$j"), not done"
done

m() { median <"$WORK/$1"; }
goal() { if [ "$(echo "$1" | bc -l)" = 1 ]; then echo met; else echo "NOT met"; fi; }
lat_ratio=$(ratio "$(m chk_p50_ms)" "$(m disc_p50_ms)")
echo
echo "medians over $REPS rounds               median      p90      min"
printf 'check, steps [iscsi] (ms)          %9.3f %8.3f %8.3f\n' "$(m chk_p50_ms)" "$(m chk_p90_ms)" "$(pct "$WORK/chk_min_ms" 0)"
printf 'libiscsi discovery (ms, baseline)  %9.3f %8.3f %8.3f\n' "$(m disc_p50_ms)" "$(m disc_p90_ms)" "$(pct "$WORK/disc_min_ms" 0)"
printf 'ratio check / libiscsi             %8.2fx   (median of the rounds %.2fx; goal < 2x: %s)\n' \
	"$lat_ratio" "$(m lat_ratio)" "$(goal "$lat_ratio < 2")"
printf 'check, all four steps (ms)         %9.3f %8.3f %8.3f   (for information)\n' "$(m full_p50_ms)" "$(m full_p90_ms)" "$(pct "$WORK/full_min_ms" 0)"
if [ -s "$WORK/chk_own" ]; then
	printf 'check [iscsi], its elapsed_ms (ms) %9.3f                     (as the daemon reports it)\n' "$(m chk_own)"
fi
printf 'HTTP floor, GET one record (ms)     %9.3f %8.3f %8.3f   (same client, keep-alive)\n' "$(m http_p50_ms)" "$(m http_p90_ms)" "$(pct "$WORK/http_min_ms" 0)"
printf 'job, %d black-holed portals, POST -> done  %8.0f ms   (goal < 1500 ms: %s)\n' \
	"$PORTALS" "$(m job_job_ms)" "$(goal "$(m job_job_ms) < 1500")"
printf 'GET /api/v1/ifaces, %d clients: idle %.0f/s, during the job %.0f/s, ratio %.2f   (goal >= 0.8: %s)\n' \
	"$THREADS" "$(m job_idle_per_s)" "$(m job_loaded_per_s)" "$(m job_ratio)" "$(goal "$(m job_ratio) >= 0.8")"
