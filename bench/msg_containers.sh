#!/usr/bin/env bash
# msg_containers.sh: buddy::msg::containers against hand-written comm.async, in the same run.
#   histogram   buddy-histogram (comm.async, ++table[slot])  vs  --containers
#               (array<uint64_t>::async_reduce(slot, 1, +): the value travels too) and
#               --containers --container-op visit (async_visit(slot, ++value): the same bytes)
#   wordcount   buddy-wordcount --async (comm.async, ++table[word])  vs  counting_set without
#               its cache (--cache-keys 0)  and  counting_set with its default cache
# Each variant runs REPEAT times, interleaved, every run verified by the app itself; the table
# gives the fastest elapsed time of each (interference only ever slows a run down) and the
# ratio containers / hand-written (the issue's target: <= 1.3x).
#
# usage: bench/msg_containers.sh [--quick] [--json]     (after ./buddy build)
#   --quick  tiny inputs, one run each (a check, not a measurement)
#   --json   one JSON object per row instead of the table
# environment: RANKS=2 RPN=1 ROUTING=none MODE=inline REPEAT=5 BUILD=build (or BIN=dir)
#              HIST_UPDATES=4000000 WORDS=1000000 (per rank)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-$ROOT/${BUILD:-build}/bin}"
RANKS="${RANKS:-2}"
RPN="${RPN:-1}"
ROUTING="${ROUTING:-none}"
MODE="${MODE:-inline}"
REPEAT="${REPEAT:-5}"
HIST_UPDATES="${HIST_UPDATES:-4000000}"
WORDS="${WORDS:-1000000}"
json=0
for a in "$@"; do
  case "$a" in
    --quick) REPEAT=1 HIST_UPDATES=20000 WORDS=20000 ;;
    --json) json=1 ;;
    -h | --help) sed -n 2,16p "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "msg_containers.sh: unknown argument '$a' (--quick, --json)" >&2; exit 2 ;;
  esac
done
for b in buddy-run buddy-engine buddy-histogram buddy-wordcount; do
  [[ -x "$BIN/$b" ]] || { echo "msg_containers.sh: $BIN/$b missing (run ./buddy build first)" >&2; exit 2; }
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# run NAME I APP ARGS...: one verified run, its JSON line in $tmp/NAME.I
run() {
  local name="$1" i="$2" app="$3"
  shift 3
  if ! "$BIN/buddy-run" -n "$RANKS" --ranks-per-node "$RPN" --routing "$ROUTING" --mode "$MODE" \
    -- "$BIN/buddy-$app" --json "$@" >"$tmp/$name.$i" 2>"$tmp/$name.$i.err"; then
    echo "msg_containers.sh: buddy-$app $* failed:" >&2
    cat "$tmp/$name.$i" "$tmp/$name.$i.err" >&2
    exit 1
  fi
  grep -q '"verified":true' "$tmp/$name.$i" ||
    { echo "msg_containers.sh: unverified: $(cat "$tmp/$name.$i")" >&2; exit 1; }
}

for ((i = 0; i < REPEAT; i++)); do
  run hist_async "$i" histogram --updates "$HIST_UPDATES"
  run hist_array "$i" histogram --updates "$HIST_UPDATES" --containers
  run hist_visit "$i" histogram --updates "$HIST_UPDATES" --containers --container-op visit
  run wc_async "$i" wordcount --words "$WORDS" --async
  run wc_nocache "$i" wordcount --words "$WORDS" --cache-keys 0
  run wc_cache "$i" wordcount --words "$WORDS"
done

python3 - "$tmp" "$REPEAT" "$json" "$RANKS" "$RPN" "$ROUTING" "$MODE" "$(nproc)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, sys
tmp, repeat, as_json = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
ranks, rpn, routing, mode, cpus, load = sys.argv[4:10]
def best(name):
    rows = [json.loads([l for l in open(f"{tmp}/{name}.{i}") if l.startswith("{")][-1])
            for i in range(repeat)]
    return min(rows, key=lambda r: r["elapsed_s"])
pairs = [("histogram", "array::async_reduce", "hist_array", "hist_async"),
         ("histogram", "array::async_visit", "hist_visit", "hist_async"),
         ("wordcount", "counting_set, no cache", "wc_nocache", "wc_async"),
         ("wordcount", "counting_set, cache", "wc_cache", "wc_async")]
if not as_json:
    print(f"buddy::msg containers vs hand-written async: {ranks} ranks, {rpn} per node, routing "
          f"{routing}, mode {mode}, fastest of {repeat} runs, {cpus} cpus, load {load}")
    print(f"{'app':<10} {'container':<24} {'async s':>9} {'container s':>12} {'async msgs':>11} "
          f"{'cont. msgs':>11} {'ratio':>7}")
for app, what, c, a in pairs:
    rc, ra = best(c), best(a)
    ratio = rc["elapsed_s"] / ra["elapsed_s"]
    if as_json:
        print(json.dumps({"bench": "msg_containers", "app": app, "container": what,
                          "ranks": int(ranks), "routing": routing, "mode": mode,
                          "async_s": ra["elapsed_s"], "container_s": rc["elapsed_s"],
                          "async_msgs": ra["msgs"], "container_msgs": rc["msgs"],
                          "ratio_vs_async": round(ratio, 3), "runs": repeat},
                         separators=(",", ":")))
    else:
        print(f"{app:<10} {what:<24} {ra['elapsed_s']:9.3f} {rc['elapsed_s']:12.3f} "
              f"{ra['msgs']:11d} {rc['msgs']:11d} {ratio:6.2f}x")
PY
