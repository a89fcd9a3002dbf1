#!/bin/bash
# SPDX-License-Identifier: MIT
# compat.bindings: bindings (open-iscsi node records, docs/bindings.md) made through the API and
# made by the real iscsiadm 2.1.8 on one iscsi db root, in a private mount namespace.
#
#   1. bindings POSTed through the API are what `iscsiadm -m node` lists (as a multiset, and as a
#      set of (target, address, port, tpgt, iface) from its full dump), `-o show` shows our
#      values, and CHAP secrets are masked the way iscsiadm masks them (`********`);
#   2. bytes: the same binding written by iscsiadm (`-m node -o new -T t -p ip:port,tpgt -I i`
#      in a second scratch root with the same ifaces, no iscsid, so its compiled defaults) and
#      by the daemon started with `--iscsid-conf` an empty file: the same tree (static/ links
#      included), byte for byte, the same modes; again after `-o update` of startup, CHAP and
#      settings against our PATCHes;
#   3. import: records iscsiadm makes while the daemon runs (`-o new` new and old style,
#      `-o update`, `-o delete`, `-m discoverydb -o new`) show up within 2 s with origin
#      `external`, and in the audit, without secrets; old-style records refuse PATCH and DELETE;
#   4. iface update propagation (golden D09): PATCH of an iface's initiatorname rewrites its node
#      files as `iscsiadm -m iface -o update` does;
#   5. delete (golden D01 seeded, D16): deleting the last binding of a portal/target removes the
#      empty dirs and the send_targets links as `iscsiadm -m node -o delete` does; DELETE of an
#      iface with bindings is 409 naming them; `?cascade=true` leaves the tree `iscsiadm -m iface
#      -o delete` leaves.
#
# Nothing on the host is touched: as in compat-iscsiadm.sh, a temp dir is bind-mounted over
# /etc/iscsi (and /var/lib/iscsi), a tmpfs over /run/lock and /sys/class (with fake tcp, iser and
# bnx2i transports). The reference runs of iscsiadm happen in a nested mount and network
# namespace over a second scratch root: no iscsid can answer there, so iscsiadm uses its compiled
# defaults, which the daemon uses with an empty --iscsid-conf.
# Needs root, unshare, iscsiadm 2.1.8, curl and jq; exit 77 (skip) when one is missing.
# Environment: IFACED_BIN (the daemon, set by meson), SOURCE_ROOT (the golden trees);
# COMPAT_KEEP=DIR copies the work dir (responses, dumps, daemon log) to DIR at exit.
# Exit: 0 all PASS, 1 a FAIL, 77 skip, 99 the harness itself broke.
set -euo pipefail
# shellcheck source=tests/contract/record.sh
. "$(dirname "$(readlink -f "$0")")/../contract/record.sh"
export LC_ALL=C

skip() {
        echo "SKIP: $*"
        exit 77
}

# --- outside the namespace: prerequisites, the temp dir, then re-run inside ---------------------
if [ "${COMPAT_INNER:-}" != 1 ]; then
        [ "$EUID" = 0 ] || skip "needs root (bind mounts over /etc/iscsi and /run/lock)"
        command -v iscsiadm >/dev/null || skip "iscsiadm is not installed (Debian: open-iscsi)"
        for tool in unshare curl jq cmp diff stat find; do
                command -v "$tool" >/dev/null || skip "$tool is not installed"
        done
        version=$(iscsiadm --version 2>/dev/null | awk '{print $3}')
        [ "$version" = 2.1.8 ] ||
                skip "iscsiadm is '$version'; the record format under test is that of 2.1.8"
        [ -d /etc/iscsi ] || skip "/etc/iscsi does not exist: this iscsiadm uses another db root"
        unshare -m -n --propagation private true 2>/dev/null ||
                skip "cannot create a private mount and network namespace (unshare -m -n)"
        if [ -z "${IFACED_BIN:-}" ] || [ ! -x "$IFACED_BIN" ]; then
                echo "harness error: IFACED_BIN is not the daemon executable (run through meson test)" >&2
                exit 99
        fi
        SOURCE_ROOT=${SOURCE_ROOT:-$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd -P)}
        GOLDEN=$SOURCE_ROOT/tests/fixtures/golden/D
        [ -f "$GOLDEN/D01_discovery_I_iface0/db_after" ] ||
                { echo "harness error: no golden trees under $GOLDEN" >&2; exit 99; }

        WORK=$(mktemp -d "${TMPDIR:-/tmp}/compat-bindings.XXXXXX")
        # shellcheck disable=SC2317 # called by the EXIT trap
        cleanup_outer() {
                local pid

                # The daemon lives in the namespace; if the inner shell died hard, end it here.
                if [ -s "$WORK/daemon.pid" ]; then
                        pid=$(cat "$WORK/daemon.pid")
                        kill -KILL "$pid" 2>/dev/null || true
                fi
                if [ -n "${COMPAT_KEEP:-}" ]; then
                        { mkdir -p "$COMPAT_KEEP" && cp -a "$WORK/." "$COMPAT_KEEP/"; } || true
                fi
                rm -rf "$WORK"
        }
        trap cleanup_outer EXIT
        trap 'exit 130' INT TERM HUP

        mkdir -p "$WORK/iscsi-db" "$WORK/state" "$WORK/sysfs-keep"
        echo "InitiatorName=iqn.2024-01.test.compat:host" >"$WORK/iscsi-db/initiatorname.iscsi"
        chmod 600 "$WORK/iscsi-db/initiatorname.iscsi"
        # Keep iscsiadm from asking the host's systemd to start iscsid.
        echo "iscsid.startup = /bin/true" >"$WORK/iscsid.conf.adm"
        cp "$WORK/iscsid.conf.adm" "$WORK/iscsi-db/iscsid.conf"
        # The daemon's --iscsid-conf: empty, so iscsiadm's compiled defaults.
        : >"$WORK/state/empty-iscsid.conf"

        rc=0
        COMPAT_INNER=1 COMPAT_WORK="$WORK" COMPAT_GOLDEN="$GOLDEN" \
                unshare -m --propagation private bash "$0" || rc=$?
        exit "$rc"
fi

# --- inside the namespace -----------------------------------------------------------------------
WORK=$COMPAT_WORK
GOLDEN=$COMPAT_GOLDEN
STATE=$WORK/state
ROOT=/etc/iscsi
LOCK_DIR=/run/lock/iscsi
DAEMON=
PORT=
PASSES=0
FAILS=0

harness_fail() {
        echo "harness error: $*" >&2
        exit 99
}

pass() {
        echo "PASS: $*"
        PASSES=$((PASSES + 1))
}

fail() {
        echo "FAIL: $*"
        FAILS=$((FAILS + 1))
}

now_ms() {
        echo $(($(date +%s%N) / 1000000))
}

cleanup_inner() {
        local rc=$?

        if [ -n "$DAEMON" ] && kill -0 "$DAEMON" 2>/dev/null; then
                kill -KILL "$DAEMON" 2>/dev/null || true
                wait "$DAEMON" 2>/dev/null || true
        fi
        if [ "$FAILS" -gt 0 ] || [ "$rc" -ne 0 ]; then
                echo "--- end of the daemon log"
                tail -n 40 "$STATE/daemon.log" 2>/dev/null || true
        fi
}
trap cleanup_inner EXIT

mount --bind "$WORK/iscsi-db" /etc/iscsi
if [ -d /var/lib/iscsi ]; then
        mount --bind "$WORK/iscsi-db" /var/lib/iscsi
fi
mount -t tmpfs -o mode=1777 tmpfs /run/lock
mount --bind /sys/class/net "$WORK/sysfs-keep"
mount -t tmpfs -o mode=755 tmpfs /sys/class
mkdir -p /sys/class/net
mount --move "$WORK/sysfs-keep" /sys/class/net
# handle != 0 makes a transport count as loaded; caps as the kernel drivers report them
for t in tcp:1:0x39 iser:2:0x89 bnx2i:3:0x8b9; do
        IFS=: read -r name handle caps <<<"$t"
        mkdir -p "/sys/class/iscsi_transport/$name"
        echo "$handle" >"/sys/class/iscsi_transport/$name/handle"
        echo "$caps" >"/sys/class/iscsi_transport/$name/caps"
done

# --- helpers ------------------------------------------------------------------------------------

# api METHOD PATH [CONTENT-TYPE BODY]: sets STATUS; the body in $STATE/body, headers in
# $STATE/hdr.
api() {
        local method=$1 path=$2
        local args=(-sS -o "$STATE/body" -D "$STATE/hdr" -w '%{http_code}' -X "$method" -H 'Expect:')

        if [ $# -ge 4 ]; then
                args+=(-H "Content-Type: $3" --data-binary "$4")
        fi
        : >"$STATE/body"
        STATUS=$(curl "${args[@]}" "http://127.0.0.1:$PORT$path" 2>"$STATE/curl.err") || STATUS=000
        contract_record "$method" "$path" "$STATUS" "$STATE/hdr" "$STATE/body" "compat api"
}

body() { head -c 600 "$STATE/body" 2>/dev/null | tr '\n' ' '; }

# bid TARGET ADDRESS PORT TPGT IFACE: a binding id (docs/bindings.md "The id").
bid() { printf '%s,%s,%s,%s,%s' "$@"; }

# binding_is ID JQ [JQ-ARGS...]: GET /api/v1/bindings/ID answers 200 and JQ holds for it.
binding_is() {
        local id=$1 expr=$2
        shift 2
        api GET "/api/v1/bindings/$id"
        [ "$STATUS" = 200 ] && jq -e "$@" "$expr" "$STATE/body" >/dev/null 2>&1
}

binding_absent() {
        api GET "/api/v1/bindings/$1"
        [ "$STATUS" = 404 ]
}

# wait_for MS CMD...: retry CMD every 50 ms for up to MS; sets WAITED (ms).
wait_for() {
        local limit=$1 t0
        shift
        t0=$(now_ms)
        until "$@"; do
                if [ $(($(now_ms) - t0)) -ge "$limit" ]; then
                        WAITED=$(($(now_ms) - t0))
                        return 1
                fi
                sleep 0.05
        done
        WAITED=$(($(now_ms) - t0))
}

show_diff() {
        diff -u --label "$1" --label "$2" "$3" "$4" | head -n 40 | sed 's/^/    /' || true
}

# all_bindings FILE: every binding (following "next") as a JSON array into FILE.
all_bindings() {
        local after="" items='[]' next
        while :; do
                api GET "/api/v1/bindings?limit=100${after:+&after=$(jq -rn --arg a "$after" '$a | @uri')}"
                [ "$STATUS" = 200 ] || return 1
                items=$(jq -c --argjson acc "$items" '$acc + .items' "$STATE/body") || return 1
                next=$(jq -r '.next // empty' "$STATE/body")
                [ -n "$next" ] || break
                after=$next
        done
        printf '%s\n' "$items" >"$1"
}

# in_root2 DIR CMD...: CMD with DIR mounted over /etc/iscsi (and /var/lib/iscsi), its own
# /run/lock, in a fresh mount and network namespace: no iscsid answers iscsiadm there, so its
# records get the compiled defaults. The fake /sys/class of this namespace is inherited.
in_root2() {
        local dir=$1
        shift
        # shellcheck disable=SC2016 # expanded by the inner bash
        unshare -m -n --propagation private bash -c '
                set -e
                mount --bind "$1" /etc/iscsi
                if [ -d /var/lib/iscsi ]; then mount --bind "$1" /var/lib/iscsi; fi
                mount -t tmpfs -o mode=1777 tmpfs /run/lock
                shift
                exec "$@"' in_root2 "$dir" "$@"
}

# adm2 DIR ARGS...: iscsiadm ARGS in the scratch root DIR; its stderr (minus the "can not
# connect to iSCSI daemon" that shows there is no iscsid) in $STATE/adm2.err.
adm2() {
        local dir=$1 rc=0
        shift
        in_root2 "$dir" iscsiadm "$@" >"$STATE/adm2.out" 2>"$STATE/adm2.raw" || rc=$?
        grep -v 'can not connect to iSCSI daemon' "$STATE/adm2.raw" >"$STATE/adm2.err" || true
        return "$rc"
}

# new_root2 DIR IFACE...: a fresh scratch root with copies of the daemon root's IFACE files.
new_root2() {
        local dir=$1 n
        shift
        rm -rf "$dir"
        mkdir -p "$dir/ifaces"
        chmod 700 "$dir/ifaces"
        cp "$WORK/iscsid.conf.adm" "$dir/iscsid.conf"
        cp "$WORK/iscsi-db/initiatorname.iscsi" "$dir/"
        for n in "$@"; do
                cp -p "$ROOT/ifaces/$n" "$dir/ifaces/$n" || harness_fail "no $ROOT/ifaces/$n to copy"
        done
}

# dump_tree ROOT REL...: each REL under ROOT (recursively) in the format of the golden db_after
# files: "== ./path/ (mode 700)" for a directory, "== ./path (mode 600)" and the bytes for a
# file, "== ./path -> target (symlink)" for a link; "== ./REL (absent)" when REL is missing.
dump_tree() {
        local root=$1 rel p
        shift
        for rel in "$@"; do
                if [ ! -e "$root/$rel" ] && [ ! -L "$root/$rel" ]; then
                        echo "== ./$rel (absent)"
                        continue
                fi
                (cd "$root" && find "./$rel" -print0 | sort -z) | while IFS= read -r -d '' p; do
                        if [ -L "$root/$p" ]; then
                                echo "== $p -> $(readlink "$root/$p") (symlink)"
                        elif [ -d "$root/$p" ]; then
                                echo "== $p/ (mode $(stat -c %a "$root/$p"))"
                        else
                                echo "== $p (mode $(stat -c %a "$root/$p"))"
                                cat "$root/$p"
                        fi
                done
        done
}

# same_tree LABEL REL...: our root and $R2 agree on every REL; else FAIL with the diff.
same_tree() {
        local label=$1
        shift
        dump_tree "$ROOT" "$@" >"$STATE/tree.ours"
        dump_tree "$R2" "$@" >"$STATE/tree.adm"
        if cmp -s "$STATE/tree.adm" "$STATE/tree.ours"; then
                pass "$label: the same tree as iscsiadm's, byte for byte and mode for mode ($(grep -c '^== ' "$STATE/tree.ours") entries)"
        else
                fail "$label: our tree differs from iscsiadm's"
                show_diff "iscsiadm ($R2)" "ours ($ROOT)" "$STATE/tree.adm" "$STATE/tree.ours"
        fi
}

# node_rel TARGET ADDRESS PORT TPGT IFACE: the new-style node file, relative to a root.
node_rel() { printf 'nodes/%s/%s,%s,%s/%s' "$1" "$2" "$3" "$4" "$5"; }
# static_rel TARGET ADDRESS PORT TPGT IFACE: iscsiadm's static/ link of a -o new record.
static_rel() { printf 'static/%s,%s,%s,%s,%s' "$@"; }

# with_adm_lock CMD...: CMD while holding iscsiadm's lock (a hard link lock -> lock.write), as
# iscsiadm holds it while it writes records.
with_adm_lock() {
        local i rc=0
        for i in $(seq 300); do
                ln "$LOCK_DIR/lock" "$LOCK_DIR/lock.write" 2>/dev/null && break
                [ "$i" -lt 300 ] || harness_fail "iscsiadm's lock.write stays taken"
                sleep 0.01
        done
        "$@" || rc=$?
        rm -f "$LOCK_DIR/lock.write"
        return "$rc"
}

# seed_golden DB_AFTER DIR PREFIX...: the entries of a golden db_after under the PREFIXes
# (e.g. nodes/ send_targets/) materialised in DIR, files, modes and symlinks as listed.
seed_golden() {
        local src=$1 dir=$2 line cur="" rel want p ok
        shift 2
        while IFS= read -r line; do
                if [[ $line == '== ./'* ]]; then
                        cur=
                        rel=${line#== ./}
                        ok=0
                        for p in "$@"; do [[ $rel == "$p"* ]] && ok=1; done
                        [ "$ok" = 1 ] || continue
                        if [[ $rel =~ ^(.*)\ -\>\ (.*)\ \(symlink\)$ ]]; then
                                ln -s "${BASH_REMATCH[2]}" "$dir/${BASH_REMATCH[1]}"
                        elif [[ $rel =~ ^(.*)/\ \(mode\ ([0-7]+)\)$ ]]; then
                                mkdir -p "$dir/${BASH_REMATCH[1]}"
                                chmod "${BASH_REMATCH[2]}" "$dir/${BASH_REMATCH[1]}"
                        elif [[ $rel =~ ^(.*)\ \(mode\ ([0-7]+)\)$ ]]; then
                                cur=$dir/${BASH_REMATCH[1]}
                                want=${BASH_REMATCH[2]}
                                : >"$cur"
                                chmod "$want" "$cur"
                        else
                                harness_fail "cannot parse '$line' of $src"
                        fi
                elif [ -n "$cur" ]; then
                        printf '%s\n' "$line" >>"$cur"
                fi
        done <"$src"
}

# shown KEY FILE: the value iscsiadm's show output FILE gives KEY.
shown() { awk -v k="$1" 'index($0, k " = ") == 1 { print substr($0, length(k) + 4) }' "$2"; }

# --- the daemon ---------------------------------------------------------------------------------

# iscsiadm's first run creates ifaces/ and its lock file <lock dir>/lock.
if ! iscsiadm -m iface >/dev/null 2>"$STATE/adm.err"; then
        harness_fail "iscsiadm -m iface fails on an empty db: $(cat "$STATE/adm.err")"
fi
[ -e "$LOCK_DIR/lock" ] || harness_fail "iscsiadm did not create $LOCK_DIR/lock"

"$IFACED_BIN" --auth off --listen 127.0.0.1:0 --port-file "$STATE/port" --iscsi-root "$ROOT" \
        --db "$STATE/ifaced.db" --lock-dir "$LOCK_DIR" --drift import \
        --iscsid-conf "$STATE/empty-iscsid.conf" --log-level debug \
        >"$STATE/daemon.log" 2>&1 &
DAEMON=$!
echo "$DAEMON" >"$WORK/daemon.pid"
for _ in $(seq 200); do
        [ -s "$STATE/port" ] && break
        kill -0 "$DAEMON" 2>/dev/null || harness_fail "the daemon exited at start: $(tail -n 5 "$STATE/daemon.log")"
        sleep 0.05
done
PORT=$(cat "$STATE/port" 2>/dev/null || true)
[ -n "$PORT" ] || harness_fail "the daemon wrote no port file within 10 s"
echo "daemon pid $DAEMON on 127.0.0.1:$PORT, iscsi root $ROOT (private mount namespace)"

api GET /api/v1/bindings
[ "$STATUS" = 200 ] || harness_fail "GET /api/v1/bindings answers $STATUS: this daemon has no bindings API ($(body))"

# --- 0. ifaces ----------------------------------------------------------------------------------

declare -A IFBODY=(
        [pa]='{"name":"pa","net_ifacename":"ethA0"}'
        [pb]='{"name":"pb","hwaddress":"02:00:00:00:00:0b"}'
        [pi]='{"name":"pi","net_ifacename":"ethI0","initiatorname":"iqn.2026-12.test.host:pi"}'
        [pu]='{"name":"pu","net_ifacename":"ethU0"}'
        [iface0]='{"name":"iface0","net_ifacename":"lo"}'
)
for n in pa pb pi pu iface0; do
        api POST /api/v1/ifaces application/json "${IFBODY[$n]}"
        [ "$STATUS" = 201 ] || harness_fail "POST iface $n -> $STATUS: $(body)"
done

# --- 1. bindings through the API, read by iscsiadm ----------------------------------------------

T1=iqn.2026-12.test:disk1
T2=iqn.2026-12.test:disk2
PW1=Sekrit-pw1-chap
PW1IN=Sekrit-pw1-mutual
# name|target|address|port|tpgt|iface|POST body
BINDINGS=(
        "b1|$T1|10.0.0.1|3260|1|pa"
        "b2|$T1|10.0.0.1|3260|1|pb"
        "b3|$T2|fd00::1|3261|2|pa"
        "b4|$T2|10.0.0.2|3260|65535|pi"
)
declare -A BBODY=(
        [b1]=$(jq -nc --arg t "$T1" --arg pw "$PW1" --arg pwi "$PW1IN" '{target: $t,
                portal: "10.0.0.1:3260", tpgt: 1, iface: "pa", startup: "automatic",
                auth: {method: "CHAP", username: "u1", password: $pw, username_in: "tu1",
                       password_in: $pwi},
                settings: {"node.session.timeo.replacement_timeout": 30,
                           "node.conn[0].timeo.login_timeout": 20,
                           "node.session.initial_login_retry_max": 2,
                           "node.session.queue_depth": 64,
                           "node.session.scan": "manual",
                           "node.conn[0].iscsi.HeaderDigest": "CRC32C"}}')
        [b2]=$(jq -nc --arg t "$T1" '{target: $t, portal: "10.0.0.1:3260", tpgt: 1, iface: "pb"}')
        [b3]=$(jq -nc --arg t "$T2" '{target: $t, portal: "[fd00::1]:3261", tpgt: 2, iface: "pa",
                startup: "manual", settings: {"node.session.nr_sessions": 2}}')
        [b4]=$(jq -nc --arg t "$T2" '{target: $t, portal: "10.0.0.2", tpgt: 65535, iface: "pi",
                startup: "onboot", auth: {method: "CHAP", username: "u4", password: "Sekrit-pw4"}}')
)
declare -A BID
for spec in "${BINDINGS[@]}"; do
        IFS='|' read -r b t a p g f <<<"$spec"
        BID[$b]=$(bid "$t" "$a" "$p" "$g" "$f")
        api POST /api/v1/bindings application/json "${BBODY[$b]}"
        loc=$(awk 'tolower($1) == "location:" { sub(/\r$/, "", $2); print $2 }' "$STATE/hdr")
        if [ "$STATUS" = 201 ] && jq -e --arg id "${BID[$b]}" --arg f "$f" --argjson g "$g" \
                '.id == $id and .iface == $f and .tpgt == $g and .origin == "api" and
                 .layout == "portal-dir" and .discovery.type == "static"' "$STATE/body" >/dev/null 2>&1 &&
                grep -i '^etag:' "$STATE/hdr" >/dev/null && [ -n "$loc" ]; then
                pass "POST binding ${BID[$b]} -> 201, Location $loc, ETag, origin api, layout portal-dir, discovery static"
        else
                fail "POST binding ${BID[$b]} -> $STATUS (want 201 with Location and ETag): $(body)"
        fi
        if [ -f "$ROOT/$(node_rel "$t" "$a" "$p" "$g" "$f")" ]; then
                pass "POST ${BID[$b]}: the file $(node_rel "$t" "$a" "$p" "$g" "$f") exists"
        else
                fail "POST ${BID[$b]}: no file $(node_rel "$t" "$a" "$p" "$g" "$f")"
        fi
done

# Secrets never come back.
all_bindings "$STATE/bindings.json" || fail "GET /api/v1/bindings (all pages): $STATUS $(body)"
if ! grep -F -e "$PW1" -e "$PW1IN" -e Sekrit-pw4 "$STATE/bindings.json" >/dev/null &&
        jq -e --arg id "${BID[b1]}" 'map(select(.id == $id))[0].auth |
                .method == "CHAP" and .username == "u1" and .password_set == true and
                .username_in == "tu1" and .password_in_set == true and (has("password") | not)' \
                "$STATE/bindings.json" >/dev/null 2>&1; then
        pass "GET /api/v1/bindings: b1's auth says password_set and password_in_set, no secret anywhere"
else
        fail "GET /api/v1/bindings: auth of b1 wrong or a secret in the listing: $(head -c 600 "$STATE/bindings.json")"
fi

# `iscsiadm -m node`: one "ip:port,tpgt target" line per record, as a multiset.
{
        for spec in "${BINDINGS[@]}"; do
                IFS='|' read -r b t a p g f <<<"$spec"
                if [[ $a == *:* ]]; then echo "[$a]:$p,$g $t"; else echo "$a:$p,$g $t"; fi
        done
} | sort >"$STATE/node-list.want"
rc=0
iscsiadm -m node >"$STATE/node-list.raw" 2>"$STATE/adm.err" || rc=$?
sort "$STATE/node-list.raw" >"$STATE/node-list.got"
if [ "$rc" = 0 ] && cmp -s "$STATE/node-list.want" "$STATE/node-list.got"; then
        pass "iscsiadm -m node: rc 0, lists exactly our ${#BINDINGS[@]} bindings"
else
        fail "iscsiadm -m node: rc $rc, stderr $(head -c 200 "$STATE/adm.err")"
        show_diff "our bindings" "iscsiadm -m node" "$STATE/node-list.want" "$STATE/node-list.got"
fi

# The full dump, record by record: (target, address, port, tpgt, iface) against our listing.
rc=0
iscsiadm -m node -o show >"$STATE/node-show-all" 2>"$STATE/adm.err" || rc=$?
awk '/^# BEGIN RECORD/ { n = t = a = p = f = "" }
     /^node.name = /            { n = $3 }
     /^node.tpgt = /            { t = $3 }
     /^node.conn\[0\].address = / { a = $3 }
     /^node.conn\[0\].port = /    { p = $3 }
     /^iface.iscsi_ifacename = / { f = $3 }
     /^# END RECORD/ { print n "," a "," p "," t "," f }' "$STATE/node-show-all" | sort >"$STATE/ids.adm"
jq -r '.[].id' "$STATE/bindings.json" | sort >"$STATE/ids.ours"
if [ "$rc" = 0 ] && [ -s "$STATE/ids.ours" ] && cmp -s "$STATE/ids.ours" "$STATE/ids.adm"; then
        pass "iscsiadm -m node -o show: the records are exactly the ids of GET /api/v1/bindings"
else
        fail "iscsiadm -m node -o show (rc $rc) and GET /api/v1/bindings disagree"
        show_diff "GET /api/v1/bindings ids" "iscsiadm records" "$STATE/ids.ours" "$STATE/ids.adm"
fi

# -o show of each binding: our values, secrets masked.
for spec in "${BINDINGS[@]}"; do
        IFS='|' read -r b t a p g f <<<"$spec"
        if [[ $a == *:* ]]; then pp="[$a]:$p,$g"; else pp="$a:$p,$g"; fi
        out=$STATE/show-$b
        rc=0
        iscsiadm -m node -T "$t" -p "$pp" -I "$f" -o show >"$out" 2>"$STATE/adm.err" || rc=$?
        if [ "$rc" != 0 ]; then
                fail "iscsiadm -m node -T $t -p $pp -I $f -o show: rc $rc, $(head -c 200 "$STATE/adm.err")"
                continue
        fi
        bad=
        want_startup=$(jq -r '.startup // "manual"' <<<"${BBODY[$b]}")
        [ "$(shown node.startup "$out")" = "$want_startup" ] || bad+=" node.startup=$(shown node.startup "$out")"
        [ "$(shown iface.iscsi_ifacename "$out")" = "$f" ] || bad+=" iface"
        [ "$(shown node.discovery_type "$out")" = static ] || bad+=" discovery_type"
        want_method=$(jq -r '.auth.method // "None"' <<<"${BBODY[$b]}")
        [ "$(shown node.session.auth.authmethod "$out")" = "$want_method" ] || bad+=" authmethod"
        for k in username username_in; do
                want=$(jq -r --arg k "$k" '.auth[$k] // "" | if . == "" then "<empty>" else . end' <<<"${BBODY[$b]}")
                got=$(shown "node.session.auth.$k" "$out")
                [ "$got" = "$want" ] || bad+=" auth.$k=$got(want $want)"
        done
        for k in password password_in; do
                want=$(jq -r --arg k "$k" '.auth[$k] // "" | if . == "" then "<empty>" else "********" end' <<<"${BBODY[$b]}")
                got=$(shown "node.session.auth.$k" "$out")
                [ "$got" = "$want" ] || bad+=" auth.$k=$got(want $want)"
        done
        while IFS=$'\t' read -r k v; do
                got=$(shown "$k" "$out")
                [ "$got" = "$v" ] || bad+=" $k=$got(want $v)"
        done < <(jq -r '.settings // {} | to_entries[] | "\(.key)\t\(.value)"' <<<"${BBODY[$b]}")
        if grep -F -e "$PW1" -e "$PW1IN" -e Sekrit-pw4 "$out" >/dev/null; then bad+=" a-secret-in-clear"; fi
        if [ -z "$bad" ]; then
                pass "iscsiadm -o show of ${BID[$b]}: our startup, auth, settings; passwords masked as iscsiadm masks them"
        else
                fail "iscsiadm -o show of ${BID[$b]}:$bad"
        fi
done

# Errors of the contract: a duplicate is 409, a missing tpgt or a missing iface are 4xx naming
# the field.
api POST /api/v1/bindings application/json "${BBODY[b2]}"
if [ "$STATUS" = 409 ]; then pass "POST of an existing binding -> 409"; else fail "POST of an existing binding -> $STATUS (want 409): $(body)"; fi
api POST /api/v1/bindings application/json "$(jq -nc --arg t "$T1" '{target: $t, portal: "10.0.0.1:3260", iface: "pa"}')"
if [ "$STATUS" = 400 ] && jq -e '.field == "tpgt"' "$STATE/body" >/dev/null 2>&1; then
        pass "POST without tpgt -> 400, field tpgt"
else
        fail "POST without tpgt -> $STATUS (want 400 field tpgt): $(body)"
fi
api POST /api/v1/bindings application/json "$(jq -nc --arg t "$T1" '{target: $t, portal: "10.0.0.1:3260", tpgt: 1, iface: "nosuch"}')"
if [[ $STATUS == 4?? ]] && jq -e '.field == "iface"' "$STATE/body" >/dev/null 2>&1; then
        pass "POST with an iface that does not exist -> $STATUS, field iface"
else
        fail "POST with an iface that does not exist -> $STATUS (want 4xx field iface): $(body)"
fi
api POST /api/v1/bindings application/json "$(jq -nc '{target: "iqn.2026-12.test:../../etc", portal: "10.0.0.1:3260", tpgt: 1, iface: "pa"}')"
if [ "$STATUS" = 400 ] && jq -e '.field == "target"' "$STATE/body" >/dev/null 2>&1 && [ ! -e "$ROOT/etc" ]; then
        pass "POST with a target name holding '/' and '..' -> 400, field target, nothing written"
else
        fail "POST with target iqn.2026-12.test:../../etc -> $STATUS (want 400 field target): $(body)"
fi
# The id may be percent-encoded.
enc=$(jq -rn --arg id "${BID[b3]}" '$id | @uri')
api GET "/api/v1/bindings/$enc"
if [ "$STATUS" = 200 ] && jq -e --arg id "${BID[b3]}" '.id == $id and .address == "fd00::1" and
        .port == 3261 and .portal == "[fd00::1]:3261"' "$STATE/body" >/dev/null 2>&1; then
        pass "GET /api/v1/bindings/$enc (percent-encoded IPv6 id) -> 200"
else
        fail "GET /api/v1/bindings/$enc -> $STATUS: $(body)"
fi

# --- 2. bytes: iscsiadm's own records against ours ----------------------------------------------

# Build the same bindings with iscsiadm in a second root, then compare whole subtrees.
R2=$WORK/root2-bytes
new_root2 "$R2" pa pb pi
B_STATIC=()
for spec in "${BINDINGS[@]}"; do
        IFS='|' read -r b t a p g f <<<"$spec"
        if [[ $a == *:* ]]; then pp="[$a]:$p,$g"; else pp="$a:$p,$g"; fi
        adm2 "$R2" -m node -o new -T "$t" -p "$pp" -I "$f" ||
                harness_fail "reference iscsiadm -o new -T $t -p $pp -I $f: $(cat "$STATE/adm2.err")"
        # Then each non-default value of our POST, one -o update at a time.
        while IFS=$'\t' read -r k v; do
                adm2 "$R2" -m node -T "$t" -p "$pp" -I "$f" -o update -n "$k" -v "$v" ||
                        harness_fail "reference iscsiadm -o update -n $k: $(cat "$STATE/adm2.err")"
        done < <(jq -r '[
                        (if .startup then ["node.startup", .startup] else empty end),
                        (.auth // {} | to_entries[] | select(.key != "method") |
                                ["node.session.auth." + .key, .value]),
                        (if .auth.method then ["node.session.auth.authmethod", .auth.method] else empty end),
                        (.settings // {} | to_entries[] | [.key, (.value | tostring)])
                ][] | @tsv' <<<"${BBODY[$b]}")
        B_STATIC+=("$(static_rel "$t" "$a" "$p" "$g" "$f")")
done
for spec in "${BINDINGS[@]}"; do
        IFS='|' read -r b t a p g f <<<"$spec"
        R2=$WORK/root2-bytes
        rel=$(node_rel "$t" "$a" "$p" "$g" "$f")
        if cmp -s "$R2/$rel" "$ROOT/$rel"; then
                pass "bytes of ${BID[$b]}: our file equals iscsiadm's -o new + -o update, byte for byte"
        else
                fail "bytes of ${BID[$b]}: our file differs from iscsiadm's"
                show_diff "iscsiadm $rel" "ours" "$R2/$rel" "$ROOT/$rel"
        fi
done
same_tree "bindings b1-b4 (node dirs and files)" nodes
# iscsiadm -m node -o new of a new-style record also links it under static/ (its discovery db of
# static records, as send_targets/ is for SendTargets). Checked once here; the comparisons below
# leave static/ out so that they show the node files alone.
same_tree "bindings b1-b4: static/<target>,<ip>,<port>,<tpgt>,<iface> links as iscsiadm -o new makes them" static

# A plain POST against a plain -o new, then PATCH against -o update, step by step.
TB=iqn.2026-12.test:bytes
IDB=$(bid "$TB" 10.0.0.7 3260 3 pu)
R2=$WORK/root2-steps
new_root2 "$R2" pu
STEP_RELS=("nodes/$TB")
adm2 "$R2" -m node -o new -T "$TB" -p 10.0.0.7:3260,3 -I pu ||
        harness_fail "reference iscsiadm -o new: $(cat "$STATE/adm2.err")"
api POST /api/v1/bindings application/json "$(jq -nc --arg t "$TB" '{target: $t, portal: "10.0.0.7:3260", tpgt: 3, iface: "pu"}')"
[ "$STATUS" = 201 ] || fail "POST $IDB -> $STATUS: $(body)"
same_tree "POST $IDB vs iscsiadm -m node -o new (compiled defaults vs an empty --iscsid-conf)" "${STEP_RELS[@]}"
rev0=$(jq -r .revision "$STATE/body" 2>/dev/null || echo 0)
STALE_ETAG=$(awk 'tolower($1) == "etag:" { sub(/\r$/, "", $2); print $2 }' "$STATE/hdr")

# patch_vs_update LABEL PATCH-BODY KEY=VALUE...: our PATCH of $IDB against iscsiadm -o update of
# each KEY in $R2; the trees must stay equal.
patch_vs_update() {
        local label=$1 patch=$2 kv
        shift 2
        api PATCH "/api/v1/bindings/$IDB" application/merge-patch+json "$patch"
        [ "$STATUS" = 200 ] || fail "$label: PATCH $patch -> $STATUS (want 200): $(body)"
        for kv in "$@"; do
                adm2 "$R2" -m node -T "$TB" -p 10.0.0.7:3260,3 -I pu -o update -n "${kv%%=*}" -v "${kv#*=}" ||
                        harness_fail "reference iscsiadm -o update -n ${kv%%=*}: $(cat "$STATE/adm2.err")"
        done
        same_tree "$label" "${STEP_RELS[@]}"
}
patch_vs_update "PATCH startup automatic vs -o update -n node.startup -v automatic" \
        '{"startup":"automatic"}' node.startup=automatic
rev1=$(jq -r .revision "$STATE/body" 2>/dev/null || echo 0)
if [ "$rev1" -gt "$rev0" ] 2>/dev/null && jq -e '.startup == "automatic" and .origin == "api"' "$STATE/body" >/dev/null 2>&1; then
        pass "PATCH startup: revision $rev0 -> $rev1, startup automatic, origin api"
else
        fail "PATCH startup: revision $rev0 -> $rev1: $(body)"
fi
patch_vs_update "PATCH auth CHAP vs -o update of authmethod, username, password" \
        '{"auth":{"method":"CHAP","username":"ub","password":"Sekrit-pwb"}}' \
        node.session.auth.authmethod=CHAP node.session.auth.username=ub node.session.auth.password=Sekrit-pwb
patch_vs_update "PATCH settings vs -o update of replacement_timeout, noop_out_interval, DataDigest" \
        '{"settings":{"node.session.timeo.replacement_timeout":5,"node.conn[0].timeo.noop_out_interval":0,"node.conn[0].iscsi.DataDigest":"CRC32C,None"}}' \
        node.session.timeo.replacement_timeout=5 node.conn[0].timeo.noop_out_interval=0 \
        "node.conn[0].iscsi.DataDigest=CRC32C,None"
patch_vs_update "PATCH auth method None, password null vs -o update of authmethod None, password ''" \
        '{"auth":{"method":"None","password":null}}' node.session.auth.authmethod=None \
        node.session.auth.password=
patch_vs_update "PATCH startup onboot vs -o update -n node.startup -v onboot" \
        '{"startup":"onboot"}' node.startup=onboot
# If-Match with a stale ETag is 412, and nothing changes.
api GET "/api/v1/bindings/$IDB"
etag=$(awk 'tolower($1) == "etag:" { sub(/\r$/, "", $2); print $2 }' "$STATE/hdr")
stale=$STALE_ETAG
cp "$ROOT/$(node_rel "$TB" 10.0.0.7 3260 3 pu)" "$STATE/before-412"
STATUS=000
curl -sS -o "$STATE/body" -D "$STATE/hdr" -w '%{http_code}' -X PATCH \
        -H 'Content-Type: application/merge-patch+json' -H "If-Match: $stale" \
        --data-binary '{"startup":"automatic"}' \
        "http://127.0.0.1:$PORT/api/v1/bindings/$IDB" >"$STATE/status" 2>/dev/null || true
STATUS=$(cat "$STATE/status")
contract_record PATCH "/api/v1/bindings/$IDB" "$STATUS" "$STATE/hdr" "$STATE/body" "compat If-Match"
if [ "$STATUS" = 412 ] && [ -n "$etag" ] && [ "$stale" != "$etag" ] && cmp -s "$STATE/before-412" "$ROOT/$(node_rel "$TB" 10.0.0.7 3260 3 pu)"; then
        pass "PATCH with a stale If-Match -> 412, file unchanged"
else
        fail "PATCH with a stale If-Match $stale -> $STATUS (want 412, file unchanged; ETag is $etag)"
fi
# Bad values are refused with the member named.
api PATCH "/api/v1/bindings/$IDB" application/merge-patch+json '{"settings":{"node.session.scan":"sometimes"}}'
if [ "$STATUS" = 400 ] && jq -e '.field == "settings.node.session.scan"' "$STATE/body" >/dev/null 2>&1; then
        pass "PATCH settings node.session.scan 'sometimes' -> 400, field settings.node.session.scan"
else
        fail "PATCH scan 'sometimes' -> $STATUS (want 400 field settings.node.session.scan): $(body)"
fi
api PATCH "/api/v1/bindings/$IDB" application/merge-patch+json '{"settings":{"node.session.auth.password":"x"}}'
if [ "$STATUS" = 400 ]; then
        pass "PATCH a key that is not a tunable setting -> 400"
else
        fail "PATCH settings node.session.auth.password -> $STATUS (want 400): $(body)"
fi
api PATCH "/api/v1/bindings/$IDB" application/merge-patch+json "$(printf '{"auth":{"password":"a\\nnode.startup = automatic"}}')"
if [ "$STATUS" = 400 ] && [ "$(grep -c '^node.startup = ' "$ROOT/$(node_rel "$TB" 10.0.0.7 3260 3 pu)")" = 1 ]; then
        pass "PATCH a password with a newline -> 400, no injected line"
else
        fail "PATCH a password with a newline -> $STATUS (want 400): $(body)"
fi

# --- 3. import: records iscsiadm makes while the daemon runs ------------------------------------

TE=iqn.2026-12.test:ext1
IDE=$(bid "$TE" 10.0.0.9 3260 1 pa)
PWE=Sekrit-pw-external
audit_has() { # audit_has ID ACTION: an external audit entry for ID with ACTION
        api GET "/api/v1/audit?origin=external&limit=1000"
        [ "$STATUS" = 200 ] && jq -e --arg id "$1" --arg a "$2" \
                'any(.items[]; (.name == $id or (.name | contains($id))) and .action == $a)' \
                "$STATE/body" >/dev/null 2>&1
}
# adm_then LABEL CHECK ARGS -- iscsiadm ARGS...: run iscsiadm, then wait up to 2 s for CHECK ARGS.
adm_then() {
        local label=$1 rc=0 check=()
        shift
        while [ "$1" != -- ]; do check+=("$1"); shift; done
        shift
        "$@" >/dev/null 2>"$STATE/adm.err" || rc=$?
        if [ "$rc" != 0 ]; then
                fail "$label: $* -> rc $rc, $(head -c 300 "$STATE/adm.err")"
                return
        fi
        if wait_for 2000 "${check[@]}"; then
                pass "$label: seen through the API in $WAITED ms"
        else
                fail "$label: not seen through the API within 2 s (last GET $STATUS: $(body))"
        fi
}
adm_then "iscsiadm -m node -o new $IDE" binding_is "$IDE" \
        '.origin == "external" and .layout == "portal-dir" and .startup == "manual" and
         .discovery.type == "static" and .auth.method == "None"' -- \
        iscsiadm -m node -o new -T "$TE" -p 10.0.0.9:3260,1 -I pa
rev_e0=$(jq -r '.revision // 0' "$STATE/body")
adm_then "iscsiadm -o update -n node.startup -v automatic of $IDE" binding_is "$IDE" \
        '.origin == "external" and .startup == "automatic" and .revision > $r' --argjson r "$rev_e0" -- \
        iscsiadm -m node -T "$TE" -p 10.0.0.9:3260,1 -I pa -o update -n node.startup -v automatic
adm_then "iscsiadm -o update of authmethod CHAP, username, password of $IDE" binding_is "$IDE" \
        '.auth.method == "CHAP" and .auth.username == "ue" and .auth.password_set == true' -- \
        bash -c "iscsiadm -m node -T '$TE' -p 10.0.0.9:3260,1 -I pa -o update -n node.session.auth.username -v ue &&
                 iscsiadm -m node -T '$TE' -p 10.0.0.9:3260,1 -I pa -o update -n node.session.auth.password -v '$PWE' &&
                 iscsiadm -m node -T '$TE' -p 10.0.0.9:3260,1 -I pa -o update -n node.session.auth.authmethod -v CHAP"
adm_then "iscsiadm -o update -n node.session.timeo.replacement_timeout -v 17 of $IDE" binding_is "$IDE" \
        '.settings["node.session.timeo.replacement_timeout"] == 17' -- \
        iscsiadm -m node -T "$TE" -p 10.0.0.9:3260,1 -I pa -o update -n node.session.timeo.replacement_timeout -v 17
for action in create update; do
        if wait_for 2000 audit_has "$IDE" "$action"; then
                pass "audit: an external '$action' entry for $IDE"
        else
                fail "audit: no external '$action' entry for $IDE (GET /api/v1/audit $STATUS: $(body))"
        fi
done
api GET "/api/v1/audit?limit=1000"
if [ "$STATUS" = 200 ] && ! grep -F -e "$PWE" -e "$PW1" -e "$PW1IN" -e Sekrit-pw4 -e Sekrit-pwb "$STATE/body" >/dev/null; then
        pass "audit: no CHAP password in any entry (before/after of node records included)"
else
        fail "audit: $STATUS, or a CHAP password in the audit trail"
fi
# Our PATCH on top of iscsiadm's record.
api PATCH "/api/v1/bindings/$IDE" application/merge-patch+json '{"startup":"manual"}'
rc=0
iscsiadm -m node -T "$TE" -p 10.0.0.9:3260,1 -I pa -o show >"$STATE/show-ext" 2>"$STATE/adm.err" || rc=$?
if [ "$STATUS" = 200 ] && [ "$rc" = 0 ] && [ "$(shown node.startup "$STATE/show-ext")" = manual ] &&
        [ "$(shown node.session.timeo.replacement_timeout "$STATE/show-ext")" = 17 ] &&
        [ "$(shown node.session.auth.password "$STATE/show-ext")" = '********' ] &&
        grep -Fx "node.session.auth.password = $PWE" "$ROOT/$(node_rel "$TE" 10.0.0.9 3260 1 pa)" >/dev/null; then
        pass "PATCH startup of iscsiadm's record: iscsiadm reads it, its other values and the password kept"
else
        fail "PATCH startup of iscsiadm's record: $STATUS, iscsiadm rc $rc: $(body)"
fi
adm_then "iscsiadm -o delete $IDE" binding_absent "$IDE" -- \
        iscsiadm -m node -o delete -T "$TE" -p 10.0.0.9:3260,1 -I pa
if wait_for 2000 audit_has "$IDE" delete; then
        pass "audit: an external 'delete' entry for $IDE"
else
        fail "audit: no external 'delete' entry for $IDE"
fi
if [ ! -e "$ROOT/nodes/$TE" ]; then pass "iscsiadm's delete left no nodes/$TE"; else fail "nodes/$TE left after iscsiadm's delete"; fi

# An old-style record (no tpgt): shown, never written.
TO=iqn.2026-12.test:old1
IDO=$(bid "$TO" 10.0.0.9 3260 -1 pa)
adm_then "iscsiadm -m node -o new $TO -p 10.0.0.9:3260 (old style, no tpgt)" binding_is "$IDO" \
        '.origin == "external" and .layout == "old-single-file" and .tpgt == -1 and
         .path == "nodes/" + $t + "/10.0.0.9,3260"' --arg t "$TO" -- \
        iscsiadm -m node -o new -T "$TO" -p 10.0.0.9:3260 -I pa
cp "$ROOT/nodes/$TO/10.0.0.9,3260" "$STATE/old.bytes" 2>/dev/null || true
api PATCH "/api/v1/bindings/$IDO" application/merge-patch+json '{"startup":"automatic"}'
s_patch=$STATUS
api DELETE "/api/v1/bindings/$IDO"
if [ "$s_patch" = 409 ] && [ "$STATUS" = 409 ] && cmp -s "$STATE/old.bytes" "$ROOT/nodes/$TO/10.0.0.9,3260"; then
        pass "old-style $IDO: PATCH 409, DELETE 409, the file untouched"
else
        fail "old-style $IDO: PATCH $s_patch, DELETE $STATUS (want 409, 409, file untouched)"
fi
adm_then "iscsiadm -o delete of the old-style record" binding_absent "$IDO" -- \
        iscsiadm -m node -o delete -T "$TO" -p 10.0.0.9:3260 -I pa

# The discovery record: made by iscsiadm, audited; it is no binding.
all_bindings "$STATE/bindings-before-st.json" || true
rc=0
iscsiadm -m discoverydb -t st -p 10.0.0.9:3260 -o new >/dev/null 2>"$STATE/adm.err" || rc=$?
[ "$rc" = 0 ] || fail "iscsiadm -m discoverydb -t st -p 10.0.0.9:3260 -o new: rc $rc $(head -c 200 "$STATE/adm.err")"
if wait_for 2000 audit_has "10.0.0.9,3260" create; then
        pass "iscsiadm's discovery record send_targets/10.0.0.9,3260/st_config is audited as an external create ($WAITED ms)"
else
        fail "iscsiadm's discovery record send_targets/10.0.0.9,3260/st_config: no external audit entry within 2 s"
fi
all_bindings "$STATE/bindings-after-st.json" || true
if cmp -s <(jq -c 'map(.id)' "$STATE/bindings-before-st.json") <(jq -c 'map(.id)' "$STATE/bindings-after-st.json"); then
        pass "the discovery record adds no binding"
else
        fail "the discovery record changed the list of bindings"
fi

# --- 4. iface update propagation (golden D09) ---------------------------------------------------

TP=iqn.2026-12.test:prop
R2=$WORK/root2-prop
new_root2 "$R2" pu
PROP_RELS=(ifaces/pu "nodes/$TP" "nodes/$TB")
for pg in 10.0.1.1:3260:1 10.0.1.2:3262:7; do
        IFS=: read -r a p g <<<"$pg"
        api POST /api/v1/bindings application/json \
                "$(jq -nc --arg t "$TP" --arg pt "$a:$p" --argjson g "$g" '{target: $t, portal: $pt, tpgt: $g, iface: "pu"}')"
        [ "$STATUS" = 201 ] || fail "POST $(bid "$TP" "$a" "$p" "$g" pu) -> $STATUS: $(body)"
        adm2 "$R2" -m node -o new -T "$TP" -p "$a:$p,$g" -I pu || harness_fail "reference -o new: $(cat "$STATE/adm2.err")"
done
# The bytes binding of section 2 is pu's too: rebuild it in this root as it stands now.
cp -a "$ROOT/nodes/$TB" "$R2/nodes/"
ln -s "/etc/iscsi/nodes/$TB/10.0.0.7,3260,3" "$R2/$(static_rel "$TB" 10.0.0.7 3260 3 pu)"
rev_p0=$(binding_is "$(bid "$TP" 10.0.1.1 3260 1 pu)" true && jq -r .revision "$STATE/body")
api PATCH /api/v1/ifaces/pu application/merge-patch+json '{"initiatorname":"iqn.2020-01.com.example:pu"}'
[ "$STATUS" = 200 ] || fail "PATCH iface pu initiatorname -> $STATUS: $(body)"
adm2 "$R2" -m iface -I pu -o update -n iface.initiatorname -v iqn.2020-01.com.example:pu ||
        harness_fail "reference iscsiadm -m iface -o update: $(cat "$STATE/adm2.err")"
same_tree "PATCH iface pu initiatorname vs iscsiadm -m iface -o update (D09): iface and node files" "${PROP_RELS[@]}"
if binding_is "$(bid "$TP" 10.0.1.1 3260 1 pu)" '.revision > ($r | tonumber)' --arg r "${rev_p0:-0}"; then
        pass "the propagated rewrite gives the binding a new revision"
else
        fail "the binding's revision did not move after the iface update: $(body)"
fi
api PATCH /api/v1/ifaces/pu application/merge-patch+json '{"net_ifacename":"ethU1"}'
[ "$STATUS" = 200 ] || fail "PATCH iface pu net_ifacename -> $STATUS: $(body)"
adm2 "$R2" -m iface -I pu -o update -n iface.net_ifacename -v ethU1 ||
        harness_fail "reference iscsiadm -m iface -o update: $(cat "$STATE/adm2.err")"
same_tree "PATCH iface pu net_ifacename vs iscsiadm -m iface -o update" "${PROP_RELS[@]}"

# --- 5. delete: dirs and send_targets links (golden D01 seeded, D16) ----------------------------

D01=$GOLDEN/D01_discovery_I_iface0/db_after
TD1=iqn.2003-01.org.example:disk1
TD2=iqn.2003-01.org.example:disk2
D_RELS=("nodes/$TD1" "nodes/$TD2" "send_targets/127.0.0.1,3260")
R2=$WORK/root2-d01
new_root2 "$R2" iface0
if ! cmp -s <(sed -n '/^== .\/ifaces\/iface0 /,/^# END RECORD/p' "$D01" | tail -n +2) "$ROOT/ifaces/iface0"; then
        harness_fail "our iface0 is not D01's iface0, so D01's node records would not match it"
fi
# What iscsiadm -m discovery -I iface0 left in D01: nodes/ and send_targets/, written under
# iscsiadm's lock as iscsiadm writes them.
STAGE=$WORK/stage-d01
mkdir -p "$STAGE"
seed_golden "$D01" "$STAGE" nodes/ send_targets/
seed_golden "$D01" "$R2" nodes/ send_targets/
with_adm_lock cp -a "$STAGE/nodes" "$STAGE/send_targets" "$ROOT/"
DID1=$(bid "$TD1" 127.0.0.1 3260 1 iface0)
DID2=$(bid "$TD2" 127.0.0.1 3260 1 iface0)
DID3=$(bid "$TD2" 127.0.0.1 3261 2 iface0)
seen_d01() {
        binding_is "$DID1" '.origin == "external" and .discovery.type == "send_targets" and
                .discovery.address == "127.0.0.1" and .discovery.port == 3260' &&
                binding_is "$DID2" '.origin == "external"' && binding_is "$DID3" '.origin == "external"'
}
if wait_for 2000 seen_d01; then
        pass "D01's three discovered records are imported ($WAITED ms): origin external, discovery send_targets 127.0.0.1:3260"
else
        fail "D01's records not imported within 2 s: $(body)"
fi
same_tree "D01 seeded: the same tree in both roots before any delete" "${D_RELS[@]}"

api DELETE "/api/v1/bindings/$DID1"
[ "$STATUS" = 204 ] || fail "DELETE $DID1 -> $STATUS (want 204): $(body)"
adm2 "$R2" -m node -o delete -T "$TD1" -p 127.0.0.1:3260,1 -I iface0 ||
        harness_fail "reference iscsiadm -m node -o delete: $(cat "$STATE/adm2.err")"
same_tree "DELETE of $TD1's only binding vs iscsiadm -m node -o delete (dirs and send_targets link gone)" "${D_RELS[@]}"
if [ ! -e "$ROOT/nodes/$TD1" ] && [ ! -L "$ROOT/send_targets/127.0.0.1,3260/$TD1,127.0.0.1,3260,1,iface0" ]; then
        pass "DELETE $DID1: nodes/$TD1 and its send_targets link are gone"
else
        fail "DELETE $DID1: nodes/$TD1 or its send_targets link is left"
fi

# DELETE of an iface with bindings: 409 naming them; cascade deletes them, then the iface.
api DELETE /api/v1/ifaces/iface0
missing=
for id in "$DID2" "$DID3"; do grep -F -- "$id" "$STATE/body" >/dev/null || missing+=" $id"; done
if [ "$STATUS" = 409 ] && [ -z "$missing" ] && [ -f "$ROOT/ifaces/iface0" ]; then
        pass "DELETE iface iface0 with 2 bindings -> 409 naming both, nothing deleted"
else
        fail "DELETE iface iface0 with bindings -> $STATUS (want 409 naming$missing): $(body)"
fi
api DELETE "/api/v1/ifaces/iface0?cascade=true"
if [[ $STATUS == 20? ]] && binding_absent "$DID2" && binding_absent "$DID3"; then
        pass "DELETE iface iface0?cascade=true -> 2xx, its bindings 404"
else
        fail "DELETE iface0?cascade=true -> $STATUS: $(body)"
fi
adm2 "$R2" -m iface -I iface0 -o delete || harness_fail "reference iscsiadm -m iface -o delete: $(cat "$STATE/adm2.err")"
same_tree "cascade delete vs iscsiadm -m iface -I iface0 -o delete (D16)" ifaces/iface0 "${D_RELS[@]}"
# D16's own listing of what is left of that discovery: send_targets/127.0.0.1,3260/ with st_config.
sed -n '/^== .\/send_targets\/127.0.0.1,3260\//,$p' "$GOLDEN/D16_delete_iface1_deletes_nodes/db_after" >"$STATE/d16.want"
dump_tree "$ROOT" "send_targets/127.0.0.1,3260" >"$STATE/d16.got"
if cmp -s "$STATE/d16.want" "$STATE/d16.got"; then
        pass "what is left equals golden D16: send_targets/127.0.0.1,3260/ (0700) with st_config only"
else
        fail "what is left differs from golden D16"
        show_diff "golden D16" "ours" "$STATE/d16.want" "$STATE/d16.got"
fi

# Our own bindings: the last of a portal removes the portal dir, the last of a target the target
# dir (and the static/ link iscsiadm made for it), never nodes/ itself.
R2=$WORK/root2-bytes
del_one() { # del_one NAME: DELETE our binding NAME and iscsiadm's in root2-bytes
        local spec b t a p g f pp
        for spec in "${BINDINGS[@]}"; do
                IFS='|' read -r b t a p g f <<<"$spec"
                [ "$b" = "$1" ] || continue
                if [[ $a == *:* ]]; then pp="[$a]:$p,$g"; else pp="$a:$p,$g"; fi
                api DELETE "/api/v1/bindings/${BID[$b]}"
                [ "$STATUS" = 204 ] || fail "DELETE ${BID[$b]} -> $STATUS (want 204): $(body)"
                adm2 "$R2" -m node -o delete -T "$t" -p "$pp" -I "$f" ||
                        harness_fail "reference -o delete ${BID[$b]}: $(cat "$STATE/adm2.err")"
        done
}
del_one b2
same_tree "DELETE b2 (the portal keeps b1): the portal dir stays" "nodes/$T1" "nodes/$T2"
del_one b4
same_tree "DELETE b4 (last of its portal): its portal dir goes, the target dir stays" "nodes/$T1" "nodes/$T2"
del_one b3
same_tree "DELETE b3 (last of $T2): the target dir goes" "nodes/$T1" "nodes/$T2"
# cascade of pa: b1 is its last binding on $T1.
api DELETE /api/v1/ifaces/pa
s409=$STATUS
grep -F -- "${BID[b1]}" "$STATE/body" >/dev/null && named=1 || named=0
api DELETE "/api/v1/ifaces/pa?cascade=true"
adm2 "$R2" -m iface -I pa -o delete || harness_fail "reference iscsiadm -m iface -I pa -o delete: $(cat "$STATE/adm2.err")"
if [ "$s409" = 409 ] && [ "$named" = 1 ] && [[ $STATUS == 20? ]]; then
        pass "DELETE iface pa -> 409 naming ${BID[b1]}; with cascade=true -> $STATUS"
else
        fail "DELETE iface pa -> $s409 (named: $named), with cascade -> $STATUS: $(body)"
fi
same_tree "cascade of pa vs iscsiadm -m iface -I pa -o delete" ifaces/pa "nodes/$T1" "nodes/$T2" "${B_STATIC[@]}"
if [ -d "$ROOT/nodes" ] && [ "$(stat -c %a "$ROOT/nodes")" = 700 ]; then
        pass "nodes/ itself stays (0700), as in D16"
else
        fail "nodes/ is gone or not 0700 after the last delete"
fi

# --- 6. drift of our own writes, then stop ------------------------------------------------------

api GET /api/v1/health
if [ "$STATUS" = 200 ] && jq -e '(.problems | length) == 0' "$STATE/body" >/dev/null 2>&1; then
        pass "health: no problems after all of the above"
else
        fail "health: $STATUS $(body)"
fi
kill -TERM "$DAEMON"
rc=0
wait "$DAEMON" || rc=$?
DAEMON=
rm -f "$WORK/daemon.pid"
if [ "$rc" = 0 ]; then pass "SIGTERM: the daemon exits 0"; else fail "SIGTERM: the daemon exits $rc"; fi
rc=0
iscsiadm -m node >/dev/null 2>"$STATE/adm.err" || rc=$?
# rc 21: no records (every binding of ours is gone); 0: iscsiadm's own leftovers
if { [ "$rc" = 0 ] || [ "$rc" = 21 ]; } && [ ! -e "$LOCK_DIR/lock.write" ]; then
        pass "iscsiadm -m node after the daemon stopped: rc $rc, no lock left"
else
        fail "iscsiadm -m node after the daemon stopped: rc $rc $(head -c 200 "$STATE/adm.err")"
fi

contract_verdict # every answer, against openapi.yaml
echo "compat.bindings: $PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]
