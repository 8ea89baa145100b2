// Statistics: exact counts for a known sequence of operations, per partition and summed.
#include <gtest/gtest.h>

#include "buddy/kv/store/store.hpp"
#include "kv_test_util.hpp"

namespace buddy::kv::testing {
namespace {

TEST(Stats, ExactCountsForAKnownSequence) {
  for (Mode mode : {Mode::store, Mode::cache}) {
    StoreConfig cfg;
    cfg.mode = mode;
    cfg.memory_bytes = 16u << 20;
    cfg.partitions = 2;
    Store store(cfg);
    std::uint64_t bytes = 0;
    for (int i = 0; i < 100; ++i) {
      const std::string k = numbered("key", static_cast<std::uint64_t>(i)),
                        v(static_cast<std::size_t>(i), 'v');
      ASSERT_EQ(store.partition_for(key_hash(k)).set(key_hash(k), k, v), Status::ok);
      bytes += k.size() + v.size();
    }
    // Replace 10 values with longer ones (different footprint) and 10 in place.
    for (int i = 0; i < 20; ++i) {
      const std::string k = numbered("key", static_cast<std::uint64_t>(i));
      const std::string v(i < 10 ? 500 : static_cast<std::size_t>(i), 'w');
      ASSERT_EQ(store.partition_for(key_hash(k)).set(key_hash(k), k, v), Status::ok);
      bytes += v.size() - static_cast<std::size_t>(i);
    }
    for (int i = 0; i < 30; ++i) {  // 25 hits, 5 misses
      const std::string k = numbered(i < 25 ? "key" : "nokey", static_cast<std::uint64_t>(i));
      store.partition_for(key_hash(k)).get(key_hash(k), k);
    }
    for (int i = 90; i < 110; ++i) {  // 10 deletes, 10 misses (not counted)
      const std::string k = numbered("key", static_cast<std::uint64_t>(i));
      const Status s = store.partition_for(key_hash(k)).del(key_hash(k), k);
      EXPECT_EQ(s, i < 100 ? Status::ok : Status::not_found);
      if (i < 100) bytes -= k.size() + static_cast<std::size_t>(i);
    }
    const StatsSnapshot s = store.stats();
    EXPECT_EQ(s.items, 90u) << to_string(mode);
    EXPECT_EQ(s.bytes, bytes);
    EXPECT_EQ(s.sets, 120u);
    EXPECT_EQ(s.hits, 25u);
    EXPECT_EQ(s.misses, 5u);
    EXPECT_EQ(s.deletes, 10u);
    EXPECT_EQ(s.evictions, 0u);
    EXPECT_EQ(s.oom, 0u);
    EXPECT_GT(s.memory, store.partition(0).index_bytes() + store.partition(1).index_bytes());
    // The sum is the sum of the partitions, and each partition got some of the keys.
    const StatsSnapshot a = store.partition(0).stats(), b = store.partition(1).stats();
    EXPECT_EQ(a.items + b.items, s.items);
    EXPECT_GT(a.items, 20u);
    EXPECT_GT(b.items, 20u);
    EXPECT_EQ(a.memory, store.partition(0).memory_used());
  }
}

TEST(Stats, BatchedOperationsAreCounted) {
  PartitionConfig cfg;
  Partition p(cfg);
  std::vector<std::string> keys;
  for (int i = 0; i < 64; ++i) keys.push_back(numbered("k", static_cast<std::uint64_t>(i)));
  std::vector<Request> reqs;
  for (const auto& k : keys) reqs.push_back({Op::set, key_hash(k), k, "value"});
  for (const auto& k : keys) reqs.push_back({Op::get, key_hash(k), k, {}});
  reqs.push_back({Op::get, key_hash("absent"), "absent", {}});
  std::size_t oks = 0;
  p.execute(reqs, [&](std::size_t, Status s, std::string_view) { oks += s == Status::ok; });
  EXPECT_EQ(oks, 128u);
  const StatsSnapshot s = p.stats();
  EXPECT_EQ(s.items, 64u);
  EXPECT_EQ(s.sets, 64u);
  EXPECT_EQ(s.hits, 64u);
  EXPECT_EQ(s.misses, 1u);
}

// A full cache-mode log counts each eviction once: items + evictions = distinct inserts.
TEST(Stats, CacheEvictionsAreExact) {
  PartitionConfig cfg;
  cfg.mode = Mode::cache;
  cfg.memory_bytes = 256u << 10;
  Partition p(cfg);
  const std::uint64_t n = 100'000;
  for (std::uint64_t k = 0; k < n; ++k) {
    const std::string key = make_key(k);
    ASSERT_EQ(p.set(key_hash(key), key, "0123456789abcdef"), Status::ok);
  }
  const StatsSnapshot s = p.stats();
  EXPECT_GT(s.evictions, n / 2);
  EXPECT_EQ(s.items + s.evictions, n);
}

}  // namespace
}  // namespace buddy::kv::testing
