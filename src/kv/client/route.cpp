#include "buddy/kv/client/route.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace buddy::kv {

namespace {

constexpr std::uint64_t kLow48 = (std::uint64_t{1} << 48) - 1;
constexpr int kRounds = 8;  // re-mixes before the fallback (each fails with p <= 1/2 or so)

std::uint64_t mix(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The jump step of Lamping and Veach: from bucket b to the next jump point.
std::int64_t next_jump(std::int64_t b, std::uint64_t& key) noexcept {
  key = key * 2862933555777941757ull + 1;
  return static_cast<std::int64_t>(
      static_cast<double>(b + 1) *
      (static_cast<double>(std::int64_t{1} << 31) / static_cast<double>((key >> 33) + 1)));
}

}  // namespace

std::uint64_t route_key(std::uint64_t key_hash) noexcept {
  return mix(key_hash & kLow48);
}

std::uint32_t jump_hash(std::uint64_t key, std::uint32_t buckets) noexcept {
  std::int64_t b = -1, j = 0;
  while (j < buckets) {
    b = j;
    j = next_jump(b, key);
  }
  return static_cast<std::uint32_t>(b);
}

ServerSet::ServerSet(std::vector<std::uint32_t> ids) : ids_(std::move(ids)) {
  std::sort(ids_.begin(), ids_.end());
  for (std::size_t i = 0; i < ids_.size(); ++i) {
    const std::uint32_t id = ids_[i];
    if (id >= kServerIdSpace) {
      throw std::invalid_argument("server id " + std::to_string(id) + " is not below " +
                                  std::to_string(kServerIdSpace));
    }
    if (i > 0 && ids_[i - 1] == id) {
      throw std::invalid_argument("server id " + std::to_string(id) + " appears twice");
    }
    live_[id / 64] |= std::uint64_t{1} << (id % 64);
  }
}

std::uint32_t ServerSet::owner(std::uint64_t key_hash) const noexcept {
  std::uint64_t key = route_key(key_hash);
  for (int round = 0; round < kRounds; ++round) {
    // The jump points below kServerIdSpace, in increasing order (about ln(1024) + 1 of them).
    std::array<std::uint32_t, 64> points;
    std::size_t n = 0;
    std::uint64_t k = key;
    for (std::int64_t j = 0; j < kServerIdSpace && n < points.size();) {
      points[n++] = static_cast<std::uint32_t>(j);
      j = next_jump(j, k);
    }
    while (n-- > 0) {
      if (contains(points[n])) return points[n];
    }
    key = mix(key + 0x9e3779b97f4a7c15ull);
  }
  return ids_[key % ids_.size()];
}

}  // namespace buddy::kv
