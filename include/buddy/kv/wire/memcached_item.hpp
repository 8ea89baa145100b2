// How the memcached front end keeps memcached's item attributes in a buddykv value: the store's
// items carry a key and a value only, so flags, the expiry time, the CAS value and the flush epoch
// go into a 24-byte header before the data (docs/memcached.md, "Items"):
//
//   offset 0  u32 magic   "BKMC" (0x434D4B42)
//          4  u32 flags   the client's opaque flags
//          8  u64 cas     the CAS value, new on every write through the front end
//         16  u32 exptime absolute, in seconds of the server's wall clock; 0: never expires
//         20  u32 epoch   the front end's flush_all epoch when written
//         24  data
//
// A value without the magic (written by a native client) reads as flags 0, CAS 0, no expiry, and
// is never flushed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace buddy::kv::wire::mc {

inline constexpr std::uint32_t kItemMagic = 0x434D4B42;  // bytes "BKMC"
inline constexpr std::size_t kItemHeader = 24;

struct ItemHeader {
  std::uint32_t flags = 0;
  std::uint64_t cas = 0;
  std::uint32_t exptime = 0;
  std::uint32_t epoch = 0;
  bool native = false;  // decoded from a value without the header
};

inline std::string encode_item(const ItemHeader& h, std::string_view data) {
  std::string v(kItemHeader + data.size(), '\0');
  char* p = v.data();
  std::memcpy(p, &kItemMagic, 4);
  std::memcpy(p + 4, &h.flags, 4);
  std::memcpy(p + 8, &h.cas, 8);
  std::memcpy(p + 16, &h.exptime, 4);
  std::memcpy(p + 20, &h.epoch, 4);
  if (!data.empty()) std::memcpy(p + kItemHeader, data.data(), data.size());
  return v;
}

// The header and the data of a stored value.
inline ItemHeader decode_item(std::string_view value, std::string_view& data) {
  ItemHeader h;
  std::uint32_t magic = 0;
  if (value.size() < kItemHeader || (std::memcpy(&magic, value.data(), 4), magic != kItemMagic)) {
    h.native = true;
    data = value;
    return h;
  }
  std::memcpy(&h.flags, value.data() + 4, 4);
  std::memcpy(&h.cas, value.data() + 8, 8);
  std::memcpy(&h.exptime, value.data() + 16, 4);
  std::memcpy(&h.epoch, value.data() + 20, 4);
  data = value.substr(kItemHeader);
  return h;
}

// memcached's exptime rule: 0 never; negative: already expired; up to 30 days: relative to now;
// above: an absolute Unix time. Returns the absolute time to store (1: already expired).
inline std::uint32_t absolute_exptime(std::int64_t exptime, std::int64_t now) {
  constexpr std::int64_t kRelativeMax = 60 * 60 * 24 * 30;
  if (exptime == 0) return 0;
  if (exptime < 0) return 1;
  const std::int64_t t = exptime <= kRelativeMax ? now + exptime : exptime;
  if (t <= now) return 1;
  return t > 0xFFFFFFFFll ? 0xFFFFFFFFu : static_cast<std::uint32_t>(t);
}

// Whether an item (or a delayed flush) whose absolute time is `at` has come due at the whole
// second `now`. Due only once the clock has passed that second, so a TTL of n lives at least n
// seconds (n to n + 1): a set and a read a few milliseconds apart across a second boundary must
// not lose a 1-second item. 0 never comes due.
inline bool past_due(std::uint32_t at, std::int64_t now) {
  return at != 0 && static_cast<std::int64_t>(at) < now;
}

}  // namespace buddy::kv::wire::mc
