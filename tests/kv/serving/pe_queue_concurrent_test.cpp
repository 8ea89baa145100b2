// CE and PE in two threads of one process over one KV queue pair (and two pairs at once), with
// the PE going through ProcessingEngine over several partitions. Labelled `concurrent` so the
// TSan build runs it: the rings' index stores and loads are the only synchronisation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "buddy/kv/serving/processing_engine.hpp"
#include "kv_peers.hpp"

namespace buddy::kv::serving {
namespace {

using namespace queue;
using namespace queue::testing;

// The PE side over several partitions through ProcessingEngine (grouping by partition).
PeReport run_pe(KvPeEnd& pe, ProcessingEngine& eng, std::uint64_t n, std::size_t max_batch,
                std::chrono::seconds timeout) {
  std::vector<PeResult> results;
  ValueArena arena;
  return run_pe_loop(pe, n, timeout,
                     [&] { return serve_batch(eng, pe, max_batch, results, arena); });
}

TEST(PeQueueConcurrent, CeAndPeThreadsModelChecked) {
  const std::string name = cat("test-kvq-thr-", ::getpid());
  KvQueueLayout l;
  l.queue_pairs = 2;
  l.request_ring_bytes = 128u << 10;
  l.response_ring_bytes = 128u << 10;
  KvQueue q = KvQueue::create(name, l);
  StoreConfig sc;
  sc.memory_bytes = 256u << 20;
  sc.partitions = 4;
  Store store(sc);
  // Pair 0's PE owns partitions 0 and 2, pair 1's PE owns 1 and 3; each CE only sends keys of
  // its PE's partitions (as a real CE checks ownership first), so each key has one writer.
  Workload w;
  w.requests = 300'000 / kScale;
  w.keys = 5'000;
  w.max_value = 20'000;
  w.timeout = std::chrono::seconds(600);
  PeReport pe_rep[2];
  CeReport ce_rep[2];
  std::vector<std::thread> threads;
  for (std::uint32_t p = 0; p < 2; ++p) {
    threads.emplace_back([&, p] {
      ProcessingEngine eng(store, {p, p + 2});
      KvPeEnd pe = q.pe(p);
      pe_rep[p] = run_pe(pe, eng, w.requests, 128, w.timeout);
    });
  }
  for (std::uint32_t p = 0; p < 2; ++p) {
    threads.emplace_back([&, p] {
      KvCeEnd ce = q.ce(p);
      Workload mine = w;
      mine.seed = 100 + p;
      mine.key_filter = [&store, p](std::uint64_t hash) {
        return store.partition_of(hash) % 2 == p;
      };
      ce_rep[p] = run_ce(ce, mine);
    });
  }
  for (auto& t : threads) t.join();
  for (int p = 0; p < 2; ++p) {
    EXPECT_TRUE(ce_rep[p].ok) << "pair " << p << ": " << ce_rep[p].why;
    EXPECT_TRUE(pe_rep[p].ok) << "pair " << p << ": " << pe_rep[p].why;
    EXPECT_EQ(ce_rep[p].requests, w.requests);
    EXPECT_EQ(pe_rep[p].served, w.requests);
    EXPECT_GT(ce_rep[p].hits, 0u);
  }
  std::printf("threads: 2 pairs x %llu requests, %.2f s and %.2f s\n",
              static_cast<unsigned long long>(w.requests), ce_rep[0].seconds, ce_rep[1].seconds);
}

}  // namespace
}  // namespace buddy::kv::serving
