// Keys and self-describing values for buddykv-bench.
//   key i:      key_size printable characters [0-9a-v], i in base 32, least significant digit
//               first, padded with '_' (memcached's ASCII protocol needs printable keys).
//   value(k,v): 8 bytes little-endian (check(k) << 40 | v), v = the key's version (1 = preload),
//               then filler bytes derived from (k, v). Any value can be checked against (k, v).
//   value size: one fixed size, or (--value-sizes) one of a list chosen by (k, v), so a key's
//               value changes size from version to version and every size travels.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "buddy/kv/client/zipf.hpp"

namespace buddy::bench {

inline constexpr std::uint64_t kMaxVersion = (std::uint64_t{1} << 40) - 1;

// Characters needed for keys 0..keys-1.
inline std::size_t key_chars_needed(std::uint64_t keys) {
  std::size_t n = 1;
  for (std::uint64_t m = 32; m < keys && n < 13; m *= 32) ++n;
  return n;
}

// Built in a register 8 characters at a time and stored as whole words: a key stored byte by
// byte and then read as words (the client's key hash and copies read it so) makes each read
// wait until every byte store has completed (no store forwarding from many narrow stores); in
// the bench's profile that wait was the client's hottest instruction.
inline void make_key(std::uint64_t i, std::size_t size, std::string& out) {
  static constexpr char digits[] = "0123456789abcdefghijklmnopqrstuv";
  out.resize(size);
  char* o = out.data();
  for (std::size_t p = 0; p < size; p += 8) {
    std::uint64_t w = 0x5f5f5f5f5f5f5f5full;  // '_' x 8
    for (unsigned b = 0; b < 8 && p + b < size && (i != 0 || p + b == 0); ++b, i /= 32) {
      w = (w & ~(std::uint64_t{0xff} << (8 * b))) |
          static_cast<std::uint64_t>(static_cast<unsigned char>(digits[i % 32])) << (8 * b);
    }
    if (size - p >= 8) {
      std::memcpy(o + p, &w, 8);
    } else {
      for (std::size_t b = 0; p + b < size; ++b) o[p + b] = static_cast<char>(w >> (8 * b));
    }
  }
}

inline std::uint64_t key_check(std::uint64_t k) {
  return kv::mix64(k) & 0xffffff;
}

// The size of value(k, v): sizes[0] when there is one size, else a pick derived from (k, v).
struct ValueSizes {
  std::vector<std::size_t> sizes{8};
  std::size_t of(std::uint64_t k, std::uint64_t v) const {
    if (sizes.size() == 1) return sizes[0];
    return sizes[kv::mix64(k * 0x9E3779B97F4A7C15ull + v) % sizes.size()];
  }
  std::size_t smallest() const { return *std::min_element(sizes.begin(), sizes.end()); }
  std::size_t largest() const { return *std::max_element(sizes.begin(), sizes.end()); }
};

inline void make_value(std::uint64_t k, std::uint64_t v, std::size_t size, std::string& out) {
  out.resize(size);
  const std::uint64_t head = (key_check(k) << 40) | (v & kMaxVersion);
  std::memcpy(out.data(), &head, size < 8 ? size : 8);
  std::uint64_t x = kv::mix64(k ^ (v << 24));
  for (std::size_t p = 8; p < size; p += 8) {
    x = kv::mix64(x);
    std::memcpy(out.data() + p, &x, size - p < 8 ? size - p : 8);
  }
}

// The version stored in `value` if it is a well-formed value of key k, else 0.
inline std::uint64_t value_version(std::uint64_t k, std::string_view value, const ValueSizes& sizes,
                                   std::string& scratch) {
  if (value.size() < 8) return 0;
  std::uint64_t head = 0;
  std::memcpy(&head, value.data(), 8);
  if ((head >> 40) != key_check(k)) return 0;
  const std::uint64_t v = head & kMaxVersion;
  if (value.size() != sizes.of(k, v)) return 0;
  make_value(k, v, value.size(), scratch);
  return scratch == value ? v : 0;
}

}  // namespace buddy::bench
