#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Developer entry point: install the Debian packages we need, build, run, test, benchmark.
# Works from any directory; everything happens in the directory of this script.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
ROOT=$PWD

# Debian 12 packages: build, libraries (libsystemd: sd_notify and socket activation), the Debian
# package's build and checks (debhelper, lintian, man-db; `package` and the package suite, which
# applies the unit's syscall filter with python3-seccomp), test tools (sqlite3 CLI, curl, iscsiadm
# from open-iscsi, unshare from util-linux, ip from iproute2), clang with its sanitizer runtime,
# python3-yaml and prometheus (promtool) for the lint suite's checks of packaging/, qemu, kmod and
# cpio for the vm suite (tests/vm/README.md), tgt and libiscsi-bin for the target suite
# (tests/target/README.md), chromium and a font for the ui suite (tests/ui/; node and npm: see
# apt_deps).
PACKAGES=(
        build-essential pkg-config meson ninja-build python3
        libmicrohttpd-dev libjansson-dev libsqlite3-dev libnl-3-dev libnl-route-3-dev libiscsi-dev
        libgnutls28-dev openssl zlib1g-dev libsystemd-dev
        debhelper lintian man-db python3-seccomp
        libcmocka-dev libcurl4-openssl-dev
        curl open-iscsi util-linux iproute2 sqlite3 valgrind
        clang libclang-rt-14-dev clang-format jq prometheus python3-yaml
        qemu-system-x86 kmod cpio
        tgt libiscsi-bin
        chromium fonts-dejavu-core
)

# Only for `bench`: bench/perf.sh computes its ratios with bc; bench/checks.sh builds its
# baseline (bench/iscsi-disc-bench) against libiscsi.
BENCH_PACKAGES=(bc libiscsi-dev)

# Suites run by `test`: all of them with gcc, unit again under valgrind, the C ones again under
# ASan+UBSan with clang. `usage` prints these lists, so change them here only.
GCC_SUITES=(unit integration lint compat crash vm target fault load ui package bench)
VALGRIND_SUITES=(unit)
ASAN_SUITES=(unit integration load)
NUM_PROCESSES=2
# `test` runs each libFuzzer target of tests/fuzz this long, in seconds; `fuzz` takes its own.
FUZZ_SECONDS=60

log() { printf 'dev.sh: %s\n' "$*" >&2; }
die() {
        log "error: $*"
        exit 1
}

# wrap PREFIX WORD...: PREFIX and the words, wrapped at 99 columns under the first word.
wrap() {
        local prefix=$1 line=$1 indent w next first=1
        shift

        indent=$(printf '%*s' "${#prefix}" '')
        for w in "$@"; do
                if [ "$first" = 1 ]; then
                        next=$line$w
                else
                        next="$line $w"
                fi
                if [ "$first" = 0 ] && [ ${#next} -gt 99 ]; then
                        printf '%s\n' "$line"
                        next=$indent$w
                fi
                line=$next
                first=0
        done
        printf '%s\n' "$line"
}

# The stages of `test` are printed from GCC_SUITES, VALGRIND_SUITES, ASAN_SUITES and
# FUZZ_SECONDS, the values cmd_test runs, so the help cannot fall behind.
usage() {
        cat <<'EOF'
usage: ./dev.sh COMMAND [ARGS...]

  deps          install missing Debian 12 packages (apt-get; as root or through sudo)
  build         deps, then configure and compile into build/
  run [ARGS]    build, then start the daemon on 127.0.0.1:${PORT:-8080} with its state in
                ./.state; ARGS are passed on to iscsi-ifaced
  test          deps, then these stages; a summary line each, non-zero if any failed:
EOF
        wrap "                  gcc -Werror (build/): " "${GCC_SUITES[@]}"
        wrap "                  valgrind (build/): " "${VALGRIND_SUITES[@]}"
        wrap "                  clang ASan+UBSan -Werror (build-asan/): " "${ASAN_SUITES[@]}"
        wrap "                  clang libFuzzer (build-fuzz/): " \
                every target of tests/fuzz for "$FUZZ_SECONDS" s
        cat <<EOF
  bench         build, then run bench/perf.sh (issue 15's table; N=10000 BIG=100000 REPS=3
                ./dev.sh bench sets its size), bench/nics-http.sh and bench/checks.sh (their own
                defaults); bench/run.sh alone compares with an older build (OLD_BIN)
  bench-vm      build, then bench/vm-login.sh in the kernel VM lane against its target (root):
                login to a ready block device through the API against iscsiadm --login and a
                sysfs wait, medians and their ratio (ROUNDS=5 ./dev.sh bench-vm)
  fuzz [SECONDS] [TARGET...]
                clang libFuzzer build (build-fuzz/), then tests/fuzz/run.sh: each fuzz target
                (default all) for SECONDS (default 600); \`test\` runs them all for $FUZZ_SECONDS s
  package       apt deps, then the Debian package from the working tree into build-deb/
                (dpkg-buildpackage -us -uc -b in a copy), checked with lintian --fail-on
                error,warning,info and man --warnings; the package suite installs it
  clean         remove the build directories and ./.state
EOF
}

# Run a command as root: directly, through sudo, or not at all.
as_root() {
        if [ "$(id -u)" -eq 0 ]; then
                "$@"
        elif command -v sudo >/dev/null 2>&1; then
                sudo "$@"
        else
                die "installing packages needs root: run as root, or install and configure sudo"
        fi
}

# cmd_deps [EXTRA PACKAGES...]: install what is missing of PACKAGES and the extras, node and npm
# if their commands are missing, then tests/ui/node_modules and tests/contract/node_modules (npm
# ci, from each lock file).
cmd_deps() {
        apt_deps "$@"
        if ! tests/ui/npm-ci.sh; then
                log "warning: npm ci in tests/ui failed: the ui suite will try again (and fail)"
        fi
        if ! tests/contract/npm-ci.sh; then
                log "warning: npm ci in tests/contract failed: the lint and integration suites" \
                        "check answers against openapi.yaml with it, and will fail"
        fi
}

# apt_deps [EXTRA PACKAGES...]: PACKAGES and the extras, and the ui suite's driver: Debian's
# nodejs and npm, each only when its command is missing (a node from elsewhere, e.g.
# NodeSource's, brings its own npm, which Debian's npm package would conflict with).
apt_deps() {
        local want=("${PACKAGES[@]}" "$@") installed missing=() p

        if ! command -v node >/dev/null 2>&1; then
                want+=(nodejs)
        fi
        if ! command -v npm >/dev/null 2>&1; then
                want+=(npm)
        fi

        if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
                log "warning: not a Debian system; make sure these are installed: ${want[*]}"
                return 0
        fi

        # One dpkg-query for all; unknown packages print nothing on stdout.
        installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${want[@]}" 2>/dev/null |
                awk '$2 == "installed" { print $1 }' || true)
        for p in "${want[@]}"; do
                if ! grep -qx -- "$p" <<<"$installed"; then
                        missing+=("$p")
                fi
        done
        if [ ${#missing[@]} -eq 0 ]; then
                return 0
        fi

        log "installing: ${missing[*]}"
        as_root apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y --no-install-recommends "${missing[@]}"
}

# The C compiler family a configured build directory uses ("gcc", "clang"), or "" if unknown.
build_compiler() {
        local logf="$1/meson-logs/meson-log.txt"

        [ -f "$logf" ] || return 0
        sed -n 's/^C compiler for the host machine: [^ ]* (\([a-z]*\).*/\1/p' "$logf" | head -n 1
}

# setup_dir DIR CC [MESON OPTIONS...]: configure DIR with compiler CC, or reconfigure it with
# the given options if it is already configured with that compiler family.
setup_dir() {
        local dir=$1 cc=$2 have
        shift 2

        if [ -f "$dir/meson-private/coredata.dat" ]; then
                have=$(build_compiler "$dir")
                if [ -n "$have" ] && [ "$have" != "$cc" ]; then
                        log "$dir was configured with $have, not $cc: wiping it"
                        CC=$cc meson setup --wipe "$dir" "$@"
                        return
                fi
                if ! meson setup --reconfigure "$dir" "$@"; then
                        log "reconfiguring $dir failed: wiping it"
                        CC=$cc meson setup --wipe "$dir" "$@"
                fi
                return
        fi

        rm -rf "$dir"
        CC=$cc meson setup "$dir" "$@"
}

cmd_build() {
        cmd_deps
        setup_dir build gcc
        ninja -C build
}

cmd_run() {
        local port=${PORT:-8080} token_file=.state/admin.token

        cmd_build
        mkdir -p .state/iscsi .state/lock
        chmod 0700 .state .state/iscsi .state/lock
        # Auth is on: make one admin token for this checkout, kept 0600 in .state (the daemon
        # stores only its hash).
        if [ ! -s "$token_file" ]; then
                (umask 077 && build/server/iscsi-ifaced token create --role admin --name dev.sh \
                        --db "$ROOT/.state/ifaced.db" >"$token_file")
        fi
        printf 'iscsi-ifaced on http://127.0.0.1:%s/\n' "$port"
        printf '  token:   export TOKEN=$(cat %s/%s)   # then: curl -H "Authorization: Bearer $TOKEN" ...\n' \
                "$ROOT" "$token_file"
        printf '  web UI:  http://127.0.0.1:%s/ (paste the token)\n' "$port"
        printf '  health:  http://127.0.0.1:%s/api/v1/health\n' "$port"
        printf '  ifaces:  http://127.0.0.1:%s/api/v1/ifaces\n' "$port"
        printf '  state:   %s/.state (Ctrl-C stops the daemon)\n' "$ROOT"
        exec build/server/iscsi-ifaced \
                --listen "127.0.0.1:$port" \
                --iscsi-root "$ROOT/.state/iscsi" \
                --db "$ROOT/.state/ifaced.db" \
                --lock-dir "$ROOT/.state/lock" \
                --web-root "$ROOT/web" \
                "$@"
}

# Suites that have at least one test in a configured build directory, one per line.
suites_present() {
        meson introspect --tests "$1" | python3 -c '
import json, sys
seen = set()
for t in json.load(sys.stdin):
        for s in t.get("suite", []):
                seen.add(s.split(":", 1)[-1])      # "project:suite" -> "suite"
print("\n".join(sorted(seen)))
'
}

# "P F S": passed, failed and skipped tests of the last `meson test` in a build directory.
test_counts() {
        python3 - "$1/meson-logs/testlog.json" <<'EOF'
import json, sys
p = f = s = 0
try:
        lines = open(sys.argv[1]).read().splitlines()
except OSError:
        lines = []
for line in lines:
        try:
                r = json.loads(line).get("result", "")
        except ValueError:
                continue
        if r in ("OK", "EXPECTEDFAIL"):
                p += 1
        elif r == "SKIP":
                s += 1
        else:
                f += 1
print(p, f, s)
EOF
}

SUMMARY=()
FAILED=0
TOTAL_P=0
TOTAL_F=0
TOTAL_S=0

stage_result() {
        SUMMARY+=("$(printf '%-4s  %s' "$1" "$2")")
        if [ "$1" = FAIL ]; then
                FAILED=1
        fi
        log "stage: $1 $2"
}

# run_suites LABEL DIR SUITE...: run the suites of DIR that have tests.
run_suites() {
        local label=$1 dir=$2 present s args=() ran=() absent=() rc=0 p f sk note=""
        shift 2

        if ! present=$(suites_present "$dir"); then
                stage_result FAIL "$label tests: cannot list the tests of $dir"
                return
        fi
        for s in "$@"; do
                if grep -qx -- "$s" <<<"$present"; then
                        args+=(--suite "$s")
                        ran+=("$s")
                else
                        absent+=("$s")
                fi
        done
        if [ ${#absent[@]} -gt 0 ]; then
                note=" (no tests defined: ${absent[*]})"
        fi
        if [ ${#ran[@]} -eq 0 ]; then
                stage_result FAIL "$label tests: none of the suites $* has a test$note"
                return
        fi

        rm -f "$dir/meson-logs/testlog.json"
        meson test -C "$dir" --no-rebuild --num-processes "$NUM_PROCESSES" --print-errorlogs \
                "${args[@]}" || rc=$?
        read -r p f sk < <(test_counts "$dir")
        TOTAL_P=$((TOTAL_P + p))
        TOTAL_F=$((TOTAL_F + f))
        TOTAL_S=$((TOTAL_S + sk))
        if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then
                stage_result FAIL "$label tests [${ran[*]}]: $p passed, $f failed, $sk skipped, rc $rc$note"
        else
                stage_result PASS "$label tests [${ran[*]}]: $p passed, $f failed, $sk skipped$note"
        fi
}

# build_stage LABEL DIR CC [MESON OPTIONS...]: configure and compile; 0 if it built.
build_stage() {
        local label=$1 dir=$2 cc=$3
        shift 3

        if ! setup_dir "$dir" "$cc" "$@"; then
                stage_result FAIL "$label configure ($dir)"
                return 1
        fi
        if ! ninja -C "$dir"; then
                stage_result FAIL "$label build ($dir)"
                return 1
        fi
        stage_result PASS "$label build ($dir)"
}

# fuzz_build: configure and compile build-fuzz/, the libFuzzer build of tests/fuzz (clang,
# ASan+UBSan, engine and api instrumented for coverage); 0 if it built.
fuzz_build() {
        build_stage "clang libFuzzer" build-fuzz clang -Dfuzz=enabled \
                -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link
}

# fuzz_stage SECONDS: build-fuzz/, then every fuzz target for SECONDS (tests/fuzz/run.sh).
fuzz_stage() {
        local secs=$1 out rc=0 total

        if ! fuzz_build; then
                stage_result SKIP "fuzz (build failed)"
                return
        fi
        out=$(mktemp)
        bash tests/fuzz/run.sh "$secs" | tee "$out" || rc=$?
        total=$(sed -n 's/^total: //p' "$out" | tail -n 1)
        rm -f "$out"
        if [ "$rc" -eq 0 ]; then
                stage_result PASS "fuzz [${secs}s per target]: $total"
        else
                stage_result FAIL "fuzz [${secs}s per target]: ${total:-run.sh exit $rc} (crash files above)"
        fi
}

# run_valgrind DIR: VALGRIND_SUITES of DIR under memcheck (setup `valgrind`, tests/meson.build).
run_valgrind() {
        local dir=$1 rc=0 p f sk log=$1/meson-logs/testlog-valgrind.json s args=()

        for s in "${VALGRIND_SUITES[@]}"; do
                args+=(--suite "$s")
        done
        rm -f "$log"
        meson test -C "$dir" --no-rebuild --num-processes "$NUM_PROCESSES" --print-errorlogs \
                --setup valgrind "${args[@]}" || rc=$?
        p=$(jq -s '[.[] | select(.result == "OK")] | length' "$log" 2>/dev/null || echo 0)
        sk=$(jq -s '[.[] | select(.result == "SKIP")] | length' "$log" 2>/dev/null || echo 0)
        f=$(jq -s '[.[] | select(.result != "OK" and .result != "SKIP")] | length' "$log" \
                2>/dev/null || echo 0)
        TOTAL_P=$((TOTAL_P + p))
        TOTAL_F=$((TOTAL_F + f))
        TOTAL_S=$((TOTAL_S + sk))
        if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ] || [ "$p" -eq 0 ]; then
                stage_result FAIL "valgrind tests [${VALGRIND_SUITES[*]}]: $p passed, $f failed, $sk skipped, rc $rc"
        else
                stage_result PASS "valgrind tests [${VALGRIND_SUITES[*]}]: $p passed, $f failed, $sk skipped"
        fi
}

cmd_test() {
        local line

        export ASAN_OPTIONS=detect_leaks=1
        export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

        if cmd_deps; then
                stage_result PASS "deps"
        else
                stage_result FAIL "deps (apt-get)"
        fi

        if build_stage "gcc -Werror" build gcc -Dwerror=true; then
                run_suites "gcc" build "${GCC_SUITES[@]}"
                run_valgrind build
        else
                stage_result SKIP "gcc tests (build failed)"
        fi

        if build_stage "clang ASan+UBSan -Werror" build-asan clang \
                -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug -Dwerror=true; then
                run_suites "clang ASan+UBSan" build-asan "${ASAN_SUITES[@]}"
        else
                stage_result SKIP "clang ASan+UBSan tests (build failed)"
        fi

        fuzz_stage "$FUZZ_SECONDS"

        echo
        echo "dev.sh test summary"
        for line in "${SUMMARY[@]}"; do
                echo "  $line"
        done
        echo "total: $TOTAL_P passed, $TOTAL_F failed, $TOTAL_S skipped"
        return "$FAILED"
}

cmd_bench() {
        cmd_deps "${BENCH_PACKAGES[@]}"
        cmd_build
        # A build dir configured before libiscsi-dev was installed lacks the checks baseline.
        if [ ! -x build/bench/iscsi-disc-bench ]; then
                meson setup --reconfigure build >/dev/null
                ninja -C build
        fi
        [ $# = 0 ] || die "bench takes no arguments: its settings are environment variables"
        bash bench/perf.sh
        echo
        # N and REPS are perf.sh's: the N of the others counts veths and checks, not records.
        env -u N -u REPS bash bench/nics-http.sh
        echo
        exec env -u N -u REPS bash bench/checks.sh
}

# cmd_bench_vm: bench/vm-login.sh in the guest of tests/vm/vm-lane.sh --target (tests/vm/README.md).
cmd_bench_vm() {
        cmd_deps
        cmd_build
        IFACED_BIN=build/server/iscsi-ifaced IFACED_VM_ARGS="rounds=${ROUNDS:-5}" \
                exec tests/vm/vm-lane.sh --target bench/vm-login.sh 'PASS: bench done'
}

# cmd_fuzz [SECONDS] [TARGET...]: long manual fuzz runs, SECONDS per target (default 600).
cmd_fuzz() {
        cmd_deps
        fuzz_build || die "the libFuzzer build (build-fuzz/) failed"
        exec bash tests/fuzz/run.sh "${1:-600}" "${@:2}"
}

# cmd_package: the .deb of debian/ from the working tree (tracked and untracked files that git
# does not ignore) in build-deb/src, the package files in build-deb/; then lintian and the man
# page's check. build-deb/iscsi-ifaced_*.deb is what tests/package/deb.sh installs.
cmd_package() {
        local out=build-deb t0 deb

        apt_deps
        command -v git >/dev/null 2>&1 || die "package: git is needed to list the source files"
        rm -rf "$out"
        mkdir -p "$out/src"
        git ls-files -z --cached --others --exclude-standard |
                tar -C "$ROOT" --null -T - -cf - | tar -C "$out/src" -xf -
        t0=$(date +%s)
        (cd "$out/src" && dpkg-buildpackage -us -uc -b -J) >"$out/build.log" 2>&1 ||
                { tail -n 40 "$out/build.log" >&2; die "package: dpkg-buildpackage failed ($out/build.log)"; }
        log "package: dpkg-buildpackage took $(($(date +%s) - t0)) s"
        rm -rf "$out/src"
        lintian --fail-on error,warning,info --display-info "$out"/iscsi-ifaced_*.changes ||
                die "package: lintian found problems (above)"
        if MANWIDTH=80 man --warnings -E UTF-8 -l packaging/iscsi-ifaced.8 2>&1 >/dev/null |
                grep .; then
                die "package: man --warnings complains about packaging/iscsi-ifaced.8 (above)"
        fi
        deb=$(ls "$out"/iscsi-ifaced_*.deb)
        log "package: $deb"
}

cmd_clean() {
        local d

        for d in build build-* .state; do
                if [ -e "$d" ]; then
                        log "removing $d"
                        rm -rf -- "$d"
                fi
        done
}

main() {
        local cmd=${1:-}

        if [ $# -gt 0 ]; then
                shift
        fi
        case $cmd in
        deps) cmd_deps ;;
        build) cmd_build ;;
        run) cmd_run "$@" ;;
        test) cmd_test ;;
        bench) cmd_bench "$@" ;;
        bench-vm) cmd_bench_vm ;;
        fuzz) cmd_fuzz "$@" ;;
        package) cmd_package ;;
        clean) cmd_clean ;;
        -h | --help | help)
                usage
                ;;
        "")
                usage
                exit 2
                ;;
        *)
                usage >&2
                die "unknown command '$cmd'"
                ;;
        esac
}

main "$@"
