// The host PE across an engine restart (docs/kv-designs.md, "Engine restart"): when the queue
// pairs' epoch moves on, the PE empties its pairs (KvQueue::reset_pair) and reopens its ends, so
// nothing the dead CE published but the PE had not taken, and nothing it half wrote, is ever
// executed, and a new CE starts again at sequence 0. Once in one thread, step by step; then with
// the CE in a forked process killed with SIGKILL at random instants in the middle of its writes,
// the PE running on a thread all along.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "buddy/kv/serving/pe_worker.hpp"
#include "buddy/kv/store/hash.hpp"
#include "kv_peers.hpp"

namespace buddy::kv::serving {
namespace {

using namespace queue;
using namespace queue::testing;

kv::Request set_req(std::string_view k, std::string_view v) {
  return {Op::set, key_hash(k), k, v};
}
kv::Request get_req(std::string_view k) {
  return {Op::get, key_hash(k), k, {}};
}

// Polls one response from the CE end, stepping the PE (when given) until it comes.
KvResponse one_response(KvCeEnd& ce, PeWorker* pe, std::string& value) {
  KvResponse got;
  bool have = false;
  for (int i = 0; i < 100000 && !have; ++i) {
    if (pe != nullptr) pe->step();
    ce.poll(1, [&](const KvResponse& r) {
      got = r;
      value.assign(r.value);
      have = true;
    });
    if (!have && pe == nullptr) std::this_thread::yield();
  }
  EXPECT_TRUE(have) << "no response";
  return got;
}

// One pair of 64-KiB rings (small: they wrap and fill all the time), a one-partition store and
// a PE that follows `epoch`.
struct OnePair {
  explicit OnePair(const std::string& name)
      : q(KvQueue::create(name, layout())), store(store_config()) {
    pe.follow_epoch(&epoch, &q, {0});
  }
  static KvQueueLayout layout() {
    KvQueueLayout l;
    l.request_ring_bytes = 64u << 10;
    l.response_ring_bytes = 64u << 10;
    return l;
  }
  static StoreConfig store_config() {
    StoreConfig sc;
    sc.memory_bytes = 64u << 20;
    return sc;
  }
  KvQueue q;
  Store store;
  SharedCounters shared;
  std::atomic<std::uint32_t> epoch{1};
  PeWorker pe{ProcessingEngine(store, {0}), {q.pe(0)}, shared};
};

TEST(PeEpoch, ResetDropsWhatTheDeadEngineLeftAndANewEngineStartsAtZero) {
  OnePair f(cat("test-pe-epoch-", ::getpid()));
  KvQueue& q = f.q;
  Store& store = f.store;
  std::atomic<std::uint32_t>& epoch = f.epoch;
  PeWorker& pe = f.pe;
  EXPECT_EQ(pe.epoch(), 1u);

  std::string value;
  {
    KvCeEnd dead = q.ce(0);
    const kv::Request a = set_req("k", "v1");
    ASSERT_EQ(dead.push({&a, 1}), 1u);
    dead.publish();
    EXPECT_EQ(one_response(dead, &pe, value).status, wire::Status::ok);
    // Published but not taken yet, then half written (never published): both die with it.
    const kv::Request b = set_req("k", "published-not-taken");
    ASSERT_EQ(dead.push({&b, 1}), 1u);
    dead.publish();
    const kv::Request c = set_req("k", "half-written");
    ASSERT_EQ(dead.push({&c, 1}), 1u);
  }
  epoch.store(2);
  pe.step();
  EXPECT_EQ(pe.epoch(), 2u);
  EXPECT_EQ(store.partition(0).get(key_hash("k"), "k").value, "v1");

  KvCeEnd fresh = q.ce(0);
  EXPECT_EQ(fresh.pushed(), 0u);
  const kv::Request g = get_req("k");
  ASSERT_EQ(fresh.push({&g, 1}), 1u);
  fresh.publish();
  const KvResponse r = one_response(fresh, &pe, value);
  EXPECT_EQ(r.seq, 0u);
  EXPECT_EQ(r.status, wire::Status::ok);
  EXPECT_EQ(value, "v1");
  EXPECT_EQ(pe.counters().processed, 2u);  // the dead engine's first SET and this GET
}

// The child: a CE attached by name that SETs key i = "value-i" (padded to 40..2000 bytes) in
// batches as fast as it can, taking the answers, until it is killed.
[[noreturn]] void ce_child(const std::string& name, std::uint64_t first) {
  try {
    KvQueue q = KvQueue::attach(name, qp::AttachOptions{std::chrono::seconds(10)});
    KvCeEnd ce = q.ce(0);
    std::vector<std::string> keys, values;
    for (std::uint64_t i = first;; i += 16) {
      keys.clear();
      values.clear();
      for (std::uint64_t j = i; j < i + 16; ++j) {
        keys.push_back(cat("key-", j % 4096));
        values.push_back(cat("value-", j, "-", std::string(40 + j % 1960, 'x')));
      }
      std::vector<kv::Request> reqs;
      for (std::size_t j = 0; j < keys.size(); ++j) reqs.push_back(set_req(keys[j], values[j]));
      std::size_t done = 0;
      while (done < reqs.size()) {
        done += ce.push(std::span<const kv::Request>(reqs).subspan(done));
        ce.publish();
        ce.poll(256, [](const KvResponse&) {});
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "child: %s\n", e.what());
  }
  ::_exit(2);
}

TEST(PeEpoch, CeProcessKilledMidWriteFiveTimes) {
  const std::string name = cat("test-pe-epoch-kill-", ::getpid());
  OnePair f(name);
  KvQueue& q = f.q;
  SharedCounters& shared = f.shared;
  std::atomic<std::uint32_t>& epoch = f.epoch;
  PeWorker& pe = f.pe;
  std::atomic<bool> stop{false};
  std::thread pe_thread([&] { pe.run(stop); });

  // A new epoch once the pairs' user is gone (as the server does before each engine starts).
  auto bump = [&] {
    const std::uint32_t e = epoch.load() + 1;
    epoch.store(e);
    for (int i = 0; i < 5000 && pe.epoch() != e; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return pe.epoch() == e;
  };
  std::mt19937_64 rng(7);
  for (std::uint32_t round = 0; round < 5; ++round) {
    ASSERT_TRUE(bump());
    std::fflush(nullptr);
    ChildGuard child{::fork()};
    ASSERT_GE(child.pid, 0);
    if (child.pid == 0) ce_child(name, round * 1000003);
    // Let it run until some writes went through, then kill it at a random instant.
    const std::uint64_t before = shared.read().processed;
    for (int i = 0; i < 2000 && shared.read().processed < before + 1000; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
    ::kill(child.pid, SIGKILL);
    const int st = child.wait_status();
    ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << "child status " << st;
    ASSERT_TRUE(bump());

    // The next engine: sequence 0 again, and every key holds a whole value the dead one wrote.
    KvCeEnd ce = q.ce(0);
    std::string value;
    for (std::uint64_t k = 0; k < 4096; k += 97) {
      const std::string key = cat("key-", k);
      const kv::Request g = get_req(key);
      ASSERT_EQ(ce.push({&g, 1}), 1u);
      ce.publish();
      const KvResponse r = one_response(ce, nullptr, value);
      ASSERT_EQ(r.seq, ce.responded() - 1);
      if (r.status == wire::Status::not_found) continue;
      ASSERT_EQ(r.status, wire::Status::ok);
      const std::size_t dash = value.find('-', 6);
      ASSERT_TRUE(value.rfind("value-", 0) == 0 && dash != std::string::npos) << value;
      const std::uint64_t j = std::stoull(value.substr(6, dash - 6));
      EXPECT_EQ(j % 4096, k);
      EXPECT_EQ(value, cat("value-", j, "-", std::string(40 + j % 1960, 'x')));
    }
  }
  stop.store(true);
  pe_thread.join();
  EXPECT_GT(shared.read().processed, 5000u);
}

}  // namespace
}  // namespace buddy::kv::serving
