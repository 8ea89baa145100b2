// The byte layout of a buddy::qp segment, shared by every process (and, later, the DPU) that maps
// it. docs/protocol.md describes it; change kLayoutVersion whenever anything here changes.
//
//   [SegmentHeader, 256 B]
//   for each queue pair i: [request RingHeader][request data][response RingHeader][response data]
//   [extra area: extra_bytes for the application]
// Every region starts on a 64-byte boundary.
#pragma once

#include <atomic>
#include <cstdint>

#include "buddy/qp/ring_header.hpp"

namespace buddy::qp {

inline constexpr std::uint64_t kSegmentMagic = 0x0050515944445542ull;  // "BUDDYQP\0" in LE
inline constexpr std::uint32_t kLayoutVersion = 1;

// Geometry of one ring.
struct RingSpec {
  RingKind kind = RingKind::fixed;
  std::uint32_t entry_bytes = 0;  // fixed rings: bytes per entry; record rings: 0
  std::uint64_t capacity = 0;     // fixed rings: entries; record rings: bytes; a power of two

  static RingSpec fixed(std::uint32_t entry_bytes, std::uint64_t entries) {
    return {RingKind::fixed, entry_bytes, entries};
  }
  static RingSpec records(std::uint64_t bytes) { return {RingKind::records, 0, bytes}; }
  std::uint64_t data_bytes() const {
    return kind == RingKind::fixed ? capacity * entry_bytes : capacity;
  }
  bool operator==(const RingSpec&) const = default;
};
static_assert(sizeof(RingSpec) == 16);

// What a segment holds: N queue pairs of identical geometry and an optional extra area.
struct SegmentLayout {
  std::uint32_t queue_pairs = 1;
  std::uint32_t reserved = 0;
  RingSpec request;   // side A -> side B
  RingSpec response;  // side B -> side A
  std::uint64_t extra_bytes = 0;
  bool operator==(const SegmentLayout&) const = default;
};
static_assert(sizeof(SegmentLayout) == 48);

struct SegmentHeader {
  std::atomic<std::uint64_t> magic;  // kSegmentMagic, stored last (release) by the creator
  std::uint32_t version;             // kLayoutVersion
  std::uint32_t header_bytes;        // sizeof(SegmentHeader)
  std::uint64_t total_bytes;         // size of the whole mapping
  SegmentLayout layout;
  std::int64_t creator_pid;
  std::uint64_t created_ns;                                     // CLOCK_REALTIME at creation
  alignas(kCacheLine) std::atomic<std::uint64_t> heartbeat_ns;  // CLOCK_MONOTONIC, creator's beat
  alignas(kCacheLine) std::uint8_t user[64];                    // free for the application
};
static_assert(sizeof(SegmentHeader) == 256);

}  // namespace buddy::qp
