#!/usr/bin/env bash
# buddykv-bench --target redis:// against a real redis-server (Debian package), started here on
# a free loopback port with no persistence in a temporary directory, and stopped on exit:
#   1. YCSB-A (50% SET), Zipf keys, mixed value sizes up to 70000 bytes (answers span many
#      recv()s), every GET verified: exit 0, "verified":true, no error, no timeout, GETs hit.
#   2. maxmemory 1 MB with noeviction: the preload's SETs are answered "-OOM ...", which the
#      target counts as errors (the run exits 1, naming the OOM answer), never as stores.
#   3. Nothing listening: exit 1 with one line "cannot connect to redis at ...".
# usage: bench_redis.sh BIN_DIR
set -euo pipefail
bin="$1"
redis="${REDIS_SERVER:-/usr/bin/redis-server}"
fail() {
  echo "bench_redis: FAIL: $*" >&2
  exit 1
}
[[ -x "$redis" ]] || fail "$redis not found (run ./buddy setup: Debian package redis-server)"
work="$(mktemp -d /tmp/bench_redis.XXXXXX)"
redis_pid=""
stop_redis() {
  if [[ -n "$redis_pid" ]]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  redis_pid=""
}
trap 'stop_redis; rm -rf "$work"' EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_redis MAXMEMORY POLICY: redis-server on a free port (retried if another process takes
# it first); sets $port.
start_redis() {
  local tries
  port=""
  for tries in 1 2 3 4 5; do
    local p
    p="$(free_port)"
    "$redis" --port "$p" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
      --io-threads 1 --maxmemory "$1" --maxmemory-policy "$2" --daemonize no \
      >"$work/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 200); do
      kill -0 "$redis_pid" 2>/dev/null || break
      if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        port="$p"
        return 0
      fi
      sleep 0.05
    done
    stop_redis
  done
  cat "$work/redis.log" >&2
  fail "redis-server did not start"
}

start_redis 256mb allkeys-lru
out="$("$bin/buddykv-bench" --target "redis://127.0.0.1:$port" --workload a --dist zipf \
  --keys 5000 --value-sizes 8,100,1500,70000 --duration 1 --window 256 --verify --json \
  --quiet 2>&1)" || fail "verified run: $out"
echo "verified run: $out"
for want in '"verified":true' '"errors":0' '"timeouts":0' '"misses":0' '"hits":[1-9]' \
  '"sets":[1-9]'; do
  grep -Eq "$want" <<<"$out" || fail "verified run: not $want"
done
stop_redis

start_redis 1mb noeviction
rc=0
out="$("$bin/buddykv-bench" --target "redis://127.0.0.1:$port" --keys 20000 --value-size 1000 \
  --duration 0.2 --verify --json --quiet 2>&1)" || rc=$?
echo "full redis (exit $rc): $out"
((rc == 1)) || fail "full redis: exit $rc, wanted 1"
grep -q '"verified":false' <<<"$out" || fail "full redis: not \"verified\":false"
grep -Eq '"errors":[1-9]' <<<"$out" || fail "full redis: no error counted"
grep -q "first error: preload SET of key [0-9]*: OOM" <<<"$out" ||
  fail "full redis: the OOM answer is not named"
dead="$port"
stop_redis

rc=0
out="$("$bin/buddykv-bench" --target "redis://127.0.0.1:$dead" --keys 100 --duration 0.1 \
  2>&1)" || rc=$?
echo "no server (exit $rc): $out"
((rc == 1)) || fail "no server: exit $rc, wanted 1"
[[ "$out" =~ ^buddykv-bench:\ cannot\ connect\ to\ redis\ at\ 127.0.0.1:$dead:\ [^$'\n']*$ ]] ||
  fail "no server: not one line naming the address"
echo "bench_redis: 3 passed, 0 failed"
