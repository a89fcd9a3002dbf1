#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/nics.sh: the NIC inventory with many links. In a network namespace of its own (deleted on
# exit) it makes N veth devices (N/2 pairs, one IPv4 address each, all up) and runs
# bench/nic-bench inside, which measures in the same go:
#   (a) taking a snapshot and walking it (what GET /api/v1/nics pays before JSON), median of WALKS;
#   (b) `ip link set X down` exec'd by the bench until a snapshot shows it, median of CHANGES
#       (and the same change by ioctl, without the process start);
#   (c) `ip -j addr`, output read whole, median of BASE runs: the baseline.
# Root only.   N=1000 CHANGES=50 BASE=10 BUILD=build bench/nics.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
CHANGES=${CHANGES:-50}
BASE=${BASE:-10}
WALKS=${WALKS:-1000}
BUILD=${BUILD:-build}
BIN=$BUILD/bench/nic-bench
[ -x "$BIN" ] || { echo "build first: ninja -C $BUILD bench/nic-bench" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run as root (network namespace)" >&2; exit 2; }
command -v ip >/dev/null || { echo "ip (iproute2) missing" >&2; exit 2; }

NS=nicbench$$
WORK=$(mktemp -d /tmp/nics-bench.XXXXXX)
cleanup() {
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

ip netns add "$NS"
{
	echo "link set lo up"
	for ((i = 0; i < N / 2; i++)); do
		echo "link add nb${i}a type veth peer name nb${i}b"
		echo "address add 10.$((i / 250 + 1)).$((i % 250)).1/24 dev nb${i}a"
		echo "link set nb${i}a up"
		echo "link set nb${i}b up"
	done
} >"$WORK/batch"
t0=$(date +%s%N)
ip -n "$NS" -batch "$WORK/batch"
t1=$(date +%s%N)

echo "iscsi-ifaced NIC inventory benchmark: $N veth devices, $(nproc) cores, $(uname -r), $(date -u +%FT%TZ)"
echo "setup: ip -batch made $((N / 2)) veth pairs in $(((t1 - t0) / 1000000)) ms"
ip netns exec "$NS" "$BIN" -x nb -w "$WALKS" -c "$CHANGES" -b "$BASE" | tee "$WORK/out"

start=$(grep '^op=start' "$WORK/out")
walk=$(grep '^op=walk' "$WORK/out")
chg=$(grep '^op=change-ip' "$WORK/out")
ioc=$(grep '^op=change-ioctl' "$WORK/out")
base=$(grep '^op=baseline' "$WORK/out")
nics=$(echo "$start" | field nics)
walk_us=$(echo "$walk" | field p50_us)
base_ms=$(echo "$base" | field p50_ms)
chg_ms=$(echo "$chg" | field p50_ms)
echo
echo "medians                                         iscsi-ifaced       ip -j addr (baseline)   ratio"
printf 'all %5d NICs: snapshot+walk, no JSON (ms)  %12.4f    %12.2f               %8.0fx\n' \
	"$nics" "$(echo "$walk_us / 1000" | bc -l)" "$base_ms" "$(echo "$base_ms * 1000 / $walk_us" | bc -l)"
printf "'ip link set X down' -> visible (ms)        %12.2f    (the ip process alone: %s ms)\n" \
	"$chg_ms" "$(echo "$chg" | field ip_process_p50_ms)"
printf 'ioctl SIOCSIFFLAGS down -> visible (ms)     %12.3f\n' "$(echo "$ioc" | field p50_ms)"
printf 'nic_monitor_new (dump + sysfs, ms)          %12.2f\n' "$(echo "$start" | field nic_monitor_new_ms)"

# The HTTP figure (GET /api/v1/nics against ip -j addr) is bench/nics-http.sh.
