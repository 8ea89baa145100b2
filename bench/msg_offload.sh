#!/usr/bin/env bash
# msg_offload.sh: buddy::msg inline vs offload mode, each app run both ways in the same run.
# Per app and mode: message rate, app-rank CPU seconds per million messages, engine CPU seconds
# per million messages (offload), and the app ranks' communication CPU per million messages:
# app-rank CPU minus the time in handlers and in the app's own compute (handler_s, compute_s
# from the app's --json line; missing fields count as 0, with a note). The last column is the
# ratio offload/inline of that communication CPU: the issue's target is <= 0.50 at 4 ranks, 2
# per node, NLNR routing. Every figure is the median of REPEAT runs; the load average is
# printed with each row (this machine is shared).
#
# Engine CPU is the engines' whole serving time (process CPU from the moment they serve until
# the app ranks finish, set-up and verification of the app included), so it is an upper bound.
#
# usage: bench/msg_offload.sh            (after ./buddy build)
# environment: RANKS=4 RPN=2 ROUTING=nlnr REPEAT=3 UPDATES=<app default> BUILD=build
#              ENGINE_THREADS=1 (buddy-run --engine-threads for the offload runs)
#              ENGINE_ARGS="" (more buddy-run options for the offload runs, e.g.
#              "--engine-buffer-kb 256 --engine-max-sends 16")
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/${BUILD:-build}/bin"
RANKS="${RANKS:-4}"
RPN="${RPN:-2}"
ROUTING="${ROUTING:-nlnr}"
REPEAT="${REPEAT:-3}"
UPDATES="${UPDATES:-}"
ENGINE_THREADS="${ENGINE_THREADS:-1}"
read -r -a ENGINE_ARGS <<<"${ENGINE_ARGS:-}"

for b in buddy-run buddy-engine buddy-histogram buddy-index-gather; do
  [[ -x "$BIN/$b" ]] || { echo "msg_offload.sh: $BIN/$b missing (run ./buddy build first)" >&2; exit 2; }
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
missing_note=0

# run APP MODE I: one verified run; app JSON in $tmp/APP.MODE.I.out, engine lines in .err.
run() {
  local app="$1" mode="$2" i="$3" extra=()
  [[ -n "$UPDATES" ]] && extra=(--updates "$UPDATES")
  local opts=(-n "$RANKS" --ranks-per-node "$RPN" --routing "$ROUTING" --mode "$mode")
  [[ "$mode" == offload ]] && opts+=(--engine-stats --engine-threads "$ENGINE_THREADS" "${ENGINE_ARGS[@]}")
  if ! "$BIN/buddy-run" "${opts[@]}" -- "$BIN/buddy-$app" --json "${extra[@]}" \
    >"$tmp/$app.$mode.$i.out" 2>"$tmp/$app.$mode.$i.err"; then
    echo "msg_offload.sh: buddy-$app failed in $mode mode:" >&2
    cat "$tmp/$app.$mode.$i.out" "$tmp/$app.$mode.$i.err" >&2
    exit 1
  fi
  grep -q '"verified":true' "$tmp/$app.$mode.$i.out" ||
    { echo "msg_offload.sh: unverified: $(cat "$tmp/$app.$mode.$i.out")" >&2; exit 1; }
}

# summary APP MODE: "rate app_cpu engine_cpu comm_cpu missing" (medians; CPU in s per M msgs).
summary() {
  python3 - "$tmp" "$1" "$2" "$REPEAT" <<'PY'
import json, statistics, sys, glob
tmp, app, mode, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rates, app_cpu, eng_cpu, comm_cpu, missing = [], [], [], [], 0
for i in range(repeat):
    line = [l for l in open(f"{tmp}/{app}.{mode}.{i}.out") if l.startswith("{")][-1]
    r = json.loads(line)
    msgs = r.get("msgs") or r["mmsgs_per_s"] * 1e6 * r["elapsed_s"]
    per_m = 1e6 / msgs
    for f in ("handler_s", "compute_s"):
        if f not in r:
            missing = 1
    handler, compute = r.get("handler_s", 0.0), r.get("compute_s", 0.0)
    engines = [json.loads(l) for l in open(f"{tmp}/{app}.{mode}.{i}.err") if l.startswith('{"engine"')]
    rates.append(r["mmsgs_per_s"])
    app_cpu.append(r["host_cpu_s"] * per_m)
    eng_cpu.append(sum(e["cpu_s"] for e in engines) * per_m)
    comm_cpu.append(max(r["host_cpu_s"] - handler - compute, 0.0) * per_m)
m = statistics.median
print(f"{m(rates):.3f} {m(app_cpu):.4f} {m(eng_cpu):.4f} {m(comm_cpu):.4f} {missing}")
PY
}

echo "buddy::msg inline vs offload: $RANKS ranks, $RPN per node, routing $ROUTING, $ENGINE_THREADS engine thread(s), median of $REPEAT runs, $(nproc) cpus"
echo "(CPU columns: seconds per million messages; comm = app-rank CPU - handler_s - compute_s;"
echo " engine CPU covers the engines' whole serving time, an upper bound)"
printf '%-13s %-8s %9s %11s %11s %11s %13s  %s\n' app mode Mmsg/s app_cpu engine_cpu comm_cpu \
  "comm off/in" "load avg (1 5 15 min)"
for app in histogram index-gather; do
  for ((i = 0; i < REPEAT; i++)); do
    run "$app" inline "$i"
    run "$app" offload "$i"
  done
  read -r ir ia ie ic im <<<"$(summary "$app" inline)"
  read -r or oa oe oc om <<<"$(summary "$app" offload)"
  ((im || om)) && missing_note=1
  load="$(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%-13s %-8s %9.2f %11.4f %11s %11.4f %13s  %s\n' "$app" inline "$ir" "$ia" "-" "$ic" "" "$load"
  ratio="$(awk -v o="$oc" -v i="$ic" 'BEGIN { if (i > 0) printf "%.2fx", o / i; else print "-" }')"
  printf '%-13s %-8s %9.2f %11.4f %11.4f %11.4f %13s  %s\n' "$app" offload "$or" "$oa" "$oe" "$oc" \
    "$ratio" "$load"
done
if ((missing_note)); then
  echo "note: some app JSON lines had no handler_s/compute_s; those counted as 0 (comm CPU is then all app-rank CPU)"
fi
