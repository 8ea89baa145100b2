#!/bin/sh
# engine_killed.sh BUDDY_RUN APP: kills the buddy-engine of an offload run mid-way and checks
# that the job ends within seconds with a non-zero status, that an app rank said why on one line,
# and that no segment of the run is left in /dev/shm.
run="$1"; app="$2"
out="$(mktemp)"
prefix="buddy-msg-killtest-$$"
BUDDY_SEGMENT="$prefix" "$run" -n 2 --mode offload -- "$app" --updates 2000000000 --json >"$out" 2>&1 &
pid=$!
engine=""
i=0
while [ -z "$engine" ] && [ $i -lt 200 ]; do
  sleep 0.1
  mpirun_pid="$(pgrep -P "$pid" -x mpirun)"
  [ -n "$mpirun_pid" ] && engine="$(pgrep -P "$mpirun_pid" -x buddy-engine)"
  i=$((i + 1))
done
[ -n "$engine" ] || { echo "engine_killed: no buddy-engine appeared"; kill "$pid"; cat "$out"; exit 1; }
sleep 1
start=$(date +%s)
kill -9 "$engine"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$pid" 2>/dev/null; then
  echo "engine_killed: the job still runs 30 s after the engine died"
  kill "$pid"; sleep 2; kill -9 "$pid" 2>/dev/null
  cat "$out"; exit 1
fi
wait "$pid"; rc=$?
took=$(( $(date +%s) - start ))
cat "$out"
echo "engine_killed: exit status $rc after ${took} s"
[ "$rc" -ne 0 ] || { echo "engine_killed: exit status 0"; exit 1; }
grep -Eq "buddy-engine serving it \(pid $engine\) stopped" "$out" ||
  { echo "engine_killed: no app rank reported the dead engine"; exit 1; }
[ "$took" -le 15 ] || { echo "engine_killed: took ${took} s"; exit 1; }
if ls /dev/shm 2>/dev/null | grep -q "$prefix"; then
  echo "engine_killed: segments left in /dev/shm"; exit 1
fi
rm -f "$out"
exit 0
