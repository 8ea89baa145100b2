#!/bin/sh
# stale_segment.sh MAKER CHECK_RUN BUDDY_RUN APP ARGS...: leaves a segment of a "crashed run"
# under the name rank 0 of the next run uses, then checks that the run says it replaces it and
# still verifies (and leaves nothing behind).
maker="$1"; check="$2"; run="$3"; shift 3
prefix="buddy-msg-stale-$$"
"$maker" "$prefix.r0" || exit 1
[ -e "/dev/shm/buddy.$prefix.r0" ] || { echo "stale_segment: no segment was left"; exit 1; }
BUDDY_SEGMENT="$prefix" "$check" 0 "replacing stale segment '$prefix.r0' left by pid [0-9]+" \
  also '"verified":true' -- "$run" -n 2 --mode offload -- "$@" || exit 1
if ls /dev/shm | grep -q "$prefix"; then echo "stale_segment: segments left"; exit 1; fi
