// Key hashing and how the 64 hash bits are used. The client computes key_hash() once and carries
// it with the request; the store never rehashes, it only re-verifies the full key on a hit.
//
//   bits 48..63  partition   ((h >> 48) * partitions) >> 16
//   bits 32..47  16-bit tag  (0 is reserved for "empty slot", mapped to 1)
//   bits  0..31  bucket      (uint32(h) * buckets) >> 32   (no power-of-two rounding)
#pragma once

#include <cstdint>
#include <string_view>

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

namespace buddy::kv {

inline std::uint64_t key_hash(std::string_view key) noexcept {
  return XXH3_64bits(key.data(), key.size());
}

namespace hashbits {

inline std::uint32_t partition(std::uint64_t h, std::uint32_t partitions) noexcept {
  return static_cast<std::uint32_t>(((h >> 48) * partitions) >> 16);
}

inline std::uint16_t tag(std::uint64_t h) noexcept {
  const auto t = static_cast<std::uint16_t>(h >> 32);
  return t != 0 ? t : std::uint16_t{1};
}

inline std::uint32_t bucket(std::uint64_t h, std::uint32_t buckets) noexcept {
  return static_cast<std::uint32_t>(
      (static_cast<std::uint64_t>(static_cast<std::uint32_t>(h)) * buckets) >> 32);
}

}  // namespace hashbits
}  // namespace buddy::kv
