// Bucket::match, the tag matching of every lookup: the vector form this ISA compiles (SSE2 on
// x86-64, NEON on AArch64) gives bit for bit the mask of the plain per-slot loop, for random
// buckets with repeated tags, empty slots and tags at both ends.
#include "buddy/kv/store/detail/bucket.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>

namespace buddy::kv {
namespace {

using detail::Bucket;

std::uint32_t reference_match(const Bucket& b, std::uint16_t t) {
  std::uint32_t m = 0;
  for (int i = 0; i < Bucket::kSlots; ++i) {
    if (b.tag[i] == t) m |= 3u << (2 * i);
  }
  return m;
}

TEST(Bucket, MatchEqualsThePerSlotLoop) {
  std::mt19937 rng(14);
  // Few distinct tags, so repeats and empty (0) slots are common; 0xFFFF and 0x8000 probe sign.
  const std::uint16_t pool[] = {0, 1, 7, 0x8000, 0xFFFF, 0x1234};
  for (int round = 0; round < 20000; ++round) {
    Bucket b{};
    for (auto& tag : b.tag) tag = pool[rng() % std::size(pool)];
    b.next = static_cast<std::uint32_t>(rng());
    for (auto& off : b.off) off = static_cast<std::uint32_t>(rng());
    for (const std::uint16_t t : pool) {
      ASSERT_EQ(b.match(t), reference_match(b, t)) << "round " << round << " tag " << t;
    }
  }
}

TEST(Bucket, EachSlotAlone) {
  for (int i = 0; i < Bucket::kSlots; ++i) {
    Bucket b{};
    b.tag[i] = 0xBEEF;
    EXPECT_EQ(b.match(0xBEEF), 3u << (2 * i));
    EXPECT_EQ(Bucket::first_slot(b.match(0xBEEF)), i);
    EXPECT_EQ(Bucket::drop_slot(b.match(0xBEEF)), 0u);
    EXPECT_FALSE(b.empty());
  }
  EXPECT_TRUE(Bucket{}.empty());
}

}  // namespace
}  // namespace buddy::kv
