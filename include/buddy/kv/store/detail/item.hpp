// Item layout, shared by the store-mode slabs and the cache-mode log. Items are 8-byte aligned
// and addressed by a 32-bit offset in 8-byte units from the partition's arena.
//
//   [u32 header][key bytes][value bytes] rounded up to 8 bytes   (8 B key + 8 B value = 24 B)
//   header: bits 0..7 key length, bits 8..28 value length, bit 29 live (cache log only)
//   A cache-log padding record has key length 0 and its length in units in the value field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace buddy::kv::detail::item {

inline constexpr std::uint32_t kUnitBytes = 8;
inline constexpr std::uint32_t kHeaderBytes = 4;
inline constexpr std::uint32_t kLiveBit = 1u << 29;
inline constexpr std::uint32_t kValueMask = (1u << 21) - 1;

inline std::uint32_t units(std::size_t key_len, std::size_t value_len) noexcept {
  return static_cast<std::uint32_t>((kHeaderBytes + key_len + value_len + kUnitBytes - 1) /
                                    kUnitBytes);
}

inline std::uint32_t header(const std::byte* p) noexcept {
  std::uint32_t h;
  std::memcpy(&h, p, sizeof h);
  return h;
}
inline void set_header(std::byte* p, std::uint32_t h) noexcept {
  std::memcpy(p, &h, sizeof h);
}

inline std::uint32_t key_len(std::uint32_t h) noexcept {
  return h & 0xFFu;
}
inline std::uint32_t value_len(std::uint32_t h) noexcept {
  return (h >> 8) & kValueMask;
}
inline bool live(std::uint32_t h) noexcept {
  return (h & kLiveBit) != 0;
}
inline bool is_pad(std::uint32_t h) noexcept {
  return key_len(h) == 0;
}
inline std::uint32_t units_of(std::uint32_t h) noexcept {
  return is_pad(h) ? value_len(h) : units(key_len(h), value_len(h));
}

inline std::uint32_t make_header(std::size_t key_len, std::size_t value_len) noexcept {
  return static_cast<std::uint32_t>(key_len) | static_cast<std::uint32_t>(value_len << 8) |
         kLiveBit;
}

inline void write(std::byte* p, std::string_view key, std::string_view value) noexcept {
  set_header(p, make_header(key.size(), value.size()));
  std::memcpy(p + kHeaderBytes, key.data(), key.size());
  if (!value.empty()) std::memcpy(p + kHeaderBytes + key.size(), value.data(), value.size());
}

// Replaces the value of an item in place (the caller checked the footprint is unchanged).
inline void rewrite_value(std::byte* p, std::uint32_t old_header, std::string_view value) noexcept {
  const std::uint32_t klen = key_len(old_header);
  set_header(p, make_header(klen, value.size()));
  if (!value.empty()) std::memcpy(p + kHeaderBytes + klen, value.data(), value.size());
}

inline bool key_equals(const std::byte* p, std::string_view key) noexcept {
  if (key_len(header(p)) != key.size()) return false;
  const std::byte* k = p + kHeaderBytes;
  if (key.size() == 8) {  // the hot case: one 8-byte compare
    std::uint64_t a, b;
    std::memcpy(&a, k, 8);
    std::memcpy(&b, key.data(), 8);
    return a == b;
  }
  return std::memcmp(k, key.data(), key.size()) == 0;
}

inline std::string_view value(const std::byte* p) noexcept {
  const std::uint32_t h = header(p);
  return {reinterpret_cast<const char*>(p + kHeaderBytes + key_len(h)), value_len(h)};
}

}  // namespace buddy::kv::detail::item
