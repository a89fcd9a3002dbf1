#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Lint: data flows one way (server/ -> api/ -> engine/), so each directory may include only what
# its layer is allowed to know. Fails, naming file, line and rule, on any forbidden #include:
#   engine/  no microhttpd.h, jansson.h, nothing from api/ or server/
#   api/     no microhttpd.h, sqlite3.h, netlink/, nothing from server/, of engine/ only engine.h
#   server/  no jansson.h, sqlite3.h, netlink/; engine headers only in the files of the
#            executable (main.c, options.[ch], token-cli.[ch]), never in the server library
#   common/  no external library, nothing from engine/, api/ or server/
# usage: check-layering.sh [SOURCE_ROOT]   (default: two levels above this script)
set -euo pipefail

root=${1:-$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../..}
cd "$root" || {
        echo "check-layering: cannot enter source root '$root'" >&2
        exit 1
}

for d in common engine api server; do
        if [ ! -d "$d" ]; then
                echo "check-layering: $root has no $d/ directory: wrong source root?" >&2
                exit 1
        fi
done

# Header basenames that live in each layer, so that a bare #include "http.h" counts too.
headers_of() {
        find "$1" -name '*.h' -printf '%f\n' 2>/dev/null | sort -u
}
api_headers=$(headers_of api)
server_headers=$(headers_of server)
engine_headers=$(headers_of engine)
common_headers=$(headers_of common)

violations=0
files=0
own_headers=

fail() {
        printf '%s: %s\n' "$1" "$2"
        violations=$((violations + 1))
}

# is_from LAYER INCLUDE BASENAMES: true if INCLUDE names a header of LAYER, by path
# ("api/api.h", "../api/api.h") or by a bare name that only that layer has ("api.h").
is_from() {
        local layer=$1 inc=$2 names=$3

        case "/$inc" in
        */"$layer"/*) return 0 ;;
        esac
        case $inc in
        */*) return 1 ;;
        esac
        # A bare name that the including layer has itself resolves to its own header.
        # (Pure bash: a grep per include made this lint take most of a minute on a busy machine.)
        if in_list "$inc" "$own_headers"; then
                return 1
        fi
        in_list "$inc" "$names"
}

# in_list WORD LINES: true if WORD is one of the newline-separated LINES.
in_list() {
        [[ $'\n'"$2"$'\n' == *$'\n'"$1"$'\n'* ]]
}

# The files of the iscsi-ifaced executable, which wire the engine in (server/meson.build); the
# server library (http.c, tls.c, dbroot.c) never sees the engine.
is_daemon_file() {
        case $1 in
        server/main.c | server/options.[ch] | server/token-cli.[ch]) return 0 ;;
        esac
        return 1
}

check_file() {
        local f=$1 layer=$2 n inc base l names_var

        files=$((files + 1))
        names_var="${layer}_headers"
        own_headers=${!names_var}
        while IFS=: read -r n inc; do
                base=${inc##*/}
                case $layer in
                engine)
                        case $base in
                        microhttpd.h) fail "$f:$n" "engine/ must not include <$inc> (HTTP belongs to server/)" ;;
                        jansson.h) fail "$f:$n" "engine/ must not include <$inc> (JSON belongs to api/)" ;;
                        esac
                        if is_from api "$inc" "$api_headers"; then
                                fail "$f:$n" "engine/ must not include \"$inc\" from api/"
                        fi
                        if is_from server "$inc" "$server_headers"; then
                                fail "$f:$n" "engine/ must not include \"$inc\" from server/"
                        fi
                        ;;
                api)
                        case $base in
                        microhttpd.h) fail "$f:$n" "api/ must not include <$inc> (HTTP belongs to server/)" ;;
                        sqlite3.h) fail "$f:$n" "api/ must not include <$inc> (storage belongs to engine/)" ;;
                        esac
                        case $inc in
                        netlink/*) fail "$f:$n" "api/ must not include <$inc> (netlink belongs to engine/)" ;;
                        esac
                        if is_from server "$inc" "$server_headers"; then
                                fail "$f:$n" "api/ must not include \"$inc\" from server/"
                        fi
                        # engine.h is the engine's only door; it includes the value types it names.
                        if [ "$base" != engine.h ] && is_from engine "$inc" "$engine_headers"; then
                                fail "$f:$n" "api/ may include only engine.h of engine/, not \"$inc\""
                        fi
                        ;;
                server)
                        case $base in
                        jansson.h) fail "$f:$n" "server/ must not include <$inc> (JSON belongs to api/)" ;;
                        sqlite3.h) fail "$f:$n" "server/ must not include <$inc> (storage belongs to engine/)" ;;
                        esac
                        case $inc in
                        netlink/*) fail "$f:$n" "server/ must not include <$inc> (netlink belongs to engine/)" ;;
                        esac
                        if ! is_daemon_file "$f" && is_from engine "$inc" "$engine_headers"; then
                                fail "$f:$n" "server/ may include engine headers only in main.c, options.[ch] and token-cli.[ch], not \"$inc\""
                        fi
                        ;;
                common)
                        case $base in
                        microhttpd.h | jansson.h | sqlite3.h)
                                fail "$f:$n" "common/ must not include <$inc> (no external library)"
                                ;;
                        esac
                        case $inc in
                        netlink/*) fail "$f:$n" "common/ must not include <$inc> (no external library)" ;;
                        esac
                        for l in engine api server; do
                                names_var="${l}_headers"
                                if is_from "$l" "$inc" "${!names_var}"; then
                                        fail "$f:$n" "common/ must not include \"$inc\" from $l/"
                                fi
                        done
                        ;;
                esac
        done < <(awk '/^[ \t]*#[ \t]*include[ \t]*[<"]/ {
                        s = $0
                        sub(/^[ \t]*#[ \t]*include[ \t]*[<"]/, "", s)
                        sub(/[">].*/, "", s)
                        print NR ":" s
                }' "$f")
}

while IFS= read -r -d '' f; do
        check_file "${f#./}" "${f%%/*}"
done < <(find common engine api server -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)

if [ "$files" -eq 0 ]; then
        echo "check-layering: no C files found under $root" >&2
        exit 1
fi
if [ "$violations" -ne 0 ]; then
        echo "check-layering: $violations forbidden include(s) in $files files" >&2
        exit 1
fi
echo "check-layering: $files files, no forbidden include"
