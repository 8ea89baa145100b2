// buddy-engine: the offload engine of buddy::msg, started by `buddy-run --mode offload` next to
// the app ranks (mpirun MPMD: app ranks first, then the engines, in one MPI_COMM_WORLD).
//   buddy-engine [--buffer-kb N] [--max-sends N] [--threads N] [--cpus LIST] [--stats]
// Node layout, routing among engines and ring size come from the same BUDDY_* variables the app
// ranks read. Errors are one line on stderr, then the whole job is aborted. With --threads N the
// main thread (the one that initialised MPI) does all MPI calls and N - 1 more threads drain and
// deliver rings (MPI_THREAD_FUNNELED is requested and must be granted).
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "buddy/msg_engine/engine.hpp"
#include "cli.hpp"
#include "cpu_list.hpp"

namespace {

[[noreturn]] void fail(const std::string& line, int status) {
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Abort(MPI_COMM_WORLD, status);
  std::exit(status);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "The buddy::msg offload engine: routes the records of the app ranks of its node between "
      "shared-memory rings and the other engines (started by buddy-run --mode offload).",
      "buddy-engine"};
  buddy::msg_engine::engine_options opts;
  std::string cpus;
  bool stats = false;
  app.add_option("--buffer-kb", opts.buffer_kb,
                 "aggregation granularity: KiB of one MPI buffer per next-hop engine")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--max-sends", opts.max_sends, "pipelining: MPI sends in flight at most")
      ->check(CLI::Range(1, 1024));
  app.add_option("--threads", opts.threads,
                 "engine threads: the lanes (rank x channel) are split between them, the main "
                 "thread does all MPI")
      ->check(CLI::Range(1, 64));
  app.add_option("--cpus", cpus, "pin engine i to the i-th cpu of this list (mod its length)")
      ->check(buddy::tools::check_cpu_list_not_empty);
  app.add_flag("--stats", stats, "print one JSON line of engine statistics to stderr at the end");
  const bool under_mpirun = std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr;
  int provided = MPI_THREAD_SINGLE;
  if (under_mpirun) MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  if (auto rc = buddy::tools::parse_args(app, argc, argv)) {
    if (under_mpirun && *rc != 0) MPI_Abort(MPI_COMM_WORLD, *rc);
    if (under_mpirun) MPI_Finalize();
    return *rc;
  }
  std::vector<int> cpu_list;
  if (std::string why = buddy::tools::parse_usable_cpus("--cpus", cpus, cpu_list); !why.empty()) {
    fail("buddy-engine: " + why, 2);
  }
  if (!under_mpirun) fail("buddy-engine: start it with buddy-run --mode offload (needs mpirun)", 2);
  if (opts.threads > 1 && provided < MPI_THREAD_FUNNELED) {
    fail("buddy-engine: --threads " + std::to_string(opts.threads) +
             ": this MPI does not grant MPI_THREAD_FUNNELED (use --engines-per-node instead)",
         2);
  }
  try {
    opts.msg = buddy::msg::options::from_env();
    const auto& job = buddy::msg::offload::join(true, opts.msg);
    if (!cpu_list.empty()) {
      buddy::tools::pin_to_cpu(
          cpu_list[static_cast<std::size_t>(job.group_rank) % cpu_list.size()]);
    }
    buddy::msg_engine::engine e(job, opts);
    e.run();
    if (stats) {
      const std::string line =
          e.stats().json(job.group_rank, job.engine_node[static_cast<std::size_t>(job.group_rank)],
                         e.ranks_served());
      std::fprintf(stderr, "%s\n", line.c_str());
      std::fflush(stderr);
    }
  } catch (const std::exception& ex) {
    const std::string what = ex.what();
    fail(what.rfind("buddy", 0) == 0 ? what : "buddy-engine: " + what, 1);
  }
  MPI_Finalize();
  return 0;
}
