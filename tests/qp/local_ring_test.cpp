// qp::LocalRing: a process-local SPSC ring over FixedProducer/FixedConsumer, as threads of one
// process use it (the engine's handoff queues).
#include "buddy/qp/local_ring.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "buddy/qp/backoff.hpp"
#include "test_util.hpp"

namespace buddy::qp {
namespace {

TEST(LocalRing, CapacityIsAPowerOfTwoOfAtLeastTwo) {
  EXPECT_EQ(LocalRing<int>(0).capacity(), 2u);
  EXPECT_EQ(LocalRing<int>(2).capacity(), 2u);
  EXPECT_EQ(LocalRing<int>(3).capacity(), 4u);
  EXPECT_EQ(LocalRing<int>(256).capacity(), 256u);
  EXPECT_EQ(LocalRing<int>(257).capacity(), 512u);
}

TEST(LocalRing, FullEmptyAndWrapInOrder) {
  LocalRing<std::uint64_t> r(4);
  auto& p = r.producer();
  auto& c = r.consumer();
  std::uint64_t out = 0;
  EXPECT_FALSE(c.try_pop(out)) << "empty";
  std::uint64_t next_in = 0, next_out = 0;
  for (int round = 0; round < 10; ++round) {  // 10 x 3 entries through 4 slots: wraps
    while (p.try_push(next_in)) ++next_in;
    EXPECT_EQ(next_in - next_out, 4u) << "full at exactly the capacity";
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(c.try_pop(out));
      EXPECT_EQ(out, next_out++);
    }
  }
  while (c.try_pop(out)) EXPECT_EQ(out, next_out++);
  EXPECT_EQ(next_out, next_in);
  EXPECT_EQ(next_in, 4u + 9 * 3);
}

TEST(LocalRing, PointersBetweenTwoThreads) {
  // Ownership of heap objects moves through the ring and comes back through a second one, as the
  // engine's handoff does with its batches (TSan in ./buddy test).
  const std::uint64_t n = 200'000 / testing::kScale;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  LocalRing<std::vector<std::uint64_t>*> full(8), empty(8);
  std::uint64_t received = 0;  // in order; any entry out of order adds n
  std::thread consumer([&] {
    Backoff backoff;
    for (std::uint64_t& want = received; want < n && std::chrono::steady_clock::now() < deadline;) {
      std::vector<std::uint64_t>* v = nullptr;
      if (!full.consumer().try_pop(v)) {
        backoff.pause();
        continue;
      }
      backoff.reset();
      for (std::uint64_t x : *v) want += x == want ? 1 : n;  // out of order: stop counting
      v->clear();
      if (!empty.producer().try_push(v)) delete v;
    }
  });
  std::uint64_t sent = 0, allocated = 0;
  Backoff backoff;
  while (sent < n && std::chrono::steady_clock::now() < deadline) {
    std::vector<std::uint64_t>* v = nullptr;
    if (!empty.consumer().try_pop(v)) {
      v = new std::vector<std::uint64_t>;
      ++allocated;
    }
    for (int i = 0; i < 5 && sent < n; ++i) v->push_back(sent++);
    while (!full.producer().try_push(v) && std::chrono::steady_clock::now() < deadline) {
      backoff.pause();
    }
    backoff.reset();
  }
  consumer.join();
  std::vector<std::uint64_t>* v = nullptr;
  while (empty.consumer().try_pop(v)) delete v;
  while (full.consumer().try_pop(v)) delete v;
  EXPECT_EQ(sent, n);
  EXPECT_EQ(received, n) << "every entry once, in order";
  EXPECT_LT(allocated, n / 5) << "vectors come back and are reused";
}

}  // namespace
}  // namespace buddy::qp
