# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# The contract record of the shell tests (tests/contract/README.md), as tests/integration/ifd.py
# keeps it for the python ones. With IFD_CONTRACT_DIR set (tests/meson.build sets it), each
# exchange goes as one JSON line to $IFD_CONTRACT_DIR/<script>-<pid>.jsonl; contract_check
# checks that file against openapi.yaml (tests/contract/validate.mjs) when the test ends.
# Without IFD_CONTRACT_DIR both are no-ops. Needs jq, and node for the check.
#
#   contract_record METHOD PATH STATUS HEADERS BODY [CLIENT]
#   RCURL_DIR=DIR; st=$(rcurl [CURL-ARGS...] URL)   # curl -s, recorded; prints the status
#   contract_check || fail ...                      # at the end
# The file is named when this is sourced: a record made in a subshell ($(rcurl ...)) goes to
# the same file ($$ is the script's in a subshell too).

CONTRACT_FILE=
[ -z "${IFD_CONTRACT_DIR:-}" ] || CONTRACT_FILE=$IFD_CONTRACT_DIR/$(basename "$0" .sh)-$$.jsonl
CONTRACT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# contract_record METHOD PATH STATUS HEADERS BODY [CLIENT]: HEADERS is curl's -D file (its last
# head is the answer's: a 100 Continue before it is skipped), BODY the body's file (missing or
# empty: no body). PATH is the request target (a query is allowed). A STATUS that is not an
# HTTP status (curl's 000: no answer) records nothing.
contract_record() {
        local method=$1 path=$2 status=$3 hfile=$4 bfile=$5 client=${6:-$(basename "$0")}
        local headers body=(--arg body "")

        [ -n "$CONTRACT_FILE" ] || return 0
        [[ "$status" =~ ^[1-5][0-9][0-9]$ ]] || return 0
        mkdir -p "$IFD_CONTRACT_DIR"
        # The last head's fields as [name, value] pairs, as received (value trimmed).
        headers=$(tr -d '\r' <"$hfile" | awk '
                /^HTTP\// { n = 0; next }
                /^$/ { next }
                {
                        i = index($0, ":")
                        if (i == 0) next
                        v = substr($0, i + 1)
                        sub(/^[ \t]+/, "", v)
                        sub(/[ \t]+$/, "", v)
                        line[++n] = substr($0, 1, i - 1) "\t" v
                }
                END { for (k = 1; k <= n; k++) print line[k] }' |
                jq -R -s -c 'split("\n") | map(select(length > 0) | split("\t") |
                        [.[0], (.[1:] | join("\t"))])') || return 1
        if [ -s "$bfile" ]; then
                if iconv -f UTF-8 -t UTF-8 "$bfile" >/dev/null 2>&1; then
                        body=(--rawfile body "$bfile")
                else
                        body=(--arg body_hex "$(od -An -v -tx1 "$bfile" | tr -d ' \n')")
                fi
        fi
        jq -n -c --arg client "$client" --arg method "$method" --arg path "$path" \
                --argjson status "$status" --argjson headers "$headers" "${body[@]}" \
                '{client: $client, method: $method, path: $path, status: $status,
                  headers: $headers} + (if $ARGS.named.body_hex then {body_hex: $ARGS.named.body_hex}
                  else {body: $ARGS.named.body} end)' >>"$CONTRACT_FILE"
}

# rcurl [--netns NS] [CURL-ARGS...] URL: curl -s (in network namespace NS: ip netns exec) with
# the answer recorded (the URL last; the method is GET, or HEAD with -I/--head, or what
# -X/--request says). Prints the status (000: no answer) and returns curl's exit status. The
# body is left in $RCURL_DIR/body and the head in $RCURL_DIR/headers: RCURL_DIR is the caller's
# (its temp dir). Do not pass -o, -D or -w: rcurl sets them.
rcurl() {
        local url=${*: -1} method=GET a prev= st rc=0 target pre=()

        if [ "$1" = --netns ]; then
                pre=(ip netns exec "$2")
                shift 2
        fi
        for a in "$@"; do
                case $prev in -X | --request) method=$a ;; esac
                case $a in -I | --head) method=HEAD ;; esac
                prev=$a
        done
        : "${RCURL_DIR:?rcurl: set RCURL_DIR to a directory of the test}"
        rm -f "$RCURL_DIR/body"
        : >"$RCURL_DIR/headers"
        st=$("${pre[@]}" curl -s -o "$RCURL_DIR/body" -D "$RCURL_DIR/headers" -w '%{http_code}' \
                "$@") || rc=$?
        # The request target: the URL less its scheme and authority.
        target=/${url#*://*/}
        [ "$target" != "/$url" ] || target=/
        contract_record "$method" "$target" "$st" "$RCURL_DIR/headers" "$RCURL_DIR/body" ||
                echo "rcurl: could not record $method $target" >&2
        echo "$st"
        return "$rc"
}

# contract_check: the recorded answers against openapi.yaml; 0 when there are none. The
# checker prints each answer the contract does not allow.
contract_check() {
        [ -n "$CONTRACT_FILE" ] && [ -s "$CONTRACT_FILE" ] || return 0
        node "$CONTRACT_ROOT/tests/contract/validate.mjs" "$CONTRACT_FILE"
}

# contract_verdict: contract_check, said with the sourcing script's own pass and fail (every
# suite has them): a PASS line when answers were recorded and all are allowed, a FAIL otherwise.
contract_verdict() {
        if contract_check; then
                [ ! -s "${CONTRACT_FILE:-}" ] || pass "every answer is one openapi.yaml allows"
        else
                fail "answers that openapi.yaml does not allow (above; $CONTRACT_FILE)"
        fi
}
