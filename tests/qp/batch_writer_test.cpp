// qp::BatchWriter: batch records (an open record that grows) on a record ring, read back with
// qp::RecordConsumer. Wrapping batches, exactly full rings, growth after the consumer moves, the
// record cap, visibility only on publish, the prefix patch, and corrupt rings still caught.
#include "buddy/qp/batch_writer.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "buddy/qp/backoff.hpp"
#include "buddy/qp/segment.hpp"
#include "test_util.hpp"

namespace buddy::qp {
namespace {

using testing::unique_name;

Segment make_segment(std::uint64_t bytes) {
  SegmentLayout l;
  l.request = RingSpec::records(bytes);
  l.response = RingSpec::records(bytes);
  return Segment::create(unique_name("batch"), l);
}

std::uint64_t used_bytes(const Segment& seg) {
  const RingHeader* h = seg.request_ring(0);
  return h->head.load() - h->tail.load();
}

// Appends `n` bytes of value v; false if the writer had no room.
bool put(BatchWriter& w, std::size_t n, std::uint8_t v) {
  std::byte* p = w.append(n);
  if (p == nullptr) return false;
  std::memset(p, v, n);
  return true;
}

// The payloads of every published record, consumed and released.
std::vector<std::vector<std::byte>> drain(RecordConsumer& c) {
  std::vector<std::vector<std::byte>> out;
  c.consume(SIZE_MAX, [&](std::span<const std::byte> r) { out.emplace_back(r.begin(), r.end()); });
  return out;
}

TEST(BatchWriter, AppendsGrowOneRecordVisibleOnlyOnPublish) {
  Segment seg = make_segment(1024);
  BatchWriter w(seg.request_producer<Record>(0), 4096);
  auto c = seg.request_consumer<Record>(0);
  EXPECT_EQ(w.max_append(), 1024u / 2 - 8);
  ASSERT_TRUE(put(w, 5, 1));
  ASSERT_TRUE(put(w, 3, 2));
  ASSERT_TRUE(put(w, 16, 3));
  EXPECT_EQ(w.appends(), 3u);
  EXPECT_FALSE(c.front().has_value()) << "nothing is visible before publish";
  EXPECT_EQ(w.close(), 24u);
  EXPECT_FALSE(c.front().has_value()) << "a closed record is not visible before publish either";
  EXPECT_EQ(seg.request_ring(0)->head.load(), 0u) << "the shared head moves only on publish";
  w.publish();
  EXPECT_EQ(seg.request_ring(0)->head.load(), 8u + 24u);
  const auto recs = drain(c);
  ASSERT_EQ(recs.size(), 1u) << "three appends, one record";
  ASSERT_EQ(recs[0].size(), 24u);
  EXPECT_EQ(recs[0][0], std::byte{1});
  EXPECT_EQ(recs[0][5], std::byte{2});
  EXPECT_EQ(recs[0][8], std::byte{3});
  EXPECT_EQ(recs[0][23], std::byte{3});
}

TEST(BatchWriter, PrefixIsPatchedAtCloseWithTheAppendCount) {
  Segment seg = make_segment(1024);
  BatchWriter w(seg.request_producer<Record>(0), 4096, 8);
  auto c = seg.request_consumer<Record>(0);
  EXPECT_EQ(w.max_append(), 1024u / 2 - 8 - 8);
  const auto patch = [](std::byte* first, std::uint32_t n) {
    const std::uint32_t h[2] = {n, 0xABCDu};
    std::memcpy(first, h, sizeof h);
  };
  for (int i = 0; i < 3; ++i) {
    std::byte* p = w.append(8, patch);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0x40 + i, 8);
  }
  w.publish(patch);
  const auto recs = drain(c);
  ASSERT_EQ(recs.size(), 1u);
  ASSERT_EQ(recs[0].size(), 8u + 3 * 8);
  std::uint32_t h[2];
  std::memcpy(h, recs[0].data(), sizeof h);
  EXPECT_EQ(h[0], 3u);
  EXPECT_EQ(h[1], 0xABCDu);
  EXPECT_EQ(recs[0][8], std::byte{0x40});
  EXPECT_EQ(recs[0][31], std::byte{0x42});
}

TEST(BatchWriter, CapIsRespectedAndALargerAppendGetsItsOwnRecord) {
  Segment seg = make_segment(4096);
  BatchWriter w(seg.request_producer<Record>(0), 64);
  auto c = seg.request_consumer<Record>(0);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(put(w, 24, static_cast<std::uint8_t>(i)));
  ASSERT_TRUE(put(w, 200, 0xEE));  // over the cap: a record of its own
  ASSERT_TRUE(put(w, 24, 0x77));
  w.publish();
  const auto recs = drain(c);
  // 24-B appends: two fit a 64-B record (48 B), so 10 records, then the large one, then one.
  ASSERT_EQ(recs.size(), 12u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(recs[i].size(), 48u) << "record " << i;
  EXPECT_EQ(recs[10].size(), 200u);
  EXPECT_EQ(recs[10][199], std::byte{0xEE});
  EXPECT_EQ(recs[11].size(), 24u);
}

TEST(BatchWriter, ExactlyFullRingRefusesUntilTheConsumerPublishes) {
  Segment seg = make_segment(256);
  BatchWriter w(seg.request_producer<Record>(0), 4096);  // cap: max_record() = 120
  auto c = seg.request_consumer<Record>(0);
  int appended = 0;
  while (put(w, 8, static_cast<std::uint8_t>(appended))) ++appended;
  EXPECT_EQ(appended, 30) << "two records of 15 x 8 B (128 B each with the header)";
  w.publish();
  EXPECT_EQ(used_bytes(seg), 256u) << "the ring is exactly full";
  EXPECT_EQ(w.append(8), nullptr);
  auto r = c.front();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->size(), 120u);
  c.pop();
  EXPECT_EQ(w.append(8), nullptr) << "consumed but unpublished space is not free yet";
  c.publish();
  ASSERT_TRUE(put(w, 8, 0x55)) << "free after the consumer publishes";
  w.publish();
  const auto recs = drain(c);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].size(), 120u);
  ASSERT_EQ(recs[1].size(), 8u);
  EXPECT_EQ(recs[1][0], std::byte{0x55});
}

TEST(BatchWriter, OpenRecordGrowsOnceTheConsumerMoves) {
  Segment seg = make_segment(1024);
  auto raw = seg.request_producer<Record>(0);
  auto c = seg.request_consumer<Record>(0);
  // Four 256-B records (248 B of payload each) fill the ring; the reader releases the first.
  std::vector<std::byte> filler(248);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(raw.try_push(filler.data(), filler.size()));
  ASSERT_TRUE(c.front().has_value());
  c.pop();
  c.publish();
  ASSERT_TRUE(raw.try_push(filler.data(), filler.size()));
  BatchWriter w(raw, 4096);  // opens at offset 0 with 256 B free in front of the reader
  ASSERT_TRUE(put(w, 200, 1));
  ASSERT_TRUE(put(w, 40, 2));
  EXPECT_EQ(w.try_append(16), nullptr) << "248 B of room; try_append never opens a record";
  ASSERT_TRUE(c.front().has_value());
  c.pop();
  c.publish();
  std::byte* p = w.try_append(16);
  ASSERT_NE(p, nullptr) << "re-reading the consumer index lets the open record grow";
  std::memset(p, 3, 16);
  w.publish();
  const auto recs = drain(c);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].size(), 248u);
  EXPECT_EQ(recs[1].size(), 248u);
  ASSERT_EQ(recs[2].size(), 256u) << "the three appends are one record";
  EXPECT_EQ(recs[2][239], std::byte{2});
  EXPECT_EQ(recs[2][240], std::byte{3});
}

TEST(BatchWriter, ARecordThatFitsOnlyAfterTheConsumerMovesWrapsThen) {
  Segment seg = make_segment(256);
  auto raw = seg.request_producer<Record>(0);
  auto c = seg.request_consumer<Record>(0);
  std::vector<std::byte> filler(104);
  ASSERT_TRUE(raw.try_push(filler.data(), filler.size()));  // [0, 112)
  ASSERT_TRUE(raw.try_push(filler.data(), filler.size()));  // [112, 224)
  BatchWriter w(raw, 4096);
  // 32 B left before the end: 100 B (a 112-B record) go to offset 0 after a wrap marker, which
  // needs 32 + 112 B free: exactly what the reader releases with the first record.
  EXPECT_EQ(w.append(100), nullptr);
  ASSERT_TRUE(c.front().has_value());
  c.pop();
  c.publish();
  ASSERT_TRUE(put(w, 100, 9));
  w.publish();
  EXPECT_EQ(seg.request_ring(0)->head.load(), 224u + 32u + 112u)
      << "a wrap marker sent the record to offset 0";
  EXPECT_EQ(used_bytes(seg), 256u) << "the ring is exactly full";
  const auto recs = drain(c);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].size(), 104u);
  ASSERT_EQ(recs[1].size(), 100u);
  EXPECT_EQ(recs[1][99], std::byte{9});
}

TEST(BatchWriter, RandomBatchesWrapAroundInOrder) {
  for (const std::uint64_t cap : {std::uint64_t{64}, std::uint64_t{4096}}) {
    Segment seg = make_segment(2048);
    BatchWriter w(seg.request_producer<Record>(0), cap, 8);
    auto c = seg.request_consumer<Record>(0);
    std::mt19937_64 rng(cap);
    std::deque<std::pair<std::uint64_t, std::size_t>> expected;  // (piece, size) in order
    std::uint64_t next = 0, got = 0, records = 0;
    const auto patch = [&](std::byte* first, std::uint32_t n) {
      const std::uint64_t first_piece = next - n;  // `next` is one past the record's last piece
      std::memcpy(first, &first_piece, sizeof first_piece);
    };
    const auto check = [&](std::span<const std::byte> rec) {
      ASSERT_GE(rec.size(), 8u);
      std::uint64_t first_piece;
      std::memcpy(&first_piece, rec.data(), 8);
      ASSERT_EQ(first_piece, got);
      std::size_t at = 8, pieces = 0;
      while (at < rec.size()) {
        ASSERT_FALSE(expected.empty());
        const auto [piece, len] = expected.front();
        expected.pop_front();
        ASSERT_LE(at + len, rec.size()) << "piece " << piece;
        for (std::size_t i = 0; i < len; ++i) {
          ASSERT_EQ(rec[at + i], static_cast<std::byte>(testing::mix(piece + i) & 0xff));
        }
        at += len;
        ++got;
        ++pieces;
      }
      ASSERT_GE(pieces, 1u);
      if (rec.size() > cap) {
        ASSERT_EQ(pieces, 1u) << "a record over the cap holds one piece";
      }
      ++records;
    };
    for (int round = 0; round < 5000; ++round) {
      const int n = static_cast<int>(rng() % 12);
      for (int i = 0; i < n; ++i) {
        const std::size_t len = rng() % 16 == 0 ? 1 + rng() % w.max_append() : 1 + rng() % 40;
        std::byte* p = w.append(len, patch);
        if (p == nullptr) break;
        for (std::size_t k = 0; k < len; ++k) {
          p[k] = static_cast<std::byte>(testing::mix(next + k) & 0xff);
        }
        expected.emplace_back(next++, len);
      }
      if (rng() % 3 != 0) w.publish(patch);
      c.consume(rng() % 4, check);
    }
    w.publish(patch);
    c.consume(SIZE_MAX, check);
    EXPECT_TRUE(expected.empty());
    EXPECT_EQ(got, next);
    EXPECT_GT(next, 10000u);
    EXPECT_GT(seg.request_ring(0)->head.load() / 2048, 100u) << "the ring wrapped often";
    EXPECT_LT(records, next) << "records carry several pieces";
  }
}

TEST(BatchWriter, EmptyRecordIsAbandonedAndZeroByteAppendsAreRecords) {
  Segment seg = make_segment(256);
  BatchWriter w(seg.request_producer<Record>(0), 64);
  auto c = seg.request_consumer<Record>(0);
  EXPECT_EQ(w.try_append(0), nullptr) << "no record is open";
  ASSERT_TRUE(w.open(16));
  EXPECT_TRUE(w.is_open());
  EXPECT_EQ(w.close(), 0u) << "an open record without appends is dropped";
  w.publish();
  EXPECT_FALSE(c.front().has_value());
  ASSERT_NE(w.append(0), nullptr);
  w.publish();
  auto r = c.front();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->size(), 0u);
}

TEST(BatchWriter, MisuseAndOversizeAreErrors) {
  Segment seg = make_segment(256);
  BatchWriter w(seg.request_producer<Record>(0), 64, 8);
  try {
    w.append(w.max_append() + 1);
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("never fits this ring"), std::string::npos) << e.what();
  }
  ASSERT_NE(w.append(w.max_append()), nullptr) << "the maximum itself fits an empty ring";
  EXPECT_THROW(w.open(8), std::logic_error) << "open with a record open";
  EXPECT_THROW(BatchWriter(seg.request_producer<Record>(0), 64, 120), Error)
      << "a prefix that leaves no room";
}

TEST(BatchWriter, CorruptRecordsAreStillCaughtByTheReader) {
  Segment seg = make_segment(256);
  BatchWriter w(seg.request_producer<Record>(0), 4096);
  auto c = seg.request_consumer<Record>(0);
  ASSERT_TRUE(put(w, 16, 1));
  w.publish();
  std::byte* data = Segment::ring_data(seg.request_ring(0));
  const std::uint32_t past_published = 40;  // 8 + 40 > the 24 B published
  std::memcpy(data, &past_published, 4);
  EXPECT_THROW(c.front(), Error);
  const std::uint32_t over_max = 1000;
  std::memcpy(data, &over_max, 4);
  EXPECT_THROW(c.front(), Error);
}

TEST(BatchWriter, TwoThreadsInOrder) {
  // A producer thread appending through the writer while a consumer thread reads: full and
  // empty transitions, growth and wraps all the time (TSan in ./buddy test).
  const std::uint64_t n = 400'000 / testing::kScale;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  const auto piece_len = [](std::uint64_t i) -> std::size_t { return 8 + 8 * (i % 5); };
  Segment seg = make_segment(1024);
  BatchWriter w(seg.request_producer<Record>(0), 256);
  auto c = seg.request_consumer<Record>(0);
  std::thread producer([&] {
    Backoff backoff;
    for (std::uint64_t i = 0; i < n && std::chrono::steady_clock::now() < deadline;) {
      const std::size_t len = piece_len(i);
      std::byte* p = w.append(len);
      if (p == nullptr) {
        w.publish();
        backoff.pause();
        continue;
      }
      backoff.reset();
      for (std::size_t k = 0; k < len; k += 8) std::memcpy(p + k, &i, 8);
      ++i;
      if (i % 7 == 0) w.publish();
    }
    w.publish();
  });
  std::uint64_t seen = 0, bad = 0;
  Backoff backoff;
  while (seen < n && std::chrono::steady_clock::now() < deadline) {
    const std::size_t got = c.consume(16, [&](std::span<const std::byte> rec) {
      for (std::size_t at = 0; at < rec.size(); ++seen) {
        const std::size_t len = piece_len(seen);
        std::uint64_t first = 0, last = 0;
        if (at + len > rec.size()) {
          ++bad;
          break;
        }
        std::memcpy(&first, rec.data() + at, 8);
        std::memcpy(&last, rec.data() + at + len - 8, 8);
        bad += first != seen || last != seen;
        at += len;
      }
    });
    if (got == 0) {
      backoff.pause();
    } else {
      backoff.reset();
    }
  }
  producer.join();
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(seen, n);
}

}  // namespace
}  // namespace buddy::qp
