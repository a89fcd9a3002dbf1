# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# What the shell tests of this suite share (config.sh, dbroot.sh, tls.sh, k8s-tokens.sh): PASS/FAIL
# lines with a failure count ($fails), a daemon started in the background on the port file
# $W/port, and requests through rcurl, whose answers are checked against openapi.yaml at the end
# (contract_verdict; tests/contract/record.sh). The sourcing script sets BIN (the daemon) and W (its
# temp dir), and kills $PID in its cleanup.

fails=0
PID=
# shellcheck source=tests/contract/record.sh
. "$(dirname "${BASH_SOURCE[0]}")/../contract/record.sh"
RCURL_DIR=$W

pass() { echo "PASS: $*"; }
fail() {
        echo "FAIL: $*"
        fails=$((fails + 1))
}

# start ARGS...: run "$BIN" ARGS with its output in $W/log and wait for $W/port (ARGS must
# include --port-file "$W/port"); returns 1 if it exited instead or did not come up in 4 s.
start() {
        rm -f "$W/port"
        "$BIN" "$@" >"$W/log" 2>&1 &
        PID=$!
        for _ in $(seq 200); do
                [ -s "$W/port" ] && return 0
                kill -0 "$PID" 2>/dev/null || {
                        wait "$PID" 2>/dev/null || true
                        PID=
                        return 1
                }
                sleep 0.02
        done
        return 1
}

stop() {
        kill "$PID"
        wait "$PID" 2>/dev/null || true
        PID=
}
