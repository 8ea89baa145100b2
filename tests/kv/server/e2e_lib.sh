# Shared by the buddykv end-to-end scripts (source it after setting bin and e2e_name): a work
# directory removed on exit with any server still running killed, fail(), a server started on a
# loopback port and stopped with SIGTERM (its final --json statistics checked), and json_ok.
work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "$e2e_name: FAIL: $*" >&2
  if [[ -s "$work/server.err" ]]; then sed 's/^/  server: /' "$work/server.err" >&2; fi
  exit 1
}

# json_ok WHAT < TEXT: every line of TEXT is one JSON object python3's json module reads (and
# there is one); else fail, naming WHAT.
json_ok() {
  python3 -c '
import json, sys
lines = sys.stdin.read().splitlines()
sys.exit(0 if lines and all(isinstance(json.loads(l), dict) for l in lines) else 1)' \
    || fail "$1 is not JSON"
}

# start_server PORT(0: any) [ARGS...] -> server_pid, port, engine_pid (empty without an engine
# process). Final statistics go to $work/stats.json, stderr to $work/server.err. The store has
# $e2e_memory (default 64M).
start_server() {
  local p="$1"; shift
  rm -f "$work/port"
  "$bin/buddykv-server" --port "$p" --memory "${e2e_memory:-64M}" --port-file "$work/port" --json "$@" \
    >"$work/stats.json" 2>"$work/server.err" &
  server_pid=$!
  for _ in $(seq 1 400); do
    [[ -s "$work/port" ]] && break
    kill -0 "$server_pid" 2>/dev/null || fail "server exited"
    sleep 0.05
  done
  [[ -s "$work/port" ]] || fail "server did not come up"
  port="$(cat "$work/port")"
  engine_pid="$(sed -nE 's/.*\(engine process ([0-9]+)\).*/\1/p' "$work/server.err" | head -1)"
}

# stop_server [EXPECTED_STATUS (default 0)]: SIGTERM, then the exit status and final stats.
stop_server() {
  kill -TERM "$server_pid"
  local rc=0
  wait "$server_pid" || rc=$?
  server_pid=""
  [[ "$rc" == "${1:-0}" ]] || fail "server exited with $rc on SIGTERM (expected ${1:-0})"
  grep -q '"requests":' "$work/stats.json" || fail "no final stats: $(cat "$work/stats.json")"
  json_ok "the final statistics" <"$work/stats.json"
}
