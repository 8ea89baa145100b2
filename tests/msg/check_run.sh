#!/bin/sh
# check_run.sh STATUS REGEX [one-line] -- COMMAND...
# Runs COMMAND and passes only if it exits with STATUS (a number, or "nonzero"), some line of
# its output (stdout and stderr) matches the extended regular expression REGEX, and, with
# "one-line", it printed exactly one line.
want="$1"; regex="$2"; shift 2
one_line=0
if [ "$1" = one-line ]; then one_line=1; shift; fi
[ "$1" = -- ] && shift
out="$("$@" 2>&1)"; rc=$?
printf '%s\n' "$out"
if [ "$want" = nonzero ]; then
  [ "$rc" -ne 0 ] || { echo "check_run: exit status 0, wanted non-zero"; exit 1; }
else
  [ "$rc" -eq "$want" ] || { echo "check_run: exit status $rc, wanted $want"; exit 1; }
fi
printf '%s\n' "$out" | grep -Eq -- "$regex" || { echo "check_run: no line matches /$regex/"; exit 1; }
if [ "$one_line" = 1 ]; then
  lines="$(printf '%s\n' "$out" | wc -l)"
  [ "$lines" -eq 1 ] || { echo "check_run: $lines lines of output, wanted one"; exit 1; }
fi
exit 0
