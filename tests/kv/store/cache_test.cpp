// Cache mode: the log wraps many times; a GET may miss but every hit returns the last value SET
// for that key, DELETEd keys never come back, and the item count is exact.
#include <gtest/gtest.h>

#include <vector>

#include "buddy/kv/store/store.hpp"
#include "kv_test_util.hpp"

namespace buddy::kv::testing {
namespace {

struct Counts {
  std::uint64_t hits = 0, misses = 0, found = 0;  // found: by the final scan
};

// Random SET/GET/DELETE over a key space much larger than the log holds.
Counts run_cache(Partition& p, std::uint64_t ops, std::uint64_t keyspace, std::uint64_t seed,
                 bool small_values) {
  Model last;  // last value SET per key; erased on DELETE
  std::mt19937_64 rng(seed);
  Counts c;
  for (std::uint64_t i = 0; i < ops; ++i) {
    const std::string key = make_key(rng() % keyspace);
    const std::uint64_t h = key_hash(key);
    const std::uint64_t r = rng() % 100;
    if (r < 45) {
      std::string v =
          small_values ? std::string(8 + rng() % 40, static_cast<char>(rng())) : make_value(rng);
      v.append(std::to_string(i));  // every SET writes a distinct value
      const Status s = p.set(h, key, v);
      if (s == Status::ok) {
        last[key] = std::move(v);
      } else {
        EXPECT_EQ(s, Status::out_of_memory);  // only for items too big for the log
        last.erase(key);  // the old value may or may not survive; do not check it
        p.del(h, key);
      }
    } else if (r < 50) {
      p.del(h, key);
      last.erase(key);
    } else {
      const GetResult g = p.get(h, key);
      if (g.status == Status::ok) {
        ++c.hits;
        auto it = last.find(key);
        if (it == last.end()) {
          ADD_FAILURE() << "hit on a key that was deleted or never set, op " << i;
          return c;
        }
        if (g.value != it->second) {
          ADD_FAILURE() << "stale or wrong value at op " << i;
          return c;
        }
      } else {
        EXPECT_EQ(g.status, Status::not_found);
        ++c.misses;
      }
    }
  }
  // The item count is exact: it equals the number of keys a GET still finds.
  std::uint64_t found = 0;
  for (std::uint64_t k = 0; k < keyspace; ++k) {
    const std::string key = make_key(k);
    const GetResult g = p.get(key_hash(key), key);
    if (g.status == Status::ok) {
      ++found;
      EXPECT_EQ(g.value, last[key]);
    }
  }
  EXPECT_EQ(p.stats().items, found);
  c.found = found;
  return c;
}

TEST(CacheMode, HitsReturnTheLastValueSet) {
  PartitionConfig cfg;
  cfg.mode = Mode::cache;
  cfg.memory_bytes = 2u << 20;
  Partition p(cfg);
  const Counts c = run_cache(p, 1'000'000 / kScale, 50'000 / kScale, 1, false);
  const StatsSnapshot s = p.stats();
  EXPECT_GT(c.hits, 10'000u / kScale);
  EXPECT_GT(c.misses, 0u);
  EXPECT_GT(s.evictions, 1000u / kScale);
  EXPECT_EQ(s.hits, c.hits + c.found);
  EXPECT_EQ(s.misses, c.misses + 50'000 / kScale - c.found);
}

// Many laps of a small log with small items and a tiny index: bucket-full evictions, stale
// slots and offset reuse all happen constantly.
TEST(CacheMode, TinyIndexManyLaps) {
  PartitionConfig cfg;
  cfg.mode = Mode::cache;
  cfg.memory_bytes = 256u << 10;
  cfg.expected_items = 64;  // 8 buckets: the index, not the log, is the bottleneck
  Partition p(cfg);
  const Counts c = run_cache(p, 600'000 / kScale, 2'000, 2, true);
  EXPECT_GT(c.hits, 1000u / kScale);
  EXPECT_GT(p.stats().evictions, 10'000u / kScale);
}

TEST(CacheMode, NoEvictionWhileItFits) {
  PartitionConfig cfg;
  cfg.mode = Mode::cache;
  cfg.memory_bytes = 8u << 20;
  Partition p(cfg);
  for (std::uint64_t k = 0; k < 20'000; ++k) {
    const std::string key = make_key(k);
    ASSERT_EQ(p.set(key_hash(key), key, numbered("v", k)), Status::ok);
  }
  for (std::uint64_t k = 0; k < 20'000; ++k) {
    const std::string key = make_key(k);
    const GetResult g = p.get(key_hash(key), key);
    ASSERT_EQ(g.status, Status::ok) << k;
    ASSERT_EQ(g.value, numbered("v", k));
  }
  EXPECT_EQ(p.stats().evictions, 0u);
  EXPECT_EQ(p.stats().items, 20'000u);
}

TEST(CacheMode, OversizedItemIsOutOfMemory) {
  PartitionConfig cfg;
  cfg.mode = Mode::cache;
  cfg.memory_bytes = 1u << 20;
  Partition p(cfg);
  const std::string big(600u << 10, 'x');  // more than half the log
  EXPECT_EQ(p.set(key_hash("k"), "k", big), Status::out_of_memory);
  EXPECT_EQ(p.get(key_hash("k"), "k").status, Status::not_found);
  EXPECT_EQ(p.stats().oom, 1u);
}

}  // namespace
}  // namespace buddy::kv::testing
