// copy_bytes: memcpy for the short, variable-length copies of hot paths (keys and values of a
// few bytes), inline: 1..16 bytes take two overlapping loads and stores instead of a call into
// the C library; longer copies are memcpy. The ranges must not overlap, as with memcpy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace buddy::base {

// n bytes, sizeof(Word) <= n <= 2 * sizeof(Word): the first and the last word, overlapping.
template <class Word>
inline void copy_ends(unsigned char* d, const unsigned char* s, std::size_t n) noexcept {
  Word a, b;
  std::memcpy(&a, s, sizeof(Word));
  std::memcpy(&b, s + n - sizeof(Word), sizeof(Word));
  std::memcpy(d, &a, sizeof(Word));
  std::memcpy(d + n - sizeof(Word), &b, sizeof(Word));
}

inline void copy_bytes(void* dst, const void* src, std::size_t n) noexcept {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  if (n > 16) {
    std::memcpy(d, s, n);
  } else if (n >= 8) {
    copy_ends<std::uint64_t>(d, s, n);
  } else if (n >= 4) {
    copy_ends<std::uint32_t>(d, s, n);
  } else {
    for (std::size_t i = 0; i < n; ++i) d[i] = s[i];
  }
}

}  // namespace buddy::base
