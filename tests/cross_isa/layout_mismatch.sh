#!/usr/bin/env bash
# A segment the aarch64 engine cannot share: the x86 server creates it, then (in the launcher,
# before the engine starts) a field of its header is planted as another build would have written
# it; the aarch64 engine refuses to attach with one line naming the field, and the server does not
# come up. Fields: byte_order (a build of the other byte order) and version (another layout).
# usage: layout_mismatch.sh X86_BIN_DIR AARCH64_BIN_DIR "QEMU COMMAND"
set -euo pipefail
xbin="$1"
abin="$2"
qemu="$3"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "layout mismatch: FAIL: $*" >&2; sed 's/^/  server: /' "$work/err" >&2 || true; exit 1; }

# plant OFFSET HEXBYTES: a launcher that writes the bytes into the segment, then runs the engine.
plant() {
  cat >"$work/plant.sh" <<PLANT
#!/bin/sh
# argv: ENGINE --attach NAME
printf '$2' | dd of="/dev/shm/buddy.\$3" bs=1 seek=$1 conv=notrunc status=none
exec $qemu "\$@"
PLANT
  chmod +x "$work/plant.sh"
}

check() {  # check WHAT EXPECTED_FRAGMENT
  local rc=0
  timeout 60 "$xbin/buddykv-server" --port 0 --design sav --threads 1 --engine-threads 1 \
    --memory 16M --engine-binary "$abin/buddykv-engine" --engine-launcher "sh $work/plant.sh" \
    >"$work/out" 2>"$work/err" || rc=$?
  [[ "$rc" != 0 && "$rc" != 124 ]] || fail "$1: server exited with $rc (expected a start failure)"
  local line
  line="$(grep '^buddykv-engine: ' "$work/err" || true)"
  [[ -n "$line" ]] || fail "$1: no line from the engine"
  [[ "$(wc -l <<<"$line")" == 1 ]] || fail "$1: the engine's error is not one line: $line"
  grep -qF "$2" <<<"$line" || fail "$1: '$2' not in: $line"
  echo "$1: $line"
}

plant 80 '\001\002\003\004'  # byte_order 0x01020304 stored big-endian
check "byte order" "byte_order 0x04030201, expected 0x01020304 (created by a build of the other byte order, ISA x86-64)"
plant 8 '\143\000\000\000'  # version 99
check "version" "layout version 99, this build expects 3"
echo "layout mismatch: ok"
