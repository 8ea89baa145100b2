#!/usr/bin/env bash
# buddykv as a cluster, through the etcd registry (docs/kv-cluster.md): a real etcd on free
# loopback ports, N servers of mixed designs (cpu-only, sav, shrd, ...) registered with leases,
# and buddykv-bench (YCSB-A, Zipf 0.99, every GET verified) finding them with --registry. While
# it runs, a server joins (sav), its engine process is killed with kill -9 (the server starts a
# new one: engine_restarts, and recovery_s from the kill to the first answer of that server's
# ports to a probe client, and engine_downtime_ms, the server's own figure; its registry record
# says "restarting" while it is down, then "up" with the next epoch), one server leaves cleanly (SIGTERM: it deregisters) and one is killed with kill -9 (it
# vanishes when its lease expires); at the end every key's acknowledged version is read back
# from the server that acknowledged it, when that server is still up. Prints a summary or, with
# --json, one JSON line:
#   {"servers":3,"mops":..,"p99_us":..,"errors":0,"verified":true,"lost_acked_writes":0,
#    "engine_restarts":1,"recovery_s":..,...}
# With --no-churn the engine of server 1 (sav) is killed instead (--servers >= 2).
# The competitor, in the same run: one server alone (cpu-only, same workload, a quarter of the
# time), as single_server_mops and ratio_to_single. The script fails when a run did not verify.
#
#   bench/kv_cluster.sh            # 3 servers, 12 s, 100k keys
#   bench/kv_cluster.sh --quick    # 3 servers, 9 s, 20k keys
#   bench/kv_cluster.sh --json --servers 4 --no-churn
# Options: --quick, --json, --servers N (>= 3 with churn), --duration S, --keys N, --no-churn.
# After ./buddy build. etcd is Debian's etcd-server (/usr/bin/etcd, or $ETCD).
set -euo pipefail

die() { echo "kv_cluster: $*" >&2; exit 2; }
fail() { echo "kv_cluster: FAIL: $*" >&2; exit 1; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${BIN:-$root/${BUILD:-build}/bin}"
n=3
duration=12
keys=100000
json=0
churn=1
ttl=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) duration=9; keys=20000; shift ;;
    --json) json=1; shift ;;
    --servers) [[ $# -ge 2 ]] || die "--servers needs a value"; n="$2"; shift 2 ;;
    --duration) [[ $# -ge 2 ]] || die "--duration needs a value"; duration="$2"; shift 2 ;;
    --keys) [[ $# -ge 2 ]] || die "--keys needs a value"; keys="$2"; shift 2 ;;
    --no-churn) churn=0; shift ;;
    *) die "unknown argument '$1' (--quick, --json, --servers, --duration, --keys, --no-churn)" ;;
  esac
done
[[ "$n" =~ ^[0-9]+$ && "$n" -ge 1 && "$n" -le 64 ]] || die "--servers must be 1..64"
[[ "$churn" == 0 || "$n" -ge 3 ]] || die "join/leave/kill needs --servers >= 3 (or --no-churn)"
for b in buddykv-server buddykv-engine buddykv-bench buddykv-cli; do
  [[ -x "$bin/$b" ]] || die "$bin/$b not found (run ./buddy build first)"
done

work="$(mktemp -d)"
declare -A spid=()
bench_pid=""
# shellcheck source=../tests/kv/server/etcd_lib.sh
source "$root/tests/kv/server/etcd_lib.sh"
cleanup() {
  [[ -n "$bench_pid" ]] && kill -KILL "$bench_pid" 2>/dev/null || true
  for id in "${!spid[@]}"; do kill -TERM "${spid[$id]}" 2>/dev/null || true; done
  for id in "${!spid[@]}"; do wait "${spid[$id]}" 2>/dev/null || true; done
  stop_etcd
  [[ -n "${KEEP:-}" ]] && echo "kv_cluster: work dir kept: $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

prefix="buddykv-cluster-$$"
registry="etcd://127.0.0.1:PORT/$prefix"
designs=(cpu-only sav shrd)

# start_server ID DESIGN: registered under the prefix; waits for its --port-file.
start_server() {
  local id="$1" design="$2"
  "$bin/buddykv-server" --port 0 --memory 64M --design "$design" --id "$id" \
    --registry "$registry" --registry-ttl "$ttl" --port-file "$work/port.$id" --json \
    >"$work/stats.$id.json" 2>"$work/server.$id.err" &
  spid[$id]=$!
  for _ in $(seq 1 400); do
    [[ -s "$work/port.$id" ]] && return 0
    kill -0 "${spid[$id]}" 2>/dev/null || fail "server $id exited: $(tail -1 "$work/server.$id.err")"
    sleep 0.05
  done
  fail "server $id did not come up"
}
# wait_ids WANT [T0]: until the registry lists exactly these ids; prints the seconds it took
# (since T0, a date +%s.%N, when given).
wait_ids() {
  local t0 now
  t0="${2:-$(date +%s.%N)}"
  for _ in $(seq 1 200); do
    if [[ "$(registered_ids "$prefix")" == "$1" ]]; then
      now="$(date +%s.%N)"
      python3 -c "print(f'{$now - $t0:.2f}')"
      return 0
    fi
    sleep 0.05
  done
  fail "the registry lists '$(registered_ids "$prefix")', not '$1'"
}

now_ns() { date +%s%N; }
# probe CTL: a SET of 16 keys (not the bench's; over every serving port) through server CTL
# answers ok: 16 buddykv-cli at once, each sending up to 5 times, 5 ms apart.
probe() {
  local k pids=()
  for k in p0 p1 p2 p3 p4 p5 p6 p7 p8 p9 pa pb pc pd pe pf; do
    "$bin/buddykv-cli" --server "$1" --timeout-ms 5 set "probe-$k" x >"$work/probe.$k" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}" 2>/dev/null || true
  for k in p0 p1 p2 p3 p4 p5 p6 p7 p8 p9 pa pb pc pd pe pf; do
    [[ "$(cat "$work/probe.$k")" == ok ]] || return 1
  done
}
# engine_of ID FIELD: a member of server ID's STATS "engine" object.
engine_of() {
  "$bin/buddykv-cli" --server "127.0.0.1:$(cat "$work/port.$1")" stats \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["engine"][sys.argv[1]])' "$2"
}
# kill_engine ID: kill -9 the buddykv-engine of server ID (sav) while the bench runs; sets
# recovery_s (kill to the probe's first full answer) and probe_s (the probe alone, before the
# kill: recovery_s is at least that).
recovery_s=null
probe_s=null
kill_engine() {
  local ctl="127.0.0.1:$(cat "$work/port.$1")" pid t0 t1
  t0="$(now_ns)"
  until probe "$ctl"; do
    (($(now_ns) - t0 < 10000000000)) || fail "server $1 does not answer the probe"
  done
  t1="$(now_ns)"
  probe_s="$(python3 -c "print(f'{($t1 - $t0) / 1e9:.3f}')")"
  pid="$(engine_of "$1" pid)" || fail "server $1: no STATS"
  [[ "$pid" =~ ^[0-9]+$ && "$pid" -gt 0 ]] || fail "server $1: no engine process ($pid)"
  t0="$(now_ns)"
  kill -KILL "$pid"
  until probe "$ctl"; do
    (($(now_ns) - t0 < 10000000000)) || fail "server $1: no answer 10 s after its engine's kill"
  done
  t1="$(now_ns)"
  recovery_s="$(python3 -c "print(f'{($t1 - $t0) / 1e9:.3f}')")"
}

# The competitor in the same run: one server (cpu-only, not registered), the same workload.
base_s="$(python3 -c "print(max(1.0, $duration / 4))")"
"$bin/buddykv-server" --port 0 --memory 64M --design cpu-only --port-file "$work/port.base" \
  >/dev/null 2>"$work/server.base.err" &
spid[base]=$!
for _ in $(seq 1 400); do
  [[ -s "$work/port.base" ]] && break
  sleep 0.05
done
[[ -s "$work/port.base" ]] || fail "the single server did not come up: $(tail -1 "$work/server.base.err")"
base="$("$bin/buddykv-bench" --target "buddykv://127.0.0.1:$(cat "$work/port.base")" --workload a \
  --dist zipf --keys "$keys" --duration "$base_s" --window 256 --verify --json --quiet)" \
  || fail "single-server run: $base"
kill -TERM "${spid[base]}"
wait "${spid[base]}" || fail "the single server exited with $? on SIGTERM"
unset 'spid[base]'

start_etcd
registry="etcd://127.0.0.1:$etcd_port/$prefix"
ids=""
for ((i = 0; i < n; i++)); do
  start_server "$i" "${designs[$((i % ${#designs[@]}))]}"
  ids="${ids:+$ids }$i"
done
wait_ids "$ids" >/dev/null

"$bin/buddykv-bench" --registry "$registry" --workload a --dist zipf --keys "$keys" \
  --duration "$duration" --window 256 --max-timeout-ms 2000 --verify --json --quiet \
  >"$work/bench.json" 2>"$work/bench.err" &
bench_pid=$!

vanish_s=null
engine_id=""
step() { python3 -c "print($duration * $1)"; }
if [[ "$churn" == 1 ]]; then
  sleep "$(step 0.1)"
  start_server "$n" sav                       # joins: takes about 1/(n+1) of the keys
  ids="$ids $n"
  wait_ids "$ids" >/dev/null
  sleep "$(step 0.05)"
  kill -TERM "${spid[1]}"                     # leaves cleanly: deregisters at once
  wait "${spid[1]}" || fail "server 1 exited with $? on SIGTERM"
  unset 'spid[1]'
  ids="$(sed -E 's/(^| )1( |$)/\1/; s/  / /; s/^ //; s/ $//' <<<"$ids")"
  wait_ids "$ids" >/dev/null
  sleep "$(step 0.05)"
  killed_at="$(date +%s.%N)"
  kill -KILL "${spid[0]}"                     # crashes: vanishes when its lease expires
  wait "${spid[0]}" 2>/dev/null || true
  unset 'spid[0]'
  ids="$(sed -E 's/(^| )0( |$)/\1/; s/^ //; s/ $//' <<<"$ids")"
  engine_id="$n"
  kill_engine "$n"     # meanwhile, the joiner's engine: kill -9, and the server starts a new one
  vanish_s="$(wait_ids "$ids" "$killed_at")"
elif [[ "$n" -ge 2 ]]; then
  sleep "$(step 0.3)"
  engine_id=1
  kill_engine 1
fi
bench_rc=0
wait "$bench_pid" || bench_rc=$?
bench_pid=""
out="$(cat "$work/bench.json")"
[[ -n "$out" ]] || fail "buddykv-bench printed nothing: $(tail -2 "$work/bench.err")"
engine='{}'
if [[ -n "$engine_id" ]]; then  # the engine-killed server's STATS and registry record, at the end
  engine="$(python3 - "$(engine_of "$engine_id" restarts)" "$(engine_of "$engine_id" epoch)" \
    "$(registry_record "$prefix" "$engine_id")" "$recovery_s" "$probe_s" \
    "$(engine_of "$engine_id" last_downtime_ms)" <<'PY'
import json, sys
rec = json.loads(sys.argv[3] or "{}")
print(json.dumps({"engine_restarts": int(sys.argv[1]), "engine_epoch": int(sys.argv[2]),
                  "engine_downtime_ms": float(sys.argv[6]),
                  "recovery_s": float(sys.argv[4]), "probe_s": float(sys.argv[5]),
                  "registry_engine": rec.get("engine"),
                  "registry_engine_epoch": rec.get("engine_epoch")}))
PY
)" || fail "the engine-killed server's STATS or record"
fi

line="$(python3 - "$out" "$n" "$vanish_s" "$ttl" "$churn" "$base" "$engine" <<'PY'
import json, sys
b = json.loads(sys.argv[1])
single = json.loads(sys.argv[6])
engine = json.loads(sys.argv[7])
out = {"servers": int(sys.argv[2]), "servers_at_end": b["servers"], "mops": b["mops"],
       "p50_us": b["p50_us"], "p99_us": b["p99_us"], "errors": b["errors"],
       "timeouts": b["timeouts"], "verified": b["verified"],
       "lost_acked_writes": b["lost_acked_writes"], "read_back": b["readback_keys"],
       "read_back_skipped_gone": b["read_back_skipped_gone"], "moved_reads": b["moved_reads"],
       "joins": b["joins"], "leaves": b["leaves"], "rerouted": b["rerouted"],
       "churn": sys.argv[5] == "1", "lease_ttl_s": int(sys.argv[4]),
       "killed_vanished_s": None if sys.argv[3] == "null" else float(sys.argv[3]),
       "engine_restarts": engine.get("engine_restarts"), "recovery_s": engine.get("recovery_s"),
       "max_stall_ms": b.get("max_stall_ms"), **{k: v for k, v in engine.items()
                                                   if k not in ("engine_restarts", "recovery_s")},
       "single_server_mops": single["mops"], "single_server_verified": single["verified"],
       "ratio_to_single": round(b["mops"] / single["mops"], 3) if single["mops"] else None}
print(json.dumps(out, separators=(",", ":")))
PY
)"
if [[ "$json" == 1 ]]; then
  echo "$line"
else
  python3 - "$line" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print("kv_cluster: {servers} servers (mixed designs), churn {churn}: {mops} Mops, p99 {p99_us} us, "
      "errors {errors}, lost acknowledged writes {lost_acked_writes} of {read_back} read back, "
      "killed server gone from the registry after {killed_vanished_s} s; engine restarts "
      "{engine_restarts}, recovery (kill to first answer) {recovery_s} s; one server alone "
      "{single_server_mops} Mops (ratio {ratio_to_single})".format(**r))
PY
fi
[[ "$bench_rc" == 0 ]] || fail "buddykv-bench exited $bench_rc: $(tail -1 "$work/bench.err")"
