// The KV queue pair in one thread: entry layouts byte for byte, round trips, batches that wrap,
// keys and values from 0 B to 1 MiB, full rings in both directions (back-pressure, never loss),
// limits, attach checks and corrupt input.
#include "buddy/kv/queue/kv_queue.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "buddy/kv/store/hash.hpp"
#include "buddy/kv/store/store.hpp"
#include "kv_peers.hpp"

namespace buddy::kv::queue::testing {
namespace {

template <class T>
T read_at(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

KvQueueLayout small_layout(std::uint64_t req_bytes, std::uint64_t resp_bytes) {
  KvQueueLayout l;
  l.request_ring_bytes = req_bytes;
  l.response_ring_bytes = resp_bytes;
  return l;
}

const std::byte* request_data(KvQueue& q, std::uint32_t pair = 0) {
  return qp::Segment::ring_data(q.segment().request_ring(pair));
}
const std::byte* response_data(KvQueue& q, std::uint32_t pair = 0) {
  return qp::Segment::ring_data(q.segment().response_ring(pair));
}

TEST(KvQueueLayoutTest, EntrySizes) {
  EXPECT_EQ(sizeof(KvRequestEntry), 16u);
  EXPECT_EQ(sizeof(KvResponseEntry), 8u);
  EXPECT_EQ(sizeof(KvBatchHeader), 8u);
  EXPECT_EQ(kv_request_footprint(8, 8), 32u);
  EXPECT_EQ(kv_response_footprint(8), 16u);
  EXPECT_EQ(kv_request_footprint(1, 0), 24u);
  EXPECT_EQ(kv_request_footprint(255, 1u << 20), 16u + 255 + (1u << 20) + 1);
  EXPECT_EQ(kv_response_footprint(9), 24u);
  // The default rings carry the store's largest key and value.
  const KvQueueLayout l;
  EXPECT_GE(l.max_set_value(kMaxKeyBytes), kMaxValueBytes);
  EXPECT_GE(l.max_get_value(), kMaxValueBytes);
}

// One SET of an 8-B key and 8-B value, then its answer, checked byte for byte as protocol.md
// section 3 documents them.
TEST(KvQueueLayoutTest, BytesOnTheRingAreAsDocumented) {
  KvQueue q = KvQueue::create(unique_name("bytes"), small_layout(4096, 4096));
  KvCeEnd ce = q.ce(0);
  KvPeEnd pe = q.pe(0);
  const kv::Request set{Op::set, 0x1122334455667788ull, "key-0001", "value-01"};
  ASSERT_EQ(ce.push(std::span(&set, 1)), 1u);
  ce.publish();

  const std::byte* d = request_data(q);
  EXPECT_EQ(read_at<std::uint32_t>(d + 0), 8u + 32u);  // record length: batch header + entry
  EXPECT_EQ(read_at<std::uint32_t>(d + 4), 0u);
  EXPECT_EQ(read_at<std::uint32_t>(d + 8), 1u);   // count
  EXPECT_EQ(read_at<std::uint32_t>(d + 12), 0u);  // first seq
  EXPECT_EQ(read_at<std::uint8_t>(d + 16), 2u);   // op SET
  EXPECT_EQ(read_at<std::uint8_t>(d + 17), 8u);   // key_len
  EXPECT_EQ(read_at<std::uint16_t>(d + 18), 0u);
  EXPECT_EQ(read_at<std::uint32_t>(d + 20), 8u);  // value_len
  EXPECT_EQ(read_at<std::uint64_t>(d + 24), 0x1122334455667788ull);
  EXPECT_EQ(std::memcmp(d + 32, "key-0001value-01", 16), 0);
  EXPECT_EQ(q.segment().request_ring(0)->head.load(), 8u + 8u + 32u);

  auto reqs = pe.consume(16);
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].op, Op::set);
  EXPECT_EQ(reqs[0].hash, 0x1122334455667788ull);
  EXPECT_EQ(reqs[0].key, "key-0001");
  EXPECT_EQ(reqs[0].value, "value-01");
  pe.respond(wire::Status::ok, "ANSWER-1");
  EXPECT_TRUE(pe.publish());

  const std::byte* r = response_data(q);
  EXPECT_EQ(read_at<std::uint32_t>(r + 0), 8u + 16u);
  EXPECT_EQ(read_at<std::uint32_t>(r + 8), 1u);
  EXPECT_EQ(read_at<std::uint32_t>(r + 12), 0u);
  EXPECT_EQ(read_at<std::uint8_t>(r + 16), 0u);   // status ok
  EXPECT_EQ(read_at<std::uint32_t>(r + 20), 8u);  // value_len
  EXPECT_EQ(std::memcmp(r + 24, "ANSWER-1", 8), 0);
  EXPECT_EQ(q.segment().request_ring(0)->tail.load(), 48u) << "requests released on publish";

  std::vector<KvResponse> got;
  std::vector<std::string> vals;
  EXPECT_EQ(ce.poll(16,
                    [&](const KvResponse& x) {
                      got.push_back(x);
                      vals.emplace_back(x.value);
                    }),
            1u);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq, 0u);
  EXPECT_EQ(got[0].status, wire::Status::ok);
  EXPECT_EQ(vals[0], "ANSWER-1");
  EXPECT_EQ(ce.in_flight(), 0u);
}

// A batch of several entries is one record, padding is zero, GET/DELETE carry no value.
TEST(KvQueueLayoutTest, OneRecordPerBatchWithZeroPadding) {
  KvQueue q = KvQueue::create(unique_name("batch"), small_layout(4096, 4096));
  KvCeEnd ce = q.ce(0);
  KvPeEnd pe = q.pe(0);
  const std::vector<kv::Request> reqs{
      {Op::get, 1, "a", "ignored"}, {Op::set, 2, "bcd", "efghijklm"}, {Op::del, 3, "12345678", ""}};
  ASSERT_EQ(ce.push(reqs), 3u);
  ce.publish();
  const std::byte* d = request_data(q);
  // 8 + (16+8) + (16+16) + (16+8)
  EXPECT_EQ(read_at<std::uint32_t>(d), 8u + 24u + 32u + 24u);
  EXPECT_EQ(read_at<std::uint32_t>(d + 8), 3u);
  EXPECT_EQ(read_at<std::uint32_t>(d + 16 + 4), 0u) << "GET carries no value";
  EXPECT_EQ(std::memcmp(d + 32, "a\0\0\0\0\0\0\0", 8), 0);
  EXPECT_EQ(std::memcmp(d + 40 + 16, "bcdefghijklm\0\0\0\0", 16), 0);

  auto got = pe.consume(100);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].op, Op::get);
  EXPECT_TRUE(got[0].value.empty());
  EXPECT_EQ(got[1].key, "bcd");
  EXPECT_EQ(got[1].value, "efghijklm");
  EXPECT_EQ(got[2].op, Op::del);
  EXPECT_EQ(got[2].key, "12345678");
  pe.respond(wire::Status::ok, "v");
  pe.respond(kv::Status::ok, "");
  pe.respond(kv::Status::not_found, "not sent");
  pe.publish();
  const std::byte* r = response_data(q);
  EXPECT_EQ(read_at<std::uint32_t>(r), 8u + 16u + 8u + 8u);
  EXPECT_EQ(std::memcmp(r + 16 + 8, "v\0\0\0\0\0\0\0", 8), 0);
  std::vector<std::pair<wire::Status, std::string>> out;
  ce.poll(10, [&](const KvResponse& x) { out.emplace_back(x.status, std::string(x.value)); });
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].second, "v");
  EXPECT_EQ(out[1].first, wire::Status::ok);
  EXPECT_EQ(out[2].first, wire::Status::not_found);
  EXPECT_EQ(out[2].second, "");
}

// Echo PE used by the single-thread tests: GET answers the key reversed, SET ok, DEL not_found.
std::string echo_value(const kv::Request& q) {
  if (q.op != Op::get) return {};
  return std::string(q.key.rbegin(), q.key.rend()) + std::string(q.key.size() % 13, '#');
}

// Random batch sizes and partial steps on 1 KiB rings: positions wrap thousands of times, batch
// records end at every offset, and everything arrives once, in order.
TEST(KvQueueRing, BatchesThatWrap) {
  KvQueue q = KvQueue::create(unique_name("wrap"), small_layout(1024, 1024));
  KvCeEnd ce = q.ce(0);
  KvPeEnd pe = q.pe(0);
  std::mt19937_64 rng(42);
  struct Sent {
    Op op;
    std::string key, value;
  };
  std::deque<Sent> sent;  // pushed, not answered: the CE's context
  std::uint64_t answered = 0;
  const std::uint64_t total = 200'000 / kScale;
  std::vector<kv::Request> batch;
  std::vector<Sent> gen;
  std::uint64_t next = 0;
  while (answered < total) {
    // CE: push a random batch (as much as fits).
    if (next < total && rng() % 3 != 0) {
      gen.clear();
      batch.clear();
      const std::size_t b = 1 + rng() % 24;
      for (std::size_t i = 0; i < b && next + i < total; ++i) {
        Sent s{static_cast<Op>(rng() % 3), cat("k", next + i), {}};
        s.key.resize(1 + rng() % 40, 'z');
        if (s.op == Op::set) s.value.assign(rng() % 100, static_cast<char>('a' + rng() % 26));
        gen.push_back(std::move(s));
      }
      for (const auto& s : gen) batch.push_back({s.op, key_hash(s.key), s.key, s.value});
      const std::size_t took = ce.push(batch);
      for (std::size_t i = 0; i < took; ++i) sent.push_back(gen[i]);
      next += took;
      ce.publish();
    }
    // PE: serve a random number.
    if (rng() % 2 == 0) {
      const auto reqs = pe.consume(1 + rng() % 32);
      for (const auto& r : reqs) {
        if (r.op == Op::get) {
          pe.respond(wire::Status::ok, echo_value(r));
        } else {
          pe.respond(r.op == Op::set ? wire::Status::ok : wire::Status::not_found);
        }
      }
      pe.publish();
    }
    // CE: check answers.
    if (rng() % 2 == 0) {
      ce.poll(1 + rng() % 40, [&](const KvResponse& x) {
        ASSERT_FALSE(sent.empty());
        const Sent& s = sent.front();
        ASSERT_EQ(x.seq, answered);
        const kv::Request view{s.op, 0, s.key, s.value};
        if (s.op == Op::get) {
          ASSERT_EQ(x.status, wire::Status::ok);
          ASSERT_EQ(x.value, echo_value(view));
        } else {
          ASSERT_EQ(x.status, s.op == Op::set ? wire::Status::ok : wire::Status::not_found);
          ASSERT_TRUE(x.value.empty());
        }
        sent.pop_front();
        ++answered;
      });
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  EXPECT_EQ(ce.pushed(), total);
  EXPECT_GT(q.segment().request_ring(0)->head.load(), 100u * 1024) << "the ring wrapped often";
  EXPECT_GT(q.segment().response_ring(0)->head.load(), 100u * 1024);
}

// SET then GET through a real partition, keys 1..255 B and values 0 B .. 1 MiB.
TEST(KvQueueRing, KeysAndValuesFromOneByteToOneMebibyte) {
  KvQueue q = KvQueue::create(unique_name("large"), KvQueueLayout{});
  KvCeEnd ce = q.ce(0);
  KvPeEnd pe = q.pe(0);
  StoreConfig sc;
  sc.memory_bytes = 64u << 20;
  Store store(sc);
  Partition& part = store.partition(0);
  const std::vector<std::size_t> key_lens{1, 7, 8, 9, 100, 255};
  const std::vector<std::size_t> value_lens{0,    1,    7,     8,     9,     255,     256,
                                            4095, 4096, 65535, 65536, 65537, 1u << 20};
  std::uint32_t id = 0;
  for (std::size_t kl : key_lens) {
    for (std::size_t vl : value_lens) {
      std::string key = cat("key", id);
      key.resize(kl, 'K');
      std::string value;
      fill_value(value, id, 1, static_cast<std::uint32_t>(vl));
      ++id;
      const std::vector<kv::Request> reqs{{Op::set, key_hash(key), key, value},
                                          {Op::get, key_hash(key), key, {}}};
      ASSERT_EQ(ce.push(reqs), 2u) << kl << "/" << vl;
      ce.publish();
      EXPECT_EQ(pe.serve(part, 64), 2u);
      std::vector<std::pair<wire::Status, std::string>> out;
      ce.poll(8, [&](const KvResponse& x) { out.emplace_back(x.status, std::string(x.value)); });
      ASSERT_EQ(out.size(), 2u);
      EXPECT_EQ(out[0].first, wire::Status::ok);
      EXPECT_EQ(out[1].first, wire::Status::ok);
      EXPECT_TRUE(out[1].second == value) << "key " << kl << " B, value " << vl << " B";
    }
  }
}

// A full request ring refuses more requests (push takes fewer) and loses none; a full response
// ring makes the PE keep answers in its spill buffer and take no new requests until they are out.
TEST(KvQueueRing, FullRingsBackPressureNeverLoss) {
  KvQueue q = KvQueue::create(unique_name("full"), small_layout(1024, 512));
  KvCeEnd ce = q.ce(0);
  KvPeEnd pe = q.pe(0);
  std::vector<std::string> keys;
  for (int i = 0; i < 300; ++i) keys.push_back(cat("key", 10000 + i).substr(0, 8));
  std::vector<kv::Request> reqs;
  for (const auto& k : keys) reqs.push_back({Op::get, key_hash(k), k, {}});

  const std::size_t first = ce.push(reqs);
  EXPECT_GT(first, 0u);
  EXPECT_LT(first, reqs.size()) << "a 1 KiB ring cannot hold 300 requests";
  EXPECT_EQ(ce.push(std::span(reqs).subspan(first)), 0u) << "still full";
  ce.publish();
  EXPECT_EQ(ce.push(std::span(reqs).subspan(first)), 0u) << "full until the PE consumes";

  std::uint64_t polled = 0;
  std::size_t pushed = first;
  std::uint64_t spilled_rounds = 0;
  const auto check = [&](const KvResponse& x) {
    EXPECT_EQ(x.seq, polled);
    EXPECT_EQ(x.value, std::string(64, static_cast<char>('A' + polled % 26)));
    ++polled;
  };
  while (polled < reqs.size()) {
    // PE: answers with 64-B values: the 512-B response ring fills quickly.
    const auto got = pe.consume(1000);
    for (std::size_t i = 0; i < got.size(); ++i) {
      const std::uint64_t seq = pe.answered();
      pe.respond(wire::Status::ok, std::string(64, static_cast<char>('A' + seq % 26)));
    }
    if (!pe.publish()) {
      ++spilled_rounds;
      EXPECT_TRUE(pe.spilled());
      EXPECT_TRUE(pe.consume(1000).empty()) << "no new requests while answers wait";
    }
    // CE: poll a little, push what fits.
    ce.poll(3, check);
    if (pushed < reqs.size()) {
      pushed += ce.push(std::span(reqs).subspan(pushed));
      ce.publish();
    }
  }
  EXPECT_GT(spilled_rounds, 0u) << "the response ring must have been full at some point";
  EXPECT_EQ(polled, reqs.size());
  EXPECT_FALSE(pe.spilled());
  EXPECT_EQ(ce.in_flight(), 0u);
}

TEST(KvQueueLimits, TooLargeEntriesAndBadKeys) {
  KvQueue q = KvQueue::create(unique_name("limits"), small_layout(4096, 1024));
  KvCeEnd ce = q.ce(0);
  KvPeEnd pe = q.pe(0);
  // The limit leaves room for a sequenced write's tag (16 B), so it holds for every write.
  EXPECT_EQ(q.layout().max_set_value(8), 2048u - 8 - 8 - 16 - 16 - 8);
  EXPECT_EQ(ce.max_set_value(8), q.layout().max_set_value(8));
  const std::string key = "12345678";
  std::string value(q.layout().max_set_value(8) + 1, 'v');
  kv::Request r{Op::set, key_hash(key), key, value, 0x80000001u, 7};
  EXPECT_THROW(ce.try_push(r), qp::Error);
  value.pop_back();
  r.value = value;
  EXPECT_TRUE(ce.try_push(r)) << "the largest value fits an empty ring";
  const std::string long_key(256, 'k');
  EXPECT_THROW(ce.try_push(kv::Request{Op::get, 0, long_key, {}}), std::invalid_argument);
  ce.publish();
  // A GET whose value the response ring cannot carry is answered too_large.
  auto got = pe.consume(10);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].value.size(), value.size());
  pe.respond(wire::Status::ok, std::string(q.layout().max_get_value() + 1, 'x'));
  pe.publish();
  int n = 0;
  ce.poll(10, [&](const KvResponse& x) {
    EXPECT_EQ(x.status, wire::Status::too_large);
    EXPECT_TRUE(x.value.empty());
    ++n;
  });
  EXPECT_EQ(n, 1);
}

TEST(KvQueueLimits, MisuseIsReported) {
  KvQueue q = KvQueue::create(unique_name("misuse"), small_layout(1024, 1024));
  KvCeEnd ce = q.ce(0);
  KvPeEnd pe = q.pe(0);
  EXPECT_THROW(pe.respond(wire::Status::ok), std::invalid_argument);
  const kv::Request r{Op::get, 1, "k", {}};
  ce.try_push(r);
  ce.try_push(r);
  ce.publish();
  ASSERT_EQ(pe.consume(1).size(), 1u);
  EXPECT_THROW(pe.consume(1), std::invalid_argument) << "answer the last batch first";
  EXPECT_THROW(q.ce(1), qp::Error);
  EXPECT_THROW(KvQueue::create(unique_name("bad"), small_layout(1000, 1024)), qp::Error);
  EXPECT_THROW(KvQueue::create(unique_name("bad"), small_layout(128, 1024)), qp::Error);
}

TEST(KvQueueSegment, AttachByNameChecksTheLayout) {
  const auto name = unique_name("attach");
  KvQueueLayout l = small_layout(2048, 1024);
  l.queue_pairs = 3;
  KvQueue q = KvQueue::create(name, l);
  KvQueue a = KvQueue::attach(name);
  EXPECT_EQ(a.layout(), l);
  EXPECT_FALSE(a.segment().is_owner());
  KvQueue b = KvQueue::attach(name, l);
  KvQueueLayout other = l;
  other.response_ring_bytes = 4096;
  EXPECT_THROW(KvQueue::attach(name, other), qp::Error);

  // The ends of pair 2 through two different mappings.
  KvCeEnd ce = q.ce(2);
  KvPeEnd pe = a.pe(2);
  const kv::Request r{Op::set, 9, "key", "value"};
  ASSERT_TRUE(ce.try_push(r));
  ce.publish();
  auto got = pe.consume(4);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].value, "value");
  EXPECT_EQ(q.pe(0).consume(4).size(), 0u) << "pairs are independent";
}

TEST(KvQueueSegment, OtherSegmentsAreRefused) {
  const auto name = unique_name("notkv");
  qp::SegmentLayout fixed;
  fixed.request = qp::RingSpec::fixed(32, 64);
  fixed.response = qp::RingSpec::fixed(16, 64);
  qp::Segment s1 = qp::Segment::create(name, fixed);
  EXPECT_THROW(KvQueue::attach(name), qp::Error);
  const auto name2 = unique_name("notkv");
  qp::SegmentLayout rec;
  rec.request = qp::RingSpec::records(1024);
  rec.response = qp::RingSpec::records(1024);
  qp::Segment s2 = qp::Segment::create(name2, rec);
  try {
    KvQueue::attach(name2);
    ADD_FAILURE() << "a record segment without the KV marker was accepted";
  } catch (const qp::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a KV queue segment"), std::string::npos) << e.what();
  }
}

TEST(KvQueueSegment, CorruptBatchesAreReported) {
  KvQueue q = KvQueue::create(unique_name("corrupt"), small_layout(1024, 1024));
  KvCeEnd ce = q.ce(0);
  KvPeEnd pe = q.pe(0);
  const kv::Request r{Op::get, 1, "key", {}};
  ASSERT_TRUE(ce.try_push(r));
  ce.publish();
  auto* d = qp::Segment::ring_data(q.segment().request_ring(0));
  const std::uint32_t bad_seq = 7;
  std::memcpy(d + 12, &bad_seq, 4);
  try {
    pe.consume(4);
    ADD_FAILURE() << "out-of-sequence batch accepted";
  } catch (const qp::Error& e) {
    EXPECT_NE(std::string(e.what()).find("out of sequence"), std::string::npos) << e.what();
  }
  // An entry that runs past its batch.
  KvPeEnd pe2 = q.pe(0);
  const std::uint32_t seq0 = 0, huge = 1000;
  std::memcpy(d + 12, &seq0, 4);
  std::memcpy(d + 20, &huge, 4);  // value_len
  EXPECT_THROW(pe2.consume(4), qp::Error);
}

}  // namespace
}  // namespace buddy::kv::queue::testing
