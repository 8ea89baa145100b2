// Helpers shared by the kv/store tests: deterministic keys and values of mixed sizes, and a
// reference model to check the store against.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>

#include "buddy/kv/store/hash.hpp"
#include "buddy_test_util.hpp"

namespace buddy::kv::testing {

using buddy::testing::kScale;
using buddy::testing::mix64;

// Key number k as bytes: mostly 8 bytes (the hot case), some 1..255, distinct for distinct k.
inline std::string make_key(std::uint64_t k) {
  const std::uint64_t m = mix64(k);
  std::size_t len = 8;
  switch (m % 8) {
    case 0:
      len = 16;
      break;
    case 1:
      len = 1 + (m >> 8) % 255;  // 1..255
      break;
    case 2:
      len = 32;
      break;
    default:
      break;
  }
  std::string s(len, '\0');
  // The key number in the first bytes keeps keys distinct; short keys use a wider key space
  // trick: a 1..7 byte key only encodes small k, so pad them to 9 bytes when k does not fit.
  if (len < 8 && k >= (std::uint64_t{1} << (8 * len))) s.resize(len = 9);
  for (std::size_t i = 0; i < len; ++i) {
    s[i] = static_cast<char>(i < 8 ? (k >> (8 * i)) & 0xFF : mix64(k + i) & 0xFF);
  }
  return s;
}

// A value of a random size: mostly 8 bytes, many small, some KiB, rarely up to 200 KiB.
inline std::string make_value(std::mt19937_64& rng) {
  const std::uint64_t r = rng() % 1000;
  std::size_t len;
  if (r < 450) {
    len = 8;
  } else if (r < 750) {
    len = rng() % 65;
  } else if (r < 950) {
    len = 64 + rng() % 960;
  } else if (r < 998) {
    len = 1024 + rng() % (16 * 1024);
  } else {
    len = 16 * 1024 + rng() % (200 * 1024);
  }
  std::string v(len, '\0');
  std::uint64_t x = rng();
  for (std::size_t i = 0; i < len; ++i) {
    if (i % 8 == 0) x = mix64(x);
    v[i] = static_cast<char>(x >> (8 * (i % 8)));
  }
  return v;
}

// prefix + number, built without operator+ (GCC 12 warns falsely on it under -O3).
inline std::string numbered(std::string_view prefix, std::uint64_t k) {
  std::string s(prefix);
  s.append(std::to_string(k));
  return s;
}

using Model = std::unordered_map<std::string, std::string>;

}  // namespace buddy::kv::testing
