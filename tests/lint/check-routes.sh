#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Lint: the route table in api/routes.c and the paths of openapi.yaml describe the same API.
# Every route { "METHOD", "/path", handler } must appear under `paths:` with the lower-case
# method as an operation key, and every operation of openapi.yaml must be a route. Fails
# clearly when either file is missing or yields no route at all.
# usage: check-routes.sh [SOURCE_ROOT]   (default: two levels above this script)
set -euo pipefail

root=${1:-$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../..}
routes_c=$root/api/routes.c
spec=$root/openapi.yaml

die() {
        echo "check-routes: $*" >&2
        exit 1
}

[ -f "$routes_c" ] || die "$routes_c does not exist: the route table is missing"
[ -f "$spec" ] || die "$spec does not exist: the API contract is missing"

# "method path" pairs of the route table: the first two string literals of each initializer
# that starts with an HTTP method. Block and line comments are dropped first.
routes=$(awk '
        {
                line = $0
                out = ""
                while (length(line) > 0) {
                        if (incomment) {
                                i = index(line, "*/")
                                if (i == 0) { line = ""; break }
                                line = substr(line, i + 2)
                                incomment = 0
                        } else {
                                i = index(line, "/*")
                                j = index(line, "//")
                                if (j > 0 && (i == 0 || j < i)) { out = out substr(line, 1, j - 1); line = ""; break }
                                if (i == 0) { out = out line; line = ""; break }
                                out = out substr(line, 1, i - 1)
                                line = substr(line, i + 2)
                                incomment = 1
                        }
                }
                while (match(out, /\{[ \t]*"(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|TRACE)"[ \t]*,[ \t]*"\/[^"]*"/)) {
                        m = substr(out, RSTART, RLENGTH)
                        out = substr(out, RSTART + RLENGTH)
                        sub(/^\{[ \t]*"/, "", m)
                        method = m
                        sub(/".*/, "", method)
                        path = m
                        sub(/^[^,]*,[ \t]*"/, "", path)
                        sub(/"$/, "", path)
                        print tolower(method) " " path
                }
        }' "$routes_c")

# "method path" pairs of openapi.yaml: keys directly under the top-level `paths:` mapping are
# paths, keys one level below a path are its operations (parameters, summary, ... ignored).
operations=$(awk '
        function indent(s) { match(s, /^ */); return RLENGTH }
        function key(s) {
                sub(/^ */, "", s)
                sub(/[ \t]*:([ \t].*)?$/, "", s)
                if (s ~ /^".*"$/ || s ~ /^'\''.*'\''$/)
                        s = substr(s, 2, length(s) - 2)
                return s
        }
        /^[ \t]*(#.*)?$/ { next }
        /^[^ ]/ { inpaths = ($0 ~ /^paths:[ \t]*(#.*)?$/); pind = -1; path = ""; next }
        !inpaths { next }
        {
                ind = indent($0)
                if (pind < 0)
                        pind = ind
                if (ind == pind) {
                        path = key($0)
                        oind = -1
                        next
                }
                if (path == "" || ind < pind)
                        next
                if (oind < 0)
                        oind = ind
                if (ind == oind) {
                        k = key($0)
                        if (k ~ /^(get|head|post|put|patch|delete|options|trace)$/)
                                print k " " path
                }
        }' "$spec")

[ -n "$routes" ] || die "no route found in $routes_c (expected lines like { \"GET\", \"/api/v1/ifaces\", handler })"
[ -n "$operations" ] || die "no operation found under paths: in $spec"

status=0
dups=$(sort <<<"$routes" | uniq -d)
if [ -n "$dups" ]; then
        while read -r m p; do
                echo "api/routes.c: route ${m^^} $p appears more than once"
        done <<<"$dups"
        status=1
fi

missing=$(comm -23 <(sort -u <<<"$routes") <(sort -u <<<"$operations"))
extra=$(comm -13 <(sort -u <<<"$routes") <(sort -u <<<"$operations"))
if [ -n "$missing" ]; then
        while read -r m p; do
                echo "api/routes.c: ${m^^} $p has no '$m' operation under paths.\"$p\" in openapi.yaml"
        done <<<"$missing"
        status=1
fi
if [ -n "$extra" ]; then
        while read -r m p; do
                echo "openapi.yaml: $m $p is not a route in api/routes.c"
        done <<<"$extra"
        status=1
fi

n_routes=$(sort -u <<<"$routes" | wc -l)
if [ "$status" -ne 0 ]; then
        echo "check-routes: api/routes.c and openapi.yaml disagree" >&2
        exit 1
fi
echo "check-routes: $n_routes routes, all in openapi.yaml and nothing more"
