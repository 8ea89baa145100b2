#!/bin/sh
# process_killed.sh engine|rank|runner|term BUDDY_RUN APP: kill -9 of the buddy-engine, of an app
# rank or of buddy-run itself (runner), or SIGTERM to buddy-run (term: it must exit 143, as a
# process killed by SIGTERM does), of a running 2-rank offload job. The job must end within seconds with a non-zero status and leave
# nothing behind: no process of the job (app ranks, buddy-engines, mpirun), no buddy segment of
# the run and no Open MPI shared-memory file of the job in /dev/shm (buddy-run gives mpirun a
# directory of the job for those, and removes it). A killed engine is named by an app rank.
who="$1"; run="$2"; app="$3"
case "$who" in engine | rank | runner | term) ;; *) echo "process_killed: engine, rank, runner or term, not '$who'"; exit 2 ;; esac
me="${who}_killed"
out="$(mktemp)"
prefix="buddy-msg-${who}kill-$$"
BUDDY_SEGMENT="$prefix" "$run" -n 2 --mode offload -- "$app" --updates 2000000000 --json >"$out" 2>&1 &
pid=$!
mpirun_pid=""; rank=""; engine=""
i=0
while { [ -z "$rank" ] || [ -z "$engine" ]; } && [ $i -lt 200 ]; do
  sleep 0.1
  # mpirun is a child of buddy-run's supervisor (itself a child of buddy-run).
  mpirun_pid="$(pgrep -f "mpirun .*/dev/shm/$prefix.ompi" | head -1)"
  if [ -n "$mpirun_pid" ]; then
    rank="$(pgrep -P "$mpirun_pid" -x "$(basename "$app" | cut -c1-15)" | head -1)"
    engine="$(pgrep -P "$mpirun_pid" -x buddy-engine)"
  fi
  i=$((i + 1))
done
if [ -z "$rank" ] || [ -z "$engine" ]; then
  echo "$me: the job did not start (rank '$rank', engine '$engine')"
  kill "$pid"; cat "$out"; exit 1
fi
job="$(pgrep -P "$pid" | tr '\n' ' ')$mpirun_pid $(pgrep -P "$mpirun_pid" | tr '\n' ' ')"
[ -d "/dev/shm/$prefix.ompi" ] || { echo "$me: no /dev/shm/$prefix.ompi while running"; kill "$pid"; exit 1; }
case "$who" in engine) victim="$engine" ;; rank) victim="$rank" ;; runner | term) victim="$pid" ;; esac
sig=-9; [ "$who" = term ] && sig=-TERM
sleep 1
start=$(date +%s)
kill "$sig" "$victim"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$pid" 2>/dev/null; then
  echo "$me: the job still runs 30 s after the $who died"
  kill "$pid"; sleep 2; kill -9 "$pid" 2>/dev/null
  cat "$out"; exit 1
fi
wait "$pid"; rc=$?
# alive PIDS...: whether one of them still runs (a zombie does not count).
alive() {
  for p in "$@"; do
    if kill -0 "$p" 2>/dev/null && [ "$(ps -o stat= -p "$p" | cut -c1)" != Z ]; then return 0; fi
  done
  return 1
}
if [ "$who" = runner ]; then
  # buddy-run died at once; its supervisor (which got SIGTERM from that death) ends the job and
  # removes what it left: wait for it.
  i=0
  while { alive $job || ls /dev/shm 2>/dev/null | grep -q "$prefix"; } && [ $i -lt 150 ]; do
    sleep 0.1; i=$((i + 1))
  done
fi
took=$(( $(date +%s) - start ))
cat "$out"
echo "$me: exit status $rc after ${took} s ($who $victim killed; job: $job)"
# mpirun passes on a killed rank's status (137 for SIGKILL); buddy-run exits with it (and a
# killed buddy-run is 137 itself).
[ "$rc" -ne 0 ] || { echo "$me: exit status 0"; exit 1; }
if [ "$who" = term ]; then
  [ "$rc" -eq 143 ] || { echo "$me: exit status $rc after SIGTERM, not 143"; exit 1; }
fi
if [ "$who" = engine ]; then
  grep -Eq "buddy-engine serving it \(pid $engine\) stopped" "$out" ||
    { echo "$me: no app rank reported the dead engine"; exit 1; }
fi
[ "$took" -le 15 ] || { echo "$me: took ${took} s"; exit 1; }
for p in $job; do
  if kill -0 "$p" 2>/dev/null && [ "$(ps -o stat= -p "$p" | cut -c1)" != Z ]; then
    echo "$me: process $p of the job ($(ps -o comm= -p "$p")) still runs"
    kill -9 $job 2>/dev/null; rm -rf /dev/shm/*"$prefix"*; exit 1
  fi
done
if ls /dev/shm 2>/dev/null | grep -q "$prefix"; then
  echo "$me: left in /dev/shm: $(ls /dev/shm | grep "$prefix")"; rm -rf /dev/shm/*"$prefix"*; exit 1
fi
rm -f "$out"
exit 0
