// Writer -> parser round trips: what RequestWriter / ResponseWriter were given is exactly what
// parse_requests / parse_responses read back, at every datagram size limit; add() refuses exactly
// the entries that do not fit and leaves the datagram untouched when it does.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <random>
#include <vector>

#include "wire_test_util.hpp"

namespace buddy::kv::wire::testing {
namespace {

constexpr std::size_t kLimits[] = {kMinDatagram, 512, kDefaultDatagram, 9000, kMaxDatagram};

std::size_t random_key_len(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0:
      return 1 + rng() % kMaxKeyBytes;  // 1..255
    case 1:
      return rng() % 300;  // the writer does not judge keys: 0 and > 255 frame fine too
    default:
      return 8 + rng() % 24;
  }
}

std::size_t random_value_len(std::mt19937_64& rng, std::size_t limit) {
  switch (rng() % 4) {
    case 0:
      return 0;
    case 1:
      return rng() % (limit + 1);  // often too large for what is left
    default:
      return rng() % 100;
  }
}

void expect_request(const RequestView& v, const Req& r, std::span<const std::byte> d) {
  EXPECT_EQ(v.h.op, r.op);
  EXPECT_EQ(v.h.flags, 0);
  EXPECT_EQ(v.h.key_len, r.key.size());
  EXPECT_EQ(v.h.value_len, r.value.size());
  EXPECT_EQ(v.h.key_hash, key_hash(r.key));
  EXPECT_EQ(v.h.request_id, r.id);
  EXPECT_EQ(v.h.timestamp, r.ts);
  EXPECT_EQ(v.key, r.key);
  EXPECT_EQ(v.value, r.value);
  EXPECT_TRUE(inside(d, v.key));
  EXPECT_TRUE(inside(d, v.value));
}

void expect_response(const ResponseView& v, const Resp& r, std::span<const std::byte> d) {
  EXPECT_EQ(v.h.status, r.status);
  EXPECT_EQ(v.h.op, r.op);
  EXPECT_EQ(v.h.reserved, 0);
  EXPECT_EQ(v.h.value_len, r.value.size());
  EXPECT_EQ(v.h.request_id, r.id);
  EXPECT_EQ(v.h.timestamp, r.ts);
  EXPECT_EQ(v.value, r.value);
  EXPECT_TRUE(inside(d, v.value));
}

TEST(RequestRoundTrip, RandomEntriesAtEveryLimit) {
  std::mt19937_64 rng(42);
  for (std::size_t limit : kLimits) {
    for (int trial = 0; trial < 200 / kScale; ++trial) {
      SCOPED_TRACE(::testing::Message() << "limit " << limit << " trial " << trial);
      Bytes buf(limit);
      const auto client = static_cast<std::uint32_t>(rng());
      RequestWriter w(buf, client);
      EXPECT_TRUE(w.empty());
      EXPECT_EQ(w.bytes(), kHdr);
      EXPECT_EQ(w.room(), limit - kHdr);
      std::vector<Req> model;
      int refused = 0;
      while (refused < 4) {
        Req r;
        r.op = static_cast<Opcode>(1 + rng() % 3);
        r.id = rng();
        r.ts = rng();
        r.key = random_bytes(rng, random_key_len(rng));
        if (r.op == Opcode::set) r.value = random_bytes(rng, random_value_len(rng, limit));
        const std::size_t need = RequestWriter::entry_bytes(r.key.size() + r.value.size());
        const std::size_t room = w.room(), bytes = w.bytes(), count = w.count();
        const Bytes before = buf;
        const bool ok = w.add(r.op, key_hash(r.key), r.id, r.ts, r.key, r.value);
        ASSERT_EQ(ok, need <= room) << "need " << need << " room " << room;
        if (ok) {
          model.push_back(r);
          EXPECT_EQ(w.bytes(), bytes + need);
          EXPECT_EQ(w.room(), room - need);
          EXPECT_EQ(w.count(), count + 1);
        } else {
          ++refused;
          EXPECT_EQ(w.bytes(), bytes);
          EXPECT_EQ(w.room(), room);
          EXPECT_EQ(w.count(), count);
          ASSERT_TRUE(buf == before) << "a refused add() changed the buffer";
        }
      }
      const std::size_t size = w.finish();
      ASSERT_EQ(size, w.bytes());
      ASSERT_LE(size, limit);
      const std::span<const std::byte> d(buf.data(), size);
      std::vector<RequestView> out(kMaxCount);
      const auto p = parse_requests(d, out);
      if (model.empty()) {
        EXPECT_EQ(p.drop, Drop::bad_count);  // an empty request datagram is dropped
        continue;
      }
      ASSERT_EQ(p.drop, Drop::none) << to_string(p.drop);
      ASSERT_EQ(p.count, model.size());
      EXPECT_EQ(p.header.magic, kMagic);
      EXPECT_EQ(p.header.version, kVersion);
      EXPECT_EQ(p.header.kind, Kind::request);
      EXPECT_EQ(p.header.count, model.size());
      EXPECT_EQ(p.header.client_id, client);
      EXPECT_EQ(p.header.payload_bytes, size - kHdr);
      for (std::size_t i = 0; i < model.size(); ++i) expect_request(out[i], model[i], d);
    }
  }
}

TEST(ResponseRoundTrip, RandomEntriesAtEveryLimit) {
  std::mt19937_64 rng(43);
  for (std::size_t limit : kLimits) {
    for (int trial = 0; trial < 200 / kScale; ++trial) {
      SCOPED_TRACE(::testing::Message() << "limit " << limit << " trial " << trial);
      Bytes buf(limit);
      const auto client = static_cast<std::uint32_t>(rng());
      ResponseWriter w(buf, client);
      std::vector<Resp> model;
      int refused = 0;
      while (refused < 4) {
        Resp r;
        r.status = static_cast<Status>(rng() % 6);
        r.op = static_cast<Opcode>(1 + rng() % 3);
        r.id = rng();
        r.ts = rng();
        r.value = random_bytes(rng, random_value_len(rng, limit));
        const std::size_t need = ResponseWriter::entry_bytes(r.value.size());
        const std::size_t room = w.room(), bytes = w.bytes();
        const Bytes before = buf;
        const bool ok = w.add(r.status, r.op, r.id, r.ts, r.value);
        ASSERT_EQ(ok, need <= room) << "need " << need << " room " << room;
        if (ok) {
          model.push_back(r);
          EXPECT_EQ(w.bytes(), bytes + need);
        } else {
          ++refused;
          EXPECT_EQ(w.bytes(), bytes);
          ASSERT_TRUE(buf == before) << "a refused add() changed the buffer";
        }
      }
      const std::size_t size = w.finish();
      const std::span<const std::byte> d(buf.data(), size);
      std::vector<ResponseView> out(kMaxCount);
      const auto p = parse_responses(d, out);
      if (model.empty()) {
        EXPECT_EQ(p.drop, Drop::bad_count);
        continue;
      }
      ASSERT_EQ(p.drop, Drop::none) << to_string(p.drop);
      ASSERT_EQ(p.count, model.size());
      EXPECT_EQ(p.header.kind, Kind::response);
      EXPECT_EQ(p.header.client_id, client);
      EXPECT_EQ(p.header.payload_bytes, size - kHdr);
      for (std::size_t i = 0; i < model.size(); ++i) expect_response(out[i], model[i], d);
    }
  }
}

TEST(RequestRoundTrip, LastEntryFillsTheDatagramExactly) {
  for (std::size_t limit : kLimits) {
    SCOPED_TRACE(::testing::Message() << "limit " << limit);
    Bytes buf(limit);
    RequestWriter w(buf, 1);
    std::vector<Req> model;
    // GETs of 8-byte keys while a SET of key "last" with a value still fits after them.
    while (w.room() >= 2 * RequestWriter::entry_bytes(8) + RequestWriter::entry_bytes(4)) {
      Req r{Opcode::get, model.size(), 0,
            std::string(8, static_cast<char>('a' + model.size() % 26)), ""};
      ASSERT_TRUE(w.add(r.op, key_hash(r.key), r.id, r.ts, r.key));
      model.push_back(r);
    }
    const std::size_t fill = w.room() - RequestWriter::entry_bytes(4);
    Req last{Opcode::set, 999, 5, "last", std::string(fill + 1, 'v')};
    // One byte too many: refused, nothing changes.
    const Bytes before = buf;
    const std::size_t bytes = w.bytes();
    EXPECT_FALSE(w.add(last.op, key_hash(last.key), last.id, last.ts, last.key, last.value));
    EXPECT_EQ(w.bytes(), bytes);
    EXPECT_TRUE(buf == before);
    // Exactly the room left: accepted, the datagram is full.
    last.value.pop_back();
    ASSERT_TRUE(w.add(last.op, key_hash(last.key), last.id, last.ts, last.key, last.value));
    model.push_back(last);
    EXPECT_EQ(w.room(), 0u);
    EXPECT_EQ(w.bytes(), limit);
    // Nothing fits any more, not even a one-byte GET or an empty key.
    EXPECT_FALSE(w.add(Opcode::get, key_hash("x"), 1, 1, "x"));
    EXPECT_FALSE(w.add(Opcode::get, key_hash(""), 1, 1, ""));
    ASSERT_EQ(w.finish(), limit);
    std::vector<RequestView> out(kMaxCount);
    const auto p = parse_requests(as_span(buf), out);
    ASSERT_EQ(p.drop, Drop::none) << to_string(p.drop);
    ASSERT_EQ(p.count, model.size());
    for (std::size_t i = 0; i < model.size(); ++i) expect_request(out[i], model[i], as_span(buf));
  }
}

TEST(ResponseRoundTrip, LastEntryFillsTheDatagramExactly) {
  for (std::size_t limit : kLimits) {
    SCOPED_TRACE(::testing::Message() << "limit " << limit);
    Bytes buf(limit);
    ResponseWriter w(buf, 1);
    ASSERT_TRUE(w.add(Status::ok, Opcode::get, 1, 1, "first"));
    const std::string v(w.room() - ResponseWriter::entry_bytes(0), 'v');
    EXPECT_FALSE(w.add(Status::ok, Opcode::get, 2, 2, v + "!"));
    ASSERT_TRUE(w.add(Status::ok, Opcode::get, 2, 2, v));
    EXPECT_EQ(w.room(), 0u);
    EXPECT_FALSE(w.add(Status::not_found, Opcode::get, 3, 3));
    ASSERT_EQ(w.finish(), limit);
    std::vector<ResponseView> out(2);
    const auto p = parse_responses(as_span(buf), out);
    ASSERT_EQ(p.drop, Drop::none) << to_string(p.drop);
    ASSERT_EQ(p.count, 2u);
    EXPECT_EQ(out[0].value, "first");
    EXPECT_EQ(out[1].value, v);
  }
}

TEST(Writer, LargestSingleValues) {
  for (std::size_t limit : kLimits) {
    SCOPED_TRACE(::testing::Message() << "limit " << limit);
    Bytes buf(limit);
    {
      ResponseWriter w(buf, 1);
      EXPECT_FALSE(
          w.add(Status::ok, Opcode::get, 1, 1, std::string(max_response_value(limit) + 1, 'x')));
      EXPECT_TRUE(
          w.add(Status::ok, Opcode::get, 1, 1, std::string(max_response_value(limit), 'x')));
      EXPECT_EQ(w.finish(), limit);
    }
    {
      const std::string key(kMaxKeyBytes, 'k');
      RequestWriter w(buf, 1);
      const std::size_t max = max_request_value(limit, key.size());
      if (limit > kHdr + sizeof(RequestHeader) + key.size()) {
        EXPECT_FALSE(w.add(Opcode::set, key_hash(key), 1, 1, key, std::string(max + 1, 'x')));
        EXPECT_TRUE(w.add(Opcode::set, key_hash(key), 1, 1, key, std::string(max, 'x')));
        EXPECT_EQ(w.finish(), limit);
      } else {
        EXPECT_FALSE(w.add(Opcode::set, key_hash(key), 1, 1, key, "x"));  // 128 B: no room
      }
    }
  }
}

TEST(Writer, BufferLargerThanTheUdpLimitIsCappedAtKMaxDatagram) {
  Bytes buf(kMaxDatagram + 1000);
  ResponseWriter w(buf, 1);
  EXPECT_EQ(w.room(), kMaxDatagram - kHdr);
  EXPECT_FALSE(
      w.add(Status::ok, Opcode::get, 1, 1, std::string(max_response_value(kMaxDatagram) + 1, 'x')));
  EXPECT_TRUE(
      w.add(Status::ok, Opcode::get, 1, 1, std::string(max_response_value(kMaxDatagram), 'x')));
  EXPECT_EQ(w.finish(), kMaxDatagram);
}

TEST(Writer, MostEntriesInTheLargestDatagram) {
  // kMaxCount (4096) entries never fit in one UDP datagram: the byte limit bites first.
  static_assert(kMaxCount * sizeof(ResponseHeader) > kMaxDatagram - sizeof(DatagramHeader));
  Bytes buf(kMaxDatagram);
  ResponseWriter w(buf, 3);
  const std::size_t most = (kMaxDatagram - kHdr) / sizeof(ResponseHeader);  // 2728
  for (std::size_t i = 0; i < most; ++i) ASSERT_TRUE(w.add(Status::not_found, Opcode::get, i, i));
  EXPECT_FALSE(w.add(Status::not_found, Opcode::get, most, most));
  EXPECT_EQ(w.count(), most);
  const std::size_t size = w.finish();
  EXPECT_EQ(size, kHdr + most * sizeof(ResponseHeader));
  std::vector<ResponseView> out(kMaxCount);
  const auto p = parse_responses({buf.data(), size}, out);
  ASSERT_EQ(p.drop, Drop::none);
  ASSERT_EQ(p.count, most);
  for (std::size_t i = 0; i < most; ++i) ASSERT_EQ(out[i].h.request_id, i);
}

// A response datagram of n empty entries built by hand: the writer cannot exceed kMaxDatagram, so
// kMaxCount is only reachable in a larger buffer.
Bytes hand_built_responses(std::size_t n) {
  Bytes d(kHdr + n * sizeof(ResponseHeader));
  DatagramHeader h;
  h.kind = Kind::response;
  h.count = static_cast<std::uint16_t>(n);
  h.payload_bytes = static_cast<std::uint32_t>(d.size() - kHdr);
  store(d.data(), h);
  for (std::size_t i = 0; i < n; ++i) {
    ResponseHeader r;
    r.request_id = i;
    store(d.data() + kHdr + i * sizeof(ResponseHeader), r);
  }
  return d;
}

TEST(Parser, AcceptsExactlyKMaxCountEntries) {
  std::vector<ResponseView> out(kMaxCount + 1);
  {
    const Bytes d = hand_built_responses(kMaxCount);
    const auto p = parse_responses(as_span(d), out);
    ASSERT_EQ(p.drop, Drop::none) << to_string(p.drop);
    EXPECT_EQ(p.count, kMaxCount);
    EXPECT_EQ(out[kMaxCount - 1].h.request_id, kMaxCount - 1);
  }
  {
    const Bytes d = hand_built_responses(kMaxCount + 1);
    EXPECT_EQ(parse_responses(as_span(d), out).drop, Drop::bad_count);
  }
}

TEST(Parser, OutputJustLargeEnough) {
  const auto reqs = sample_requests();
  const Bytes d = encode_requests(reqs);
  std::vector<RequestView> out(reqs.size());
  const auto p = parse_requests(as_span(d), out);
  ASSERT_EQ(p.drop, Drop::none);
  for (std::size_t i = 0; i < reqs.size(); ++i) expect_request(out[i], reqs[i], as_span(d));
  std::vector<RequestView> small(reqs.size() - 1);
  EXPECT_EQ(parse_requests(as_span(d), small).drop, Drop::bad_count);
  EXPECT_EQ(parse_requests(as_span(d), {}).drop, Drop::bad_count);
}

TEST(Format, WireConstantsAndHelpers) {
  // "BKVD" in memory order.
  Bytes d = encode_requests(sample_requests());
  EXPECT_EQ(std::memcmp(d.data(), "BKVD", 4), 0);
  EXPECT_EQ(kDefaultDatagram, 1500u - 20u - 8u);
  EXPECT_EQ(max_response_value(kDefaultDatagram), 1472u - 16u - 24u);
  EXPECT_EQ(max_request_value(kDefaultDatagram, 10), 1472u - 16u - 32u - 10u);
  // partition_of: the top 16 bits, scaled to [0, partitions).
  EXPECT_EQ(partition_of(0, 7), 0u);
  EXPECT_EQ(partition_of(~0ull, 7), 6u);
  EXPECT_EQ(partition_of(~0ull, 1), 0u);
  EXPECT_EQ(partition_of(0x8000'0000'0000'0000ull, 2), 1u);
  EXPECT_EQ(partition_of(0x7fff'ffff'ffff'ffffull, 2), 0u);
  EXPECT_EQ(partition_of(0x1234'0000'0000'0000ull, 65536), 0x1234u);
  std::mt19937_64 rng(5);
  for (int i = 0; i < 10000; ++i) {
    const std::uint32_t parts = 1 + static_cast<std::uint32_t>(rng() % 16384);
    ASSERT_LT(partition_of(rng(), parts), parts);
  }
  // XXH3-64 reference values (xxHash's own test vectors for the empty input).
  EXPECT_EQ(key_hash(""), 0x2D06800538D394C2ull);
  EXPECT_EQ(to_string(Status::wrong_partition), "wrong_partition");
  EXPECT_EQ(to_string(static_cast<Status>(99)), "unknown");
  EXPECT_EQ(to_string(Opcode::del), "del");
  EXPECT_EQ(to_string(Drop::bad_control), "bad_control");
  EXPECT_EQ(to_string(static_cast<Drop>(kDropReasons)), "unknown");
}

}  // namespace
}  // namespace buddy::kv::wire::testing

namespace buddy::kv::wire::testing {
namespace {

TEST(Writer, BufferTooSmallForAHeaderRefusesEverything) {
  std::array<std::byte, 15> small{};
  RequestWriter w(small, 1);
  EXPECT_FALSE(w.add(Opcode::get, key_hash("k"), 1, 0, "k"));
  EXPECT_EQ(w.finish(), 0u);
  for (std::byte b : small) EXPECT_EQ(b, std::byte{0});  // nothing written
}

}  // namespace
}  // namespace buddy::kv::wire::testing
