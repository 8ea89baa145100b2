// buddykv-pe-get-bench: the GET cost of the write-window id check. One processing engine over a
// one-partition store of --keys 8-B keys runs batches of --batch GETs drawn uniformly, once with
// unsequenced GETs (client 0: execute() skips the window code) and once with GETs carrying a
// client id (the path of buddy::kv::Client: begin_batch, then the per-request GET test that skips
// the window). Rounds alternate the two; the median ns per GET of each and the difference are
// printed.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "buddy/kv/serving/processing_engine.hpp"
#include "buddy/kv/store/hash.hpp"
#include "buddy/kv/store/store.hpp"
#include "cli.hpp"

namespace {

using buddy::kv::Op;
using buddy::kv::Request;

double run_round(buddy::kv::serving::ProcessingEngine& pe, std::vector<Request>& reqs,
                 std::size_t batch, std::uint32_t client) {
  for (auto& q : reqs) q.client = client;
  std::vector<buddy::kv::serving::PeResult> out(batch);
  buddy::kv::serving::ValueArena arena;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i + batch <= reqs.size(); i += batch) {
    arena.clear();
    pe.execute(std::span<const Request>(reqs.data() + i, batch), out, arena);
    if (out[0].status != buddy::kv::wire::Status::ok) {
      std::fprintf(stderr, "buddykv-pe-get-bench: a GET of a stored key failed\n");
      std::exit(1);
    }
  }
  const double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  return ns / static_cast<double>(reqs.size() / batch * batch);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t keys = 100'000;
  std::uint64_t ops = 2'000'000;
  std::size_t batch = 32;
  int rounds = 7;
  CLI::App app{"buddykv-pe-get-bench: GET cost of the write-window id check"};
  app.add_option("--keys", keys, "keys stored")->check(CLI::Range(1, 10'000'000));
  app.add_option("--ops", ops, "GETs per round")->check(CLI::Range(1'000, 1'000'000'000));
  app.add_option("--batch", batch, "GETs per execute()")->check(CLI::Range(1, 1024));
  app.add_option("--rounds", rounds, "rounds of each variant (median reported)")
      ->check(CLI::Range(1, 101));
  CLI11_PARSE(app, argc, argv);

  buddy::kv::StoreConfig cfg;
  cfg.memory_bytes = std::max<std::size_t>(keys * 64, 16u << 20);
  buddy::kv::Store store(cfg);
  buddy::kv::serving::ProcessingEngine pe(store, {0});
  std::vector<std::string> names(keys);
  for (std::uint64_t k = 0; k < keys; ++k) names[k] = std::string(reinterpret_cast<char*>(&k), 8);
  {
    std::vector<Request> sets(1);
    std::vector<buddy::kv::serving::PeResult> out(1);
    buddy::kv::serving::ValueArena arena;
    for (const auto& n : names) {
      sets[0] = Request{Op::set, buddy::kv::key_hash(n), n, n};
      pe.execute(sets, out, arena);
    }
  }
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::uint64_t> pick(0, keys - 1);
  std::vector<Request> reqs(ops);
  for (auto& q : reqs) {
    const auto& n = names[pick(rng)];
    q = Request{Op::get, buddy::kv::key_hash(n), n, {}};
  }
  std::vector<double> plain;
  std::vector<double> tagged;
  run_round(pe, reqs, batch, 0);  // warm-up
  for (int r = 0; r < rounds; ++r) {
    plain.push_back(run_round(pe, reqs, batch, 0));
    tagged.push_back(run_round(pe, reqs, batch, 1));
  }
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double a = median(plain);
  const double b = median(tagged);
  std::printf("GET, %llu keys, batch %zu, median of %d rounds of %llu GETs:\n",
              static_cast<unsigned long long>(keys), batch, rounds,
              static_cast<unsigned long long>(ops));
  std::printf("  client 0 (no window code) %.2f ns/GET\n", a);
  std::printf("  client id set (id check)  %.2f ns/GET\n", b);
  std::printf("  id check                  %+.2f ns/GET (%+.1f%%)\n", b - a, (b - a) / a * 100.0);
  return 0;
}
