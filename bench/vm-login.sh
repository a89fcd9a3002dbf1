#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/vm-login.sh: runs inside the guest of `tests/vm/vm-lane.sh --target` (./dev.sh bench-vm).
# Time to a ready block device, N rounds each, alternating:
#   api       POST /api/v1/sessions {"binding": ...}: the answer (201) comes when the LUN's
#             block device and its node exist (docs/sessions.md); then DELETE /api/v1/sessions/{sid}
#   iscsiadm  iscsiadm -m node -T ... -p ... -I lane1 --login, then a 10 ms sysfs poll until
#             the session's block device has its node in /dev; then iscsiadm --logout
# Both use the same node record (written by the daemon's discovery, bound to eth1) and the same
# target; the wall time of each includes the cost of starting curl or iscsiadm (curl, with its
# TLS libraries, costs far more to start under TCG). Prints both medians and their ratio, the
# API's also by curl's own time_total (what a client that is already running waits), what
# starting curl costs, and the logout medians.
#   lane values: lane.rounds=N (ROUNDS=9 ./dev.sh bench-vm; default 5)
set -euo pipefail
HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)
# shellcheck source=../tests/vm/target-guest.sh
. "$HERE/../tests/vm/target-guest.sh"
ROUNDS=${LANE[rounds]:-5}
W=$(mktemp -d /tmp/vm-login.XXXXXX)
trap 'daemon_stop || true' EXIT
die() {
        echo "FAIL: $*"
        [ ! -s "$W/d/daemon.log" ] || tail -n 20 "$W/d/daemon.log" | sed 's/^/    | /'
        exit 1
}

guest_net_up || die "network setup"
guest_iscsid_up || die "iscsid did not start"
daemon_start "$W/d" || die "the daemon did not start"
body "$W/b" '{"name": "lane1", "transport_name": "tcp", "net_ifacename": "eth1"}'
api "$W/if" POST /api/v1/ifaces "$W/b"
[ "$CODE" = 201 ] || die "POST /api/v1/ifaces -> $CODE"
body "$W/b" "{\"portal\": \"$PORTAL\", \"ifaces\": [\"lane1\"], \"bind\": true}"
api "$W/disc" POST /api/v1/discovery "$W/b"
[ "$CODE" = 200 ] || die "POST /api/v1/discovery -> $CODE"
BID="$IQN_OPEN,$VIP,$PORT,1,lane1"
echo "bench: $ROUNDS rounds each, target $IQN_OPEN at $PORTAL,1 through lane1 (eth1)"

declare -a T_API=() T_ADM=() L_API=() L_ADM=() C_API=() CL_API=() H=()
API=1
for ((r = 1; r <= ROUNDS; r++)); do
        # iscsiadm: login, then wait for the block device node
        # what starting curl costs: a GET of /api/v1/health, wall time less curl's own time_total
        t0=$(now_ms)
        api "$W/health" GET /api/v1/health
        H+=($(($(now_ms) - t0 - MS)))
        t0=$(now_ms)
        iscsiadm -m node -T "$IQN_OPEN" -p "$PORTAL,1" -I lane1 --login >"$W/adm.out" 2>&1 ||
                die "iscsiadm --login: $(tr '\n' ' ' <"$W/adm.out")"
        dev=$(wait_disk "$IQN_OPEN" 30) || die "iscsiadm round $r: no block device within 30 s"
        t1=$(now_ms)
        T_ADM+=($((t1 - t0)))
        iscsiadm -m node -T "$IQN_OPEN" -p "$PORTAL,1" -I lane1 --logout >"$W/adm.out" 2>&1 ||
                die "iscsiadm --logout: $(tr '\n' ' ' <"$W/adm.out")"
        L_ADM+=($(($(now_ms) - t1)))
        [ "$(sysfs_sessions)" = 0 ] || die "a session left after iscsiadm --logout"
        echo "round $r: iscsiadm login to /dev/$dev ${T_ADM[-1]} ms, logout ${L_ADM[-1]} ms"

        [ "$API" = 1 ] || continue
        body "$W/b" "{\"binding\": \"$BID\"}"
        t0=$(now_ms)
        api "$W/login" POST /api/v1/sessions "$W/b"
        t1=$(now_ms)
        if [ "$CODE" != 201 ]; then
                if [ "$r" = 1 ] && { [ "$CODE" = 404 ] || [ "$CODE" = 405 ]; }; then
                        echo "NOTE: POST /api/v1/sessions -> $CODE: this daemon has no login API; iscsiadm only"
                        API=0
                        continue
                fi
                die "POST /api/v1/sessions round $r -> $CODE (want 201): $(head -c 600 "$W/login")"
        fi
        C_API+=("$MS")
        read -r sid dev < <(jq -r '"\(.sid) \(first(.luns[] | select(.block != null) | .block) // "")"' "$W/login") || die "login answer: $(head -c 600 "$W/login")"
        [ -b "/dev/$dev" ] || die "api round $r: answered with block '$dev', which is no block device"
        T_API+=($((t1 - t0)))
        t0=$(now_ms)
        api "$W/logout" DELETE "/api/v1/sessions/$sid"
        L_API+=($(($(now_ms) - t0)))
        CL_API+=("$MS")
        [ "$CODE" = 204 ] || die "DELETE /api/v1/sessions/$sid -> $CODE: $(head -c 600 "$W/logout")"
        [ "$(sysfs_sessions)" = 0 ] || die "a session left after DELETE /api/v1/sessions/$sid"
        echo "round $r: api login to /dev/$dev ${T_API[-1]} ms (curl's time_total ${C_API[-1]} ms), logout ${L_API[-1]} ms (${CL_API[-1]} ms)"
done

ma=$(median "${T_ADM[@]}")
la=$(median "${L_ADM[@]}")
echo "BENCH iscsiadm login to a ready device: median $ma ms over $ROUNDS (${T_ADM[*]}); logout median $la ms"
if [ "$API" = 1 ]; then
        mp=$(median "${T_API[@]}")
        lp=$(median "${L_API[@]}")
        cp=$(median "${C_API[@]}")
        clp=$(median "${CL_API[@]}")
        h=$(median "${H[@]}")
        echo "BENCH api login to a ready device, wall time with curl's start: median $mp ms over $ROUNDS (${T_API[*]}); logout median $lp ms"
        echo "BENCH api login to a ready device, curl's time_total (a client already running): median $cp ms (${C_API[*]}); logout median $clp ms"
        echo "BENCH starting curl costs $h ms (median, GET /api/v1/health wall less time_total)"
        echo "BENCH ratio api/iscsiadm: login $((mp * 100 / ma))% wall, $((cp * 100 / ma))% by time_total; logout $((lp * 100 / la))% wall, $((clp * 100 / la))% by time_total"
fi
daemon_stop || die "the daemon did not stop on SIGTERM within 5 s"
echo "PASS: bench done"
