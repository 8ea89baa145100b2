// The KV queue pair's formats: the entry layouts a CE and a PE exchange and the geometry of the
// segment that carries them. Byte for byte in docs/protocol.md section 3; the design choice
// (variable-size entries packed into one record per batch) is explained in kv_queue.hpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "buddy/kv/store/status.hpp"
#include "buddy/kv/wire/format.hpp"
#include "buddy/qp/record_ring.hpp"
#include "buddy/qp/segment.hpp"

namespace buddy::kv::queue {

// ---- Entry layouts (docs/protocol.md, section 3) --------------------------------------------

// Every batch record's payload starts with this; the entries follow.
struct KvBatchHeader {
  std::uint32_t count;      // entries in this record, >= 1
  std::uint32_t first_seq;  // low 32 bits of the first entry's sequence number
};
static_assert(sizeof(KvBatchHeader) == 8);

// Request entry: this header, then key_len key bytes, then value_len value bytes, then zero
// padding to the next multiple of 8.
struct KvRequestEntry {
  std::uint8_t op;          // wire::Opcode: 1 GET, 2 SET, 3 DELETE
  std::uint8_t key_len;     // 0..255 (0 is answered bad_key by the store)
  std::uint16_t flags;      // bit 0 (kSequenced): a KvSeqTag follows; other bits 0
  std::uint32_t value_len;  // SET: the value's length; GET and DELETE: 0
  std::uint64_t key_hash;   // XXH3-64 of the key, as computed by the client
};
static_assert(sizeof(KvRequestEntry) == 16);

// A sequenced write (SET or DELETE of a client the server assigned an id, wire::sequenced_client)
// carries its exactly-once tag right after the header, before the key.
inline constexpr std::uint16_t kSequenced = 1;
struct KvSeqTag {
  std::uint32_t client;    // the wire client id
  std::uint32_t reserved;  // 0
  std::uint64_t seq;       // wire::request_seq(request_id)
};
static_assert(sizeof(KvSeqTag) == 16);

// Response entry: this header, then value_len value bytes, then zero padding to a multiple of 8.
struct KvResponseEntry {
  std::uint8_t status;      // wire::Status
  std::uint8_t reserved0;   // 0
  std::uint16_t reserved1;  // 0
  std::uint32_t value_len;  // GET with status ok: the value's length; otherwise 0
};
static_assert(sizeof(KvResponseEntry) == 8);

inline constexpr std::uint64_t kv_request_footprint(std::uint64_t key_len, std::uint64_t value_len,
                                                    bool sequenced = false) {
  return sizeof(KvRequestEntry) + (sequenced ? sizeof(KvSeqTag) : 0) +
         qp::round_up(key_len + value_len, 8);
}
inline constexpr std::uint64_t kv_response_footprint(std::uint64_t value_len) {
  return sizeof(KvResponseEntry) + qp::round_up(value_len, 8);
}
// The compact sizes the design promises: 8-B key + 8-B value -> 32 B; 8-B value -> 16 B.
static_assert(kv_request_footprint(8, 8) == 32);
static_assert(kv_request_footprint(8, 0) == 24);
static_assert(kv_request_footprint(8, 8, true) == 48);
static_assert(kv_response_footprint(8) == 16);
static_assert(kv_response_footprint(0) == 8);

// The segment's user header starts with this marker (bytes 0..15; bytes 16..63 stay free).
inline constexpr std::uint64_t kKvQueueMagic = 0x3151564B59444442ull;  // "BDDYKVQ1" in LE
// 2: sequenced writes (KvSeqTag); 3: the doorbells after the application's extra area
inline constexpr std::uint32_t kKvQueueVersion = 3;

// The store's status as the queue pair (and the wire) carries it.
constexpr wire::Status to_wire(kv::Status s) {
  switch (s) {
    case kv::Status::ok:
      return wire::Status::ok;
    case kv::Status::not_found:
      return wire::Status::not_found;
    case kv::Status::out_of_memory:
      return wire::Status::out_of_memory;
    case kv::Status::bad_key:
      return wire::Status::malformed;
    case kv::Status::value_too_large:
      return wire::Status::too_large;
  }
  return wire::Status::malformed;
}

// ---- Geometry ------------------------------------------------------------------------------

struct KvQueueLayout {
  std::uint32_t queue_pairs = 1;
  std::uint64_t request_ring_bytes = 4u << 20;   // a power of two, >= 256
  std::uint64_t response_ring_bytes = 4u << 20;  // a power of two, >= 256
  std::uint64_t extra_bytes = 0;                 // the segment's extra area, for the application

  // The qp segment's extra area holds the application's extra_bytes (rounded up to 64), then
  // two doorbells per pair (docs/protocol.md section 3, "Doorbells"): the request bell (its PE
  // sleeps on it, its CE rings it) and the response bell (its CE sleeps, its PE rings).
  std::uint64_t doorbell_offset() const { return qp::round_up(extra_bytes, qp::kCacheLine); }
  std::uint64_t doorbell_bytes() const { return std::uint64_t{queue_pairs} * 2 * qp::kCacheLine; }

  // Throws qp::Error with a one-line reason if the layout is invalid.
  qp::SegmentLayout segment_layout() const;
  // The KV layout of a segment; throws qp::Error if its rings are not record rings.
  static KvQueueLayout from_segment(const qp::SegmentLayout& l);

  // The largest SET value a request ring carries with a key of key_len bytes, and the largest GET
  // value a response ring carries. One entry may take at most half a ring, less the headers.
  static std::uint64_t max_entry_bytes(std::uint64_t ring_bytes) {
    return qp::max_record_bytes(ring_bytes) - sizeof(KvBatchHeader);
  }
  std::uint64_t max_set_value(std::uint64_t key_len) const {
    return max_entry_bytes(request_ring_bytes) - sizeof(KvRequestEntry) - sizeof(KvSeqTag) -
           key_len;
  }
  std::uint64_t max_get_value() const {
    return max_entry_bytes(response_ring_bytes) - sizeof(KvResponseEntry);
  }
  bool operator==(const KvQueueLayout&) const = default;
};

}  // namespace buddy::kv::queue
