#!/usr/bin/env bash
# msg_pairs.sh: the histogram at RANKS ranks against its bulk-synchronous baseline in same-run
# pairs: each pair is one buddy-histogram run and one --baseline alltoallv run back to back
# (alternating which goes first), with the same buddy-run options for both, and the ratio is
# taken per pair, so a slow stretch of a shared machine hits both sides of a pair alike. Prints
# one line per pair (rates, ratio, /proc/stat steal ticks over the pair, load average), then
# the medians and spreads. Every run must verify.
#
# usage: bench/msg_pairs.sh [buddy-run options...]   e.g. --buffer-kb 64, or
#        --mpirun-arg=--bind-to --mpirun-arg=core
# environment: PAIRS=5  RANKS=2  UPDATES=<app default>  BUILD=build
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/${BUILD:-build}/bin"
PAIRS="${PAIRS:-5}"
RANKS="${RANKS:-2}"
for b in buddy-run buddy-histogram; do
  [[ -x "$BIN/$b" ]] || { echo "msg_pairs.sh: $BIN/$b missing (run ./buddy build first)" >&2; exit 2; }
done
extra=()
[[ -n "${UPDATES:-}" ]] && extra=(--updates "$UPDATES")

steal() { awk '/^cpu /{ print $9 }' /proc/stat; }
one() {  # one verified run; prints its mmsgs_per_s
  local out
  out="$("$BIN/buddy-run" -n "$RANKS" "$@" -- "$BIN/buddy-histogram" --json "${extra[@]}" "${app_args[@]}")" \
    || { echo "msg_pairs.sh: buddy-histogram failed: $out" >&2; exit 1; }
  grep -q '"verified":true' <<<"$out" || { echo "msg_pairs.sh: unverified result: $out" >&2; exit 1; }
  sed -E 's/.*"mmsgs_per_s":([0-9.]+).*/\1/' <<<"$out"
}

echo "histogram vs alltoallv, $RANKS ranks, $PAIRS same-run pairs, buddy-run options: ${*:-(none)}"
printf '%5s %10s %10s %7s %6s %5s\n' pair buddy a2av ratio steal load
lines=()
for ((i = 0; i < PAIRS; i++)); do
  s0="$(steal)"
  if ((i % 2 == 0)); then
    app_args=(); b="$(one "$@")"; app_args=(--baseline alltoallv); a="$(one "$@")"
  else
    app_args=(--baseline alltoallv); a="$(one "$@")"; app_args=(); b="$(one "$@")"
  fi
  s1="$(steal)"
  line="$b $a $(awk -v b="$b" -v a="$a" 'BEGIN { printf "%.3f", b / a }') $((s1 - s0)) $(cut -d' ' -f1 /proc/loadavg)"
  lines+=("$line")
  read -r b a r st ld <<<"$line"
  printf '%5d %10.2f %10.2f %6.2fx %6d %5s\n' "$((i + 1))" "$b" "$a" "$r" "$st" "$ld"
done
printf '%s\n' "${lines[@]}" | python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
for name, k in (("buddy Mmsg/s", 0), ("a2av Mmsg/s", 1), ("ratio per pair", 2), ("steal ticks", 3), ("load", 4)):
    v = [r[k] for r in rows]
    print(f"{name:15s} median {statistics.median(v):8.2f}  spread {min(v):.2f}-{max(v):.2f}")
'
