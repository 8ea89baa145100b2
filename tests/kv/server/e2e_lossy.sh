#!/usr/bin/env bash
# Exactly-once writes over a lossy, duplicating, reordering network: buddykv-relay (seeded) between
# buddykv-bench and the server drops 5%, duplicates 1% (late copies) and reorders 5% of the
# datagrams each way; YCSB-A (50% SET), Zipf keys, every GET verified. In cpu-only, sav and dual:
# no error, no version older than acknowledged (retransmitted or not: stale_after_retry 0), no
# timeout; the server's PEs answered duplicates from their windows (replayed > 0).
# usage: e2e_lossy.sh BIN_DIR [DURATION_S]
set -euo pipefail
bin="$1"
dur="${2:-2}"
e2e_name="lossy e2e"
# shellcheck source=e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"
relay_pid=""
lossy_cleanup() {
  if [[ -n "$relay_pid" ]]; then kill -KILL "$relay_pid" 2>/dev/null || true; fi
  cleanup
}
trap lossy_cleanup EXIT

seed=7
for design in cpu-only sav dual; do
  start_server 0 --design "$design"
  rm -f "$work/relay_port"
  "$bin/buddykv-relay" --server "127.0.0.1:$port" --loss 0.05 --dup 0.01 --reorder 0.05 \
    --seed "$seed" --duration 120 --port-file "$work/relay_port" --json \
    >"$work/relay.json" 2>"$work/relay.err" &
  relay_pid=$!
  for _ in $(seq 1 200); do
    [[ -s "$work/relay_port" ]] && break
    kill -0 "$relay_pid" 2>/dev/null || fail "$design: relay exited: $(cat "$work/relay.err")"
    sleep 0.05
  done
  [[ -s "$work/relay_port" ]] || fail "$design: relay did not come up"
  out="$("$bin/buddykv-bench" --target "buddykv://127.0.0.1:$(cat "$work/relay_port")" \
    --workload a --dist zipf --keys 5000 --value-sizes 8,64,700 --duration "$dur" --window 256 \
    --verify --json --quiet)" || fail "$design: bench failed: $out"
  echo "$design: $out"
  json_ok "$design: bench output" <<<"$out"
  for want in '"verified":true' '"errors":0' '"stale_after_retry":0' '"timeouts":0'; do
    grep -q "$want" <<<"$out" || fail "$design: not $want"
  done
  grep -q '"retries":[1-9]' <<<"$out" || fail "$design: no retransmission: was the relay lossy?"
  kill -TERM "$relay_pid"
  wait "$relay_pid" || fail "$design: relay exited with $?"
  relay_pid=""
  echo "$design: relay $(cat "$work/relay.json")"
  json_ok "$design: relay counters" <"$work/relay.json"
  grep -q '"dropped":[1-9]' "$work/relay.json" || fail "$design: the relay dropped nothing"
  grep -q '"duplicated":[1-9]' "$work/relay.json" || fail "$design: the relay duplicated nothing"
  stop_server
  python3 - "$work/stats.json" "$design" <<'PY' || fail "$design: no duplicate was answered from a window"
import json, sys
d = json.loads(open(sys.argv[1]).read().splitlines()[-1])
total = d.get("replayed", 0)
print(f"{sys.argv[2]}: server replayed {total}, too_old {d['status']['too_old']}")
sys.exit(0 if total > 0 else 1)
PY
  seed=$((seed + 1))
done
echo "lossy e2e: ok"
