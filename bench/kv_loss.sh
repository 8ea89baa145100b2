#!/usr/bin/env bash
# Throughput and p99 of buddykv under datagram loss, in one run: a buddykv-server (cpu-only) and
# buddykv-bench (YCSB-A, Zipf 0.99, every GET verified) talk through buddykv-relay (seeded) that
# drops a fraction of the datagrams each way; loss 0 goes through the relay too, so every point
# pays the same extra hop. Prints a table and, with --json, one JSON line per point:
#   {"loss":0.01,"mops":..,"ratio_to_lossless":..,"p99_us":..,"retries":..,"errors":0}
# A run that does not verify (errors, or a version older than acknowledged) fails the script.
#
#   bench/kv_loss.sh            # 3 s per point, 100k keys
#   bench/kv_loss.sh --quick    # 1 s per point, 20k keys
#   bench/kv_loss.sh --json --losses 0,0.01 --design sav
# Options: --quick, --json, --losses LIST, --duration S, --keys N, --design D. After ./buddy build.
set -euo pipefail

die() { echo "kv_loss: $*" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/${BUILD:-build}/bin"
losses="0,0.001,0.01,0.05"
duration=3
keys=100000
design=cpu-only
json=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) duration=1; keys=20000; shift ;;
    --json) json=1; shift ;;
    --losses) [[ $# -ge 2 ]] || die "--losses needs a value"; losses="$2"; shift 2 ;;
    --duration) [[ $# -ge 2 ]] || die "--duration needs a value"; duration="$2"; shift 2 ;;
    --keys) [[ $# -ge 2 ]] || die "--keys needs a value"; keys="$2"; shift 2 ;;
    --design) [[ $# -ge 2 ]] || die "--design needs a value"; design="$2"; shift 2 ;;
    *) die "unknown argument '$1' (--quick, --json, --losses, --duration, --keys, --design)" ;;
  esac
done
for b in buddykv-server buddykv-bench buddykv-relay; do
  [[ -x "$bin/$b" ]] || die "$bin/$b not found (run ./buddy build first)"
done

work="$(mktemp -d)"
server_pid=""; relay_pid=""
cleanup() {
  [[ -n "$relay_pid" ]] && kill -KILL "$relay_pid" 2>/dev/null || true
  [[ -n "$server_pid" ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_file() {  # wait_file FILE PID WHAT
  for _ in $(seq 1 400); do
    [[ -s "$1" ]] && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited: $(tail -1 "$work/$3.err")"
    sleep 0.05
  done
  die "$3 did not come up"
}

"$bin/buddykv-server" --port 0 --memory 256M --design "$design" --port-file "$work/port" \
  >/dev/null 2>"$work/server.err" &
server_pid=$!
wait_file "$work/port" "$server_pid" server
port="$(cat "$work/port")"

echo "buddykv under loss: $design, YCSB-A Zipf 0.99, $keys keys, ${duration} s per point, through buddykv-relay, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %10s %10s %10s %10s %8s\n' loss Mops ratio p99_us retries errors
base=""
seed=11
IFS=, read -r -a points <<<"$losses"
for loss in "${points[@]}"; do
  rm -f "$work/relay_port"
  "$bin/buddykv-relay" --server "127.0.0.1:$port" --loss "$loss" --seed "$seed" \
    --duration 3600 --port-file "$work/relay_port" >/dev/null 2>"$work/relay.err" &
  relay_pid=$!
  wait_file "$work/relay_port" "$relay_pid" relay
  out="$("$bin/buddykv-bench" --target "buddykv://127.0.0.1:$(cat "$work/relay_port")" \
    --workload a --dist zipf --keys "$keys" --duration "$duration" --verify --json --quiet)" ||
    die "loss $loss: the bench failed: $out"
  kill -TERM "$relay_pid"; wait "$relay_pid" || true; relay_pid=""
  read -r mops p99 retries errors verified < <(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
print(d["mops"], d["p99_us"], d["retries"], d["errors"], "yes" if d["verified"] else "no")' "$out")
  [[ "$verified" == yes && "$errors" == 0 ]] || die "loss $loss: not verified: $out"
  [[ -n "$base" ]] || base="$mops"
  ratio="$(python3 -c "print(f'{$mops / $base:.3f}')")"
  printf '%-8s %10.3f %9sx %10s %10s %8s\n' "$loss" "$mops" "$ratio" "$p99" "$retries" "$errors"
  if [[ "$json" == 1 ]]; then
    echo "{\"loss\":$loss,\"design\":\"$design\",\"mops\":$mops,\"ratio_to_lossless\":$ratio,\"p99_us\":$p99,\"retries\":$retries,\"errors\":$errors}"
  fi
  seed=$((seed + 1))
done
