#!/bin/sh
# check_run.sh STATUS REGEX [one-line] [max-lines N] [also REGEX2]... [json] -- COMMAND...
# Runs COMMAND and passes only if it exits with STATUS (a number, or "nonzero"), some line of
# its output (stdout and stderr) matches the extended regular expression REGEX (and some line
# matches each REGEX2), and, with "one-line", it printed exactly one line (with max-lines N, at
# most N lines). With "json", every line that starts with '{' must be one JSON object that
# python3's json module reads, and there must be at least one.
want="$1"; regex="$2"; shift 2
one_line=0
max_lines=0
json=0
also=""
nl='
'
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  case "$1" in
    one-line) one_line=1; shift ;;
    max-lines) max_lines="$2"; shift 2 ;;
    also) also="$also$2$nl"; shift 2 ;;
    json) json=1; shift ;;
    *) echo "check_run: unknown option $1"; exit 2 ;;
  esac
done
[ "$1" = -- ] && shift
out="$("$@" 2>&1)"; rc=$?
printf '%s\n' "$out"
if [ "$want" = nonzero ]; then
  [ "$rc" -ne 0 ] || { echo "check_run: exit status 0, wanted non-zero"; exit 1; }
else
  [ "$rc" -eq "$want" ] || { echo "check_run: exit status $rc, wanted $want"; exit 1; }
fi
printf '%s\n' "$out" | grep -Eq -- "$regex" || { echo "check_run: no line matches /$regex/"; exit 1; }
printf '%s' "$also" | while IFS= read -r r; do
  printf '%s\n' "$out" | grep -Eq -- "$r" || { echo "check_run: no line matches /$r/"; exit 1; }
done || exit 1
if [ "$json" = 1 ]; then
  printf '%s\n' "$out" | python3 -c '
import json, sys
lines = [l for l in sys.stdin if l.startswith("{")]
for l in lines:
    if not isinstance(json.loads(l), dict):
        sys.exit("not an object: " + l)
sys.exit(0 if lines else "no line starts with {")' || { echo "check_run: JSON lines do not parse"; exit 1; }
fi
if [ "$one_line" = 1 ]; then
  lines="$(printf '%s\n' "$out" | wc -l)"
  [ "$lines" -eq 1 ] || { echo "check_run: $lines lines of output, wanted one"; exit 1; }
fi
if [ "$max_lines" -gt 0 ]; then
  lines="$(printf '%s\n' "$out" | wc -l)"
  [ "$lines" -le "$max_lines" ] || { echo "check_run: $lines lines of output, wanted at most $max_lines"; exit 1; }
fi
exit 0
