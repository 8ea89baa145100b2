#!/usr/bin/env bash
# End-to-end test of the buddykv binaries: a real buddykv-server on a free loopback port, the
# buddykv-bench client through every YCSB workload and key distribution with --verify,
# buddykv-cli for set/get/del/stats, clean shutdown on SIGTERM, and a restart on the same port.
# usage: e2e_test.sh BIN_DIR [DURATION_S]
set -euo pipefail
bin="$1"
dur="${2:-1}"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "e2e: FAIL: $*" >&2; exit 1; }

start_server() {  # start_server PORT(0: any) -> sets server_pid, port
  rm -f "$work/port"
  "$bin/buddykv-server" --port "$1" --threads 2 --partitions-per-thread 2 --memory 64M \
    --port-file "$work/port" --json >"$work/stats.json" 2>"$work/server.err" &
  server_pid=$!
  for _ in $(seq 1 200); do
    [[ -s "$work/port" ]] && break
    kill -0 "$server_pid" 2>/dev/null || fail "server exited: $(cat "$work/server.err")"
    sleep 0.05
  done
  [[ -s "$work/port" ]] || fail "server did not come up"
  port="$(cat "$work/port")"
}

stop_server() {
  kill -TERM "$server_pid"
  local rc=0
  wait "$server_pid" || rc=$?
  server_pid=""
  [[ "$rc" == 0 ]] || fail "server exited with $rc on SIGTERM"
  grep -q '"requests":' "$work/stats.json" || fail "no final stats: $(cat "$work/stats.json")"
}

start_server 0
cli=("$bin/buddykv-cli" --server "127.0.0.1:$port")

for w in a b c; do
  for d in uniform zipf; do
    out="$("$bin/buddykv-bench" --target "buddykv://127.0.0.1:$port" --workload "$w" --dist "$d" \
      --keys 20000 --duration "$dur" --window 256 --verify --json --quiet)" \
      || fail "bench $w/$d failed: $out"
    echo "$w/$d: $out"
    grep -q '"verified":true' <<<"$out" || fail "bench $w/$d not verified"
    grep -q '"errors":0' <<<"$out" || fail "bench $w/$d errors"
    grep -q '"misses":0' <<<"$out" || fail "bench $w/$d: preloaded keys missed"
  done
done

[[ "$("${cli[@]}" set e2e-key hello)" == ok ]] || fail "cli set"
[[ "$("${cli[@]}" get e2e-key)" == hello ]] || fail "cli get"
"${cli[@]}" del e2e-key >/dev/null || fail "cli del"
if "${cli[@]}" get e2e-key 2>/dev/null; then fail "deleted key still there"; fi
"${cli[@]}" stats | grep -q '"design":"cpu-only"' || fail "cli stats"
if "${cli[@]}" frobnicate 2>/dev/null; then fail "bad subcommand accepted"; fi
rc=0
"$bin/buddykv-server" --threads 0 2>"$work/bad.err" || rc=$?
[[ "$rc" == 2 && "$(wc -l <"$work/bad.err")" == 1 ]] || fail "bad argument: rc $rc, $(cat "$work/bad.err")"

"${cli[@]}" set survives-restart no >/dev/null
stop_server
# Restart on the same port: a fresh, empty store (buddykv keeps data in memory only).
start_server "$port"
[[ "$(cat "$work/port")" == "$port" ]] || fail "restart on port $port"
if "${cli[@]}" get survives-restart 2>/dev/null; then fail "data survived a restart"; fi
"${cli[@]}" set after-restart yes >/dev/null || fail "set after restart"
[[ "$("${cli[@]}" get after-restart)" == yes ]] || fail "get after restart"
stop_server
echo "e2e: ok"
