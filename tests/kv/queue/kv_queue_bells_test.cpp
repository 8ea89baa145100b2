// The KV queue segment's doorbells (kv_queue.hpp, docs/protocol.md section 3 "Doorbells"): two
// per pair after the application's extra area, each on its own cache line, zero (awake) at
// creation, the same words in the creator's and an attacher's mapping; the application's extra
// area keeps its exact size through attach.
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>
#include <string>

#include "buddy/kv/queue/kv_queue.hpp"

namespace buddy::kv::queue::testing {
namespace {

std::string name(const char* what) {
  return std::string("test-kvq-bells-") + what + "-" + std::to_string(::getpid());
}

KvQueueLayout layout(std::uint32_t pairs, std::uint64_t extra) {
  KvQueueLayout l;
  l.queue_pairs = pairs;
  l.request_ring_bytes = 4096;
  l.response_ring_bytes = 4096;
  l.extra_bytes = extra;
  return l;
}

TEST(KvQueueBells, TwoPerPairAfterTheExtraAreaEachOnItsOwnLine) {
  const KvQueueLayout l = layout(3, 100);
  KvQueue q = KvQueue::create(name("lines"), l);
  EXPECT_EQ(q.extra().size(), 100u);
  const auto* extra_end = q.segment().extra().data() + q.segment().extra().size();
  std::set<const void*> seen;
  for (std::uint32_t i = 0; i < 3; ++i) {
    for (qp::Doorbell* b : {&q.request_bell(i), &q.response_bell(i)}) {
      const auto* p = reinterpret_cast<const std::byte*>(b);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % qp::kCacheLine, 0u);
      EXPECT_GE(p, q.extra().data() + q.extra().size());  // after the application's part
      EXPECT_LE(p + sizeof(qp::Doorbell), extra_end);
      EXPECT_EQ(b->word.load(), 0u);
      EXPECT_TRUE(seen.insert(p).second);
    }
  }
  EXPECT_THROW(q.request_bell(3), qp::Error);
  EXPECT_THROW(q.response_bell(3), qp::Error);
}

TEST(KvQueueBells, AnAttacherSeesTheSameWords) {
  const KvQueueLayout l = layout(2, 77);
  KvQueue host = KvQueue::create(name("attach"), l);
  KvQueue engine = KvQueue::attach(name("attach"));
  EXPECT_EQ(engine.layout(), l);
  EXPECT_EQ(engine.extra().size(), 77u);
  EXPECT_NO_THROW(KvQueue::attach(name("attach"), l));
  KvQueueLayout other = l;
  other.extra_bytes = 78;  // the same qp extra area (both round up to 128), not the same layout
  EXPECT_THROW(KvQueue::attach(name("attach"), other), qp::Error);

  qp::announce(engine.response_bell(1));  // the engine's CE of pair 1 says it sleeps
  EXPECT_EQ(host.response_bell(1).word.load(), 1u);
  EXPECT_EQ(host.request_bell(1).word.load(), 0u);
  EXPECT_FALSE(qp::ring(host.response_bell(0)));
  EXPECT_TRUE(qp::ring(host.response_bell(1)));  // the host's PE rings it
  EXPECT_EQ(qp::wait(engine.response_bell(1), std::chrono::seconds(10)), qp::SleepResult::woken);
}

}  // namespace
}  // namespace buddy::kv::queue::testing
