#!/usr/bin/env bash
# buddykv vs a stock memcached and a stock Redis, side by side in one run: the same YCSB workload
# from build/bin/buddykv-bench against buddykv-server (cpu-only, UDP, batched datagrams), against
# buddykv-server over the memcached protocol (its --memcached-port, docs/memcached.md: the same
# client code as for memcached), against memcached (TCP, meta protocol, pipelined) and against
# redis-server (TCP, RESP, pipelined with the same window), every server with one worker thread
# on the same cpu and the same memory, the client on another cpu. Prints the four results and
# the ratios to memcached.
#
#   bench/kv_vs_memcached.sh                                   # YCSB-B, Zipf 0.99, 5 s each
#   bench/kv_vs_memcached.sh --workload a --dist uniform --duration 10 --verify
#
# Every argument goes to buddykv-bench (see build/bin/buddykv-bench --help), except --target,
# which this script sets. Settings from the environment:
#   SERVER_CPU=0     cpu both servers are pinned to (taskset; buddykv-server also --cpus)
#   CLIENT_CPUS=1    cpus the client may run on (taskset; --cpus unless you pass --cpus)
#   MEMORY_MB=1024   item memory of each server (buddykv --memory, memcached -m, redis maxmemory)
#   MEMCACHED=memcached  the memcached binary
#   REDIS=redis-server   the Redis binary (Debian package redis-server)
#   MAX_DATAGRAM=1472    buddykv's datagram limit, server and client (up to 65507 on loopback)
# memcached runs with -t 1 and -R 1000: its default of 20 requests per connection per event
# makes it stop and answer every 20 pipelined requests (YCSB-B, window 512, this 2-core
# machine: 1.0-1.4 Mops with -R 20, 1.1-2.5 Mops with -R 1000), and -I 2m so that
# --value-size 1048576 fits. redis-server runs with --io-threads 1 (its default: one thread does
# all the I/O and commands), no persistence (--save '' --appendonly no, in a temporary
# directory) and --maxmemory-policy allkeys-lru, so that a full Redis evicts as memcached does
# rather than refusing SETs. The script exits non-zero if any run reports errors, timeouts,
# no operations or a failed --verify. Reading the --json results needs python3.
set -euo pipefail

die() {
  echo "kv_vs_memcached: $*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

for a in "$@"; do
  case "$a" in
    -h | --help) usage; exit 0 ;;
    --target | --target=*) die "--target is set by this script (it runs both targets)" ;;
  esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
server_bin="$root/build/bin/buddykv-server"
bench_bin="$root/build/bin/buddykv-bench"
[[ -x "$server_bin" ]] || die "$server_bin not found: run ./buddy build first"
[[ -x "$bench_bin" ]] || die "$bench_bin not found: run ./buddy build first"
MEMCACHED="${MEMCACHED:-memcached}"
mc_bin="$(command -v "$MEMCACHED" || true)"
[[ -n "$mc_bin" ]] || die "memcached not found: run ./buddy setup (Debian package memcached)"
REDIS="${REDIS:-redis-server}"
redis_bin="$(command -v "$REDIS" || true)"
[[ -n "$redis_bin" ]] || die "redis-server not found: run ./buddy setup (Debian package redis-server)"
command -v python3 >/dev/null || die "python3 is needed to read buddykv-bench --json results"
command -v taskset >/dev/null || die "taskset not found (Debian package util-linux)"

SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPUS="${CLIENT_CPUS:-1}"
MEMORY_MB="${MEMORY_MB:-1024}"
MAX_DATAGRAM="${MAX_DATAGRAM:-1472}"
[[ "$MAX_DATAGRAM" =~ ^[0-9]+$ && "$MAX_DATAGRAM" -ge 128 && "$MAX_DATAGRAM" -le 65507 ]] \
  || die "MAX_DATAGRAM must be 128..65507 bytes"
[[ "$MEMORY_MB" =~ ^[0-9]+$ && "$MEMORY_MB" -gt 0 ]] || die "MEMORY_MB must be a number of MB"

# Arguments for the bench: the caller's, plus pinning and JSON output unless given.
extra=("$@")
has() {
  local a
  for a in "${extra[@]}"; do [[ "$a" == "$1" || "$a" == "$1="* ]] && return 0; done
  return 1
}
bench_args=("${extra[@]}")
has --cpus || bench_args+=(--cpus "${CLIENT_CPUS%%[,-]*}")
has --json || bench_args+=(--json)
has --quiet || bench_args+=(--quiet)

tmp="$(mktemp -d /tmp/kv_vs_memcached.XXXXXX)"
kv_pid=""
mc_pid=""
redis_pid=""
started_pid=""  # a server start_on_free_port is starting
bench_pid=""
cleanup() {
  local p
  for p in "$bench_pid" "$kv_pid" "$mc_pid" "$redis_pid" "$started_pid"; do
    [[ -n "$p" ]] && kill "$p" 2>/dev/null || true
  done
  for p in "$bench_pid" "$kv_pid" "$mc_pid" "$redis_pid" "$started_pid"; do
    [[ -n "$p" ]] && wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# buddykv-server on a free port (--port 0), found through --port-file.
taskset -c "$SERVER_CPU" "$server_bin" --port 0 --port-file "$tmp/kv.port" --threads 1 \
  --memcached-port 0 --cpus "$SERVER_CPU" --memory "${MEMORY_MB}M" --max-datagram "$MAX_DATAGRAM" >"$tmp/kv.log" 2>&1 &
kv_pid=$!
for _ in $(seq 200); do
  [[ -s "$tmp/kv.port" ]] && break
  kill -0 "$kv_pid" 2>/dev/null || { cat "$tmp/kv.log" >&2; die "buddykv-server exited"; }
  sleep 0.05
done
[[ -s "$tmp/kv.port" ]] || die "buddykv-server did not start within 10 s"
kv_port="$(cat "$tmp/kv.port")"
for _ in $(seq 200); do
  grep -q "memcached protocol on" "$tmp/kv.log" && break
  sleep 0.05
done
kv_mc_port="$(sed -nE 's/.*memcached protocol on [0-9.]+:([0-9]+).*/\1/p' "$tmp/kv.log" | head -1)"
[[ -n "$kv_mc_port" ]] || die "buddykv-server did not open its memcached port"

# start_on_free_port NAME LOG ARGS...: runs ARGS (the word PORT replaced by a free port) pinned
# to SERVER_CPU in the background until it accepts TCP connections on that port; retried with
# another port if another process takes it first. Sets started_pid and started_port.
start_on_free_port() {
  local name="$1" log="$2" port a
  shift 2
  started_pid=""
  started_port=""
  for _ in 1 2 3 4 5; do
    port="$(free_port)"
    local cmd=()
    for a in "$@"; do [[ "$a" == PORT ]] && cmd+=("$port") || cmd+=("$a"); done
    taskset -c "$SERVER_CPU" "${cmd[@]}" >"$log" 2>&1 &
    started_pid=$!
    for _ in $(seq 200); do
      kill -0 "$started_pid" 2>/dev/null || break
      if accepts "$port"; then
        started_port="$port"
        return 0
      fi
      sleep 0.05
    done
    kill "$started_pid" 2>/dev/null || true
    wait "$started_pid" 2>/dev/null || true
    started_pid=""
  done
  cat "$log" >&2
  die "$name did not start"
}

# memcached, then redis-server (its working directory the temporary one), on free ports.
mc_user=()
[[ "$(id -u)" == 0 ]] && mc_user=(-u root)
start_on_free_port memcached "$tmp/mc.log" "$mc_bin" -p PORT -U 0 -l 127.0.0.1 -t 1 \
  -m "$MEMORY_MB" -I 2m -R 1000 "${mc_user[@]}"
mc_pid="$started_pid"
mc_port="$started_port"
start_on_free_port redis-server "$tmp/redis.log" "$redis_bin" --port PORT --bind 127.0.0.1 \
  --save '' --appendonly no --dir "$tmp" --io-threads 1 --maxmemory "${MEMORY_MB}mb" \
  --maxmemory-policy allkeys-lru --daemonize no
redis_pid="$started_pid"
redis_port="$started_port"

cpu_ticks() {  # utime + stime of process $1, in clock ticks
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

run() {  # run NAME TARGET SERVER_PID: one buddykv-bench run, its JSON line in $tmp/NAME.json
  local name="$1" target="$2" spid="$3" t0
  t0="$(cpu_ticks "$spid")"
  echo "running buddykv-bench --target $target ${bench_args[*]}" >&2
  # In the background, so that INT/TERM (trapped: cleanup) need not wait for it to finish.
  taskset -c "$CLIENT_CPUS" "$bench_bin" --target "$target" "${bench_args[@]}" \
    >"$tmp/$name.out" 2>"$tmp/$name.err" &
  bench_pid=$!
  local rc=0
  wait "$bench_pid" || rc=$?
  bench_pid=""
  if ((rc != 0)); then
    cat "$tmp/$name.err" "$tmp/$name.out" >&2
    die "buddykv-bench against $name failed (exit $rc)"
  fi
  echo $(($(cpu_ticks "$spid") - t0)) >"$tmp/$name.ticks"
  grep '^{' "$tmp/$name.out" | tail -n 1 >"$tmp/$name.json" || true
  [[ -s "$tmp/$name.json" ]] || { cat "$tmp/$name.out" >&2; die "no JSON result from $name"; }
}

bench_args_mc=("${bench_args[@]}")
has --max-datagram || bench_args+=(--max-datagram "$MAX_DATAGRAM")
run buddykv "buddykv://127.0.0.1:$kv_port" "$kv_pid"
bench_args=("${bench_args_mc[@]}")
run memcached "memcached://127.0.0.1:$mc_port" "$mc_pid"
run buddykv-mc "memcached://127.0.0.1:$kv_mc_port" "$kv_pid"
run redis "redis://127.0.0.1:$redis_port" "$redis_pid"

python3 - "$tmp/buddykv.json" "$tmp/memcached.json" "$SERVER_CPU" "$CLIENT_CPUS" "$MEMORY_MB" \
  "$(cat "$tmp/buddykv.ticks")" "$(cat "$tmp/memcached.ticks")" "$(getconf CLK_TCK)" \
  "$MAX_DATAGRAM" "$tmp/buddykv-mc.json" "$(cat "$tmp/buddykv-mc.ticks")" \
  "$tmp/redis.json" "$(cat "$tmp/redis.ticks")" <<'EOF'
import json, sys

kv, mc = (json.load(open(p)) for p in sys.argv[1:3])
kvmc = json.load(open(sys.argv[10]))
rd = json.load(open(sys.argv[12]))
server_cpu, client_cpus, memory_mb = sys.argv[3:6]
ticks = {"buddykv": int(sys.argv[6]), "memcached": int(sys.argv[7]),
         "buddykv-mc": int(sys.argv[11]), "redis": int(sys.argv[13])}
hz = int(sys.argv[8])


def cpu_us_per_req(name, r):
    # The server's CPU time over the bench run (preload included) per request it served.
    reqs = r.get("ops", 0) + (r.get("keys", 0) if r.get("preload", True) else 0)
    return ticks[name] / hz * 1e6 / reqs if reqs else float("nan")

dist = kv.get("dist", "?")
if dist == "zipf":
    dist = "zipf %s" % kv.get("theta", "?")
print("buddykv vs memcached and Redis: YCSB-%s, %s keys (%s), %s-B keys, %s-B values, %s client thread(s), "
      "window %s, %s s each" % (kv.get("workload", "?").upper(), kv.get("keys", "?"), dist,
                                kv.get("key_size", "?"), kv.get("value_size", "?"),
                                kv.get("threads", "?"), kv.get("window", "?"),
                                kv.get("duration_s", "?")))
print("servers: 1 worker thread on cpu %s, %s MB each; client on cpu %s; buddykv datagrams "
      "up to %s bytes" % (server_cpu, memory_mb, client_cpus, sys.argv[9]))
rows = (("buddykv", kv), ("buddykv-mc", kvmc), ("memcached", mc), ("redis", rd))
cols = ("Mops", "p50 us", "p99 us", "p999 us", "srv cpu us", "cli cpu us", "errors", "timeouts",
        "verified")
print("%-10s" % "target" + "".join("%11s" % c for c in cols))
for name, r in rows:
    ver = ("yes" if r.get("verified") else "NO") if r.get("verify") else "-"
    vals = ("%.3f" % r["mops"], "%.1f" % r["p50_us"], "%.1f" % r["p99_us"],
            "%.1f" % r["p999_us"], "%.3f" % cpu_us_per_req(name, r),
            "%.3f" % r["client_cpu_us"] if "client_cpu_us" in r else "?", r.get("errors", "?"),
            r.get("timeouts", "?"), ver)
    print("%-10s" % name + "".join("%11s" % v for v in vals))
tput = kv["mops"] / mc["mops"] if mc["mops"] > 0 else float("inf")
p99 = kv["p99_us"] / mc["p99_us"] if mc["p99_us"] > 0 else float("inf")
eff = cpu_us_per_req("memcached", mc) / cpu_us_per_req("buddykv", kv)
print("buddykv/memcached: throughput %.2fx, p99 latency %.2fx (lower is better), "
      "requests per server CPU-second %.2fx" % (tput, p99, eff))
tput = kvmc["mops"] / mc["mops"] if mc["mops"] > 0 else float("inf")
eff = cpu_us_per_req("memcached", mc) / cpu_us_per_req("buddykv-mc", kvmc)
print("buddykv over the memcached protocol (buddykv-mc)/memcached: throughput %.2fx, requests "
      "per server CPU-second %.2fx" % (tput, eff))
tput = rd["mops"] / mc["mops"] if mc["mops"] > 0 else float("inf")
eff = cpu_us_per_req("memcached", mc) / cpu_us_per_req("redis", rd)
print("redis/memcached: throughput %.2fx, requests per server CPU-second %.2fx" % (tput, eff))
print("(srv cpu us: the server process's CPU time during the run, preload included, per request;"
      " cli cpu us: buddykv-bench's client threads' CPU time over the measured run per request)")
for name, r in rows:
    print("json %s: %s" % (name, json.dumps(r, separators=(",", ":"))))
bad = [n for n, r in rows
       if r.get("errors", 0) or r.get("timeouts", 0) or not r.get("ops", 0)
       or (r.get("verify") and not r.get("verified"))]
if bad:
    print("kv_vs_memcached: errors, timeouts, no operations or failed verification from %s"
          % ", ".join(bad), file=sys.stderr)
    sys.exit(1)
EOF
