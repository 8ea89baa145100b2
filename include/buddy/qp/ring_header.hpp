// The shared part of one SPSC ring as it lies in a segment: producer index, consumer index and
// geometry, each index on its own cache line. Both indices count up forever (64-bit positions);
// a slot is position & (capacity - 1). The data area follows the header, 64-byte aligned.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace buddy::qp {

inline constexpr std::size_t kCacheLine = 64;

enum class RingKind : std::uint32_t {
  fixed = 1,    // entries of one fixed size; capacity counts entries
  records = 2,  // variable-length [len][payload] records; capacity counts bytes
};

const char* to_string(RingKind k) noexcept;

struct RingHeader {
  alignas(kCacheLine) std::atomic<std::uint64_t> head;  // next position to write; producer-owned
  alignas(kCacheLine) std::atomic<std::uint64_t> tail;  // next position to read; consumer-owned
  alignas(kCacheLine) std::uint64_t capacity;           // entries or bytes, a power of two
  std::uint32_t entry_bytes;                            // fixed rings: bytes per entry
  RingKind kind;
};
static_assert(sizeof(RingHeader) == 3 * kCacheLine && alignof(RingHeader) == kCacheLine);
static_assert(offsetof(RingHeader, tail) == 64 && offsetof(RingHeader, capacity) == 128 &&
              offsetof(RingHeader, entry_bytes) == 136 && offsetof(RingHeader, kind) == 140);
static_assert(sizeof(RingKind) == 4);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "rings shared between processes need lock-free 64-bit atomics");

inline constexpr bool is_pow2(std::uint64_t x) noexcept {
  return x != 0 && (x & (x - 1)) == 0;
}
inline constexpr std::uint64_t round_up(std::uint64_t x, std::uint64_t to) noexcept {
  return (x + to - 1) / to * to;
}

}  // namespace buddy::qp
