#!/bin/sh
# expect_error.sh RC REGEX [one-line] -- COMMAND...: runs COMMAND and passes if it exits with
# status RC (or any non-zero status when RC is "nonzero"), its first output line matches the
# extended regular expression REGEX, and (with "one-line") it printed exactly one line.
rc_want="$1"; regex="$2"; shift 2
one_line=0
if [ "$1" = one-line ]; then one_line=1; shift; fi
[ "$1" = -- ] && shift
out="$("$@" 2>&1)"; rc=$?
printf '%s\n' "$out"
if [ "$rc_want" = nonzero ]; then
  [ "$rc" -ne 0 ] || { echo "expect_error: exit status 0, wanted non-zero"; exit 1; }
else
  [ "$rc" -eq "$rc_want" ] || { echo "expect_error: exit status $rc, wanted $rc_want"; exit 1; }
fi
first="$(printf '%s\n' "$out" | head -n 1)"
printf '%s\n' "$first" | grep -Eq -- "$regex" || { echo "expect_error: first line does not match /$regex/"; exit 1; }
if [ "$one_line" = 1 ]; then
  lines="$(printf '%s\n' "$out" | wc -l)"
  [ "$lines" -eq 1 ] || { echo "expect_error: $lines lines of output, wanted one"; exit 1; }
fi
exit 0
