// Exactly-once writes in the processing engine: a duplicate of an applied write is answered from
// the client's window and never applied again (so an old SET replayed after a newer acknowledged
// one leaves the newer value), a write older than the window is refused too_old and never
// applied, GETs and unsequenced requests bypass the window, idle clients are forgotten and the
// table of clients stays bounded. Also through a KV queue pair: the tag crosses the ring.
#include <gtest/gtest.h>
#include <unistd.h>

#include <deque>
#include <string>
#include <vector>

#include "buddy/kv/serving/processing_engine.hpp"

namespace buddy::kv::serving {
namespace {

constexpr std::uint32_t kClient = wire::kAssignedClientBit | 42;

struct Fixture {
  Store store{[] {
    StoreConfig sc;
    sc.memory_bytes = 64u << 20;
    sc.partitions = 2;
    return sc;
  }()};
  ProcessingEngine pe{store, {0, 1}};
  std::deque<std::string> keep;  // backs the requests' views (stable addresses)

  kv::Request set(std::string_view key, std::string_view value, std::uint32_t client,
                  std::uint64_t seq) {
    const std::string& k = keep.emplace_back(key);
    const std::string& v = keep.emplace_back(value);
    return kv::Request{Op::set, wire::key_hash(k), k, v, client, seq};
  }
  kv::Request del(std::string_view key, std::uint32_t client, std::uint64_t seq) {
    const std::string& k = keep.emplace_back(key);
    return kv::Request{Op::del, wire::key_hash(k), k, {}, client, seq};
  }
  std::vector<PeResult> run(const std::vector<kv::Request>& reqs) {
    std::vector<PeResult> out(reqs.size());
    arena.clear();
    pe.execute(reqs, out, arena);
    return out;
  }
  wire::Status one(const kv::Request& r) { return run({r})[0].status; }
  std::string get(std::string_view key) {
    const std::string& k = keep.emplace_back(key);
    const auto out = run({kv::Request{Op::get, wire::key_hash(k), k, {}}});
    if (out[0].status != wire::Status::ok) {
      std::string s("<");
      s.append(to_string(out[0].status));
      s.push_back('>');
      return s;
    }
    return std::string(arena.view(out[0].value_off, out[0].value_len));
  }
  ValueArena arena;
};

TEST(WriteWindow, OldSetReplayedAfterANewerAcknowledgedOneChangesNothing) {
  Fixture f;
  EXPECT_EQ(f.one(f.set("k", "v1", kClient, 10)), wire::Status::ok);
  EXPECT_EQ(f.one(f.set("k", "v2", kClient, 11)), wire::Status::ok);  // acknowledged, newer
  // A delayed duplicate of the datagram of seq 10 arrives now.
  EXPECT_EQ(f.one(f.set("k", "v1", kClient, 10)), wire::Status::ok);  // its recorded answer
  EXPECT_EQ(f.get("k"), "v2");
  EXPECT_EQ(f.pe.replayed(), 1u);
}

TEST(WriteWindow, AnOlderWriteArrivingAfterANewerOneOfTheSameKeyIsSuperseded) {
  Fixture f;
  // seq 11 overtook seq 10 (reordered, or 10 was lost and is retransmitted): 10 must not undo 11.
  EXPECT_EQ(f.one(f.set("k", "new", kClient, 11)), wire::Status::ok);
  EXPECT_EQ(f.one(f.set("k", "old", kClient, 10)), wire::Status::ok);
  EXPECT_EQ(f.get("k"), "new");
  EXPECT_EQ(f.pe.superseded(), 1u);
  // Its duplicates get the same answer; an out-of-order write of another key is applied.
  EXPECT_EQ(f.one(f.set("k", "old", kClient, 10)), wire::Status::ok);
  EXPECT_EQ(f.get("k"), "new");
  EXPECT_EQ(f.one(f.set("other", "x", kClient, 9)), wire::Status::ok);
  EXPECT_EQ(f.get("other"), "x");
  // In one batch: the newer copy ahead of the older one.
  const auto out = f.run({f.set("b", "v13", kClient, 13), f.set("b", "v12", kClient, 12)});
  EXPECT_EQ(out[1].status, wire::Status::ok);
  EXPECT_EQ(f.get("b"), "v13");
  EXPECT_EQ(f.pe.superseded(), 2u);
  EXPECT_EQ(f.pe.replayed(), 1u);
}

TEST(WriteWindow, DuplicateIsAnsweredFromTheWindowNotApplied) {
  Fixture f;
  EXPECT_EQ(f.one(f.del("gone", kClient, 5)), wire::Status::not_found);
  EXPECT_EQ(f.one(f.set("gone", "x", kClient, 6)), wire::Status::ok);
  // Applied again, the DELETE would answer ok and remove the key: from the window it answers
  // what it answered first, and the key stays.
  EXPECT_EQ(f.one(f.del("gone", kClient, 5)), wire::Status::not_found);
  EXPECT_EQ(f.get("gone"), "x");
  // Two copies in one batch (a duplicated datagram in one burst): applied once, both answered.
  const auto out = f.run({f.del("gone", kClient, 7), f.del("gone", kClient, 7)});
  EXPECT_EQ(out[0].status, wire::Status::ok);
  EXPECT_EQ(out[1].status, wire::Status::ok);
  EXPECT_EQ(f.get("gone"), "<not_found>");
  EXPECT_EQ(f.pe.replayed(), 2u);
}

TEST(WriteWindow, WritesOlderThanTheWindowAreRefusedTooOld) {
  Fixture f;
  const std::uint64_t newest = 5 * wire::kWriteWindow;
  EXPECT_EQ(f.one(f.set("a", "new", kClient, newest)), wire::Status::ok);
  // Never seen, but below the window: refused, not applied.
  EXPECT_EQ(f.one(f.set("b", "old", kClient, newest - wire::kWriteWindow)), wire::Status::too_old);
  EXPECT_EQ(f.get("b"), "<not_found>");
  // The oldest sequence number still inside the window is new: applied.
  EXPECT_EQ(f.one(f.set("b", "in", kClient, newest - wire::kWriteWindow + 1)), wire::Status::ok);
  EXPECT_EQ(f.get("b"), "in");
  // Same slot of the ring, one lap later: a new write, not mistaken for the old one.
  EXPECT_EQ(f.one(f.set("c", "lap", kClient, newest + 1)), wire::Status::ok);
  EXPECT_EQ(f.get("c"), "lap");
  EXPECT_EQ(f.pe.replayed(), 0u);
}

TEST(WriteWindow, ClientsAndUnsequencedRequestsAreKeptApart) {
  Fixture f;
  const std::uint32_t other = wire::kAssignedClientBit | 43;
  EXPECT_EQ(f.one(f.set("k", "mine", kClient, 3)), wire::Status::ok);
  EXPECT_EQ(f.one(f.set("k", "theirs", other, 3)), wire::Status::ok);  // same seq, other client
  EXPECT_EQ(f.get("k"), "theirs");
  // Unsequenced requests (client 0: memcached front end, tests) are applied every time.
  EXPECT_EQ(f.one(f.set("k", "plain", 0, 0)), wire::Status::ok);
  EXPECT_EQ(f.one(f.set("k", "plain2", 0, 0)), wire::Status::ok);
  EXPECT_EQ(f.get("k"), "plain2");
  EXPECT_EQ(f.pe.windows().clients(), 2u);
  EXPECT_EQ(f.pe.windows().bytes(), 2 * wire::kWriteWindow * 16);  // 32 KiB a client
}

TEST(WriteWindow, TableIsBoundedAndIdleClientsExpire) {
  WriteWindows w(WriteWindowConfig{.max_clients = 2, .idle = std::chrono::seconds(5)});
  auto t = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  w.begin_batch(t);
  auto a = w.check(kClient, 1, 99);
  ASSERT_EQ(a.verdict, WriteWindows::Verdict::apply);
  WriteWindows::finish(a.entry, wire::Status::ok);
  EXPECT_EQ(w.check(kClient, 1, 99).verdict, WriteWindows::Verdict::replay);
  t += std::chrono::seconds(2);
  w.begin_batch(t);
  WriteWindows::finish(w.check(kClient + 1, 1, 99).entry, wire::Status::ok);
  // A third client in the same batch as the second: the first (idle longest) makes room.
  WriteWindows::finish(w.check(kClient + 2, 1, 99).entry, wire::Status::ok);
  EXPECT_EQ(w.clients(), 2u);
  // A fourth in the same batch: both others wrote in it, so it goes without a window.
  EXPECT_EQ(w.check(kClient + 3, 1, 99).verdict, WriteWindows::Verdict::unprotected);
  EXPECT_EQ(w.clients(), 2u);
  t += std::chrono::seconds(10);
  w.begin_batch(t);  // idle past 5 s: forgotten
  EXPECT_EQ(w.clients(), 0u);
}

TEST(WriteWindow, TheTagCrossesTheQueuePair) {
  Fixture f;
  queue::KvQueueLayout l;
  l.request_ring_bytes = 64u << 10;
  l.response_ring_bytes = 64u << 10;
  queue::KvQueue q = queue::KvQueue::create("test-kvq-ww-" + std::to_string(::getpid()), l);
  queue::KvCeEnd ce = q.ce(0);
  queue::KvPeEnd pe = q.pe(0);
  const std::vector<kv::Request> reqs{f.set("q", "v1", kClient, 20), f.set("q", "v2", kClient, 21),
                                      f.set("q", "v1", kClient, 20)};
  ASSERT_EQ(ce.push(reqs), reqs.size());
  ce.publish();
  const auto got = pe.consume(16);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].client, kClient);
  EXPECT_EQ(got[0].seq, 20u);
  EXPECT_EQ(got[1].seq, 21u);
  std::vector<PeResult> results;
  ValueArena arena;
  pe.publish();  // nothing answered yet: publishes nothing
  // Answer them through the engine, as a PE worker does.
  std::vector<PeResult> out(got.size());
  f.pe.execute(got, out, arena);
  for (const PeResult& r : out) pe.respond(r.status);
  pe.publish();
  EXPECT_EQ(f.get("q"), "v2");
  EXPECT_EQ(f.pe.replayed(), 1u);
  std::vector<wire::Status> st;
  ce.poll(16, [&](const queue::KvResponse& r) { st.push_back(r.status); });
  EXPECT_EQ(st, (std::vector<wire::Status>{wire::Status::ok, wire::Status::ok, wire::Status::ok}));
}

}  // namespace
}  // namespace buddy::kv::serving
