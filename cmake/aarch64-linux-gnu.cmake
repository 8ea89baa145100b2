# Cross toolchain for the engine side on the DPU's ISA (BlueField: ARMv8-A, Linux, aarch64),
# with Debian's g++-aarch64-linux-gnu and multiarch arm64 libraries (libxxhash-dev:arm64,
# libgtest-dev:arm64, ...) under /usr/lib/aarch64-linux-gnu. `./buddy build --arch aarch64`
# configures build/aarch64 with it (and BUDDY_ENGINE_SIDE_ONLY=ON); docs/dpu.md.
#
# Tests of this tree run under qemu-user (CMAKE_CROSSCOMPILING_EMULATOR) as `qemu-aarch64 -L /`:
# the arm64 loader, libc, libstdc++ and libxxhash all from the multiarch root (libc6:arm64,
# libstdc++6:arm64, /usr/lib/aarch64-linux-gnu). Not `-L /usr/aarch64-linux-gnu`: that loader
# (libc6-arm64-cross) reads the host's /etc/ld.so.cache, which lists the multiarch libc.so.6 of
# another glibc build, and the mix hangs in the first pthread_create (docs/dpu.md).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Debian multiarch: the arm64 libraries live beside the host's, in /usr/lib/aarch64-linux-gnu,
# and the cross compiler searches /usr/include itself (header-only CLI11 and Boost are shared).
# Programs (cmake's own helpers) come from the build machine.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# pkg-config must read the arm64 .pc files, never the host's.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# BUDDY_AARCH64_SYSROOT (./buddy build --arch aarch64 sets it): the project-local arm64 sysroot
# of cmake/aarch64-sysroot.sh, Debian's arm64 Open MPI unpacked, for buddy-engine. The MPI C API
# is taken from it (cmake/BuddyCrossMpi.cmake), never the host's mpicxx; -rpath-link lets the
# linker resolve libmpi.so's own NEEDED libraries (open-pal, hwloc, libevent, ...) there.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES BUDDY_AARCH64_SYSROOT)
if(BUDDY_AARCH64_SYSROOT)
  foreach(d usr/lib/aarch64-linux-gnu lib/aarch64-linux-gnu)
    string(APPEND CMAKE_EXE_LINKER_FLAGS_INIT " -Wl,-rpath-link,${BUDDY_AARCH64_SYSROOT}/${d}")
  endforeach()
endif()

find_program(BUDDY_QEMU_AARCH64 qemu-aarch64)
if(BUDDY_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${BUDDY_QEMU_AARCH64} -L /)
endif()
