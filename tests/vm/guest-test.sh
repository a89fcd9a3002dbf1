#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs inside the tests/vm guest (started by tests/vm/initramfs-init): readies loopback and
# /run/netns, runs the test script named by "lane.test=" with IFACED_BIN from "lane.bin=", and
# reports each line of its output ("<tag> out LINE") and its exit code ("<tag> rc=N") on the
# console for tests/vm/vm-lane.sh.
# Every exec of a dynamically linked binary costs 0.1-0.4 s under TCG, so this sticks to builtins.
set -euo pipefail

declare -A A=()
read -r -a CMDLINE </proc/cmdline
for kv in "${CMDLINE[@]}"; do
        if [[ $kv == lane.*=* ]]; then
                k=${kv%%=*}
                A[${k#lane.}]=${kv#*=}
        fi
done
TAG=${A[tag]:-VMLANE}
rc=125 # reported if the setup below fails

up() {
        local u
        read -r u _ </proc/uptime
        echo "$u"
}
say() { echo "$TAG guest $* t=$(up)"; }
report() { echo "$TAG rc=$rc t=$(up)"; }
trap report EXIT

TEST=${A[test]:?no lane.test= on the kernel command line}
export IFACED_BIN=${A[bin]:?no lane.bin= on the kernel command line}
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export TMPDIR=/tmp HOME=/root LANG=C.UTF-8
# Under TCG every process start costs tens of ms, so the polls of curl | jq alone take most of
# a second: the host lane holds the 1 s deadline, this lane checks what the kernel shows.
export NICS_DEADLINE_MS=10000
read -r KREL </proc/sys/kernel/osrelease
say "start kernel=$KREL"

# / is the host's, under a tmpfs overlay, and /run a fresh tmpfs (tests/vm/initramfs-init);
# `ip netns add` wants /run/netns.
mkdir -p /run/netns /run/lock
# devtmpfs has no /dev/fd: bash's process substitution <(...) needs it.
if [ ! -e /dev/fd ]; then
        ln -s /proc/self/fd /dev/fd
        ln -s /proc/self/fd/0 /dev/stdin
        ln -s /proc/self/fd/1 /dev/stdout
        ln -s /proc/self/fd/2 /dev/stderr
fi
ip link set lo up
cd /

say "test-start ${TEST}"
set +e
bash "$TEST" 2>&1 | while IFS= read -r line; do printf '%s out %s\n' "$TAG" "$line"; done
st=("${PIPESTATUS[@]}")
set -e
rc=${st[0]}
say "test-end rc=$rc"
