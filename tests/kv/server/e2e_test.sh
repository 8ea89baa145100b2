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
# Bad input: the documented exit status (2 a bad argument, 1 a failure to start), one line on
# stderr saying what is wrong (and, where it can, what helps), no core (not killed by a signal),
# and nothing left behind: no buddykv-engine of that server, no segment of it in /dev/shm.
server_bin="$(cd "$bin" && pwd)/buddykv-server"
bad_run() {
  local status="$1" want="$2" rc=0 pid; shift 2
  (cd "$work" && exec "$server_bin" "$@") 2>"$work/bad.err" &
  pid=$!
  wait "$pid" || rc=$?
  [[ "$rc" == "$status" && "$(wc -l <"$work/bad.err")" == 1 ]] \
    || fail "bad input $*: rc $rc (wanted $status), $(cat "$work/bad.err")"
  grep -qF -- "$want" "$work/bad.err" || fail "bad input $*: $(cat "$work/bad.err")"
  if compgen -G "$work/core*" >/dev/null; then fail "bad input $*: left a core file"; fi
  if pgrep -f "buddykv-engine --attach buddykv-$pid-" >/dev/null; then
    fail "bad input $*: left an engine process"
  fi
  if compgen -G "/dev/shm/buddy.buddykv-$pid-*" >/dev/null; then
    fail "bad input $*: left $(ls /dev/shm | grep "buddykv-$pid-")"
  fi
  return 0
}
bad_args() { bad_run 2 "$@"; }
# A cpu that is not usable here: the issue's 99 and 7 on this 2-core machine, else 4095.
absent_cpu() {
  python3 -c 'import os, sys; a = os.sched_getaffinity(0); print(next(c for c in (int(sys.argv[1]), 4095) if c not in a))' "$1"
}
bad_args "threads" --threads 0
bad_args "'dpu' is not one of cpu-only, engine-only, lat, sav, dual, shrd" --design dpu
bad_args "128 KiB each, below the 256 KiB minimum: give the store more memory or use fewer partitions" \
  --threads 2 --partitions-per-thread 1024
cpu="$(absent_cpu 99)"
bad_args "--cpus: cpu $cpu does not exist here (usable cpus: " --cpus "$cpu"
bad_args "--cpus: cpu $cpu does not exist here" --cpus "0,$cpu"
bad_args "--host-cpus: cpu $cpu does not exist here" --host-cpus "$cpu"
cpu="$(absent_cpu 7)"
bad_args "--engine-cpus: cpu $cpu does not exist here (usable cpus: " --design sav --engine-cpus "$cpu"
bad_args "--engine-cpus: '0-' is not a cpu list" --design sav --engine-cpus 0-
bad_args "--cpus: an empty cpu list (leave the flag out to run unpinned)" --cpus ''
bad_args "--engine-cpus: an empty cpu list" --design sav --engine-cpus ''
bad_args "--memory: '-5' is not a size (e.g. 4096, 64K, 256M, 2G)" --memory -5
bad_args "--memory: ' 5M' is not a size" --memory ' 5M'
bad_args "--segment: an empty name" --segment ''
bad_args "--port-file $work/no-such-dir/port: cannot write" --port 0 --port-file "$work/no-such-dir/port"
# buddykv-engine's --attach is checked as an argument: status 2 and one line.
for name in '' 'a/b'; do
  rc=0
  "$bin/buddykv-engine" --attach "$name" 2>"$work/bad.err" || rc=$?
  [[ "$rc" == 2 && "$(wc -l <"$work/bad.err")" == 1 ]] && grep -q "^buddykv-engine: --attach: segment name" "$work/bad.err" \
    || fail "buddykv-engine --attach '$name': rc $rc, $(cat "$work/bad.err")"
done
# A serving port already taken (held by a UDP socket here): by the server itself (cpu-only) or by
# its engine process (engine-only, sav), one line and status 1 either way.
python3 - "$work/held" <<'PY' &
import socket, sys, time
# A port p free for the control socket, with p + 1 (the first serving port) held by this socket.
while True:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    p = probe.getsockname()[1]
    held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        held.bind(("127.0.0.1", p + 1))
    except OSError:
        probe.close()
        held.close()
        continue
    probe.close()
    break
open(sys.argv[1] + ".tmp", "w").write("%d\n" % p)
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(60)
PY
holder=$!
for _ in $(seq 1 100); do [[ -s "$work/held" ]] && break; sleep 0.05; done
held="$(cat "$work/held")"
bad_run 1 "cannot bind UDP 127.0.0.1:$((held + 1)): Address already in use" --port "$held" --memory 64M
for d in engine-only sav; do
  bad_run 1 "buddykv-server: engine failed: cannot bind UDP 127.0.0.1:$((held + 1)): Address already in use" \
    --design "$d" --port "$held" --memory 64M
done
kill "$holder"; wait "$holder" 2>/dev/null || true

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
