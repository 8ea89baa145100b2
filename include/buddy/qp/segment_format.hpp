// The byte layout of a buddy::qp segment, shared by every process (and, later, the DPU) that maps
// it. docs/protocol.md describes it; change kLayoutVersion whenever anything here changes.
//
//   [SegmentHeader, 320 B]
//   for each queue pair i: [request RingHeader][request data][response RingHeader][response data]
//   [extra area: extra_bytes for the application]
// Every region starts on a 64-byte boundary.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "buddy/qp/ring_header.hpp"

namespace buddy::qp {

inline constexpr std::uint64_t kSegmentMagic = 0x0050515944445542ull;  // "BUDDYQP\0" in LE
inline constexpr std::uint32_t kLayoutVersion = 2;

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

// Who holds one side of a segment (its creator, or its one attacher) and whether it still runs:
// the holder's pid, the start time of that process (so a pid the kernel gave to another process
// since is not taken for the holder) and its heartbeat. One cache line, written by the holder.
struct LivenessRecord {
  // > 0: the holder. 0: nobody (attacher side not claimed, or released). < 0: -pid is claiming
  // the record right now (it writes start_time and heartbeat_ns, then stores its pid).
  std::atomic<std::int64_t> pid;
  std::atomic<std::uint64_t> start_time;    // /proc/<pid>/stat field 22 (clock ticks); 0: unknown
  std::atomic<std::uint64_t> heartbeat_ns;  // CLOCK_MONOTONIC of the holder's last beat
  std::uint8_t reserved[40];
};
static_assert(sizeof(LivenessRecord) == kCacheLine);
static_assert(offsetof(LivenessRecord, start_time) == 8 &&
              offsetof(LivenessRecord, heartbeat_ns) == 16);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);

struct SegmentHeader {
  std::atomic<std::uint64_t> magic;  // kSegmentMagic, stored last (release) by the creator
  std::uint32_t version;             // kLayoutVersion
  std::uint32_t header_bytes;        // sizeof(SegmentHeader)
  std::uint64_t total_bytes;         // size of the whole mapping
  SegmentLayout layout;
  std::uint64_t created_ns;                     // CLOCK_REALTIME at creation
  alignas(kCacheLine) LivenessRecord creator;   // written by create()
  alignas(kCacheLine) LivenessRecord attacher;  // claimed by one attacher at a time
  alignas(kCacheLine) std::uint8_t user[64];    // free for the application
};
// The layout docs/protocol.md section 1 documents.
static_assert(sizeof(SegmentHeader) == 320);
static_assert(offsetof(SegmentHeader, version) == 8 && offsetof(SegmentHeader, total_bytes) == 16);
static_assert(offsetof(SegmentHeader, layout) == 24 && offsetof(SegmentHeader, created_ns) == 72);
static_assert(offsetof(SegmentHeader, creator) == 128 && offsetof(SegmentHeader, attacher) == 192);
static_assert(offsetof(SegmentHeader, user) == 256);

}  // namespace buddy::qp
