#!/bin/bash
# SPDX-License-Identifier: MIT
# vm.systemd (tests/vm/meson.build): the Debian package run by systemd as PID 1 in the VM lane's
# guest (tests/vm/systemd.sh). Builds build-deb/iscsi-ifaced_*.deb first when it is missing or
# older than the sources (tests/package/deb.py --ensure, which runs ./dev.sh package), then runs
# tests/vm/vm-lane.sh --target with lane.init=systemd and the package's path. Arguments are the
# lines the guest must print. Exit codes as vm-lane.sh's (77: skip).
set -euo pipefail
HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)
SRC=$(cd "$HERE/../.." && pwd -P)
if [ "$(id -u)" != 0 ]; then
        echo "SKIP: needs root (the VM lane's target and dpkg in the guest)"
        exit 77
fi
out=$(SOURCE_ROOT=$SRC python3 "$SRC/tests/package/deb.py" --ensure | tee /dev/stderr)
DEB=${out##*$'\n'}
if [ ! -f "$DEB" ]; then
        echo "FAIL: no package to install in the guest ($DEB)"
        exit 1
fi
export IFACED_VM_ARGS="${IFACED_VM_ARGS:+$IFACED_VM_ARGS }init=systemd deb=$DEB"
exec "$HERE/vm-lane.sh" --target "$HERE/systemd.sh" "$@"
