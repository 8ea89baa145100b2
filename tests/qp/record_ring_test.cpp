#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <string>
#include <vector>

#include "buddy/qp/segment.hpp"
#include "test_util.hpp"

namespace buddy::qp {
namespace {

using testing::unique_name;

Segment make_segment(std::uint64_t bytes) {
  SegmentLayout l;
  l.request = RingSpec::records(bytes);
  l.response = RingSpec::records(bytes);
  return Segment::create(unique_name("rec"), l);
}

std::vector<std::byte> pattern(std::uint64_t seq, std::size_t len) {
  std::vector<std::byte> v(len);
  for (std::size_t i = 0; i < len; ++i) {
    v[i] = static_cast<std::byte>(testing::mix(seq * 131 + i) & 0xff);
  }
  return v;
}

TEST(RecordRing, PushPopSmallAndEmpty) {
  Segment seg = make_segment(256);
  auto p = seg.request_producer<Record>(0);
  auto c = seg.request_consumer<Record>(0);
  EXPECT_FALSE(c.front().has_value());
  const std::string a = "hello", b;
  ASSERT_TRUE(p.try_push(a.data(), a.size()));
  ASSERT_TRUE(p.try_push(b.data(), 0));  // zero-length records are legal
  auto r = c.front();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(r->data()), r->size()), a);
  c.pop();
  r = c.front();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->size(), 0u);
  c.pop();
  EXPECT_FALSE(c.front().has_value());
}

TEST(RecordRing, TooLargeRecordIsRejectedWithError) {
  Segment seg = make_segment(1024);
  auto p = seg.request_producer<Record>(0);
  EXPECT_EQ(p.max_record(), 1024u / 2 - 8);
  std::vector<std::byte> big(p.max_record() + 1);
  try {
    p.try_push(big.data(), big.size());
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the maximum"), std::string::npos) << e.what();
  }
  std::vector<std::byte> max(p.max_record());
  EXPECT_TRUE(p.try_push(max.data(), max.size())) << "the maximum itself fits in an empty ring";
}

TEST(RecordRing, FullRingRefusesUntilConsumed) {
  Segment seg = make_segment(128);
  auto p = seg.request_producer<Record>(0);
  auto c = seg.request_consumer<Record>(0);
  std::byte buf[24]{};
  int pushed = 0;
  while (p.try_push(buf, sizeof buf)) ++pushed;
  EXPECT_EQ(pushed, 4) << "128 B / (8 header + 24 payload)";
  ASSERT_TRUE(c.front().has_value());
  c.pop();
  EXPECT_FALSE(p.try_push(buf, sizeof buf)) << "consumed but unpublished space is not free yet";
  c.publish();
  EXPECT_TRUE(p.try_push(buf, sizeof buf));
}

TEST(RecordRing, MaxRecordAlwaysFitsAtEveryOffset) {
  // For every start offset, an empty ring must take a record of max_record() bytes (possibly
  // after a wrap marker): the guarantee that makes max_record() the true limit.
  Segment seg = make_segment(256);
  auto p = seg.request_producer<Record>(0);
  auto c = seg.request_consumer<Record>(0);
  std::vector<std::byte> max(p.max_record(), std::byte{7});
  for (int shift = 0; shift < 64; ++shift) {
    ASSERT_TRUE(p.try_push(max.data(), max.size())) << "shift " << shift;
    auto r = c.front();
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->size(), max.size());
    c.pop();
    c.publish();
    // Move the start offset by 8 bytes (a zero-length record).
    ASSERT_TRUE(p.try_push(nullptr, 0));
    ASSERT_TRUE(c.front().has_value());
    c.pop();
    c.publish();
  }
}

TEST(RecordRing, RandomSizesWrapAroundInOrder) {
  Segment seg = make_segment(4096);
  auto p = seg.request_producer<Record>(0);
  auto c = seg.request_consumer<Record>(0);
  std::mt19937_64 rng(7);
  std::deque<std::pair<std::uint64_t, std::size_t>> expected;
  std::uint64_t seq = 0, got = 0;
  for (int round = 0; round < 20000; ++round) {
    // Producer: a batch of random-size records, one publish.
    const int n = static_cast<int>(rng() % 8);
    for (int i = 0; i < n; ++i) {
      const std::size_t len = rng() % 4 == 0 ? rng() % (p.max_record() + 1) : rng() % 64;
      auto data = pattern(seq, len);
      if (!p.try_append(data.data(), len)) break;
      expected.emplace_back(seq++, len);
    }
    p.publish();
    // Consumer: a random number of records, verified byte for byte.
    const std::size_t m = rng() % 8;
    c.consume(m, [&](std::span<const std::byte> rec) {
      ASSERT_FALSE(expected.empty());
      auto [s, len] = expected.front();
      expected.pop_front();
      ASSERT_EQ(rec.size(), len) << "record " << s;
      auto want = pattern(s, len);
      ASSERT_TRUE(std::equal(rec.begin(), rec.end(), want.begin())) << "record " << s;
      ++got;
    });
  }
  c.consume(SIZE_MAX, [&](std::span<const std::byte> rec) {
    ASSERT_EQ(rec.size(), expected.front().second);
    expected.pop_front();
    ++got;
  });
  EXPECT_TRUE(expected.empty());
  EXPECT_EQ(got, seq);
  EXPECT_GT(seq, 20000u);
}

TEST(RecordRing, ReserveLargerCommitSmaller) {
  Segment seg = make_segment(512);
  auto p = seg.request_producer<Record>(0);
  auto c = seg.request_consumer<Record>(0);
  std::byte* w = p.reserve(100);
  ASSERT_NE(w, nullptr);
  std::memcpy(w, "abc", 3);
  p.commit(3);
  EXPECT_THROW(p.commit(4), Error) << "commit without a reservation";
  EXPECT_THROW(p.commit(0), Error) << "commit without a reservation, even of nothing";
  ASSERT_NE(p.reserve(10), nullptr);
  EXPECT_THROW(p.commit(11), Error) << "commit longer than the reservation";
  p.publish();
  auto r = c.front();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->size(), 3u);
}

TEST(RecordRing, CorruptLengthIsReported) {
  Segment seg = make_segment(256);
  auto p = seg.request_producer<Record>(0);
  auto c = seg.request_consumer<Record>(0);
  ASSERT_TRUE(p.try_push("xy", 2));
  const std::uint32_t bogus = 5000;
  std::memcpy(Segment::ring_data(seg.request_ring(0)), &bogus, 4);
  EXPECT_THROW(c.front(), Error);
}

TEST(RecordRing, TypeMismatchWithFixedRingIsAnError) {
  Segment seg = make_segment(256);
  struct E16 {
    std::uint64_t a, b;
  };
  EXPECT_THROW(seg.request_producer<E16>(0), Error);
}

}  // namespace
}  // namespace buddy::qp
