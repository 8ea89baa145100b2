// Several threads, each owning its own partitions (EREW), run random operations against their
// own models while another thread keeps reading the statistics. Under TSan (label concurrent)
// this checks that the only shared state is the relaxed-atomic statistics.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "buddy/kv/store/store.hpp"
#include "kv_test_util.hpp"

namespace buddy::kv::testing {
namespace {

TEST(Concurrent, OwnersWorkWhileAnotherThreadReadsStats) {
  constexpr std::uint32_t kThreads = 3, kPartsPerThread = 2;
  StoreConfig cfg;
  cfg.memory_bytes = 6u * (8u << 20);
  cfg.partitions = kThreads * kPartsPerThread;
  Store store(cfg);
  const std::uint64_t ops = 300'000 / kScale;
  std::atomic<int> running{kThreads};
  std::vector<Model> models(kThreads);
  std::vector<std::string> errors(kThreads);

  auto worker = [&](std::uint32_t t) {
    std::mt19937_64 rng(100 + t);
    Model& m = models[t];
    std::uint64_t done = 0;
    while (done < ops) {
      const std::string key = make_key(rng() % 20'000);
      const std::uint64_t h = key_hash(key);
      const std::uint32_t p = store.partition_of(h);
      if (p % kThreads != t) continue;  // partition p belongs to thread p % kThreads
      Partition& part = store.partition(p);
      const std::uint64_t r = rng() % 10;
      if (r < 4) {
        const std::string v(rng() % 100, static_cast<char>('a' + t));
        if (part.set(h, key, v) != Status::ok) errors[t] = "set failed";
        m[key] = v;
      } else if (r < 5) {
        if ((part.del(h, key) == Status::ok) != (m.erase(key) == 1)) errors[t] = "del differs";
      } else {
        const GetResult g = part.get(h, key);
        auto it = m.find(key);
        if ((g.status == Status::ok) != (it != m.end()) ||
            (it != m.end() && g.value != it->second)) {
          errors[t] = "get differs";
        }
      }
      ++done;
    }
    running.fetch_sub(1);
  };

  std::uint64_t reads = 0;
  bool monotone = true;
  std::thread reader([&] {
    std::vector<StatsSnapshot> last(store.partition_count());
    while (running.load() > 0) {
      for (std::uint32_t p = 0; p < store.partition_count(); ++p) {
        const StatsSnapshot s = store.partition(p).stats();
        if (s.hits < last[p].hits || s.sets < last[p].sets || s.misses < last[p].misses) {
          monotone = false;
        }
        last[p] = s;
      }
      ++reads;
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> workers;
  for (std::uint32_t t = 0; t < kThreads; ++t) workers.emplace_back(worker, t);
  for (auto& w : workers) w.join();
  reader.join();

  for (std::uint32_t t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], "") << "thread " << t;
  EXPECT_TRUE(monotone);
  EXPECT_GT(reads, 0u);
  std::uint64_t items = 0;
  for (const Model& m : models) items += m.size();
  const StatsSnapshot s = store.stats();
  EXPECT_EQ(s.items, items);
  EXPECT_GT(s.hits, ops / 10);
}

}  // namespace
}  // namespace buddy::kv::testing
