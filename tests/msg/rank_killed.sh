#!/bin/sh
# rank_killed.sh BUDDY_RUN APP: kill -9 of an app rank in an offload run. The job must end
# within seconds with a non-zero status, and leave nothing behind: no process of the job (app
# ranks, buddy-engines, mpirun), no buddy segment of the run and no Open MPI shared-memory file
# of the job in /dev/shm (buddy-run gives mpirun a directory of the job for those, and removes it).
run="$1"; app="$2"
out="$(mktemp)"
prefix="buddy-msg-rankkill-$$"
BUDDY_SEGMENT="$prefix" "$run" -n 2 --mode offload -- "$app" --updates 2000000000 --json >"$out" 2>&1 &
pid=$!
mpirun_pid=""; rank=""; engine=""
i=0
while { [ -z "$rank" ] || [ -z "$engine" ]; } && [ $i -lt 200 ]; do
  sleep 0.1
  mpirun_pid="$(pgrep -P "$pid" -x mpirun)"
  if [ -n "$mpirun_pid" ]; then
    rank="$(pgrep -P "$mpirun_pid" -x "$(basename "$app" | cut -c1-15)" | head -1)"
    engine="$(pgrep -P "$mpirun_pid" -x buddy-engine)"
  fi
  i=$((i + 1))
done
if [ -z "$rank" ] || [ -z "$engine" ]; then
  echo "rank_killed: the job did not start (rank '$rank', engine '$engine')"
  kill "$pid"; cat "$out"; exit 1
fi
job="$mpirun_pid $(pgrep -P "$mpirun_pid" | tr '\n' ' ')"
[ -d "/dev/shm/$prefix.ompi" ] || { echo "rank_killed: no /dev/shm/$prefix.ompi while running"; kill "$pid"; exit 1; }
sleep 1
start=$(date +%s)
kill -9 "$rank"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$pid" 2>/dev/null; then
  echo "rank_killed: the job still runs 30 s after an app rank died"
  kill "$pid"; sleep 2; kill -9 "$pid" 2>/dev/null
  cat "$out"; exit 1
fi
wait "$pid"; rc=$?
took=$(( $(date +%s) - start ))
cat "$out"
echo "rank_killed: exit status $rc after ${took} s (rank $rank killed; job: $job)"
# mpirun passes on the killed rank's status (137 for SIGKILL); buddy-run exits with it.
[ "$rc" -ne 0 ] || { echo "rank_killed: exit status 0"; exit 1; }
[ "$took" -le 15 ] || { echo "rank_killed: took ${took} s"; exit 1; }
for p in $job; do
  if kill -0 "$p" 2>/dev/null && [ "$(ps -o stat= -p "$p" | cut -c1)" != Z ]; then
    echo "rank_killed: process $p of the job ($(ps -o comm= -p "$p")) still runs"; exit 1
  fi
done
if ls /dev/shm 2>/dev/null | grep -q "$prefix"; then
  echo "rank_killed: left in /dev/shm: $(ls /dev/shm | grep "$prefix")"; exit 1
fi
rm -f "$out"
exit 0
