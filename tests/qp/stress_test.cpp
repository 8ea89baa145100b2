// Threaded stress of the SPSC rings: producer and consumer on two threads over small rings, so
// full/empty transitions and wrap-arounds happen constantly. Runs under TSan in ./buddy test.
#include <gtest/gtest.h>

#include <thread>

#include "echo_peers.hpp"

namespace buddy::qp::testing {
namespace {

constexpr auto kTimeout = std::chrono::seconds(300);

TEST(Stress, FixedRingsTwoThreads) {
  const std::uint64_t n = buddy::testing::soak(2'000'000) / kScale;
  Segment seg = Segment::create(unique_name("stress-fixed"), fixed_echo_layout(64));
  PeerResult side_b;
  std::thread t(
      [&] { side_b = fixed_responder(seg.responder<Req32, Resp16>(0), n, 48, kTimeout); });
  PeerResult side_a = fixed_requester(seg.requester<Req32, Resp16>(0), n, 48, kTimeout);
  t.join();
  ASSERT_TRUE(side_a.ok) << side_a.why;
  ASSERT_TRUE(side_b.ok) << side_b.why;
  EXPECT_EQ(side_a.count, n);
  EXPECT_EQ(side_a.checksum, side_b.checksum);
}

TEST(Stress, RecordRingTwoThreads) {
  const std::uint64_t n = buddy::testing::soak(500'000) / kScale;
  Segment seg = Segment::create(unique_name("stress-rec"), record_echo_layout(4096, 64));
  const std::uint64_t max_len = max_record_bytes(4096);
  PeerResult side_b;
  std::thread t([&] {
    side_b = record_responder(seg.responder<Record, Resp16>(0), n, max_len, 16, kTimeout);
  });
  PeerResult side_a = record_requester(seg.requester<Record, Resp16>(0), n, max_len, 16, kTimeout);
  t.join();
  ASSERT_TRUE(side_a.ok) << side_a.why;
  ASSERT_TRUE(side_b.ok) << side_b.why;
  EXPECT_EQ(side_a.count, n);
  EXPECT_EQ(side_a.checksum, side_b.checksum);
}

TEST(Stress, ManyQueuePairsInOneSegment) {
  // Four independent pairs driven concurrently: no cross-talk between neighbouring rings.
  const std::uint64_t n = buddy::testing::soak(200'000) / kScale;
  SegmentLayout l = fixed_echo_layout(128);
  l.queue_pairs = 4;
  Segment seg = Segment::create(unique_name("stress-qps"), l);
  std::vector<PeerResult> a(4), b(4);
  std::vector<std::thread> ts;
  for (std::uint32_t q = 0; q < 4; ++q) {
    ts.emplace_back(
        [&, q] { b[q] = fixed_responder(seg.responder<Req32, Resp16>(q), n, 32, kTimeout); });
    ts.emplace_back(
        [&, q] { a[q] = fixed_requester(seg.requester<Req32, Resp16>(q), n, 32, kTimeout); });
  }
  for (auto& t : ts) t.join();
  for (std::uint32_t q = 0; q < 4; ++q) {
    ASSERT_TRUE(a[q].ok) << "qp " << q << ": " << a[q].why;
    ASSERT_TRUE(b[q].ok) << "qp " << q << ": " << b[q].why;
    EXPECT_EQ(a[q].checksum, b[q].checksum);
  }
}

}  // namespace
}  // namespace buddy::qp::testing
