// Memory efficiency (issue 17): the memory a store reports in use stays within 1.5x the key and
// value bytes for mixed sizes (SizeMix: 10,000 keys of 1-255 B, values of 0-60,000 B), for a
// store sized by its budget alone (as buddykv-server's is) and by expected_items, over 1, 4 and
// 16 partitions; and within 40 B per 8 B / 8 B item, with the index sized ahead or grown.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>

#include "buddy/kv/store/size_mix.hpp"
#include "buddy/kv/store/store.hpp"
#include "kv_test_util.hpp"

namespace buddy::kv::testing {
namespace {

double mixed_ratio(std::uint32_t partitions, std::size_t memory, std::size_t expected_items) {
  StoreConfig cfg;
  cfg.partitions = partitions;
  cfg.memory_bytes = memory;
  cfg.expected_items = expected_items;
  cfg.huge_pages = false;
  Store store(cfg);
  const SizeMix mix;
  std::mt19937_64 rng(17);
  const std::string filler(mix.max_value, 'v');
  for (std::uint64_t i = 0; i < 10'000; ++i) {
    const std::string key = mix.key(rng, i);
    const std::uint64_t h = key_hash(key);
    EXPECT_EQ(
        store.partition_for(h).set(h, key, std::string_view(filler).substr(0, mix.value_len(rng))),
        Status::ok);
  }
  const StatsSnapshot s = store.stats();
  EXPECT_EQ(s.items, 10'000u);
  EXPECT_GT(s.bytes, 40'000'000u);  // the mix carries about 55 MB
  const double ratio = static_cast<double>(s.memory) / static_cast<double>(s.bytes);
  std::printf(
      "mixed: %u partitions, %zu MiB, expected_items %zu: %llu B stored, %llu B in use, %.3fx\n",
      partitions, memory >> 20, expected_items, static_cast<unsigned long long>(s.bytes),
      static_cast<unsigned long long>(s.memory), ratio);
  return ratio;
}

TEST(StoreMemory, MixedSizesWithinOneAndAHalfTimesTheBytes) {
  // The server's default: 256 MiB, the index sized by the budget alone (expected_items = 0).
  for (const std::uint32_t parts : {1u, 4u}) {
    EXPECT_LE(mixed_ratio(parts, 256u << 20, 0), 1.5) << parts << " partitions";
  }
  EXPECT_LE(mixed_ratio(16, 1u << 30, 0), 1.5) << "16 partitions, 1 GiB";
  EXPECT_LE(mixed_ratio(4, 1u << 30, 10'000), 1.5) << "expected_items";
}

double bytes_per_8_8_item(std::uint64_t n, std::size_t expected_items) {
  PartitionConfig cfg;
  cfg.memory_bytes = n * 40 + (2u << 20);  // the store bench's budget
  cfg.expected_items = expected_items;
  cfg.huge_pages = false;
  Partition p(cfg);
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t k = mix64(i);
    const std::string_view key(reinterpret_cast<const char*>(&k), 8);
    EXPECT_EQ(p.set(key_hash(key), key, key), Status::ok);
  }
  const StatsSnapshot s = p.stats();
  EXPECT_EQ(s.items, n);
  const double bpi = static_cast<double>(s.memory) / static_cast<double>(n);
  std::printf("8 B / 8 B: %llu items, expected_items %zu: %.2f B per item\n",
              static_cast<unsigned long long>(n), expected_items, bpi);
  return bpi;
}

TEST(StoreMemory, EightByteItemsWithinFortyBytes) {
  EXPECT_LE(bytes_per_8_8_item(1'000'000, 1'000'000), 40.0) << "index sized ahead";
  EXPECT_LE(bytes_per_8_8_item(1'000'000, 0), 40.0) << "index grown with the items";
  EXPECT_LE(bytes_per_8_8_item(700'000, 0), 40.0) << "index grown with the items";
}

}  // namespace
}  // namespace buddy::kv::testing
