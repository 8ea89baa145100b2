// The index bucket: one 64-byte cache line of 10 tagged slots, MICA style. A slot is a 16-bit tag
// (from the key hash; 0 = empty) and a 32-bit item offset (8-byte units into the arena). Tags and
// offsets are stored as separate arrays so 10 slots fit a line next to the overflow link; in
// store mode `next` chains overflow buckets (allocated from the arena, offset + 1; 0 = none).
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

namespace buddy::kv::detail {

struct alignas(64) Bucket {
  static constexpr int kSlots = 10;

  std::uint16_t tag[kSlots];
  std::uint32_t next;
  std::uint32_t off[kSlots];

  // Bits 2i and 2i+1 set when slot i holds tag t (t = 0 finds empty slots); walk the result
  // with first_slot() and drop_slot().
  std::uint32_t match(std::uint16_t t) const noexcept {
#if defined(__SSE2__)
    // x86-64: two overlapping 16-byte loads cover the 10 tags (bytes 0..19).
    const __m128i want = _mm_set1_epi16(static_cast<short>(t));
    __m128i lo, hi;
    std::memcpy(&lo, reinterpret_cast<const char*>(tag), sizeof lo);
    std::memcpy(&hi, reinterpret_cast<const char*>(tag) + 4, sizeof hi);
    const auto mlo = static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi16(lo, want)));
    const auto mhi = static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi16(hi, want)));
    return mlo | ((mhi >> 12) << 16);
#elif defined(__ARM_NEON)
    // AArch64 (BlueField): compare 8 tags per load (slots 0..7, then 2..9), keep lane i's
    // bits 2i, 2i+1 (3 << 2i) and add the lanes up: the same mask as the SSE2 movemask.
    static constexpr std::uint16_t kLo[8] = {3u << 0, 3u << 2,  3u << 4,  3u << 6,
                                             3u << 8, 3u << 10, 3u << 12, 3u << 14};
    static constexpr std::uint16_t kHi[8] = {0, 0, 0, 0, 0, 0, 3u << 12, 3u << 14};  // slots 8, 9
    const uint16x8_t want = vdupq_n_u16(t);
    const uint16x8_t lo = vandq_u16(vceqq_u16(vld1q_u16(tag), want), vld1q_u16(kLo));
    const uint16x8_t hi = vandq_u16(vceqq_u16(vld1q_u16(tag + 2), want), vld1q_u16(kHi));
    return static_cast<std::uint32_t>(vaddvq_u16(lo)) |
           (static_cast<std::uint32_t>(vaddvq_u16(hi)) << 4);
#else
    std::uint32_t m = 0;
    for (int i = 0; i < kSlots; ++i) m |= static_cast<std::uint32_t>(tag[i] == t) * 3u << (2 * i);
    return m;
#endif
  }
  static int first_slot(std::uint32_t m) noexcept {
    return __builtin_ctz(m) >> 1;
  }
  static std::uint32_t drop_slot(std::uint32_t m) noexcept {
    m &= m - 1;  // the pair's low bit
    return m & (m - 1);
  }
  bool empty() const noexcept {
    return match(0) == (1u << (2 * kSlots)) - 1;
  }
};
static_assert(sizeof(Bucket) == 64, "a bucket is one cache line");

}  // namespace buddy::kv::detail
