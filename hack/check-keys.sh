#!/usr/bin/env bash
# hack/check-keys.sh: fails when C code outside apis/keys.c spells an etcd
# key of Corral's layout (docs/etcd-layout.md) instead of calling the
# api_key_* builders, api_key_kind_prefix or api_key_parse (apis/keys.h).
#
# It looks at the string literals of every .c/.h file git knows (tracked, or
# new and not ignored) except apis/keys.c, test/, fuzz/ and e2e/, and
# reports a line when one of them is
#   - a format string (it holds a '%') with a layout segment such as
#     "%s/requests/%s", "/status/deploys/%s", "%s/framework", or
#   - a bare layout path used to build keys by concatenation, such as
#     "/requests/", "history/tasks/", "/status/", "/history/tasks".
# Literals that are REST or Mesos paths ("/api/...", "/frameworks/...",
# "/master/...", URLs) are not keys. A line that is not a key despite this
# can carry the comment `check-keys: not a key`.
#
# Prints each offending line as file:line: text and exits 1; prints
# "check-keys: ok" and exits 0 when there is none.
set -euo pipefail
cd "$(dirname "$0")/.."

# Tracked files and new ones not yet added (but not ignored ones), that exist.
files=$(git ls-files --cached --others --exclude-standard '*.c' '*.h' |
        grep -vE '^(apis/keys\.c$|test/|fuzz/|e2e/)' | sort -u |
        while read -r f; do [ -f "$f" ] && echo "$f"; done || true)
[ -n "$files" ] || { echo "check-keys: ok"; exit 0; }

# shellcheck disable=SC2086 # file names from git ls-files have no spaces
awk '
BEGIN {
    seg = "(requests|tasks|status|intents|pending|cleanups|history|deploys|runs|agents|racks|framework|leader)"
    # a segment that ends the literal or is followed by "/" (not "/frameworks")
    segend = "/" seg "(/|\"|$)"
    # "/requests/", "status/runs/", "/history/tasks" (a lone "/tasks" may be
    # an HTTP route, so one segment counts only with its trailing slash)
    bare = "^\"/?" seg "/(" seg "/?)?\"$"
    notkey = "(/api/|/frameworks|/master/|/files/|/slaves/|://)"
    bad = 0
}
FNR == 1 { incomment = 0 }
{
    line = $0
    # skip comment lines (block comment bodies and // lines)
    if (incomment) {
        if (line ~ /\*\//) incomment = 0
        next
    }
    if (line ~ /^[ \t]*\/\*/ && line !~ /\*\//) { incomment = 1; next }
    if (line ~ /^[ \t]*(\/\/|\*|\/\*)/) next
    if (line ~ /check-keys: not a key/) next
    rest = line
    hit = 0
    while (match(rest, /"([^"\\]|\\.)*"/)) {
        lit = substr(rest, RSTART, RLENGTH)
        rest = substr(rest, RSTART + RLENGTH)
        if (lit ~ notkey)
            continue
        if ((index(lit, "%") > 0 && lit ~ segend) || lit ~ bare) {
            hit = 1
            break
        }
    }
    if (hit) {
        sub(/^[ \t]+/, "", line)
        printf "%s:%d: %s\n", FILENAME, FNR, line
        bad++
    }
}
END {
    if (bad) {
        printf "check-keys: %d line(s) spell etcd keys outside apis/keys.c; use the api_key_* builders, api_key_kind_prefix and api_key_parse (apis/keys.h)\n", bad
        exit 1
    }
    print "check-keys: ok"
}
' $files
