// buddy-particles: a Quicksilver-style Monte Carlo transport mini-app over buddy::msg. The cube
// of --cells^3 cells is split into one box per rank; each cycle sources --particles particles
// (uniform in the cube: each rank keeps those born in its box), tracks them segment by segment
// (particle_physics.hpp: --lookups cross-section table look-ups per segment set the memory work
// per message) until they are absorbed, escape, or reach census, and a particle entering another
// rank's box travels there in one async message. A cycle ends when no rank holds a particle
// (rounds of tracking, then barrier); census particles fly on in the next cycle. Verified:
// conservation (created = absorbed + escaped + census, summed over ranks), and with
// --check-serial every tally equals a serial run of the same problem (one rank, no messages),
// so a seed gives the same tallies (and tally_hash) on any rank count and in any mode. Figure
// of merit: segments per second.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "app_report.hpp"
#include "particle_physics.hpp"

namespace {

using namespace buddy;
namespace pt = apps::particles;

struct config {
  pt::problem problem;
  bool check_serial = false;
  bool json = false;
  bool stats = false;
  bool inject_fault = false;  // tests: rank 0 loses its first migrating particle
};

// Particles that arrived from other ranks, waiting to be tracked here.
struct inbox {
  std::vector<pt::particle> arrived;
};

struct arrive {
  msg::local_ptr<inbox> box;
  void operator()(const pt::particle& q) const { box->arrived.push_back(q); }
};

// The app's memory traffic per event (docs/apps.md): a segment reads --lookups table entries of
// 8 B and reads and writes the particle; sourcing writes a particle; a migration reads it at the
// sender and writes it into the receiver's inbox; each tracked particle is copied from the
// queue and back.
std::uint64_t memory_bytes(const pt::problem& p, const pt::tallies& t, std::uint64_t migrations,
                           std::uint64_t tracked) {
  constexpr std::uint64_t q = sizeof(pt::particle);
  return t.segments * (8 * static_cast<std::uint64_t>(p.lookups) + 2 * q) + t.created * q +
         migrations * 2 * q + tracked * 2 * q;
}

int run(int argc, char** argv, const config& cfg, const msg::options& opts) {
  msg::comm world(&argc, &argv, opts);
  const int rank = world.rank(), size = world.size();
  const pt::problem& p = cfg.problem;
  const pt::decomposition dec(p.cells, size);
  const std::vector<double> tables = pt::make_tables(p);
  inbox box;
  const auto box_ptr = world.make_local(box);

  world.barrier();
  apps::region_timer timer(world);
  apps::compute_clock compute;
  pt::tallies t;
  std::uint64_t migrations = 0, tracked = 0, rounds = 0;
  bool faulted = !(cfg.inject_fault && rank == 0);
  std::vector<pt::particle> queue, census, leaving;
  timer.start();
  for (int c = 0; c < p.cycles; ++c) {
    const bool last = c + 1 == p.cycles;
    compute.run([&] {
      const std::uint64_t first = static_cast<std::uint64_t>(c) * p.particles;
      for (std::uint64_t i = 0; i < p.particles; ++i) {
        const pt::particle q = pt::source(p, first + i);
        if (dec.owner(q.cell) != rank) continue;
        queue.push_back(q);
        ++t.created;
      }
    });
    for (;;) {
      while (!queue.empty()) {
        compute.run([&] {
          constexpr std::size_t batch = 64;
          for (std::size_t k = 0; k < batch && !queue.empty(); ++k) {
            pt::particle q = queue.back();
            queue.pop_back();
            ++tracked;
            switch (pt::track(p, tables.data(), dec, rank, q, t)) {
              case pt::fate::migrates:
                leaving.push_back(q);
                break;
              case pt::fate::census:
                pt::at_census(q, t, p, last);
                census.push_back(q);
                break;
              case pt::fate::absorbed:
              case pt::fate::escaped:
                break;
            }
          }
        });
        for (const pt::particle& q : leaving) {
          if (!faulted) {
            faulted = true;
            continue;
          }
          world.async(dec.owner(q.cell), arrive{box_ptr}, q);
        }
        migrations += leaving.size();
        leaving.clear();
        world.progress();
        queue.insert(queue.end(), box.arrived.begin(), box.arrived.end());
        box.arrived.clear();
      }
      world.barrier();
      ++rounds;
      queue.insert(queue.end(), box.arrived.begin(), box.arrived.end());
      box.arrived.clear();
      if (world.all_reduce_sum(static_cast<unsigned long long>(queue.size())) == 0) break;
    }
    queue.swap(census);  // census particles fly on in the next cycle
    census.clear();
  }
  const std::uint64_t census_left = queue.size();
  const apps::region cost = timer.stop(compute, memory_bytes(p, t, migrations, tracked));

  pt::tallies sum;
  for (int i = 0; i < pt::tallies::count; ++i) {
    sum.begin()[i] = world.all_reduce_sum(static_cast<unsigned long long>(t.begin()[i]));
  }
  migrations = world.all_reduce_sum(static_cast<unsigned long long>(migrations));
  const std::uint64_t left = world.all_reduce_sum(static_cast<unsigned long long>(census_left));
  bool ok = sum.created == sum.absorbed + sum.escaped + sum.census && left == sum.census &&
            sum.created == p.particles * static_cast<std::uint64_t>(p.cycles);
  std::uint64_t serial_differs = 0;
  if (cfg.check_serial) {
    pt::tallies serial;
    if (rank == 0) serial = pt::run_serial(p, tables);
    for (int i = 0; i < pt::tallies::count; ++i) {
      serial_differs += world.all_reduce_sum(static_cast<unsigned long long>(serial.begin()[i])) !=
                        sum.begin()[i];
    }
    ok = ok && serial_differs == 0;
  }

  const msg::stats s = world.global_stats();
  if (rank == 0) {
    char hash[32];
    std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(sum.hash()));
    const double fom = static_cast<double>(sum.segments) / cost.elapsed_s;
    const apps::result r{
        "particles", apps::mode_name(world.config()), msg::to_string(opts.route), size, cost, ok};
    if (cfg.json) {
      apps::print_json(r, [&](base::json::Writer& w) {
        w.member("segments_per_s", fom).member("segments", sum.segments);
        w.member("created", sum.created).member("absorbed", sum.absorbed);
        w.member("escaped", sum.escaped).member("census", sum.census);
        w.member("scatters", sum.scatters).member("migrations", migrations);
        w.member("lookups", static_cast<std::uint64_t>(p.lookups));
        w.member("serial_check", cfg.check_serial ? "yes" : "no").member("tally_hash", hash);
      });
    } else {
      std::printf(
          "buddy-particles: %d ranks (%d x %d x %d boxes), mode %s, routing %s, buffer %zu KiB, "
          "%lld^3 cells, %llu particles x %d cycles, %d look-ups per segment\n",
          size, dec.dims[0], dec.dims[1], dec.dims[2], r.mode, r.routing, opts.buffer_kb,
          static_cast<long long>(p.cells), static_cast<unsigned long long>(p.particles), p.cycles,
          p.lookups);
      std::printf(
          "  %.3f M segments/s: %llu segments, %llu scatters, %llu migrations; created %llu = "
          "absorbed %llu + escaped %llu + census %llu\n",
          fom / 1e6, static_cast<unsigned long long>(sum.segments),
          static_cast<unsigned long long>(sum.scatters),
          static_cast<unsigned long long>(migrations), static_cast<unsigned long long>(sum.created),
          static_cast<unsigned long long>(sum.absorbed),
          static_cast<unsigned long long>(sum.escaped),
          static_cast<unsigned long long>(sum.census));
      apps::print_cost(r);
      std::printf("  verified: %s (conservation %s; serial run %s; tally hash %s)\n",
                  ok ? "yes" : "NO",
                  sum.created == sum.absorbed + sum.escaped + sum.census ? "holds" : "BROKEN",
                  !cfg.check_serial     ? "not run (--check-serial)"
                  : serial_differs == 0 ? "matches"
                                        : "DIFFERS",
                  hash);
    }
    if (cfg.stats) std::fputs(s.format("all " + std::to_string(size) + " ranks").c_str(), stderr);
  }
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Monte Carlo particle transport over buddy::msg (Quicksilver-style): particles cross "
      "rank domains by message; tallies verified by conservation and a serial run.",
      "buddy-particles"};
  config cfg;
  pt::problem& p = cfg.problem;
  app.add_option("--cells", p.cells, "cells per side of the cube")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 20));
  app.add_option("--particles", p.particles, "particles sourced per cycle (whole cube)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 26));
  app.add_option("--cycles", p.cycles, "time steps (census to census)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--lookups", p.lookups, "cross-section table look-ups per segment")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  app.add_option("--table-size", p.table_size, "entries per material cross-section table")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 22));
  app.add_option("--census-distance", p.census_distance, "flight per cycle, in cells")
      ->capture_default_str()
      ->check(CLI::Range(1e-3, 1e6));
  app.add_option("--seed", p.seed, "random seed")->capture_default_str();
  app.add_flag("--check-serial", cfg.check_serial,
               "also run the whole problem serially on rank 0 and compare every tally");
  app.add_flag("--json", cfg.json, "print one JSON object (rank 0)");
  app.add_flag("--stats", cfg.stats, "print buddy::msg statistics summed over ranks to stderr");
  app.add_flag("--inject-fault", cfg.inject_fault, "rank 0 loses a migrating particle (tests)")
      ->group("");
  if (auto rc = apps::parse_args_once(app, argc, argv)) return *rc;
  const auto opts = apps::env_options("buddy-particles");
  if (!opts) return 2;
  return apps::guarded("buddy-particles", [&] { return run(argc, argv, cfg, *opts); });
}
