#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the libFuzzer targets of tests/fuzz one after another, each for SECONDS (default 60), on a
# temporary copy of its seed corpus tests/fuzz/corpus/TARGET/ plus, read only, the regression
# inputs tests/fuzz/regressions/TARGET/: new corpus files never land in the source tree. Prints
# the executions of each target; exits 1 if any target crashed, leaked, timed out (-timeout=10)
# or went over -rss_limit_mb=2048, printing its crash file (kept under
# $BUILD_DIR/fuzz-artifacts/TARGET/, with the log of the run). Exit 77 if no target is built.
#
# usage: tests/fuzz/run.sh [SECONDS] [TARGET...]   (default: every target with a seed corpus)
# env:   BUILD_DIR    the -Dfuzz=enabled build (default: build-fuzz/ in the source root, as
#                     ./dev.sh fuzz configures it); its targets are brought up to date first
#        FUZZ_ARGS    more libFuzzer arguments, e.g. FUZZ_ARGS='-use_value_profile=1'
#        KEEP_CORPUS  1: keep the grown corpora (their paths are printed)
set -euo pipefail

root=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../..
root=$(readlink -f "$root")
build=$(readlink -f "${BUILD_DIR:-$root/build-fuzz}")
here=$root/tests/fuzz

log() { printf 'run.sh: %s\n' "$*" >&2; }

secs=${1:-60}
if [ $# -gt 0 ]; then
        shift
fi
case $secs in
'' | *[!0-9]*)
        log "usage: tests/fuzz/run.sh [SECONDS] [TARGET...] (SECONDS is a whole number)"
        exit 2
        ;;
esac

explicit=0
targets=("$@")
if [ ${#targets[@]} -gt 0 ]; then
        explicit=1
else
        for d in "$here"/corpus/*/; do
                targets+=("$(basename "$d")")
        done
fi

# UBSan only reports and goes on unless told to stop; a finding must be a crash.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

if [ ! -f "$build/build.ninja" ]; then
        log "$build is not configured; ./dev.sh fuzz configures it (CC=clang, -Dfuzz=enabled)"
        exit 77
fi

built=()
for t in "${targets[@]}"; do
        if [ ! -d "$here/corpus/$t" ]; then
                log "unknown target '$t' (no tests/fuzz/corpus/$t/)"
                exit 2
        fi
        if ninja -C "$build" -t query "tests/fuzz/$t" >/dev/null 2>&1; then
                built+=("$t")
        elif [ "$explicit" -eq 1 ]; then
                log "$t is not a target of $build (configured with -Dfuzz=enabled?)"
                exit 2
        else
                log "$t: not a target of $build, skipped"
        fi
done
if [ ${#built[@]} -eq 0 ]; then
        log "no fuzz target in $build (configure it with -Dfuzz=enabled)"
        exit 77
fi
# one ninja at a time in a build directory: two runs may start together
flock "$build/.fuzz-build.lock" ninja -C "$build" "${built[@]/#/tests/fuzz/}" >/dev/null

tmp=$(mktemp -d "${TMPDIR:-/tmp}/iscsi-ifaced-fuzz.XXXXXX")
cleanup() {
        if [ "${KEEP_CORPUS:-0}" != 1 ]; then
                rm -rf -- "$tmp"
        fi
}
trap cleanup EXIT

results=()
failed=0
total=0
for t in "${built[@]}"; do
        work=$tmp/$t
        art=$build/fuzz-artifacts/$t
        mkdir -p "$work/corpus" "$art"
        cp -- "$here/corpus/$t"/* "$work/corpus/"
        dirs=("$work/corpus")
        if [ -d "$here/regressions/$t" ]; then
                dirs+=("$here/regressions/$t")
        fi
        extra=()
        if [ -f "$here/dict/$t.dict" ]; then
                extra+=("-dict=$here/dict/$t.dict")
        fi
        # shellcheck disable=SC2206 # FUZZ_ARGS is split on purpose
        extra+=(${FUZZ_ARGS:-})

        log "$t: ${secs}s"
        rc=0
        "$build/tests/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
                -print_final_stats=1 -artifact_prefix="$art/" "${extra[@]}" "${dirs[@]}" \
                >"$art/last.log" 2>&1 || rc=$?

        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$art/last.log" | tail -n 1)
        execs=${execs:-0}
        total=$((total + execs))
        if [ "$rc" -eq 0 ]; then
                result=ok
        else
                failed=$((failed + 1))
                result="FAILED (exit $rc)"
                log "$t failed (exit $rc); the end of its log ($art/last.log):"
                tail -n 60 "$art/last.log" >&2
                while read -r f; do
                        log "$t: crash file: $f"
                        result="$result, crash file $f"
                done < <(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$art/last.log")
        fi
        if [ "${KEEP_CORPUS:-0}" = 1 ]; then
                log "$t: corpus kept in $work/corpus"
        fi
        results+=("$(printf '%-18s %6ss %12s executions %9s/s  %s' "$t" "$secs" "$execs" \
                $((secs > 0 ? execs / secs : execs)) "$result")")
done

echo "fuzz summary (tests/fuzz/run.sh $secs)"
for line in "${results[@]}"; do
        echo "  $line"
done
echo "total: ${#built[@]} targets, $total executions, $failed failed"
[ "$failed" -eq 0 ]
