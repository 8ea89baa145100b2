# MPI::MPI_CXX of a cross tree from the sysroot BUDDY_AARCH64_SYSROOT (cmake/aarch64-sysroot.sh:
# Debian's arm64 Open MPI unpacked, not installed). Buddy uses only MPI's C API, so the target is
# mpi.h and libmpi.so, with Open MPI's deprecated C++ bindings (libmpi_cxx) skipped; FindMPI is
# not asked (it would find the host's x86 mpicxx wrapper).
set(_mpi_root "${BUDDY_AARCH64_SYSROOT}/usr/lib/aarch64-linux-gnu/openmpi")
find_path(BUDDY_CROSS_MPI_INCLUDE mpi.h PATHS "${_mpi_root}/include" NO_DEFAULT_PATH
          NO_CMAKE_FIND_ROOT_PATH)
find_library(BUDDY_CROSS_MPI_LIBRARY mpi PATHS "${_mpi_root}/lib" NO_DEFAULT_PATH
             NO_CMAKE_FIND_ROOT_PATH)
if(BUDDY_CROSS_MPI_INCLUDE AND BUDDY_CROSS_MPI_LIBRARY)
  add_library(MPI::MPI_CXX INTERFACE IMPORTED)
  set_target_properties(MPI::MPI_CXX PROPERTIES INTERFACE_INCLUDE_DIRECTORIES
                        "${BUDDY_CROSS_MPI_INCLUDE}" INTERFACE_LINK_LIBRARIES
                        "${BUDDY_CROSS_MPI_LIBRARY}" INTERFACE_COMPILE_DEFINITIONS
                        OMPI_SKIP_MPICXX=1)
  set(MPI_CXX_FOUND TRUE)
  message(STATUS "buddy: MPI for ${CMAKE_SYSTEM_PROCESSOR} from ${BUDDY_AARCH64_SYSROOT}")
else()
  set(MPI_CXX_FOUND FALSE)
  message(STATUS "buddy: no mpi.h / libmpi.so in ${BUDDY_AARCH64_SYSROOT}")
endif()
