// buddy::msg_engine::delivery: records go straight into an app rank's inbound ring while it has
// room and wait in the engine's holdback (in order, never blocking) while it is full.
#include "buddy/msg_engine/detail/delivery.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "buddy/msg/transport/error.hpp"
#include "buddy/msg/transport/offload_link.hpp"
#include "buddy/msg/transport/wire.hpp"
#include "buddy/qp/backoff.hpp"
#include "buddy/qp/segment.hpp"
#include "buddy_test_util.hpp"

namespace buddy::msg_engine::detail {
namespace {

qp::Segment make_segment(const char* what, std::size_t ring_kb) {
  return qp::Segment::create(buddy::testing::unique_name(what),
                             msg::offload::segment_layout(ring_kb));
}

// Payload of record i: its index, then (i % 7) * 8 filler bytes of value i.
std::vector<std::byte> payload_of(std::uint64_t i) {
  std::vector<std::byte> p(8 + (i % 7) * 8, static_cast<std::byte>(i));
  std::memcpy(p.data(), &i, 8);
  return p;
}

// Checks the wire records of one ring record against payload_of(next), payload_of(next + 1)...
void expect_records(std::span<const std::byte> rec, std::uint32_t dest, std::uint64_t& next) {
  msg::wire::for_each_record(rec.data(), rec.size(), 1000, [&](const msg::wire::record& r) {
    EXPECT_EQ(r.dest, dest);
    const auto expected = payload_of(next);
    ASSERT_EQ(r.length, expected.size()) << "record " << next;
    EXPECT_EQ(std::memcmp(r.payload, expected.data(), r.length), 0) << "record " << next;
    ++next;
  });
}

TEST(Delivery, FullRingHoldsBackInOrderWithoutBlocking) {
  qp::Segment seg = make_segment("delivery-hold", 16);  // 16 KiB rings
  delivery d(seg.response_producer<qp::Record>(0));
  qp::RecordConsumer rank = seg.response_consumer<qp::Record>(0);
  constexpr std::uint64_t n = 2000;  // ~100 KB: far more than the ring holds
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto p = payload_of(i);
    d.deliver(3, static_cast<std::uint32_t>(p.size()), p.data());
  }
  d.publish();
  EXPECT_TRUE(d.holding());
  EXPECT_GT(d.counters().held, 0u);
  EXPECT_EQ(d.counters().records, n);
  std::uint64_t next = 0;
  while (next < n) {
    const std::uint64_t before = next;
    while (auto rec = rank.front()) {
      expect_records(*rec, 3, next);
      rank.pop();
    }
    rank.publish();
    d.retry();
    d.publish();
    ASSERT_GT(next, before) << "no progress";
  }
  EXPECT_FALSE(d.holding());
  EXPECT_EQ(d.held_bytes(), 0u);
  EXPECT_FALSE(rank.front().has_value());
}

TEST(Delivery, RecordThatCanNeverFitIsAnError) {
  qp::Segment seg = make_segment("delivery-big", 16);
  delivery d(seg.response_producer<qp::Record>(0));
  std::vector<std::byte> big(16 * 1024);
  EXPECT_THROW(d.deliver(0, static_cast<std::uint32_t>(big.size()), big.data()), msg::error);
  EXPECT_EQ(d.counters().records, 0u);
}

// The engine thread delivers while the rank thread consumes at its own pace: every record
// arrives exactly once, in order, whatever the interleaving.
TEST(Delivery, ConcurrentRankReceivesEverythingOnceInOrder) {
  qp::Segment seg = make_segment("delivery-conc", 16);
  const std::uint64_t n = 200000 / static_cast<std::uint64_t>(buddy::testing::kScale);
  std::atomic<bool> failed{false};
  std::thread rank_thread([&] {
    qp::RecordConsumer rank = seg.response_consumer<qp::Record>(0);
    qp::Backoff backoff;
    std::uint64_t next = 0;
    while (next < n && !failed) {
      bool any = false;
      while (auto rec = rank.front()) {
        msg::wire::for_each_record(rec->data(), rec->size(), 1000, [&](const msg::wire::record& r) {
          std::uint64_t got;
          std::memcpy(&got, r.payload, 8);
          if (got != next) failed = true;
          ++next;
        });
        rank.pop();
        any = true;
        std::this_thread::yield();  // a slow rank: the ring fills up
      }
      rank.publish();
      if (any) {
        backoff.reset();
      } else {
        backoff.pause();
      }
    }
  });
  delivery d(seg.response_producer<qp::Record>(0));
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto p = payload_of(i);
    d.deliver(1, static_cast<std::uint32_t>(p.size()), p.data());
    if (i % 64 == 0) {
      d.retry();
      d.publish();
    }
  }
  qp::Backoff backoff;
  while (d.holding() && !failed) {
    if (d.retry()) {
      backoff.reset();
    } else {
      backoff.pause();
    }
    d.publish();
  }
  d.publish();
  rank_thread.join();
  EXPECT_FALSE(failed.load()) << "a record arrived out of order or twice";
  EXPECT_EQ(d.counters().records, n);
}

}  // namespace
}  // namespace buddy::msg_engine::detail
