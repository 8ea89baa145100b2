// Helpers shared by the kv/wire tests: random keys and values, a model of what a writer was given,
// datagram byte surgery (patch a header field, cut, append) and a check that a parsed view lies
// inside its datagram.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "buddy/kv/wire/format.hpp"
#include "buddy/kv/wire/parse.hpp"
#include "buddy/kv/wire/writer.hpp"
#include "buddy_test_util.hpp"

namespace buddy::kv::wire::testing {

using buddy::testing::kScale;

// Byte offsets of the DatagramHeader fields (docs/protocol.md, section 2).
inline constexpr std::size_t kOffMagic = 0;
inline constexpr std::size_t kOffVersion = 4;
inline constexpr std::size_t kOffKind = 5;
inline constexpr std::size_t kOffCount = 6;
inline constexpr std::size_t kOffClientId = 8;
inline constexpr std::size_t kOffPayload = 12;
inline constexpr std::size_t kHdr = sizeof(DatagramHeader);

using Bytes = std::vector<std::byte>;

inline std::string random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// One request as given to RequestWriter::add.
struct Req {
  Opcode op = Opcode::get;
  std::uint64_t id = 0;
  std::uint64_t ts = 0;
  std::string key;
  std::string value;
};

// One response as given to ResponseWriter::add.
struct Resp {
  Status status = Status::ok;
  Opcode op = Opcode::get;
  std::uint64_t id = 0;
  std::uint64_t ts = 0;
  std::string value;
};

inline Bytes encode_requests(const std::vector<Req>& reqs, std::uint32_t client_id = 7,
                             std::size_t limit = kMaxDatagram) {
  Bytes buf(limit);
  RequestWriter w(buf, client_id);
  for (const Req& r : reqs) {
    EXPECT_TRUE(w.add(r.op, key_hash(r.key), r.id, r.ts, r.key, r.value));
  }
  buf.resize(w.finish());
  return buf;
}

inline Bytes encode_responses(const std::vector<Resp>& resps, std::uint32_t client_id = 7,
                              std::size_t limit = kMaxDatagram) {
  Bytes buf(limit);
  ResponseWriter w(buf, client_id);
  for (const Resp& r : resps) EXPECT_TRUE(w.add(r.status, r.op, r.id, r.ts, r.value));
  buf.resize(w.finish());
  return buf;
}

// A small valid request datagram: a GET, a SET with a value and a DELETE.
inline std::vector<Req> sample_requests() {
  return {{Opcode::get, 1, 100, "k1", ""},
          {Opcode::set, 2, 200, "key-two", "value-two"},
          {Opcode::del, 3, 300, "k3", ""}};
}
inline std::vector<Resp> sample_responses() {
  return {{Status::ok, Opcode::get, 1, 100, "value-one"},
          {Status::not_found, Opcode::get, 2, 200, ""},
          {Status::ok, Opcode::set, 3, 300, ""}};
}

template <class T>
void patch(Bytes& d, std::size_t off, T v) {
  ASSERT_LE(off + sizeof(T), d.size());
  store(d.data() + off, v);
}

// Sets payload_bytes to match the datagram's current size (after a cut or an append).
inline void fix_length(Bytes& d) {
  patch<std::uint32_t>(d, kOffPayload, static_cast<std::uint32_t>(d.size() - kHdr));
}

inline bool inside(std::span<const std::byte> buf, std::string_view v) {
  const auto* b = reinterpret_cast<const char*>(buf.data());
  return v.data() >= b && v.data() + v.size() <= b + buf.size() && v.size() <= buf.size();
}

inline std::span<const std::byte> as_span(const Bytes& d) {
  return {d.data(), d.size()};
}

}  // namespace buddy::kv::wire::testing
