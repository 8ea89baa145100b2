// CE and PE in two OS processes sharing nothing but the named segment: the parent creates it and
// plays the CE (model-checked, every response), the forked child attaches by name (a fresh
// mapping, as buddykv-engine will) and plays the PE over a real kv::Store partition. At least 1 M
// mixed GET/SET/DELETE requests of random key (1..255 B) and value (0..64 KiB) sizes in the
// release build, through rings small enough to wrap and fill all the time.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "buddy/kv/store/store.hpp"
#include "kv_peers.hpp"

namespace buddy::kv::queue::testing {
namespace {

struct ChildFigures {
  std::uint64_t served, batches, spill_waits;
};

void two_process_run(const KvQueueLayout& layout, const Workload& w) {
  const std::string name = cat("test-kvq-2p-", ::getpid(), "-", layout.request_ring_bytes);
  KvQueue q = KvQueue::create(name, layout);

  std::fflush(nullptr);
  ChildGuard child{::fork()};
  ASSERT_GE(child.pid, 0);
  if (child.pid == 0) {
    int code = 0;
    try {
      KvQueue mine = KvQueue::attach(name, layout, qp::AttachOptions{std::chrono::seconds(10)});
      StoreConfig sc;
      sc.memory_bytes = 512u << 20;
      Store store(sc);
      KvPeEnd pe = mine.pe(0);
      const PeReport r = run_pe(pe, store.partition(0), w.requests, 256, w.timeout);
      if (!r.ok) {
        std::fprintf(stderr, "child: %s\n", r.why.c_str());
        code = 1;
      }
      const ChildFigures f{r.served, r.batches, r.spill_waits};
      std::memcpy(mine.segment().user_header().data() + 16, &f, sizeof f);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      code = 2;
    }
    std::fflush(stderr);
    ::_exit(code);
  }

  KvCeEnd ce = q.ce(0);
  const CeReport r = run_ce(ce, w);
  ASSERT_TRUE(r.ok) << r.why;
  const int st = child.wait_status();
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child status " << st;
  ChildFigures f{};
  std::memcpy(&f, q.segment().user_header().data() + 16, sizeof f);
  EXPECT_EQ(r.requests, w.requests);
  EXPECT_EQ(f.served, w.requests);
  EXPECT_GT(r.hits, 0u);
  EXPECT_GT(r.misses, 0u);
  std::printf(
      "two processes: %llu requests (%llu GET: %llu hits, %llu misses; %llu SET; %llu DELETE), "
      "%.1f MB of values, %.2f s, %.2f Mreq/s; PE batches %llu (%.1f req/batch), "
      "PE rounds waiting on a full response ring %llu\n",
      static_cast<unsigned long long>(r.requests), static_cast<unsigned long long>(r.gets),
      static_cast<unsigned long long>(r.hits), static_cast<unsigned long long>(r.misses),
      static_cast<unsigned long long>(r.sets), static_cast<unsigned long long>(r.dels),
      r.value_bytes / 1e6, r.seconds, r.requests / r.seconds / 1e6,
      static_cast<unsigned long long>(f.batches),
      f.batches ? static_cast<double>(f.served) / f.batches : 0.0,
      static_cast<unsigned long long>(f.spill_waits));
}

TEST(KvQueueTwoProcess, OneMillionMixedRequestsCheckedAgainstAModel) {
  KvQueueLayout l;
  l.request_ring_bytes = 256u << 10;  // wraps every few hundred batches; values to 64 KiB fit
  l.response_ring_bytes = 256u << 10;
  Workload w;
  w.requests = buddy::testing::soak(1'000'000) / kScale;
  w.keys = 20'000;
  w.max_value = 64 * 1024;
  w.seed = 7;
  two_process_run(l, w);
}

TEST(KvQueueTwoProcess, TinyRingsAndSmallValues) {
  KvQueueLayout l;
  l.request_ring_bytes = 4096;
  l.response_ring_bytes = 2048;
  Workload w;
  w.requests = 200'000 / kScale;
  w.keys = 500;
  w.max_value = 900;  // below max_get_value() of a 2 KiB response ring (1000 B)
  w.max_batch = 200;
  w.seed = 11;
  two_process_run(l, w);
}

}  // namespace
}  // namespace buddy::kv::queue::testing
