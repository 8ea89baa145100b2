#!/usr/bin/env bash
# msg_ratio.sh: the five buddy::msg apps, inline and offloaded, in one run, against their
# memory-to-communication ratio (mem_bytes_per_msg_byte: the app's own memory traffic per
# communicated byte, docs/apps.md). For each app: the ratio, the elapsed time inline and offload
# (fastest of REPEAT verified runs each), the speedup (inline / offload), and the app ranks' CPU
# time per message (host_cpu_s / msgs, best run) in both modes. Writes a CSV and a PNG scatter of
# speedup against ratio (bench/msg_ratio_plot.py). Offload runs need `buddy-run --mode offload`
# (issue 7); without it the inline columns are measured and a note says so.
# On a 2-core machine the offload engine shares the cores with the app ranks: see docs/apps.md.
#
# usage: bench/msg_ratio.sh [--quick]      (after ./buddy build)
# environment: BUILD=build (tree with bin/buddy-run and the apps)  RANKS=2  REPEAT=3 (quick: 1)
#              OUT=<BUILD>/msg_ratio (directory for msg_ratio.csv and msg_ratio.png)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QUICK=0
case "${1:-}" in
  "") ;;
  --quick) QUICK=1 ;;
  -h | --help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "msg_ratio.sh: unknown argument '$1' (only --quick)" >&2; exit 2 ;;
esac
BUILD="${BUILD:-build}"
BIN="$ROOT/$BUILD/bin"
RANKS="${RANKS:-2}"
if ((QUICK)); then REPEAT="${REPEAT:-1}"; else REPEAT="${REPEAT:-3}"; fi
OUT="${OUT:-$ROOT/$BUILD/msg_ratio}"
PY=/usr/bin/python3  # Debian's, with python3-matplotlib

APPS=(histogram index-gather transpose cc particles)
for a in buddy-run "${APPS[@]/#/buddy-}"; do
  [[ -x "$BIN/$a" ]] || { echo "msg_ratio.sh: $BIN/$a missing (run ./buddy build first)" >&2; exit 2; }
done
[[ "$RANKS" =~ ^[1-9][0-9]*$ ]] || { echo "msg_ratio.sh: RANKS must be a positive integer" >&2; exit 2; }
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || { echo "msg_ratio.sh: REPEAT must be a positive integer" >&2; exit 2; }
command -v jq >/dev/null || { echo "msg_ratio.sh: jq not found" >&2; exit 2; }

# Problem sizes: full runs take ~0.3-2 s each at 2 ranks here; --quick ~8x smaller.
args() {
  local q="$QUICK"
  case "$1" in
    histogram) ((q)) && echo "--updates 500000" || echo "--updates 4000000" ;;
    index-gather) ((q)) && echo "--updates 250000" || echo "--updates 2000000" ;;
    transpose) ((q)) && echo "--rows 32768 --nnz-per-row 16" || echo "--rows 262144 --nnz-per-row 16" ;;
    cc) ((q)) && echo "--scale 15 --edge-factor 16" || echo "--scale 18 --edge-factor 16" ;;
    particles) ((q)) && echo "--cells 24 --particles 25000 --cycles 2 --lookups 16" \
      || echo "--cells 32 --particles 200000 --cycles 3 --lookups 16" ;;
  esac
}

MODES=(inline)
if "$BIN/buddy-run" --help 2>/dev/null | grep -q -- '--mode'; then
  MODES+=(offload)
else
  echo "note: $BUILD/bin/buddy-run has no --mode (offload mode, issue 7, not built): inline only"
fi

# best APP MODE: the JSON line of the fastest of REPEAT verified runs.
best() {
  local app="$1" mode="$2" i out best_line="" best_t=""
  local run=("$BIN/buddy-run" -n "$RANKS" --routing none)
  [[ "$mode" != inline ]] && run+=(--mode "$mode")
  for ((i = 0; i < REPEAT; i++)); do
    # shellcheck disable=SC2046  # args are plain words
    out="$("${run[@]}" -- "$BIN/buddy-$app" --json $(args "$app") | grep '^{')" \
      || { echo "msg_ratio.sh: buddy-$app failed in mode $mode" >&2; exit 1; }
    [[ "$(jq -r .verified <<<"$out")" == true ]] \
      || { echo "msg_ratio.sh: unverified result: $out" >&2; exit 1; }
    t="$(jq -r .elapsed_s <<<"$out")"
    if [[ -z "$best_t" ]] || awk -v a="$t" -v b="$best_t" 'BEGIN { exit !(a < b) }'; then
      best_t="$t"
      best_line="$out"
    fi
  done
  echo "$best_line"
}

mkdir -p "$OUT"
CSV="$OUT/msg_ratio.csv"
echo "app,ranks,ratio,inline_s,offload_s,speedup,inline_cpu_us_per_msg,offload_cpu_us_per_msg,inline_handler_s,inline_compute_s,inline_comm_s" >"$CSV"
echo "buddy::msg apps: memory/communication ratio vs offload, $RANKS ranks, fastest of $REPEAT,"
echo "$(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg)$( ((QUICK)) && echo ', --quick')"
printf '%-13s %9s %10s %10s %8s %12s %12s\n' app ratio inline_s offload_s speedup \
  "cpu_us/msg" "cpu_us/msg"
printf '%-13s %9s %10s %10s %8s %12s %12s\n' "" "mem/msg B" "" "" "" inline offload
for app in "${APPS[@]}"; do
  in_line="$(best "$app" inline)"
  ratio="$(jq -r .mem_bytes_per_msg_byte <<<"$in_line")"
  in_s="$(jq -r .elapsed_s <<<"$in_line")"
  in_cpu="$(jq -r 'if .msgs > 0 then .host_cpu_s / .msgs * 1e6 else 0 end' <<<"$in_line")"
  off_s="" speedup="" off_cpu=""
  if [[ " ${MODES[*]} " == *" offload "* ]]; then
    off_line="$(best "$app" offload)"
    off_s="$(jq -r .elapsed_s <<<"$off_line")"
    off_cpu="$(jq -r 'if .msgs > 0 then .host_cpu_s / .msgs * 1e6 else 0 end' <<<"$off_line")"
    speedup="$(awk -v a="$in_s" -v b="$off_s" 'BEGIN { printf "%.3f", a / b }')"
  fi
  off_s_f="-" off_cpu_f="-"
  [[ -n "$off_s" ]] && off_s_f="$(printf '%.4f' "$off_s")" && off_cpu_f="$(printf '%.4f' "$off_cpu")"
  printf '%-13s %9.3f %10.4f %10s %8s %12.4f %12s\n' "$app" "$ratio" "$in_s" "$off_s_f" \
    "${speedup:--}" "$in_cpu" "$off_cpu_f"
  echo "$app,$RANKS,$ratio,$in_s,$off_s,$speedup,$in_cpu,$off_cpu,$(jq -r '[.handler_s, .compute_s, .comm_s] | @csv' <<<"$in_line")" >>"$CSV"
done
"$PY" "$ROOT/bench/msg_ratio_plot.py" "$CSV" "$OUT/msg_ratio.png"
echo "wrote $CSV and $OUT/msg_ratio.png"
