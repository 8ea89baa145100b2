#!/usr/bin/env bash
# msg_rates.sh: message rates of buddy-histogram and buddy-index-gather over buddy::msg, for
# every routing mode and several send-buffer budgets, each next to its competitors measured in
# the same run: the same app with routing none (ratio "vs none") and, for the histogram, the
# bulk-synchronous MPI_Alltoallv version of the same updates (ratio "vs a2av").
# nr and nlnr run only where they relay (more than one node, some node with several ranks).
# Each point is the median of REPEAT runs, with their spread (slowest-fastest); the ratios are of
# medians. "M/cpu_s" divides the messages by the CPU time the ranks actually got (host_cpu_s),
# the median of the runs: on a machine shared with other jobs it shows the cost per message even
# when the ranks did not get whole cores. The load average is printed before and after.
#
# usage: bench/msg_rates.sh            (after ./buddy build)
# environment: RANKS="2 4"  BUFFERS_KB="64 256 1024"  REPEAT=3  UPDATES=<app default>
#              BUILD=build (tree holding bin/buddy-run and the apps)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/${BUILD:-build}/bin"
RANKS="${RANKS:-2 4}"
BUFFERS_KB="${BUFFERS_KB:-64 256 1024}"
REPEAT="${REPEAT:-3}"
UPDATES="${UPDATES:-}"

for b in buddy-run buddy-histogram buddy-index-gather; do
  [[ -x "$BIN/$b" ]] || { echo "msg_rates.sh: $BIN/$b missing (run ./buddy build first)" >&2; exit 2; }
done

# rate APP RANKS RPN ROUTING BUFFER_KB [APP ARGS...]: "median-mmsgs_per_s median-M/cpu_s
# bytes-per-message slowest fastest" of REPEAT verified runs (bytes: the app's msg_bytes / msgs,
# i.e. what its records took on the wire, headers included).
rate() {
  local app="$1" n="$2" rpn="$3" routing="$4" kb="$5"; shift 5
  local i out rates=() cpus=() bpm=0
  local extra=()
  [[ -n "$UPDATES" ]] && extra=(--updates "$UPDATES")
  for ((i = 0; i < REPEAT; i++)); do
    out="$("$BIN/buddy-run" -n "$n" --ranks-per-node "$rpn" --routing "$routing" --buffer-kb "$kb" \
      -- "$BIN/buddy-$app" --json "${extra[@]}" "$@")" \
      || { echo "msg_rates.sh: buddy-$app failed (ranks $n routing $routing buffer $kb KiB)" >&2; exit 1; }
    grep -q '"verified":true' <<<"$out" || { echo "msg_rates.sh: unverified result: $out" >&2; exit 1; }
    rates+=("$(sed -E 's/.*"mmsgs_per_s":([0-9.]+).*/\1/' <<<"$out")")
    cpus+=("$(sed -E 's/.*"elapsed_s":([0-9.]+).*"mmsgs_per_s":([0-9.]+),"host_cpu_s":([0-9.]+).*/\1 \2 \3/' <<<"$out" \
      | awk '{ print $1 * $2 / $3 }')")
    bpm="$(sed -E 's/.*"msgs":([0-9]+),"msg_bytes":([0-9]+).*/\1 \2/' <<<"$out" | awk '{ printf "%.2f", $2 / $1 }')"
  done
  echo "$(median "${rates[@]}") $(median "${cpus[@]}") $bpm $(printf '%s\n' "${rates[@]}" | sort -g | head -1 | xargs printf '%.1f') \
$(printf '%s\n' "${rates[@]}" | sort -g | tail -1 | xargs printf '%.1f')"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

echo "buddy::msg message rates, median of $REPEAT runs (spread: slowest-fastest), $(nproc) cpus;"
echo "Mmsg/s summed over ranks; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(histogram: 1 message per update; index-gather: request + reply = 2 messages per entry;"
echo " index-gather's \"vs a2av\" is against the histogram's alltoallv rate at the same ranks)"
echo "(nr/nlnr rows only where they relay: with 1 rank per node, or a single node, every route"
echo " is direct and they would repeat routing none)"
echo "(B/msg: wire bytes per message, headers included; a2av counts 8 bytes per update)"
printf '%-13s %5s %4s %-7s %7s %9s %15s %9s %8s %8s %9s %7s\n' app ranks rpn routing buf_KiB Mmsg/s spread \
  per_rank "vs none" "vs a2av" "M/cpu_s" "B/msg"
for n in $RANKS; do
  rpn=1
  ((n >= 4)) && rpn=2
  a2a=""
  for app in histogram index-gather; do
    if [[ "$app" == histogram ]]; then
      read -r a2a cpu bpm lo hi <<<"$(rate histogram "$n" "$rpn" none 256 --baseline alltoallv)"
      printf '%-13s %5d %4d %-7s %7s %9.2f %15s %9.2f %8s %8s %9.2f %7.2f\n' "histogram" "$n" "$rpn" "a2av" "-" \
        "$a2a" "$lo-$hi" "$(awk -v r="$a2a" -v n="$n" 'BEGIN { print r / n }')" "-" "1.00x" "$cpu" "$bpm"
    fi
    for kb in $BUFFERS_KB; do
      none=""
      routings="none"
      ((rpn > 1 && n > rpn)) && routings="none nr nlnr"
      for routing in $routings; do
        read -r r cpu bpm lo hi <<<"$(rate "$app" "$n" "$rpn" "$routing" "$kb")"
        [[ "$routing" == none ]] && none="$r"
        vs_none="$(awk -v r="$r" -v b="$none" 'BEGIN { printf "%.2fx", r / b }')"
        vs_a2a="-"
        [[ -n "$a2a" ]] && vs_a2a="$(awk -v r="$r" -v b="$a2a" 'BEGIN { printf "%.2fx", r / b }')"
        printf '%-13s %5d %4d %-7s %7d %9.2f %15s %9.2f %8s %8s %9.2f %7.2f\n' "$app" "$n" "$rpn" "$routing" \
          "$kb" "$r" "$lo-$hi" "$(awk -v r="$r" -v n="$n" 'BEGIN { print r / n }')" "$vs_none" "$vs_a2a" "$cpu" "$bpm"
      done
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
