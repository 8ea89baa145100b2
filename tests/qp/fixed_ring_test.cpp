#include <gtest/gtest.h>

#include <array>
#include <random>
#include <vector>

#include "buddy/qp/segment.hpp"
#include "test_util.hpp"

namespace buddy::qp {
namespace {

using testing::unique_name;

struct E16 {
  std::uint64_t seq;
  std::uint64_t check;
};
static_assert(sizeof(E16) == 16);

Segment make_segment(std::uint64_t entries) {
  SegmentLayout l;
  l.queue_pairs = 1;
  l.request = RingSpec::fixed(sizeof(E16), entries);
  l.response = RingSpec::fixed(sizeof(E16), entries);
  return Segment::create(unique_name("fixed"), l);
}

TEST(FixedRing, EmptyThenFullThenEmpty) {
  Segment seg = make_segment(8);
  auto p = seg.request_producer<E16>(0);
  auto c = seg.request_consumer<E16>(0);
  E16 out{};
  EXPECT_FALSE(c.try_pop(out));
  for (std::uint64_t i = 0; i < 8; ++i) ASSERT_TRUE(p.try_push({i, ~i}));
  EXPECT_FALSE(p.try_push({99, 99})) << "a full ring must refuse";
  EXPECT_EQ(p.free_slots(), 0u);
  EXPECT_EQ(c.available(), 8u);
  for (std::uint64_t i = 0; i < 8; ++i) {
    ASSERT_TRUE(c.try_pop(out));
    EXPECT_EQ(out.seq, i);
    EXPECT_EQ(out.check, ~i);
  }
  EXPECT_FALSE(c.try_pop(out));
  EXPECT_EQ(p.free_slots(), 8u);
}

TEST(FixedRing, WrapAroundKeepsOrder) {
  Segment seg = make_segment(8);
  auto p = seg.request_producer<E16>(0);
  auto c = seg.request_consumer<E16>(0);
  std::uint64_t next_in = 0, next_out = 0;
  // Offsets 0..7 each get crossed many times with a 5-in/5-out rhythm that never aligns with 8.
  for (int round = 0; round < 100; ++round) {
    for (int k = 0; k < 5; ++k, ++next_in) ASSERT_TRUE(p.try_push({next_in, next_in * 3}));
    E16 out{};
    for (int k = 0; k < 5; ++k, ++next_out) {
      ASSERT_TRUE(c.try_pop(out));
      ASSERT_EQ(out.seq, next_out);
      ASSERT_EQ(out.check, next_out * 3);
    }
  }
}

TEST(FixedRing, ReserveIsContiguousAndStopsAtWrap) {
  Segment seg = make_segment(8);
  auto p = seg.request_producer<E16>(0);
  auto c = seg.request_consumer<E16>(0);
  std::array<E16, 6> tmp{};
  ASSERT_EQ(p.push_bulk(tmp.data(), 6), 6u);
  ASSERT_EQ(c.pop_bulk(tmp.data(), 6), 6u);
  // Position 6: only 2 contiguous slots before the end, though 8 are free.
  auto s = p.reserve(5);
  EXPECT_EQ(s.size(), 2u);
  p.advance(2);
  auto s2 = p.reserve(5);
  EXPECT_EQ(s2.size(), 5u);
  EXPECT_EQ(s2.data(), s.data() - 6) << "second reservation starts at slot 0";
}

TEST(FixedRing, NothingVisibleBeforePublish) {
  Segment seg = make_segment(16);
  auto p = seg.request_producer<E16>(0);
  auto c = seg.request_consumer<E16>(0);
  auto s = p.reserve(4);
  ASSERT_EQ(s.size(), 4u);
  for (std::uint64_t i = 0; i < 4; ++i) s[i] = {i, i};
  p.advance(4);
  EXPECT_TRUE(c.peek(4).empty()) << "advanced but unpublished entries must stay invisible";
  p.publish();
  EXPECT_EQ(c.peek(4).size(), 4u);
  // Consumed but unpublished slots are not free for the producer yet.
  c.advance(4);
  EXPECT_EQ(p.free_slots(), 12u);
  c.publish();
  EXPECT_EQ(p.free_slots(), 16u);
}

TEST(FixedRing, BulkAcrossBatchBoundaries) {
  Segment seg = make_segment(64);
  auto p = seg.request_producer<E16>(0);
  auto c = seg.request_consumer<E16>(0);
  std::mt19937_64 rng(42);
  std::vector<E16> in(100), out(100);
  std::uint64_t next_in = 0, next_out = 0;
  for (int round = 0; round < 20000; ++round) {
    const std::size_t n = rng() % 65;  // 0..64, straddles the 64-entry wrap in every way
    for (std::size_t i = 0; i < n; ++i) in[i] = {next_in + i, testing::mix(next_in + i)};
    const std::size_t pushed = p.push_bulk(in.data(), n);
    next_in += pushed;
    const std::size_t m = rng() % 65;
    const std::size_t popped = c.pop_bulk(out.data(), m);
    for (std::size_t i = 0; i < popped; ++i, ++next_out) {
      ASSERT_EQ(out[i].seq, next_out);
      ASSERT_EQ(out[i].check, testing::mix(next_out));
    }
  }
  // Drain and check that pushed == popped exactly.
  while (std::size_t popped = c.pop_bulk(out.data(), out.size())) {
    for (std::size_t i = 0; i < popped; ++i, ++next_out) ASSERT_EQ(out[i].seq, next_out);
  }
  EXPECT_EQ(next_in, next_out);
}

TEST(FixedRing, ConsumeInPlaceCountsAndPublishesOnce) {
  Segment seg = make_segment(32);
  auto p = seg.request_producer<E16>(0);
  auto c = seg.request_consumer<E16>(0);
  for (std::uint64_t i = 0; i < 30; ++i) ASSERT_TRUE(p.try_push({i, 0}));
  std::uint64_t sum = 0;
  EXPECT_EQ(c.consume(20, [&](const E16& e) { sum += e.seq; }), 20u);
  EXPECT_EQ(sum, 190u);
  EXPECT_EQ(seg.request_ring(0)->tail.load(), 20u) << "one publish at the end of the batch";
  EXPECT_EQ(c.consume(100, [&](const E16& e) { sum += e.seq; }), 10u);
  EXPECT_EQ(sum, 435u);
}

TEST(FixedRing, ReattachedEndsResumeWherePreviousOnesStopped) {
  Segment seg = make_segment(8);
  {
    auto p = seg.request_producer<E16>(0);
    for (std::uint64_t i = 0; i < 6; ++i) ASSERT_TRUE(p.try_push({i, 0}));
  }
  {
    auto c = seg.request_consumer<E16>(0);
    E16 out{};
    for (std::uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(c.try_pop(out));
  }
  auto p = seg.request_producer<E16>(0);
  auto c = seg.request_consumer<E16>(0);
  for (std::uint64_t i = 6; i < 11; ++i) ASSERT_TRUE(p.try_push({i, 0}));
  E16 out{};
  for (std::uint64_t i = 3; i < 11; ++i) {
    ASSERT_TRUE(c.try_pop(out));
    EXPECT_EQ(out.seq, i);
  }
}

TEST(FixedRing, CorruptIndicesAreReportedNotFollowed) {
  Segment seg = make_segment(8);
  auto c = seg.request_consumer<E16>(0);
  seg.request_ring(0)->head.store(1000);  // a broken peer claims 1000 entries in an 8-entry ring
  EXPECT_THROW(c.peek(1), Error);
}

}  // namespace
}  // namespace buddy::qp
