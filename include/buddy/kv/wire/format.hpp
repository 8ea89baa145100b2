// buddykv wire format: UDP datagrams that carry many requests or responses each (MICA-style
// batching). Byte for byte in docs/protocol.md, section 2. Little-endian everywhere; fields are
// read and written with memcpy, so nothing here needs alignment.
//
//   datagram = DatagramHeader (16 B) + count x (RequestHeader (32 B) + key + value)   kind=request
//            = DatagramHeader (16 B) + count x (ResponseHeader (24 B) + value)        kind=response
//            = DatagramHeader (16 B) + control body kind=control_*
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

namespace buddy::kv::wire {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "buddykv wire code assumes little-endian");

inline constexpr std::uint32_t kMagic = 0x44564B42;  // bytes "BKVD"
inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kDefaultDatagram = 1472;  // 1500-byte MTU - 20 (IPv4) - 8 (UDP)
inline constexpr std::size_t kMaxDatagram = 65507;     // largest UDP payload over IPv4
inline constexpr std::size_t kMinDatagram = 128;
inline constexpr std::size_t kMaxKeyBytes = 255;
inline constexpr std::uint16_t kMaxCount = 4096;  // requests in one datagram

enum class Kind : std::uint8_t {
  request = 0,
  response = 1,
  control_request = 2,
  control_response = 3
};

// ping: a no-op that a serving port answers at once, ok, without a store (no key, no value, key
// hash 0; the request id is the client's to choose, echoed). A client sends one to ask whether a
// silent port still serves, instead of retransmitting a request (docs/protocol.md, "Ping").
enum class Opcode : std::uint8_t { get = 1, set = 2, del = 3, ping = 4 };

// Answer to one request. Values are stable: they are on the wire.
enum class Status : std::uint8_t {
  ok = 0,
  not_found = 1,
  out_of_memory = 2,    // the store is full (store mode) or the item cannot fit
  wrong_partition = 3,  // the key's partition is served by another port (see HELLO)
  malformed = 4,        // unknown opcode, key length 0 or > 255, key hash that does not match
  too_large = 5,        // the value is larger than the store accepts or the response can carry
  too_old = 6,          // a sequenced write older than the server's window: never applied
};

// Exactly-once writes (docs/protocol.md, "Client ids and sequence windows"). A client id with
// bit 31 set was assigned by the server at HELLO (unique per server epoch); requests carrying one
// are sequenced: bits 63..24 of request_id are the request's sequence number (one more per new
// request, the same on every retransmission), bits 23..0 are the client's own. The PE that owns
// a key keeps, per sequenced client, the answers of its writes (SET, DELETE) of the last
// kWriteWindow sequence numbers: a duplicate is answered from there, never applied twice, and a
// write at or below the newest sequence number seen minus kWriteWindow gets too_old. A client
// never has a write outstanding that far behind its newest request.
inline constexpr std::uint32_t kAssignedClientBit = 0x80000000u;
inline constexpr unsigned kSeqShift = 24;
inline constexpr std::uint64_t kWriteWindow = 2048;
constexpr bool sequenced_client(std::uint32_t client_id) {
  return (client_id & kAssignedClientBit) != 0;
}
constexpr std::uint64_t request_seq(std::uint64_t request_id) {
  return request_id >> kSeqShift;
}

struct DatagramHeader {
  std::uint32_t magic = kMagic;
  std::uint8_t version = kVersion;
  Kind kind = Kind::request;
  std::uint16_t count = 0;          // requests or responses that follow (0 for control)
  std::uint32_t client_id = 0;      // chosen by the client, echoed in every response datagram
  std::uint32_t payload_bytes = 0;  // bytes after this header; must equal datagram size - 16
};
static_assert(sizeof(DatagramHeader) == 16);

struct RequestHeader {
  Opcode op = Opcode::get;
  std::uint8_t flags = 0;  // 0; reserved
  std::uint16_t key_len = 0;
  std::uint32_t value_len = 0;  // SET only; 0 for GET and DELETE
  std::uint64_t key_hash = 0;   // key_hash(key): XXH3-64 of the key bytes
  std::uint64_t request_id = 0;
  std::uint64_t timestamp = 0;  // client's clock, echoed
};
static_assert(sizeof(RequestHeader) == 32);

struct ResponseHeader {
  Status status = Status::ok;
  Opcode op = Opcode::get;
  std::uint16_t reserved = 0;
  std::uint32_t value_len = 0;  // GET with status ok only
  std::uint64_t request_id = 0;
  std::uint64_t timestamp = 0;
};
static_assert(sizeof(ResponseHeader) == 24);

// The key hash every client and server agree on, and how it picks a partition (the top 16 bits,
// scaled: no power-of-two partition counts needed). kv/store uses the same bits (hashbits).
inline std::uint64_t key_hash(std::string_view key) noexcept {
  return XXH3_64bits(key.data(), key.size());
}
inline std::uint32_t partition_of(std::uint64_t hash, std::uint32_t partitions) noexcept {
  return static_cast<std::uint32_t>(((hash >> 48) * partitions) >> 16);
}

// A store request's opcode (get, set, del; a ping is no store request).
constexpr bool valid_opcode(std::uint8_t op) {
  return op >= 1 && op <= 3;
}

// The request shape every sender and receiver checks: a known opcode, a key of 1..255 bytes, and
// a value only on SET. (Receivers also check the key hash: check_request in parse.hpp.)
constexpr bool valid_request(Opcode op, std::size_t key_len, std::size_t value_len) {
  return valid_opcode(static_cast<std::uint8_t>(op)) && key_len != 0 && key_len <= kMaxKeyBytes &&
         (op == Opcode::set || value_len == 0);
}

constexpr std::string_view to_string(Status s) {
  switch (s) {
    case Status::ok:
      return "ok";
    case Status::not_found:
      return "not_found";
    case Status::out_of_memory:
      return "out_of_memory";
    case Status::wrong_partition:
      return "wrong_partition";
    case Status::malformed:
      return "malformed";
    case Status::too_large:
      return "too_large";
    case Status::too_old:
      return "too_old";
  }
  return "unknown";
}

constexpr std::string_view to_string(Opcode op) {
  switch (op) {
    case Opcode::get:
      return "get";
    case Opcode::set:
      return "set";
    case Opcode::del:
      return "del";
    case Opcode::ping:
      return "ping";
  }
  return "unknown";
}

// Unaligned little-endian access to wire structs.
template <class T>
inline T load(const std::byte* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
template <class T>
inline void store(std::byte* p, const T& v) noexcept {
  std::memcpy(p, &v, sizeof(T));
}

}  // namespace buddy::kv::wire
