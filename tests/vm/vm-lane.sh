#!/bin/bash
# SPDX-License-Identifier: MIT
# Kernel VM lane: runs one test script of the project inside a qemu guest booted from Debian 12's
# stock kernel (which has 8021q, dummy, bonding, veth, macvlan and bridge), with the host's root
# filesystem shared read-only, and passes only if the script exits 0, prints no SKIP line and
# prints every REQUIRED line.
#
# usage: tests/vm/vm-lane.sh [--target] TEST_SCRIPT [REQUIRED_LINE...]
#   --target (or VM_TARGET=1): first bring up a real iSCSI target (tests/target/target-up.sh,
#                its own instance, with two taps), run qemu in the target's namespace with two
#                virtio NICs on the taps, and pass the target's facts to the guest as lane.*
#                values on the kernel command line; the target goes down on every exit
#   environment: IFACED_BIN        the daemon the guest test runs (required; meson sets it)
#                IFACED_VM_CACHE   download and build cache (default /var/tmp/iscsi-ifaced-vm)
#                IFACED_VM_ACCEL   tcg (default) or kvm
#                IFACED_VM_MEM     guest memory in MiB (default 1024)
#                IFACED_VM_SMP     guest CPUs (default 1)
#                IFACED_VM_TIMEOUT seconds the guest may run (default 480)
#                IFACED_VM_ARGS    more KEY=VALUE words, passed to the guest as lane.KEY=VALUE
#                VM_TARGET_NAME, VM_TARGET_NET  the target instance (default ifdvm, 221)
# Exit 0 pass, 1 fail, 77 skip (not root, or qemu or the Debian kernel cannot be installed or
# downloaded). Needs root: it installs qemu-system-x86, kmod and cpio with apt-get if they are
# missing, and fetches linux-image-<abi>-amd64 and busybox-static with `apt-get download`
# (unpacked into the cache, never installed). See tests/vm/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)
CACHE=${IFACED_VM_CACHE:-/var/tmp/iscsi-ifaced-vm}
ACCEL=${IFACED_VM_ACCEL:-tcg}
MEM=${IFACED_VM_MEM:-1024}
SMP=${IFACED_VM_SMP:-1}
TIMEOUT=${IFACED_VM_TIMEOUT:-480}
T0=$(date +%s%N)

# The modules the guest loads, with their dependencies (modprobe --show-depends): the 9p root
# filesystem with its overlay, the link kinds tests may create, the iSCSI transport (the HBA
# ping request of the checks is proved against scsi_transport_iscsi), and what a login to the
# target needs: the NICs, SCSI disks and generic devices, crc32c (libiscsi_tcp's digests) and
# ext4 (a mounted LUN). One list for every test, so that all share one initramfs.
MODS="virtio_pci 9pnet_virtio 9p overlay veth macvlan bridge 8021q dummy bonding iscsi_tcp"
MODS+=" virtio_net sd_mod sg crc32c_generic ext4"
# Module parameters: no dummy0 or bond0 in the guest's own namespace.
declare -A MOD_PARAMS=([dummy]=numdummies=0 [bonding]=max_bonds=0)

el() { local d=$((($(date +%s%N) - T0) / 10000000)); printf '%d.%02d' $((d / 100)) $((d % 100)); }
log() { printf '[vm-lane %6ss] %s\n' "$(el)" "$*"; }
skip() {
        log "SKIP: $*"
        exit 77
}
fail() {
        log "FAIL: $*"
        exit 1
}

TGT=${VM_TARGET:-0}
if [ "${1:-}" = --target ]; then
        TGT=1
        shift
fi
[ $# -ge 1 ] || fail "usage: tests/vm/vm-lane.sh [--target] TEST_SCRIPT [REQUIRED_LINE...]"
TEST=$(readlink -f "$1")
shift
BIN=${IFACED_BIN:?IFACED_BIN not set}
BIN=$(readlink -f "$BIN")
[ -f "$TEST" ] || fail "no test script $TEST"
[ -x "$BIN" ] || fail "no daemon binary $BIN (build first)"
# The paths go onto the kernel command line, which splits at blanks.
for p in "$TEST" "$BIN" "$HERE"; do
        [[ $p =~ ^[[:graph:]]+$ ]] || fail "path with blanks or control characters: '$p'"
done
[ "$(id -u)" = 0 ] || skip "needs root (apt-get, and the guest reads the host's files as root)"

W=$(mktemp -d "${TMPDIR:-/tmp}/vm-lane.XXXXXX")
# The guest's writable share: the API answers it records (tests/vm/target-guest.sh rec_answer)
# for the contract check below.
REC=$W/rec
mkdir -p "$REC"
LANE_PID=
TGT_UP=0 # 1 once target-up.sh has started: from then on every exit runs target-down.sh
TGT_DIR=$(cd "$HERE/../target" && pwd -P)
if [ "$TGT" = 1 ]; then
        export TARGET_NAME=${VM_TARGET_NAME:-ifdvm}
        export TARGET_NET=${VM_TARGET_NET:-221}
        export TARGET_TAPS=2
        export TARGET_RUN=${TARGET_RUN:-${TMPDIR:-/tmp}/iscsi-ifaced-target}
        export TARGET_STATE=${TARGET_STATE:-$TARGET_RUN/$TARGET_NAME}
fi
kill_qemu() {
        local pid
        # qemu by the pid it wrote itself, if that process is still a qemu.
        if [ -s "$W/qemu.pid" ]; then
                read -r pid <"$W/qemu.pid" || pid=
                if [ -n "$pid" ] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == qemu-system* ]]; then
                        kill "$pid" 2>/dev/null || true
                fi
        fi
}
cleanup() {
        trap - EXIT
        kill_qemu
        if [ -n "$LANE_PID" ]; then
                wait "$LANE_PID" 2>/dev/null || true
        fi
        if [ "$TGT_UP" = 1 ]; then
                TGT_UP=0
                "$TGT_DIR/target-down.sh" >>"$W/target-down.log" 2>&1 ||
                        log "warning: target-down.sh: $(tail -n 2 "$W/target-down.log" | tr '\n' ' ')"
        fi
        rm -rf "$W"
}
# On a signal meson may SIGKILL the whole process group soon after, so the target goes down in
# a session of its own (it inherits fd 9, the target's lock, and holds it until it is done).
on_signal() {
        trap - EXIT INT TERM HUP
        kill_qemu
        if [ "$TGT_UP" = 1 ]; then
                # shellcheck disable=SC2016 # $1 and $2 are expanded by the inner bash
                setsid -f bash -c '"$1" >/dev/null 2>&1; rm -rf -- "$2"' target-down \
                        "$TGT_DIR/target-down.sh" "$W" </dev/null >/dev/null 2>&1
        else
                rm -rf "$W"
        fi
        exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

mkdir -p "$CACHE/debs"
CACHE=$(cd "$CACHE" && pwd -P)
APTLOG=$CACHE/apt.log

# ------------------------------------------------------------------ 1. host packages
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v modprobe >/dev/null && command -v depmod >/dev/null || need+=(kmod)
command -v cpio >/dev/null || need+=(cpio)
if [ "$TGT" = 1 ]; then
        # the target (tgtd) on the host; the guest runs the host's own iscsid and iscsiadm
        command -v tgtd >/dev/null && command -v tgtadm >/dev/null || need+=(tgt)
        command -v iscsid >/dev/null && command -v iscsiadm >/dev/null || need+=(open-iscsi)
fi
if [ ${#need[@]} -gt 0 ]; then
        command -v apt-get >/dev/null || skip "${need[*]} missing and no apt-get"
        log "apt-get install ${need[*]} (log: $APTLOG)"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >"$APTLOG" 2>&1; then
                apt-get update >>"$APTLOG" 2>&1 || true
                DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" \
                        >>"$APTLOG" 2>&1 || skip "cannot install ${need[*]}: $(tail -n 1 "$APTLOG")"
        fi
fi
for t in dpkg-deb gzip sha256sum flock; do
        command -v "$t" >/dev/null || skip "$t missing"
done
PY=
for p in python3 /usr/bin/python3; do
        if command -v "$p" >/dev/null && "$p" -c 'import lzma' 2>/dev/null; then
                PY=$p
                break
        fi
done
[ -n "$PY" ] || skip "no python3 with lzma (to unpack the kernel image)"

# ------------------------------- 2. Debian kernel + static busybox -> vmlinux + initramfs
# The kernel package is what linux-image-amd64 depends on (for example linux-image-6.1.0-56-amd64).
kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
KPKG=$(kernel_pkg || true)
if [ -z "$KPKG" ]; then
        log "apt-get update (linux-image-amd64 unknown to apt-cache)"
        apt-get update >>"$APTLOG" 2>&1 || true
        KPKG=$(kernel_pkg || true)
fi
if [ -z "$KPKG" ] && [ -s "$CACHE/current-kernel" ]; then
        read -r KPKG <"$CACHE/current-kernel"
        log "apt-cache knows no linux-image-amd64; using the cached $KPKG"
fi
[ -n "$KPKG" ] || skip "apt-cache knows no linux-image-amd64 and the cache has no kernel"
KV=${KPKG#linux-image-}

# The initramfs is named after what goes into it, so a change to the init or the modules rebuilds it.
IHASH=$({
        cat "$HERE/initramfs-init"
        echo "$MODS"
        declare -p MOD_PARAMS
} | sha256sum | cut -c1-12)
VMLINUX=$CACHE/vmlinux-$KV
IRD=$CACHE/initramfs-$KV-$IHASH.cpio.gz

build() {
        local X=$CACHE/extract.tmp R ko m name debs
        if ! compgen -G "$CACHE/debs/${KPKG}_*.deb" >/dev/null || ! compgen -G "$CACHE/debs/busybox-static_*.deb" >/dev/null; then
                log "apt-get download $KPKG busybox-static into $CACHE/debs (unpacked only, not installed)"
                if ! (cd "$CACHE/debs" && apt-get download "$KPKG" busybox-static >>"$APTLOG" 2>&1); then
                        apt-get update >>"$APTLOG" 2>&1 || true
                        (cd "$CACHE/debs" && apt-get download "$KPKG" busybox-static >>"$APTLOG" 2>&1) ||
                                skip "cannot download $KPKG busybox-static: $(tail -n 1 "$APTLOG")"
                fi
        fi
        log "unpacking $KPKG"
        rm -rf "$X"
        mkdir -p "$X"
        debs=("$CACHE/debs/${KPKG}"_*.deb)
        dpkg-deb -x "${debs[-1]}" "$X/k"
        debs=("$CACHE"/debs/busybox-static_*.deb)
        dpkg-deb -x "${debs[-1]}" "$X/bb"
        depmod -b "$X/k" "$KV"
        if [ ! -s "$VMLINUX" ]; then
                # The bzImage is XZ-compressed; decompressing it costs ~6 s per boot under TCG, so
                # extract the ELF vmlinux once and boot it through its PVH entry point.
                log "extracting vmlinux from the bzImage"
                "$PY" - "$X/k/boot/vmlinuz-$KV" "$VMLINUX.tmp" <<'EOF'
import lzma, sys
d = open(sys.argv[1], 'rb').read()
i = d.find(b'\xfd7zXZ\x00')
if i < 0:
        sys.exit('no XZ stream in the kernel image')
open(sys.argv[2], 'wb').write(lzma.LZMADecompressor().decompress(d[i:]))
EOF
                mv "$VMLINUX.tmp" "$VMLINUX"
        fi
        log "building the initramfs (busybox-static, $MODS and their dependencies)"
        R=$X/root
        mkdir -p "$R"/{bin,dev,proc,sys,mnt,newroot,lib/modules}
        cp "$X/bb/bin/busybox" "$R/bin/busybox"
        cp "$HERE/initramfs-init" "$R/init"
        chmod 0755 "$R/init"
        : >"$R/modules.lane"
        for m in $MODS; do
                modprobe -d "$X/k" -S "$KV" --show-depends "$m" || fail "module $m not in $KPKG"
        done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' >"$X/kos"
        while read -r ko; do
                cp "$ko" "$R/lib/modules/"
                name=${ko##*/}
                m=${name%%.ko*}
                m=${m//-/_}
                echo "$name ${MOD_PARAMS[$m]:-}" >>"$R/modules.lane"
        done <"$X/kos"
        (cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) >"$IRD.tmp"
        mv "$IRD.tmp" "$IRD"
        # Older initramfs images of this kernel are stale now.
        for m in "$CACHE/initramfs-$KV"-*.cpio.gz; do
                [ "$m" = "$IRD" ] || rm -f "$m"
        done
        echo "$KPKG" >"$CACHE/current-kernel"
        log "initramfs ready: $(wc -l <"$X/kos") modules, $(du -k "$IRD" | cut -f1) KiB"
        rm -rf "$X"
}

if [ ! -s "$VMLINUX" ] || [ ! -s "$IRD" ]; then
        # One build at a time per cache.
        exec 9>"$CACHE/lock"
        flock 9
        if [ ! -s "$VMLINUX" ] || [ ! -s "$IRD" ]; then
                build
        fi
        flock -u 9
        exec 9>&-
fi
T_BUILD=$(el)

# ------------------------------------------------------------- the target (--target)
TGT_ARGS=
if [ "$TGT" = 1 ]; then
        for t in ip setsid; do
                command -v "$t" >/dev/null || skip "$t missing (needed for the target)"
        done
        # Runs with the same TARGET_NAME are serialised (as in tests/target/discovery.sh).
        LOCK=${TARGET_RUN}.${TARGET_NAME}.lock
        mkdir -p "$(dirname "$LOCK")"
        exec 9>"$LOCK"
        flock -w 300 9 || fail "another run with TARGET_NAME=$TARGET_NAME holds $LOCK for more than 300 s"
        log "target-up ($TARGET_NAME, 10.$TARGET_NET.0.0/16, 2 taps)"
        TGT_UP=1
        "$TGT_DIR/target-up.sh" >"$W/target-up.log" 2>&1 ||
                fail "target-up.sh: $(tail -n 3 "$W/target-up.log" | tr '\n' ' ')"
        # shellcheck disable=SC1091 # written by target-up.sh
        . "$TARGET_STATE/env"
        [ "$TAPS" = 2 ] || fail "target-up.sh made $TAPS taps, not 2"
        NONCE=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
        # The guest's eth0 is on ${TAP_PREFIX}0 (10.N.3.0/24), eth1 on ${TAP_PREFIX}1 (10.N.4.0/24).
        TGT_ARGS="lane.net=10.$NET lane.vip=$VIP lane.port=$PORT lane.iqn_open=$IQN_OPEN lane.iqn_chap=$IQN_CHAP"
        TGT_ARGS+=" lane.chap_user=$CHAP_USER lane.chap_pass=$CHAP_PASS"
        TGT_ARGS+=" lane.mchap_user=$MCHAP_USER lane.mchap_pass=$MCHAP_PASS lane.nonce=$NONCE"
        MACN=$(printf %02x "$NET")
        NICS=(-netdev "tap,id=n0,ifname=${TAP_PREFIX}0,script=no,downscript=no"
                -device "virtio-net-pci,netdev=n0,mac=52:54:00:00:$MACN:10"
                -netdev "tap,id=n1,ifname=${TAP_PREFIX}1,script=no,downscript=no"
                -device "virtio-net-pci,netdev=n1,mac=52:54:00:00:$MACN:11")
        # qemu runs inside the target's namespace, where the taps are.
        NETNS=(ip netns exec "$TGT_NS")
else
        NICS=()
        NETNS=()
fi
T_TARGET=$(el)

# ----------------------------------------------------------------------------- 3. boot
case $ACCEL in
kvm) ACC=(-accel kvm -cpu host) ;;
tcg) ACC=(-accel tcg -cpu max) ;;
*) fail "IFACED_VM_ACCEL must be tcg or kvm, not '$ACCEL'" ;;
esac
TAG=IFDVM-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
APPEND="console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off lane.tag=$TAG"
APPEND+=" lane.script=$HERE/guest-test.sh lane.test=$TEST lane.bin=$BIN"
[ -z "$TGT_ARGS" ] || APPEND+=" $TGT_ARGS"
for kv in ${IFACED_VM_ARGS:-}; do
        [[ $kv =~ ^[a-z_][a-z0-9_]*=[[:graph:]]*$ ]] || fail "IFACED_VM_ARGS: not a KEY=VALUE word: '$kv'"
        APPEND+=" lane.$kv"
done
CONSOLE=$W/console.log
log "booting $KV under qemu ($ACCEL, $SMP CPU, ${MEM} MiB$([ "$TGT" = 1 ] && echo ", 2 NICs on the target's taps")) to run ${TEST##*/}"
T_BOOT=$(date +%s%N)
# The pipeline runs in the background so that a signal reaches the traps at once; it prints the
# guest's marked lines without the marker as they come.
{
        set +e
        timeout --foreground -k 5 "$TIMEOUT" "${NETNS[@]}" qemu-system-x86_64 "${ACC[@]}" -smp "$SMP" -m "$MEM" \
                -machine pc -nodefaults -no-user-config -display none -no-reboot -serial stdio \
                -pidfile "$W/qemu.pid" \
                -kernel "$VMLINUX" -initrd "$IRD" -append "$APPEND" \
                -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
                -virtfs local,path="$REC",mount_tag=lanerec,security_model=none,multidevs=remap \
                "${NICS[@]}" \
                </dev/null 2>&1 | tr -d '\r' | tee "$CONSOLE" | sed -u -n "s/^$TAG //p"
        echo "${PIPESTATUS[0]}" >"$W/qemu.rc"
} &
LANE_PID=$!
wait "$LANE_PID" || true
LANE_PID=
QEMU_S=$((($(date +%s%N) - T_BOOT) / 1000000))
read -r qrc <"$W/qemu.rc" || qrc='?'

# --------------------------------------------------------------------------- 4. verdict
sed -n "s/^$TAG out //p" "$CONSOLE" >"$W/test.out"
grc=$(sed -n "s/^$TAG rc=\([0-9]*\).*/\1/p" "$CONSOLE" | tail -n 1)
problems=()
if [ -z "$grc" ]; then
        problems+=("the guest reported no exit code (qemu exit $qrc; timeout is ${TIMEOUT} s)")
elif [ "$grc" != 0 ]; then
        problems+=("${TEST##*/} exited $grc in the guest")
fi
if grep '^SKIP' "$W/test.out" >/dev/null; then
        problems+=("${TEST##*/} skipped checks in the guest: $(grep '^SKIP' "$W/test.out" | head -n 3 | tr '\n' ' ')")
fi
for want in "$@"; do
        grep -Fx -- "$want" "$W/test.out" >/dev/null || problems+=("no line '$want' in the guest's output")
done
# A guest that wrote "IFDVM-<nonce>" at the start of the open target's LUN says so with this
# line; the LUN's backing file on the host must then hold it.
if [ "$TGT" = 1 ] && grep -Fx 'HOSTCHECK: lun1 nonce' "$W/test.out" >/dev/null; then
        if head -c 4096 "$TARGET_STATE/lun1.img" | grep -a -F "IFDVM-$NONCE" >/dev/null; then
                log "PASS: host: the guest's nonce IFDVM-$NONCE is in $TARGET_STATE/lun1.img"
        else
                problems+=("the guest's nonce IFDVM-$NONCE is not at the start of $TARGET_STATE/lun1.img")
        fi
fi
if grep -E "^$TAG init (insmod-failed|9p-mount-failed|overlay-failed)" "$CONSOLE" >/dev/null; then
        problems+=("guest setup: $(grep -E "^$TAG init (insmod|9p|overlay)" "$CONSOLE" | cut -d' ' -f3- | tr '\n' ' ')")
fi
# The guest's API answers against openapi.yaml, as every other suite's (tests/contract/README.md).
if compgen -G "$REC/index.*" >/dev/null; then
        export IFD_CONTRACT_DIR=${IFD_CONTRACT_DIR:-$W/contract}
        # shellcheck source=../contract/record.sh
        . "$HERE/../contract/record.sh"
        n=0
        while read -r x method path status; do
                contract_record "$method" "$path" "$status" "$REC/$x.h" "$REC/$x.b" vm-guest ||
                        problems+=("the guest's answer $x ($method $path) could not be recorded")
                n=$((n + 1))
        done < <(cat "$REC"/index.*)
        if ! command -v node >/dev/null; then
                log "note: no node here: the guest's $n answers are not checked against openapi.yaml"
        elif verdict=$(contract_check 2>&1); then
                log "PASS: the guest's $n answers are ones openapi.yaml allows ($verdict)"
        else
                problems+=("answers of the guest that openapi.yaml does not allow: $verdict")
        fi
elif [ "$TGT" = 1 ] && [ "${grc:-}" = 0 ]; then
        problems+=("the guest recorded no API answers for the contract check (its share: $REC)")
fi

echo
echo "==== vm lane: ${TEST##*/} in $KV ($ACCEL)"
printf 'cache ready        %ss (%s)\n' "$T_BUILD" "$CACHE"
[ "$TGT" = 1 ] && printf 'target up          %ss (%s)\n' "$T_TARGET" "$TARGET_NAME"
printf 'qemu               %d.%02ds (boot to poweroff)\n' $((QEMU_S / 1000)) $((QEMU_S % 1000 / 10))
printf 'total              %ss\n' "$(el)"
if [ ${#problems[@]} -gt 0 ]; then
        echo "---- guest console"
        sed "s/^$TAG //" "$CONSOLE"
        for p in "${problems[@]}"; do
                log "FAIL: $p"
        done
        exit 1
fi
log "PASS: ${TEST##*/} passed in the guest$([ $# -gt 0 ] && printf ', with: %s' "$*")"
