// buddy-index-gather: every rank requests --updates random entries of a distributed array of
// --table-size 64-bit values (split in blocks over the ranks). A request message goes to the
// owner, whose handler replies with the value (two messages per entry). Every gathered value
// is checked against the array's defining formula; exit status 1 if any differs or is missing.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "app_report.hpp"

namespace {

using namespace buddy;

struct config {
  std::uint64_t updates = 2'000'000;   // requests per rank
  std::uint64_t table_size = 1 << 20;  // entries over all ranks
  std::uint64_t seed = 1;
  bool json = false;
  bool stats = false;
  bool inject_fault = false;  // tests: rank 0 skips one request, verification must fail
};

// The array's content, so that any rank can check a gathered value.
std::uint64_t value_of(std::uint64_t index, std::uint64_t seed) {
  return apps::mix64(index ^ (seed * 0x9E3779B97F4A7C15ull)) | 1;  // never 0 ("not arrived")
}

struct reply {
  msg::local_ptr<std::vector<std::uint64_t>> results;
  void operator()(std::uint32_t j, std::uint64_t v) const { (*results)[j] = v; }
};

// The requesting rank travels in the function object (once per frame of requests, since a
// rank's requests all carry the same one), so a request's record is its 12 argument bytes.
struct request {
  msg::local_ptr<std::vector<std::uint64_t>> array;
  msg::local_ptr<std::vector<std::uint64_t>> results;
  std::int32_t from;
  void operator()(msg::comm& c, std::uint32_t j, std::uint64_t slot) const {
    c.async(from, reply{results}, j, (*array)[slot]);
  }
  // buddy::msg calls this a few requests ahead: the random table reads of a run overlap.
  void prefetch(std::uint32_t, std::uint64_t slot) const {
    __builtin_prefetch(array->data() + slot);
  }
};

int run(int argc, char** argv, const config& cfg, const msg::options& opts) {
  msg::comm world(&argc, &argv, opts);
  const int rank = world.rank(), size = world.size();
  const apps::block_map map(cfg.table_size, size);
  std::vector<std::uint64_t> array, results;
  if (!apps::allocate_everywhere(world, array, map.local_size(rank), "buddy-index-gather",
                                 "an array") ||
      !apps::allocate_everywhere(world, results, cfg.updates, "buddy-index-gather",
                                 "the gathered values")) {
    return 2;
  }
  const std::uint64_t base = static_cast<std::uint64_t>(rank) * map.block;
  for (std::size_t s = 0; s < array.size(); ++s) array[s] = value_of(base + s, cfg.seed);
  const auto arr = world.make_local(array);
  const auto res = world.make_local(results);

  world.barrier();
  apps::region_timer timer(world);
  apps::compute_clock compute;
  timer.start();
  {
    // The app's own work (drawing the indices) is timed apart from sending the requests.
    constexpr std::uint64_t chunk = 4096;
    std::vector<std::uint64_t> index(chunk);
    apps::rng gen(cfg.seed, rank);
    const request req{arr, res, static_cast<std::int32_t>(rank)};
    for (std::uint64_t done = 0; done < cfg.updates; done += chunk) {
      const std::uint64_t k = std::min(chunk, cfg.updates - done);
      compute.run([&] {
        for (std::uint64_t i = 0; i < k; ++i) index[i] = gen.below(map.total);
      });
      for (std::uint64_t i = 0; i < k; ++i) {
        const std::uint64_t j = done + i, g = index[i];
        if (cfg.inject_fault && rank == 0 && j == 0) continue;
        world.async(map.owner(g), req, static_cast<std::uint32_t>(j), map.slot(g));
      }
    }
    world.barrier();
  }
  // Each request reads one 8-byte entry at the owner; each reply writes one 8-byte result.
  const apps::region cost = timer.stop(compute, 16 * cfg.updates);

  std::uint64_t wrong = 0;
  {
    apps::rng gen(cfg.seed, rank);
    for (std::uint64_t j = 0; j < cfg.updates; ++j) {
      wrong += results[j] != value_of(gen.below(map.total), cfg.seed);
    }
  }
  wrong = world.all_reduce_sum(wrong);
  const bool ok = wrong == 0;

  const msg::stats st = world.global_stats();
  if (rank == 0) {
    const apps::result r{"index-gather",
                         apps::mode_name(world.config()),
                         msg::to_string(opts.route),
                         size,
                         cost,
                         ok};
    if (cfg.json) {
      apps::print_json(r, [&](base::json::Writer& w) {
        w.member("requests", cfg.updates * static_cast<std::uint64_t>(size));
      });
    } else {
      std::printf(
          "buddy-index-gather: %d ranks, mode %s, routing %s, buffer %zu KiB, %llu requests per "
          "rank from %llu entries (requests + replies)\n",
          size, r.mode, r.routing, opts.buffer_kb, static_cast<unsigned long long>(cfg.updates),
          static_cast<unsigned long long>(cfg.table_size));
      apps::print_cost(r);
      std::printf("  verified: %s (%llu gathered values wrong or missing)\n", ok ? "yes" : "NO",
                  static_cast<unsigned long long>(wrong));
    }
    if (cfg.stats) std::fputs(st.format("all " + std::to_string(size) + " ranks").c_str(), stderr);
  }
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Index gather over buddy::msg: random reads of a distributed array by request "
      "and reply messages, every value verified.",
      "buddy-index-gather"};
  config cfg;
  app.add_option("--updates", cfg.updates, "entries requested by each rank")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{0xFFFFFFFF}));
  app.add_option("--table-size", cfg.table_size, "entries in the whole array")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 36));
  app.add_option("--seed", cfg.seed, "random seed")->capture_default_str();
  app.add_flag("--json", cfg.json, "print one JSON object (rank 0)");
  app.add_flag("--stats", cfg.stats, "print buddy::msg statistics summed over ranks to stderr");
  app.add_flag("--inject-fault", cfg.inject_fault, "rank 0 skips one request (tests)")->group("");
  if (auto rc = apps::parse_args_once(app, argc, argv)) return *rc;
  const auto opts = apps::env_options("buddy-index-gather");
  if (!opts) return 2;
  return apps::guarded("buddy-index-gather", [&] { return run(argc, argv, cfg, *opts); });
}
