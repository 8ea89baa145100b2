// buddy-histogram: every rank sends --updates random increments (one 8-byte slot index each)
// to a table of --table-size counters split in blocks over the ranks, then a barrier. The
// result is checked against a deterministic recount: every rank regenerates every rank's
// random stream, compares each of its own counters exactly, and all ranks compare the global
// sum and a checksum of all counts. Exit status 1 if anything differs.
// --baseline alltoallv runs the same updates bulk-synchronously (bucket by owner, then
// MPI_Alltoallv, in rounds) as the competitor measured on the same machine.
#include <mpi.h>  // the alltoallv baseline only, on world.mpi_comm()

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "app_report.hpp"
#include "buddy/msg/containers/array.hpp"

namespace {

using namespace buddy;

struct config {
  std::uint64_t updates = 4'000'000;   // per rank
  std::uint64_t table_size = 1 << 20;  // counters over all ranks
  std::uint64_t seed = 1;
  std::string baseline;  // "" or "alltoallv"
  bool json = false;
  bool stats = false;
  bool inject_fault = false;  // tests: rank 0 drops its last update, verification must fail
  bool containers = false;    // msg::containers::array<uint64_t>::async_reduce instead of async
  std::string container_op = "reduce";  // or "visit": async_visit(slot, ++value)
};

// One update: its owner increments the slot. buddy::msg calls prefetch a few records ahead (the
// records of one frame), so the random counter misses of a run overlap as they do in the
// alltoallv baseline's tight increment loop instead of stalling one by one.
struct increment {
  msg::local_ptr<std::vector<std::uint64_t>> table;
  void operator()(std::uint64_t slot) const { ++(*table)[slot]; }
  void prefetch(std::uint64_t slot) const { __builtin_prefetch(table->data() + slot, 1); }
};

// Sends one chunk of updates. Out of line: inlined into main, its loop kept the index and the
// comm's state on the stack (a store and a reload per update); alone it keeps them in registers.
// The map by value: a reference's fields would be reloaded after every append (a store of
// uint64_t bytes may alias them).
[[gnu::noinline]] void send_updates(msg::comm& world, const apps::block_map map,
                                    msg::local_ptr<std::vector<std::uint64_t>> table,
                                    const std::uint64_t* slots, std::uint64_t k) {
  for (std::uint64_t i = 0; i < k; ++i) {
    world.async(map.owner(slots[i]), increment{table}, map.slot(slots[i]));
  }
}

// Bulk-synchronous competitor: rounds of `chunk` updates per rank, exchanged with Alltoallv.
void run_alltoallv(MPI_Comm c, const config& cfg, const apps::block_map& map, int rank, int size,
                   std::vector<std::uint64_t>& counts) {
  constexpr std::uint64_t chunk = 1 << 16;
  apps::rng gen(cfg.seed, rank);
  std::vector<std::uint64_t> idx(chunk), out(chunk), in;
  std::vector<int> scount(static_cast<std::size_t>(size)), rcount(scount), sdispl(scount),
      rdispl(scount), fill(scount);
  for (std::uint64_t done = 0; done < cfg.updates; done += chunk) {
    const std::uint64_t n = std::min(chunk, cfg.updates - done);
    std::fill(scount.begin(), scount.end(), 0);
    for (std::uint64_t i = 0; i < n; ++i) {
      idx[i] = gen.below(map.total);
      ++scount[static_cast<std::size_t>(map.owner(idx[i]))];
    }
    for (int r = 1; r < size; ++r) {
      sdispl[static_cast<std::size_t>(r)] =
          sdispl[static_cast<std::size_t>(r - 1)] + scount[static_cast<std::size_t>(r - 1)];
    }
    std::copy(sdispl.begin(), sdispl.end(), fill.begin());
    for (std::uint64_t i = 0; i < n; ++i) {
      out[static_cast<std::size_t>(fill[static_cast<std::size_t>(map.owner(idx[i]))]++)] =
          map.slot(idx[i]);
    }
    MPI_Alltoall(scount.data(), 1, MPI_INT, rcount.data(), 1, MPI_INT, c);
    int total = 0;
    for (int r = 0; r < size; ++r) {
      rdispl[static_cast<std::size_t>(r)] = total;
      total += rcount[static_cast<std::size_t>(r)];
    }
    in.resize(static_cast<std::size_t>(total));
    MPI_Alltoallv(out.data(), scount.data(), sdispl.data(), MPI_UINT64_T, in.data(), rcount.data(),
                  rdispl.data(), MPI_UINT64_T, c);
    for (std::uint64_t s : in) ++counts[s];
  }
  // Every rank runs the same number of rounds (same --updates), so nothing is left over.
}

int run(int argc, char** argv, const config& cfg, const msg::options& opts) {
  msg::comm world(&argc, &argv, opts);
  const int rank = world.rank(), size = world.size();
  const apps::block_map map(cfg.table_size, size);
  std::vector<std::uint64_t> counts, expect;
  if (!apps::allocate_everywhere(world, counts, map.local_size(rank), "buddy-histogram",
                                 "a table") ||
      !apps::allocate_everywhere(world, expect, map.local_size(rank), "buddy-histogram",
                                 "a table and its recount")) {
    return 2;
  }
  const auto table = world.make_local(counts);
  const bool bulk = cfg.baseline == "alltoallv";
  // --containers: the same table as a block-distributed array (its own copy; the same blocks).
  msg::containers::array<std::uint64_t> arr(world, cfg.containers ? cfg.table_size : 0);

  world.barrier();
  apps::region_timer timer(world);
  apps::compute_clock compute;
  timer.start();
  if (bulk) {
    compute.run([&] { run_alltoallv(world.mpi_comm(), cfg, map, rank, size, counts); });
  } else {
    // The app's own work (drawing the slots) is timed apart from sending them.
    constexpr std::uint64_t chunk = 4096;
    std::vector<std::uint64_t> slots(chunk);
    apps::rng gen(cfg.seed, rank);
    std::uint64_t n = cfg.updates;
    if (cfg.inject_fault && rank == 0) --n;  // the last update is lost
    for (std::uint64_t done = 0; done < cfg.updates; done += chunk) {
      const std::uint64_t k = std::min(chunk, cfg.updates - done);
      compute.run([&] {
        for (std::uint64_t i = 0; i < k; ++i) slots[i] = gen.below(map.total);
      });
      if (cfg.containers) {
        if (cfg.container_op == "visit") {
          for (std::uint64_t i = 0; i < k && done + i < n; ++i) {
            arr.async_visit(slots[i], [](std::uint64_t, std::uint64_t& v) { ++v; });
          }
        } else {
          for (std::uint64_t i = 0; i < k && done + i < n; ++i) {
            arr.async_reduce(slots[i], 1, [](std::uint64_t a, std::uint64_t b) { return a + b; });
          }
        }
        continue;
      }
      send_updates(world, map, table, slots.data(), std::min(k, n - done));
    }
    world.barrier();
  }
  // Each update reads and writes one 8-byte counter at its owner.
  apps::region cost = timer.stop(compute, 16 * cfg.updates);
  const std::uint64_t total = cfg.updates * static_cast<std::uint64_t>(size);
  if (bulk) {  // no buddy::msg records: count each update as one 8-byte message
    cost.msgs = total;
    cost.msg_bytes = 8 * total;
  }

  if (cfg.containers) counts = arr.local();  // the array's blocks are the table's

  // Deterministic recount of this rank's counters from every rank's stream.
  for (int r = 0; r < size; ++r) {
    apps::rng gen(cfg.seed, r);
    for (std::uint64_t i = 0; i < cfg.updates; ++i) {
      const std::uint64_t g = gen.below(map.total);
      if (map.owner(g) == rank) ++expect[map.slot(g)];
    }
  }
  std::uint64_t wrong = 0, sum = 0, check = 0, expect_check = 0;
  const std::uint64_t base = static_cast<std::uint64_t>(rank) * map.block;
  for (std::size_t s = 0; s < counts.size(); ++s) {
    wrong += counts[s] != expect[s];
    sum += counts[s];
    check += counts[s] * apps::mix64(base + s);
    expect_check += expect[s] * apps::mix64(base + s);
  }
  wrong = world.all_reduce_sum(wrong);
  sum = world.all_reduce_sum(sum);
  check = world.all_reduce_sum(check);
  expect_check = world.all_reduce_sum(expect_check);
  const bool ok = wrong == 0 && sum == total && check == expect_check;

  const msg::stats st = world.global_stats();
  if (rank == 0) {
    apps::result r{"histogram",
                   bulk ? "alltoallv" : apps::mode_name(world.config()),
                   bulk ? "none" : msg::to_string(opts.route),
                   size,
                   cost,
                   ok};
    if (cfg.json) {
      apps::print_json(r, [&](base::json::Writer& w) {
        w.member("updates", total);
        if (!bulk)
          w.member("impl", !cfg.containers               ? "async"
                           : cfg.container_op == "visit" ? "containers-visit"
                                                         : "containers");
      });
    } else {
      std::printf(
          "buddy-histogram: %d ranks, mode %s, routing %s, buffer %zu KiB, %llu updates per "
          "rank into %llu counters\n",
          size, r.mode, r.routing, opts.buffer_kb, static_cast<unsigned long long>(cfg.updates),
          static_cast<unsigned long long>(cfg.table_size));
      apps::print_cost(r);
      std::printf("  verified: %s (sum %llu of %llu, %llu counters differ, checksum %s)\n",
                  ok ? "yes" : "NO", static_cast<unsigned long long>(sum),
                  static_cast<unsigned long long>(total), static_cast<unsigned long long>(wrong),
                  check == expect_check ? "matches" : "differs");
    }
    if (cfg.stats) std::fputs(st.format("all " + std::to_string(size) + " ranks").c_str(), stderr);
  }
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Distributed histogram over buddy::msg: random increments to a table split over "
      "the ranks, verified against a recount.",
      "buddy-histogram"};
  config cfg;
  app.add_option("--updates", cfg.updates, "increments sent by each rank")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
  app.add_option("--table-size", cfg.table_size, "counters in the whole table")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 36));
  app.add_option("--seed", cfg.seed, "random seed")->capture_default_str();
  app.add_option("--baseline", cfg.baseline,
                 "run the bulk-synchronous MPI_Alltoallv version instead of messages")
      ->check(CLI::IsMember({"alltoallv"}));
  app.add_flag("--containers", cfg.containers,
               "send through msg::containers::array::async_reduce instead of comm.async");
  app.add_option("--container-op", cfg.container_op,
                 "with --containers: reduce (async_reduce(slot, 1, +)) or visit "
                 "(async_visit(slot, ++value))")
      ->capture_default_str()
      ->check(CLI::IsMember({"reduce", "visit"}));
  app.add_flag("--json", cfg.json, "print one JSON object (rank 0)");
  app.add_flag("--stats", cfg.stats, "print buddy::msg statistics summed over ranks to stderr");
  app.add_flag("--inject-fault", cfg.inject_fault, "rank 0 drops one update (tests)")->group("");
  if (auto rc = apps::parse_args_once(app, argc, argv)) return *rc;
  const auto opts = apps::env_options("buddy-histogram");
  if (!opts) return 2;
  return apps::guarded("buddy-histogram", [&] { return run(argc, argv, cfg, *opts); });
}
