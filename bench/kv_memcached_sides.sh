#!/usr/bin/env bash
# Where buddykv's memcached front end spends CPU, per design: the host's and the engine's CPU per
# memcached request. For each design, buddykv-server --memcached-port 0 (the server and, in the
# offloaded designs, its buddykv-engine process pinned to SERVER_CPU), the same buddykv-bench
# memcached target (meta protocol, pipelined) from CLIENT_CPUS, then per request:
#   host us     the buddykv-server process's CPU time (all its threads: serving threads, control,
#               and in cpu-only the memcached front end)
#   engine us   the buddykv-engine process's CPU time (its CE threads and, in the offloaded
#               designs, the memcached front end)
#   fe us       the memcached front end's own thread (STATS memcached.cpu_ns), on side "fe side"
# Requests: the bench's operations plus the preload's SETs (each one memcached command).
#
#   bench/kv_memcached_sides.sh                     # cpu-only and sav, YCSB-B Zipf, 3 s each
#   DESIGNS="cpu-only sav dual" bench/kv_memcached_sides.sh --keys 100000 --duration 5
#
# Arguments go to buddykv-bench (--target is set here). Environment: DESIGNS ("cpu-only sav"),
# SERVER_CPU (0), CLIENT_CPUS (1), MEMORY_MB (256). Needs python3 and taskset. The machine's
# other load shows in every figure: run it on a quiet machine for figures to compare.
set -euo pipefail

die() {
  echo "kv_memcached_sides: $*" >&2
  exit 1
}
for a in "$@"; do
  case "$a" in
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    --target | --target=*) die "--target is set by this script" ;;
  esac
done
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
server_bin="$root/build/bin/buddykv-server"
bench_bin="$root/build/bin/buddykv-bench"
[[ -x "$server_bin" && -x "$bench_bin" ]] || die "build/bin/buddykv-server or -bench missing: run ./buddy build first"
command -v python3 >/dev/null || die "python3 is needed"
command -v taskset >/dev/null || die "taskset not found (Debian package util-linux)"
DESIGNS="${DESIGNS:-cpu-only sav}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPUS="${CLIENT_CPUS:-1}"
MEMORY_MB="${MEMORY_MB:-256}"
args=("$@")
has() {
  local a
  for a in "${args[@]}"; do [[ "$a" == "$1" || "$a" == "$1="* ]] && return 0; done
  return 1
}
has --keys || args+=(--keys 100000)
has --duration || args+=(--duration 3)
has --cpus || args+=(--cpus "${CLIENT_CPUS%%[,-]*}")
args+=(--json --quiet)

tmp="$(mktemp -d /tmp/kv_memcached_sides.XXXXXX)"
kv_pid=""
bench_pid=""
cleanup() {
  [[ -n "$bench_pid" ]] && kill "$bench_pid" 2>/dev/null || true
  [[ -n "$kv_pid" ]] && kill "$kv_pid" 2>/dev/null || true
  [[ -n "$kv_pid" ]] && wait "$kv_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

rows=()
for design in $DESIGNS; do
  d=(--design "$design")
  [[ "$design" == cpu-only ]] && d+=(--threads 1 --cpus "$SERVER_CPU") ||
    d+=(--engine-threads 1 --engine-cpus "$SERVER_CPU" --cpus "$SERVER_CPU")
  rm -f "$tmp/port"
  taskset -c "$SERVER_CPU" "$server_bin" "${d[@]}" --port 0 --port-file "$tmp/port" \
    --memcached-port 0 --memory "${MEMORY_MB}M" --json >"$tmp/$design.stats" 2>"$tmp/$design.log" &
  kv_pid=$!
  mc_port=""
  for _ in $(seq 400); do
    kill -0 "$kv_pid" 2>/dev/null || { cat "$tmp/$design.log" >&2; die "$design: buddykv-server exited"; }
    mc_port="$(sed -nE 's/.*memcached protocol on [0-9.]+:([0-9]+).*/\1/p' "$tmp/$design.log" | head -1)"
    [[ -n "$mc_port" ]] && break
    sleep 0.05
  done
  [[ -n "$mc_port" ]] || die "$design: no memcached port announced"
  engine_pid="$(cat /proc/"$kv_pid"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -m1 . || true)"
  [[ "$design" == cpu-only || -n "$engine_pid" ]] || die "$design: no engine process found"
  h0="$(ticks "$kv_pid")"
  e0=0
  [[ -n "$engine_pid" ]] && e0="$(ticks "$engine_pid")"
  taskset -c "$CLIENT_CPUS" "$bench_bin" --target "memcached://127.0.0.1:$mc_port" "${args[@]}" \
    >"$tmp/$design.json" 2>"$tmp/$design.err" &
  bench_pid=$!
  wait "$bench_pid" || { cat "$tmp/$design.err" >&2; die "$design: buddykv-bench failed"; }
  bench_pid=""
  h1="$(ticks "$kv_pid")"
  e1=0
  [[ -n "$engine_pid" ]] && e1="$(ticks "$engine_pid")"
  kill -TERM "$kv_pid"
  wait "$kv_pid" || die "$design: buddykv-server exited with $? on SIGTERM"
  kv_pid=""
  rows+=("$design" "$((h1 - h0))" "$((e1 - e0))")
done

python3 - "$tmp" "$(getconf CLK_TCK)" "${rows[@]}" <<'EOF'
import json, sys

tmp, hz = sys.argv[1], int(sys.argv[2])
rest = sys.argv[3:]
print("buddykv memcached front end: CPU per memcached request by side (one bench thread, "
      "meta protocol, pipelined)")
cols = ("Mops", "host us", "engine us", "fe us", "fe side", "errors")
print("%-12s" % "design" + "".join("%11s" % c for c in cols))
bad = []
for i in range(0, len(rest), 3):
    design, host, eng = rest[i], int(rest[i + 1]), int(rest[i + 2])
    r = json.loads([l for l in open(f"{tmp}/{design}.json") if l.startswith("{")][-1])
    st = json.loads([l for l in open(f"{tmp}/{design}.stats") if l.startswith("{")][-1])
    mc = st["memcached"]
    reqs = r["ops"] + (r["keys"] if r.get("preload", True) else 0)
    us = lambda t: t / hz * 1e6 / reqs
    print("%-12s" % design + "".join("%11s" % v for v in (
        "%.3f" % r["mops"], "%.3f" % us(host), "%.3f" % us(eng),
        "%.3f" % (mc["cpu_ns"] / 1e3 / reqs), mc["side"], r["errors"])))
    if r["errors"] or r["timeouts"] or not r["ops"]:
        bad.append(design)
print("(the front end's thread is counted in the host or engine column of its side; the bench "
      "run and preload are included)")
if bad:
    print("kv_memcached_sides: errors or timeouts in %s" % ", ".join(bad), file=sys.stderr)
    sys.exit(1)
EOF
