// Store mode at its limits: a full store answers out_of_memory and keeps every acknowledged item,
// DELETE makes room again, and bad input gets a clear status. Bad configs throw kv::Error.
#include <gtest/gtest.h>

#include <vector>

#include "buddy/kv/store/store.hpp"
#include "kv_test_util.hpp"

namespace buddy::kv::testing {
namespace {

std::string key8(std::uint64_t k) {
  return std::string(reinterpret_cast<const char*>(&k), 8);
}

// expected_items = 0: the index grows with the items until the full arena refuses a larger one.
void fill_past_the_budget(std::size_t expected_items) {
  PartitionConfig cfg;
  cfg.memory_bytes = 1u << 20;
  cfg.expected_items = expected_items;
  Partition p(cfg);
  std::vector<std::uint64_t> acked;
  std::uint64_t oom = 0;
  // Insert distinct 8 B / 8 B items well past the budget.
  for (std::uint64_t k = 0; k < 100'000; ++k) {
    const std::string key = key8(mix64(k));
    const Status s = p.set(key_hash(key), key, key8(k));
    if (s == Status::ok) {
      acked.push_back(k);
    } else {
      ASSERT_EQ(s, Status::out_of_memory);
      ++oom;
    }
  }
  EXPECT_GT(oom, 60'000u);
  // The 1 MiB budget holds at least 1 MiB / 40 B items of 8 B / 8 B.
  EXPECT_GE(acked.size(), (1u << 20) / 40);
  const StatsSnapshot s = p.stats();
  EXPECT_EQ(s.items, acked.size());
  EXPECT_EQ(s.oom, oom);
  EXPECT_LE(s.memory, cfg.memory_bytes + (64u << 10));  // + page table and slab records
  for (std::uint64_t k : acked) {
    const std::string key = key8(mix64(k));
    const GetResult g = p.get(key_hash(key), key);
    ASSERT_EQ(g.status, Status::ok) << k;
    ASSERT_EQ(g.value, key8(k));
  }

  // Growing a value when full fails and leaves the old value in place.
  const std::string k0 = key8(mix64(acked[0]));
  EXPECT_EQ(p.set(key_hash(k0), k0, std::string(4000, 'z')), Status::out_of_memory);
  EXPECT_EQ(p.get(key_hash(k0), k0).value, key8(acked[0]));

  // Deleting half makes room for as many new items again.
  const std::size_t half = acked.size() / 2;
  for (std::size_t i = 0; i < half; ++i) {
    const std::string key = key8(mix64(acked[i]));
    ASSERT_EQ(p.del(key_hash(key), key), Status::ok);
  }
  std::size_t reinserted = 0;
  for (std::uint64_t k = 1'000'000; k < 1'000'000 + half; ++k) {
    const std::string key = key8(mix64(k));
    reinserted += p.set(key_hash(key), key, key8(k)) == Status::ok;
  }
  // The store holds nearly as many items as before the deletes (overflow buckets left partly
  // filled by the deletes cost a few percent at this load of 8.3 items per bucket).
  EXPECT_GE(acked.size() - half + reinserted, acked.size() * 95 / 100);
  for (std::size_t i = half; i < acked.size(); ++i) {
    const std::string key = key8(mix64(acked[i]));
    ASSERT_EQ(p.get(key_hash(key), key).value, key8(acked[i]));
  }
}

TEST(FullStore, SetsBeyondTheBudgetFailAndNothingIsLost) {
  fill_past_the_budget(30'000);
}

TEST(FullStore, GrownIndexSetsBeyondTheBudgetFailAndNothingIsLost) {
  fill_past_the_budget(0);
}

TEST(FullStore, LargeValuesReuseSpaceAcrossSizeClasses) {
  PartitionConfig cfg;
  cfg.memory_bytes = 8u << 20;
  Partition p(cfg);
  // Fill with 1 MiB values, then free them and fill with small items: the pages move.
  const std::string big(kMaxValueBytes, 'b');
  int bigs = 0;
  for (int i = 0; i < 20; ++i) {
    const std::string key = numbered("big", static_cast<std::uint64_t>(i));
    if (p.set(key_hash(key), key, big) == Status::ok) ++bigs;
  }
  EXPECT_GE(bigs, 5);
  EXPECT_LT(bigs, 8);
  for (int i = 0; i < bigs; ++i) {
    const std::string key = numbered("big", static_cast<std::uint64_t>(i));
    EXPECT_EQ(p.get(key_hash(key), key).value.size(), kMaxValueBytes);
    ASSERT_EQ(p.del(key_hash(key), key), Status::ok);
  }
  EXPECT_EQ(p.storage_bytes(), 0u);
  std::uint64_t small = 0;
  for (std::uint64_t k = 0; k < 400'000; ++k) {
    const std::string key = key8(k);
    if (p.set(key_hash(key), key, key) != Status::ok) break;
    ++small;
  }
  EXPECT_GT(small, 150'000u);
}

TEST(BadInput, ClearStatusNeverACrash) {
  for (Mode mode : {Mode::store, Mode::cache}) {
    PartitionConfig cfg;
    cfg.mode = mode;
    cfg.memory_bytes = 2u << 20;
    Partition p(cfg);
    const std::string empty, long_key(256, 'k'), max_key(255, 'k');
    EXPECT_EQ(p.get(0, empty).status, Status::bad_key);
    EXPECT_EQ(p.set(0, empty, "v"), Status::bad_key);
    EXPECT_EQ(p.del(0, empty), Status::bad_key);
    EXPECT_EQ(p.get(key_hash(long_key), long_key).status, Status::bad_key);
    EXPECT_EQ(p.set(key_hash(long_key), long_key, "v"), Status::bad_key);
    EXPECT_EQ(p.del(key_hash(long_key), long_key), Status::bad_key);
    EXPECT_EQ(p.set(key_hash("k"), "k", std::string(kMaxValueBytes + 1, 'v')),
              Status::value_too_large);
    EXPECT_EQ(p.set(key_hash(max_key), max_key, ""), Status::ok);
    EXPECT_EQ(p.get(key_hash(max_key), max_key).status, Status::ok);
    EXPECT_EQ(p.get(key_hash(max_key), max_key).value, "");
    // A 1 MiB value does not fit a 2 MiB cache log (half the log at most) but fits the store.
    const Status big = p.set(key_hash("big"), "big", std::string(kMaxValueBytes, 'v'));
    EXPECT_EQ(big, mode == Mode::store ? Status::ok : Status::out_of_memory);
    // Same batch, same answers.
    const Request reqs[] = {{Op::get, 0, empty, {}},
                            {Op::set, 1, long_key, "v"},
                            {Op::set, 2, "k", std::string_view(long_key.data(), 0)}};
    std::vector<Status> got;
    p.execute(reqs, [&](std::size_t, Status s, std::string_view) { got.push_back(s); });
    EXPECT_EQ(got, (std::vector<Status>{Status::bad_key, Status::bad_key, Status::ok}));
    EXPECT_EQ(to_string(Status::out_of_memory), "out_of_memory");
  }
}

TEST(BadConfig, Throws) {
  StoreConfig cfg;
  cfg.partitions = 0;
  EXPECT_THROW(Store{cfg}, Error);
  cfg.partitions = 70'000;
  EXPECT_THROW(Store{cfg}, Error);
  cfg.partitions = 4;
  cfg.memory_bytes = 4 * (Partition::kMinMemory - 1);
  EXPECT_THROW(Store{cfg}, Error);
  cfg.memory_bytes = 4 * Partition::kMinMemory;
  EXPECT_NO_THROW(Store{cfg});
}

// Too little memory for the partitions: the reason names the split and what helps (more memory or
// fewer partitions; more partitions would make each smaller still). Too much per partition: more.
TEST(BadConfig, MemoryPerPartitionSaysWhatHelps) {
  StoreConfig cfg;
  cfg.partitions = 2048;
  cfg.memory_bytes = std::size_t{256} << 20;
  EXPECT_EQ(validate(cfg),
            "store memory 256 MiB over 2048 partition(s) is 128 KiB each, below the 256 KiB "
            "minimum: give the store more memory or use fewer partitions");
  try {
    Store s(cfg);
    FAIL() << "built 128 KiB partitions";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), validate(cfg));
  }
  cfg.only = {0, 1, 2, 3};  // a store holding 4 of the 2048 partitions splits over those 4
  EXPECT_EQ(validate(cfg), "");
  cfg.only.clear();
  cfg.partitions = 1;
  cfg.memory_bytes = std::size_t{17} << 30;
  EXPECT_EQ(validate(cfg),
            "store memory 17 GiB over 1 partition(s) is 17 GiB each, above the 16 GiB maximum: "
            "use more partitions or less memory");
}

}  // namespace
}  // namespace buddy::kv::testing
