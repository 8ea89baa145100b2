#!/usr/bin/env bash
# One engine per server segment: a second `buddykv-engine --attach NAME` on a running server's
# segment, with the engine as a process and as threads of the server, is refused with one line on
# stderr naming the engine's pid and exit status 4, without a core; the server keeps serving
# (every key reads right), never declares its engine lost, and stops with status 0; afterwards
# neither an engine process nor the segment is left.
# usage: e2e_exclusive_attach.sh BIN_DIR
set -euo pipefail
bin="$1"
e2e_name="exclusive attach e2e"
# shellcheck source=e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

# engines_on SEGMENT: the pids of the buddykv-engine processes attached to SEGMENT.
engines_on() {
  pgrep -x buddykv-engine -a | awk -v s="$1" '$0 ~ "--attach " s "$" {print $1}' || true
}

for mode in process in-process; do
  seg="buddykv-excl-$$-$mode"
  args=(--design sav --segment "$seg")
  [[ "$mode" == in-process ]] && args+=(--engine-in-process)
  start_server 0 "${args[@]}"
  holder="$server_pid"
  if [[ "$mode" == process ]]; then
    [[ -n "$engine_pid" ]] || fail "$mode: no engine process announced"
    holder="$engine_pid"
  fi
  [[ -e "/dev/shm/buddy.$seg" ]] || fail "$mode: no segment /dev/shm/buddy.$seg"
  cli=("$bin/buddykv-cli" --server "127.0.0.1:$port" --timeout-ms 50)
  for i in $(seq 0 19); do
    [[ "$("${cli[@]}" set "x-$i" "v-$i")" == ok ]] || fail "$mode: set x-$i"
  done

  # The second engine runs in the work directory (a core file would land there).
  rc=0
  (cd "$work" && { ulimit -c unlimited 2>/dev/null || true; } &&
    exec "$bin/buddykv-engine" --attach "$seg") 2>"$work/second.err" || rc=$?
  [[ "$rc" == 4 ]] || fail "$mode: second engine exit status $rc (expected 4): $(cat "$work/second.err")"
  [[ "$(wc -l <"$work/second.err")" == 1 ]] || fail "$mode: not one line: $(cat "$work/second.err")"
  grep -q "^buddykv-engine: segment '$seg' is already attached by pid $holder," "$work/second.err" \
    || fail "$mode: the refusal does not name pid $holder: $(cat "$work/second.err")"
  echo "$mode: $(cat "$work/second.err")"
  if compgen -G "$work/core*" >/dev/null; then fail "$mode: the second engine left a core file"; fi

  # The server and its engine go on as if nothing happened.
  sleep 0.2
  for i in $(seq 0 19); do
    [[ "$("${cli[@]}" get "x-$i")" == "v-$i" ]] || fail "$mode: x-$i reads wrong after the refusal"
  done
  "${cli[@]}" stats | grep -q '"state":"ok"' || fail "$mode: stats do not show the engine ok"
  if grep -q "no longer answer" "$work/server.err"; then fail "$mode: the server lost its engine"; fi
  kill -0 "$holder" || fail "$mode: the engine holding the segment (pid $holder) is gone"
  running="$(engines_on "$seg")"
  if [[ "$mode" == process ]]; then
    [[ "$running" == "$engine_pid" ]] || fail "$mode: engines on $seg: '$running' (expected $engine_pid)"
  else
    [[ -z "$running" ]] || fail "$mode: an engine process runs on $seg: $running"
  fi

  stop_server 0
  grep -q '"state":"ok"' "$work/stats.json" || fail "$mode: final stats: engine not ok"
  grep -q "\"pid\":$holder," "$work/stats.json" || fail "$mode: final stats do not name pid $holder"
  for _ in $(seq 1 100); do
    [[ -z "$(engines_on "$seg")" ]] && break
    sleep 0.05
  done
  [[ -z "$(engines_on "$seg")" ]] || fail "$mode: an engine outlived the server"
  [[ ! -e "/dev/shm/buddy.$seg" ]] || fail "$mode: segment /dev/shm/buddy.$seg left behind"
done
echo "exclusive attach e2e: ok"
