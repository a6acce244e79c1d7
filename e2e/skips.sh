#!/usr/bin/env bash
# Prints every skipped test of a `go test -v` log with its reason, so that a
# skip is never silent in a long run: skips.sh LOG. go test streams a
# test's log lines under "=== RUN/CONT/NAME Test" headers, t.Skip's reason
# last, before "--- SKIP: Test"; a log from a non-streaming run has the
# reason after that line instead.
set -euo pipefail
awk '
  /^=== (RUN|CONT|NAME|PAUSE) / { cur = $3; next }
  /^[ ]*--- SKIP: / { name = $3; reason[name] = last[name]; after = !reason[name]; order[++n] = name; next }
  /^[ ]+[^ -].*\.go:[0-9]+: / {
    line = $0; sub(/^[ ]+/, "", line)
    if (after) { reason[name] = line; after = 0 } else last[cur] = line
    next
  }
  { after = 0 }
  END {
    printf "%d skipped%s\n", n, (n ? ":" : "")
    for (i = 1; i <= n; i++) printf "  %s: %s\n", order[i], (reason[order[i]] ? reason[order[i]] : "(no reason given)")
  }' "$1"
