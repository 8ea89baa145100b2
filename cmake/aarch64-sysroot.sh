#!/usr/bin/env bash
# cmake/aarch64-sysroot.sh DIR: a project-local arm64 sysroot in DIR with Debian's Open MPI for
# aarch64, for buddy-engine in the cross tree (docs/dpu.md). libopenmpi-dev:arm64 cannot be
# installed beside the host's amd64 Open MPI (libpmix2 is not Multi-Arch: same), so its .debs are
# fetched with `apt-get download` and unpacked with `dpkg-deb -x`: nothing is installed, nothing
# comes from anywhere but apt. DIR/.stamp lists package=version; DIR is rebuilt only when apt's
# candidate version of a package differs from it (one `apt-cache policy` call).
set -euo pipefail

dir="${1:?usage: aarch64-sysroot.sh DIR}"

# libmpi.so.40's NEEDED closure (open-pal, open-rte, hwloc -> udev, libevent, zlib), the MPI
# headers, PMIx (every launched rank's pmix plugin), and the arm64 libc and C++ runtime
# (qemu-aarch64 -L DIR takes the loader and every library from here). Not here: what the
# fabric plugins NEED (libfabric, ucx, verbs); a singleton MPI_Init runs without them, an
# x86 mpirun launching aarch64 engines under qemu has not been made to work (docs/dpu.md).
packages=(
  libopenmpi-dev libopenmpi3 libpmix2 libhwloc15 libudev1 libevent-core-2.1-7
  libevent-pthreads-2.1-7 zlib1g libc6 libgcc-s1 libstdc++6
)

say() { printf '[aarch64-sysroot] %s\n' "$*" >&2; }
die() { printf 'aarch64-sysroot: %s\n' "$*" >&2; exit 1; }

# candidates: "pkg=version" per package, apt's candidate for arm64, in the order of packages.
candidates() {
  local args=() p
  for p in "${packages[@]}"; do args+=("$p:arm64"); done
  apt-cache policy "${args[@]}" 2>/dev/null | awk '
    /^[^ ].*:$/ { pkg = $1; sub(/:arm64:$/, "", pkg); sub(/:$/, "", pkg) }
    /^  Candidate:/ { print pkg "=" $2 }'
}

want="$(candidates)"
if [[ "$(grep -c '=' <<<"$want")" != "${#packages[@]}" || "$want" == *"=(none)"* ]]; then
  # No arm64 package lists yet (a fresh machine whose lists predate `dpkg --add-architecture`).
  apt-get update -qq >/dev/null || die "apt-get update failed"
  want="$(candidates)"
fi
[[ "$(grep -c '=' <<<"$want")" == "${#packages[@]}" && "$want" != *"=(none)"* ]] \
  || die "apt has no arm64 candidate for some of: ${packages[*]} (dpkg --add-architecture arm64?)"

if [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$want" ]]; then
  exit 0
fi

say "building $dir from ${#packages[@]} arm64 packages"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"  # apt's _apt user writes the downloads
mapfile -t pinned < <(sed 's/=/:arm64=/' <<<"$want")
(cd "$tmp" && apt-get download -qq "${pinned[@]}" >/dev/null 2>&1) \
  || die "apt-get download failed for: ${pinned[*]}"
rm -rf "$dir"
mkdir -p "$dir"
for deb in "$tmp"/*.deb; do
  dpkg-deb -x "$deb" "$dir" || die "dpkg-deb -x failed for $deb"
done
[[ -f "$dir/usr/lib/aarch64-linux-gnu/openmpi/include/mpi.h" ]] || die "no mpi.h in $dir"
printf '%s\n' "$want" >"$dir/.stamp"
