#!/usr/bin/env bash
# End-to-end test of the buddykv binaries: a real buddykv-server on a free loopback port, the
# buddykv-bench client through every YCSB workload and key distribution with --verify,
# buddykv-cli for set/get/del/stats, clean shutdown on SIGTERM, and a restart on the same port.
# usage: e2e_test.sh BIN_DIR [DURATION_S]
set -euo pipefail
bin="$1"
dur=$(( ${2:-1} * ${BUDDY_SOAK:-1} ))  # seconds per run; BUDDY_SOAK (label soak) stretches it
e2e_name=e2e
# shellcheck source=e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

start_server 0 --threads 2 --partitions-per-thread 2
cli=("$bin/buddykv-cli" --server "127.0.0.1:$port")

for w in a b c; do
  for d in uniform zipf; do
    out="$("$bin/buddykv-bench" --target "buddykv://127.0.0.1:$port" --workload "$w" --dist "$d" \
      --keys 20000 --duration "$dur" --window 256 --verify --json --quiet)" \
      || fail "bench $w/$d failed: $out"
    echo "$w/$d: $out"
    json_ok "bench $w/$d output" <<<"$out"
    grep -q '"verified":true' <<<"$out" || fail "bench $w/$d not verified"
    grep -q '"errors":0' <<<"$out" || fail "bench $w/$d errors"
    grep -q '"misses":0' <<<"$out" || fail "bench $w/$d: preloaded keys missed"
  done
done

[[ "$("${cli[@]}" set e2e-key hello)" == ok ]] || fail "cli set"
[[ "$("${cli[@]}" get e2e-key)" == hello ]] || fail "cli get"
"${cli[@]}" del e2e-key >/dev/null || fail "cli del"
if "${cli[@]}" get e2e-key 2>/dev/null; then fail "deleted key still there"; fi
"${cli[@]}" stats >"$work/cli_stats.json" || fail "cli stats"
grep -q '"design":"cpu-only"' "$work/cli_stats.json" || fail "cli stats: $(cat "$work/cli_stats.json")"
json_ok "cli stats" <"$work/cli_stats.json"
if "${cli[@]}" frobnicate 2>/dev/null; then fail "bad subcommand accepted"; fi
# Bad arguments: status 2 and one line saying what is wrong (and, where it can, what helps).
bad_args() {
  local want="$1" rc=0; shift
  "$bin/buddykv-server" "$@" 2>"$work/bad.err" || rc=$?
  [[ "$rc" == 2 && "$(wc -l <"$work/bad.err")" == 1 ]] \
    || fail "bad arguments $*: rc $rc, $(cat "$work/bad.err")"
  grep -qF -- "$want" "$work/bad.err" || fail "bad arguments $*: $(cat "$work/bad.err")"
}
bad_args "threads" --threads 0
bad_args "'dpu' is not one of cpu-only, engine-only, lat, sav, dual, shrd" --design dpu
bad_args "128 KiB each, below the 256 KiB minimum: give the store more memory or use fewer partitions" \
  --threads 2 --partitions-per-thread 1024

"${cli[@]}" set survives-restart no >/dev/null
stop_server
# Restart on the same port: a fresh, empty store (buddykv keeps data in memory only).
start_server "$port" --threads 2 --partitions-per-thread 2
[[ "$(cat "$work/port")" == "$port" ]] || fail "restart on port $port"
if "${cli[@]}" get survives-restart 2>/dev/null; then fail "data survived a restart"; fi
"${cli[@]}" set after-restart yes >/dev/null || fail "set after restart"
[[ "$("${cli[@]}" get after-restart)" == yes ]] || fail "get after restart"
stop_server

# 1024 partitions: STATS lists every one, in one control datagram larger than the serving ports'
# 1472-byte limit (docs/protocol.md, "STATS").
e2e_memory=256M start_server 0 --threads 2 --partitions-per-thread 512
"$bin/buddykv-cli" --server "127.0.0.1:$port" stats >"$work/stats1024.json" || fail "stats, 1024 partitions"
python3 - "$work/stats1024.json" <<'PY' || fail "STATS of 1024 partitions: $(cat "$work/stats1024.json")"
import json, sys
text = open(sys.argv[1], "rb").read().rstrip(b"\n")
s = json.loads(text)
assert len(s["partition_items"]) == 1024 and s["partitions"] == 1024, "partition list"
assert len(s["workers"]) == 2 and s["workers_omitted"] == 0, "workers"
assert 1472 < len(text) <= 65507 - 24, len(text)
print("1024 partitions: STATS of %d bytes" % len(text))
PY
stop_server
echo "e2e: ok"
