#!/usr/bin/env bash
# The six buddykv designs side by side, as DPU-KV's evaluation does: every design x YCSB A/B/C x
# uniform/Zipf 0.99, each run with buddykv-bench --verify (every GET checked), the engine as its
# own buddykv-engine process. Per run: throughput, latency, and the server's CPU seconds per
# million requests on the host and on the engine side, with and without idle polling (from its
# final statistics), and the whole host process's CPU per million requests (every thread of
# buddykv-server from the moment it serves to the end of the run, from /proc: its control and
# engine-watch threads too, which the serving threads' figure leaves out); cpu-only is
# the baseline every design's host CPU is compared with. Writes a CSV and a PNG plot.
#
#   bench/kv_designs.sh                 # 3 s per run, 1M keys (about 4 minutes)
#   bench/kv_designs.sh --quick         # 1 s per run, 100k keys, YCSB A and B only
#   bench/kv_designs.sh --designs lat,sav --workloads a --dists zipf --duration 5
#
# Options: --quick, --designs LIST, --workloads LIST, --dists LIST, --duration S, --keys N,
# --out DIR (default build/bench). Environment: HOST_CPUS (server host threads, default 0),
# ENGINE_CPUS (engine threads, default 1), CLIENT_CPUS (the client, default 1), SERVER_ARGS
# (more buddykv-server arguments). On a 2-core machine the engine shares a core with the client
# and the host: absolute speed-ups are not the point here; correctness and the per-request host
# CPU are. Needs python3 (and python3-matplotlib for the plot).
set -euo pipefail

die() { echo "kv_designs: $*" >&2; exit 1; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
designs="cpu-only,engine-only,lat,sav,dual,shrd"
workloads="a,b,c"
dists="uniform,zipf"
duration=3
keys=1000000
out="$root/build/bench"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) duration=1; keys=100000; workloads="a,b"; shift ;;
    --designs) designs="$2"; shift 2 ;;
    --workloads) workloads="$2"; shift 2 ;;
    --dists) dists="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --keys) keys="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
server_bin="$root/build/bin/buddykv-server"
bench_bin="$root/build/bin/buddykv-bench"
[[ -x "$server_bin" && -x "$root/build/bin/buddykv-engine" && -x "$bench_bin" ]] \
  || die "binaries not found in build/bin: run ./buddy build first"
# Debian's python3 (it has python3-matplotlib), ahead of any other python3 on PATH.
PY=/usr/bin/python3
[[ -x "$PY" ]] || PY="$(command -v python3 || true)"
[[ -n "$PY" ]] || die "python3 is needed to read the JSON results"
HOST_CPUS="${HOST_CPUS:-0}"
ENGINE_CPUS="${ENGINE_CPUS:-1}"
CLIENT_CPUS="${CLIENT_CPUS:-1}"
read -r -a server_args <<<"${SERVER_ARGS:-}"

mkdir -p "$out"
csv="$out/kv_designs.csv"
work="$(mktemp -d)"
server_pid=""
# CPU nanoseconds of every thread of process $1 so far (/proc/PID/task/*/schedstat, field 1).
process_cpu_ns() {
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'
}
cleanup() {
  [[ -n "$server_pid" ]] && kill -KILL "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "design,workload,dist,mops,p50_us,p99_us,p999_us,host_cpu_per_mreq,engine_cpu_per_mreq,host_busy_per_mreq,engine_busy_per_mreq,verified,host_process_cpu_per_mreq" >"$csv"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $duration s per run, $keys keys"
printf '%-12s %-2s %-8s %7s %8s %8s %11s %11s %9s %9s\n' design wl dist Mops p50_us p99_us \
  host_s/Mreq eng_s/Mreq verified host_proc
printf '%-12s %-2s %-8s %7s %8s %8s %11s %11s\n' '' '' '' '' '' '' '(busy)' '(busy)'
IFS=, read -r -a D <<<"$designs"
IFS=, read -r -a W <<<"$workloads"
IFS=, read -r -a T <<<"$dists"
status=0
for d in "${D[@]}"; do
  for w in "${W[@]}"; do
    for t in "${T[@]}"; do
      rm -f "$work/port"
      "$server_bin" --design "$d" --port 0 --port-file "$work/port" --memory 1G \
        --expected-items "$keys" --cpus "$HOST_CPUS" --engine-cpus "$ENGINE_CPUS" --json \
        "${server_args[@]}" >"$work/stats.json" 2>"$work/server.err" &
      server_pid=$!
      for _ in $(seq 1 400); do [[ -s "$work/port" ]] && break; sleep 0.05; done
      [[ -s "$work/port" ]] || { cat "$work/server.err" >&2; die "$d: server did not start"; }
      cpu0="$(process_cpu_ns "$server_pid")"
      rc=0
      "$bench_bin" --target "buddykv://127.0.0.1:$(cat "$work/port")" --workload "$w" --dist "$t" \
        --keys "$keys" --duration "$duration" --verify --cpus "$CLIENT_CPUS" --json --quiet \
        >"$work/bench.json" 2>"$work/bench.err" || rc=$?
      cpu1="$(process_cpu_ns "$server_pid")"
      kill -INT "$server_pid"
      wait "$server_pid" || true
      server_pid=""
      if [[ "$rc" != 0 ]]; then
        echo "kv_designs: $d $w $t: buddykv-bench failed ($rc): $(cat "$work/bench.err")" >&2
        status=1
        continue
      fi
      "$PY" - "$d" "$w" "$t" "$work/bench.json" "$work/stats.json" "$csv" \
        "$((cpu1 - cpu0))" <<'PY' || status=1
import json, sys
d, w, t, bench, stats, csv, proc_ns = sys.argv[1:]
b = json.load(open(bench))
s = json.load(open(stats))
row = [d, w, t, "%.4f" % b["mops"], "%.1f" % b["p50_us"], "%.1f" % b["p99_us"], "%.1f" % b["p999_us"],
       "%.4f" % (s["host_cpu_s_per_mreq"] or 0), "%.4f" % (s["engine_cpu_s_per_mreq"] or 0),
       "%.4f" % (s["host_busy_cpu_s_per_mreq"] or 0), "%.4f" % (s["engine_busy_cpu_s_per_mreq"] or 0),
       "true" if b["verified"] and b["errors"] == 0 else "false",
       "%.4f" % (int(proc_ns) / 1e3 / s["requests"] if s["requests"] else 0)]
open(csv, "a").write(",".join(row) + "\n")
print("%-12s %-2s %-8s %7s %8s %8s %5s (%5s) %5s (%5s) %9s %9s" % tuple(row[:6] + [row[7], row[9], row[8], row[10], row[11], row[12]]))
sys.exit(0 if row[11] == "true" else 1)
PY
    done
  done
done

# Host CPU per request of each design against cpu-only's, same workload and distribution.
"$PY" - "$csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
base = {(r["workload"], r["dist"]): r for r in rows if r["design"] == "cpu-only"}
print("\nhost CPU per request relative to cpu-only, same workload and distribution (lower saves host")
print("cores); all: every CPU second of the host's serving threads; busy: without idle polling;")
print("process: every thread of the host process (control and engine watch included)")
for r in rows:
    b = base.get((r["workload"], r["dist"]))
    if r["design"] != "cpu-only" and b and float(b["host_cpu_per_mreq"]) > 0:
        print("  %-12s %s %-8s all %5.2fx  busy %5.2fx  process %5.2fx" % (
              r["design"], r["workload"], r["dist"],
              float(r["host_cpu_per_mreq"]) / float(b["host_cpu_per_mreq"]),
              float(r["host_busy_per_mreq"]) / max(float(b["host_busy_per_mreq"]), 1e-9),
              float(r["host_process_cpu_per_mreq"]) / max(float(b["host_process_cpu_per_mreq"]), 1e-9)))
PY
if "$PY" -c 'import matplotlib' 2>/dev/null; then
  "$PY" "$root/bench/plot_kv_designs.py" "$csv" "$out/kv_designs.png"
else
  echo "kv_designs: python3-matplotlib missing (./buddy setup installs it): no plot" >&2
fi
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg); results in $csv"
exit "$status"
