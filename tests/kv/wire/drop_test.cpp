// Every reason a whole datagram is dropped, the per-request semantic check, and a property test:
// random mutations of valid datagrams never make the parser read outside the datagram.
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <vector>

#include "wire_test_util.hpp"

namespace buddy::kv::wire::testing {
namespace {

Drop parse_req(const Bytes& d, std::size_t out_size = kMaxCount) {
  std::vector<RequestView> out(out_size);
  return parse_requests(as_span(d), out).drop;
}
Drop parse_resp(const Bytes& d, std::size_t out_size = kMaxCount) {
  std::vector<ResponseView> out(out_size);
  return parse_responses(as_span(d), out).drop;
}

TEST(Drop, ShortHeader) {
  const Bytes good = encode_requests(sample_requests());
  for (std::size_t n = 0; n < kHdr; ++n) {
    const Bytes d(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_EQ(parse_req(d), Drop::short_header) << n;
    EXPECT_EQ(parse_resp(d), Drop::short_header) << n;
  }
  DatagramHeader h;
  EXPECT_EQ(read_header({}, Kind::request, h), Drop::short_header);
}

TEST(Drop, BadMagic) {
  const Bytes good = encode_requests(sample_requests());
  for (std::size_t i = 0; i < 4; ++i) {
    Bytes d = good;
    d[kOffMagic + i] ^= std::byte{0x20};  // "bKVD", "BkVD", ...
    EXPECT_EQ(parse_req(d), Drop::bad_magic) << i;
  }
  Bytes d = good;
  patch<std::uint32_t>(d, kOffMagic, 0x424B5644);  // byte-swapped magic
  EXPECT_EQ(parse_req(d), Drop::bad_magic);
}

TEST(Drop, BadVersion) {
  for (std::uint8_t v : {0, 2, 255}) {
    Bytes d = encode_requests(sample_requests());
    patch<std::uint8_t>(d, kOffVersion, v);
    EXPECT_EQ(parse_req(d), Drop::bad_version) << int{v};
  }
}

TEST(Drop, BadKind) {
  const Bytes req = encode_requests(sample_requests());
  const Bytes resp = encode_responses(sample_responses());
  EXPECT_EQ(parse_resp(req), Drop::bad_kind);  // a request sent to a client
  EXPECT_EQ(parse_req(resp), Drop::bad_kind);  // a response sent to a server
  for (std::uint8_t k : {2, 3, 4, 255}) {
    Bytes d = req;
    patch<std::uint8_t>(d, kOffKind, k);
    EXPECT_EQ(parse_req(d), Drop::bad_kind) << int{k};
    EXPECT_EQ(parse_resp(d), Drop::bad_kind) << int{k};
  }
}

TEST(Drop, BadLength) {
  const Bytes good = encode_requests(sample_requests());
  const auto payload = static_cast<std::uint32_t>(good.size() - kHdr);
  for (std::uint32_t v : {0u, payload - 1, payload + 1, 0x7FFFFFFFu, 0xFFFFFFFFu,
                          static_cast<std::uint32_t>(good.size())}) {
    Bytes d = good;
    patch<std::uint32_t>(d, kOffPayload, v);
    EXPECT_EQ(parse_req(d), Drop::bad_length) << v;
  }
  // A cut or padded datagram whose header was not fixed up.
  Bytes cut(good.begin(), good.end() - 1);
  EXPECT_EQ(parse_req(cut), Drop::bad_length);
  Bytes padded = good;
  padded.push_back(std::byte{0});
  EXPECT_EQ(parse_req(padded), Drop::bad_length);
}

TEST(Drop, BadCount) {
  const Bytes good = encode_requests(sample_requests());  // 3 entries
  for (std::uint16_t c : {0, static_cast<int>(kMaxCount) + 1, 0xFFFF}) {
    Bytes d = good;
    patch<std::uint16_t>(d, kOffCount, c);
    EXPECT_EQ(parse_req(d), Drop::bad_count) << c;
  }
  // More entries than the reader has room for, even though they would frame.
  EXPECT_EQ(parse_req(good, 2), Drop::bad_count);
  EXPECT_EQ(parse_req(good, 0), Drop::bad_count);
  EXPECT_EQ(parse_req(good, 3), Drop::none);
  const Bytes resp = encode_responses(sample_responses());
  EXPECT_EQ(parse_resp(resp, 2), Drop::bad_count);
  EXPECT_EQ(parse_resp(resp, 3), Drop::none);
  // A header alone: no entries.
  Bytes empty(good.begin(), good.begin() + kHdr);
  patch<std::uint16_t>(empty, kOffCount, 0);
  fix_length(empty);
  EXPECT_EQ(parse_req(empty), Drop::bad_count);
  // Count says more entries than the bytes hold: framing finds the datagram too short.
  Bytes more = good;
  patch<std::uint16_t>(more, kOffCount, 4);
  EXPECT_EQ(parse_req(more), Drop::truncated);
  // Count says fewer: bytes are left over.
  Bytes fewer = good;
  patch<std::uint16_t>(fewer, kOffCount, 2);
  EXPECT_EQ(parse_req(fewer), Drop::trailing);
}

// Where a cut at `n` bytes lands in the sample request datagram.
enum class Cut { header, key, value };

TEST(Drop, TruncatedAtEveryCutPoint) {
  const auto reqs = sample_requests();
  const Bytes good = encode_requests(reqs);
  // Region of every byte: entry headers, keys, values.
  std::vector<Cut> region(good.size(), Cut::header);
  std::size_t off = kHdr;
  for (const Req& r : reqs) {
    off += sizeof(RequestHeader);
    for (std::size_t i = 0; i < r.key.size(); ++i) region[off++] = Cut::key;
    for (std::size_t i = 0; i < r.value.size(); ++i) region[off++] = Cut::value;
  }
  ASSERT_EQ(off, good.size());
  int cuts[3] = {0, 0, 0};
  for (std::size_t n = kHdr; n < good.size(); ++n) {
    Bytes d(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    fix_length(d);
    EXPECT_EQ(parse_req(d), Drop::truncated) << "cut at " << n;
    ++cuts[static_cast<int>(region[n])];
  }
  EXPECT_EQ(cuts[static_cast<int>(Cut::header)], 3 * 32);  // inside each entry header
  EXPECT_EQ(cuts[static_cast<int>(Cut::key)], 2 + 7 + 2);
  EXPECT_EQ(cuts[static_cast<int>(Cut::value)], 9);

  const Bytes resp = encode_responses(sample_responses());
  for (std::size_t n = kHdr; n < resp.size(); ++n) {
    Bytes d(resp.begin(), resp.begin() + static_cast<std::ptrdiff_t>(n));
    fix_length(d);
    EXPECT_EQ(parse_resp(d), Drop::truncated) << "cut at " << n;
  }
}

TEST(Drop, Trailing) {
  for (std::size_t extra : {1u, 7u, 31u, 32u, 100u}) {
    Bytes d = encode_requests(sample_requests());
    d.resize(d.size() + extra);
    fix_length(d);
    EXPECT_EQ(parse_req(d), Drop::trailing) << extra;
    Bytes r = encode_responses(sample_responses());
    r.resize(r.size() + extra);
    fix_length(r);
    EXPECT_EQ(parse_resp(r), Drop::trailing) << extra;
  }
}

// Offsets inside the first entry (right after the datagram header).
constexpr std::size_t kReqKeyLen = kHdr + 2;
constexpr std::size_t kReqValueLen = kHdr + 4;
constexpr std::size_t kRespValueLen = kHdr + 4;

TEST(Drop, HugeLengthsDoNotWrap) {
  const Bytes good = encode_requests(sample_requests());
  struct Case {
    std::uint16_t key_len;
    std::uint32_t value_len;
  };
  // The last two would wrap to a small sum in 32 bits (0x1'0000'0000 + small).
  for (Case c : {Case{0xFFFF, 0}, Case{0, 0xFFFFFFFF}, Case{0xFFFF, 0xFFFFFFFF},
                 Case{1, 0xFFFFFFFF}, Case{2, 0xFFFFFFFE}, Case{0x20, 0xFFFFFFF0}}) {
    Bytes d = good;
    patch<std::uint16_t>(d, kReqKeyLen, c.key_len);
    patch<std::uint32_t>(d, kReqValueLen, c.value_len);
    EXPECT_EQ(parse_req(d), Drop::truncated) << c.key_len << " " << c.value_len;
  }
  for (std::uint32_t v : {0xFFFFFFFFu, 0x80000000u, 0xFFFFFFF0u}) {
    Bytes d = encode_responses(sample_responses());
    patch<std::uint32_t>(d, kRespValueLen, v);
    EXPECT_EQ(parse_resp(d), Drop::truncated) << v;
  }
}

TEST(Drop, ReasonNamesAreDistinct) {
  std::vector<std::string_view> names;
  for (std::size_t i = 0; i < kDropReasons; ++i) names.push_back(to_string(static_cast<Drop>(i)));
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_NE(names[i], "unknown");
    for (std::size_t j = 0; j < i; ++j) EXPECT_NE(names[i], names[j]);
  }
}

// --- check_request -------------------------------------------------------------------------------

RequestView framed(const Bytes& d) {
  std::vector<RequestView> out(1);
  const auto p = parse_requests(as_span(d), out);
  EXPECT_EQ(p.drop, Drop::none) << to_string(p.drop);
  return out[0];
}

Bytes one_request(Opcode op, std::string_view key, std::string_view value = {},
                  std::uint64_t hash_delta = 0) {
  Bytes buf(kMaxDatagram);
  RequestWriter w(buf, 1);
  EXPECT_TRUE(w.add(op, key_hash(key) + hash_delta, 1, 2, key, value));
  buf.resize(w.finish());
  return buf;
}

constexpr std::size_t kReqOp = kHdr + 0;
constexpr std::size_t kReqFlags = kHdr + 1;

TEST(CheckRequest, WellFormedRequests) {
  EXPECT_EQ(check_request(framed(one_request(Opcode::get, "k"))), Status::ok);
  EXPECT_EQ(check_request(framed(one_request(Opcode::del, "k"))), Status::ok);
  EXPECT_EQ(check_request(framed(one_request(Opcode::set, "k", "v"))), Status::ok);
  EXPECT_EQ(check_request(framed(one_request(Opcode::set, "k", ""))), Status::ok);
  EXPECT_EQ(check_request(framed(one_request(Opcode::get, std::string(255, 'k')))), Status::ok);
}

TEST(CheckRequest, UnknownOpcode) {
  for (std::uint8_t op : {0, 4, 5, 0x81, 255}) {
    Bytes d = one_request(Opcode::get, "k");
    patch<std::uint8_t>(d, kReqOp, op);
    EXPECT_EQ(check_request(framed(d)), Status::malformed) << int{op};
  }
}

// A ping (op 4) is well formed only bare: no key, no value, hash 0, flags 0.
TEST(CheckRequest, PingOnlyBare) {
  Bytes bare(kMaxDatagram);
  RequestWriter w(bare, 1);
  ASSERT_TRUE(w.add(Opcode::ping, 0, 7, 9, {}));
  bare.resize(w.finish());
  EXPECT_EQ(check_request(framed(bare)), Status::ok);
  EXPECT_EQ(check_request(framed(one_request(Opcode::ping, "k"))), Status::malformed);
  Bytes hashed = bare;
  patch<std::uint64_t>(hashed, kReqOp + 8, 5);  // key_hash
  EXPECT_EQ(check_request(framed(hashed)), Status::malformed);
  Bytes flagged = bare;
  patch<std::uint8_t>(flagged, kReqFlags, 1);
  EXPECT_EQ(check_request(framed(flagged)), Status::malformed);
}

TEST(CheckRequest, NonzeroFlags) {
  for (std::uint8_t f : {1, 0x80, 255}) {
    Bytes d = one_request(Opcode::set, "k", "v");
    patch<std::uint8_t>(d, kReqFlags, f);
    EXPECT_EQ(check_request(framed(d)), Status::malformed) << int{f};
  }
}

TEST(CheckRequest, KeyLength) {
  EXPECT_EQ(check_request(framed(one_request(Opcode::get, ""))), Status::malformed);
  EXPECT_EQ(check_request(framed(one_request(Opcode::set, "", "v"))), Status::malformed);
  EXPECT_EQ(check_request(framed(one_request(Opcode::get, std::string(256, 'k')))),
            Status::malformed);
  EXPECT_EQ(check_request(framed(one_request(Opcode::del, std::string(1000, 'k')))),
            Status::malformed);
}

TEST(CheckRequest, ValueOnlyOnSet) {
  EXPECT_EQ(check_request(framed(one_request(Opcode::get, "k", "v"))), Status::malformed);
  EXPECT_EQ(check_request(framed(one_request(Opcode::del, "k", "v"))), Status::malformed);
}

TEST(CheckRequest, WrongHash) {
  EXPECT_EQ(check_request(framed(one_request(Opcode::get, "k", "", 1))), Status::malformed);
  EXPECT_EQ(check_request(framed(one_request(Opcode::set, "k", "v", 1ull << 63))),
            Status::malformed);
  // Same bytes, different key: the hash of "k1" does not pass for "k2".
  Bytes d = one_request(Opcode::get, "k1");
  d.back() = std::byte{'2'};
  EXPECT_EQ(check_request(framed(d)), Status::malformed);
}

// --- property: mutated datagrams ----------------------------------------------------------------

std::vector<Req> random_requests(std::mt19937_64& rng) {
  std::vector<Req> reqs(1 + rng() % 12);
  for (Req& r : reqs) {
    r.op = static_cast<Opcode>(1 + rng() % 3);
    r.id = rng();
    r.ts = rng();
    r.key = random_bytes(rng, 1 + rng() % 40);
    if (r.op == Opcode::set) r.value = random_bytes(rng, rng() % 80);
  }
  return reqs;
}

void mutate(std::mt19937_64& rng, Bytes& d) {
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    const std::size_t at = d.empty() ? 0 : rng() % d.size();
    switch (rng() % 7) {
      case 0:  // flip bits
        if (!d.empty()) d[at] ^= static_cast<std::byte>(1 + rng() % 255);
        break;
      case 1:  // an interesting byte
        if (!d.empty()) d[at] = static_cast<std::byte>((rng() % 2) ? 0xFF : 0x00);
        break;
      case 2:  // cut
        d.resize(at);
        break;
      case 3:  // insert bytes
        d.insert(d.begin() + static_cast<std::ptrdiff_t>(at), 1 + rng() % 8,
                 static_cast<std::byte>(rng()));
        break;
      case 4:  // erase bytes
        if (!d.empty()) {
          d.erase(d.begin() + static_cast<std::ptrdiff_t>(at),
                  d.begin() + static_cast<std::ptrdiff_t>(std::min(d.size(), at + 1 + rng() % 8)));
        }
        break;
      case 5:  // a random 16- or 32-bit value in a length field of the first entry
        if (d.size() >= kReqValueLen + 4) {
          if (rng() % 2) {
            patch<std::uint16_t>(d, kReqKeyLen, static_cast<std::uint16_t>(rng()));
          } else {
            patch<std::uint32_t>(d, kReqValueLen, static_cast<std::uint32_t>(rng()));
          }
        }
        break;
      default:  // keep the header consistent with the new size so framing gets tested
        if (d.size() >= kHdr) fix_length(d);
        break;
    }
  }
}

TEST(Property, MutatedRequestDatagramsParseInsideOrDropWithAReason) {
  std::mt19937_64 rng(7);
  std::vector<RequestView> out(kMaxCount);
  std::size_t parsed = 0, checked_ok = 0;
  std::size_t reasons[kDropReasons] = {};
  for (int i = 0; i < 200'000 / kScale; ++i) {
    Bytes d = encode_requests(random_requests(rng));
    mutate(rng, d);
    const auto p = parse_requests(as_span(d), out);
    const auto reason = static_cast<std::size_t>(p.drop);
    ASSERT_LT(reason, kDropReasons);
    ++reasons[reason];
    if (p.drop != Drop::none) {
      ASSERT_EQ(p.count, 0u);
      continue;
    }
    ++parsed;
    ASSERT_EQ(p.count, p.header.count);
    std::size_t total = kHdr;
    for (std::size_t k = 0; k < p.count; ++k) {
      const RequestView& v = out[k];
      ASSERT_TRUE(inside(as_span(d), v.key));
      ASSERT_TRUE(inside(as_span(d), v.value));
      ASSERT_EQ(v.key.size(), v.h.key_len);
      ASSERT_EQ(v.value.size(), v.h.value_len);
      ASSERT_EQ(v.key.data() + v.key.size(), v.value.data());  // value right after the key
      total += sizeof(RequestHeader) + v.key.size() + v.value.size();
      const Status s = check_request(v);
      ASSERT_TRUE(s == Status::ok || s == Status::malformed);
      if (s == Status::ok) {
        ++checked_ok;
        ASSERT_EQ(v.h.key_hash, key_hash(v.key));
      }
    }
    ASSERT_EQ(total, d.size());  // exact framing
  }
  // The mutations reach every framing reason, and some datagrams still parse.
  for (Drop r : {Drop::short_header, Drop::bad_magic, Drop::bad_version, Drop::bad_kind,
                 Drop::bad_length, Drop::bad_count, Drop::truncated, Drop::trailing}) {
    EXPECT_GT(reasons[static_cast<std::size_t>(r)], 0u) << to_string(r);
  }
  EXPECT_EQ(reasons[static_cast<std::size_t>(Drop::bad_control)], 0u);
  EXPECT_GT(parsed, 1000u / kScale);
  EXPECT_GT(checked_ok, 0u);
}

TEST(Property, MutatedResponseDatagramsParseInsideOrDropWithAReason) {
  std::mt19937_64 rng(8);
  std::vector<ResponseView> out(kMaxCount);
  std::size_t parsed = 0;
  for (int i = 0; i < 100'000 / kScale; ++i) {
    std::vector<Resp> resps(1 + rng() % 12);
    for (Resp& r : resps) r.value = random_bytes(rng, rng() % 60);
    Bytes d = encode_responses(resps);
    mutate(rng, d);
    const auto p = parse_responses(as_span(d), out);
    ASSERT_LT(static_cast<std::size_t>(p.drop), kDropReasons);
    if (p.drop != Drop::none) continue;
    ++parsed;
    std::size_t total = kHdr;
    for (std::size_t k = 0; k < p.count; ++k) {
      ASSERT_TRUE(inside(as_span(d), out[k].value));
      ASSERT_EQ(out[k].value.size(), out[k].h.value_len);
      total += sizeof(ResponseHeader) + out[k].value.size();
    }
    ASSERT_EQ(total, d.size());
  }
  EXPECT_GT(parsed, 500u / kScale);
}

}  // namespace
}  // namespace buddy::kv::wire::testing
