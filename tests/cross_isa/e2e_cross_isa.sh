#!/usr/bin/env bash
# An x86 buddykv-server with an aarch64 buddykv-engine (run under qemu-user through
# --engine-launcher) attached to its segment, for every offloaded design: YCSB-A (50% SET), Zipf
# keys, mixed value sizes, every GET verified, 0 errors; the engine really is the aarch64 binary
# under qemu, and its final state is ok. Then the reverse for one design: an aarch64 server
# (under qemu) with the x86 engine.
# usage: e2e_cross_isa.sh X86_BIN_DIR AARCH64_BIN_DIR "QEMU COMMAND" [DURATION_S]
set -euo pipefail
xbin="$1"
abin="$2"
qemu="$3"
dur=$(( ${4:-1} * ${BUDDY_SOAK:-1} ))
bin="$xbin"
e2e_name="cross-ISA e2e"
# shellcheck source=../kv/server/e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../kv/server/e2e_lib.sh"
file "$abin/buddykv-engine" | grep -q "ARM aarch64" || fail "$abin/buddykv-engine is not aarch64"

# run_design DESIGN WHO: the bench against the server that start_server started, then its stop.
run_design() {
  local design="$1" who="$2" out
  [[ -n "$engine_pid" ]] || fail "$who $design: no engine process announced"
  out="$("$xbin/buddykv-bench" --target "buddykv://127.0.0.1:$port" --workload a --dist zipf \
    --keys 5000 --value-sizes 8,64,700 --duration "$dur" --window 64 --verify --json --quiet)" \
    || fail "$who $design: bench failed: $out"
  echo "$who $design: $out"
  json_ok "$who $design: bench output" <<<"$out"
  grep -q '"verified":true' <<<"$out" || fail "$who $design: not verified"
  grep -q '"errors":0,' <<<"$out" || fail "$who $design: errors"
  grep -q '"misses":0,' <<<"$out" || fail "$who $design: preloaded keys missed"
  stop_server
  grep -q "\"design\":\"$design\"" "$work/stats.json" || fail "$who $design: final stats"
  grep -q '"state":"ok"' "$work/stats.json" || fail "$who $design: engine state"
}

launch=(--engine-binary "$abin/buddykv-engine" --engine-launcher "$qemu")
for design in engine-only lat sav dual shrd; do
  start_server 0 --design "$design" --threads 1 --engine-threads 1 "${launch[@]}"
  exe="$(readlink "/proc/$engine_pid/exe" || true)"
  [[ "$exe" == *qemu-aarch64* ]] || fail "$design: engine $engine_pid runs '$exe', not qemu-aarch64"
  tr '\0' ' ' <"/proc/$engine_pid/cmdline" | grep -q "$abin/buddykv-engine --attach" \
    || fail "$design: engine command line: $(tr '\0' ' ' <"/proc/$engine_pid/cmdline")"
  run_design "$design" "x86 server, aarch64 engine:"
done

# The reverse: the aarch64 server (PE side) under qemu, the x86 engine beside it.
bin="$work/abin"
mkdir -p "$bin"
printf '#!/bin/sh\nexec %s %s "$@"\n' "$qemu" "$abin/buddykv-server" >"$bin/buddykv-server"
chmod +x "$bin/buddykv-server"
start_server 0 --design sav --threads 1 --engine-threads 1 --engine-binary "$xbin/buddykv-engine"
run_design sav "aarch64 server, x86 engine:"
echo "cross-ISA e2e: ok"
