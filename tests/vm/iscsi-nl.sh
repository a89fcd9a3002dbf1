#!/bin/bash
# SPDX-License-Identifier: MIT
# Guest side of vm.iscsi-nl (tests/vm/meson.build): the HBA ping request of the checks
# (engine/iscsi-nl.c) against the guest kernel's scsi_transport_iscsi, with iscsi_tcp loaded
# by tests/vm/initramfs-init. IFACED_BIN is build/server/iscsi-ifaced; the probe sits in
# build/tests/vm/.
set -euo pipefail
PROBE=${IFACED_BIN%/server/iscsi-ifaced}/tests/vm/iscsi-nl-probe
[ -x "$PROBE" ] || {
        echo "FAIL: no $PROBE"
        exit 1
}
if [ ! -e /sys/class/iscsi_transport/tcp/handle ]; then
        echo "FAIL: iscsi_tcp is not loaded in the guest (/sys/class/iscsi_transport/tcp)"
        exit 1
fi
exec "$PROBE"
