// The byte layout of a buddy::qp segment, shared by every process (and, later, the DPU) that maps
// it. docs/protocol.md describes it; change kLayoutVersion whenever anything here changes.
// The layout is ISA-neutral: fixed-width little-endian fields, explicit alignment and padding,
// the same bytes from an x86-64 and an AArch64 build (the static_asserts below hold on both);
// the header records the creator's ISA and page size and the sizes an attacher must share.
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
inline constexpr std::uint32_t kLayoutVersion = 3;
// Stored as a native u32 by the creator: a reader of the other byte order sees 0x04030201.
inline constexpr std::uint32_t kByteOrderMark = 0x01020304u;

// The instruction set of the build that created a segment (recorded, shown, never required:
// an x86-64 host and an AArch64 engine share one segment).
enum class Isa : std::uint16_t { unknown = 0, x86_64 = 1, aarch64 = 2 };
#if defined(__x86_64__)
inline constexpr Isa kThisIsa = Isa::x86_64;
#elif defined(__aarch64__)
inline constexpr Isa kThisIsa = Isa::aarch64;
#else
inline constexpr Isa kThisIsa = Isa::unknown;
#endif
const char* to_string(Isa isa) noexcept;

// Geometry of one ring.
struct RingSpec {  // 16 B: kind @0, entry_bytes @4, capacity @8
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
static_assert(sizeof(RingSpec) == 16 && alignof(RingSpec) == 8);
static_assert(offsetof(RingSpec, entry_bytes) == 4 && offsetof(RingSpec, capacity) == 8);

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
static_assert(offsetof(SegmentLayout, request) == 8 && offsetof(SegmentLayout, response) == 24 &&
              offsetof(SegmentLayout, extra_bytes) == 40);

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
  std::uint64_t created_ns;  // CLOCK_REALTIME at creation
  // What an attacher checks against its own build (each mismatch: a one-line error naming it),
  // and what it may show: the creator's ISA and page size.
  std::uint32_t byte_order;                     // kByteOrderMark, stored natively
  Isa isa;                                      // the creator's build
  std::uint16_t cache_line;                     // kCacheLine: the alignment of every region
  std::uint32_t page_size;                      // the creator's sysconf(_SC_PAGESIZE)
  std::uint32_t ring_header_bytes;              // sizeof(RingHeader)
  std::uint32_t liveness_bytes;                 // sizeof(LivenessRecord)
  std::uint8_t reserved[28];                    // 0
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
static_assert(offsetof(SegmentHeader, byte_order) == 80 && offsetof(SegmentHeader, isa) == 84 &&
              offsetof(SegmentHeader, cache_line) == 86 &&
              offsetof(SegmentHeader, page_size) == 88);
static_assert(offsetof(SegmentHeader, ring_header_bytes) == 92 &&
              offsetof(SegmentHeader, liveness_bytes) == 96 &&
              offsetof(SegmentHeader, reserved) == 100);
static_assert(alignof(SegmentHeader) == kCacheLine && sizeof(Isa) == 2);
static_assert(sizeof(std::atomic<std::uint64_t>) == 8 && alignof(std::atomic<std::uint64_t>) == 8,
              "shared 64-bit atomics are plain aligned words on every ISA built for");

}  // namespace buddy::qp
