// main() for MPI-driven GoogleTest binaries: MPI_Init, every rank runs every test in the same
// order, and the first failed assertion on any rank aborts the whole job (MPI_Abort) so that
// the other ranks never hang in a collective waiting for it. In offload mode the job also holds
// the buddy-engines: ranks and the final reduction use the app ranks' communicator.
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

#include "buddy/msg/detail/offload_port.hpp"

namespace buddy::msg::testing {

class AbortOnFailure : public ::testing::EmptyTestEventListener {
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    int rank = -1;
    MPI_Comm_rank(app_world(options::from_env()), &rank);
    std::fprintf(stderr, "rank %d: FAILED at %s:%d: %s\n", rank,
                 r.file_name() ? r.file_name() : "?", r.line_number(), r.summary());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
};

inline int run_all(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  const MPI_Comm apps = app_world(options::from_env());
  int rank = 0;
  MPI_Comm_rank(apps, &rank);
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (rank != 0) delete listeners.Release(listeners.default_result_printer());
  listeners.Append(new AbortOnFailure);
  int rc = RUN_ALL_TESTS();
  MPI_Allreduce(MPI_IN_PLACE, &rc, 1, MPI_INT, MPI_MAX, apps);
  MPI_Finalize();
  return rc;
}

}  // namespace buddy::msg::testing
