#!/bin/bash
# SPDX-License-Identifier: MIT
# compat.offload: the offload iface files the real `iscsiadm -m iface` (open-iscsi 2.1.8) creates
# for a sysfs tree, against the records engine/hba.c derives from the same tree, byte for byte.
#
# For each tree of tests/fixtures/sysfs, inside a private mount and network namespace: a fresh
# temp dir is bind-mounted over /etc/iscsi (and /var/lib/iscsi when it exists), a tmpfs over
# /run/lock, and a copy of the tree over /sys; `iscsiadm -m iface` then writes ifaces/ (SPEC.md
# §4.2 path 1). offload-dump prints our records for the copy. Nothing on the host is touched; the
# network namespace keeps libopeniscsiusr from looking at (and loading modules for) host NICs.
#
# Most trees must give identical files. Where iscsiadm does what we deliberately do not (see
# engine/hba.c above kattrs[]), the tree's check below says what is expected of each side:
#   tcp      iscsiadm also writes tcp.<mac>.ipv4.0 for a software host whose hwaddress iscsid set
#            (libopeniscsiusr does not look at the transport); we write offload records only.
#   garbled  iscsiadm stops at host23 (no proc_name) and writes nothing for hosts after it in
#            alphasort order; it names a file after host21's binary hwaddress; it copies junk
#            bytes into values; and it writes "ipaddress = default" into an IPv4 record. We skip
#            the unreadable hosts and values only, and leave that placeholder address unset.
#
# usage: compat-offload.sh OFFLOAD_DUMP   (meson passes the built tests/compat/offload-dump)
# Environment: SOURCE_ROOT (set by meson); COMPAT_OFFLOAD_SAVE=DIR also copies iscsiadm's files
# of each tree to DIR/<tree>/ (how tests/fixtures/sysfs/expected/ was made).
# Exit: 0 all PASS, 1 a FAIL, 77 skip (not root, no iscsiadm 2.1.8, no unshare), 99 harness error.
set -euo pipefail
export LC_ALL=C

TREES=(b01 tcp bnx2i cxgb4i qla4xxx be2iscsi qedi garbled)

skip() {
        echo "SKIP: $*"
        exit 77
}

harness_fail() {
        echo "harness error: $*" >&2
        exit 99
}

# --- outside the namespace: prerequisites, the temp dir, then re-run inside ---------------------
if [ "${COMPAT_INNER:-}" != 1 ]; then
        [ "$EUID" = 0 ] || skip "needs root (bind mounts over /etc/iscsi, /run/lock and /sys)"
        command -v iscsiadm >/dev/null || skip "iscsiadm is not installed (Debian: open-iscsi)"
        for tool in unshare cmp awk; do
                command -v "$tool" >/dev/null || skip "$tool is not installed"
        done
        version=$(iscsiadm --version 2>/dev/null | awk '{print $3}')
        [ "$version" = 2.1.8 ] ||
                skip "iscsiadm is '$version'; the files under test are those of 2.1.8"
        [ -d /etc/iscsi ] || skip "/etc/iscsi does not exist: this iscsiadm uses another db root"
        unshare -m -n --propagation private true 2>/dev/null ||
                skip "cannot create a private mount and network namespace (unshare -m -n)"
        if [ $# -ne 1 ] || [ ! -x "$1" ]; then
                harness_fail "usage: $0 OFFLOAD_DUMP (run through meson test)"
        fi
        if [ -z "${SOURCE_ROOT:-}" ] || [ ! -d "$SOURCE_ROOT/tests/fixtures/sysfs" ]; then
                harness_fail "SOURCE_ROOT does not hold tests/fixtures/sysfs (run through meson test)"
        fi

        WORK=$(mktemp -d "${TMPDIR:-/tmp}/compat-offload.XXXXXX")
        trap 'rm -rf "$WORK"' EXIT
        trap 'exit 130' INT TERM HUP

        rc=0
        COMPAT_INNER=1 COMPAT_WORK="$WORK" OFFLOAD_DUMP=$(readlink -f "$1") \
                unshare -m -n --propagation private bash "$0" "$@" || rc=$?
        exit "$rc"
fi

# --- inside the namespace -----------------------------------------------------------------------
WORK=$COMPAT_WORK
FIXTURES=$SOURCE_ROOT/tests/fixtures/sysfs
PASSES=0
FAILS=0

pass() {
        echo "PASS: $*"
        PASSES=$((PASSES + 1))
}

fail() {
        echo "FAIL: $*"
        FAILS=$((FAILS + 1))
}

show_diff() {
        diff -u --label "$1" --label "$2" "$3" "$4" | head -n 40 | sed 's/^/    /' || true
}

# names DIR: the file names in DIR, one per line, sorted, non-printable bytes as \ooo (ls -b).
names() {
        # shellcheck disable=SC2012 # ls -b is wanted: it escapes the junk bytes of a name
        ls -1b "$1" 2>/dev/null | sort
}

mount -t tmpfs -o mode=1777 tmpfs /run/lock

# run_tree TREE: our records into $T/ours/, iscsiadm's files into $T/db/ifaces/.
run_tree() {
        local tree=$1 rc=0
        T=$WORK/$tree
        mkdir -p "$T/db" "$T/ours"
        cp -a "$FIXTURES/$tree" "$T/sys"
        echo "InitiatorName=iqn.2024-01.test.compat:offload" >"$T/db/initiatorname.iscsi"
        chmod 600 "$T/db/initiatorname.iscsi"
        if [ -f /etc/iscsi/iscsid.conf ]; then
                sed 's|^iscsid.startup = .*|iscsid.startup = /bin/true|' /etc/iscsi/iscsid.conf \
                        >"$T/db/iscsid.conf"
        else
                echo "iscsid.startup = /bin/true" >"$T/db/iscsid.conf"
        fi

        "$OFFLOAD_DUMP" "$T/sys" >"$T/ours.dump" 2>"$T/ours.err" ||
                harness_fail "offload-dump $tree: $(head -c 300 "$T/ours.err")"
        awk -v dir="$T/ours" '/^== /{ f = dir "/" substr($0, 4); printf "" > f; next }
                { printf "%s\n", $0 > f }' "$T/ours.dump"

        mount --bind "$T/db" /etc/iscsi
        if [ -d /var/lib/iscsi ]; then
                mount --bind "$T/db" /var/lib/iscsi
        fi
        mount --bind "$T/sys" /sys
        iscsiadm -m iface >"$T/adm.out" 2>"$T/adm.err" || rc=$?
        umount /sys
        if [ -d /var/lib/iscsi ]; then
                umount /var/lib/iscsi
        fi
        umount /etc/iscsi
        echo "$rc" >"$T/adm.rc"
        [ -d "$T/db/ifaces" ] || harness_fail "iscsiadm -m iface did not create ifaces/ for $tree"

        if [ -n "${COMPAT_OFFLOAD_SAVE:-}" ]; then
                mkdir -p "$COMPAT_OFFLOAD_SAVE/$tree"
                cp -a "$T/db/ifaces/." "$COMPAT_OFFLOAD_SAVE/$tree/"
        fi
}

# same_files TREE: both sides wrote the same names with the same bytes.
same_files() {
        local tree=$1 n name bad=0
        names "$T/db/ifaces" >"$T/adm.names"
        names "$T/ours" >"$T/ours.names"
        n=$(wc -l <"$T/adm.names")
        if ! cmp -s "$T/adm.names" "$T/ours.names"; then
                fail "$tree: iscsiadm and we create different iface names"
                show_diff iscsiadm ours "$T/adm.names" "$T/ours.names"
                return
        fi
        while IFS= read -r name; do
                if ! cmp -s "$T/db/ifaces/$name" "$T/ours/$name"; then
                        fail "$tree: ifaces/$name differs"
                        show_diff "iscsiadm $name" "ours $name" "$T/db/ifaces/$name" "$T/ours/$name"
                        bad=1
                fi
        done <"$T/adm.names"
        if [ "$n" -eq 0 ]; then
                fail "$tree: no offload iface at all (the tree has offload hosts)"
        elif [ "$bad" = 0 ]; then
                pass "$tree: iscsiadm's $n offload iface file(s) = our records, byte for byte"
        fi
}

check_rc0() {
        if [ "$(cat "$T/adm.rc")" = 0 ]; then
                pass "$1: iscsiadm -m iface exits 0"
        else
                fail "$1: iscsiadm -m iface exits $(cat "$T/adm.rc"): $(head -c 300 "$T/adm.err")"
        fi
}

# expect_names LABEL FILE NAME...: FILE lists exactly these names.
expect_names() {
        local label=$1 file=$2
        shift 2
        if printf '%s\n' "$@" | sed '/^$/d' | sort | cmp -s - "$file"; then
                pass "$label"
        else
                fail "$label: got $(tr '\n' ' ' <"$file")"
        fi
}

check_tcp() {
        local tree=tcp
        names "$T/db/ifaces" >"$T/adm.names"
        names "$T/ours" >"$T/ours.names"
        expect_names "tcp: we create no record for software hosts" "$T/ours.names"
        expect_names "tcp: iscsiadm writes tcp.52:54:00:12:34:56.ipv4.0 for the iscsi_tcp host bound by hwaddress (not an offload host; we skip it on purpose)" \
                "$T/adm.names" tcp.52:54:00:12:34:56.ipv4.0
        check_rc0 "$tree"
}

check_garbled() {
        local name
        names "$T/db/ifaces" >"$T/adm.names"
        names "$T/ours" >"$T/ours.names"

        expect_names "garbled: we create records for hosts 20, 26 and 27 only" "$T/ours.names" \
                qedi.00:0e:1e:aa:bb:26.ipv4.0 qla4xxx.00:0e:1e:aa:bb:20.ipv4.0 \
                qla4xxx.00:0e:1e:aa:bb:20.ipv6.1 qla4xxx.00:0e:1e:aa:bb:27.ipv4.0
        # ls -b shows host21's hwaddress bytes 0x80 0x81 ... 0x01 as octal escapes
        expect_names "garbled: iscsiadm writes host20's files and one named after host21's binary hwaddress, then stops" \
                "$T/adm.names" 'bnx2i.\200\201junk\001.ipv4.0' \
                qla4xxx.00:0e:1e:aa:bb:20.ipv4.0 qla4xxx.00:0e:1e:aa:bb:20.ipv6.1
        if grep -q "host23/proc_name" "$T/adm.err"; then
                pass "garbled: iscsiadm reports host23's missing proc_name (where it stops)"
        else
                fail "garbled: iscsiadm's stderr does not name host23/proc_name: $(head -c 300 "$T/adm.err")"
        fi

        # The files both write: iscsiadm's minus the lines carrying junk bytes and minus the
        # "default" placeholder address must be ours, byte for byte.
        for name in qla4xxx.00:0e:1e:aa:bb:20.ipv4.0 qla4xxx.00:0e:1e:aa:bb:20.ipv6.1; do
                LC_ALL=C grep -av -e '[^ -~]' -e '^iface\.ipaddress = default$' \
                        "$T/db/ifaces/$name" >"$T/adm.filtered" || true
                if [ -f "$T/ours/$name" ] && cmp -s "$T/adm.filtered" "$T/ours/$name"; then
                        pass "garbled: ifaces/$name = iscsiadm's without its junk-byte lines and 'ipaddress = default'"
                else
                        fail "garbled: ifaces/$name differs beyond the junk-byte lines and the placeholder address"
                        show_diff "iscsiadm $name (filtered)" "ours $name" "$T/adm.filtered" \
                                "$T/ours/$name"
                fi
        done
        if [ "$(grep -ac -e '[^ -~]' "$T/db/ifaces/qla4xxx.00:0e:1e:aa:bb:20.ipv6.1")" = 2 ] &&
                grep -qx 'iface.ipaddress = default' "$T/db/ifaces/qla4xxx.00:0e:1e:aa:bb:20.ipv4.0"; then
                pass "garbled: iscsiadm copied the 2 junk values and the placeholder address we leave out"
        else
                fail "garbled: iscsiadm's host20 files do not hold the junk and placeholder expected"
        fi
}

for tree in "${TREES[@]}"; do
        [ -d "$FIXTURES/$tree" ] || harness_fail "no fixture tree $FIXTURES/$tree"
        run_tree "$tree"
        case $tree in
        tcp) check_tcp ;;
        garbled) check_garbled ;;
        *)
                same_files "$tree"
                check_rc0 "$tree"
                ;;
        esac
done

echo "compat.offload: $PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]
