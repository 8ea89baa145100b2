#!/usr/bin/env bash
# buddykv as a cluster through a real etcd (docs/kv-cluster.md):
#  1. bench/kv_cluster.sh --quick: 3 servers (cpu-only, sav, shrd) register, buddykv-bench finds
#     them with --registry and runs YCSB-A Zipf --verify while a 4th joins, one leaves cleanly and
#     one is killed with kill -9 (gone after its lease), and the joiner's (sav) engine process is
#     killed with kill -9: the server restarts it (STATS: 1 restart, epoch 2; its registry record
#     "engine":"up","engine_epoch":2 again), 0 errors, 0 timeouts, and every key acknowledged by
#     a server still up reads back (lost_acked_writes 0).
#  2. Bad registry URLs and an etcd that does not answer: one line, exit 2, for buddykv-server,
#     buddykv-cli and buddykv-bench; an id already held is refused the same way.
#  3. etcd lost (SIGSTOP) while a server and a bench run: the server keeps serving, STATS says
#     "unreachable since ...", the bench keeps its last map (verified, no timeout); when etcd
#     is back the server is registered again; SIGTERM deregisters it.
#  4. The engine's state in a sav server's record: "up", then "restarting" while its restarts
#     fail, then "lost".
# usage: e2e_cluster.sh BIN_DIR
set -euo pipefail
bin="$1"
e2e_name="cluster e2e"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=e2e_lib.sh
source "$here/e2e_lib.sh"
# shellcheck source=etcd_lib.sh
source "$here/etcd_lib.sh"
cluster_cleanup() {
  stop_etcd
  cleanup
}
trap cluster_cleanup EXIT

# 1. The cluster under churn.
out="$(BIN="$bin" bash "$here/../../../bench/kv_cluster.sh" --quick --json)" \
  || fail "bench/kv_cluster.sh failed: $out"
echo "churn: $out"
json_ok "kv_cluster.sh output" <<<"$out"
for want in '"verified":true' '"errors":0' '"timeouts":0' '"lost_acked_writes":0' \
  '"servers_at_end":2' '"leaves":2' '"joins":4' '"registry_engine":"up"' \
  '"registry_engine_epoch":2'; do
  grep -q "$want" <<<"$out" || fail "kv_cluster.sh: no $want in $out"
done
python3 -c '
import json, sys
r = json.loads(sys.argv[1])
assert r["read_back"] > 1000, r            # the keys of the servers that stayed were checked
assert r["moved_reads"] > 0, r             # keys changed owners while the clients ran
assert 1.0 <= r["killed_vanished_s"] <= 10.0, r  # the lease (2 s) removed the killed server
assert r["engine_restarts"] >= 1 and r["engine_epoch"] >= 2, r  # the engine was restarted
assert r["lost_acked_writes"] == 0, r
assert 0 < r["recovery_s"] < 10.0, r       # kill to the probe answering (the bench gives up at 10 s)
' "$out" || fail "kv_cluster.sh figures: $out"

# one_line WHAT EXPECTED_RC WORDS -- CMD...: CMD exits EXPECTED_RC with one stderr line holding WORDS.
one_line() {
  local what="$1" rc_want="$2" words="$3"
  shift 4
  local rc=0
  "$@" >"$work/out" 2>"$work/err" || rc=$?
  [[ "$rc" == "$rc_want" ]] || fail "$what: exit $rc, not $rc_want: $(cat "$work/err")"
  [[ "$(wc -l <"$work/err")" == 1 ]] || fail "$what: not one line: $(cat "$work/err")"
  grep -q -- "$words" "$work/err" || fail "$what: no '$words' in: $(cat "$work/err")"
}

# 2. Bad URLs, a dead etcd, a taken id.
for url in http://127.0.0.1:2379/x etcd://127.0.0.1:2379 etcd://127.0.0.1:0/x \
  "etcd://127.0.0.1:2379/a b" etcd://127.0.0.1:2379/; do
  one_line "server --registry '$url'" 2 "etcd://HOST:PORT/PREFIX" -- \
    "$bin/buddykv-server" --port 0 --registry "$url"
  one_line "cli --registry '$url'" 2 "etcd://HOST:PORT/PREFIX" -- \
    "$bin/buddykv-cli" --registry "$url" get k
  one_line "bench --registry '$url'" 2 "etcd://HOST:PORT/PREFIX" -- \
    "$bin/buddykv-bench" --registry "$url" --duration 0.1
done
dead="etcd://127.0.0.1:$(free_ports 1)/buddykv"
one_line "server, dead etcd" 2 "Couldn't connect" -- "$bin/buddykv-server" --port 0 --registry "$dead"
one_line "cli, dead etcd" 2 "Couldn't connect" -- "$bin/buddykv-cli" --registry "$dead" get k
one_line "bench, dead etcd" 2 "Couldn't connect" -- "$bin/buddykv-bench" --registry "$dead" --duration 0.1
one_line "server --id without --registry" 2 "give --registry" -- "$bin/buddykv-server" --port 0 --id 1
one_line "cli --servers with a bad address" 2 "--servers" -- "$bin/buddykv-cli" --servers 127.0.0.1:7000,nohost:x get k

start_etcd
reg="etcd://127.0.0.1:$etcd_port/e2e"
start_server 0 --registry "$reg" --id 5 --registry-ttl 6
[[ "$(registered_ids e2e)" == 5 ]] || fail "registry lists '$(registered_ids e2e)', not 5"
one_line "a second server with id 5" 2 "already registered" -- \
  "$bin/buddykv-server" --port 0 --registry "$reg" --id 5
"$bin/buddykv-cli" --registry "$reg" set k v >/dev/null || fail "cli --registry set"
[[ "$("$bin/buddykv-cli" --registry "$reg" get k)" == v ]] || fail "cli --registry get"
"$bin/buddykv-cli" --registry "$reg" stats | grep -q '"server":5,"stats":{.*"registry":"ok"' \
  || fail "cli --registry stats: $("$bin/buddykv-cli" --registry "$reg" stats)"

# 3. etcd lost, then back: the server keeps serving, a client keeps its last map.
"$bin/buddykv-bench" --registry "$reg" --workload a --keys 2000 --duration 6 --window 64 \
  --verify --json --quiet >"$work/bench3.json" 2>"$work/bench3.err" &
bench3=$!
sleep 1
# Stopped for 3.5 s: the server's renewals (every 2 s, 1 s timeout) fail, its 6 s lease holds.
kill -STOP "$etcd_pid"
sleep 3.5
st="$("$bin/buddykv-cli" --server "127.0.0.1:$port" stats)"
grep -q '"registry":"unreachable since ' <<<"$st" || fail "STATS with etcd stopped: $st"
[[ "$("$bin/buddykv-cli" --server "127.0.0.1:$port" get k)" == v ]] || fail "no service without etcd"
kill -CONT "$etcd_pid"
wait "$bench3" || fail "bench through a lost etcd: $(cat "$work/bench3.json" "$work/bench3.err")"
for want in '"verified":true' '"errors":0' '"timeouts":0' '"servers":1'; do
  grep -q "$want" "$work/bench3.json" || fail "bench through a lost etcd: no $want: $(cat "$work/bench3.json")"
done
for _ in $(seq 1 60); do
  st="$("$bin/buddykv-cli" --server "127.0.0.1:$port" stats)"
  grep -q '"registry":"ok"' <<<"$st" && [[ "$(registered_ids e2e)" == 5 ]] && break
  sleep 0.1
done
grep -q '"registry":"ok"' <<<"$st" || fail "STATS after etcd came back: $st"
[[ "$(registered_ids e2e)" == 5 ]] || fail "not registered again after etcd came back"
stop_server 0
[[ -z "$(registered_ids e2e)" ]] || fail "still registered after SIGTERM: $(registered_ids e2e)"

# 4. The engine's state in the record: a sav server whose engine binary now fails is restarting
# for its two attempts (backoff 100 ms), then lost; the record says so at each step.
cp "$bin/buddykv-engine" "$work/engine"
start_server 0 --design sav --registry "$reg" --id 2 --engine-binary "$work/engine" \
  --engine-restarts 2
grep -q '"engine":"up","engine_epoch":1' <<<"$(registry_record e2e 2)" \
  || fail "record of a sav server: $(registry_record e2e 2)"
printf '#!/bin/sh\nsleep 0.3\nexit 1\n' >"$work/engine.new" && chmod +x "$work/engine.new"
mv -f "$work/engine.new" "$work/engine"
kill -KILL "$engine_pid"
seen=""
for _ in $(seq 1 100); do
  rec="$(registry_record e2e 2)"
  [[ "$rec" == *'"engine":"restarting"'* && "$seen" != *restarting* ]] && seen="$seen restarting"
  [[ "$rec" == *'"engine":"lost"'* ]] && { seen="$seen lost"; break; }
  sleep 0.05
done
[[ "$seen" == " restarting lost" ]] || fail "record while the engine failed to restart: saw '$seen', last: $rec"
echo "engine in the record:$seen ($rec)"
stop_server 3
echo "cluster e2e: ok"
