// The KV queue pair's bulk fast paths: push() packing many requests into the open batch with
// locals, poll() and consume() walking a batch at once, respond_n() writing a batch of answers
// with locals, and the inline copies of short keys and values. Each test fails if a fast path
// writes or reads one byte wrong, publishes early, counts wrong, or loses its place when a check or
// a callback throws.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "buddy/kv/queue/kv_queue.hpp"
#include "buddy/kv/store/hash.hpp"
#include "kv_peers.hpp"

namespace buddy::kv::queue::testing {
namespace {

KvQueueLayout ring_bytes(std::uint64_t req, std::uint64_t resp) {
  KvQueueLayout l;
  l.request_ring_bytes = req;
  l.response_ring_bytes = resp;
  return l;
}

// Every length from 0 to 64 B, from a source of exactly that size (a sanitizer sees an
// over-read), into a buffer whose bytes around the copy must stay untouched.
TEST(KvQueueFastPath, CopyBytesEveryShortLength) {
  for (std::size_t n = 0; n <= 64; ++n) {
    std::vector<char> src(n);
    for (std::size_t i = 0; i < n; ++i) src[i] = static_cast<char>('a' + (i * 7 + n) % 26);
    std::vector<std::byte> dst(n + 32, std::byte{0xEE});
    detail::copy_bytes(dst.data() + 16, src.data(), n);
    for (std::size_t i = 0; i < dst.size(); ++i) {
      const bool inside = i >= 16 && i < 16 + n;
      const std::byte want = inside ? static_cast<std::byte>(src[i - 16]) : std::byte{0xEE};
      ASSERT_EQ(dst[i], want) << "length " << n << ", byte " << i;
    }
  }
}

struct Sent {
  Op op;
  std::string key, value;
  std::uint32_t client;
  std::uint64_t seq;
};

// Requests of every short key length (0..20 B), GET/SET/DELETE, some sequenced, pushed in big
// spans through a 1 KiB ring (many batches, many wraps): until publish() the PE sees nothing and
// the ring's shared head does not move; after it, every field comes out exactly as pushed.
TEST(KvQueueFastPath, BulkPushIsExactAndInvisibleUntilPublish) {
  KvQueue q = KvQueue::create(unique_name("fast-push"), ring_bytes(1024, 4096));
  KvCeEnd ce = q.ce(0);
  KvPeEnd pe = q.pe(0);
  std::mt19937_64 rng(7);
  std::uint64_t checked = 0;
  for (int round = 0; round < 2000; ++round) {
    std::vector<Sent> gen;
    const std::size_t n = 1 + rng() % 60;
    for (std::size_t i = 0; i < n; ++i) {
      Sent s{static_cast<Op>(rng() % 3), std::string(rng() % 21, 'k'), {}, 0, 0};
      for (char& c : s.key) c = static_cast<char>('a' + rng() % 26);
      if (s.op == Op::set) s.value.assign(rng() % 24, static_cast<char>('A' + rng() % 26));
      if (rng() % 3 == 0) {
        s.client = 1 + static_cast<std::uint32_t>(rng() % 1000);
        s.seq = rng();
      }
      gen.push_back(std::move(s));
    }
    std::vector<kv::Request> reqs;
    for (const Sent& s : gen)
      reqs.push_back({s.op, key_hash(s.key), s.key, s.value, s.client, s.seq});
    const std::uint64_t head_before = q.segment().request_ring(0)->head.load();
    const std::size_t took = ce.push(reqs);
    ASSERT_GT(took, 0u) << "an empty 1 KiB ring takes at least one request";
    ASSERT_EQ(ce.pushed(), checked + took);
    ASSERT_EQ(q.segment().request_ring(0)->head.load(), head_before) << "visible before publish";
    ASSERT_TRUE(pe.consume(1000).empty()) << "a torn batch was visible";
    ce.publish();
    std::size_t seen = 0;
    while (seen < took) {
      const auto got = pe.consume(1 + rng() % 16);
      ASSERT_FALSE(got.empty());
      for (const kv::Request& r : got) {
        const Sent& s = gen[seen++];
        const bool sequenced = s.client != 0 && s.op != Op::get;
        EXPECT_EQ(r.op, s.op);
        EXPECT_EQ(r.hash, key_hash(s.key));
        EXPECT_EQ(r.key, s.key);
        EXPECT_EQ(r.value, s.op == Op::set ? s.value : std::string());
        EXPECT_EQ(r.client, sequenced ? s.client : 0u);
        EXPECT_EQ(r.seq, sequenced ? s.seq : 0u);
        pe.respond(wire::Status::ok, r.key);
      }
      pe.publish();
      if (::testing::Test::HasFailure()) return;
    }
    ASSERT_EQ(seen, took);
    std::uint64_t polled = 0;
    ce.poll(SIZE_MAX, [&](const KvResponse& x) {
      EXPECT_EQ(x.seq, checked + polled);
      EXPECT_EQ(x.value, gen[polled].key);
      ++polled;
    });
    ASSERT_EQ(polled, took);
    checked += took;
  }
  EXPECT_GT(q.segment().request_ring(0)->head.load(), 50u * 1024) << "the ring wrapped often";
}

// A request the fast path cannot take (a key over 255 B) stops it: the ones before it are
// pushed, the bad one throws, nothing after it is taken.
TEST(KvQueueFastPath, BadRequestInASpanStopsAtIt) {
  KvQueue q = KvQueue::create(unique_name("fast-bad"), ring_bytes(4096, 4096));
  KvCeEnd ce = q.ce(0);
  KvPeEnd pe = q.pe(0);
  const std::string good = "key00001", long_key(256, 'x');
  const std::vector<kv::Request> reqs{{Op::get, 1, good, {}},
                                      {Op::get, 2, good, {}},
                                      {Op::get, 3, long_key, {}},
                                      {Op::get, 4, good, {}}};
  EXPECT_THROW(ce.push(reqs), std::invalid_argument);
  EXPECT_EQ(ce.pushed(), 2u);
  ce.publish();
  const auto got = pe.consume(10);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].hash, 1u);
  EXPECT_EQ(got[1].hash, 2u);
}

// A poll callback that throws leaves the response it threw on unconsumed (the ones before it are
// consumed); the next poll starts there. The same for a batch walked in pieces (max < count).
TEST(KvQueueFastPath, PollKeepsItsPlaceWhenTheCallbackThrows) {
  KvQueue q = KvQueue::create(unique_name("fast-throw"), ring_bytes(4096, 4096));
  KvCeEnd ce = q.ce(0);
  KvPeEnd pe = q.pe(0);
  std::vector<std::string> keys;
  for (int i = 0; i < 10; ++i) keys.push_back(cat("key", 1000 + i));
  std::vector<kv::Request> reqs;
  for (const auto& k : keys) reqs.push_back({Op::get, key_hash(k), k, {}});
  ASSERT_EQ(ce.push(reqs), reqs.size());
  ce.publish();
  const auto got = pe.consume(100);
  ASSERT_EQ(got.size(), reqs.size()) << "one batch";
  for (const auto& r : got) pe.respond(wire::Status::ok, r.key);
  pe.publish();

  std::vector<std::uint64_t> seen;
  const auto record = [&](const KvResponse& x) {
    EXPECT_EQ(x.value, keys[x.seq]);
    seen.push_back(x.seq);
  };
  EXPECT_EQ(ce.poll(2, record), 2u);
  EXPECT_THROW(ce.poll(100,
                       [&](const KvResponse& x) {
                         if (x.seq == 5) throw std::runtime_error("callback");
                         record(x);
                       }),
               std::runtime_error);
  EXPECT_EQ(ce.responded(), 5u);
  EXPECT_EQ(ce.poll(100, record), 5u);
  EXPECT_EQ(ce.responded(), 10u);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

// respond_n() writes exactly the bytes that as many respond() calls write: two queue pairs get
// the same requests, one PE answers with respond(), the other with respond_n(); answers of 0 to
// 300 B (some over what the 1 KiB response ring can carry: too_large) fill the response ring, so
// both spill and take the slow path. After every publish both response rings hold the same bytes
// at the same positions, and both CEs poll the same answers.
TEST(KvQueueFastPath, RespondNWritesWhatRespondWrites) {
  const KvQueueLayout l = ring_bytes(4096, 1024);
  KvQueue qa = KvQueue::create(unique_name("fast-resp-a"), l);
  KvQueue qb = KvQueue::create(unique_name("fast-resp-b"), l);
  KvCeEnd cea = qa.ce(0), ceb = qb.ce(0);
  KvPeEnd pea = qa.pe(0), peb = qb.pe(0);
  std::mt19937_64 rng(11);
  const std::string big(600, 'v');
  std::uint64_t spilled_rounds = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<std::string> keys;
    const std::size_t n = 1 + rng() % 40;
    for (std::size_t i = 0; i < n; ++i) keys.push_back(cat("key", round, ".", i));
    std::vector<kv::Request> reqs;
    for (const auto& k : keys) reqs.push_back({Op::get, key_hash(k), k, {}});
    const std::size_t took = cea.push(reqs);
    ASSERT_EQ(ceb.push(std::span(reqs).first(took)), took);
    cea.publish();
    ceb.publish();
    std::vector<wire::Status> st;
    std::vector<std::string_view> val;
    for (std::size_t i = 0; i < took; ++i) {
      const std::size_t len =
          rng() % 4 == 0 ? 0 : (rng() % 10 == 0 ? 300 + rng() % 300 : rng() % 40);
      st.push_back(len == 0 ? wire::Status::not_found : wire::Status::ok);
      val.push_back(std::string_view(big).substr(0, len));
    }
    std::size_t done = 0;
    while (done < took) {
      const auto ra = pea.consume(1 + rng() % 50);
      const auto rb = peb.consume(ra.size());
      ASSERT_EQ(ra.size(), rb.size());
      if (ra.empty()) {  // both spilled: the CEs make room
        ++spilled_rounds;
        ASSERT_TRUE(pea.spilled() && peb.spilled());
      }
      for (std::size_t i = 0; i < ra.size(); ++i) pea.respond(st[done + i], val[done + i]);
      std::size_t calls = 0;
      peb.respond_n(rb.size(), [&](std::size_t i) {
        EXPECT_EQ(i, calls++) << "answer(i) in order, once each";
        return KvAnswer{st[done + i], val[done + i]};
      });
      EXPECT_EQ(calls, rb.size());
      EXPECT_EQ(pea.publish(), peb.publish());
      done += ra.size();
      const qp::RingHeader* ha = qa.segment().response_ring(0);
      const qp::RingHeader* hb = qb.segment().response_ring(0);
      ASSERT_EQ(ha->head.load(), hb->head.load());
      ASSERT_EQ(std::memcmp(qp::Segment::ring_data(const_cast<qp::RingHeader*>(ha)),
                            qp::Segment::ring_data(const_cast<qp::RingHeader*>(hb)), 1024),
                0)
          << "round " << round;
      std::vector<std::pair<wire::Status, std::string>> ga, gb;
      cea.poll(SIZE_MAX, [&](const KvResponse& x) { ga.emplace_back(x.status, x.value); });
      ceb.poll(SIZE_MAX, [&](const KvResponse& x) { gb.emplace_back(x.status, x.value); });
      ASSERT_EQ(ga, gb);
    }
  }
  EXPECT_GT(spilled_rounds, 0u) << "the response ring must have been full at some point";
  EXPECT_EQ(cea.responded(), cea.pushed());
  EXPECT_EQ(ceb.responded(), ceb.pushed());
}

// An answer callback that throws leaves the answers before it written and counted; the rest are
// answered afterwards, and the CE sees every answer once, in order. Asking for more answers than
// requests wait for throws and writes nothing.
TEST(KvQueueFastPath, RespondNKeepsItsPlaceWhenTheCallbackThrows) {
  KvQueue q = KvQueue::create(unique_name("fast-resp-throw"), ring_bytes(4096, 4096));
  KvCeEnd ce = q.ce(0);
  KvPeEnd pe = q.pe(0);
  std::vector<std::string> keys;
  for (int i = 0; i < 10; ++i) keys.push_back(cat("key", 2000 + i));
  std::vector<kv::Request> reqs;
  for (const auto& k : keys) reqs.push_back({Op::get, key_hash(k), k, {}});
  ASSERT_EQ(ce.push(reqs), reqs.size());
  ce.publish();
  const auto got = pe.consume(100);
  ASSERT_EQ(got.size(), reqs.size());
  EXPECT_THROW(pe.respond_n(11,
                            [&](std::size_t i) {
                              return KvAnswer{wire::Status::ok, got[i].key};
                            }),
               std::invalid_argument);
  EXPECT_EQ(pe.answered(), 0u);
  EXPECT_THROW(pe.respond_n(10,
                            [&](std::size_t i) {
                              if (i == 4) throw std::runtime_error("answer");
                              return KvAnswer{wire::Status::ok, got[i].key};
                            }),
               std::runtime_error);
  EXPECT_EQ(pe.answered(), 4u);
  pe.respond_n(6, [&](std::size_t i) { return KvAnswer{wire::Status::ok, got[4 + i].key}; });
  EXPECT_EQ(pe.answered(), 10u);
  pe.publish();
  std::vector<std::uint64_t> seen;
  ce.poll(100, [&](const KvResponse& x) {
    EXPECT_EQ(x.value, keys[x.seq]);
    seen.push_back(x.seq);
  });
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

}  // namespace
}  // namespace buddy::kv::queue::testing
