#!/usr/bin/env bash
# Every buddykv design end to end, with the engine as its own process (buddykv-engine attached to
# the server's segment, as on a DPU): YCSB-A (50% SET), Zipf keys, mixed value sizes, every GET
# verified by buddykv-bench; a clean SIGTERM; then a killed engine: the server says so at once,
# keeps serving what the host owns with the right values, and exits (status 3) without hanging.
# usage: e2e_designs.sh BIN_DIR [DURATION_S]
set -euo pipefail
bin="$1"
dur=$(( ${2:-1} * ${BUDDY_SOAK:-1} ))  # seconds per run; BUDDY_SOAK (label soak) stretches it
e2e_name="designs e2e"
# shellcheck source=e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

for design in cpu-only engine-only lat sav dual shrd; do
  start_server 0 --design "$design"
  if [[ "$design" != cpu-only ]]; then
    [[ -n "$engine_pid" ]] || fail "$design: no engine process announced"
    kill -0 "$engine_pid" || fail "$design: engine process $engine_pid not running"
  fi
  out="$("$bin/buddykv-bench" --target "buddykv://127.0.0.1:$port" --workload a --dist zipf \
    --keys 20000 --value-sizes 8,64,700 --duration "$dur" --window 256 --verify --json --quiet)" \
    || fail "$design: bench failed: $out"
  echo "$design: $out"
  json_ok "$design: bench output" <<<"$out"
  grep -q '"verified":true' <<<"$out" || fail "$design: not verified"
  grep -q '"errors":0' <<<"$out" || fail "$design: errors"
  grep -q '"misses":0' <<<"$out" || fail "$design: preloaded keys missed"
  stop_server
  grep -q "\"design\":\"$design\"" "$work/stats.json" || fail "$design: final stats"
  grep -q '"host_cpu_s_per_mreq":[0-9]' "$work/stats.json" || fail "$design: no host CPU figure"
  if [[ "$design" != cpu-only ]]; then
    grep -q '"state":"ok"' "$work/stats.json" || fail "$design: engine state"
    if kill -0 "$engine_pid" 2>/dev/null; then fail "$design: engine outlived the server"; fi
  fi
done

# A killed engine. dual: spare host threads keep their own ports and partitions.
start_server 0 --design dual --spare-threads 1 --engine-threads 1 --engine-restarts 0
cli=("$bin/buddykv-cli" --server "127.0.0.1:$port" --timeout-ms 5)
for i in $(seq 0 39); do
  [[ "$("${cli[@]}" set "kill-$i" "value-$i")" == ok ]] || fail "set kill-$i"
done
kill -KILL "$engine_pid"
for _ in $(seq 1 100); do
  grep -q "engine process was killed by signal 9" "$work/server.err" && break
  sleep 0.05
done
grep -q "engine process was killed by signal 9" "$work/server.err" \
  || fail "no report within 5 s of the engine's death"
"${cli[@]}" stats >"$work/cli_stats.json" || fail "cli stats after the engine died"
grep -q '"state":"lost"' "$work/cli_stats.json" || fail "stats do not show the engine lost"
json_ok "cli stats after the engine died" <"$work/cli_stats.json"
served=0
for i in $(seq 0 39); do
  if v="$("${cli[@]}" get "kill-$i" 2>/dev/null)"; then
    [[ "$v" == "value-$i" ]] || fail "kill-$i reads '$v' after the engine died"
    served=$((served + 1))
  fi
done
[[ "$served" -gt 0 && "$served" -lt 40 ]] \
  || fail "after the engine died, $served of 40 keys answered (expected the host's share)"
echo "killed engine: the host still serves $served of 40 keys, every one right"
stop_server 3
grep -q '"state":"lost"' "$work/stats.json" || fail "final stats do not show the engine lost"

# Bad arguments: one line, status 2.
rc=0
"$bin/buddykv-server" --design lat --engine-threads 0 2>"$work/bad.err" || rc=$?
[[ "$rc" == 2 && "$(wc -l <"$work/bad.err")" == 1 ]] || fail "bad argument: rc $rc, $(cat "$work/bad.err")"
rc=0
"$bin/buddykv-engine" --attach no-such-segment-$$ 2>"$work/bad.err" || rc=$?
[[ "$rc" == 1 && "$(wc -l <"$work/bad.err")" == 1 ]] || fail "engine on no segment: rc $rc, $(cat "$work/bad.err")"
echo "designs e2e: ok"
